// Package runner runs suites of benchmarks over one or many models — the
// guide's run_standardized_benchmarks — loading each model once, giving
// every benchmark a timeout, and stopping cleanly on cancellation with the
// results that finished.
package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/sysmon"
)

// A Target is a model to benchmark.
type Target struct {
	// Name names the model in results.
	Name string
	// Open returns a fresh, unloaded instance of the model. It is called
	// once for the model under test and again by benchmarks that measure
	// loading.
	Open func(ctx context.Context) (model.Model, error)
	// Memory reads the memory of whatever runs the model; nil means this
	// process.
	Memory      sysmon.Probe
	MemoryOwner string
	// Benchmarks, when not nil, are run for this target instead of
	// Options.Benchmarks (a model folder declares its own).
	Benchmarks []bench.Factory
}

// benchmarks returns the factories to run for t.
func (t Target) benchmarks(opts Options) []bench.Factory {
	if t.Benchmarks != nil {
		return t.Benchmarks
	}
	return opts.Benchmarks
}

// Progress reports where a run is.
type Progress struct {
	Model     string
	Benchmark string
	Index     int // 0-based position of this benchmark in the whole run
	Total     int // benchmarks in the whole run
	Event     bench.Event
	Done      *result.Result // set when the benchmark has finished
}

// Options configure a run.
type Options struct {
	// Benchmarks are made afresh for each model.
	Benchmarks []bench.Factory
	// Iterations and Warmup override the benchmarks' defaults when
	// positive (Warmup: when >= 0).
	Iterations int
	Warmup     int
	// Timeout bounds each benchmark; zero means none.
	Timeout time.Duration
	// LoadTimeout bounds loading each model; zero means none.
	LoadTimeout time.Duration
	// Clock times benchmarks; nil is the real clock.
	Clock bench.Clock
	// Progress, when set, is called as the run goes.
	Progress func(Progress)
	// OnResult, when set, is called with each result as soon as it exists.
	OnResult func(result.Result)
	// Skip, when set, names benchmarks that already finished (in an earlier,
	// interrupted run); they are not run again.
	Skip func(model, benchmark string) bool
}

// Run benchmarks every target with every benchmark, in order. It returns
// the results that finished; when ctx is cancelled it stops, drops the
// benchmark in progress and returns the finished results together with
// ctx's error. A model that fails to load gets a failed result for each
// of its benchmarks.
func Run(ctx context.Context, targets []Target, opts Options) ([]result.Result, error) {
	var results []result.Result
	total := 0
	for _, t := range targets {
		total += len(t.benchmarks(opts))
	}
	index := 0
	emit := func(r result.Result) {
		results = append(results, r)
		if opts.OnResult != nil {
			opts.OnResult(r)
		}
	}
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		var todo []bench.Benchmark
		for _, f := range t.benchmarks(opts) {
			b := f()
			if opts.Skip != nil && opts.Skip(t.Name, b.Name()) {
				index++
				continue
			}
			todo = append(todo, b)
		}
		if len(todo) == 0 {
			continue
		}
		m, loadErr := load(ctx, t, opts.LoadTimeout)
		if loadErr != nil && ctx.Err() != nil {
			return results, ctx.Err()
		}
		env := &bench.Env{
			Model:       m,
			ModelName:   t.Name,
			Open:        t.Open,
			Iterations:  opts.Iterations,
			Warmup:      opts.Warmup,
			Clock:       opts.Clock,
			Memory:      t.Memory,
			MemoryOwner: t.MemoryOwner,
		}
		for _, b := range todo {
			if a, ok := b.(bench.Applicable); ok && loadErr == nil && !a.AppliesTo(m) {
				index++
				continue // not for this model, such as scalability on a model that cannot serve concurrently
			}
			i := index
			index++
			if loadErr != nil {
				emit(result.Fail(t.Name, b.Name(), b.Unit(), b.Category(), fmt.Errorf("model did not load: %w", loadErr), nil))
				continue
			}
			if opts.Progress != nil {
				env.Progress = func(ev bench.Event) {
					opts.Progress(Progress{Model: t.Name, Benchmark: b.Name(), Index: i, Total: total, Event: ev})
				}
			}
			r := bench.Execute(ctx, b, env, opts.Timeout)
			if ctx.Err() != nil {
				// Interrupted: what was in progress did not finish.
				m.Close()
				return results, ctx.Err()
			}
			emit(r)
			if opts.Progress != nil {
				opts.Progress(Progress{Model: t.Name, Benchmark: b.Name(), Index: i, Total: total, Done: &r})
			}
		}
		if m != nil {
			m.Close()
		}
	}
	return results, nil
}

func load(ctx context.Context, t Target, timeout time.Duration) (model.Model, error) {
	if t.Open == nil {
		return nil, errors.New("no way to open the model")
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	m, err := t.Open(ctx)
	if err != nil {
		return nil, err
	}
	if err := m.Load(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}
