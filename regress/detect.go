package regress

import (
	"fmt"
	"math"
	"sort"

	mstats "github.com/aclements/go-moremath/stats"
)

// An Obs is one run of one series: its headline value (the median of its
// samples for piobench's benchmarks) and, when kept, every sample.
type Obs struct {
	Value   float64
	Samples []float64
}

// Options tune detection. The zero value of a field means its default.
type Options struct {
	// Threshold is the minimum effect, as a fraction (0.05 for 5%):
	// smaller changes are never reported, however significant.
	Threshold float64
	// Alpha is the significance level of one series' test (default 0.001);
	// across benchmarks it is applied after the Correction.
	Alpha float64
	// Window is how many of the newest runs may form the new level
	// (default 1: the new run alone, as in CI; history detection uses 5).
	Window int
	// MinRuns is the fewest newest runs that may form a new level
	// (default 1). History detection uses 2, so that one outlying run is
	// never a change.
	MinRuns int
	// MinBaseline is the fewest baseline runs worth a test (default 1).
	// Below five runs the test is on samples alone and does not see how
	// much whole runs vary; history detection asks for 8.
	MinBaseline int
	// MaxBaseline caps the earlier runs used as the baseline (default 30).
	MaxBaseline int
	// Direction of the metric; 0 means from the unit (see DirectionFor).
	Direction Direction
	// Levels grade severities (default 1x, 2x, 4x the threshold).
	Levels Levels
}

func (o Options) withDefaults() Options {
	if o.Threshold <= 0 {
		o.Threshold = 0.05
	}
	if o.Alpha <= 0 {
		o.Alpha = 0.001
	}
	if o.Window <= 0 {
		o.Window = 1
	}
	if o.MinRuns <= 0 {
		o.MinRuns = 1
	}
	if o.Window < o.MinRuns {
		o.Window = o.MinRuns
	}
	if o.MaxBaseline <= 0 {
		o.MaxBaseline = 30
	}
	if o.Levels == (Levels{}) {
		o.Levels = DefaultLevels
	}
	if o.Direction == 0 {
		o.Direction = LowerIsBetter
	}
	return o
}

// A Status is the outcome of a comparison.
type Status string

const (
	// NoChange: no significant change of at least the threshold.
	NoChange Status = "no change"
	// Regression: significantly worse by at least the threshold.
	Regression Status = "regression"
	// Improvement: significantly better by at least the threshold.
	Improvement Status = "improvement"
	// NoBaseline: nothing to compare with.
	NoBaseline Status = "no baseline"
	// TooFewData: a baseline exists but is too small to test (one or two
	// runs without samples).
	TooFewData Status = "too few data"
)

// A Verdict is what Compare found.
type Verdict struct {
	Status Status
	// Change is the relative change of the new level against the
	// baseline, signed (0.08: 8% higher), whatever the direction.
	Change float64
	// P is the p-value of the test (NaN when no test ran). Significant
	// says whether it passed Alpha; Compare leaves corrections across
	// benchmarks to the caller (see Adjust and Decide).
	P           float64
	Significant bool
	Severity    Severity
	Baseline    float64 // median of the baseline runs' values
	Value       float64 // median of the new level's runs' values
	Runs        int     // runs in the new level (the window that decided)
	BaseRuns    int     // runs in the baseline
	Method      string  // which test ran
	// MinP is the smallest p-value the samples test could have given with
	// these sample counts (NaN for other tests): when it is above Alpha, no
	// difference could have been found.
	MinP float64
}

