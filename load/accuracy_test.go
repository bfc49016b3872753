package load_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/inference-pio/piobench/load"
	"github.com/inference-pio/piobench/model/openai"
	"github.com/inference-pio/piobench/sim"
	"github.com/inference-pio/piobench/stats"
)

// accuracyRun measures the in-process sim (TTFT 50 ms, ITL 10 ms, no
// jitter) at a concurrency and returns the client's TTFT and ITL samples
// and, as ground truth, the gaps between the sim's own writes.
type accuracy struct {
	ttft, itl           stats.Summary // client, ms
	serverITL           stats.Summary // gaps between the sim's writes, ms
	serverLate          stats.Summary // write time minus deadline, ms
	failed, completed   int
	itlWant             int
	quirks              bool
	concurrency, tokens int
}

func (a accuracy) String() string {
	return fmt.Sprintf("concurrency %d, quirks %v: TTFT p50 %.3f p99 %.3f ms (schedule 50); ITL p50 %.3f p99 %.3f ms (schedule 10); sim's own writes: ITL p50 %.3f p99 %.3f, late p50 %.3f p99 %.3f ms",
		a.concurrency, a.quirks, a.ttft.P50, a.ttft.P99, a.itl.P50, a.itl.P99, a.serverITL.P50, a.serverITL.P99, a.serverLate.P50, a.serverLate.P99)
}

func measureAccuracy(t testing.TB, concurrency, tokens, requests int, quirks bool) accuracy {
	var mu sync.Mutex
	var sgaps, late []float64
	cfg := sim.Config{TTFT: 50 * time.Millisecond, ITL: 10 * time.Millisecond, OnDone: func(l sim.Log) {
		mu.Lock()
		defer mu.Unlock()
		for i := range l.Written {
			late = append(late, float64(l.Written[i].Sub(l.Due[i]))/1e6)
			if i > 0 {
				sgaps = append(sgaps, float64(l.Written[i].Sub(l.Written[i-1]))/1e6)
			}
		}
	}}
	if quirks {
		cfg.Quirks = sim.AllQuirks()
	}
	l, err := sim.Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m, err := openai.New(openai.Options{Endpoint: l.URL, ModelID: "sim", API: openai.Chat})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rep, err := load.Run(context.Background(), m, load.Closed(concurrency), load.Options{
		Requests: requests, Warmup: concurrency, Prompts: varied{load.Synthetic{Words: 16, Seed: 1}, tokens}, MaxTokens: tokens,
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return accuracy{
		itlWant: itlSamples(requests, tokens),
		ttft:    stats.Summarize(rep.TTFT), itl: stats.Summarize(rep.ITL),
		serverITL: stats.Summarize(sgaps), serverLate: stats.Summarize(late),
		failed: rep.Failed, completed: rep.Completed, quirks: quirks, concurrency: concurrency, tokens: tokens,
	}
}

// varied gives request i about tokens output tokens (± a quarter), so that
// a closed loop's requests do not all end, and start again, at once: a
// synchronised burst of 64 arrivals measures the machine, not the client.
type varied struct {
	load.Synthetic
	tokens int
}

func (v varied) Prompt(i int) load.Prompt {
	p := v.Synthetic.Prompt(i)
	p.MaxTokens = variedTokens(i, v.tokens)
	return p
}

func variedTokens(i, tokens int) int {
	q := max(tokens/4, 1)
	return max(2, tokens-q+(i*7919)%(2*q+1))
}

func itlSamples(requests, tokens int) int {
	n := 0
	for i := 0; i < requests; i++ {
		n += variedTokens(i, tokens) - 1
	}
	return n
}

// TestAccuracyAgainstSim is the always-on version, with margins wide enough
// for a loaded shared machine: the client's ITL median within 1 ms of the
// gaps the sim actually wrote, TTFT never below the schedule, and medians
// near it (TTFT within 25 ms, ITL within 5 ms).
// PIOBENCH_ACCURACY=1 asserts the targets instead (concurrency 64: TTFT and
// ITL p50 within 1 ms of the schedule, p99 within 2%), with and without
// every SSE quirk.
func TestAccuracyAgainstSim(t *testing.T) {
	strict := os.Getenv("PIOBENCH_ACCURACY") == "1"
	c, tokens, reqs := 16, 16, 64
	if strict {
		c, tokens, reqs = 64, 64, 256
	} else if testing.Short() {
		c, tokens, reqs = 8, 8, 16
	}
	for _, quirks := range []bool{false, true} {
		a := measureAccuracy(t, c, tokens, reqs, quirks)
		t.Log(a)
		if a.failed != 0 || a.completed != reqs {
			t.Fatalf("%d failed, %d completed of %d", a.failed, a.completed, reqs)
		}
		if a.itl.N != a.itlWant {
			t.Errorf("%d ITL samples, want %d", a.itl.N, a.itlWant)
		}
		if strict {
			if math.Abs(a.ttft.P50-50) > 1 || math.Abs(a.itl.P50-10) > 1 {
				t.Errorf("p50 off the schedule by more than 1 ms: %v", a)
			}
			if a.ttft.P99 > 50*1.02 || a.itl.P99 > 10*1.02 {
				t.Errorf("p99 more than 2%% off the schedule: %v", a)
			}
			continue
		}
		// On a loaded machine the sim itself runs late; what the client
		// controls is how well it measures what the sim did.
		if a.ttft.P50 < 50 || a.ttft.P50 > 50+25 || a.itl.P50 < 10-5 || a.itl.P50 > 10+5 {
			t.Errorf("p50 far off the schedule: %v", a)
		}
		if math.Abs(a.itl.P50-a.serverITL.P50) > 1 {
			t.Errorf("client ITL median %.3f ms, sim's writes %.3f ms: more than 1 ms apart", a.itl.P50, a.serverITL.P50)
		}
		// TTFT can never be below the schedule.
		if a.ttft.Min < 50 {
			t.Errorf("TTFT %.3f ms below the 50 ms schedule", a.ttft.Min)
		}
	}
}

// BenchmarkAccuracy reports how far measured TTFT and ITL are from the
// sim's schedule at concurrency 64 (TTFT 50 ms, ITL 10 ms).
func BenchmarkAccuracy(b *testing.B) {
	for _, quirks := range []bool{false, true} {
		b.Run(fmt.Sprintf("quirks=%v", quirks), func(b *testing.B) {
			var a accuracy
			for i := 0; i < b.N; i++ {
				a = measureAccuracy(b, 64, 64, 256, quirks)
			}
			b.ReportMetric(a.ttft.P50-50, "ttft_p50_err_ms")
			b.ReportMetric(100*(a.ttft.P99-50)/50, "ttft_p99_err_%")
			b.ReportMetric(a.itl.P50-10, "itl_p50_err_ms")
			b.ReportMetric(100*(a.itl.P99-10)/10, "itl_p99_err_%")
			b.ReportMetric(a.itl.P50-a.serverITL.P50, "itl_p50_vs_sim_writes_ms")
			b.ReportMetric(a.serverLate.P99, "sim_write_late_p99_ms")
			b.Log(a)
		})
	}
}
