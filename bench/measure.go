package bench

import (
	"context"
	"fmt"
	"math"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/stats"
)

// repeat runs fn warmup times unmeasured, then iters times, collecting the
// sample each measured call returns. It stops at the first error or when
// ctx is done.
func repeat(ctx context.Context, env *Env, b Benchmark, warmup, iters int, fn func(ctx context.Context) (float64, error)) ([]float64, error) {
	for i := 0; i < warmup; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		env.progress(Event{Benchmark: b.Name(), Phase: "warmup", Done: i, Total: warmup})
		if _, err := fn(ctx); err != nil {
			return nil, fmt.Errorf("warmup %d: %w", i+1, err)
		}
	}
	samples := make([]float64, 0, iters)
	for i := 0; i < iters; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rate := math.NaN()
		if len(samples) > 0 {
			rate = samples[len(samples)-1]
		}
		env.progress(Event{Benchmark: b.Name(), Phase: "measure", Done: i, Total: iters, Rate: rate, Unit: b.Unit()})
		v, err := fn(ctx)
		if err != nil {
			return nil, fmt.Errorf("iteration %d: %w", i+1, err)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("iteration %d: measurement is %v", i+1, v)
		}
		samples = append(samples, v)
	}
	env.progress(Event{Benchmark: b.Name(), Phase: "measure", Done: iters, Total: iters, Unit: b.Unit()})
	return samples, nil
}

// summarize builds a result whose value is the median of samples, with the
// summary, the samples themselves and extra in its metadata.
func summarize(b Benchmark, samples []float64, warmup int, extra map[string]any) result.Result {
	s := stats.Summarize(samples)
	meta := s.Metadata("median")
	meta["samples"] = samples
	meta["iterations"] = len(samples)
	meta["warmup_iterations"] = warmup
	for k, v := range extra {
		meta[k] = v
	}
	return result.Result{
		BenchmarkName: b.Name(),
		Value:         s.P50,
		Unit:          b.Unit(),
		Category:      b.Category(),
		Metadata:      meta,
	}
}

// median returns the median of xs, or nil when xs is empty, for metadata.
func median(xs []float64) any {
	if len(xs) == 0 {
		return nil
	}
	return stats.Summarize(xs).P50
}

// modelNotes returns the model's own remarks (such as "weights are
// untrained") for metadata, or nil.
func modelNotes(m model.Model) []string {
	if d, ok := m.(model.Describer); ok {
		return d.Info().Notes
	}
	return nil
}

// modelParam returns a numeric parameter the model describes, such as
// seq_len.
func modelParam(m model.Model, key string) (int, bool) {
	d, ok := m.(model.Describer)
	if !ok {
		return 0, false
	}
	switch v := d.Info().Params[key].(type) {
	case int:
		return v, true
	case int64:
		return int(v), true
	case float64:
		return int(v), true
	}
	return 0, false
}
