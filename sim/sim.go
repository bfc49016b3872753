// Package sim is a simulated OpenAI-compatible inference server with a
// known latency model: the ground truth piobench's own serving tests
// measure against.
//
// It serves /v1/completions and /v1/chat/completions (streamed as
// server-sent events, or whole, with usage), /v1/models, /health and
// /metrics (Prometheus text with vLLM-like names). Each request's first
// token is due TTFT after it arrives and every next one ITL after the one
// before, each delay drawn from a log-normal distribution around its mean
// (Jitter is its sigma) and stretched when more requests are in flight than
// Capacity, so that a sweep finds a saturation point. Tokens are written on
// these absolute deadlines, never "sleep then write", so lateness does not
// accumulate and the schedule is known. Failures can be injected (HTTP
// errors, error objects mid-stream, stalls), and Quirks switches on the
// odd-but-legal stream shapes real servers produce.
//
// Use it in-process (Listen, or Server as an http.Handler) or from the
// command line (piobench sim).
package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Quirks are stream shapes that real servers produce and a client must
// survive. All of them keep the answer the same.
type Quirks struct {
	CRLF        bool // lines end with CRLF
	Comments    bool // ": keep-alive" comment lines before and between events
	NoSpace     bool // "data:" without the space after the colon
	RoleChunk   bool // a first chunk holding only the role (chat) or empty text (completions)
	EmptyChunks bool // a chunk with empty content after every content chunk
	SplitWrites bool // the stream's first bytes written one by one, every event in pieces split inside its first line and between line ends
	NoDone      bool // the stream closes without "data: [DONE]"
	UsageEvery  bool // "usage": null in every chunk, besides the final usage-only chunk
}

// AllQuirks returns every quirk switched on.
func AllQuirks() Quirks {
	return Quirks{CRLF: true, Comments: true, NoSpace: true, RoleChunk: true, EmptyChunks: true, SplitWrites: true, NoDone: true, UsageEvery: true}
}

// Any reports whether any quirk is on.
func (q Quirks) Any() bool { return q != Quirks{} }

// Config is the simulated server's behaviour.
type Config struct {
	// Models are the served model ids (default: "sim").
	Models []string
	// TTFT is the mean time from a request's arrival to its first token;
	// ITL the mean time between tokens; PrefillPerToken adds to TTFT per
	// prompt token.
	TTFT, ITL, PrefillPerToken time.Duration
	// Jitter is the sigma of the log-normal spread of every delay around
	// its mean (0: exact delays).
	Jitter float64
	// Capacity is how many requests run at full speed; with more in flight
	// every delay is stretched by in-flight/Capacity (0: no limit).
	Capacity int
	// DefaultMaxTokens applies when a request gives no max_tokens
	// (default 16).
	DefaultMaxTokens int
	// FailRate is the share of requests answered with HTTP 500;
	// MidStreamErrorRate the share of streams that send an error object
	// half-way; StallRate the share of streams that go silent half-way
	// until the client leaves.
	FailRate, MidStreamErrorRate, StallRate float64
	// APIKey, when set, is required as "Authorization: Bearer KEY".
	APIKey string
	// Quirks shape the streams.
	Quirks Quirks
	// Seed seeds the jitter and failure draws.
	Seed uint64
	// OnDone, when set, is called after each completion request with its
	// schedule and what was written when.
	OnDone func(Log)
}

// A Log records one completion request as the server saw it.
type Log struct {
	Arrival   time.Time
	Stream    bool
	Due       []time.Time // when each token was due
	Written   []time.Time // when each token's bytes were handed to the connection
	Status    int
	Failure   string // "http_error", "mid_stream_error", "stall", "client_gone" or ""
	MaxTokens int
	Seed      int64 // the request's "seed" (0 when it gave none)
}

