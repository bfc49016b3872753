package regress

import (
	"math"
	"math/rand/v2"

	mstats "github.com/aclements/go-moremath/stats"
)

// The labelled synthetic suite: series of runs with known steps under
// known noise, generated deterministically from a seed.
//
// Noise c is the coefficient of variation of one measurement (sample),
// drawn log-uniformly from 0.5% to 5%. Each run has its own offset (sd c/2,
// the run-to-run variation of real machines) and ten samples; the run's
// value is their median, so runs vary by about 0.64c. Noise shapes, one per
// series: gaussian; heavy tails (Student t with 3 degrees of freedom, for
// samples and run offsets); outliers (5% of samples 20-100% slow, as after
// a page fault or GC pause); bimodal (each run lands in one of two modes
// c apart, as with code alignment); slow drift (a trend of up to +-2% over
// the series, under the threshold, plus gaussian noise).

const (
	synthRuns    = 60
	synthSamples = 10
)

type noiseShape int

const (
	gaussian noiseShape = iota
	heavyTails
	outliers
	bimodal
	drift
	numShapes
)

func (s noiseShape) String() string {
	return [...]string{"gaussian", "heavy tails", "outliers", "bimodal", "slow drift"}[s]
}

// A synthSeries is one labelled series.
type synthSeries struct {
	Noise     float64 // c
	Shape     noiseShape
	Step      float64 // relative step of the true level (0: none)
	At        int     // index of the first run after the step
	Direction Direction
	Runs      []Obs
}

// stepSizes are the steps of changed series, signed at random.
var stepSizes = []float64{0.02, 0.03, 0.05, 0.07, 0.10, 0.15, 0.20}

func genSuite(seed uint64, n int) []synthSeries {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]synthSeries, n)
	for i := range out {
		s := synthSeries{
			Noise: 0.005 * math.Pow(10, rng.Float64()),
			Shape: noiseShape(rng.IntN(int(numShapes))),
			At:    -1,
		}
		s.Direction = LowerIsBetter
		if rng.IntN(2) == 0 {
			s.Direction = HigherIsBetter
		}
		if rng.Float64() >= 0.45 { // 45% of series have no change
			s.Step = stepSizes[rng.IntN(len(stepSizes))]
			if rng.IntN(2) == 0 {
				s.Step = -s.Step
			}
			s.At = 20 + rng.IntN(31) // 20..50: at least 10 runs after
		}
		s.Runs = genRuns(rng, s)
		out[i] = s
	}
	return out
}

func genRuns(rng *rand.Rand, s synthSeries) []Obs {
	base := 100 * math.Pow(10, rng.Float64()*2)
	c := s.Noise
	driftTotal := (rng.Float64()*2 - 1) * 0.02
	t3 := func() float64 { // Student t, 3 degrees of freedom, unit variance
		z := rng.NormFloat64()
		v := 0.0
		for k := 0; k < 3; k++ {
			g := rng.NormFloat64()
			v += g * g
		}
		return z / math.Sqrt(v/3) / math.Sqrt(3)
	}
	runs := make([]Obs, synthRuns)
	for t := range runs {
		level := base
		if s.At >= 0 && t >= s.At {
			level *= 1 + s.Step
		}
		var off float64
		switch s.Shape {
		case heavyTails:
			off = c / 2 * t3()
		case bimodal:
			off = c/2*0.3*rng.NormFloat64() + c/2*float64(2*rng.IntN(2)-1)
		case drift:
			level *= 1 + driftTotal*float64(t)/float64(synthRuns-1)
			off = c / 2 * rng.NormFloat64()
		default:
			off = c / 2 * rng.NormFloat64()
		}
		xs := make([]float64, synthSamples)
		for j := range xs {
			e := c * rng.NormFloat64()
			if s.Shape == heavyTails {
				e = c * t3()
			}
			x := level * (1 + off + e)
			if s.Shape == outliers && rng.Float64() < 0.05 {
				slow := 1 + 0.2 + 0.8*rng.Float64()
				if s.Direction == HigherIsBetter {
					x /= slow // a slow sample is a low rate
				} else {
					x *= slow
				}
			}
			xs[j] = x
		}
		runs[t] = Obs{Value: median(xs), Samples: xs}
	}
	return runs
}

// An alarm is a detector's first flag on a series: at which run, and which
// way the level moved (+1 up, -1 down).
type alarm struct {
	At   int
	Sign int
}

// A detector scans a series online and returns its first alarm (At -1:
// none).
type detector struct {
	Name string
	Scan func(s synthSeries) alarm
}

func ourDetector(name string, o Options) detector {
	return detector{name, func(s synthSeries) alarm {
		o := o
		o.Direction = s.Direction
		for t := 1; t < len(s.Runs); t++ {
			cut := max(0, t+1-o.Window)
			if o.Window <= 0 {
				cut = t
			}
			v := Compare(s.Runs[:cut], s.Runs[cut:t+1], o)
			if v.Status == Regression || v.Status == Improvement {
				return alarm{t, sign(v.Change)}
			}
		}
		return alarm{At: -1}
	}}
}

// thresholdDetector flags a change of 5% or more against the previous run.
var thresholdDetector = detector{"5% vs previous run", func(s synthSeries) alarm {
	for t := 1; t < len(s.Runs); t++ {
		ch := s.Runs[t].Value/s.Runs[t-1].Value - 1
		if math.Abs(ch) >= 0.05 {
			return alarm{t, sign(ch)}
		}
	}
	return alarm{At: -1}
}}

// benchstatDetector: Mann-Whitney U on run values, previous 10 runs vs the
// newest 5, alpha 0.05, and a 5% minimum change of the medians.
var benchstatDetector = detector{"benchstat-style (MWU 10 vs 5)", func(s synthSeries) alarm {
	for t := 14; t < len(s.Runs); t++ {
		old := values(s.Runs[t-14 : t-4])
		cur := values(s.Runs[t-4 : t+1])
		ch := median(cur)/median(old) - 1
		if math.Abs(ch) < 0.05 {
			continue
		}
		if mwuP(old, cur) < 0.05 {
			return alarm{t, sign(ch)}
		}
	}
	return alarm{At: -1}
}}

func sign(x float64) int {
	if x < 0 {
		return -1
	}
	return 1
}

// mwuP is the two-sided Mann-Whitney U p-value (exact for small samples
// without ties).
func mwuP(a, b []float64) float64 {
	r, err := mstats.MannWhitneyUTest(a, b, mstats.LocationDiffers)
	if err != nil {
		return 1
	}
	return r.P
}
