package ref

import "golang.org/x/sys/cpu"

// useFMA reports whether the AVX2 and FMA kernels may run, and use512
// whether the AVX-512 ones may.
var (
	useFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	use512 = useFMA && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL
)

// kernelName names the vector kernels in use.
var kernelName = "go"

func init() {
	if useFMA {
		kernelName = "avx2+fma"
	}
	if use512 {
		kernelName = "avx512+avx2+fma"
	}
}

// The assembly kernels process n floats, n a multiple of 8; the callers
// below finish the remainder in Go.

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func dot4AVX2(w *float32, stride int, x *float32, n int, out *[4]float32)

//go:noescape
func dot4x2AVX2(w *float32, stride int, x0, x1 *float32, n int, out0, out1 *[4]float32)

//go:noescape
func dot4x4AVX512(w *float32, stride int, x *float32, xstride int, n int, out *float32, ostride int)

//go:noescape
func matvec4AVX2(w *float32, k int, x *float32, n int, out *float32, blocks int)

//go:noescape
func axpy4AVX2(a *[4]float32, v *float32, stride int, y *float32, n int)

//go:noescape
func matvec4AVX512(w *float32, k int, x *float32, n int, out *float32, blocks int)

//go:noescape
func axpyAVX2(a float32, x, y *float32, n int)

func dot(a, b []float32) float32 {
	n := len(a) &^ 7
	if !useFMA || n == 0 {
		return dotGo(a, b)
	}
	b = b[:len(a)]
	s := dotAVX2(&a[0], &b[0], n)
	for i := n; i < len(a); i++ {
		s += a[i] * b[i]
	}
	return s
}

func dot4(w []float32, stride int, x []float32, out *[4]float32) {
	n := len(x) &^ 7
	if !useFMA || n == 0 {
		dot4Go(w, stride, x, out)
		return
	}
	_ = w[3*stride+len(x)-1] // bounds check for the assembly
	dot4AVX2(&w[0], stride, &x[0], n, out)
	if n < len(x) {
		for r := 0; r < 4; r++ {
			row := w[r*stride : r*stride+len(x)]
			s := out[r]
			for i := n; i < len(x); i++ {
				s += row[i] * x[i]
			}
			out[r] = s
		}
	}
}

func dot4x2(w []float32, stride int, x0, x1 []float32, out0, out1 *[4]float32) {
	n := len(x0) &^ 7
	if !useFMA || n == 0 {
		dot4Go(w, stride, x0, out0)
		dot4Go(w, stride, x1, out1)
		return
	}
	x1 = x1[:len(x0)]
	_ = w[3*stride+len(x0)-1]
	dot4x2AVX2(&w[0], stride, &x0[0], &x1[0], n, out0, out1)
	if n < len(x0) {
		for r := 0; r < 4; r++ {
			row := w[r*stride : r*stride+len(x0)]
			s0, s1 := out0[r], out1[r]
			for i := n; i < len(x0); i++ {
				s0 += row[i] * x0[i]
				s1 += row[i] * x1[i]
			}
			out0[r], out1[r] = s0, s1
		}
	}
}

func axpy(a float32, x, y []float32) {
	n := len(x) &^ 7
	if !useFMA || n == 0 {
		axpyGo(a, x, y)
		return
	}
	y = y[:len(x)]
	axpyAVX2(a, &x[0], &y[0], n)
	for i := n; i < len(x); i++ {
		y[i] += a * x[i]
	}
}

// dot4x4 sets out[b*ostride+r] to the dot product of row r of w (the k
// floats at w[r*stride:]) and input b (the k floats at x[b*k:]), for four
// rows and four inputs, reading each row once for all four inputs.
func dot4x4(w []float32, stride int, x []float32, k int, out []float32, ostride int) {
	n := k &^ 15
	if !use512 || n == 0 {
		dot4x4Go(w, stride, x, k, out, ostride)
		return
	}
	_ = w[3*stride+k-1]
	_ = x[4*k-1]
	_ = out[3*ostride+3]
	dot4x4AVX512(&w[0], stride, &x[0], k, n, &out[0], ostride)
	if n < k {
		for b := 0; b < 4; b++ {
			xb := x[b*k : (b+1)*k]
			for r := 0; r < 4; r++ {
				row := w[r*stride : r*stride+k]
				s := out[b*ostride+r]
				for i := n; i < k; i++ {
					s += row[i] * xb[i]
				}
				out[b*ostride+r] = s
			}
		}
	}
}

// matvec4 sets out[i] to the dot product of row i of w (rows of len(x)
// floats) and x, for the 4*len(out)/4 rows of out; len(out) is a multiple
// of 4.
func matvec4(w, x, out []float32) {
	k := len(x)
	if !useFMA || k%8 != 0 || k == 0 {
		matvec4Go(w, x, out)
		return
	}
	blocks := len(out) / 4
	if blocks == 0 {
		return
	}
	_ = w[4*blocks*k-1]
	if use512 && k%16 == 0 {
		matvec4AVX512(&w[0], k, &x[0], k, &out[0], blocks)
		return
	}
	matvec4AVX2(&w[0], k, &x[0], k, &out[0], blocks)
}

// axpy4 adds a[r] times the len(y) floats at v[r*stride:] to y, for r in
// 0..3.
func axpy4(a *[4]float32, v []float32, stride int, y []float32) {
	n := len(y) &^ 7
	if !useFMA || n == 0 {
		axpy4Go(a, v, stride, y)
		return
	}
	_ = v[3*stride+len(y)-1]
	axpy4AVX2(a, &v[0], stride, &y[0], n)
	for i := n; i < len(y); i++ {
		y[i] += a[0]*v[i] + a[1]*v[stride+i] + a[2]*v[2*stride+i] + a[3]*v[3*stride+i]
	}
}
