// Package regress finds performance regressions: it compares a new run
// with a baseline of earlier runs of the same model, benchmark and
// environment, with a statistical test on the samples and a minimum
// effect, grades what it finds by severity, controls false alarms across
// many benchmarks at once (Holm or Benjamini-Hochberg), and finds change
// points in whole histories (an energy-statistic binary segmentation in the
// manner of E-divisive means, with a rank test for significance).
//
// Tracker mirrors the benchmark standardization guide's
// PerformanceRegressionTracker: RecordMetric, DetectRegressions,
// RecentAlerts, and AssertNoRegression for Go tests.
package regress

import (
	"fmt"
	"strings"
)

// A Direction says which way a metric gets better.
type Direction int

const (
	// LowerIsBetter: seconds, milliseconds, megabytes.
	LowerIsBetter Direction = iota + 1
	// HigherIsBetter: tokens/sec, requests/sec, ratio (accuracy).
	HigherIsBetter
)

func (d Direction) String() string {
	switch d {
	case LowerIsBetter:
		return "lower is better"
	case HigherIsBetter:
		return "higher is better"
	}
	return "unknown"
}

// ParseDirection reads "higher" or "lower" (or "higher-is-better", ...).
func ParseDirection(s string) (Direction, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "higher", "higher-is-better", "higher_is_better", "up":
		return HigherIsBetter, nil
	case "lower", "lower-is-better", "lower_is_better", "down":
		return LowerIsBetter, nil
	}
	return 0, fmt.Errorf("direction %q: want higher or lower", s)
}

// DirectionFor returns the direction implied by a unit, and whether the
// unit was recognised. Rates (anything per second, "ops/s", "/sec") and
// ratios, accuracies and scores are higher-is-better; times, sizes and
// costs per operation (s, ms, MB, B/op, sec/op, allocs/op) are
// lower-is-better. An unrecognised unit is taken as lower-is-better (a cost,
// as in Go benchmarks), with known false.
func DirectionFor(unit string) (d Direction, known bool) {
	u := strings.ToLower(strings.TrimSpace(unit))
	switch u {
	case "ratio", "accuracy", "score", "%", "percent", "f1", "bleu", "hit rate", "hit_rate", "ops", "count/s":
		return HigherIsBetter, true
	case "s", "sec", "secs", "second", "seconds", "ms", "milliseconds", "us", "µs", "microseconds", "ns", "nanoseconds",
		"minutes", "min", "b", "bytes", "kb", "kib", "mb", "mib", "gb", "gib", "sec/op", "ns/op", "b/op", "allocs/op",
		"mb/op", "j", "joules", "w", "watts", "error rate", "error_rate", "errors":
		return LowerIsBetter, true
	}
	for _, rate := range []string{"/sec", "/s", "per second", "per_second", "/second", "/min", "/minute", "/hour"} {
		if strings.HasSuffix(u, rate) {
			return HigherIsBetter, true
		}
	}
	if strings.HasSuffix(u, "/op") {
		return LowerIsBetter, true
	}
	return LowerIsBetter, false
}

// A Severity grades a change by its size relative to the threshold.
type Severity string

// Severities, from least to most severe.
const (
	SeverityNone     Severity = ""
	SeverityMinor    Severity = "minor"
	SeverityMajor    Severity = "major"
	SeverityCritical Severity = "critical"
)

// Levels are the multiples of the threshold at which a change becomes
// minor, major and critical.
type Levels struct {
	Minor, Major, Critical float64
}

// DefaultLevels: minor at 1x the threshold, major at 2x, critical at 4x.
var DefaultLevels = Levels{Minor: 1, Major: 2, Critical: 4}

// ParseLevels reads "1,2,4".
func ParseLevels(s string) (Levels, error) {
	var l Levels
	if _, err := fmt.Sscanf(strings.ReplaceAll(s, " ", ""), "%g,%g,%g", &l.Minor, &l.Major, &l.Critical); err != nil {
		return l, fmt.Errorf("severity levels %q: want three multiples of the threshold, such as 1,2,4", s)
	}
	if !(l.Minor > 0 && l.Minor <= l.Major && l.Major <= l.Critical) {
		return l, fmt.Errorf("severity levels %q: want 0 < minor <= major <= critical", s)
	}
	return l, nil
}

// Of grades a relative change (0.12 for 12%) against threshold (0.05).
func (l Levels) Of(change, threshold float64) Severity {
	if change < 0 {
		change = -change
	}
	if threshold <= 0 {
		threshold = 1e-12
	}
	m := change / threshold
	switch {
	case m >= l.Critical:
		return SeverityCritical
	case m >= l.Major:
		return SeverityMajor
	case m >= l.Minor:
		return SeverityMinor
	}
	return SeverityNone
}

// Rank orders severities: 0 none, 1 minor, 2 major, 3 critical.
func (s Severity) Rank() int {
	switch s {
	case SeverityMinor:
		return 1
	case SeverityMajor:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}