// A Server is the simulated server, an http.Handler.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	models map[string]bool
	modelJ map[string][]byte // model id as a JSON string

	reqs      atomic.Uint64
	active    atomic.Int64
	wg        sync.WaitGroup
	closing   chan struct{}
	closeOnce sync.Once

	m metrics
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if len(cfg.Models) == 0 {
		cfg.Models = []string{"sim"}
	}
	if cfg.DefaultMaxTokens <= 0 {
		cfg.DefaultMaxTokens = 16
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), models: map[string]bool{}, modelJ: map[string][]byte{}, closing: make(chan struct{})}
	for _, m := range cfg.Models {
		s.models[m] = true
		s.modelJ[m], _ = json.Marshal(m)
	}
	s.m.init()
	s.mux.HandleFunc("POST /v1/completions", func(w http.ResponseWriter, r *http.Request) { s.complete(w, r, false) })
	s.mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) { s.complete(w, r, true) })
	s.mux.HandleFunc("GET /v1/models", s.listModels)
	s.mux.HandleFunc("GET /metrics", s.metrics)
	s.mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	return s
}

// Config returns the server's configuration.
func (s *Server) Config() Config { return s.cfg }

// Active returns how many completion requests are in flight.
func (s *Server) Active() int { return int(s.active.Load()) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.wg.Add(1)
	defer s.wg.Done()
	s.mux.ServeHTTP(w, r)
}

// Stop ends every stream in progress (they fail at once) and waits for the
// handlers to return. Stop is safe to call more than once.
func (s *Server) Stop() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.wg.Wait()
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": status}})
	w.Write(b)
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.APIKey == "" {
		return true
	}
	if r.Header.Get("Authorization") == "Bearer "+s.cfg.APIKey {
		return true
	}
	writeError(w, http.StatusUnauthorized, "AuthenticationError", "invalid or missing API key")
	return false
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	type entry struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		OwnedBy string `json:"owned_by"`
	}
	var list struct {
		Object string  `json:"object"`
		Data   []entry `json:"data"`
	}
	list.Object = "list"
	for _, m := range s.cfg.Models {
		list.Data = append(list.Data, entry{ID: m, Object: "model", OwnedBy: "piobench-sim"})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(list)
}

