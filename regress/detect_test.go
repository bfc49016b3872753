package regress

import (
	"math"
	"math/rand/v2"
	"testing"
)

func runsAround(rng *rand.Rand, n int, level, noise float64) []Obs {
	out := make([]Obs, n)
	for i := range out {
		off := noise / 2 * rng.NormFloat64()
		xs := make([]float64, 10)
		for j := range xs {
			xs[j] = level * (1 + off + noise*rng.NormFloat64())
		}
		out[i] = Obs{Value: median(xs), Samples: xs}
	}
	return out
}

func TestDirectionFor(t *testing.T) {
	for unit, want := range map[string]Direction{
		"tokens/sec": HigherIsBetter, "requests/sec": HigherIsBetter, "ratio": HigherIsBetter, "ops/s": HigherIsBetter,
		"seconds": LowerIsBetter, "ms": LowerIsBetter, "MB": LowerIsBetter, "sec/op": LowerIsBetter, "B/op": LowerIsBetter,
	} {
		if got, known := DirectionFor(unit); got != want || !known {
			t.Errorf("DirectionFor(%q) = %v, %v; want %v", unit, got, known, want)
		}
	}
	if d, known := DirectionFor("custom_unit"); d != LowerIsBetter || known {
		t.Errorf("unknown unit: %v %v", d, known)
	}
}

func TestSeverityLevels(t *testing.T) {
	for _, tc := range []struct {
		change float64
		want   Severity
	}{{0.049, SeverityNone}, {0.05, SeverityMinor}, {-0.099, SeverityMinor}, {0.10, SeverityMajor}, {-0.19, SeverityMajor}, {0.20, SeverityCritical}, {-0.5, SeverityCritical}} {
		if got := DefaultLevels.Of(tc.change, 0.05); got != tc.want {
			t.Errorf("Of(%v) = %q, want %q", tc.change, got, tc.want)
		}
	}
	l, err := ParseLevels("1,3,6")
	if err != nil || l.Of(0.16, 0.05) != SeverityMajor || l.Of(0.31, 0.05) != SeverityCritical {
		t.Errorf("custom levels %v %v", l, err)
	}
	for _, bad := range []string{"1,2", "2,1,4", "x"} {
		if _, err := ParseLevels(bad); err == nil {
			t.Errorf("ParseLevels(%q) accepted", bad)
		}
	}
}

func TestCompareStepAndDirection(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	base := runsAround(rng, 20, 100, 0.01)
	slower := runsAround(rng, 1, 112, 0.01) // 12% more seconds
	o := Options{Threshold: 0.05, Direction: LowerIsBetter}
	v := Compare(base, slower, o)
	if v.Status != Regression || v.Severity != SeverityMajor || math.Abs(v.Change-0.12) > 0.02 || v.P > 1e-4 || v.BaseRuns != 20 || v.Runs != 1 {
		t.Errorf("12%% more seconds: %+v", v)
	}
	o.Direction = HigherIsBetter // the same move in tokens/sec is an improvement
	if v := Compare(base, slower, o); v.Status != Improvement || v.Severity != SeverityMajor {
		t.Errorf("12%% more tokens/sec: %+v", v)
	}
	// 3%: significant but under the threshold.
	small := runsAround(rng, 1, 103, 0.002)
	if v := Compare(base, small, Options{Threshold: 0.05}); v.Status != NoChange {
		t.Errorf("3%% change: %+v", v)
	}
	quiet := runsAround(rng, 20, 100, 0.002)
	if v := Compare(quiet, small, Options{Threshold: 0.02}); v.Status != Regression || v.Severity != SeverityMinor {
		t.Errorf("3%% change at a 2%% threshold: %+v", v)
	}
	// Same level: no change.
	if v := Compare(base, runsAround(rng, 1, 100, 0.01), o); v.Status != NoChange {
		t.Errorf("no change: %+v", v)
	}
}

func TestCompareNoisyNeedsMoreRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	base := runsAround(rng, 30, 100, 0.05) // runs vary by about 3%
	one := runsAround(rng, 1, 108, 0.0)
	v := Compare(base, one, Options{Threshold: 0.05, Direction: LowerIsBetter})
	if v.Status == Regression {
		t.Errorf("one run 8%% off under 3%% run noise should not be enough: %+v", v)
	}
	five := runsAround(rng, 5, 110, 0.05)
	v = Compare(base, five, HistoryOptions)
	if v.Status != Regression || v.Runs < 3 {
		t.Errorf("five runs 10%% off: %+v", v)
	}
}

