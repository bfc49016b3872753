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

// accuracy is what measureAccuracy found: the client's TTFT and ITL
// against the in-process sim's schedule (TTFT 50 ms, ITL 10 ms, no jitter),
// and, to tell apart where an error comes from, the parts of each token's
// way: the request's trip from the client's send stamp to the sim's
// arrival stamp, the sim's lateness behind its own deadlines, and the
// delivery from the sim's write to the client's arrival stamp.
type accuracy struct {
	ttft, itl           stats.Summary // client, ms
	serverITL           stats.Summary // gaps between the sim's writes, ms
	serverLate          stats.Summary // write time minus deadline, ms (every token)
	firstLate           stats.Summary // the same for first tokens only
	sendToArrival       stats.Summary // sim's arrival stamp minus the client's send stamp, ms
	deliver, firstDeliv stats.Summary // client's arrival stamp minus the sim's write, ms (every token; first tokens)
	failed, completed   int
	itlWant             int
	quirks              bool
	concurrency, tokens int
}

func (a accuracy) String() string {
	return fmt.Sprintf("concurrency %d, quirks %v: TTFT p50 %.3f p99 %.3f ms (schedule 50); ITL p50 %.3f p99 %.3f ms (schedule 10); "+
		"sim's writes: ITL p50 %.3f p99 %.3f, late p50 %.3f p99 %.3f (first tokens p99 %.3f) ms; "+
		"send to arrival p50 %.3f p99 %.3f ms; write to client stamp p50 %.3f p99 %.3f (first tokens p99 %.3f) ms",
		a.concurrency, a.quirks, a.ttft.P50, a.ttft.P99, a.itl.P50, a.itl.P99, a.serverITL.P50, a.serverITL.P99,
		a.serverLate.P50, a.serverLate.P99, a.firstLate.P99, a.sendToArrival.P50, a.sendToArrival.P99,
		a.deliver.P50, a.deliver.P99, a.firstDeliv.P99)
}

func measureAccuracy(t testing.TB, concurrency, tokens, requests int, quirks bool) accuracy {
	var mu sync.Mutex
	logs := map[int64]sim.Log{}
	recs := map[int64]*load.Record{}
	cfg := sim.Config{TTFT: 50 * time.Millisecond, ITL: 10 * time.Millisecond, OnDone: func(l sim.Log) {
		mu.Lock()
		defer mu.Unlock()
		logs[l.Seed] = l
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
		OnRequest: func(r *load.Record) {
			mu.Lock()
			defer mu.Unlock()
			recs[int64(r.Index)+1] = r // request i is sent with seed i+1
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var sgaps, late, firstLate, trip, deliv, firstDeliv []float64
	msOf := func(d time.Duration) float64 { return float64(d) / 1e6 }
	for seed, l := range logs {
		for i := range l.Written {
			late = append(late, msOf(l.Written[i].Sub(l.Due[i])))
			if i == 0 {
				firstLate = append(firstLate, msOf(l.Written[i].Sub(l.Due[i])))
			} else {
				sgaps = append(sgaps, msOf(l.Written[i].Sub(l.Written[i-1])))
			}
		}
		r := recs[seed]
		if r == nil || r.Err != nil {
			continue // warmup, or failed
		}
		trip = append(trip, msOf(l.Arrival.Sub(r.Response.Start)))
		for i, c := range r.Response.ChunkTimes {
			if i < len(l.Written) {
				d := msOf(r.Response.Start.Add(c).Sub(l.Written[i]))
				deliv = append(deliv, d)
				if i == 0 {
					firstDeliv = append(firstDeliv, d)
				}
			}
		}
	}
	return accuracy{
		itlWant: itlSamples(requests, tokens),
		ttft:    stats.Summarize(rep.TTFT), itl: stats.Summarize(rep.ITL),
		serverITL: stats.Summarize(sgaps), serverLate: stats.Summarize(late), firstLate: stats.Summarize(firstLate),
		sendToArrival: stats.Summarize(trip), deliver: stats.Summarize(deliv), firstDeliv: stats.Summarize(firstDeliv),
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
// for a loaded shared machine: the client's stamp of each token within 1 ms
// of the sim's write of it (median), TTFT never below the schedule, and
// medians near it (TTFT within 25 ms, ITL within 5 ms).
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
		// Token by token, the client's arrival stamp against the sim's
		// write of the same token.
		if a.deliver.N == 0 || math.Abs(a.deliver.P50) > 1 {
			t.Errorf("client stamps %.3f ms (median of %d tokens) after the sim's writes: more than 1 ms apart", a.deliver.P50, a.deliver.N)
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
			b.ReportMetric(a.firstLate.P99, "sim_first_late_p99_ms")
			b.ReportMetric(a.sendToArrival.P99, "send_to_arrival_p99_ms")
			b.ReportMetric(a.deliver.P99, "write_to_stamp_p99_ms")
			b.ReportMetric(a.firstDeliv.P99, "first_write_to_stamp_p99_ms")
			b.Log(a)
		})
	}
}
