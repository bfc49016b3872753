package ref

import "testing"

// TestForwardOtherKernels runs the forward-pass tests with the kernels that
// other CPUs get: AVX2 without AVX-512, and portable Go.
func TestForwardOtherKernels(t *testing.T) {
	fma, z := useFMA, use512
	defer func() { useFMA, use512 = fma, z }()
	for _, k := range []struct {
		name        string
		fma, avx512 bool
	}{{"avx2", fma, false}, {"go", false, false}} {
		t.Run(k.name, func(t *testing.T) {
			useFMA, use512 = k.fma, k.avx512
			TestForwardMatchesNaive(t)
			TestBatchedForward(t)
		})
	}
}
