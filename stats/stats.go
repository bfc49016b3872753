// Package stats summarises repeated measurements: the numbers every
// piobench result carries in its metadata (n, mean, standard deviation,
// extremes, percentiles and a confidence interval for the headline value).
package stats

import (
	"math"
	"sort"

	"golang.org/x/perf/benchmath"
)

// PercentileMethod names how percentiles are computed: linear interpolation
// between closest ranks, Hyndman & Fan type 7 (numpy's and R's default).
const PercentileMethod = "linear interpolation between closest ranks (Hyndman-Fan type 7)"

// CIMethod names how the confidence interval of the median is computed:
// the distribution-free order-statistic interval used by benchstat.
const CIMethod = "distribution-free order-statistic interval of the median (benchstat, x/perf/benchmath)"

// Confidence is the level of every confidence interval piobench reports.
const Confidence = 0.95

// A Summary describes a sample of measurements.
type Summary struct {
	N      int
	Mean   float64
	Stddev float64 // sample standard deviation (n-1); 0 when N < 2
	Min    float64
	Max    float64
	P50    float64
	P90    float64
	P99    float64
	// CILo and CIHi bound the median at level CILevel. They are NaN when
	// there are too few samples for an interval at 95% (fewer than 6), and
	// CINote says so.
	CILo, CIHi float64
	CILevel    float64
	CINote     string
}

// Summarize computes a Summary of xs. It does not modify xs. An empty
// sample gives N == 0 and NaN elsewhere.
func Summarize(xs []float64) Summary {
	nan := math.NaN()
	s := Summary{N: len(xs), Mean: nan, Stddev: nan, Min: nan, Max: nan, P50: nan, P90: nan, P99: nan, CILo: nan, CIHi: nan}
	if len(xs) == 0 {
		return s
	}
	sorted := append([]float64(nil), xs...)
	sort.Float64s(sorted)
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	sum := 0.0
	for _, x := range sorted {
		sum += x
	}
	s.Mean = sum / float64(len(sorted))
	s.Stddev = 0
	if len(sorted) > 1 {
		ss := 0.0
		for _, x := range sorted {
			d := x - s.Mean
			ss += d * d
		}
		s.Stddev = math.Sqrt(ss / float64(len(sorted)-1))
	}
	s.P50 = Percentile(sorted, 50)
	s.P90 = Percentile(sorted, 90)
	s.P99 = Percentile(sorted, 99)

	bs := benchmath.AssumeNothing.Summary(benchmath.NewSample(sorted, &benchmath.DefaultThresholds), Confidence)
	s.CILevel = bs.Confidence
	if math.IsInf(bs.Lo, 0) || math.IsInf(bs.Hi, 0) {
		s.CINote = "too few samples for a 95% interval of the median (need at least 6)"
	} else {
		s.CILo, s.CIHi = bs.Lo, bs.Hi
	}
	return s
}

// Percentile returns the p-th percentile (0..100) of sorted, which must be
// sorted ascending, by linear interpolation between closest ranks.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if n == 1 || p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[n-1]
	}
	h := (p / 100) * float64(n-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= n {
		return sorted[n-1]
	}
	return sorted[i] + (h-lo)*(sorted[i+1]-sorted[i])
}

// Metadata returns the summary as result metadata, with the statistic that
// the headline value is, and the methods used. Non-finite numbers become
// nil (null in JSON).
func (s Summary) Metadata(statistic string) map[string]any {
	m := map[string]any{
		"n":                 s.N,
		"mean":              finite(s.Mean),
		"stddev":            finite(s.Stddev),
		"min":               finite(s.Min),
		"max":               finite(s.Max),
		"p50":               finite(s.P50),
		"p90":               finite(s.P90),
		"p99":               finite(s.P99),
		"ci95_low":          finite(s.CILo),
		"ci95_high":         finite(s.CIHi),
		"ci_method":         CIMethod,
		"percentile_method": PercentileMethod,
		"statistic":         statistic,
	}
	if s.CINote != "" {
		m["ci_note"] = s.CINote
	}
	return m
}

func finite(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

// Wilson returns the Wilson score interval for a proportion of successes
// out of n trials at the given confidence level (0.95 for 95%).
func Wilson(successes, n int, confidence float64) (lo, hi float64) {
	if n <= 0 {
		return math.NaN(), math.NaN()
	}
	z := normalQuantile(1 - (1-confidence)/2)
	p := float64(successes) / float64(n)
	nf := float64(n)
	den := 1 + z*z/nf
	center := (p + z*z/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return math.Max(0, center-half), math.Min(1, center+half)
}

// normalQuantile returns the p-quantile of the standard normal distribution.
func normalQuantile(p float64) float64 {
	return math.Sqrt2 * math.Erfinv(2*p-1)
}
