package report

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/runner"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// simulate feeds p the events of a run of two benchmarks on one model:
// a speed benchmark with 2 warmups and 4 iterations of 500 ms each, then a
// memory benchmark that fails after 3 s.
func simulate(p *Progress, c *fakeClock) {
	ev := func(i int, name, phase string, done, total int, rate float64, unit string) {
		p.Update(runner.Progress{Model: "ref:15m", Benchmark: name, Index: i, Total: 2, Event: bench.Event{Benchmark: name, Phase: phase, Done: done, Total: total, Rate: rate, Unit: unit}})
	}
	for i := 0; i < 2; i++ {
		ev(0, "inference_speed", "warmup", i, 2, math.NaN(), "")
		c.advance(500 * time.Millisecond)
	}
	for i := 0; i < 4; i++ {
		rate := math.NaN()
		if i > 0 {
			rate = 100 + float64(i)
		}
		ev(0, "inference_speed", "measure", i, 4, rate, "tokens/sec")
		c.advance(500 * time.Millisecond)
	}
	ev(0, "inference_speed", "measure", 4, 4, math.NaN(), "tokens/sec")
	done := result.Result{BenchmarkName: "inference_speed", Value: 102.5, Unit: "tokens/sec", Metadata: map[string]any{"status": "ok"}}
	p.Update(runner.Progress{Model: "ref:15m", Benchmark: "inference_speed", Index: 0, Total: 2, Done: &done})
	ev(1, "memory_usage", "measure", 0, 1, math.NaN(), "")
	c.advance(3 * time.Second)
	failed := result.Fail("ref:15m", "memory_usage", "MB", "memory", errors.New("sampler: permission denied\nmore"), nil)
	p.Update(runner.Progress{Model: "ref:15m", Benchmark: "memory_usage", Index: 1, Total: 2, Done: &failed})
}

func TestProgressLines(t *testing.T) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var b bytes.Buffer
	p := NewProgress(&b, ProgressLines, ProgressOptions{Now: c.now})
	simulate(p, c)
	p.Clear()
	// Lines within a phase come at most once a second: warmup 1/2 (0.5 s
	// after warmup 0/2) and measure 1/4 and 3/4 are left out.
	want := `[1/2] ref:15m · inference_speed · warmup 0/2
[1/2] ref:15m · inference_speed · measure 0/4
[1/2] ref:15m · inference_speed · measure 2/4 · 102.0 tokens/sec · ETA 1s
[1/2] ref:15m · inference_speed · measure 4/4 · ETA 0ms
[1/2] ref:15m · inference_speed · done: 102.5 tokens/sec in 3s
[2/2] ref:15m · memory_usage · measure 0/1
[2/2] ref:15m · memory_usage · FAILED: sampler: permission denied (after 3s)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestProgressLive(t *testing.T) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var b bytes.Buffer
	p := NewProgress(&b, ProgressLive, ProgressOptions{Now: c.now, Width: 60})
	simulate(p, c)
	p.Clear()
	s := b.String()
	frames := strings.Split(s, "\r\x1b[K")
	if len(frames) != 12 || frames[len(frames)-1] != "" {
		t.Fatalf("%d frames, want 10 updates and a final clear: %q", len(frames)-1, s)
	}
	if strings.Contains(s, "\n") {
		t.Error("live progress wrote a newline")
	}
	for _, f := range frames {
		if displayWidth(f) > 59 {
			t.Errorf("frame of %d columns is wider than the terminal: %q", displayWidth(f), f)
		}
	}
	if got := frames[6]; !strings.HasPrefix(got, "[1/2] ref:15m · inference_speed · measure 3/4 · 103.0") {
		t.Errorf("frame 6 = %q", got)
	}
}

func TestProgressETA(t *testing.T) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var b bytes.Buffer
	p := NewProgress(&b, ProgressLines, ProgressOptions{Now: c.now, Interval: time.Nanosecond})
	// Benchmark 1 of 4 took 10 s; benchmark 2 is 3 of 10 iterations in,
	// at 2 s each: 14 s left in it, and two more of about 10 s each.
	one := result.Result{Value: 1, Unit: "x", Metadata: map[string]any{}}
	p.Update(runner.Progress{Model: "m", Benchmark: "a", Index: 0, Total: 4, Event: bench.Event{Phase: "measure", Total: 1}})
	c.advance(10 * time.Second)
	p.Update(runner.Progress{Model: "m", Benchmark: "a", Index: 0, Total: 4, Done: &one})
	p.Update(runner.Progress{Model: "m", Benchmark: "b", Index: 1, Total: 4, Event: bench.Event{Phase: "measure", Done: 0, Total: 10}})
	c.advance(6 * time.Second)
	b.Reset()
	p.Update(runner.Progress{Model: "m", Benchmark: "b", Index: 1, Total: 4, Event: bench.Event{Phase: "measure", Done: 3, Total: 10}})
	if got, want := b.String(), "[2/4] m · b · measure 3/10 · ETA 14s · run ~34s left\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestProgressOff(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, ProgressOff, ProgressOptions{})
	simulate(p, &fakeClock{})
	p.Clear()
	var nilP *Progress
	nilP.Update(runner.Progress{})
	nilP.Clear()
	if b.Len() != 0 {
		t.Errorf("off wrote %q", b.String())
	}
	for _, s := range []string{"live", "lines", "none", "off"} {
		if _, err := ParseProgressMode(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseProgressMode("bar"); err == nil {
		t.Error("bar accepted")
	}
}
