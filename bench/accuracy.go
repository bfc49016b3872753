package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/stats"
)

// A Case is one question of an accuracy dataset.
type Case struct {
	Input    string `json:"input"`
	Expected string `json:"expected"`
}

// SmokeCases are the guide's three accuracy cases.
var SmokeCases = []Case{
	{Input: "What is 2+2?", Expected: "4"},
	{Input: "Capital of France?", Expected: "Paris"},
	{Input: "How many continents?", Expected: "7"},
}

// A DatasetError is a problem at a line of a dataset file.
type DatasetError struct {
	File string
	Line int
	Msg  string
}

func (e *DatasetError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ReadDataset reads a JSONL file of {"input": ..., "expected": ...} cases.
// Blank lines are skipped; any other line that is not such an object is an
// error naming the file and line.
func ReadDataset(path string) ([]Case, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeDataset(f, path)
}

// DecodeDataset reads cases from r; name is used in errors.
func DecodeDataset(r io.Reader, name string) ([]Case, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	var cases []Case
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var c Case
		if err := dec.Decode(&c); err != nil {
			return nil, &DatasetError{File: name, Line: line, Msg: "not a JSON object with \"input\" and \"expected\": " + strings.TrimPrefix(err.Error(), "json: ")}
		}
		if dec.More() {
			return nil, &DatasetError{File: name, Line: line, Msg: "more than one JSON value on the line"}
		}
		if c.Input == "" || c.Expected == "" {
			return nil, &DatasetError{File: name, Line: line, Msg: "\"input\" and \"expected\" must both be non-empty strings"}
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		return nil, &DatasetError{File: name, Msg: err.Error()}
	}
	if len(cases) == 0 {
		return nil, &DatasetError{File: name, Msg: "no cases"}
	}
	return cases, nil
}

// Accuracy measures the ratio of cases whose answer contains the expected
// text, ignoring case (the guide's scoring).
type Accuracy struct {
	Cases     []Case
	Dataset   string // where Cases came from, for metadata
	MaxTokens int
}

// NewAccuracy returns the benchmark with the guide's three cases.
func NewAccuracy() *Accuracy {
	return &Accuracy{Cases: SmokeCases, Dataset: "smoke (built-in)", MaxTokens: 32}
}

func (*Accuracy) Name() string     { return "accuracy" }
func (*Accuracy) Category() string { return result.CategoryAccuracy }
func (*Accuracy) Unit() string     { return "ratio" }

// CaseRecord is the outcome of one case, kept in metadata.
type CaseRecord struct {
	Input     string  `json:"input"`
	Expected  string  `json:"expected"`
	Output    string  `json:"output"`
	Correct   bool    `json:"correct"`
	LatencyMS float64 `json:"latency_ms"`
}

func (b *Accuracy) Run(ctx context.Context, env *Env) (result.Result, error) {
	if len(b.Cases) == 0 {
		return result.Result{}, fmt.Errorf("no accuracy cases")
	}
	correct := 0
	scores := make([]float64, 0, len(b.Cases))
	records := make([]CaseRecord, 0, len(b.Cases))
	for i, c := range b.Cases {
		if err := ctx.Err(); err != nil {
			return result.Result{}, err
		}
		env.progress(Event{Benchmark: b.Name(), Phase: "measure", Done: i, Total: len(b.Cases)})
		start := env.now()
		resp, err := env.Model.Infer(ctx, model.Request{Prompt: c.Input, MaxTokens: b.MaxTokens})
		if err != nil {
			return result.Result{}, fmt.Errorf("case %d (%q): %w", i+1, c.Input, err)
		}
		ok := strings.Contains(strings.ToLower(resp.Text), strings.ToLower(c.Expected))
		score := 0.0
		if ok {
			correct++
			score = 1
		}
		scores = append(scores, score)
		records = append(records, CaseRecord{Input: c.Input, Expected: c.Expected, Output: resp.Text, Correct: ok,
			LatencyMS: env.since(start).Seconds() * 1000})
	}
	env.progress(Event{Benchmark: b.Name(), Phase: "measure", Done: len(b.Cases), Total: len(b.Cases)})
	total := len(b.Cases)
	ratio := float64(correct) / float64(total)
	lo, hi := stats.Wilson(correct, total, stats.Confidence)
	meta := map[string]any{
		"statistic":     "ratio correct",
		"correct":       correct,
		"total":         total,
		"test_cases":    total,
		"n":             total,
		"mean":          ratio,
		"ci95_low":      lo,
		"ci95_high":     hi,
		"ci_method":     "Wilson score interval",
		"scorer":        "contains (case-insensitive)",
		"dataset":       b.Dataset,
		"max_tokens":    b.MaxTokens,
		"temperature":   0,
		"samples":       scores,
		"cases":         records,
		"notes":         modelNotes(env.Model),
		"deterministic": "greedy decoding (temperature 0)",
	}
	return result.Result{Value: ratio, Metadata: meta}, nil
}
