package sysmon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Output captured from nvidia-smi on an H100 machine (numbers as printed,
// MiB), with a second process and an [N/A] amount added.
const cannedGPUs = `2026/11/27 10:00:00.123, 0, GPU-5e7a0c2e-7b3c-4a8f-9a51-0d1e2f3a4b5c, 4521, 81559, 37, NVIDIA H100 80GB HBM3
2026/11/27 10:00:00.123, 1, GPU-11111111-2222-3333-4444-555555555555, 0, 81559, [Not Supported], NVIDIA H100 80GB HBM3, rev 2
`

const cannedApps = `2026/11/27 10:00:00.125, GPU-5e7a0c2e-7b3c-4a8f-9a51-0d1e2f3a4b5c, 4242, 3990
2026/11/27 10:00:00.125, GPU-5e7a0c2e-7b3c-4a8f-9a51-0d1e2f3a4b5c, 4243, [N/A]
`

func TestParseSMIGPUs(t *testing.T) {
	devs, err := ParseSMIGPUs(cannedGPUs)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 2 {
		t.Fatalf("%d devices, want 2", len(devs))
	}
	d := devs[0]
	if d.Index != 0 || d.UsedBytes != 4521<<20 || d.TotalBytes != 81559<<20 || d.UtilPct != 37 || d.Name != "NVIDIA H100 80GB HBM3" || !strings.HasPrefix(d.UUID, "GPU-5e7a") {
		t.Errorf("device 0 = %+v", d)
	}
	if devs[1].UtilPct != -1 {
		t.Errorf("[Not Supported] utilisation = %v, want -1", devs[1].UtilPct)
	}
	if devs[1].Name != "NVIDIA H100 80GB HBM3, rev 2" {
		t.Errorf("a name with a comma: %q", devs[1].Name)
	}
}

func TestParseSMIApps(t *testing.T) {
	procs, err := ParseSMIApps(cannedApps)
	if err != nil {
		t.Fatal(err)
	}
	want := []GPUProcess{
		{PID: 4242, GPU: "GPU-5e7a0c2e-7b3c-4a8f-9a51-0d1e2f3a4b5c", UsedBytes: 3990 << 20, Known: true},
		{PID: 4243, GPU: "GPU-5e7a0c2e-7b3c-4a8f-9a51-0d1e2f3a4b5c", UsedBytes: 0, Known: false},
	}
	if len(procs) != len(want) {
		t.Fatalf("got %+v", procs)
	}
	for i := range want {
		if procs[i] != want[i] {
			t.Errorf("process %d = %+v, want %+v", i, procs[i], want[i])
		}
	}
	none, err := ParseSMIApps("No running processes found\n")
	if err != nil || len(none) != 0 {
		t.Errorf("no processes: %v, %v", none, err)
	}
	empty, err := ParseSMIApps("")
	if err != nil || len(empty) != 0 {
		t.Errorf("empty output: %v, %v", empty, err)
	}
}

func TestParseSMIBad(t *testing.T) {
	for _, in := range []string{
		"garbage\n",
		"ts, x, GPU-a, 1, 2, 3, name\n",
		"ts, 0, GPU-a, lots, 2, 3, name\n",
		"ts, 0, GPU-a, -5, 2, 3, name\n",
	} {
		if _, err := ParseSMIGPUs(in); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ParseSMIGPUs(%q) = %v, want an error naming line 1", in, err)
		}
	}
	for _, in := range []string{"ts, GPU-a, pid, 5\n", "ts, GPU-a, 5\n", "ts, GPU-a, 5, many\n"} {
		if _, err := ParseSMIApps(in); err == nil {
			t.Errorf("ParseSMIApps(%q) succeeded", in)
		}
	}
}

func FuzzParseSMI(f *testing.F) {
	f.Add(cannedGPUs)
	f.Add(cannedApps)
	f.Add("No running processes found")
	f.Fuzz(func(t *testing.T, s string) {
		devs, err := ParseSMIGPUs(s)
		if err == nil {
			for _, d := range devs {
				if d.UtilPct != -1 && (d.UtilPct < 0 || d.UtilPct > 100) {
					t.Fatalf("utilisation %v", d.UtilPct)
				}
				if d.UsedBytes > 1<<60 || d.TotalBytes > 1<<60 {
					t.Fatalf("memory %d / %d bytes", d.UsedBytes, d.TotalBytes)
				}
			}
		}
		procs, err := ParseSMIApps(s)
		if err == nil {
			for _, p := range procs {
				if p.UsedBytes > 1<<60 || (!p.Known && p.UsedBytes != 0) {
					t.Fatalf("process %+v", p)
				}
			}
		}
	})
}

