package sysmon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// ErrNoGPU is wrapped by FindGPU's error when the machine has no GPU that
// piobench can read; the error's text says why in one plain line.
var ErrNoGPU = errors.New("no GPU")

// A GPUDevice is one GPU as read at one moment. UtilPct is -1 when the
// device does not say.
type GPUDevice struct {
	Index      int     `json:"index"`
	UUID       string  `json:"uuid,omitempty"`
	Name       string  `json:"name,omitempty"`
	UsedBytes  uint64  `json:"used_bytes"`
	TotalBytes uint64  `json:"total_bytes"`
	UtilPct    float64 `json:"util_pct"`
}

// A GPUProcess is one process's memory on one GPU. Known is false when the
// driver would not tell the amount (nvidia-smi prints [N/A] for processes
// of another container, for example).
type GPUProcess struct {
	PID       int    `json:"pid"`
	GPU       string `json:"gpu,omitempty"` // the device's UUID
	UsedBytes uint64 `json:"used_bytes"`
	Known     bool   `json:"known"`
}

// A gpuBackend reads GPUs one way (NVML, or nvidia-smi).
type gpuBackend interface {
	name() string
	// read takes one reading of devices and compute processes.
	read(ctx context.Context) ([]GPUDevice, []GPUProcess, error)
	// stream reads every interval until ctx is done, calling dev and proc
	// with each reading, from one goroutine at a time. It returns the CPU
	// time spent by helper processes, when there are any. An error before
	// the first reading means streaming is not possible.
	stream(ctx context.Context, interval time.Duration, dev func([]GPUDevice), proc func([]GPUProcess)) (time.Duration, error)
}

// A GPU reads the GPUs of this machine.
type GPU struct {
	b gpuBackend
}

// Source names how the GPU is read: "nvml" or "nvidia-smi".
func (g *GPU) Source() string { return g.b.name() }

// Read takes one reading of every device and of the processes using them.
func (g *GPU) Read(ctx context.Context) ([]GPUDevice, []GPUProcess, error) {
	return g.b.read(ctx)
}

// nvidiaSMIPath is where FindGPU looks for nvidia-smi: $PIOBENCH_NVIDIA_SMI
// when set (tests point it at a stand-in), else the PATH.
func nvidiaSMIPath() (string, error) {
	if p := os.Getenv("PIOBENCH_NVIDIA_SMI"); p != "" {
		return p, nil
	}
	return exec.LookPath("nvidia-smi")
}

// GPUPresent is a cheap guess (no subprocess) whether FindGPU will find a
// GPU: nvidia-smi is on the PATH (or $PIOBENCH_NVIDIA_SMI is set) and the
// kernel has an NVIDIA device node. Suites use it to decide whether to
// include GPU benchmarks.
func GPUPresent() bool {
	if os.Getenv("PIOBENCH_NVIDIA_SMI") != "" {
		return true
	}
	if _, err := exec.LookPath("nvidia-smi"); err != nil {
		return false
	}
	m, _ := filepath.Glob("/dev/nvidia[0-9]*")
	return len(m) > 0
}

// FindGPU returns a reader of this machine's GPUs: NVML when piobench was
// built with the nvml tag (and cgo) and the library loads, else nvidia-smi.
// Without a GPU the error wraps ErrNoGPU and reads as one plain line, such
// as "no GPU (nvidia-smi not found)".
func FindGPU(ctx context.Context) (*GPU, error) {
	var nvmlErr error
	if b, err := openNVML(); err == nil {
		return &GPU{b: b}, nil
	} else {
		nvmlErr = err
	}
	path, err := nvidiaSMIPath()
	if err != nil {
		if nvmlErr != nil && !errors.Is(nvmlErr, errNVMLNotBuilt) {
			return nil, fmt.Errorf("%w (NVML: %v; nvidia-smi not found)", ErrNoGPU, nvmlErr)
		}
		return nil, fmt.Errorf("%w (nvidia-smi not found)", ErrNoGPU)
	}
	b := &smiBackend{path: path}
	devs, _, err := b.read(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w (nvidia-smi failed: %v)", ErrNoGPU, err)
	}
	if len(devs) == 0 {
		return nil, fmt.Errorf("%w (nvidia-smi lists none)", ErrNoGPU)
	}
	return &GPU{b: b}, nil
}

// A GPUPoint is one reading in a GPUReport's series.
type GPUPoint struct {
	At         time.Duration `json:"t_ns"`
	TreeBytes  uint64        `json:"tree_bytes"`
	DeviceUsed uint64        `json:"device_used_bytes"`
}

// A GPUReport is what a GPUSampler saw.
type GPUReport struct {
	Source  string      // "nvml" or "nvidia-smi"
	Devices []GPUDevice // the last reading of every device

	// Memory of the watched processes (a process tree) on all GPUs.
	TreeInitial, TreePeak, TreeFinal uint64
	// TreeSeen says some watched process appeared in a reading of GPU
	// processes; TreeUnknown that one did but its amount was withheld.
	TreeSeen, TreeUnknown bool
	// Used memory of all devices together, whoever uses it.
	DeviceInitial, DevicePeak, DeviceFinal uint64
	DeviceTotal                            uint64
	// Utilisation across devices (the busiest device at each reading).
	UtilPeak, UtilMean float64

	DeviceReadings int // readings of the devices
	ProcReadings   int // readings of GPU processes
	Interval       time.Duration
	Elapsed        time.Duration
	// HelperCPU is the CPU time that helper processes (nvidia-smi) used
	// while sampling; zero for NVML, which samples in this process.
	HelperCPU time.Duration
	// Streamed is false when the backend could not stream and each reading
	// was a separate query.
	Streamed bool
	Points   []GPUPoint
	Err      error
}

