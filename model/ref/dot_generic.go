//go:build !amd64

package ref

// kernelName names the vector kernels in use.
const kernelName = "go"

func dot(a, b []float32) float32 { return dotGo(a, b) }

func dot4(w []float32, stride int, x []float32, out *[4]float32) {
	dot4Go(w, stride, x, out)
}

func dot4x2(w []float32, stride int, x0, x1 []float32, out0, out1 *[4]float32) {
	dot4Go(w, stride, x0, out0)
	dot4Go(w, stride, x1, out1)
}

func axpy(a float32, x, y []float32) { axpyGo(a, x, y) }

func dot4x4(w []float32, stride int, x []float32, k int, out []float32, ostride int) {
	dot4x4Go(w, stride, x, k, out, ostride)
}

func matvec4(w, x, out []float32) { matvec4Go(w, x, out) }

func axpy4(a *[4]float32, v []float32, stride int, y []float32) { axpy4Go(a, v, stride, y) }