// An outlying run among normal ones must not make a change in history
// mode, and neither may two runs on opposite sides.
func TestCompareOutlierRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	base := runsAround(rng, 20, 100, 0.01)
	recent := append(runsAround(rng, 4, 100, 0.01), runsAround(rng, 1, 140, 0.01)...)
	if v := Compare(base, recent, HistoryOptions); v.Status != NoChange {
		t.Errorf("one 40%% outlier as the newest run: %+v", v)
	}
	if v := Compare(base, recent, Options{}); v.Status != Regression || v.Severity != SeverityCritical {
		t.Errorf("CI mode judges the new run alone: %+v", v)
	}
	split := []Obs{{Value: 115}, {Value: 86}}
	if v := Compare(base, split, HistoryOptions); v.Status != NoChange {
		t.Errorf("two runs on opposite sides: %+v", v)
	}
}

func TestCompareSmallBaselines(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	base := runsAround(rng, 1, 100, 0.01)
	v := Compare(base, runsAround(rng, 1, 120, 0.01), Options{Direction: LowerIsBetter})
	if v.Status != Regression || v.Method != "samples: Mann-Whitney U" || v.P > 0.001 || math.Abs(v.MinP-2/184756.0) > 1e-12 {
		t.Errorf("one baseline run, samples: %+v", v)
	}
	// No samples and two runs: too few data.
	v = Compare([]Obs{{Value: 1}, {Value: 1}}, []Obs{{Value: 2}}, Options{})
	if v.Status != TooFewData || math.Abs(v.Change-1) > 1e-12 {
		t.Errorf("no samples: %+v", v)
	}
	if v := Compare(nil, []Obs{{Value: 2}}, Options{}); v.Status != NoBaseline {
		t.Errorf("no baseline: %+v", v)
	}
	if v := Compare(runsAround(rng, 5, 100, 0.01), runsAround(rng, 1, 150, 0.01), Options{MinBaseline: 8}); v.Status != TooFewData {
		t.Errorf("under MinBaseline: %+v", v)
	}
	// Accuracy: 0/1 samples, two proportions.
	acc := func(correct, n int) Obs {
		xs := make([]float64, n)
		for i := 0; i < correct; i++ {
			xs[i] = 1
		}
		return Obs{Value: float64(correct) / float64(n), Samples: xs}
	}
	v = Compare([]Obs{acc(180, 200)}, []Obs{acc(150, 200)}, Options{Direction: HigherIsBetter})
	if v.Status != Regression || v.Method != "two proportions (z test)" || math.Abs(v.Change+1.0/6) > 1e-9 {
		t.Errorf("accuracy 90%% -> 75%%: %+v", v)
	}
	if v := Compare([]Obs{acc(2, 3)}, []Obs{acc(1, 3)}, Options{Direction: HigherIsBetter}); v.Status != NoChange {
		t.Errorf("accuracy 2/3 -> 1/3 is not significant: %+v", v)
	}
}

func TestDetectCorrection(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	var series []Series
	for i := 0; i < 100; i++ {
		series = append(series, Series{Model: "m", Benchmark: "b", Unit: "ms", Baseline: runsAround(rng, 20, 100, 0.02), Recent: runsAround(rng, 1, 100, 0.02)})
	}
	series[7].Recent = runsAround(rng, 1, 130, 0.02)
	series[8].Unit = "tokens/sec"
	series[8].Recent = runsAround(rng, 1, 130, 0.02)
	fs := Detect(series, Options{Threshold: 0.05, Alpha: 0.01}, Holm)
	for i, f := range fs {
		want := NoChange
		switch i {
		case 7:
			want = Regression
		case 8:
			want = Improvement
		}
		if f.Status != want {
			t.Errorf("series %d: %s (%+v), want %s", i, f.Status, f.Verdict, want)
		}
	}
	if fs[7].Severity != SeverityCritical || fs[7].P < fs[7].P/100 {
		t.Errorf("30%% slower: %+v", fs[7])
	}
}
