// Package load drives a model with concurrent requests and measures
// serving latency and throughput the way vLLM's serving benchmark defines
// them (TTFT, ITL, TPOT, E2E), without its blind spots.
//
// A closed loop (Level.Concurrency) keeps N requests in flight; an open
// loop (Level.Rate) sends requests on a precomputed schedule, constant or
// Poisson, whatever the server does, and measures every latency from the
// intended send time, so a slow server or a late sender cannot hide
// queueing (no coordinated omission); the sender's own lag behind the
// schedule is reported. Connection pools are sized to the load (see
// PoolSizer). Failed requests are counted and reported, and never enter
// latency or throughput.
package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inference-pio/piobench/model"
)

// A PoolSizer is a model whose connection pool can be sized to the load:
// SetConcurrency(n) allows n connections at once (0: no limit). Run calls
// it before each level.
type PoolSizer interface {
	SetConcurrency(n int)
}

// Options configure a run of one level.
type Options struct {
	// Requests is how many measured requests to send; Duration how long
	// to keep sending instead (an open loop precomputes the arrivals that
	// fall within it; a closed loop stops starting requests after it and
	// lets those in flight finish). Exactly one must be set.
	Requests int
	Duration time.Duration
	// Warmup requests go first, unmeasured: closed loop at the level's
	// concurrency, one at a time before an open loop.
	Warmup int
	// Prompts gives each request its prompt.
	Prompts Prompts
	// MaxTokens is each request's output limit unless its prompt sets one.
	MaxTokens int
	// IgnoreEOS asks the server to generate MaxTokens tokens.
	IgnoreEOS bool
	// SLO defines goodput.
	SLO SLO
	// Seed seeds the Poisson schedule.
	Seed uint64
	// OnRequest, when set, sees every measured request's record as soon
	// as it finished, from many goroutines at once.
	OnRequest func(*Record)
	// Keep is how many samples per metric to keep exactly (default
	// DefaultKeep); beyond it percentiles come from a histogram.
	Keep int
	// Progress, when set, is called with the number of finished measured
	// requests (total is 0 when the run is bounded by time).
	Progress func(done, total int)
}

func (o *Options) check() error {
	if (o.Requests > 0) == (o.Duration > 0) {
		return errors.New("give either a number of requests or a duration")
	}
	if o.Requests < 0 || o.Duration < 0 || o.Warmup < 0 || o.MaxTokens < 0 {
		return errors.New("requests, duration, warmup and max tokens must not be negative")
	}
	if o.Prompts == nil {
		return errors.New("no prompts")
	}
	return nil
}

// A Record is what happened to one request. Times are offsets from the
// level's start, except ChunkTimes, which count from the actual send.
type Record struct {
	Level      string
	Start      time.Time // the level's start
	Index      int
	Intended   time.Duration // when it was meant to be sent
	Dispatched time.Duration // when the sender handed it to the model
	Sent       time.Duration // when the model's driver sent it (Response.Start)
	Response   model.Response
	Measures   Measures
	Err        error
	Good       bool // met the SLO
}

// OK reports whether the request succeeded.
func (r *Record) OK() bool { return r.Err == nil }

// Report is the outcome of one level.
type Report struct {
	Level   Level
	Start   time.Time     // the level's start (intended time of the first request)
	Elapsed time.Duration // first intended send to last answer
	// Requests is how many measured requests were sent; Completed and
	// Failed split them; Good counts successes that met the SLO.
	Requests, Completed, Failed, Good int
	Warmup, WarmupFailed              int
	// Samples, in milliseconds, from successful requests only.
	TTFT, ITL, TPOT, E2E []float64
	// Output tokens of successful requests; the server's and the client's
	// totals where known, and how many requests they disagreed on.
	OutputTokens, ServerTokens, ClientTokens, PromptTokens int
	Disagreements                                          int
	// Lag is how late (ms) the sender dispatched each request behind its
	// intended time (open loop); Queue how long (ms) each waited between
	// dispatch and the driver's send.
	Lag, Queue []float64
	// IntendedSpan and DispatchSpan are the times from the first to the
	// last intended and actual dispatch (open loop).
	IntendedSpan, DispatchSpan time.Duration
	Errors                     errorCounts
	SLO                        SLO
	Prompts                    string
	MaxTokens                  int
	IgnoreEOS                  bool
	Duration                   time.Duration // the requested duration, when the run was bounded by time
	Interrupted                bool
	// Keep is how many samples per metric the slices above hold (at most);
	// every sample also goes into a histogram, which summarises a metric
	// that has more.
	Keep int
	hist map[string]*histogram
}

