// Package fake provides a deterministic model for tests: it runs on a
// simulated clock, takes a known time per prompt token, per generated token
// and per load, and reports known token counts, so that every benchmark's
// numbers can be checked exactly.
package fake

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/inference-pio/piobench/model"
)

// A Clock is a simulated clock that only moves when advanced. It is safe
// for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to a fixed instant.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// A Model is a deterministic fake model. A prompt's token count is its
// number of whitespace-separated words; it generates MaxTokens tokens
// ("tok" each), or the words of Answers[prompt] when set. Inference of p
// prompt tokens and n output tokens advances the clock by p*Prefill +
// n*Decode; the first token comes at p*Prefill + Decode.
type Model struct {
	Clock    *Clock
	LoadTime time.Duration // time a Load takes
	Prefill  time.Duration // per prompt token
	Decode   time.Duration // per generated token
	Answers  map[string]string
	Hold     int           // bytes allocated and touched during each Infer, to show up in RSS
	HoldTime time.Duration // real time the allocation is held
	Fail     error         // returned by Infer when set
	PanicMsg string        // Infer panics with this when set

	mu     sync.Mutex
	loaded bool
	closed bool
	Loads  int // how many times Load ran
	Calls  int // how many Infer calls ran
}

var (
	_ model.Streamer       = (*Model)(nil)
	_ model.MemoryReporter = (*Model)(nil)
	_ model.Describer      = (*Model)(nil)
)

// New returns a fake model on clock c with the given timings.
func New(c *Clock, load, prefill, decode time.Duration) *Model {
	return &Model{Clock: c, LoadTime: load, Prefill: prefill, Decode: decode}
}

// Load implements model.Model.
func (m *Model) Load(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.Clock.Advance(m.LoadTime)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loaded, m.closed = true, false
	m.Loads++
	return nil
}

// Close implements model.Model.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loaded, m.closed = false, true
	return nil
}

// Info implements model.Describer.
func (m *Model) Info() model.Info {
	return model.Info{Name: "fake", Driver: "fake", Params: map[string]any{"seq_len": 4096}}
}

// MemoryStats implements model.MemoryReporter.
func (m *Model) MemoryStats(context.Context) (model.MemoryStats, error) {
	return model.MemoryStats{WeightBytes: 1 << 20}, nil
}

// PromptTokens returns the number of tokens the fake model counts in p.
func PromptTokens(p string) int { return len(strings.Fields(p)) }

func (m *Model) output(req model.Request) []string {
	if a, ok := m.Answers[req.Prompt]; ok {
		w := strings.Fields(a)
		if req.MaxTokens > 0 && len(w) > req.MaxTokens {
			w = w[:req.MaxTokens]
		}
		return w
	}
	n := req.MaxTokens
	if n <= 0 {
		n = 16
	}
	out := make([]string, n)
	for i := range out {
		out[i] = "tok"
	}
	return out
}

// Infer implements model.Model.
func (m *Model) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	return m.InferStream(ctx, req, nil)
}

// InferStream implements model.Streamer.
func (m *Model) InferStream(ctx context.Context, req model.Request, fn func(model.Token) error) (model.Response, error) {
	m.mu.Lock()
	loaded := m.loaded
	m.Calls++
	m.mu.Unlock()
	if !loaded {
		return model.Response{}, errors.New("fake: Infer before Load")
	}
	if m.PanicMsg != "" {
		panic(m.PanicMsg)
	}
	if m.Fail != nil {
		return model.Response{}, m.Fail
	}
	if err := ctx.Err(); err != nil {
		return model.Response{}, err
	}
	if m.Hold > 0 {
		buf := make([]byte, m.Hold)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1
		}
		time.Sleep(m.HoldTime)
		keep(buf)
	}
	start := m.Clock.Now()
	p := PromptTokens(req.Prompt)
	m.Clock.Advance(time.Duration(p) * m.Prefill)
	words := m.output(req)
	resp := model.Response{PromptTokens: p, Start: start, TokenTimes: make([]time.Duration, 0, len(words)), FinishReason: "length"}
	var text strings.Builder
	for i, w := range words {
		if err := ctx.Err(); err != nil {
			return model.Response{}, err
		}
		m.Clock.Advance(m.Decode)
		at := m.Clock.Now().Sub(start)
		piece := w
		if i > 0 {
			piece = " " + w
		}
		text.WriteString(piece)
		resp.TokenTimes = append(resp.TokenTimes, at)
		if i == 0 {
			resp.FirstToken = at
		}
		if fn != nil {
			if err := fn(model.Token{ID: i, Text: piece, At: at}); err != nil {
				return model.Response{}, err
			}
		}
	}
	resp.Text = text.String()
	resp.OutputTokens = len(words)
	resp.Duration = m.Clock.Now().Sub(start)
	return resp, nil
}

var sink []byte

func keep(b []byte) { sink = b; sink = nil }

// A Batcher is a fake model with true batching: a batch costs the sum of
// its prefills plus the longest output's decode time once.
type Batcher struct{ *Model }

var _ model.BatchInferer = Batcher{}

// InferBatch implements model.BatchInferer.
func (b Batcher) InferBatch(ctx context.Context, reqs []model.Request) ([]model.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := b.Clock.Now()
	longest := 0
	resps := make([]model.Response, len(reqs))
	for i, r := range reqs {
		p := PromptTokens(r.Prompt)
		b.Clock.Advance(time.Duration(p) * b.Prefill)
		words := b.output(r)
		longest = max(longest, len(words))
		resps[i] = model.Response{Text: strings.Join(words, " "), PromptTokens: p, OutputTokens: len(words), Start: start, FinishReason: "length"}
	}
	b.Clock.Advance(time.Duration(longest) * b.Decode)
	for i := range resps {
		resps[i].Duration = b.Clock.Now().Sub(start)
	}
	return resps, nil
}
