package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/runner"
)

// A ProgressMode says how progress is shown.
type ProgressMode int

const (
	// ProgressOff shows nothing.
	ProgressOff ProgressMode = iota
	// ProgressLive redraws one status line in place (for a terminal).
	ProgressLive
	// ProgressLines writes one plain line per update, at most one a
	// second within a phase of a benchmark (for logs and CI).
	ProgressLines
)

// ParseProgressMode reads "live", "lines" or "none"/"off".
func ParseProgressMode(s string) (ProgressMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "live":
		return ProgressLive, nil
	case "lines":
		return ProgressLines, nil
	case "none", "off":
		return ProgressOff, nil
	}
	return ProgressOff, fmt.Errorf("progress %q: want auto, live, lines or none", s)
}

// ProgressOptions configure a Progress.
type ProgressOptions struct {
	// Width is the terminal's width in columns (live mode cuts the line to
	// fit); zero means 100.
	Width int
	// Now tells the time; nil is time.Now. Tests pass a simulated clock.
	Now func() time.Time
	// Interval is the least time between two lines of the same phase in
	// lines mode; zero means one second.
	Interval time.Duration
	// Color adds ANSI colours (live mode only).
	Color bool
}

// A Progress shows where a run is: which benchmark of how many, on which
// model, the iteration, the current value of the benchmark's metric, and
// estimated times left for the benchmark and for the run. Its Update
// method is a runner.Options.Progress function. It is safe for concurrent
// use.
type Progress struct {
	w    io.Writer
	mode ProgressMode
	opt  ProgressOptions

	mu         sync.Mutex
	key        string // the benchmark in progress
	benchStart time.Time
	phase      string
	phaseStart time.Time
	phaseDone0 int // Done at phaseStart
	finished   []time.Duration
	lastLine   time.Time
	drawn      bool
}

// NewProgress returns a progress display writing to w.
func NewProgress(w io.Writer, mode ProgressMode, opt ProgressOptions) *Progress {
	if opt.Width <= 0 {
		opt.Width = 100
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Interval <= 0 {
		opt.Interval = time.Second
	}
	return &Progress{w: w, mode: mode, opt: opt}
}

// Update takes one progress report from the runner.
func (p *Progress) Update(pr runner.Progress) {
	if p == nil || p.mode == ProgressOff {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opt.Now()
	key := fmt.Sprintf("%d\x00%s\x00%s", pr.Index, pr.Model, pr.Benchmark)
	newBench := key != p.key
	if newBench {
		p.key, p.benchStart = key, now
		p.phase, p.phaseStart, p.phaseDone0 = "", now, 0
	}
	phaseChanged := false
	if pr.Done == nil && pr.Event.Phase != p.phase {
		p.phase, p.phaseStart, p.phaseDone0 = pr.Event.Phase, now, pr.Event.Done
		phaseChanged = true
	}
	var line string
	if pr.Done != nil {
		took := now.Sub(p.benchStart)
		p.finished = append(p.finished, took)
		line = p.doneLine(pr, took)
		p.key = ""
	} else {
		line = p.statusLine(pr, now)
	}
	switch p.mode {
	case ProgressLive:
		text := shorten(line, p.opt.Width-1)
		if p.opt.Color && pr.Done != nil && pr.Done.Failed() {
			text = sRed + text + sReset
		}
		fmt.Fprintf(p.w, "\r\x1b[K%s", text)
		p.drawn = true
	case ProgressLines:
		if newBench || phaseChanged || pr.Done != nil || now.Sub(p.lastLine) >= p.opt.Interval {
			fmt.Fprintln(p.w, line)
			p.lastLine = now
		}
	}
}

// Clear removes the live line (call it before printing anything else).
func (p *Progress) Clear() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == ProgressLive && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

func (p *Progress) prefix(pr runner.Progress) string {
	return fmt.Sprintf("[%d/%d] %s · %s", pr.Index+1, pr.Total, shorten(clean(pr.Model), 32), shorten(clean(pr.Benchmark), 40))
}

func (p *Progress) statusLine(pr runner.Progress, now time.Time) string {
	parts := []string{p.prefix(pr)}
	ev := pr.Event
	if ev.Phase != "" {
		if ev.Total > 0 {
			parts = append(parts, fmt.Sprintf("%s %d/%d", ev.Phase, ev.Done, ev.Total))
		} else {
			parts = append(parts, ev.Phase)
		}
	}
	if !math.IsNaN(ev.Rate) && !math.IsInf(ev.Rate, 0) && ev.Rate != 0 {
		parts = append(parts, Quantity(ev.Rate, ev.Unit))
	}
	eta := p.benchETA(ev, now)
	if !math.IsNaN(eta) {
		parts = append(parts, "ETA "+formatETA(eta))
	}
	if left := p.runLeft(pr, eta); !math.IsNaN(left) {
		parts = append(parts, "run ~"+formatETA(left)+" left")
	}
	return strings.Join(parts, " · ")
}

func (p *Progress) doneLine(pr runner.Progress, took time.Duration) string {
	r := pr.Done
	if r.Failed() {
		msg := firstLine(r.Err())
		if msg == "" {
			msg = "failed"
		}
		return fmt.Sprintf("%s · FAILED: %s (after %s)", p.prefix(pr), shorten(clean(msg), 80), formatETA(took.Seconds()))
	}
	return fmt.Sprintf("%s · done: %s in %s", p.prefix(pr), Quantity(r.Value, r.Unit), formatETA(took.Seconds()))
}

// benchETA estimates the seconds left in the benchmark's measured phase
// from the pace of its iterations so far; NaN when it cannot tell yet
// (warmup, or no iteration finished in this phase).
func (p *Progress) benchETA(ev bench.Event, now time.Time) float64 {
	if ev.Phase != "measure" || ev.Total <= 0 {
		return math.NaN()
	}
	done := ev.Done - p.phaseDone0
	if done <= 0 {
		return math.NaN()
	}
	per := now.Sub(p.phaseStart).Seconds() / float64(done)
	return per * float64(ev.Total-ev.Done)
}

// runLeft estimates the seconds left in the whole run: the benchmark's ETA
// plus the mean time of the benchmarks finished so far for each one still
// to come; NaN before any has finished, and in the last benchmark (whose
// own ETA says it all).
func (p *Progress) runLeft(pr runner.Progress, eta float64) float64 {
	rest := pr.Total - pr.Index - 1
	if len(p.finished) == 0 || rest <= 0 {
		return math.NaN()
	}
	var sum time.Duration
	for _, d := range p.finished {
		sum += d
	}
	left := sum.Seconds() / float64(len(p.finished)) * float64(rest)
	if !math.IsNaN(eta) {
		left += eta
	}
	return left
}
