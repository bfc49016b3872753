// Package result defines benchmark results and runs, and reads and writes
// them as JSON and CSV in the formats of the benchmark standardization
// guide.
//
// A Result carries exactly the guide's keys: timestamp, model_name,
// benchmark_name, value, unit, category and metadata. A Run is one
// invocation of piobench: an id, a start time, the environment it ran in,
// and its results.
package result

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// SchemaVersion is the version of the JSON run format written by this
// package.
const SchemaVersion = 1

// Categories of the standard benchmarks. Users may add their own.
const (
	CategoryPerformance = "performance"
	CategoryAccuracy    = "accuracy"
	CategoryMemory      = "memory"
	CategoryCustom      = "custom"
)

// Status values kept in Metadata["status"].
const (
	StatusOK    = "ok"
	StatusError = "error"
)

// A Result is the outcome of one benchmark on one model.
//
// A failed benchmark has Metadata["status"] == "error" and the error text in
// Metadata["error"]; its Value is NaN in memory and null in JSON, so that a
// failure can never be mistaken for a measured zero.
type Result struct {
	Timestamp     time.Time      `json:"timestamp"`
	ModelName     string         `json:"model_name"`
	BenchmarkName string         `json:"benchmark_name"`
	Value         float64        `json:"value"`
	Unit          string         `json:"unit"`
	Category      string         `json:"category"`
	Metadata      map[string]any `json:"metadata"`
}

// Failed reports whether r records a failure.
func (r Result) Failed() bool {
	s, _ := r.Metadata["status"].(string)
	return s == StatusError || math.IsNaN(r.Value)
}

// Err returns the recorded error text of a failed result.
func (r Result) Err() string {
	s, _ := r.Metadata["error"].(string)
	return s
}

// Fail returns a failed result for the given benchmark, with the error
// recorded in metadata and the value set to NaN.
func Fail(model, benchmark, unit, category string, err error, meta map[string]any) Result {
	if meta == nil {
		meta = map[string]any{}
	}
	meta["status"] = StatusError
	meta["error"] = err.Error()
	return Result{
		Timestamp:     time.Now().UTC(),
		ModelName:     model,
		BenchmarkName: benchmark,
		Value:         math.NaN(),
		Unit:          unit,
		Category:      category,
		Metadata:      meta,
	}
}

// jsonResult is Result on the wire: value may be null.
type jsonResult struct {
	Timestamp     Time           `json:"timestamp"`
	ModelName     string         `json:"model_name"`
	BenchmarkName string         `json:"benchmark_name"`
	Value         *float64       `json:"value"`
	Unit          string         `json:"unit"`
	Category      string         `json:"category"`
	Metadata      map[string]any `json:"metadata"`
}

// MarshalJSON writes r with the guide's keys; a failed result's value is
// null.
func (r Result) MarshalJSON() ([]byte, error) {
	j := jsonResult{
		Timestamp:     Time(r.Timestamp),
		ModelName:     r.ModelName,
		BenchmarkName: r.BenchmarkName,
		Unit:          r.Unit,
		Category:      r.Category,
		Metadata:      cleanMeta(r.Metadata),
	}
	if j.Metadata == nil {
		j.Metadata = map[string]any{}
	}
	if !math.IsNaN(r.Value) && !math.IsInf(r.Value, 0) {
		v := r.Value
		j.Value = &v
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a result written by MarshalJSON or in the guide's
// format (a timestamp without a zone is UTC). Unknown keys are errors.
func (r *Result) UnmarshalJSON(b []byte) error {
	var j jsonResult
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	if j.BenchmarkName == "" {
		return fmt.Errorf("result without benchmark_name")
	}
	*r = Result{
		Timestamp:     time.Time(j.Timestamp),
		ModelName:     j.ModelName,
		BenchmarkName: j.BenchmarkName,
		Value:         math.NaN(),
		Unit:          j.Unit,
		Category:      j.Category,
		Metadata:      numbersToFloats(j.Metadata),
	}
	if j.Value != nil {
		r.Value = *j.Value
	} else if r.Metadata == nil || r.Metadata["status"] == nil {
		if r.Metadata == nil {
			r.Metadata = map[string]any{}
		}
		r.Metadata["status"] = StatusError
	}
	if r.Metadata == nil {
		r.Metadata = map[string]any{}
	}
	return nil
}

// numbersToFloats turns json.Number values into float64 (or int64 when the
// text is an integer), recursively, so that metadata read back compares
// equal to metadata written.
func numbersToFloats(v map[string]any) map[string]any {
	if v == nil {
		return nil
	}
	for k, x := range v {
		v[k] = convertNumber(x)
	}
	return v
}

func convertNumber(x any) any {
	switch t := x.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return float64(i)
		}
		f, _ := t.Float64()
		return f
	case map[string]any:
		return numbersToFloats(t)
	case []any:
		for i := range t {
			t[i] = convertNumber(t[i])
		}
		return t
	}
	return x
}

// cleanMeta replaces non-finite floats (which JSON cannot hold) with nil.
func cleanMeta(m map[string]any) map[string]any {
	needs := false
	for _, v := range m {
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			needs = true
		}
	}
	if !needs {
		return m
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			v = nil
		}
		out[k] = v
	}
	return out
}

// A Run is one invocation of piobench.
type Run struct {
	SchemaVersion int            `json:"schema_version"`
	RunID         string         `json:"run_id"`
	StartedAt     Time           `json:"started_at"`
	FinishedAt    *Time          `json:"finished_at,omitempty"`
	Environment   Environment    `json:"environment"`
	Config        map[string]any `json:"config,omitempty"`
	Results       []Result       `json:"results"`
}

// Failures returns how many results in the run failed.
func (r *Run) Failures() int {
	n := 0
	for _, x := range r.Results {
		if x.Failed() {
			n++
		}
	}
	return n
}

// Time is a time.Time that marshals as RFC 3339 in UTC with microseconds,
// and also reads the guide's zone-less form ("2023-10-15T10:30:45.123456"),
// taking it as UTC.
type Time time.Time

// TimeLayout is how times are written.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05Z0700"}

// ParseTime reads a time in any of the accepted layouts.
func ParseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad timestamp %q: want RFC 3339, such as 2023-10-15T10:30:45.123456Z", s)
}

// FormatTime writes t the way this package writes every time.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return json.Marshal(FormatTime(time.Time(t)))
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("bad timestamp %s: want a string", b)
	}
	p, err := ParseTime(s)
	if err != nil {
		return err
	}
	*t = Time(p)
	return nil
}