// Compare tests whether the newest runs of a series (recent, oldest first;
// the last is the new run) differ from the baseline (earlier runs, oldest
// first).
//
// With five or more baseline runs the test works on run values. The
// spread between runs is estimated robustly (1.4826 times the median
// absolute deviation of the baseline's relative deviations from its
// median), floored by the runs' own standard errors from their samples, and
// widened for the uncertainty of the baseline median. Windows of the w
// newest runs, w = MinRuns .. Window, are tested against the runs before
// them: one run by its own deviation; two only when both lie on the same
// side (the nearer one's tail probability squared); three or more by
// their median deviation. Tail probabilities come from a Student t
// distribution with the degrees of freedom a median absolute deviation is
// worth (about 0.37(n-1)), so heavy tails and small baselines cost
// significance rather than raise false alarms. The best window's p-value is
// multiplied by the number of windows tried.
//
// With fewer baseline runs, the new run's samples are compared with the
// baseline runs' samples by a Mann-Whitney U test (two proportions for 0/1
// samples such as accuracy cases); this cannot see how much whole runs
// vary, so history detection asks for MinBaseline 8.
//
// A change is reported when it is significant at Alpha and the new
// level's median differs from the baseline's median by at least the
// threshold.
func Compare(baseline, recent []Obs, o Options) Verdict {
	o = o.withDefaults()
	baseline = finiteObs(baseline)
	recent = finiteObs(recent)
	v := Verdict{Status: NoBaseline, P: math.NaN(), Change: math.NaN(), Baseline: math.NaN(), Value: math.NaN(), MinP: math.NaN()}
	if len(recent) == 0 {
		v.Status = TooFewData
		return v
	}
	v.Value = recent[len(recent)-1].Value
	if len(baseline) > o.MaxBaseline {
		baseline = baseline[len(baseline)-o.MaxBaseline:]
	}
	v.BaseRuns = len(baseline)
	if len(baseline) == 0 {
		return v
	}
	if len(baseline) < o.MinBaseline {
		v.Status = TooFewData
		v.Method = fmt.Sprintf("%d baseline runs, fewer than %d", len(baseline), o.MinBaseline)
		return v
	}
	bvals := values(baseline)
	c := median(bvals)
	v.Baseline = c
	if len(baseline) < sampleTestBelow {
		return compareSamples(v, baseline, recent[len(recent)-1], o)
	}
	if c == 0 {
		// Relative change is undefined; only "no change" can be said.
		v.Method = "baseline median is zero"
		v.Change = 0
		if v.Value == 0 {
			v.Status = NoChange
			v.P = 1
		} else {
			v.Status = TooFewData
		}
		return v
	}
	ac := math.Abs(c)
	dev := make([]float64, len(bvals))
	for i, x := range bvals {
		dev[i] = (x - c) / ac
	}
	scale := 1.4826 * mad(dev)
	scale = math.Max(scale, withinScale(baseline)/ac)
	scale = math.Max(scale, 1e-9)
	B := float64(len(baseline))
	// The baseline median is itself uncertain (efficiency of the median).
	scale *= math.Sqrt(1 + math.Pi/(2*B))
	td := madT(len(baseline))

	W := min(o.Window, len(recent))
	best := Verdict{P: 2}
	for w := o.MinRuns; w <= W; w++ {
		win := recent[len(recent)-w:]
		// The window's baseline is the runs before it.
		base := baseline
		extra := recent[:len(recent)-w]
		if len(extra) > 0 {
			base = append(append([]Obs(nil), baseline...), extra...)
			if len(base) > o.MaxBaseline {
				base = base[len(base)-o.MaxBaseline:]
			}
		}
		cw, sw, tdw := c, scale, td
		if len(extra) > 0 {
			cw, sw = levelAndScale(base)
			if cw == 0 {
				continue
			}
			tdw = madT(len(base))
		}
		acw := math.Abs(cw)
		devs := make([]float64, len(win))
		for i, ob := range win {
			devs[i] = (ob.Value - cw) / acw
		}
		p := windowP(devs, sw, tdw) * float64(W-o.MinRuns+1)
		p = math.Min(1, p)
		change := median(devs)
		if math.Abs(change) < o.Threshold {
			continue
		}
		if p < best.P {
			best = Verdict{P: p, Change: change, Runs: w, Baseline: cw, Value: cw + change*acw}
		}
	}
	v.Method = "run values against the baseline's robust spread (Student t)"
	if best.P > 1 {
		// No window moved consistently by the threshold: report the new
		// run's own change, not significant.
		v.Status, v.P, v.Runs = NoChange, 1, 1
		v.Change = (v.Value - c) / ac
		return v
	}
	v.P, v.Change, v.Runs, v.Baseline, v.Value = best.P, best.Change, best.Runs, best.Baseline, best.Value
	return v.decide(o, v.P)
}

// madT is the Student t distribution for a deviation measured in units of
// a spread estimated from n runs by the median absolute deviation, whose
// efficiency (about 37% of the standard deviation's) leaves it about
// 0.37(n-1) degrees of freedom.
func madT(n int) mstats.TDist {
	return mstats.TDist{V: math.Max(1, 0.37*float64(n-1))}
}

// windowP is the two-sided p-value that the runs' relative deviations
// devs (from the baseline median, in units where the spread of one run is
// s) come from the baseline's distribution. One run: its own tail. Two:
// both must lie on the same side, and the nearer one's tail is squared.
// Three or more: the median deviation, whose spread is s*sqrt(pi/(2w)).
func windowP(devs []float64, s float64, td mstats.TDist) float64 {
	tail := func(z float64) float64 { return 1 - td.CDF(z) }
	switch len(devs) {
	case 1:
		return 2 * tail(math.Abs(devs[0])/s)
	case 2:
		if devs[0]*devs[1] <= 0 {
			return 1
		}
		t := tail(math.Min(math.Abs(devs[0]), math.Abs(devs[1])) / s)
		return 2 * t * t
	}
	m := median(devs)
	return 2 * tail(math.Abs(m)/(s*math.Sqrt(math.Pi/(2*float64(len(devs))))))
}

// sampleTestBelow: with fewer baseline runs than this, the spread between
// runs cannot be estimated usefully and the samples decide.
const sampleTestBelow = 5

// decide sets Significant, Status and Severity from an (adjusted) p-value.
func (v Verdict) decide(o Options, p float64) Verdict {
	o = o.withDefaults()
	v.Significant = p < o.Alpha
	v.Status = NoChange
	v.Severity = SeverityNone
	if !v.Significant || math.IsNaN(v.Change) || math.Abs(v.Change) < o.Threshold {
		return v
	}
	worse := v.Change > 0
	if o.Direction == HigherIsBetter {
		worse = v.Change < 0
	}
	v.Status = Improvement
	if worse {
		v.Status = Regression
	}
	v.Severity = o.Levels.Of(v.Change, o.Threshold)
	return v
}