// keep appends x to *xs while it holds fewer than Keep samples, and counts
// it in the metric's histogram.
func (r *Report) keep(name string, xs *[]float64, x float64) {
	if len(*xs) < r.Keep {
		*xs = append(*xs, x)
	}
	h := r.hist[name]
	if h == nil {
		h = &histogram{}
		r.hist[name] = h
	}
	h.add(x)
}

// collector gathers records from many goroutines.
type collector struct {
	mu     sync.Mutex
	rep    *Report
	opts   *Options
	done   atomic.Int64
	total  int
	lastAt time.Duration
	first  time.Duration
	lastD  time.Duration
	n      int
}

func (c *collector) add(r *Record) {
	if r.Err == nil {
		// Open loop: from the intended send time, so that neither a late
		// sender nor a queue inside the client hides latency. Closed loop:
		// there is no schedule, only a free worker, so from the moment the
		// request was sent; the client's own time before that is reported
		// as client_queue.
		wait := r.Sent - r.Intended
		if !c.rep.Level.IsOpen() {
			wait = 0
		}
		r.Measures = Measure(r.Response, wait)
		r.Good = c.opts.SLO.Met(r.Measures)
	}
	end := r.Sent + r.Response.Duration
	if r.Response.Start.IsZero() {
		end = r.Dispatched
	}
	c.mu.Lock()
	rep := c.rep
	rep.Requests++
	if end > c.lastAt {
		c.lastAt = end
	}
	if c.n == 0 || r.Dispatched < c.first {
		c.first = r.Dispatched
	}
	if r.Dispatched > c.lastD {
		c.lastD = r.Dispatched
	}
	c.n++
	if rep.Level.IsOpen() {
		rep.keep("lag", &rep.Lag, ms(r.Dispatched-r.Intended))
	}
	if !r.Response.Start.IsZero() {
		rep.keep("queue", &rep.Queue, ms(max(0, r.Sent-r.Dispatched)))
	}
	if r.Err != nil {
		rep.Failed++
		rep.Errors.add(r.Err)
	} else {
		m := r.Measures
		rep.Completed++
		rep.keep("ttft", &rep.TTFT, ms(m.TTFT))
		rep.keep("e2e", &rep.E2E, ms(m.E2E))
		if m.HasTPOT {
			rep.keep("tpot", &rep.TPOT, ms(m.TPOT))
		}
		for _, g := range m.ITL {
			rep.keep("itl", &rep.ITL, ms(g))
		}
		rep.OutputTokens += m.OutputTokens
		rep.ServerTokens += r.Response.ServerOutputTokens
		rep.ClientTokens += r.Response.ClientOutputTokens
		rep.PromptTokens += r.Response.PromptTokens
		if m.Disagree {
			rep.Disagreements++
		}
		if r.Good {
			rep.Good++
		}
	}
	c.mu.Unlock()
	if c.opts.OnRequest != nil {
		c.opts.OnRequest(r)
	}
	d := c.done.Add(1)
	if c.opts.Progress != nil {
		c.opts.Progress(int(d), c.total)
	}
}

