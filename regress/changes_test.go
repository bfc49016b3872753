package regress

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

func bruteEnergy(z []float64, tau int) float64 {
	x, y := z[:tau], z[tau:]
	var sxy, sxx, syy float64
	for _, a := range x {
		for _, b := range y {
			sxy += math.Abs(a - b)
		}
	}
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			sxx += math.Abs(x[i] - x[j])
		}
	}
	for i := range y {
		for j := i + 1; j < len(y); j++ {
			syy += math.Abs(y[i] - y[j])
		}
	}
	nl, nr := float64(len(x)), float64(len(y))
	e := 2*sxy/(nl*nr) - sxx/(nl*(nl-1)/2) - syy/(nr*(nr-1)/2)
	return nl * nr / (nl + nr) * e
}

func TestEnergySplitMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		n := 6 + rng.IntN(60)
		z := make([]float64, n)
		for i := range z {
			z[i] = math.Round(rng.NormFloat64()*4) / 2 // with ties
			if i > n/2 && trial%2 == 0 {
				z[i] += 3
			}
		}
		best, bestQ := -1, math.Inf(-1)
		for tau := 2; tau <= n-2; tau++ {
			if q := bruteEnergy(z, tau); q > bestQ+1e-9 {
				best, bestQ = tau, q
			}
		}
		if got := bestEnergySplit(z, 2); got != best && math.Abs(bruteEnergy(z, got)-bestQ) > 1e-9 {
			t.Fatalf("n=%d: split %d (Q %.6f), brute force %d (Q %.6f)", n, got, bruteEnergy(z, got), best, bestQ)
		}
	}
}

func TestFindChangesStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	xs := make([]float64, 80)
	for i := range xs {
		xs[i] = 100 * (1 + 0.01*rng.NormFloat64())
		if i >= 30 {
			xs[i] *= 1.12
		}
		if i >= 60 {
			xs[i] /= 1.12 * 1.25 // back down, and 20% faster than at first
		}
	}
	cps := FindChanges(xs, ChangeOptions{Direction: LowerIsBetter})
	if len(cps) != 2 {
		t.Fatalf("changes %+v, want 2", cps)
	}
	if c := cps[0]; c.Index != 30 || c.Direction != Regression || math.Abs(c.Change-0.12) > 0.015 || c.Severity != SeverityMajor || c.P > 1e-4 {
		t.Errorf("first change %+v, want a major regression of about 12%% at 30", c)
	}
	if c := cps[1]; c.Index != 60 || c.Direction != Improvement || math.Abs(c.Change+0.286) > 0.02 || c.Severity != SeverityCritical {
		t.Errorf("second change %+v, want a critical improvement of about 29%% at 60", c)
	}
	// Higher is better turns the same moves around.
	cps = FindChanges(xs, ChangeOptions{Direction: HigherIsBetter})
	if len(cps) != 2 || cps[0].Direction != Improvement || cps[1].Direction != Regression {
		t.Errorf("higher is better: %+v", cps)
	}
	// Failed runs (NaN) are skipped and indexes still refer to the input.
	withNaN := append([]float64{math.NaN()}, xs...)
	cps = FindChanges(withNaN, ChangeOptions{})
	if len(cps) != 2 || cps[0].Index != 31 {
		t.Errorf("with a NaN first: %+v", cps)
	}
	if cps := FindChanges(xs[:5], ChangeOptions{}); len(cps) != 0 {
		t.Errorf("five runs: %+v", cps)
	}
}

// TestFindChangesFalseAlarms checks the scan p-value: on series without a
// change, at most about Alpha of them may show one (threshold 0, so only
// the test decides).
func TestFindChangesFalseAlarms(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	trials := 2000
	if testing.Short() {
		trials = 400
	}
	for _, n := range []int{20, 60, 300} {
		flagged := 0
		for k := 0; k < trials; k++ {
			xs := make([]float64, n)
			for i := range xs {
				xs[i] = 100 + rng.NormFloat64()
				if k%2 == 1 { // heavy tails
					xs[i] = 100 + rng.NormFloat64()/math.Max(0.05, math.Abs(rng.NormFloat64()))
				}
			}
			if len(FindChanges(xs, ChangeOptions{Threshold: 1e-9, Alpha: 0.01})) > 0 {
				flagged++
			}
		}
		if rate := float64(flagged) / float64(trials); rate > 0.015 {
			t.Errorf("n=%d: %.2f%% of series without change show one at alpha 1%%", n, 100*rate)
		}
	}
}

func TestAdjust(t *testing.T) {
	ps := []float64{0.01, 0.04, 0.03, math.NaN(), 0.005}
	holm := Adjust(ps, Holm)
	want := []float64{0.03, 0.06, 0.06, math.NaN(), 0.02}
	for i := range ps {
		if !(math.Abs(holm[i]-want[i]) < 1e-12 || math.IsNaN(want[i]) && math.IsNaN(holm[i])) {
			t.Errorf("holm %v, want %v", holm, want)
			break
		}
	}
	bh := Adjust(ps, BH)
	want = []float64{0.02, 0.04, 0.04, math.NaN(), 0.02}
	for i := range ps {
		if !(math.Abs(bh[i]-want[i]) < 1e-12 || math.IsNaN(want[i]) && math.IsNaN(bh[i])) {
			t.Errorf("bh %v, want %v", bh, want)
			break
		}
	}
}

// BenchmarkChanges1000x500 runs FindChanges over 1,000 series of 500 runs
// each (a few steps each), in parallel on all CPUs: the target is under
// 10 s on 2 cores.
func BenchmarkChanges1000x500(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	series := make([][]float64, 1000)
	for s := range series {
		xs := make([]float64, 500)
		level := 100.0
		for i := range xs {
			if i%120 == 119 {
				level *= 1 + 0.1*float64(rng.IntN(3)-1)
			}
			xs[i] = level * (1 + 0.02*rng.NormFloat64())
		}
		series[s] = xs
	}
	b.ReportAllocs()
	b.ResetTimer()
	found := 0
	for i := 0; i < b.N; i++ {
		found = FindChangesAll(series, ChangeOptions{}, runtime.GOMAXPROCS(0))
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/1000-series")
	b.ReportMetric(float64(found), "changes")
}

// FindChangesAll runs FindChanges over many series on workers goroutines
// and returns how many changes it found.
func FindChangesAll(series [][]float64, o ChangeOptions, workers int) int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	total := 0
	next := make(chan []float64)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for xs := range next {
				n := len(FindChanges(xs, o))
				mu.Lock()
				total += n
				mu.Unlock()
			}
		}()
	}
	for _, xs := range series {
		next <- xs
	}
	close(next)
	wg.Wait()
	return total
}
