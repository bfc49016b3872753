package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/stats"
	"github.com/inference-pio/piobench/sysmon"
)

// Comprehensive sends a run of distinct requests one after another and
// reports requests per second over the whole run, the memory the run used
// (peak resident set size during the run minus before it) and the time per
// request. The samples are per-request rates (1/latency); the latencies are
// kept too. The number of
// requests is the environment's iterations (default InputSize).
type Comprehensive struct {
	InputSize int
	MaxTokens int
}

// NewComprehensive returns the benchmark.
func NewComprehensive() *Comprehensive { return &Comprehensive{InputSize: 20, MaxTokens: 16} }

func (*Comprehensive) Name() string     { return "comprehensive_benchmark" }
func (*Comprehensive) Category() string { return result.CategoryPerformance }
func (*Comprehensive) Unit() string     { return "requests/sec" }

func (b *Comprehensive) Run(ctx context.Context, env *Env) (result.Result, error) {
	n := env.iterations(b.InputSize)
	warmup := env.warmup(2)
	for i := 0; i < warmup; i++ {
		env.progress(Event{Benchmark: b.Name(), Phase: "warmup", Done: i, Total: warmup})
		if _, err := env.Model.Infer(ctx, model.Request{Prompt: "warmup", MaxTokens: b.MaxTokens}); err != nil {
			return result.Result{}, fmt.Errorf("warmup %d: %w", i+1, err)
		}
	}
	probe, self := env.Memory, false
	if probe == nil {
		probe, self = sysmon.SelfRSS, true
		runtime.GC()
	}
	sampler, err := sysmon.Start(probe, 5*time.Millisecond, self)
	if err != nil {
		return result.Result{}, err
	}
	defer sampler.Stop()
	latencies := make([]float64, 0, n)
	tokens := 0
	start := env.now()
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return result.Result{}, err
		}
		env.progress(Event{Benchmark: b.Name(), Phase: "measure", Done: i, Total: n})
		t := env.now()
		resp, err := env.Model.Infer(ctx, model.Request{Prompt: fmt.Sprintf("test input %d", i), MaxTokens: b.MaxTokens})
		if err != nil {
			return result.Result{}, fmt.Errorf("request %d: %w", i+1, err)
		}
		latencies = append(latencies, env.since(t).Seconds())
		tokens += resp.OutputTokens
	}
	total := env.since(start).Seconds()
	rep := sampler.Stop()
	env.progress(Event{Benchmark: b.Name(), Phase: "measure", Done: n, Total: n})
	if total <= 0 {
		return result.Result{}, fmt.Errorf("run took no measurable time")
	}
	rps := float64(n) / total
	rates := make([]float64, len(latencies))
	for i, l := range latencies {
		rates[i] = 1 / l
	}
	// The headline is requests over the whole run's time; the summary is of
	// per-request rates (1/latency), in the same unit.
	meta := stats.Summarize(rates).Metadata("requests / total seconds (summary: per-request 1/latency)")
	meta["samples"] = rates
	lat := stats.Summarize(latencies)
	meta["latency_seconds"] = latencies
	meta["latency_p50"] = lat.P50
	meta["latency_p90"] = lat.P90
	meta["latency_p99"] = lat.P99
	meta["requests_per_second"] = rps
	meta["memory_used_mb"] = (float64(rep.Peak) - float64(rep.Initial)) / mb
	meta["total_time"] = total
	meta["input_count"] = n
	meta["avg_time_per_request"] = total / float64(n)
	meta["output_tokens_total"] = tokens
	meta["max_tokens"] = b.MaxTokens
	meta["warmup_iterations"] = warmup
	return result.Result{Value: rps, Metadata: meta}, nil
}
