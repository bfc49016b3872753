// Package sysmon samples the memory of processes while a benchmark runs,
// so that peaks between two reads are not missed.
package sysmon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

// A Probe reads the current resident set size in bytes of whatever it
// watches (one process, or a process tree).
type Probe func() (uint64, error)

// SelfRSS is a Probe of this process's resident set size.
func SelfRSS() (uint64, error) { return ProcessRSS(os.Getpid()) }

var pageSize = uint64(os.Getpagesize())

// ProcessRSS reads the resident set size of one process. On Linux it reads
// /proc/PID/statm (cheap enough to sample every millisecond); elsewhere it
// asks gopsutil.
func ProcessRSS(pid int) (uint64, error) {
	if runtime.GOOS == "linux" {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
		if err != nil {
			return 0, err
		}
		f := bytes.Fields(b)
		if len(f) < 2 {
			return 0, fmt.Errorf("sysmon: unexpected statm %q", b)
		}
		pages, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("sysmon: unexpected statm %q", b)
		}
		return pages * pageSize, nil
	}
	p, err := process.NewProcess(int32(pid))
	if err != nil {
		return 0, err
	}
	mi, err := p.MemoryInfo()
	if err != nil {
		return 0, err
	}
	return mi.RSS, nil
}

// A Point is one sample: time since the sampler started, and bytes.
type Point struct {
	At    time.Duration `json:"t_ns"`
	Bytes uint64        `json:"bytes"`
}

// A Report is what a Sampler saw.
type Report struct {
	Initial  uint64        // first reading, before the work started
	Peak     uint64        // highest reading (or the kernel's high-water mark, if higher)
	Final    uint64        // last reading
	Points   []Point       // every reading, capped at MaxPoints by keeping every k-th
	Count    int           // readings taken
	Interval time.Duration // requested interval
	Elapsed  time.Duration
	HWM      bool // Peak includes the kernel's peak-RSS counter, reset at Start
	Err      error
}

// SampleRate returns the achieved readings per second.
func (r Report) SampleRate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Count) / r.Elapsed.Seconds()
}

// MaxPoints bounds how many points a Report keeps.
const MaxPoints = 2000

// A Sampler reads a Probe on an interval in its own goroutine until Stop.
type Sampler struct {
	probe    Probe
	interval time.Duration
	start    time.Time
	hwm      bool
	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu  sync.Mutex
	rep Report
}

// Start takes a first reading and starts sampling probe every interval. For
// SelfRSS on Linux it also resets the kernel's peak-RSS counter (VmHWM), so
// that the peak is exact even between samples.
func Start(probe Probe, interval time.Duration, self bool) (*Sampler, error) {
	if interval <= 0 {
		interval = time.Millisecond
	}
	s := &Sampler{probe: probe, interval: interval, done: make(chan struct{})}
	if self {
		s.hwm = resetHWM() == nil
	}
	first, err := probe()
	if err != nil {
		return nil, fmt.Errorf("sysmon: first reading: %w", err)
	}
	s.start = time.Now()
	s.rep = Report{Initial: first, Peak: first, Final: first, Count: 1, Interval: interval, HWM: s.hwm,
		Points: []Point{{At: 0, Bytes: first}}}
	s.wg.Add(1)
	go s.loop()
	return s, nil
}

func (s *Sampler) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.read()
		}
	}
}

func (s *Sampler) read() {
	v, err := s.probe()
	at := time.Since(s.start)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.rep.Err == nil {
			s.rep.Err = err
		}
		return
	}
	s.rep.Count++
	s.rep.Final = v
	if v > s.rep.Peak {
		s.rep.Peak = v
	}
	if len(s.rep.Points) >= MaxPoints {
		// Halve the resolution: keep every other point.
		kept := s.rep.Points[:0]
		for i, p := range s.rep.Points {
			if i%2 == 0 {
				kept = append(kept, p)
			}
		}
		s.rep.Points = kept
	}
	s.rep.Points = append(s.rep.Points, Point{At: at, Bytes: v})
}

// Stop takes a last reading, stops sampling and returns the report. It is
// safe to call more than once.
func (s *Sampler) Stop() Report {
	s.stopOnce.Do(func() {
		close(s.done)
		s.wg.Wait()
		s.read()
		s.mu.Lock()
		s.rep.Elapsed = time.Since(s.start)
		if s.hwm {
			if h, err := readHWM(); err == nil && h > s.rep.Peak {
				s.rep.Peak = h
			}
		}
		s.mu.Unlock()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rep
}

// resetHWM resets this process's peak RSS counter (Linux 4.0+).
func resetHWM() error {
	if runtime.GOOS != "linux" {
		return errors.New("not linux")
	}
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// readHWM reads this process's peak RSS (VmHWM) in bytes.
func readHWM() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			f := bytes.Fields(v)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseUint(string(f[0]), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("sysmon: no VmHWM in /proc/self/status")
}