// Run measures m at one level. It returns the report of what finished; when
// ctx ends it stops sending, cancels requests in flight, and returns the
// report so far (marked Interrupted) with ctx's error. A request's failure
// is recorded, never returned.
func Run(ctx context.Context, m model.Model, lvl Level, o Options) (*Report, error) {
	if err := lvl.check(); err != nil {
		return nil, err
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	if lvl.IsOpen() && math.IsInf(lvl.Rate, 1) && o.Requests <= 0 {
		return nil, errors.New("rate inf sends every request at once: give a number of requests, not a duration")
	}
	if lvl.Arrival == "" {
		lvl.Arrival = Poisson
	}
	if ps, ok := m.(PoolSizer); ok {
		if lvl.IsOpen() {
			ps.SetConcurrency(0)
		} else {
			ps.SetConcurrency(lvl.Concurrency)
		}
	}
	keep := o.Keep
	if keep <= 0 {
		keep = DefaultKeep
	}
	rep := &Report{Level: lvl, Errors: errorCounts{}, SLO: o.SLO, Prompts: o.Prompts.Describe(), MaxTokens: o.MaxTokens, IgnoreEOS: o.IgnoreEOS, Duration: o.Duration, Keep: keep, hist: map[string]*histogram{}}
	if o.Warmup > 0 {
		wc := 1
		if !lvl.IsOpen() {
			wc = min(lvl.Concurrency, o.Warmup)
		}
		rep.Warmup = o.Warmup
		rep.WarmupFailed = warmup(ctx, m, o, wc)
		if err := ctx.Err(); err != nil {
			rep.Interrupted = true
			return rep, err
		}
	}
	c := &collector{rep: rep, opts: &o, total: o.Requests}
	var err error
	if lvl.IsOpen() {
		err = runOpen(ctx, m, lvl, o, c)
	} else {
		err = runClosed(ctx, m, lvl, o, c)
	}
	rep.Elapsed = c.lastAt
	rep.DispatchSpan = c.lastD - c.first
	if err != nil {
		rep.Interrupted = true
	}
	return rep, err
}

// request builds request i.
func request(o *Options, i int) model.Request {
	p := o.Prompts.Prompt(i)
	n := p.MaxTokens
	if n == 0 {
		n = o.MaxTokens
	}
	return model.Request{Prompt: p.Text, MaxTokens: n, IgnoreEOS: o.IgnoreEOS, Seed: int64(i) + 1}
}

// warmup sends n requests, c at a time, and returns how many failed.
func warmup(ctx context.Context, m model.Model, o Options, c int) int {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= o.Warmup {
					return
				}
				// Warmup prompts come from the far end of the index range,
				// so measured requests do not repeat them.
				if _, err := m.Infer(ctx, request(&o, 1<<30+i)); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(failed.Load())
}

// send makes request i and records it. start is the level's start.
func send(ctx context.Context, m model.Model, o *Options, c *collector, start time.Time, i int, intended time.Duration) {
	rec := &Record{Level: c.rep.Level.String(), Start: start, Index: i, Intended: intended}
	req := request(o, i)
	rec.Dispatched = time.Since(start)
	resp, err := m.Infer(ctx, req)
	rec.Response = resp
	if !resp.Start.IsZero() {
		rec.Sent = resp.Start.Sub(start)
	} else {
		rec.Sent = rec.Dispatched
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err == nil && outputTokens(resp) <= 0 {
		err = errors.New("answer without any output token")
	}
	if err != nil {
		if ctx.Err() != nil {
			return // interrupted: neither a success nor the server's failure
		}
		rec.Err = err
	}
	c.add(rec)
}

func runClosed(ctx context.Context, m model.Model, lvl Level, o Options, c *collector) error {
	start := time.Now()
	c.rep.Start = start
	var deadline time.Time
	if o.Duration > 0 {
		deadline = start.Add(o.Duration)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < lvl.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if o.Requests > 0 && i >= o.Requests {
					return
				}
				now := time.Since(start)
				if !deadline.IsZero() && !start.Add(now).Before(deadline) {
					return
				}
				// In a closed loop the intended send time is now: the
				// worker is free.
				send(ctx, m, &o, c, start, i, now)
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

func runOpen(ctx context.Context, m model.Model, lvl Level, o Options, c *collector) error {
	sched := Schedule(lvl.Rate, lvl.Arrival, o.Requests, o.Duration, o.Seed)
	c.total = len(sched)
	if len(sched) > 1 {
		c.rep.IntendedSpan = sched[len(sched)-1] - sched[0]
	}
	// Start a little ahead so that the first request is not late for the
	// setup of the loop itself.
	start := time.Now().Add(time.Millisecond)
	c.rep.Start = start
	var wg sync.WaitGroup
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	fine := newFineTimer()
	defer fine.close()
	for i, off := range sched {
		// A Go timer until shortly before the intended time, then the fine
		// timer: an idle Go process wakes timers in whole milliseconds.
		if d := time.Until(start.Add(off)); d > fineSpan {
			timer.Reset(d - fineSpan)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		fine.sleep(time.Until(start.Add(off)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			send(ctx, m, &o, c, start, i, off)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// fineSpan is the last stretch before an intended send time slept with
// the fine timer.
const fineSpan = 2 * time.Millisecond

// Sweep runs every level in order and returns their reports. It stops at
// the first error (a cancelled context), returning the reports so far.
func Sweep(ctx context.Context, m model.Model, levels []Level, o Options) ([]*Report, error) {
	var out []*Report
	for _, l := range levels {
		r, err := Run(ctx, m, l, o)
		if r != nil {
			out = append(out, r)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// String summarises a report in one line.
func (r *Report) String() string {
	return fmt.Sprintf("%s: %d requests, %d failed, %.1f req/s", r.Level, r.Requests, r.Failed, float64(r.Completed)/r.Elapsed.Seconds())
}
