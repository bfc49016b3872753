package sysmon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The nvidia-smi queries. Each line of output is self-contained, and the
// timestamp groups the lines of one reading when nvidia-smi loops. The name
// comes last because it is free text.
const (
	smiGPUFields  = "timestamp,index,uuid,memory.used,memory.total,utilization.gpu,name"
	smiAppsFields = "timestamp,gpu_uuid,pid,used_memory"
)

// smiBackend reads GPUs through the nvidia-smi command, which works in a
// static binary without cgo. It streams by running nvidia-smi in its loop
// mode (-lms), so a reading costs nvidia-smi's own NVML calls rather than a
// process start.
type smiBackend struct {
	path string
}

func (*smiBackend) name() string { return "nvidia-smi" }

func (b *smiBackend) query(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.path, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(string(out))
		}
		if msg != "" {
			return "", fmt.Errorf("%w: %s", err, firstLine(msg))
		}
		return "", err
	}
	return string(out), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func (b *smiBackend) read(ctx context.Context) ([]GPUDevice, []GPUProcess, error) {
	var (
		wg      sync.WaitGroup
		appsOut string
		appsErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		appsOut, appsErr = b.query(ctx, "--query-compute-apps="+smiAppsFields, "--format=csv,noheader,nounits")
	}()
	gpuOut, err := b.query(ctx, "--query-gpu="+smiGPUFields, "--format=csv,noheader,nounits")
	wg.Wait()
	if err != nil {
		return nil, nil, err
	}
	devs, err := ParseSMIGPUs(gpuOut)
	if err != nil {
		return nil, nil, err
	}
	var procs []GPUProcess
	if appsErr == nil {
		if procs, err = ParseSMIApps(appsOut); err != nil {
			return nil, nil, err
		}
	}
	return devs, procs, nil
}

// ParseSMIGPUs parses the output of
// nvidia-smi --query-gpu=timestamp,index,uuid,memory.used,memory.total,utilization.gpu,name --format=csv,noheader,nounits
// (memory in MiB). Blank lines are skipped; a line that does not parse is
// an error naming it.
func ParseSMIGPUs(out string) ([]GPUDevice, error) {
	var devs []GPUDevice
	for i, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		_, d, err := parseSMIGPULine(line)
		if err != nil {
			return nil, fmt.Errorf("nvidia-smi output line %d: %w", i+1, err)
		}
		devs = append(devs, d)
	}
	return devs, nil
}

func parseSMIGPULine(line string) (string, GPUDevice, error) {
	f := strings.SplitN(line, ",", 7)
	if len(f) < 7 {
		return "", GPUDevice{}, fmt.Errorf("want 7 comma-separated fields, got %d: %q", len(f), line)
	}
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	idx, err := strconv.Atoi(f[1])
	if err != nil {
		return "", GPUDevice{}, fmt.Errorf("index %q: not a number", f[1])
	}
	used, ok, err := smiMiB(f[3])
	if err != nil || !ok {
		return "", GPUDevice{}, fmt.Errorf("memory.used %q: not a number of MiB", f[3])
	}
	total, _, err := smiMiB(f[4])
	if err != nil {
		return "", GPUDevice{}, fmt.Errorf("memory.total %q: not a number of MiB", f[4])
	}
	util := -1.0
	if v, ok := smiNumber(f[5]); ok {
		util = v
	}
	return f[0], GPUDevice{Index: idx, UUID: f[2], Name: f[6], UsedBytes: used, TotalBytes: total, UtilPct: util}, nil
}

// ParseSMIApps parses the output of
// nvidia-smi --query-compute-apps=timestamp,gpu_uuid,pid,used_memory --format=csv,noheader,nounits.
// A memory figure of [N/A] gives a process with Known false. The line
// "No running processes found" means none.
func ParseSMIApps(out string) ([]GPUProcess, error) {
	procs := []GPUProcess{}
	for i, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" || isNoProcesses(line) {
			continue
		}
		_, p, err := parseSMIAppLine(line)
		if err != nil {
			return nil, fmt.Errorf("nvidia-smi output line %d: %w", i+1, err)
		}
		procs = append(procs, p)
	}
	return procs, nil
}

func isNoProcesses(line string) bool {
	return strings.Contains(strings.ToLower(line), "no running")
}

