package regress

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// A score is a detector's record on the synthetic suite.
type score struct {
	TP, FP, FN        int
	NoChange, Flagged int // no-change series, and how many were flagged
	Steps10, Found10  int // 10% steps, and how many were found within 5 runs
	Small, SmallFound int // steps under the threshold, found within 5 runs
	Delay             int // total delay of true positives (runs after the step)
	Scanned           int // runs of no-change series judged (up to the first alarm)
}

// PerThousand is false alarms per 1,000 judged runs of no-change series.
func (s score) PerThousand() float64 { return 1000 * float64(s.Flagged) / float64(s.Scanned) }

func (s score) Precision() float64 { return float64(s.TP) / float64(s.TP+s.FP) }
func (s score) Recall() float64    { return float64(s.TP) / float64(s.TP+s.FN) }
func (s score) F1() float64        { return 2 * float64(s.TP) / float64(2*s.TP+s.FP+s.FN) }
func (s score) FPRate() float64    { return float64(s.Flagged) / float64(s.NoChange) }
func (s score) Found10Rate() float64 {
	return float64(s.Found10) / float64(s.Steps10)
}

// evaluate scores a detector: a step of at least the threshold (5%) is a
// true positive when the first alarm comes within 5 runs of it (at the step's
// run or the 4 after) and points the right way; an alarm before the step,
// or the wrong way, is a false positive (and the step, missed, a false
// negative); a later alarm or none is a false negative. Steps under the
// threshold (2%, 3%) count only when flagged before they happen.
func evaluate(d detector, suite []synthSeries) score {
	var s score
	for _, ser := range suite {
		a := d.Scan(ser)
		switch {
		case ser.At < 0:
			s.NoChange++
			if a.At >= 0 {
				s.Scanned += a.At + 1
			} else {
				s.Scanned += len(ser.Runs)
			}
			if a.At >= 0 {
				s.Flagged++
				s.FP++
			}
		case math.Abs(ser.Step) < 0.05-1e-9:
			s.Small++
			if a.At >= 0 && a.At < ser.At {
				s.FP++
			} else if a.At >= ser.At && a.At < ser.At+5 {
				s.SmallFound++
			}
		default:
			ten := math.Abs(math.Abs(ser.Step)-0.10) < 1e-9
			if ten {
				s.Steps10++
			}
			ok := a.At >= ser.At && a.At < ser.At+5 && a.Sign == sign(ser.Step)
			switch {
			case ok:
				s.TP++
				s.Delay += a.At - ser.At
				if ten {
					s.Found10++
				}
			case a.At >= 0 && (a.At < ser.At || a.Sign != sign(ser.Step)):
				s.FP++
				s.FN++
			default:
				s.FN++
			}
		}
	}
	return s
}

// HistoryOptions are the options of history detection (the Tracker's and
// piobench changes' online mode): up to 5 newest runs, at least 2.
var historyOptions = Options{Threshold: 0.05, Window: 5, MinRuns: 2, MinBaseline: 8}

func detectors() []detector {
	return []detector{
		ourDetector("piobench (history: 2-5 newest runs)", historyOptions),
		ourDetector("piobench (ci: new run alone)", Options{Threshold: 0.05, Window: 1}),
		thresholdDetector,
		benchstatDetector,
	}
}

// table formats scores as Markdown.
func table(ds []detector, scores []score) string {
	var b strings.Builder
	b.WriteString("| detector | F1 | precision | recall | no-change series flagged | false alarms per 1,000 runs | 10% steps found within 5 runs | mean delay (runs) |\n|---|---|---|---|---|---|---|---|\n")
	for i, d := range ds {
		s := scores[i]
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | %.3f | %.2f%% (%d of %d) | %.2f | %.1f%% (%d of %d) | %.2f |\n", d.Name, s.F1(), s.Precision(), s.Recall(),
			100*s.FPRate(), s.Flagged, s.NoChange, s.PerThousand(), 100*s.Found10Rate(), s.Found10, s.Steps10, float64(s.Delay)/float64(max(1, s.TP)))
	}
	return b.String()
}

// TestDetectionTargets measures the detectors on the labelled suite and
// checks the targets: the history detector beats both baselines on F1,
// flags at most 1% of no-change series, and finds at least 95% of 10% steps
// within 5 runs.
func TestDetectionTargets(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 600
	}
	seed := uint64(20261127)
	if v := os.Getenv("PIOBENCH_SYNTH_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	suite := genSuite(seed, n)
	ds := detectors()
	scores := make([]score, len(ds))
	for i, d := range ds {
		scores[i] = evaluate(d, suite)
	}
	t.Logf("%d series of %d runs (seed %d):\n%s", n, synthRuns, seed, table(ds, scores))
	ours := scores[0]
	for _, i := range []int{2, 3} {
		if ours.F1() <= scores[i].F1() {
			t.Errorf("F1 %.3f does not beat %s (%.3f)", ours.F1(), ds[i].Name, scores[i].F1())
		}
	}
	if ours.FPRate() > 0.01 {
		t.Errorf("flagged %.2f%% of no-change series, want at most 1%%", 100*ours.FPRate())
	}
	want10 := 0.95
	if testing.Short() {
		want10 = 0.90 // a fifth of the series: fewer 10% steps, a rougher rate
	}
	if ours.Found10Rate() < want10 {
		t.Errorf("found %.1f%% of 10%% steps within 5 runs, want at least %.0f%%", 100*ours.Found10Rate(), 100*want10)
	}
}

// TestChangesOnSuite measures FindChanges (piobench changes) on whole
// series of the labelled suite: a step of at least the threshold counts as
// found when a change within 2 runs of it points the right way; any other
// reported change is a false one.
func TestChangesOnSuite(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 600
	}
	suite := genSuite(20261127, n)
	var noChange, flagged, steps, found, small, smallFound, wrong int
	exact := 0
	for _, s := range suite {
		cps := FindChanges(values(s.Runs), ChangeOptions{Direction: s.Direction})
		switch {
		case s.At < 0:
			noChange++
			if len(cps) > 0 {
				flagged++
			}
		default:
			big := math.Abs(s.Step) >= 0.05-1e-9
			hit := false
			for _, c := range cps {
				if abs(c.Index-s.At) <= 2 && sign(c.Change) == sign(s.Step) {
					hit = true
					if c.Index == s.At {
						exact++
					}
				} else {
					wrong++
				}
			}
			if big {
				steps++
				if hit {
					found++
				}
			} else {
				small++
				if hit {
					smallFound++
				}
			}
		}
	}
	t.Logf("changes over %d whole series: no-change series with a change reported %.2f%% (%d of %d); steps of 5%%+ found within 2 runs %.1f%% (%d of %d, %d at the exact run); steps of 2-3%% found %.1f%%; other changes reported in changed series %d",
		n, 100*float64(flagged)/float64(noChange), flagged, noChange, 100*float64(found)/float64(steps), found, steps, exact, 100*float64(smallFound)/float64(max(1, small)), wrong)
	if rate := float64(flagged) / float64(noChange); rate > 0.01 {
		t.Errorf("changes reported in %.2f%% of no-change series, want at most 1%%", 100*rate)
	}
	if rate := float64(found) / float64(steps); rate < 0.85 {
		t.Errorf("found %.1f%% of steps of 5%% or more, want at least 85%%", 100*rate)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
