package regress

import (
	"fmt"
	"sort"
)

// A Correction adjusts p-values for testing many benchmarks at once.
type Correction string

const (
	// Holm controls the family-wise error rate: the chance of even one
	// false alarm across all benchmarks.
	Holm Correction = "holm"
	// BH (Benjamini-Hochberg) controls the false discovery rate: the
	// expected share of false alarms among the alarms.
	BH Correction = "bh"
	// NoCorrection tests each benchmark on its own.
	NoCorrection Correction = "none"
)

// ParseCorrection reads holm, bh or none.
func ParseCorrection(s string) (Correction, error) {
	switch Correction(s) {
	case Holm, BH, NoCorrection:
		return Correction(s), nil
	}
	return "", fmt.Errorf("correction %q: want holm, bh or none", s)
}

// Adjust returns p-values adjusted by c, in the order given. NaN p-values
// (no test) stay NaN and do not count as tests.
func Adjust(ps []float64, c Correction) []float64 {
	out := make([]float64, len(ps))
	var idx []int
	for i, p := range ps {
		out[i] = p
		if p == p { // not NaN
			idx = append(idx, i)
		}
	}
	m := len(idx)
	if m == 0 || c == NoCorrection {
		return out
	}
	sort.SliceStable(idx, func(a, b int) bool { return ps[idx[a]] < ps[idx[b]] })
	switch c {
	case Holm:
		running := 0.0
		for k, i := range idx {
			v := min(1, float64(m-k)*ps[i])
			running = max(running, v)
			out[i] = running
		}
	case BH:
		running := 1.0
		for k := m - 1; k >= 0; k-- {
			i := idx[k]
			v := min(1, ps[i]*float64(m)/float64(k+1))
			running = min(running, v)
			out[i] = running
		}
	}
	return out
}