func parseSMIAppLine(line string) (string, GPUProcess, error) {
	f := strings.Split(line, ",")
	if len(f) != 4 {
		return "", GPUProcess{}, fmt.Errorf("want 4 comma-separated fields, got %d: %q", len(f), line)
	}
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	pid, err := strconv.Atoi(f[2])
	if err != nil {
		return "", GPUProcess{}, fmt.Errorf("pid %q: not a number", f[2])
	}
	used, known, err := smiMiB(f[3])
	if err != nil {
		return "", GPUProcess{}, fmt.Errorf("used_memory %q: not a number of MiB", f[3])
	}
	return f[0], GPUProcess{PID: pid, GPU: f[1], UsedBytes: used, Known: known}, nil
}

// smiMiB reads a MiB figure; [N/A] and [Not Supported] are unknown (ok
// false), anything else that is not a number is an error.
func smiMiB(s string) (uint64, bool, error) {
	if strings.HasPrefix(s, "[") || s == "N/A" {
		return 0, false, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0) || math.IsInf(v, 0) || v > 1<<40 {
		return 0, false, errors.New("bad number")
	}
	return uint64(v * (1 << 20)), true, nil
}

// smiNumber reads a percentage; anything else (such as [N/A]) is unknown.
func smiNumber(s string) (float64, bool) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), " %"), 64)
	return v, err == nil && v >= 0 && v <= 100
}

// stream runs nvidia-smi twice in loop mode, once for the devices and once
// for the compute processes, and turns their lines into readings.
func (b *smiBackend) stream(ctx context.Context, interval time.Duration, dev func([]GPUDevice), proc func([]GPUProcess)) (time.Duration, error) {
	ms := strconv.Itoa(max(int(interval/time.Millisecond), 1))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gpuCmd := exec.CommandContext(ctx, b.path, "--query-gpu="+smiGPUFields, "--format=csv,noheader,nounits", "-lms", ms)
	appsCmd := exec.CommandContext(ctx, b.path, "--query-compute-apps="+smiAppsFields, "--format=csv,noheader,nounits", "-lms", ms)
	gpuOut, err := gpuCmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	appsOut, err := appsCmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := gpuCmd.Start(); err != nil {
		return 0, err
	}
	if err := appsCmd.Start(); err != nil {
		cancel()
		gpuCmd.Wait()
		return 0, err
	}
	type line struct {
		apps bool
		text string
	}
	lines := make(chan line, 64)
	var readers sync.WaitGroup
	read := func(r io.Reader, apps bool) {
		defer readers.Done()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case lines <- line{apps, sc.Text()}:
			case <-ctx.Done():
				return
			}
		}
	}
	readers.Add(2)
	go read(gpuOut, false)
	go read(appsOut, true)
	// Either reader ending before ctx is done means that nvidia-smi quit.
	ended := make(chan struct{})
	go func() { readers.Wait(); close(ended) }()

	var (
		devTS, appTS string
		devGroup     []GPUDevice
		appGroup     []GPUProcess
		appPending   bool
		badErr       error
	)
	flushDev := func() {
		if len(devGroup) > 0 {
			dev(devGroup)
			devGroup = nil
		}
	}
	flushApps := func() {
		if appPending {
			proc(appGroup)
			appGroup, appPending = nil, false
		}
	}
	idle := time.NewTimer(interval)
	defer idle.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-ended:
			if ctx.Err() == nil {
				badErr = errors.New("nvidia-smi stopped looping")
			}
			break loop
		case <-idle.C:
			// A reading's lines come together; a pause ends it.
			flushApps()
			flushDev()
			idle.Reset(interval)
		case l := <-lines:
			if strings.TrimSpace(l.text) == "" {
				continue
			}
			if l.apps {
				if isNoProcesses(l.text) {
					continue
				}
				ts, p, err := parseSMIAppLine(l.text)
				if err != nil {
					badErr = fmt.Errorf("nvidia-smi: %w", err)
					break loop
				}
				if ts != appTS {
					flushApps()
					appTS = ts
				}
				appGroup = append(appGroup, p)
				appPending = true
			} else {
				ts, d, err := parseSMIGPULine(l.text)
				if err != nil {
					badErr = fmt.Errorf("nvidia-smi: %w", err)
					break loop
				}
				if ts != devTS {
					flushDev()
					devTS = ts
				}
				devGroup = append(devGroup, d)
			}
			if !idle.Stop() {
				select {
				case <-idle.C:
				default:
				}
			}
			idle.Reset(interval / 4)
		}
	}
	cancel()
	gpuCmd.Wait()
	appsCmd.Wait()
	readers.Wait()
	if badErr == nil {
		flushApps()
		flushDev()
	}
	var cpu time.Duration
	for _, c := range []*exec.Cmd{gpuCmd, appsCmd} {
		if c.ProcessState != nil {
			cpu += c.ProcessState.UserTime() + c.ProcessState.SystemTime()
		}
	}
	return cpu, badErr
}
