package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/inference-pio/piobench/eval"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/stats"
)

// A Case is one question of an accuracy dataset in the guide's simple
// form, scored by contains. Package eval has the full form (several
// acceptable answers, chat messages, choices, scorers, tags).
type Case struct {
	Input    string `json:"input"`
	Expected string `json:"expected"`
}

// Accuracy measures the ratio of correct answers to a dataset of
// questions, with package eval: each case is scored by its scorer
// (contains by default: case-insensitive, number words read as digits,
// whole words only), and the result is the ratio correct among the cases
// the model answered, with a 95% Wilson interval, per-tag accuracy and the
// number of cases that errored (counted apart from wrong answers).
//
// A run in which every case errored is a failed result. A run in which
// some cases errored is a result with metadata "errors" above zero; the
// command line exits 1 for it.
type Accuracy struct {
	// Questions are the cases in the full form. When empty, Cases are
	// used.
	Questions []eval.Case
	// Cases are cases in the simple form, used when Questions is empty.
	Cases []Case
	// Dataset says where the cases came from, for metadata.
	Dataset string
	// MaxTokens bounds each answer (Eval.MaxTokens, when set, wins).
	MaxTokens int
	// Eval is how the model is prompted and the cases run. Its Now and
	// Progress are set from the environment.
	Eval eval.Config
	// Extra is added to the result's metadata (such as how the cases were
	// selected).
	Extra map[string]any
	// OnCase, when set, receives each case's record (with the model's
	// name) as soon as it is scored.
	OnCase func(eval.Record)
	// CasesInMetadata is the most per-case records kept in the result's
	// metadata ("cases"); larger runs keep none there (see OnCase).
	// 0 means 100.
	CasesInMetadata int
}

// NewAccuracy returns the benchmark with the guide's three cases.
func NewAccuracy() *Accuracy {
	return &Accuracy{Questions: eval.Smoke(), Dataset: "builtin:smoke", MaxTokens: eval.DefaultMaxTokens}
}

func (*Accuracy) Name() string     { return "accuracy" }
func (*Accuracy) Category() string { return result.CategoryAccuracy }
func (*Accuracy) Unit() string     { return "ratio" }

// EvalCases returns the cases the benchmark evaluates, in the full form:
// Questions, or else Cases.
func (b *Accuracy) EvalCases() []eval.Case {
	if len(b.Questions) > 0 {
		return b.Questions
	}
	out := make([]eval.Case, len(b.Cases))
	for i, c := range b.Cases {
		out[i] = eval.Case{ID: strconv.Itoa(i + 1), Input: c.Input, Expected: []string{c.Expected}, Dataset: b.Dataset}
	}
	return out
}

func (b *Accuracy) Run(ctx context.Context, env *Env) (result.Result, error) {
	cases := b.EvalCases()
	if len(cases) == 0 {
		return result.Result{}, fmt.Errorf("no accuracy cases")
	}
	cfg := b.Eval
	if cfg.MaxTokens == 0 {
		cfg.MaxTokens = b.MaxTokens
	}
	cfg.Now = env.now
	cfg.Progress = func(done, total int, acc float64) {
		env.progress(Event{Benchmark: b.Name(), Phase: "measure", Done: done, Total: total, Rate: acc, Unit: b.Unit()})
	}
	if b.OnCase != nil {
		cfg.OnCase = func(r eval.Record) {
			r.Model = env.ModelName
			b.OnCase(r)
		}
	}
	env.progress(Event{Benchmark: b.Name(), Phase: "measure", Done: 0, Total: len(cases), Unit: b.Unit()})
	rep, err := eval.Evaluate(ctx, env.Model, cases, cfg)
	if err != nil {
		return result.Result{}, err
	}
	if rep.Answered == 0 {
		return result.Result{}, fmt.Errorf("%w: all %d cases errored; %s", eval.ErrNoAnswers, rep.Total, rep.FirstError)
	}
	lo, hi := rep.Interval(stats.Confidence)
	tags := map[string]any{}
	for _, t := range rep.TagNames() {
		tt := rep.Tags[t]
		tlo, thi := tt.Interval(stats.Confidence)
		tags[t] = map[string]any{
			"accuracy":  nanToNil(tt.Accuracy()),
			"correct":   tt.Correct,
			"n":         tt.Answered,
			"errors":    tt.Errors,
			"total":     tt.Total,
			"ci95_low":  nanToNil(tlo),
			"ci95_high": nanToNil(thi),
		}
	}
	scorers := map[string]any{}
	for s, n := range rep.Scorers {
		scorers[s] = n
	}
	maxTokens := cfg.MaxTokens
	if maxTokens <= 0 {
		maxTokens = eval.DefaultMaxTokens
	}
	prompt := "the question as it is (multiple choice: followed by \"A. ...\" lines and \"Answer:\")"
	if cfg.Template != nil {
		prompt = cfg.Template.String()
	}
	meta := map[string]any{
		"statistic":           "ratio correct among answered cases",
		"correct":             rep.Correct,
		"wrong":               rep.Wrong(),
		"errors":              rep.Errors,
		"n":                   rep.Answered,
		"total":               rep.Total,
		"test_cases":          rep.Total,
		"mean":                rep.Accuracy(),
		"accuracy_over_total": float64(rep.Correct) / float64(rep.Total),
		"ci95_low":            lo,
		"ci95_high":           hi,
		"ci_method":           "Wilson score interval",
		"scorers":             scorers,
		"tags":                tags,
		"dataset":             b.describeDataset(cases),
		"dataset_sha256":      eval.Fingerprint(cases),
		"max_tokens":          maxTokens,
		"stop":                nonNil(cfg.Stop),
		"temperature":         0,
		"seed":                cfg.Seed,
		"deterministic":       "greedy decoding (temperature 0)",
		"prompt_template":     prompt,
		"system_prompt":       cfg.System,
		"prompt_format":       "chat drivers get Messages and System; text drivers get Prompt",
		"mode":                rep.Mode,
		"concurrency":         rep.Concurrency,
		"samples":             rep.Outcomes(),
		"notes":               modelNotes(env.Model),
	}
	if rep.Errors > 0 {
		meta["first_error"] = rep.FirstError
	}
	limit := b.CasesInMetadata
	if limit <= 0 {
		limit = 100
	}
	if len(rep.Records) <= limit {
		meta["cases"] = rep.Records
	} else {
		meta["cases_omitted"] = fmt.Sprintf("%d cases: more than %d, so per-case records are kept only with --save-cases", len(rep.Records), limit)
	}
	for k, v := range b.Extra {
		meta[k] = v
	}
	return result.Result{Value: rep.Accuracy(), Metadata: meta}, nil
}

func (b *Accuracy) describeDataset(cases []eval.Case) string {
	if b.Dataset != "" {
		return b.Dataset
	}
	seen := map[string]bool{}
	var names []string
	for i := range cases {
		if d := cases[i].Dataset; d != "" && !seen[d] {
			seen[d] = true
			names = append(names, d)
		}
	}
	return strings.Join(names, ",")
}

func nanToNil(x float64) any {
	if x != x {
		return nil
	}
	return x
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