// SampleRate returns the achieved device readings per second.
func (r GPUReport) SampleRate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.DeviceReadings) / r.Elapsed.Seconds()
}

// A GPUSampler reads GPU memory and utilisation on an interval, in the
// background, until Stop.
type GPUSampler struct {
	g        *GPU
	pids     func() []int
	start    time.Time
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex
	rep      GPUReport
	utilSum  float64
	utilN    int
	lastTree uint64
	lastDev  uint64
}

// Start takes a first reading and starts sampling every interval (10 Hz
// when interval is zero). pids returns the processes whose GPU memory is
// the tree's (typically Tree of a model's process); it is called at each
// reading of GPU processes, so it can follow a tree that changes.
func (g *GPU) Start(ctx context.Context, pids func() []int, interval time.Duration) (*GPUSampler, error) {
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	s := &GPUSampler{g: g, pids: pids, done: make(chan struct{})}
	s.rep = GPUReport{Source: g.b.name(), Interval: interval, Streamed: true}
	devs, procs, err := g.b.read(ctx)
	if err != nil {
		return nil, fmt.Errorf("sysmon: first GPU reading: %w", err)
	}
	s.start = time.Now()
	s.onDevices(devs)
	s.onProcs(procs)
	s.rep.TreeInitial, s.rep.DeviceInitial = s.lastTree, s.lastDev
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	go func() {
		defer close(s.done)
		cpu, err := g.b.stream(sctx, interval, s.onDevices, s.onProcs)
		if err != nil && sctx.Err() == nil {
			// The backend cannot stream: poll it instead.
			s.mu.Lock()
			s.rep.Streamed = false
			s.mu.Unlock()
			s.poll(sctx, interval)
			return
		}
		s.mu.Lock()
		s.rep.HelperCPU = cpu
		s.mu.Unlock()
	}()
	return s, nil
}

func (s *GPUSampler) poll(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			devs, procs, err := s.g.b.read(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.mu.Lock()
					if s.rep.Err == nil {
						s.rep.Err = err
					}
					s.mu.Unlock()
				}
				continue
			}
			s.onDevices(devs)
			s.onProcs(procs)
		}
	}
}

func (s *GPUSampler) onDevices(devs []GPUDevice) {
	at := time.Since(s.start)
	var used, total uint64
	util := -1.0
	for _, d := range devs {
		used += d.UsedBytes
		total += d.TotalBytes
		util = max(util, d.UtilPct)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rep.Devices = append(s.rep.Devices[:0], devs...)
	s.rep.DeviceReadings++
	s.rep.DeviceFinal, s.rep.DeviceTotal = used, total
	s.rep.DevicePeak = max(s.rep.DevicePeak, used)
	s.lastDev = used
	if util >= 0 {
		s.rep.UtilPeak = max(s.rep.UtilPeak, util)
		s.utilSum += util
		s.utilN++
	}
	s.addPoint(at)
}

func (s *GPUSampler) onProcs(procs []GPUProcess) {
	at := time.Since(s.start)
	var pids []int
	if s.pids != nil {
		pids = s.pids()
	}
	in := make(map[int]bool, len(pids))
	for _, p := range pids {
		in[p] = true
	}
	var tree uint64
	seen, unknown := false, false
	for _, p := range procs {
		if !in[p.PID] {
			continue
		}
		seen = true
		if !p.Known {
			unknown = true
			continue
		}
		tree += p.UsedBytes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rep.ProcReadings++
	s.rep.TreeSeen = s.rep.TreeSeen || seen
	s.rep.TreeUnknown = s.rep.TreeUnknown || unknown
	s.rep.TreeFinal = tree
	s.rep.TreePeak = max(s.rep.TreePeak, tree)
	s.lastTree = tree
	s.addPoint(at)
}

// addPoint records the latest figures; s.mu is held.
func (s *GPUSampler) addPoint(at time.Duration) {
	if len(s.rep.Points) >= MaxPoints {
		kept := s.rep.Points[:0]
		for i, p := range s.rep.Points {
			if i%2 == 0 {
				kept = append(kept, p)
			}
		}
		s.rep.Points = kept
	}
	s.rep.Points = append(s.rep.Points, GPUPoint{At: at, TreeBytes: s.lastTree, DeviceUsed: s.lastDev})
}

// Stop stops sampling, takes a last reading and returns the report. It is
// safe to call more than once.
func (s *GPUSampler) Stop() GPUReport {
	s.stopOnce.Do(func() {
		s.cancel()
		<-s.done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if devs, procs, err := s.g.b.read(ctx); err == nil {
			s.onDevices(devs)
			s.onProcs(procs)
		} else {
			s.mu.Lock()
			if s.rep.Err == nil {
				s.rep.Err = fmt.Errorf("last GPU reading: %w", err)
			}
			s.mu.Unlock()
		}
		s.mu.Lock()
		s.rep.Elapsed = time.Since(s.start)
		if s.utilN > 0 {
			s.rep.UtilMean = s.utilSum / float64(s.utilN)
		}
		s.mu.Unlock()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := s.rep
	rep.Devices = append([]GPUDevice(nil), s.rep.Devices...)
	rep.Points = append([]GPUPoint(nil), s.rep.Points...)
	return rep
}

// TreePIDs returns a function for GPU.Start that lists the process tree
// rooted at whatever pid() returns (nothing when it returns 0).
func TreePIDs(pid func() int) func() []int {
	return func() []int {
		p := pid()
		if p <= 0 {
			return nil
		}
		t, err := Tree(p)
		if err != nil {
			return []int{p}
		}
		return t
	}
}
