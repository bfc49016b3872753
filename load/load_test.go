package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inference-pio/piobench/internal/testutil"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
)

func msd(x float64) time.Duration { return time.Duration(x * 1e6) }

func TestMeasureFormulas(t *testing.T) {
	chunks := []time.Duration{msd(50), msd(60), msd(75), msd(100)}
	for _, tc := range []struct {
		name            string
		resp            model.Response
		wait            time.Duration
		ttft, e2e, tpot float64 // ms
		hasTPOT         bool
		itl             []float64
		out             int
		disagree        bool
	}{
		{"streamed, counts agree", model.Response{FirstToken: msd(50), ChunkTimes: chunks, Duration: msd(110), ServerOutputTokens: 4, ClientOutputTokens: 4, OutputTokens: 4},
			0, 50, 110, 20, true, []float64{10, 15, 25}, 4, false},
		{"open loop: sent 5 ms late", model.Response{FirstToken: msd(50), ChunkTimes: chunks, Duration: msd(110), ServerOutputTokens: 4, ClientOutputTokens: 4, OutputTokens: 4},
			msd(5), 55, 115, 20, true, []float64{10, 15, 25}, 4, false},
		{"server counts more tokens than chunks", model.Response{FirstToken: msd(50), ChunkTimes: chunks, Duration: msd(120), ServerOutputTokens: 8, ClientOutputTokens: 4, OutputTokens: 8},
			0, 50, 120, 70.0 / 7, true, []float64{10, 15, 25}, 8, true},
		{"no usage: client count", model.Response{FirstToken: msd(50), ChunkTimes: chunks, Duration: msd(110), ClientOutputTokens: 4, OutputTokens: 4},
			0, 50, 110, 20, true, []float64{10, 15, 25}, 4, false},
		{"one token: no TPOT, no ITL", model.Response{FirstToken: msd(30), ChunkTimes: chunks[:1], Duration: msd(31), ServerOutputTokens: 1, ClientOutputTokens: 1, OutputTokens: 1},
			0, 30, 31, 0, false, nil, 1, false},
		{"not streamed: TTFT is E2E, no TPOT", model.Response{FirstToken: msd(80), Duration: msd(80), ServerOutputTokens: 5, OutputTokens: 5},
			0, 80, 80, 0, false, nil, 5, false},
		{"in-process model: token times", model.Response{FirstToken: msd(10), TokenTimes: []time.Duration{msd(10), msd(12), msd(14)}, Duration: msd(14), OutputTokens: 3},
			0, 10, 14, 2, true, []float64{2, 2}, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Measure(tc.resp, tc.wait)
			if !near(ms(m.TTFT), tc.ttft) || !near(ms(m.E2E), tc.e2e) || m.HasTPOT != tc.hasTPOT || (tc.hasTPOT && !near(ms(m.TPOT), tc.tpot)) {
				t.Errorf("ttft %v e2e %v tpot %v (%v); want %v %v %v (%v)", ms(m.TTFT), ms(m.E2E), ms(m.TPOT), m.HasTPOT, tc.ttft, tc.e2e, tc.tpot, tc.hasTPOT)
			}
			if len(m.ITL) != len(tc.itl) {
				t.Fatalf("itl %v, want %v", m.ITL, tc.itl)
			}
			for i := range m.ITL {
				if !near(ms(m.ITL[i]), tc.itl[i]) {
					t.Errorf("itl %v, want %v", m.ITL, tc.itl)
				}
			}
			if m.OutputTokens != tc.out || m.Disagree != tc.disagree {
				t.Errorf("out %d disagree %v; want %d %v", m.OutputTokens, m.Disagree, tc.out, tc.disagree)
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestSLO(t *testing.T) {
	s, err := ParseSLO("ttft=200ms, tpot=50ms,e2e=5s")
	if err != nil || s.TTFT != 200*time.Millisecond || s.TPOT != 50*time.Millisecond || s.E2E != 5*time.Second {
		t.Fatalf("%+v %v", s, err)
	}
	if s.String() != "ttft=200ms,tpot=50ms,e2e=5s" {
		t.Errorf("String %q", s)
	}
	ok := Measures{TTFT: msd(100), TPOT: msd(40), HasTPOT: true, E2E: msd(1000)}
	if !s.Met(ok) {
		t.Error("within limits: not met")
	}
	for _, bad := range []Measures{
		{TTFT: msd(201), E2E: msd(1000)},
		{TTFT: msd(100), TPOT: msd(51), HasTPOT: true, E2E: msd(1000)},
		{TTFT: msd(100), E2E: msd(5001)},
	} {
		if s.Met(bad) {
			t.Errorf("%+v met the SLO", bad)
		}
	}
	if !s.Met(Measures{TTFT: msd(100), TPOT: msd(999), HasTPOT: false, E2E: msd(100)}) {
		t.Error("a request without TPOT failed the TPOT limit")
	}
	for _, bad := range []string{"", "ttft", "ttft=fast", "ttft=-1s", "latency=1s", "ttft=1s,ttft=2s"} {
		if _, err := ParseSLO(bad); err == nil {
			t.Errorf("ParseSLO(%q): no error", bad)
		}
	}
}

func TestSchedule(t *testing.T) {
	got := Schedule(10, Constant, 5, 0, 1)
	want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("constant: %v, want %v", got, want)
	}
	if n := len(Schedule(10, Constant, 0, time.Second, 1)); n != 10 {
		t.Errorf("constant 10/s for 1s: %d arrivals, want 10", n)
	}
	if s := Schedule(math.Inf(1), Poisson, 4, 0, 1); fmt.Sprint(s) != "[0s 0s 0s 0s]" {
		t.Errorf("inf: %v", s)
	}
	p := Schedule(100, Poisson, 20001, 0, 7)
	mean := p[len(p)-1].Seconds() / float64(len(p)-1)
	if math.Abs(mean-0.01) > 0.0005 {
		t.Errorf("poisson 100/s: mean gap %v s, want 0.01 within 5%%", mean)
	}
	// Exponential gaps: about 1/e of them exceed the mean.
	over := 0
	for i := 1; i < len(p); i++ {
		if p[i]-p[i-1] > 10*time.Millisecond {
			over++
		}
	}
	if f := float64(over) / float64(len(p)-1); math.Abs(f-math.Exp(-1)) > 0.02 {
		t.Errorf("poisson: %.3f of gaps exceed the mean, want about %.3f", f, math.Exp(-1))
	}
	if fmt.Sprint(Schedule(100, Poisson, 50, 0, 7)) != fmt.Sprint(p[:50]) {
		t.Error("poisson schedule is not reproducible from its seed")
	}
}

func TestParseLevels(t *testing.T) {
	ls, err := ParseConcurrency("1, 4,16")
	if err != nil || len(ls) != 3 || ls[2].Concurrency != 16 || ls[0].String() != "concurrency=1" {
		t.Fatalf("%v %v", ls, err)
	}
	rs, err := ParseRates("10,2.5,inf", Constant)
	if err != nil || len(rs) != 3 || rs[0].String() != "rate=10/s constant" || rs[1].Rate != 2.5 || rs[2].String() != "rate=inf" {
		t.Fatalf("%v %v", rs, err)
	}
	for _, bad := range []string{"0", "-1", "x", ""} {
		if _, err := ParseConcurrency(bad); err == nil {
			t.Errorf("ParseConcurrency(%q): no error", bad)
		}
	}
	for _, bad := range []string{"0", "-5", "nan", "fast", "", "1e999"} {
		if _, err := ParseRates(bad, Poisson); err == nil {
			t.Errorf("ParseRates(%q): no error", bad)
		}
	}
	if _, err := ParseArrival("bursty"); err == nil {
		t.Error("bad arrival accepted")
	}
}

func TestDataset(t *testing.T) {
	d, err := DecodeDataset(strings.NewReader("{\"prompt\":\"a b\",\"max_tokens\":3}\n\n{\"input\":\"c\"}\n"), "d.jsonl")
	if err != nil || len(d.Items) != 2 || d.Items[0].MaxTokens != 3 || d.Prompt(3).Text != "c" {
		t.Fatalf("%+v %v", d, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"{\"prompt\":\"a\"}\nnot json\n", "d.jsonl:2: not a JSON object"},
		{"{\"prompt\":\"a\"}\n{\"other\":1}\n", `d.jsonl:2: no "prompt"`},
		{"{\"prompt\":\"\"}\n", "d.jsonl:1: empty prompt"},
		{"{\"prompt\":\"a\",\"max_tokens\":0}\n", "d.jsonl:1: max_tokens 0"},
		{"{\"prompt\":7}\n", `d.jsonl:1: field "prompt" has the wrong type`},
		{"\n\n", "d.jsonl: no prompts"},
	} {
		_, err := DecodeDataset(strings.NewReader(tc.in), "d.jsonl")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	s := Synthetic{Words: 32, Seed: 3}
	if a, b := s.Prompt(0).Text, s.Prompt(1).Text; a == b || len(strings.Fields(a)) != 32 || a != s.Prompt(0).Text {
		t.Errorf("synthetic prompts: %q / %q", a, b)
	}
}

// stub is a concurrent model with a set latency; it tracks how many
// requests are in flight.
type stub struct {
	ttft, itl time.Duration
	tokens    int
	fail      func(i int64) error
	slow      func(i int64) time.Duration // extra latency for request i
	calls     atomic.Int64
	inflight  atomic.Int64
	peak      atomic.Int64
	mu        sync.Mutex
	starts    []time.Time
}

func (s *stub) Load(context.Context) error { return nil }
func (s *stub) Close() error               { return nil }
func (s *stub) MaxConcurrency() int        { return 0 }
func (s *stub) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	i := s.calls.Add(1) - 1
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	start := time.Now()
	s.mu.Lock()
	s.starts = append(s.starts, start)
	s.mu.Unlock()
	resp := model.Response{Start: start, PromptTokens: 3}
	extra := time.Duration(0)
	if s.slow != nil {
		extra = s.slow(i)
	}
	total := s.ttft + extra + time.Duration(s.tokens-1)*s.itl
	select {
	case <-time.After(total):
	case <-ctx.Done():
		return resp, ctx.Err()
	}
	if s.fail != nil {
		if err := s.fail(i); err != nil {
			resp.Duration = time.Since(start)
			return resp, err
		}
	}
	for k := 0; k < s.tokens; k++ {
		resp.ChunkTimes = append(resp.ChunkTimes, s.ttft+extra+time.Duration(k)*s.itl)
	}
	resp.FirstToken = resp.ChunkTimes[0]
	resp.Duration = time.Since(start)
	resp.ServerOutputTokens, resp.ClientOutputTokens, resp.OutputTokens = s.tokens, s.tokens, s.tokens
	return resp, nil
}

var testPrompts = Synthetic{Words: 4, Seed: 1}

func TestClosedLoop(t *testing.T) {
	testutil.NoLeaks(t)
	s := &stub{ttft: 20 * time.Millisecond, tokens: 1}
	rep, err := Run(context.Background(), s, Closed(4), Options{Requests: 40, Prompts: testPrompts, MaxTokens: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 40 || rep.Completed != 40 || s.calls.Load() != 40 {
		t.Fatalf("requests %d completed %d calls %d, want 40", rep.Requests, rep.Completed, s.calls.Load())
	}
	if p := s.peak.Load(); p != 4 {
		t.Errorf("peak in flight %d, want exactly 4", p)
	}
	// 10 rounds of 20 ms: about 200 requests/s (loose: the machine is shared).
	if rps := float64(rep.Completed) / rep.Elapsed.Seconds(); rps > 200*1.05 || rps < 20 {
		t.Errorf("closed loop: %.1f requests/s, want about 200", rps)
	}
	if len(rep.Lag) != 0 {
		t.Error("closed loop reports sender lag")
	}
}

func TestOpenLoop(t *testing.T) {
	testutil.NoLeaks(t)
	// Requests take 100 ms; 100 requests/s keeps about 10 in flight. An
	// open loop sends on schedule whatever the answers do.
	s := &stub{ttft: 100 * time.Millisecond, tokens: 1}
	rep, err := Run(context.Background(), s, Open(100, Constant), Options{Requests: 50, Prompts: testPrompts, MaxTokens: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Completed != 50 {
		t.Fatalf("completed %d", rep.Completed)
	}
	if p := s.peak.Load(); p < 5 {
		t.Errorf("peak in flight %d: an open loop at 100/s with 100 ms requests keeps about 10", p)
	}
	// Sends follow the schedule: 49 gaps of 10 ms.
	s.mu.Lock()
	first, last := s.starts[0], s.starts[0]
	for _, st := range s.starts {
		if st.Before(first) {
			first = st
		}
		if st.After(last) {
			last = st
		}
	}
	s.mu.Unlock()
	if span := last.Sub(first); span < 470*time.Millisecond || span > 600*time.Millisecond {
		t.Errorf("sends spanned %v, want about 490ms", span)
	}
	if len(rep.Lag) != 50 {
		t.Errorf("%d lag samples", len(rep.Lag))
	}
	meta := rep.Metadata()
	if meta["mode"] != "open" || meta["latency_from"] != "intended send time" {
		t.Errorf("metadata %v", meta)
	}
	if r, ok := meta["send_rate_achieved"].(float64); !ok || r < 80 || r > 105 {
		t.Errorf("achieved send rate %v, want about 100", meta["send_rate_achieved"])
	}
	// Latency counts from the intended time: never below the model's own.
	for _, e := range rep.E2E {
		if e < 100 {
			t.Errorf("e2e %.2f ms < the model's 100 ms", e)
		}
	}
}

func TestOpenLoopLatencyFromIntendedTime(t *testing.T) {
	// A model that is slow to accept (it blocks before it stamps its
	// start) cannot hide the wait: latency counts from the intended time.
	s := &stub{ttft: 10 * time.Millisecond, tokens: 1}
	blocking := &blockFirst{stub: s, block: 150 * time.Millisecond}
	rep, err := Run(context.Background(), blocking, Open(math.Inf(1), Poisson), Options{Requests: 1, Prompts: testPrompts, MaxTokens: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.TTFT) != 1 || rep.TTFT[0] < 150 {
		t.Errorf("ttft %v, want at least the 150 ms the request waited to be sent", rep.TTFT)
	}
	if q := rep.Queue; len(q) != 1 || q[0] < 140 {
		t.Errorf("client queue %v, want about 150 ms", q)
	}
}

func TestClosedLoopLatencyFromSend(t *testing.T) {
	// A closed loop has no schedule: a request's latency counts from when
	// it was sent, and the time it spent in the client before is its
	// client queue.
	s := &stub{ttft: 10 * time.Millisecond, tokens: 1}
	blocking := &blockFirst{stub: s, block: 150 * time.Millisecond}
	rep, err := Run(context.Background(), blocking, Closed(1), Options{Requests: 1, Prompts: testPrompts, MaxTokens: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.TTFT) != 1 || rep.TTFT[0] < 10 || rep.TTFT[0] >= 150 {
		t.Errorf("ttft %v, want about 10 ms: from the send, not from the 150 ms before it", rep.TTFT)
	}
	if q := rep.Queue; len(q) != 1 || q[0] < 140 {
		t.Errorf("client queue %v, want about 150 ms", q)
	}
}

// blockFirst waits before passing a request on, like a client pool that
// has no free connection.
type blockFirst struct {
	*stub
	block time.Duration
}

func (b *blockFirst) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	time.Sleep(b.block)
	return b.stub.Infer(ctx, req)
}

func TestFailureAccounting(t *testing.T) {
	testutil.NoLeaks(t)
	boom := errors.New("HTTP 500 from /v1/completions: injected")
	s := &stub{ttft: time.Millisecond, itl: time.Millisecond, tokens: 4, fail: func(i int64) error {
		if i%3 == 2 {
			return boom
		}
		return nil
	}}
	rep, err := Run(context.Background(), s, Closed(1), Options{Requests: 30, Prompts: testPrompts, MaxTokens: 4})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 10 || rep.Completed != 20 || len(rep.TTFT) != 20 || len(rep.E2E) != 20 || rep.OutputTokens != 80 {
		t.Fatalf("failed %d completed %d ttft samples %d e2e %d tokens %d; want 10, 20, 20, 20, 80",
			rep.Failed, rep.Completed, len(rep.TTFT), len(rep.E2E), rep.OutputTokens)
	}
	res := byName(rep.Results("m"))
	if v := res["error_rate"].Value; !near(v, 1.0/3) {
		t.Errorf("error_rate %v", v)
	}
	if out, req := res["output_throughput"].Value, res["request_throughput"].Value; !near(out, 4*req) || !near(req, 20/rep.Elapsed.Seconds()) {
		t.Errorf("throughputs %v tokens/s, %v requests/s: failed requests must not count", out, req)
	}
	if e := fmt.Sprint(res["ttft_p50"].Metadata["errors"]); !strings.Contains(e, "injected") || !strings.Contains(e, "count:10") {
		t.Errorf("errors in metadata: %s", e)
	}

	// Every request failing: latency and throughput are failed results
	// (null), never zeros; error_rate is 1.
	s2 := &stub{ttft: time.Millisecond, tokens: 1, fail: func(int64) error { return boom }}
	rep2, err := Run(context.Background(), s2, Closed(2), Options{Requests: 6, Prompts: testPrompts, MaxTokens: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep2.Results("m") {
		switch {
		case r.BenchmarkName == "error_rate":
			if r.Failed() || r.Value != 1 {
				t.Errorf("error_rate %v failed=%v", r.Value, r.Failed())
			}
		case !r.Failed() || !math.IsNaN(r.Value) || !strings.Contains(r.Err(), "all 6 requests failed: HTTP 500"):
			t.Errorf("%s: value %v failed=%v err %q; want a failed result", r.BenchmarkName, r.Value, r.Failed(), r.Err())
		}
	}
}

func TestGoodput(t *testing.T) {
	// Odd requests take 100 ms more: with e2e=50ms, half are good.
	s := &stub{ttft: 5 * time.Millisecond, tokens: 1, slow: func(i int64) time.Duration {
		if i%2 == 1 {
			return 100 * time.Millisecond
		}
		return 0
	}}
	slo, _ := ParseSLO("e2e=50ms")
	rep, err := Run(context.Background(), s, Closed(1), Options{Requests: 10, Prompts: testPrompts, MaxTokens: 1, SLO: slo})
	if err != nil {
		t.Fatal(err)
	}
	res := byName(rep.Results("m"))
	if rep.Good != 5 || !near(res["goodput"].Value, res["request_throughput"].Value/2) {
		t.Errorf("good %d, goodput %v, request throughput %v", rep.Good, res["goodput"].Value, res["request_throughput"].Value)
	}
	if fmt.Sprint(res["goodput"].Metadata["slo"]) != "map[e2e_ms:50]" {
		t.Errorf("slo metadata %v", res["goodput"].Metadata["slo"])
	}
}

func TestResultNames(t *testing.T) {
	s := &stub{ttft: time.Millisecond, itl: time.Millisecond, tokens: 3}
	rep, err := Run(context.Background(), s, Closed(2), Options{Requests: 10, Warmup: 2, Prompts: testPrompts, MaxTokens: 3})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rep.Results("m") {
		names = append(names, r.BenchmarkName+"/"+r.Unit)
		if r.Failed() {
			t.Errorf("%s failed: %s", r.BenchmarkName, r.Err())
		}
		if r.Metadata["load_level"] != "concurrency=2" || r.Metadata["definition"] == nil || r.ModelName != "m" {
			t.Errorf("%s metadata %v", r.BenchmarkName, r.Metadata)
		}
	}
	want := "ttft_mean/ms ttft_p50/ms ttft_p90/ms ttft_p99/ms itl_mean/ms itl_p50/ms itl_p90/ms itl_p99/ms tpot_mean/ms tpot_p50/ms tpot_p90/ms tpot_p99/ms e2e_mean/ms e2e_p50/ms e2e_p90/ms e2e_p99/ms output_throughput/tokens/sec request_throughput/requests/sec goodput/requests/sec error_rate/ratio"
	if strings.Join(names, " ") != want {
		t.Errorf("results:\n%s\nwant\n%s", strings.Join(names, " "), want)
	}
	if s.calls.Load() != 12 || rep.Warmup != 2 || rep.Requests != 10 {
		t.Errorf("calls %d (warmup %d, measured %d), want 12", s.calls.Load(), rep.Warmup, rep.Requests)
	}
	if len(rep.ITL) != 20 || len(rep.TPOT) != 10 {
		t.Errorf("%d ITL samples (want 20), %d TPOT (want 10)", len(rep.ITL), len(rep.TPOT))
	}
}

func TestDurationAndCancel(t *testing.T) {
	testutil.NoLeaks(t)
	s := &stub{ttft: 5 * time.Millisecond, tokens: 1}
	rep, err := Run(context.Background(), s, Closed(2), Options{Duration: 200 * time.Millisecond, Prompts: testPrompts, MaxTokens: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests < 2 || rep.Elapsed < 200*time.Millisecond || rep.Elapsed > 10*time.Second {
		t.Errorf("duration run: %d requests over %v", rep.Requests, rep.Elapsed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	slow := &stub{ttft: time.Hour, tokens: 1}
	rep, err = Run(ctx, slow, Open(50, Constant), Options{Requests: 1000, Prompts: testPrompts, MaxTokens: 1})
	if !errors.Is(err, context.DeadlineExceeded) || !rep.Interrupted || rep.Requests != 0 {
		t.Errorf("cancelled: %v, interrupted %v, %d requests recorded (cancelled requests are not failures)", err, rep.Interrupted, rep.Requests)
	}
	for _, bad := range []Options{{Prompts: testPrompts}, {Requests: 1, Duration: time.Second, Prompts: testPrompts}, {Requests: 1}} {
		if _, err := Run(context.Background(), s, Closed(1), bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if _, err := Run(context.Background(), s, Open(0, Poisson), Options{Requests: 1, Prompts: testPrompts}); err == nil {
		t.Error("rate 0 accepted")
	}
	if _, err := Run(context.Background(), s, Open(math.Inf(1), Poisson), Options{Duration: time.Second, Prompts: testPrompts}); err == nil {
		t.Error("rate inf with a duration accepted")
	}
}

func byName(rs []resultT) map[string]resultT {
	m := map[string]resultT{}
	for _, r := range rs {
		m[r.BenchmarkName] = r
	}
	return m
}

type resultT = result.Result
