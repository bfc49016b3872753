package bench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/model/fake"
)

func gpuEnv(t *testing.T) *Env {
	t.Helper()
	m := fake.New(fake.NewClock(), time.Second, time.Millisecond, 10*time.Millisecond)
	m.Hold, m.HoldTime = 4096, 300*time.Millisecond // real time, for the sampler
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &Env{Model: m, ModelName: "fake", Warmup: -1}
}

func TestGPUMemoryWithoutGPU(t *testing.T) {
	t.Setenv("PIOBENCH_NVIDIA_SMI", "")
	t.Setenv("PATH", t.TempDir())
	env := gpuEnv(t)
	r := Execute(context.Background(), NewGPUMemory(), env, 0)
	if !r.Failed() || r.Err() != "no GPU (nvidia-smi not found)" {
		t.Errorf("gpu_memory without a GPU: failed %v, error %q", r.Failed(), r.Err())
	}
	mu := NewMemoryUsage()
	mr := Execute(context.Background(), mu, env, 0)
	if mr.Failed() {
		t.Fatalf("memory_usage failed without a GPU: %s", mr.Err())
	}
	if mr.Metadata["gpu"] != "no GPU (nvidia-smi not found)" {
		t.Errorf("memory_usage says %q about the GPU", mr.Metadata["gpu"])
	}
	if _, ok := mr.Metadata["gpu_peak_mb"]; ok {
		t.Error("gpu_peak_mb without a GPU")
	}
}

func TestGPUMemoryWithStandInSMI(t *testing.T) {
	smi, err := filepath.Abs("../sysmon/testdata/fake-nvidia-smi")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh for the nvidia-smi stand-in")
	}
	t.Setenv("PIOBENCH_NVIDIA_SMI", smi)
	// The stand-in puts this process on GPU 0 with 100, 300, 500, then 200
	// MiB in successive readings; another process holds 7000 MiB.
	t.Setenv("FAKE_SMI_PID", strconv.Itoa(os.Getpid()))
	env := gpuEnv(t)
	r := Execute(context.Background(), NewGPUMemory(), env, 0)
	if r.Failed() {
		t.Fatal(r.Err())
	}
	if r.Value != 500 || r.Unit != "MB" || r.Category != "memory" {
		t.Errorf("gpu_memory = %v %s (%s), want 500 MB (memory)", r.Value, r.Unit, r.Category)
	}
	m := r.Metadata
	if m["gpu_device_used_mb"] != float64(500+7450+4) || m["gpu_device_total_mb"] != float64(2*81559) {
		t.Errorf("device used %v of %v MB", m["gpu_device_used_mb"], m["gpu_device_total_mb"])
	}
	if m["gpu_source"] != "nvidia-smi" || !strings.Contains(m["gpu_measured"].(string), "piobench process") {
		t.Errorf("source %v, measured %q", m["gpu_source"], m["gpu_measured"])
	}
	// The stand-in is a shell script, slower than nvidia-smi; the rate on
	// a real GPU is in docs/gpu.md.
	if n := m["gpu_samples"].(int); n < 4 {
		t.Errorf("%d GPU readings in about a second", n)
	}
	if m["batch_size"] != 0 || m["requests"] != 3 {
		t.Errorf("workload: %v requests, batch %v", m["requests"], m["batch_size"])
	}
	mr := Execute(context.Background(), NewMemoryUsage(), env, 0)
	if mr.Failed() {
		t.Fatal(mr.Err())
	}
	if p, ok := mr.Metadata["gpu_peak_mb"].(float64); !ok || p < 100 || p > 500 {
		t.Errorf("memory_usage gpu_peak_mb = %v, want 100..500", mr.Metadata["gpu_peak_mb"])
	}
	if mr.Metadata["gpu_device_used_mb"] == nil {
		t.Error("memory_usage lacks gpu_device_used_mb")
	}
}
