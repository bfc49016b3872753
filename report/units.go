package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// A scale turns a value in one unit into a value in a unit that reads
// better: 0.0123 seconds into 12.30 ms, 3072 MB into 3.000 GB.
type scale struct {
	factor float64 // multiply a value in the original unit by this
	unit   string  // the unit after scaling
}

var identity = scale{1, ""}

// Time and memory units that values can be rescaled between. Memory units
// follow the rest of piobench: MB is 2^20 bytes (and the metadata of a
// memory result says so).
type step struct {
	below float64 // in the base unit (seconds, bytes)
	unit  string
	per   float64 // base units per unit
}

// A family is units of one quantity: the names a value may come in (with
// their size in the base unit) and the units it is shown in.
type family struct {
	units map[string]float64
	steps []step
}

var families = []family{
	{ // time, in seconds
		units: map[string]float64{
			"ns": 1e-9, "nanoseconds": 1e-9,
			"us": 1e-6, "µs": 1e-6, "μs": 1e-6, "microseconds": 1e-6,
			"ms": 1e-3, "milliseconds": 1e-3,
			"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
		},
		steps: []step{{1e-6, "ns", 1e-9}, {1e-3, "µs", 1e-6}, {1, "ms", 1e-3}, {math.Inf(1), "s", 1}},
	},
	{ // memory, in bytes
		units: map[string]float64{
			"b": 1, "bytes": 1, "byte": 1,
			"kb": 1 << 10, "kib": 1 << 10,
			"mb": 1 << 20, "mib": 1 << 20,
			"gb": 1 << 30, "gib": 1 << 30,
			"tb": 1 << 40, "tib": 1 << 40,
		},
		steps: []step{{1 << 10, "B", 1}, {1 << 20, "KB", 1 << 10}, {1 << 30, "MB", 1 << 20}, {1 << 40, "GB", 1 << 30}, {math.Inf(1), "TB", 1 << 40}},
	},
}

// scaleFor picks the unit that shows v (in unit) with the fewest digits:
// time in ns, µs, ms or s; memory in B, KB, MB, GB or TB. Other units
// (rates, ratios, counts) are kept as they are.
func scaleFor(v float64, unit string) scale {
	key := strings.ToLower(strings.TrimSpace(unit))
	for _, f := range families {
		per, ok := f.units[key]
		if !ok {
			continue
		}
		base := math.Abs(v) * per
		if math.IsNaN(v) || math.IsInf(v, 0) || base == 0 {
			return scale{1, unit}
		}
		for _, s := range f.steps {
			if base < s.below {
				return scale{per / s.per, s.unit}
			}
		}
	}
	return scale{1, unit}
}

// Number formats v with about four significant digits, the way every
// report shows a measurement: 391.8, 85.19, 1.234, 0.01234. NaN is "-".
func Number(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "-"
	case math.IsInf(v, 0):
		if v > 0 {
			return "∞"
		}
		return "-∞"
	case a >= 1e7:
		return strconv.FormatFloat(v, 'g', 4, 64)
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 10:
		return fmt.Sprintf("%.2f", v)
	case a >= 1 || a == 0:
		return fmt.Sprintf("%.3f", v)
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

// Quantity formats v in unit, rescaled to a readable unit: Quantity(0.0123,
// "seconds") is "12.30 ms", Quantity(3072, "MB") is "3.000 GB". A NaN is
// "-".
func Quantity(v float64, unit string) string {
	if math.IsNaN(v) {
		return "-"
	}
	s := scaleFor(v, unit)
	if s.unit == "" {
		return Number(v)
	}
	return Number(v*s.factor) + " " + s.unit
}

// Interval formats [lo, hi] in the scale s.
func (s scale) interval(lo, hi float64) string {
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return ""
	}
	return "[" + Number(lo*s.factor) + ", " + Number(hi*s.factor) + "]"
}

// formatETA formats a duration given in seconds briefly: 850ms, 12s, 3m05s,
// 1h02m.
func formatETA(sec float64) string {
	switch {
	case math.IsNaN(sec) || sec < 0:
		return "?"
	case sec < 1:
		return fmt.Sprintf("%dms", int(sec*1000))
	case sec < 60:
		return fmt.Sprintf("%ds", int(math.Round(sec)))
	case sec < 3600:
		s := int(math.Round(sec))
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		m := int(math.Round(sec / 60))
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
}