// completionRequest is what the server reads of a request body.
type completionRequest struct {
	Model    string          `json:"model"`
	Prompt   json.RawMessage `json:"prompt"`
	Messages []struct {
		Role    string `json:"role"`
		Content any    `json:"content"`
	} `json:"messages"`
	MaxTokens           *int  `json:"max_tokens"`
	MaxCompletionTokens *int  `json:"max_completion_tokens"`
	Stream              bool  `json:"stream"`
	Seed                int64 `json:"seed"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// promptText returns the prompt (or the messages' text) of a request.
func (c *completionRequest) promptText() (string, error) {
	if len(c.Prompt) > 0 {
		var s string
		if err := json.Unmarshal(c.Prompt, &s); err == nil {
			return s, nil
		}
		var list []string
		if err := json.Unmarshal(c.Prompt, &list); err == nil && len(list) == 1 {
			return list[0], nil
		}
		return "", errors.New("prompt must be a string")
	}
	var b strings.Builder
	for _, m := range c.Messages {
		switch v := m.Content.(type) {
		case string:
			b.WriteString(v)
			b.WriteByte(' ')
		case []any:
			for _, p := range v {
				if pm, ok := p.(map[string]any); ok {
					if t, ok := pm["text"].(string); ok {
						b.WriteString(t)
						b.WriteByte(' ')
					}
				}
			}
		}
	}
	return b.String(), nil
}

// countTokens is the simulated tokenizer: whitespace-separated words, at
// least one.
func countTokens(s string) int {
	return max(1, len(strings.Fields(s)))
}

var vocab = []string{" the", " model", " answers", " with", " tokens", " on", " a", " known", " schedule", " and", " every", " one", " arrives", " in", " time", " for", " piobench", " to", " measure", " it"}

func (s *Server) complete(w http.ResponseWriter, r *http.Request, chat bool) {
	arrival := time.Now()
	if !s.authorized(w, r) {
		return
	}
	var req completionRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 16<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "BadRequestError", "request body is not valid JSON: "+err.Error())
		return
	}
	if !s.models[req.Model] {
		writeError(w, http.StatusNotFound, "NotFoundError", fmt.Sprintf("The model `%s` does not exist.", req.Model))
		return
	}
	if chat && len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "BadRequestError", "messages must not be empty")
		return
	}
	prompt, err := req.promptText()
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequestError", err.Error())
		return
	}
	maxTokens := s.cfg.DefaultMaxTokens
	for _, p := range []*int{req.MaxTokens, req.MaxCompletionTokens} {
		if p != nil {
			if *p < 1 {
				writeError(w, http.StatusBadRequest, "BadRequestError", "max_tokens must be at least 1")
				return
			}
			maxTokens = *p
		}
	}
	n := s.reqs.Add(1)
	rng := rand.New(rand.NewPCG(s.cfg.Seed, n))
	s.active.Add(1)
	s.m.running.Add(1)
	defer func() {
		s.active.Add(-1)
		s.m.running.Add(-1)
	}()
	promptTokens := countTokens(prompt)
	s.m.promptTokens.Add(uint64(promptTokens))

	lg := Log{Arrival: arrival, Stream: req.Stream, Status: http.StatusOK, MaxTokens: maxTokens, Seed: req.Seed}
	defer func() {
		if s.cfg.OnDone != nil {
			s.cfg.OnDone(lg)
		}
	}()
	if s.cfg.FailRate > 0 && rng.Float64() < s.cfg.FailRate {
		lg.Status, lg.Failure = http.StatusInternalServerError, "http_error"
		s.m.failed.Add(1)
		writeError(w, http.StatusInternalServerError, "InternalServerError", "injected failure")
		return
	}
	failAt, stallAt := -1, -1
	if req.Stream {
		if s.cfg.MidStreamErrorRate > 0 && rng.Float64() < s.cfg.MidStreamErrorRate {
			failAt = maxTokens / 2
		} else if s.cfg.StallRate > 0 && rng.Float64() < s.cfg.StallRate {
			stallAt = maxTokens / 2
		}
	}

	g := &gen{
		s: s, w: w, chat: chat, rng: rng, q: s.cfg.Quirks,
		id:     strconv.FormatUint(n, 10),
		model:  s.modelJ[req.Model],
		seed:   fnvHash(prompt) ^ uint64(req.Seed),
		usage:  req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
		prompt: promptTokens, max: maxTokens, log: &lg,
		created: strconv.FormatInt(arrival.Unix(), 10),
	}
	if s.cfg.OnDone != nil {
		lg.Due = make([]time.Time, 0, maxTokens)
		lg.Written = make([]time.Time, 0, maxTokens)
	}
	ctx := r.Context()
	defer func() { g.fine.close() }()
	if req.Stream {
		g.stream(ctx, arrival, failAt, stallAt)
	} else {
		g.whole(ctx, arrival)
	}
	if lg.Failure == "" {
		s.m.success.Add(1)
		s.m.ttft.observe(g.firstAt.Sub(arrival).Seconds())
		s.m.e2e.observe(time.Since(arrival).Seconds())
	} else {
		s.m.failed.Add(1)
	}
}

func fnvHash(s string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, s)
	return h.Sum64()
}

// gen writes one answer.
type gen struct {
	s       *Server
	w       http.ResponseWriter
	chat    bool
	rng     *rand.Rand
	q       Quirks
	id      string
	model   []byte
	created string
	seed    uint64
	usage   bool
	prompt  int
	max     int
	log     *Log
	buf     []byte
	firstAt time.Time
	events  int
	fine    *fineTimer
}

// delay draws a delay around mean, stretched by the current load.
func (g *gen) delay(mean time.Duration) time.Duration {
	if mean <= 0 {
		return 0
	}
	d := float64(mean)
	if j := g.s.cfg.Jitter; j > 0 {
		d *= math.Exp(j*g.rng.NormFloat64() - j*j/2)
	}
	if c := g.s.cfg.Capacity; c > 0 {
		if a := g.s.active.Load(); a > int64(c) {
			d *= float64(a) / float64(c)
		}
	}
	return time.Duration(d)
}

func (g *gen) token(i int) string {
	x := g.seed + uint64(i)*0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return vocab[x%uint64(len(vocab))]
}

// fineSpan is the last stretch before a deadline slept with the fine timer.
const fineSpan = 2 * time.Millisecond

// wait blocks until t, the server stops or the client leaves; it reports
// whether to go on. It sleeps on a Go timer until shortly before t, then on
// the fine timer, so tokens leave on time to within tens of microseconds.
func (g *gen) wait(ctx context.Context, timer **time.Timer, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	if d > fineSpan {
		if *timer == nil {
			*timer = time.NewTimer(d - fineSpan)
		} else {
			(*timer).Reset(d - fineSpan)
		}
		select {
		case <-(*timer).C:
		case <-ctx.Done():
			return false
		case <-g.s.closing:
			return false
		}
	}
	if g.fine == nil {
		g.fine = newFineTimer()
	}
	g.fine.sleep(time.Until(t))
	return ctx.Err() == nil
}

func (g *gen) whole(ctx context.Context, arrival time.Time) {
	var timer *time.Timer
	// The schedule is drawn step by step so that load changes stretch it
	// as they happen.
	t := arrival.Add(g.delay(g.s.cfg.TTFT + time.Duration(g.prompt)*g.s.cfg.PrefillPerToken))
	var text strings.Builder
	for i := 0; i < g.max; i++ {
		if i > 0 {
			t = t.Add(g.delay(g.s.cfg.ITL))
		}
		if !g.wait(ctx, &timer, t) {
			g.log.Failure = "client_gone"
			return
		}
		if i == 0 {
			g.firstAt = time.Now()
		}
		if g.log.Due != nil {
			g.log.Due = append(g.log.Due, t)
		}
		text.WriteString(g.token(i))
	}
	if timer != nil {
		timer.Stop()
	}
	g.s.m.genTokens.Add(uint64(g.max))
	b := g.buf[:0]
	b = append(b, `{"id":"`...)
	if g.chat {
		b = append(b, `chatcmpl-`...)
	} else {
		b = append(b, `cmpl-`...)
	}
	b = append(b, g.id...)
	if g.chat {
		b = append(b, `","object":"chat.completion","created":`...)
	} else {
		b = append(b, `","object":"text_completion","created":`...)
	}
	b = append(b, g.created...)
	b = append(b, `,"model":`...)
	b = append(b, g.model...)
	b = append(b, `,"choices":[{"index":0,`...)
	txt, _ := json.Marshal(text.String())
	if g.chat {
		b = append(b, `"message":{"role":"assistant","content":`...)
		b = append(b, txt...)
		b = append(b, '}')
	} else {
		b = append(b, `"text":`...)
		b = append(b, txt...)
	}
	b = append(b, `,"finish_reason":"length"}],"usage":`...)
	b = g.appendUsage(b)
	b = append(b, "}\n"...)
	g.w.Header().Set("Content-Type", "application/json")
	g.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	now := time.Now()
	g.w.Write(b)
	if g.log.Written != nil {
		for range g.max {
			g.log.Written = append(g.log.Written, now)
		}
	}
}

func (g *gen) appendUsage(b []byte) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(g.prompt), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(g.max), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(g.prompt+g.max), 10)
	return append(b, '}')
}

