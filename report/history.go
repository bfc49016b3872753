package report

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// A History is what a history store says about the runs being reported:
// one trend per metric, and the regressions found in the newest run.
type History struct {
	// Runs is how many runs the history holds.
	Runs int
	// Trends, one per model and benchmark.
	Trends []Trend
	// Regressions found in the newest run against its baseline.
	Regressions []Regression
	// Note says something about the history as a whole (for example that
	// detection needs more runs).
	Note string
}

// A Trend is the history of one metric (one benchmark on one model).
type Trend struct {
	Model     string
	Benchmark string
	Unit      string
	// Points, oldest first.
	Points []Point
	// ChangePoints are indexes into Points where a new level begins.
	ChangePoints []int
	// Alerts are marked on the trend at their point.
	Alerts []Alert
}

// A Point is one run's value of a metric.
type Point struct {
	At     time.Time
	RunID  string
	Value  float64 // NaN when the run's result failed
	Lo, Hi float64 // the 95% interval; NaN when unknown
}

// An Alert is a notable point on a trend.
type Alert struct {
	Index    int // into Trend.Points
	Severity string
	Message  string
}

// A Regression is a metric that got worse in the newest run.
type Regression struct {
	Model     string
	Benchmark string
	Unit      string
	Baseline  float64 // the baseline's value (such as the median of earlier runs)
	Current   float64
	// Change is the relative change, (Current-Baseline)/Baseline: -0.12
	// is 12% lower.
	Change float64
	// Severity is low, medium, high or critical.
	Severity string
	// Message explains the finding (the test used, p-value, threshold).
	Message string
}

// severityRank orders severities, worst first.
func severityRank(s string) int {
	switch strings.ToLower(s) {
	case "critical":
		return 0
	case "high", "major":
		return 1
	case "medium", "moderate":
		return 2
	case "low", "minor":
		return 3
	}
	return 4
}

// sortedRegressions returns the regressions worst first, then by the size
// of the change.
func (h *History) sortedRegressions() []Regression {
	out := append([]Regression(nil), h.Regressions...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := severityRank(out[i].Severity), severityRank(out[j].Severity)
		if a != b {
			return a < b
		}
		return abs(out[i].Change) > abs(out[j].Change)
	})
	return out
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// missing says what the history cannot show.
func (h *History) missing() []string {
	var out []string
	if h.Note != "" {
		out = append(out, h.Note)
	}
	switch {
	case h.Runs == 0:
		out = append(out, "The history holds no runs yet: no trends or regressions to show.")
	case h.Runs == 1:
		out = append(out, "The history holds one run: trends and regression detection need at least two.")
	}
	return out
}

// formatChange writes a relative change as a signed percentage.
func formatChange(c float64) string {
	return fmt.Sprintf("%+.1f%%", c*100)
}
