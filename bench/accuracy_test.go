package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/inference-pio/piobench/eval"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/fake"
	"github.com/inference-pio/piobench/result"
)

// flaky answers from a fake model but fails on chosen prompts.
type flaky struct {
	*fake.Model
	fail map[string]bool
}

func (f *flaky) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	if f.fail[req.Prompt] {
		return model.Response{}, errors.New("503 Service Unavailable")
	}
	return f.Model.Infer(ctx, req)
}

// TestAccuracyErrorsAndTags runs 12 cases with a known outcome each: 6
// right, 4 wrong, 2 errors.
func TestAccuracyErrorsAndTags(t *testing.T) {
	clock := fake.NewClock()
	m := fake.New(clock, loadTime, prefill, decode)
	m.Answers = map[string]string{}
	f := &flaky{Model: m, fail: map[string]bool{}}
	var qs []eval.Case
	for i := 0; i < 12; i++ {
		q := fmt.Sprintf("Question %d?", i)
		tag := []string{"easy", "hard"}[i%2]
		qs = append(qs, eval.Case{ID: fmt.Sprint(i), Input: q, Expected: []string{"seven"}, Tags: []string{tag}, Dataset: "t.jsonl"})
		switch {
		case i < 6:
			m.Answers[q] = "7"
		case i < 10:
			m.Answers[q] = "8"
		default:
			f.fail[q] = true
		}
	}
	var seen []eval.Record
	b := &Accuracy{Questions: qs, MaxTokens: 4, OnCase: func(r eval.Record) { seen = append(seen, r) }, Extra: map[string]any{"limit": 12}}
	r := Execute(context.Background(), b, newEnv(t, f, clock), 0)
	if r.Failed() {
		t.Fatalf("failed: %s", r.Err())
	}
	near(t, "ratio", r.Value, 6.0/10)
	for k, want := range map[string]float64{"correct": 6, "wrong": 4, "errors": 2, "n": 10, "total": 12, "accuracy_over_total": 0.5, "max_tokens": 4, "concurrency": 1, "limit": 12} {
		near(t, k, metaFloat(t, r, k), want)
	}
	lo, hi := metaFloat(t, r, "ci95_low"), metaFloat(t, r, "ci95_high")
	// Wilson 95% for 6/10: [0.3127, 0.8318].
	if math.Abs(lo-0.3127) > 1e-4 || math.Abs(hi-0.8318) > 1e-4 {
		t.Errorf("interval [%v, %v]", lo, hi)
	}
	if r.Metadata["first_error"] != "case 10: 503 Service Unavailable" || r.Metadata["mode"] != "sequential" || r.Metadata["dataset"] != "t.jsonl" {
		t.Errorf("metadata %v %v %v", r.Metadata["first_error"], r.Metadata["mode"], r.Metadata["dataset"])
	}
	tags := r.Metadata["tags"].(map[string]any)
	// easy: 0,2,4 right, 6,8 wrong, 10 error; hard: 1,3,5 right, 7,9 wrong, 11 error.
	for _, tag := range []string{"easy", "hard"} {
		tt := tags[tag].(map[string]any)
		if tt["correct"] != 3 || tt["n"] != 5 || tt["errors"] != 1 || tt["total"] != 6 || tt["accuracy"] != 0.6 {
			t.Errorf("tag %s: %v", tag, tt)
		}
	}
	if len(seen) != 12 || seen[0].Model != "fake" || seen[11].Error == "" {
		t.Errorf("OnCase saw %d records, first %+v", len(seen), seen[0])
	}
	cases := r.Metadata["cases"].([]eval.Record)
	if len(cases) != 12 || !cases[0].Correct() || cases[6].Correct() || cases[10].Score != nil {
		t.Errorf("per-case records in metadata %+v", cases)
	}
	if len(r.Metadata["samples"].([]float64)) != 10 {
		t.Errorf("samples hold %d outcomes, want the 10 answered", len(r.Metadata["samples"].([]float64)))
	}
	if s, _ := r.Metadata["dataset_sha256"].(string); s != eval.Fingerprint(qs) {
		t.Errorf("dataset_sha256 %q", s)
	}
	// The result survives JSON: an error's score is null.
	raw, err := json.Marshal(r)
	if err != nil || !strings.Contains(string(raw), `"score":null`) {
		t.Errorf("JSON: %v\n%s", err, raw)
	}

	// Fewer records kept in metadata than cases: none, and a note.
	b = &Accuracy{Questions: qs, CasesInMetadata: 5}
	r = Execute(context.Background(), b, newEnv(t, f, clock), 0)
	if _, ok := r.Metadata["cases"]; ok || !strings.Contains(fmt.Sprint(r.Metadata["cases_omitted"]), "12 cases") {
		t.Errorf("cases %v, cases_omitted %v", r.Metadata["cases"], r.Metadata["cases_omitted"])
	}
}

func TestAccuracyAllErroredFails(t *testing.T) {
	clock := fake.NewClock()
	m := fake.New(clock, loadTime, prefill, decode)
	m.Fail = errors.New("connection refused")
	r := Execute(context.Background(), NewAccuracy(), newEnv(t, m, clock), 0)
	if !r.Failed() || r.Metadata["status"] != result.StatusError || !math.IsNaN(r.Value) {
		t.Fatalf("want a failed result, got %+v", r)
	}
	if want := "no case was answered: all 3 cases errored; case smoke-1: connection refused"; r.Err() != want {
		t.Errorf("error %q, want %q", r.Err(), want)
	}
}

func TestAccuracySimpleCases(t *testing.T) {
	clock := fake.NewClock()
	m := fake.New(clock, loadTime, prefill, decode)
	m.Answers = map[string]string{"Colour of the sky?": "Blue, mostly", "Largest planet?": "Saturn"}
	b := &Accuracy{Cases: []Case{{Input: "Colour of the sky?", Expected: "blue"}, {Input: "Largest planet?", Expected: "Jupiter"}}, Dataset: "inline"}
	r := Execute(context.Background(), b, newEnv(t, m, clock), 0)
	near(t, "ratio", r.Value, 0.5)
	if r.Metadata["dataset"] != "inline" || r.Metadata["max_tokens"] != eval.DefaultMaxTokens {
		t.Errorf("metadata %v", r.Metadata)
	}
	if got := b.EvalCases(); got[1].ID != "2" || got[1].Expected[0] != "Jupiter" {
		t.Errorf("simple cases as eval cases: %+v", got)
	}
	if got := NewAccuracy().EvalCases(); got[0].ID != "smoke-1" || len(got) != 3 {
		t.Errorf("the default cases are not the smoke set: %+v", got)
	}
}

// TestAccuracyBatches runs the benchmark on a batching model: the cases go
// in batches of Eval.Concurrency.
func TestAccuracyBatches(t *testing.T) {
	clock := fake.NewClock()
	m := fake.New(clock, loadTime, prefill, decode)
	cases, _ := eval.Arithmetic(eval.ArithmeticOptions{N: 10, Seed: 3, Digits: 1, Ops: "+"})
	m.Answers = map[string]string{}
	for _, c := range cases {
		m.Answers[c.Input] = c.Expected[0]
	}
	b := &Accuracy{Questions: cases, Eval: eval.Config{Concurrency: 4}}
	r := Execute(context.Background(), b, newEnv(t, fake.Batcher{Model: m}, clock), 0)
	near(t, "ratio", r.Value, 1)
	if r.Metadata["mode"] != "batch" || r.Metadata["concurrency"] != 4 {
		t.Errorf("mode %v concurrency %v", r.Metadata["mode"], r.Metadata["concurrency"])
	}
}