// Decide re-decides a verdict with a p-value adjusted across benchmarks
// (see Adjust). Verdicts without a test are returned unchanged.
func Decide(v Verdict, adjustedP float64, o Options) Verdict {
	if math.IsNaN(v.P) || v.Status == NoBaseline || v.Status == TooFewData {
		return v
	}
	v = v.decide(o, adjustedP)
	v.P = adjustedP
	return v
}

// compareSamples compares the new run's samples with the baseline's.
func compareSamples(v Verdict, baseline []Obs, last Obs, o Options) Verdict {
	var base []float64
	for _, b := range baseline {
		base = append(base, b.Samples...)
	}
	if len(base) == 0 || len(last.Samples) == 0 {
		v.Status = TooFewData
		v.Method = "one or two baseline runs without samples"
		if v.Baseline != 0 {
			v.Change = (v.Value - v.Baseline) / math.Abs(v.Baseline)
		}
		return v
	}
	v.Runs = 1
	if binary(base) && binary(last.Samples) {
		p1, p2 := mean(base), mean(last.Samples)
		v.Baseline, v.Value = p1, p2
		v.Method = "two proportions (z test)"
		v.P = twoProportions(p1, float64(len(base)), p2, float64(len(last.Samples)))
		if p1 != 0 {
			v.Change = (p2 - p1) / p1
		} else if p2 == 0 {
			v.Change = 0
		}
		return v.decide(o, v.P)
	}
	mb, mn := median(base), median(last.Samples)
	v.Method = "samples: Mann-Whitney U"
	if mb == 0 {
		v.Status = TooFewData
		return v
	}
	v.Change = (mn - mb) / math.Abs(mb)
	v.MinP = minMWUP(len(base), len(last.Samples))
	r, err := mstats.MannWhitneyUTest(base, last.Samples, mstats.LocationDiffers)
	if err != nil {
		v.P = 1 // all equal
	} else {
		v.P = r.P
	}
	return v.decide(o, v.P)
}

// minMWUP is the two-sided p-value of complete separation of samples of
// sizes n1 and n2: 2 / C(n1+n2, n1).
func minMWUP(n1, n2 int) float64 {
	lg := func(n int) float64 { v, _ := math.Lgamma(float64(n) + 1); return v }
	return math.Min(1, 2*math.Exp(lg(n1)+lg(n2)-lg(n1+n2)))
}

func twoProportions(p1, n1, p2, n2 float64) float64 {
	p := (p1*n1 + p2*n2) / (n1 + n2)
	se := math.Sqrt(p * (1 - p) * (1/n1 + 1/n2))
	if se == 0 {
		if p1 == p2 {
			return 1
		}
		return 0
	}
	z := math.Abs(p1-p2) / se
	return math.Erfc(z / math.Sqrt2)
}

// levelAndScale returns the median of the runs' values and their robust
// relative spread, floored as in Compare.
func levelAndScale(runs []Obs) (float64, float64) {
	vals := values(runs)
	c := median(vals)
	if c == 0 {
		return 0, 0
	}
	ac := math.Abs(c)
	dev := make([]float64, len(vals))
	for i, x := range vals {
		dev[i] = (x - c) / ac
	}
	s := math.Max(1.4826*mad(dev), withinScale(runs)/ac)
	s = math.Max(s, 1e-9)
	return c, s * math.Sqrt(1+math.Pi/(2*float64(len(runs))))
}

// withinScale is the median, over runs, of each run's standard error of
// its headline value from its own samples: the least spread runs can have.
func withinScale(runs []Obs) float64 {
	var ses []float64
	for _, r := range runs {
		n := len(r.Samples)
		if n < 2 {
			continue
		}
		if binary(r.Samples) {
			p := mean(r.Samples)
			ses = append(ses, math.Sqrt(p*(1-p)/float64(n)))
			continue
		}
		// Standard error of the median: 1.2533 sigma / sqrt(n).
		ses = append(ses, 1.2533*1.4826*mad(r.Samples)/math.Sqrt(float64(n)))
	}
	if len(ses) == 0 {
		return 0
	}
	return median(ses)
}

func finiteObs(xs []Obs) []Obs {
	ok := true
	for _, x := range xs {
		if math.IsNaN(x.Value) || math.IsInf(x.Value, 0) {
			ok = false
			break
		}
	}
	if ok {
		return xs
	}
	out := make([]Obs, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x.Value) && !math.IsInf(x.Value, 0) {
			out = append(out, x)
		}
	}
	return out
}

func values(xs []Obs) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x.Value
	}
	return out
}

func binary(xs []float64) bool {
	for _, x := range xs {
		if x != 0 && x != 1 {
			return false
		}
	}
	return len(xs) > 0
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// median returns the median of xs without modifying it.
func median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// mad is the median absolute deviation from the median.
func mad(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	m := median(xs)
	d := make([]float64, len(xs))
	for i, x := range xs {
		d[i] = math.Abs(x - m)
	}
	return median(d)
}
