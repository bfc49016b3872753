package ref

// Portable versions of the vector kernels. They are the only kernels on
// architectures without assembly, and the reference that the assembly is
// tested against on amd64.

// dotGo returns the dot product of a and b[:len(a)].
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dot4Go sets out[r] to the dot product of x and row r of w, for the four
// rows w[r*stride:r*stride+len(x)].
func dot4Go(w []float32, stride int, x []float32, out *[4]float32) {
	n := len(x)
	r0 := w[:n]
	r1 := w[stride : stride+n]
	r2 := w[2*stride : 2*stride+n]
	r3 := w[3*stride : 3*stride+n]
	var s0, s1, s2, s3 float32
	for i, xi := range x {
		s0 += r0[i] * xi
		s1 += r1[i] * xi
		s2 += r2[i] * xi
		s3 += r3[i] * xi
	}
	out[0], out[1], out[2], out[3] = s0, s1, s2, s3
}

// axpyGo adds a*x to y.
func axpyGo(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// dot4x4Go is the portable dot4x4: out[b*ostride+r] = w[r*stride:][:k] ·
// x[b*k:][:k] for r, b in 0..3.
func dot4x4Go(w []float32, stride int, x []float32, k int, out []float32, ostride int) {
	for b := 0; b < 4; b++ {
		dot4Go(w, stride, x[b*k:(b+1)*k], (*[4]float32)(out[b*ostride:]))
	}
}

// matvec4Go is the portable matvec4.
func matvec4Go(w, x, out []float32) {
	k := len(x)
	for b := 0; b+4 <= len(out); b += 4 {
		dot4Go(w[b*k:], k, x, (*[4]float32)(out[b:]))
	}
}

// axpy4Go is the portable axpy4.
func axpy4Go(a *[4]float32, v []float32, stride int, y []float32) {
	n := len(y)
	v0, v1, v2, v3 := v[:n], v[stride:stride+n], v[2*stride:2*stride+n], v[3*stride:3*stride+n]
	for i := range y {
		y[i] += a[0]*v0[i] + a[1]*v1[i] + a[2]*v2[i] + a[3]*v3[i]
	}
}
