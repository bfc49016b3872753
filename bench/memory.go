package bench

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/stats"
	"github.com/inference-pio/piobench/sysmon"
)

// MemoryUsage measures how much resident memory grows while the model
// answers one long input: a sampler reads RSS every SampleInterval during
// the call (and, for this process on Linux, the kernel's peak-RSS counter is
// reset before and read after), so short peaks are not missed. The value is
// peak minus initial, in MB (2^20 bytes).
type MemoryUsage struct {
	Text           string // repeated to make the long input
	Repeat         int    // how many times, at most
	MaxTokens      int
	SampleInterval time.Duration
}

// NewMemoryUsage returns the benchmark with the guide's input
// ("long input text" * 100).
func NewMemoryUsage() *MemoryUsage {
	return &MemoryUsage{Text: "long input text", Repeat: 100, MaxTokens: 16, SampleInterval: time.Millisecond}
}

func (*MemoryUsage) Name() string     { return "memory_usage" }
func (*MemoryUsage) Category() string { return result.CategoryMemory }
func (*MemoryUsage) Unit() string     { return "MB" }

const mb = 1 << 20

// input returns the long input, shortened to fit the model's context when
// the model says how long that is (a token is at least one byte, so the
// character count bounds the token count).
func (b *MemoryUsage) input(m model.Model) (string, string) {
	reps := b.Repeat
	note := ""
	if seq, ok := modelParam(m, "seq_len"); ok {
		room := seq - b.MaxTokens - 2
		if fit := room / len(b.Text); fit < reps {
			reps = max(fit, 1)
			note = fmt.Sprintf("input shortened from %d to %d repetitions to fit the model's %d-token context", b.Repeat, reps, seq)
		}
	}
	return strings.Repeat(b.Text, reps), note
}

func (b *MemoryUsage) Run(ctx context.Context, env *Env) (result.Result, error) {
	probe, self, owner := env.Memory, false, env.MemoryOwner
	if probe == nil {
		probe, self, owner = sysmon.SelfRSS, true, "piobench process (model runs in-process)"
	}
	prompt, note := b.input(env.Model)
	env.progress(Event{Benchmark: b.Name(), Phase: "measure", Done: 0, Total: 1})
	if self {
		runtime.GC()
	}
	gs, gpuWhose, noGPU := gpuWatch(ctx, env.Model, 50*time.Millisecond)
	s, err := sysmon.Start(probe, b.SampleInterval, self)
	if err != nil {
		if gs != nil {
			gs.Stop()
		}
		return result.Result{}, err
	}
	resp, err := env.Model.Infer(ctx, model.Request{Prompt: prompt, MaxTokens: b.MaxTokens})
	rep := s.Stop()
	var gpuRep sysmon.GPUReport
	if gs != nil {
		gpuRep = gs.Stop()
	}
	if err != nil {
		return result.Result{}, err
	}
	if rep.Err != nil {
		return result.Result{}, fmt.Errorf("memory sampler: %w", rep.Err)
	}
	env.progress(Event{Benchmark: b.Name(), Phase: "measure", Done: 1, Total: 1})
	series := make([]float64, len(rep.Points))
	times := make([]float64, len(rep.Points))
	for i, p := range rep.Points {
		series[i] = float64(p.Bytes) / mb
		times[i] = p.At.Seconds() * 1000
	}
	increase := (float64(rep.Peak) - float64(rep.Initial)) / mb
	meta := stats.Summarize([]float64{increase}).Metadata("peak - initial resident set size during one call")
	for k, v := range map[string]any{
		"samples":            []float64{increase},
		"initial_memory":     float64(rep.Initial) / mb,
		"peak_memory":        float64(rep.Peak) / mb,
		"final_memory":       float64(rep.Final) / mb,
		"sample_rate_hz":     rep.SampleRate(),
		"sample_interval_ms": float64(b.SampleInterval) / float64(time.Millisecond),
		"samples_taken":      rep.Count,
		"rss_mb":             series,
		"rss_times_ms":       times,
		"peak_includes_hwm":  rep.HWM,
		"measured":           owner,
		"prompt_chars":       len(prompt),
		"prompt_tokens":      resp.PromptTokens,
		"output_tokens":      resp.OutputTokens,
		"mb":                 "2^20 bytes",
		"notes":              modelNotes(env.Model),
	} {
		meta[k] = v
	}
	if note != "" {
		meta["input_note"] = note
	}
	switch {
	case gs == nil:
		meta["gpu"] = noGPU
	case gpuRep.Err != nil:
		meta["gpu"] = "GPU sampler: " + gpuRep.Err.Error()
	default:
		for k, v := range gpuMetadata(gpuRep, gpuWhose) {
			meta[k] = v
		}
	}
	if mr, ok := env.Model.(model.MemoryReporter); ok {
		if ms, err := mr.MemoryStats(ctx); err == nil {
			meta["model_reported"] = ms
		}
	}
	return result.Result{Value: increase, Metadata: meta}, nil
}
