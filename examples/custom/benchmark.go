package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/stats"
)

// CategoryRobustness is this example's own category.
const CategoryRobustness = "robustness"

// Sensitivity measures how much a long prompt slows a model down: the
// ratio of end-to-end time with a long prompt to the time with a short one,
// at the same number of output tokens. 1 means prompt length costs
// nothing; 3 means the long prompt takes three times as long.
type Sensitivity struct {
	ShortWords int
	LongWords  int
	MaxTokens  int
}

// NewSensitivity returns the benchmark with its defaults.
func NewSensitivity() *Sensitivity { return &Sensitivity{ShortWords: 4, LongWords: 256, MaxTokens: 8} }

var _ bench.Configurable = (*Sensitivity)(nil)

func (*Sensitivity) Name() string     { return "prompt_length_sensitivity" }
func (*Sensitivity) Category() string { return CategoryRobustness }
func (*Sensitivity) Unit() string     { return "ratio" }

// Params makes the benchmark configurable from model folders.
func (*Sensitivity) Params() map[string]bench.ParamSpec {
	return map[string]bench.ParamSpec{
		"short_words": {Kind: bench.ParamInt, Doc: "words in the short prompt", Min: 1, HasMin: true},
		"long_words":  {Kind: bench.ParamInt, Doc: "words in the long prompt", Min: 1, HasMin: true},
		"max_tokens":  {Kind: bench.ParamInt, Doc: "tokens to generate", Min: 1, HasMin: true},
	}
}

// Set sets one parameter; values arrive with the Go type of their kind.
func (b *Sensitivity) Set(name string, v any) error {
	n, ok := v.(int)
	if !ok || n < 1 {
		return fmt.Errorf("want a positive integer, got %v", v)
	}
	switch name {
	case "short_words":
		b.ShortWords = n
	case "long_words":
		b.LongWords = n
	case "max_tokens":
		b.MaxTokens = n
	default:
		return fmt.Errorf("%w %q", bench.ErrUnknownParam, name)
	}
	return nil
}

func (b *Sensitivity) Run(ctx context.Context, env *bench.Env) (result.Result, error) {
	if b.LongWords <= b.ShortWords {
		return result.Result{}, fmt.Errorf("long_words (%d) must be more than short_words (%d)", b.LongWords, b.ShortWords)
	}
	clock := env.Clock
	if clock == nil {
		clock = bench.RealClock
	}
	iterations := env.Iterations
	if iterations <= 0 {
		iterations = 5
	}
	timeOf := func(words int) (float64, error) {
		req := model.Request{Prompt: strings.TrimSpace(strings.Repeat("word ", words)), MaxTokens: b.MaxTokens}
		start := clock.Now()
		if _, err := env.Model.Infer(ctx, req); err != nil {
			return 0, err
		}
		return clock.Now().Sub(start).Seconds(), nil
	}
	var ratios []float64
	for i := 0; i < iterations; i++ {
		if env.Progress != nil {
			env.Progress(bench.Event{Benchmark: b.Name(), Phase: "measure", Done: i, Total: iterations})
		}
		short, err := timeOf(b.ShortWords)
		if err != nil {
			return result.Result{}, fmt.Errorf("short prompt: %w", err)
		}
		long, err := timeOf(b.LongWords)
		if err != nil {
			return result.Result{}, fmt.Errorf("long prompt: %w", err)
		}
		if short <= 0 {
			return result.Result{}, fmt.Errorf("the short prompt took no measurable time")
		}
		ratios = append(ratios, long/short)
	}
	// Keep every sample and report the median with a summary, as the
	// built-in benchmarks do.
	s := stats.Summarize(ratios)
	meta := s.Metadata("median")
	meta["samples"] = ratios
	meta["short_words"] = b.ShortWords
	meta["long_words"] = b.LongWords
	meta["max_tokens"] = b.MaxTokens
	meta["definition"] = "end-to-end time with the long prompt / with the short prompt"
	return result.Result{Value: s.P50, Metadata: meta}, nil
}