func (g *gen) nl(b []byte) []byte {
	if g.q.CRLF {
		return append(b, '\r', '\n')
	}
	return append(b, '\n')
}

// event appends one "data:" event holding payload.
func (g *gen) event(b []byte, payload func([]byte) []byte) []byte {
	if g.q.Comments && g.events%3 == 0 {
		b = append(b, ": keep-alive"...)
		b = g.nl(b)
	}
	if g.q.NoSpace {
		b = append(b, "data:"...)
	} else {
		b = append(b, "data: "...)
	}
	b = payload(b)
	b = g.nl(b)
	b = g.nl(b)
	g.events++
	return b
}

// chunk appends a streamed chunk; content nil means a role-only (chat) or
// empty (completions) chunk, finish the finish reason.
func (g *gen) chunk(b []byte, content *string, finish string) []byte {
	return g.event(b, func(b []byte) []byte {
		b = append(b, `{"id":"`...)
		if g.chat {
			b = append(b, `chatcmpl-`...)
		} else {
			b = append(b, `cmpl-`...)
		}
		b = append(b, g.id...)
		if g.chat {
			b = append(b, `","object":"chat.completion.chunk","created":`...)
		} else {
			b = append(b, `","object":"text_completion","created":`...)
		}
		b = append(b, g.created...)
		b = append(b, `,"model":`...)
		b = append(b, g.model...)
		b = append(b, `,"choices":[{"index":0,`...)
		if g.chat {
			if content == nil {
				b = append(b, `"delta":{"role":"assistant","content":""}`...)
			} else {
				b = append(b, `"delta":{"content":"`...)
				b = append(b, *content...) // vocabulary words need no escaping
				b = append(b, `"}`...)
			}
		} else {
			b = append(b, `"text":"`...)
			if content != nil {
				b = append(b, *content...)
			}
			b = append(b, '"')
		}
		b = append(b, `,"logprobs":null,"finish_reason":`...)
		if finish == "" {
			b = append(b, "null"...)
		} else {
			b = append(b, '"')
			b = append(b, finish...)
			b = append(b, '"')
		}
		b = append(b, "}]"...)
		if g.q.UsageEvery && g.usage {
			b = append(b, `,"usage":null`...)
		}
		return append(b, '}')
	})
}