func fakeSMI(t *testing.T) {
	t.Helper()
	p, err := filepath.Abs("testdata/fake-nvidia-smi")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh for the nvidia-smi stand-in")
	}
	t.Setenv("PIOBENCH_NVIDIA_SMI", p)
}

func TestNoGPUIsOnePlainLine(t *testing.T) {
	t.Setenv("PIOBENCH_NVIDIA_SMI", "")
	t.Setenv("PATH", t.TempDir())
	_, err := FindGPU(context.Background())
	if !errors.Is(err, ErrNoGPU) {
		t.Fatalf("FindGPU without nvidia-smi: %v, want ErrNoGPU", err)
	}
	if got := err.Error(); got != "no GPU (nvidia-smi not found)" {
		t.Errorf("message %q", got)
	}
	if GPUPresent() {
		t.Error("GPUPresent without nvidia-smi")
	}
}

func TestBrokenDriverIsNoGPU(t *testing.T) {
	fakeSMI(t)
	t.Setenv("FAKE_SMI_FAIL", "1")
	_, err := FindGPU(context.Background())
	if !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), "couldn't communicate") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("FindGPU with a failing nvidia-smi: %v", err)
	}
}

func TestGPUSamplerFollowsTree(t *testing.T) {
	fakeSMI(t)
	me := os.Getpid()
	t.Setenv("FAKE_SMI_PID", itoa(me))
	g, err := FindGPU(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if g.Source() != "nvidia-smi" {
		t.Errorf("source %q", g.Source())
	}
	s, err := g.Start(context.Background(), func() []int { return []int{me} }, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		n := s.rep.ProcReadings
		s.mu.Unlock()
		if n >= 6 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	rep := s.Stop()
	rep2 := s.Stop()
	if rep2.DeviceReadings != rep.DeviceReadings {
		t.Error("second Stop changed the report")
	}
	if rep.Err != nil {
		t.Fatal(rep.Err)
	}
	if !rep.Streamed {
		t.Error("did not stream")
	}
	const mib = 1 << 20
	if rep.TreeInitial != 100*mib || rep.TreePeak != 500*mib || rep.TreeFinal != 100*mib {
		t.Errorf("tree initial/peak/final = %d/%d/%d MiB, want 100/500/100 (the other process's 7000 MiB left out)",
			rep.TreeInitial/mib, rep.TreePeak/mib, rep.TreeFinal/mib)
	}
	if !rep.TreeSeen || rep.TreeUnknown {
		t.Errorf("seen %v unknown %v", rep.TreeSeen, rep.TreeUnknown)
	}
	if want := uint64(500+7450+4) * mib; rep.DevicePeak != want {
		t.Errorf("device peak %d MiB, want %d", rep.DevicePeak/mib, want/mib)
	}
	if rep.DeviceTotal != 2*81559*mib {
		t.Errorf("device total %d MiB", rep.DeviceTotal/mib)
	}
	if rep.UtilPeak < 20 {
		t.Errorf("util peak %v", rep.UtilPeak)
	}
	if len(rep.Devices) != 2 || rep.Devices[0].Name != "NVIDIA H100 80GB HBM3" {
		t.Errorf("devices %+v", rep.Devices)
	}
	if rep.DeviceReadings < 4 || len(rep.Points) < 4 {
		t.Errorf("%d device readings, %d points", rep.DeviceReadings, len(rep.Points))
	}
}

func TestGPUSamplerNotInTree(t *testing.T) {
	fakeSMI(t)
	t.Setenv("FAKE_SMI_PID", "")
	g, err := FindGPU(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s, err := g.Start(context.Background(), func() []int { return []int{os.Getpid()} }, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	rep := s.Stop()
	if rep.TreeSeen || rep.TreePeak != 0 {
		t.Errorf("a tree with no GPU process: seen %v, peak %d", rep.TreeSeen, rep.TreePeak)
	}
	if rep.DevicePeak == 0 {
		t.Error("device memory not read")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
