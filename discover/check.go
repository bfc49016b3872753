package discover

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/inference-pio/piobench/result"
)

// A Check is a condition on a benchmark's result, written as
//
//	METRIC OP NUMBER [UNIT]
//
// such as "inference_speed > 50 tokens/sec" or "loading_time <= 2
// seconds". METRIC names a benchmark of the model (its result name) or a
// registered benchmark; METRIC.KEY compares a number in the result's
// metadata instead of its value ("inference_speed.ttft_ms_median < 200").
// OP is one of > >= < <= == !=. UNIT, when given after the headline
// value, must be the benchmark's unit.
type Check struct {
	Source string
	Metric string
	Key    string
	Op     string
	Value  float64
	Unit   string
	Pos    Pos
	// Instance is the benchmark the check reads.
	Instance *Instance

	kind               string
	metricPos, unitPos Pos
	metricOff, unitOff int
}

type checkError struct {
	offset int
	msg    string
}

var checkOps = []string{">=", "<=", "==", "!=", ">", "<"}

// parseCheck parses a check expression.
func parseCheck(s string) (*Check, *checkError) {
	c := &Check{Source: s}
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	skip()
	start := i
	for i < len(s) && (isWord(s[i]) || s[i] == '.' || s[i] == '-') {
		i++
	}
	if i == start {
		return nil, &checkError{i, fmt.Sprintf("want METRIC OP NUMBER [UNIT], such as \"inference_speed > 50 tokens/sec\", got %q", s)}
	}
	c.metricOff = start
	c.Metric, c.Key, _ = strings.Cut(s[start:i], ".")
	if !nameRE.MatchString(c.Metric) {
		return nil, &checkError{start, fmt.Sprintf("bad benchmark name %q", c.Metric)}
	}
	if strings.Contains(s[start:i], ".") && (c.Key == "" || strings.ContainsAny(c.Key, ".-")) {
		return nil, &checkError{start + len(c.Metric) + 1, fmt.Sprintf("bad metadata key %q (want METRIC.KEY with KEY of letters, digits and _)", c.Key)}
	}
	skip()
	for _, op := range checkOps {
		if strings.HasPrefix(s[i:], op) {
			c.Op = op
			break
		}
	}
	if c.Op == "" {
		return nil, &checkError{i, fmt.Sprintf("want a comparison (one of %s) after %q", strings.Join(checkOps, " "), s[start:i])}
	}
	i += len(c.Op)
	skip()
	numStart := i
	for i < len(s) && strings.IndexByte("0123456789.eE+-_", s[i]) >= 0 {
		i++
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(s[numStart:i], "_", ""), 64)
	if err != nil || numStart == i || math.IsNaN(v) || math.IsInf(v, 0) {
		end := i
		if end == numStart {
			end = len(s)
		}
		return nil, &checkError{numStart, fmt.Sprintf("want a number after %s, got %q", c.Op, strings.TrimSpace(s[numStart:end]))}
	}
	c.Value = v
	skip()
	c.unitOff = i
	c.Unit = strings.TrimSpace(s[i:])
	if strings.ContainsAny(c.Unit, " \t<>=!") {
		return nil, &checkError{i, fmt.Sprintf("unexpected %q after the number (want an optional unit such as tokens/sec)", c.Unit)}
	}
	return c, nil
}

func isWord(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// Eval applies the check to r, the result of the check's benchmark. It
// returns the number compared. A failed result or a missing metadata key
// fails the check with the reason.
func (c *Check) Eval(r result.Result) (pass bool, got float64, why string) {
	if r.Failed() {
		return false, math.NaN(), fmt.Sprintf("%s failed: %s", r.BenchmarkName, r.Err())
	}
	got = r.Value
	if c.Key != "" {
		v, ok := number(r.Metadata[c.Key])
		if !ok {
			return false, math.NaN(), fmt.Sprintf("%s has no number %q in its metadata", r.BenchmarkName, c.Key)
		}
		got = v
	}
	switch c.Op {
	case ">":
		pass = got > c.Value
	case ">=":
		pass = got >= c.Value
	case "<":
		pass = got < c.Value
	case "<=":
		pass = got <= c.Value
	case "==":
		pass = got == c.Value
	case "!=":
		pass = got != c.Value
	}
	if !pass {
		why = fmt.Sprintf("%s is %s, want %s %s", c.subject(), formatNumber(got, c.unit()), c.Op, formatNumber(c.Value, c.unit()))
	}
	return pass, got, why
}

func (c *Check) subject() string {
	if c.Key != "" {
		return c.Metric + "." + c.Key
	}
	return c.Metric
}

func (c *Check) unit() string {
	if c.Unit != "" {
		return c.Unit
	}
	if c.Key == "" && c.Instance != nil {
		return c.Instance.Unit
	}
	return ""
}

// Describe returns the check with the number found, for reports.
func (c *Check) Describe(got float64) string {
	return fmt.Sprintf("%s = %s (want %s %s)", c.subject(), formatNumber(got, c.unit()), c.Op, formatNumber(c.Value, c.unit()))
}

func formatNumber(v float64, unit string) string {
	s := strconv.FormatFloat(v, 'g', 5, 64)
	if unit != "" {
		s += " " + unit
	}
	return s
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x)
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}
