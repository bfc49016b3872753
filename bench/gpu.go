package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/sysmon"
)

// GPUMemory measures the peak GPU memory of the model's processes (the
// plugin's process tree for a subprocess model, piobench's own for an
// in-process one) while it answers a few long requests, and a batch when
// it batches. GPU memory, device memory and utilisation are sampled every
// Interval (20 Hz by default) through NVML or nvidia-smi. The value is the
// peak in MB (2^20 bytes). On a machine without a GPU it fails with one
// plain line ("no GPU (...)"); the suites include it only where a GPU is
// present.
type GPUMemory struct {
	Text      string // repeated to make the long input
	Repeat    int
	MaxTokens int
	BatchSize int // one batch of this size when the model batches (0: none)
	Interval  time.Duration
}

// NewGPUMemory returns the benchmark with memory_usage's long input.
func NewGPUMemory() *GPUMemory {
	return &GPUMemory{Text: "long input text", Repeat: 100, MaxTokens: 64, BatchSize: 16, Interval: 50 * time.Millisecond}
}

func (*GPUMemory) Name() string     { return "gpu_memory" }
func (*GPUMemory) Category() string { return result.CategoryMemory }
func (*GPUMemory) Unit() string     { return "MB" }

func (b *GPUMemory) Run(ctx context.Context, env *Env) (result.Result, error) {
	gpu, err := sysmon.FindGPU(ctx)
	if err != nil {
		return result.Result{}, err
	}
	pids, whose := gpuTree(env.Model)
	mu := &MemoryUsage{Text: b.Text, Repeat: b.Repeat, MaxTokens: b.MaxTokens}
	prompt, note := mu.input(env.Model)
	iters := env.iterations(3)
	s, err := gpu.Start(ctx, pids, b.Interval)
	if err != nil {
		return result.Result{}, err
	}
	defer s.Stop()
	outTokens := 0
	for i := 0; i < iters; i++ {
		env.progress(Event{Benchmark: b.Name(), Phase: "measure", Done: i, Total: iters})
		resp, err := env.Model.Infer(ctx, model.Request{Prompt: prompt, MaxTokens: b.MaxTokens})
		if err != nil {
			return result.Result{}, err
		}
		outTokens += resp.OutputTokens
	}
	batched := 0
	if bi, ok := env.Model.(model.BatchInferer); ok && b.BatchSize > 0 {
		if bc, ok := bi.(model.BatchChecker); !ok || bc.TrueBatching() {
			reqs := make([]model.Request, b.BatchSize)
			for i := range reqs {
				reqs[i] = model.Request{Prompt: fmt.Sprintf("%s %d", prompt, i), MaxTokens: b.MaxTokens}
			}
			if _, err := bi.InferBatch(ctx, reqs); err != nil {
				return result.Result{}, fmt.Errorf("batch of %d: %w", b.BatchSize, err)
			}
			batched = b.BatchSize
		}
	}
	env.progress(Event{Benchmark: b.Name(), Phase: "measure", Done: iters, Total: iters})
	rep := s.Stop()
	if rep.Err != nil {
		return result.Result{}, fmt.Errorf("GPU sampler: %w", rep.Err)
	}
	meta := gpuMetadata(rep, whose)
	value, _ := meta["gpu_peak_mb"].(float64)
	meta["statistic"] = "peak"
	meta["requests"] = iters
	meta["batch_size"] = batched
	meta["prompt_chars"] = len(prompt)
	meta["output_tokens"] = outTokens
	meta["mb"] = "2^20 bytes"
	meta["notes"] = modelNotes(env.Model)
	if note != "" {
		meta["input_note"] = note
	}
	if mr, ok := env.Model.(model.MemoryReporter); ok {
		if ms, err := mr.MemoryStats(ctx); err == nil {
			meta["model_reported"] = ms
		}
	}
	return result.Result{Value: value, Metadata: meta}, nil
}

// gpuTree returns the processes whose GPU memory is the model's, and
// whose they are in words.
func gpuTree(m model.Model) (func() []int, string) {
	if po, ok := m.(model.ProcessOwner); ok {
		pid := po.PID()
		return sysmon.TreePIDs(po.PID), fmt.Sprintf("GPU memory of the model's process tree (pid %d and its descendants)", pid)
	}
	self := os.Getpid()
	return sysmon.TreePIDs(func() int { return self }), "GPU memory of the piobench process and its children (model runs in-process)"
}

// gpuMetadata turns a GPU report into result metadata. gpu_peak_mb is the
// peak of the watched processes; where the driver withholds per-process
// figures, it is the rise in the devices' used memory instead, and
// gpu_measured says so.
func gpuMetadata(rep sysmon.GPUReport, whose string) map[string]any {
	const mib = 1 << 20
	var names []string
	for _, d := range rep.Devices {
		names = append(names, d.Name)
	}
	peak := float64(rep.TreePeak) / mib
	measured := whose
	switch {
	case rep.TreeUnknown && rep.TreePeak == 0:
		peak = (float64(rep.DevicePeak) - float64(rep.DeviceInitial)) / mib
		measured = "rise in the devices' used memory (the driver withholds per-process figures)"
	case !rep.TreeSeen:
		measured = whose + "; none of these processes held GPU memory"
	}
	series := make([]float64, len(rep.Points))
	times := make([]float64, len(rep.Points))
	for i, p := range rep.Points {
		series[i] = float64(p.TreeBytes) / mib
		times[i] = p.At.Seconds() * 1000
	}
	meta := map[string]any{
		"gpu_peak_mb":                peak,
		"gpu_initial_mb":             float64(rep.TreeInitial) / mib,
		"gpu_final_mb":               float64(rep.TreeFinal) / mib,
		"gpu_device_used_mb":         float64(rep.DevicePeak) / mib,
		"gpu_device_used_initial_mb": float64(rep.DeviceInitial) / mib,
		"gpu_device_total_mb":        float64(rep.DeviceTotal) / mib,
		"gpu_util_peak_pct":          rep.UtilPeak,
		"gpu_util_mean_pct":          rep.UtilMean,
		"gpu_samples":                rep.DeviceReadings,
		"gpu_process_samples":        rep.ProcReadings,
		"gpu_sample_rate_hz":         rep.SampleRate(),
		"gpu_sample_interval_ms":     float64(rep.Interval) / float64(time.Millisecond),
		"gpu_source":                 rep.Source,
		"gpu_streamed":               rep.Streamed,
		"gpu_names":                  strings.Join(names, "; "),
		"gpu_measured":               measured,
		"gpu_series_mb":              series,
		"gpu_series_times_ms":        times,
	}
	if rep.HelperCPU > 0 && rep.Elapsed > 0 {
		meta["gpu_sampler_cpu_seconds"] = rep.HelperCPU.Seconds()
		meta["gpu_sampler_cpu_pct"] = 100 * rep.HelperCPU.Seconds() / rep.Elapsed.Seconds()
	}
	return meta
}

// gpuWatch starts GPU sampling for memory_usage, or returns why not (one
// plain line, such as "no GPU (nvidia-smi not found)").
func gpuWatch(ctx context.Context, m model.Model, interval time.Duration) (*sysmon.GPUSampler, string, string) {
	gpu, err := sysmon.FindGPU(ctx)
	if err != nil {
		return nil, "", err.Error()
	}
	pids, whose := gpuTree(m)
	s, err := gpu.Start(ctx, pids, interval)
	if err != nil {
		return nil, "", err.Error()
	}
	return s, whose, ""
}