// flush hands the buffered bytes to the connection, in pieces when asked.
func (g *gen) flush(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	rc := http.NewResponseController(g.w)
	write := func(p []byte) error {
		if _, err := g.w.Write(p); err != nil {
			return err
		}
		return rc.Flush()
	}
	if !g.q.SplitWrites {
		return write(b)
	}
	if g.events <= 2 {
		// The start of the stream byte by byte (enough to cut the first
		// line everywhere), the rest as below.
		n := min(len(b), 48)
		for i := 0; i < n; i++ {
			if err := write(b[i : i+1]); err != nil {
				return err
			}
		}
		b = b[n:]
		if len(b) == 0 {
			return nil
		}
	}
	// Split inside the first line, and at every line end (so CR and LF
	// of a CRLF, and the two line ends that close an event, go apart).
	start := 0
	cut := min(3, len(b))
	if err := write(b[:cut]); err != nil {
		return err
	}
	start = cut
	for i := start; i < len(b); i++ {
		if b[i] == '\r' || b[i] == '\n' {
			if err := write(b[start : i+1]); err != nil {
				return err
			}
			start = i + 1
		}
	}
	return write(b[start:])
}

func (g *gen) stream(ctx context.Context, arrival time.Time, failAt, stallAt int) {
	h := g.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	g.w.WriteHeader(http.StatusOK)
	var b []byte
	if g.q.RoleChunk {
		b = g.chunk(b, nil, "")
	}
	if err := g.flush(b); err != nil {
		g.log.Failure = "client_gone"
		return
	}
	b = b[:0]
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	t := arrival.Add(g.delay(g.s.cfg.TTFT + time.Duration(g.prompt)*g.s.cfg.PrefillPerToken))
	pending := 0 // tokens in b, not yet written
	sent := 0
	writeOut := func() bool {
		if err := g.flush(b); err != nil {
			g.log.Failure = "client_gone"
			return false
		}
		if g.log.Written != nil {
			now := time.Now()
			for range pending {
				g.log.Written = append(g.log.Written, now)
			}
		}
		if sent == 0 && pending > 0 {
			g.firstAt = time.Now()
		}
		sent += pending
		pending = 0
		b = b[:0]
		return true
	}
	for i := 0; i < g.max; i++ {
		if i > 0 {
			t = t.Add(g.delay(g.s.cfg.ITL))
		}
		if i == failAt || i == stallAt {
			if !writeOut() {
				return
			}
			if i == stallAt {
				g.log.Failure = "stall"
				select {
				case <-ctx.Done():
				case <-g.s.closing:
				}
				return
			}
			g.log.Failure = "mid_stream_error"
			b = g.event(b, func(b []byte) []byte {
				return append(b, `{"error":{"message":"injected failure mid-stream","type":"InternalServerError","code":500}}`...)
			})
			g.flush(b)
			return
		}
		if time.Until(t) > 0 {
			// The next token is not due yet: write what is.
			if !writeOut() {
				return
			}
			if !g.wait(ctx, &timer, t) {
				g.log.Failure = "client_gone"
				return
			}
		} else if ctx.Err() != nil {
			g.log.Failure = "client_gone"
			return
		}
		if g.log.Due != nil {
			g.log.Due = append(g.log.Due, t)
		}
		tok := g.token(i)
		finish := ""
		if i == g.max-1 {
			finish = "length"
		}
		b = g.chunk(b, &tok, finish)
		pending++
		if g.q.EmptyChunks && i < g.max-1 {
			empty := ""
			b = g.chunk(b, &empty, "")
		}
	}
	g.s.m.genTokens.Add(uint64(g.max))
	if g.usage {
		b = g.event(b, func(b []byte) []byte {
			b = append(b, `{"id":"`...)
			b = append(b, g.id...)
			b = append(b, `","object":"`...)
			if g.chat {
				b = append(b, "chat.completion.chunk"...)
			} else {
				b = append(b, "text_completion"...)
			}
			b = append(b, `","created":`...)
			b = append(b, g.created...)
			b = append(b, `,"model":`...)
			b = append(b, g.model...)
			b = append(b, `,"choices":[],"usage":`...)
			b = g.appendUsage(b)
			return append(b, '}')
		})
	}
	if !g.q.NoDone {
		b = g.event(b, func(b []byte) []byte { return append(b, "[DONE]"...) })
	}
	writeOut()
}

