package ref

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// close32 reports whether got is within a relative tolerance of want,
// scaled by the size of the sum of absolute terms.
func close32(got, want, scale float32) bool {
	return math.Abs(float64(got-want)) <= 1e-5*float64(scale)+1e-6
}

func absDot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += float32(math.Abs(float64(a[i] * b[i])))
	}
	return s
}

func TestKernelsMatchGo(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []int{48, 64, 288, 768, 2048}
	for n := 0; n <= 1000; n += 1 + n/16 {
		sizes = append(sizes, n)
	}
	for _, n := range sizes {
		for _, off := range []int{0, 1, 3} {
			// Unaligned views into larger arrays.
			a := randSlice(r, n+off)[off:]
			b := randSlice(r, n+off+2)[off+1:][:n]
			if got, want := dot(a, b), dotGo(a, b); !close32(got, want, absDot(a, b)) {
				t.Fatalf("dot n=%d off=%d: got %v, want %v", n, off, got, want)
			}
			if n == 0 {
				continue
			}
			stride := n + off
			w := randSlice(r, 4*stride+off)[off:]
			x0 := randSlice(r, n+1)[1:]
			x1 := randSlice(r, n)
			var got0, got1, want0, want1 [4]float32
			dot4(w, stride, x0, &got0)
			dot4Go(w, stride, x0, &want0)
			for k := range 4 {
				if !close32(got0[k], want0[k], absDot(w[k*stride:k*stride+n], x0)) {
					t.Fatalf("dot4 n=%d off=%d row %d: got %v, want %v", n, off, k, got0[k], want0[k])
				}
			}
			dot4x2(w, stride, x0, x1, &got0, &got1)
			dot4Go(w, stride, x1, &want1)
			for k := range 4 {
				if !close32(got0[k], want0[k], absDot(w[k*stride:k*stride+n], x0)) ||
					!close32(got1[k], want1[k], absDot(w[k*stride:k*stride+n], x1)) {
					t.Fatalf("dot4x2 n=%d off=%d row %d: got %v %v, want %v %v", n, off, k, got0[k], got1[k], want0[k], want1[k])
				}
			}
			mv := make([]float32, 8)
			mvWant := make([]float32, 8)
			w8 := randSlice(r, 8*n+off)[off:]
			matvec4(w8, x0, mv)
			matvec4Go(w8, x0, mvWant)
			for i := range mv {
				if !close32(mv[i], mvWant[i], absDot(w8[i*n:(i+1)*n], x0)) {
					t.Fatalf("matvec4 n=%d off=%d row %d: got %v, want %v", n, off, i, mv[i], mvWant[i])
				}
			}
			xs := randSlice(r, 4*n+off)[off:]
			got4 := make([]float32, 3*7+4)
			want4 := make([]float32, 3*7+4)
			dot4x4(w, stride, xs, n, got4, 7)
			dot4x4Go(w, stride, xs, n, want4, 7)
			for b := range 4 {
				for k := range 4 {
					i := b*7 + k
					if !close32(got4[i], want4[i], absDot(w[k*stride:k*stride+n], xs[b*n:(b+1)*n])) {
						t.Fatalf("dot4x4 n=%d off=%d input %d row %d: got %v, want %v", n, off, b, k, got4[i], want4[i])
					}
				}
			}
			for i := range got4 {
				if i%7 >= 4 && got4[i] != 0 {
					t.Fatalf("dot4x4 n=%d wrote out[%d] outside its outputs", n, i)
				}
			}
			a4 := [4]float32{0.5, -1, 2, 0.25}
			ya := randSlice(r, n)
			yb := append([]float32(nil), ya...)
			axpy4(&a4, w, stride, ya)
			axpy4Go(&a4, w, stride, yb)
			for i := range ya {
				if !close32(ya[i], yb[i], 8) {
					t.Fatalf("axpy4 n=%d off=%d [%d]: got %v, want %v", n, off, i, ya[i], yb[i])
				}
			}
			y := randSlice(r, n+off)[off:]
			y2 := append([]float32(nil), y...)
			axpy(0.75, a, y)
			axpyGo(0.75, a, y2)
			for i := range y {
				if !close32(y[i], y2[i], 2) {
					t.Fatalf("axpy n=%d off=%d [%d]: got %v, want %v", n, off, i, y[i], y2[i])
				}
			}
		}
	}
}

func BenchmarkDot(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{288, 768, 2048} {
		x := randSlice(r, n)
		w := randSlice(r, 4*n)
		b.Run("dot/n="+itoa(n), func(b *testing.B) {
			b.SetBytes(int64(8 * n))
			var s float32
			for b.Loop() {
				s += dot(w[:n], x)
			}
			_ = s
		})
		b.Run("dot4/n="+itoa(n), func(b *testing.B) {
			b.SetBytes(int64(4 * 4 * n))
			var out [4]float32
			for b.Loop() {
				dot4(w, n, x, &out)
			}
		})
		xs := randSlice(r, 4*n)
		b.Run("dot4x2twice/n="+itoa(n), func(b *testing.B) {
			b.SetBytes(int64(4 * 4 * n))
			var o0, o1 [4]float32
			for b.Loop() {
				dot4x2(w, n, xs[:n], xs[n:2*n], &o0, &o1)
				dot4x2(w, n, xs[2*n:3*n], xs[3*n:], &o0, &o1)
			}
		})
		b.Run("dot4x4/n="+itoa(n), func(b *testing.B) {
			b.SetBytes(int64(4 * 4 * n))
			out := make([]float32, 16)
			for b.Loop() {
				dot4x4(w, n, xs, n, out, 4)
			}
		})
		b.Run("dotGo/n="+itoa(n), func(b *testing.B) {
			b.SetBytes(int64(8 * n))
			var s float32
			for b.Loop() {
				s += dotGo(w[:n], x)
			}
			_ = s
		})
	}
}
