package stats

import (
	"math"
	"testing"
)

func TestPercentileLinear(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct{ p, want float64 }{
		{0, 1}, {50, 5.5}, {90, 9.1}, {99, 9.91}, {100, 10}, {25, 3.25},
	} {
		if got := Percentile(xs, tc.p); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("p%v = %v, want %v (numpy's linear method)", tc.p, got, tc.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("percentile of nothing is not NaN")
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{10, 2, 8, 4, 6, 12, 14})
	if s.N != 7 || s.Mean != 8 || s.Min != 2 || s.Max != 14 || s.P50 != 8 {
		t.Errorf("%+v", s)
	}
	if math.Abs(s.Stddev-math.Sqrt(112.0/6)) > 1e-12 {
		t.Errorf("stddev %v", s.Stddev)
	}
	if !(s.CILo <= s.P50 && s.P50 <= s.CIHi) || math.IsNaN(s.CILo) {
		t.Errorf("CI [%v, %v] does not hold the median %v", s.CILo, s.CIHi, s.P50)
	}
	few := Summarize([]float64{1, 2, 3})
	if !math.IsNaN(few.CILo) || few.CINote == "" {
		t.Errorf("3 samples: CI [%v, %v], note %q; want no interval and a note", few.CILo, few.CIHi, few.CINote)
	}
	m := few.Metadata("median")
	if m["ci95_low"] != nil || m["statistic"] != "median" || m["n"] != 3 {
		t.Errorf("metadata %v", m)
	}
	if e := Summarize(nil); e.N != 0 || !math.IsNaN(e.Mean) {
		t.Errorf("empty: %+v", e)
	}
}

func TestWilson(t *testing.T) {
	lo, hi := Wilson(0, 3, 0.95)
	if lo != 0 || math.Abs(hi-0.5615) > 1e-3 {
		t.Errorf("0/3: [%v, %v], want [0, 0.5615]", lo, hi)
	}
	lo, hi = Wilson(50, 100, 0.95)
	if math.Abs(lo-0.4038) > 1e-3 || math.Abs(hi-0.5962) > 1e-3 {
		t.Errorf("50/100: [%v, %v], want [0.4038, 0.5962]", lo, hi)
	}
}