// Listening is a Server listening on a TCP address.
type Listening struct {
	*Server
	URL  string // http://HOST:PORT
	Addr net.Addr
	srv  *http.Server
	done chan struct{}
}

// Listen starts a Server for cfg on addr (such as "127.0.0.1:0" for any
// free port) and serves in the background until Close.
func Listen(addr string, cfg Config) (*Listening, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return Serve(ln, cfg), nil
}

// Serve serves a new Server for cfg on ln in the background until Close.
func Serve(ln net.Listener, cfg Config) *Listening {
	s := New(cfg)
	l := &Listening{Server: s, Addr: ln.Addr(), URL: "http://" + ln.Addr().String(), done: make(chan struct{})}
	l.srv = &http.Server{Handler: s, ReadHeaderTimeout: time.Minute}
	go func() {
		defer close(l.done)
		l.srv.Serve(ln)
	}()
	return l
}

// Close stops listening, ends every stream and connection, and waits for
// every handler to return.
func (l *Listening) Close() error {
	err := l.srv.Close()
	l.Server.Stop()
	<-l.done
	return err
}

// Shutdown stops listening and waits for requests in flight to finish, or
// for ctx to end (then it closes what is left).
func (l *Listening) Shutdown(ctx context.Context) error {
	err := l.srv.Shutdown(ctx)
	if err != nil {
		l.srv.Close()
	}
	l.Server.Stop()
	<-l.done
	return err
}
