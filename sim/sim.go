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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/inference-pio/piobench/internal/stampconn"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Quirks are stream shapes that real servers produce and a client must
// survive. All of them keep the answer the same.
type Quirks struct {
	CRLF        bool // lines end with CRLF
	Comments    bool // ": keep-alive" comment lines before and between events
	NoSpace     bool // "data:" without the space after the colon
	RoleChunk   bool // a first chunk holding only the role (chat) or empty text (completions)
	EmptyChunks bool // a chunk with empty content after every content chunk
	SplitWrites bool // the stream's first bytes written one by one, then every flush in two writes cut at a place that moves (inside a line, between CR and LF, between line and blank line, between events)
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
	// OnDone, when set, is called for each completion request with its
	// schedule and what was written when: once its last token is written,
	// before the response ends (so that a client that has read the whole
	// answer finds it reported), or when it fails.
	OnDone func(Log)
}

// A Log records one completion request as the server saw it.
type Log struct {
	Arrival   time.Time
	Stream    bool
	Due       []time.Time // when each token was due
	Written   []time.Time // when each token's bytes were handed to the connection
	Status    int
	Failure   string // "http_error", "mid_stream_error", "stall", "client_gone", "write_timeout" (the client stopped reading) or ""
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
	clock     *clock

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
	s := &Server{cfg: cfg, mux: http.NewServeMux(), models: map[string]bool{}, modelJ: map[string][]byte{}, closing: make(chan struct{}), clock: newClock()}
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
	s.clock.close()
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
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"` // a string, or a list of parts with text
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
		if len(m.Content) == 0 || m.Content[0] == 'n' { // absent or null
			continue
		}
		var text string
		if json.Unmarshal(m.Content, &text) == nil {
			if len(c.Messages) == 1 {
				return text + " ", nil
			}
			b.WriteString(text)
			b.WriteByte(' ')
			continue
		}
		var parts []struct {
			Text *string `json:"text"`
		}
		if json.Unmarshal(m.Content, &parts) != nil {
			continue // other shapes carry no text
		}
		for _, p := range parts {
			if p.Text != nil {
				b.WriteString(*p.Text)
				b.WriteByte(' ')
			}
		}
	}
	return b.String(), nil
}

// countTokens is the simulated tokenizer: whitespace-separated words, at
// least one.
func countTokens(s string) int {
	n := 0
	in := false
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			sp := asciiSpace[c]
			if !sp && !in {
				n++
			}
			in = !sp
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		sp := unicode.IsSpace(r)
		if !sp && !in {
			n++
		}
		in = !sp
	}
	return max(1, n)
}

var asciiSpace = [256]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

var vocab = []string{" the", " model", " answers", " with", " tokens", " on", " a", " known", " schedule", " and", " every", " one", " arrives", " in", " time", " for", " piobench", " to", " measure", " it"}

// connKey is the context key of a request's connection.
type connKey struct{}

// bodyPool holds request bodies while they are read.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxBody = 16 << 20

// readBody reads a request body of at most maxBody bytes into b.
func readBody(r *http.Request, b []byte) ([]byte, error) {
	if n := r.ContentLength; n > maxBody {
		return b, fmt.Errorf("larger than %d bytes", maxBody)
	} else if n > 0 && int64(cap(b)) < n+1 {
		b = make([]byte, 0, n+1)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > maxBody {
			return b, fmt.Errorf("larger than %d bytes", maxBody)
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

var (
	jsonType  = []string{"application/json"}
	eventType = []string{"text/event-stream"}
	noCache   = []string{"no-cache"}
)

func (s *Server) complete(w http.ResponseWriter, r *http.Request, chat bool) {
	arrival := time.Now()
	if !s.authorized(w, r) {
		return
	}
	var req completionRequest
	bp := bodyPool.Get().(*[]byte)
	body, err := readBody(r, (*bp)[:0])
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if cap(body) <= 1<<20 {
		*bp = body[:0]
	}
	bodyPool.Put(bp)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequestError", "request body is not valid JSON: "+err.Error())
		return
	}
	// The request arrived when its last bytes did: the kernel's receive
	// time where the connection knows it, not when this handler ran.
	if c, ok := r.Context().Value(connKey{}).(*stampconn.Conn); ok {
		if a := c.Arrival(); !a.IsZero() {
			arrival = a
		}
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
	for _, p := range [2]*int{req.MaxTokens, req.MaxCompletionTokens} {
		if p != nil {
			if *p < 1 {
				writeError(w, http.StatusBadRequest, "BadRequestError", "max_tokens must be at least 1")
				return
			}
			maxTokens = *p
		}
	}
	n := s.reqs.Add(1)
	s.active.Add(1)
	s.m.running.Add(1)
	defer func() {
		s.active.Add(-1)
		s.m.running.Add(-1)
	}()
	promptTokens := countTokens(prompt)
	s.m.promptTokens.Add(uint64(promptTokens))

	g := &gen{
		s: s, w: w, chat: chat, q: s.cfg.Quirks, n: n,
		model:  s.modelJ[req.Model],
		seed:   fnvHash(prompt) ^ uint64(req.Seed),
		usage:  req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
		prompt: promptTokens, max: maxTokens,
		created: arrival.Unix(),
		log:     Log{Arrival: arrival, Stream: req.Stream, Status: http.StatusOK, MaxTokens: maxTokens, Seed: req.Seed},
		wt:      waiter{idx: -1},
	}
	lg := &g.log
	defer g.report()
	if s.cfg.FailRate > 0 && g.random().Float64() < s.cfg.FailRate {
		lg.Status, lg.Failure = http.StatusInternalServerError, "http_error"
		s.m.failed.Add(1)
		writeError(w, http.StatusInternalServerError, "InternalServerError", "injected failure")
		return
	}
	failAt, stallAt := -1, -1
	if req.Stream {
		if s.cfg.MidStreamErrorRate > 0 && g.random().Float64() < s.cfg.MidStreamErrorRate {
			failAt = maxTokens / 2
		} else if s.cfg.StallRate > 0 && g.random().Float64() < s.cfg.StallRate {
			stallAt = maxTokens / 2
		}
	}
	if s.cfg.OnDone != nil {
		lg.Due = make([]time.Time, 0, maxTokens)
		lg.Written = make([]time.Time, 0, maxTokens)
	}
	ctx := r.Context()
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

// fnvHash is 64-bit FNV-1a.
func fnvHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// gen writes one answer.
type gen struct {
	s       *Server
	w       http.ResponseWriter
	rc      *http.ResponseController
	chat    bool
	rng     *rand.Rand
	q       Quirks
	n       uint64 // the request's number, its id
	model   []byte
	created int64
	seed    uint64
	usage   bool
	prompt  int
	max     int
	log     Log
	firstAt time.Time
	events  int
	flushes int // flushes of the stream so far
	wt      waiter
	fire    func() // writeAt's work for the clock, made once
	fired   struct {
		b   []byte
		err error
		at  time.Time
	}
	reported bool
}

// random returns the request's random source, made on first use (its
// draws are the same whenever that is).
func (g *gen) random() *rand.Rand {
	if g.rng == nil {
		g.rng = rand.New(rand.NewPCG(g.s.cfg.Seed, g.n))
	}
	return g.rng
}

// delay draws a delay around mean, stretched by the current load.
func (g *gen) delay(mean time.Duration) time.Duration {
	if mean <= 0 {
		return 0
	}
	d := float64(mean)
	if j := g.s.cfg.Jitter; j > 0 {
		d *= math.Exp(j*g.random().NormFloat64() - j*j/2)
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

// wait blocks until t, the server stops or the client leaves; it reports
// whether to go on. The server's clock wakes it at t.
func (g *gen) wait(ctx context.Context, t time.Time) bool {
	if !t.After(time.Now()) {
		return ctx.Err() == nil
	}
	w := &g.wt
	if w.ch == nil {
		w.ch = make(chan struct{}, 1)
	}
	w.due, w.fire = t, nil
	g.s.clock.add(w)
	select {
	case <-w.ch:
		return ctx.Err() == nil
	case <-ctx.Done():
	case <-g.s.closing:
	}
	g.s.clock.remove(w)
	return false
}

// writeLimit bounds how long the clock's write to one stream may block (a
// client that stopped reading and let its socket fill), since every other
// stream's due token waits behind it.
const writeLimit = 100 * time.Millisecond

// writeAt has the server's clock write b at t, in the clock's own
// goroutine (see clock), and waits for it. It returns when the bytes went
// out, or the failure to log: "client_gone" when the client left, the
// server stopped or the write failed, "write_timeout" when the write
// blocked for writeLimit.
func (g *gen) writeAt(ctx context.Context, t time.Time, b []byte) (at time.Time, failure string) {
	w := &g.wt
	if w.ch == nil {
		w.ch = make(chan struct{}, 1)
	}
	if g.fire == nil {
		g.fire = func() {
			g.rc.SetWriteDeadline(time.Now().Add(writeLimit))
			g.fired.err = g.flush(g.fired.b, true)
			g.fired.at = time.Now()
			g.rc.SetWriteDeadline(time.Time{})
		}
	}
	if g.rc == nil {
		g.rc = http.NewResponseController(g.w)
	}
	g.fired.b = b
	w.due, w.fire = t, g.fire
	g.s.clock.add(w)
	select {
	case <-w.ch:
		switch err := g.fired.err; {
		case err == nil:
			return g.fired.at, ""
		case errors.Is(err, os.ErrDeadlineExceeded):
			return time.Time{}, "write_timeout"
		default:
			return time.Time{}, "client_gone"
		}
	case <-ctx.Done():
	case <-g.s.closing:
	}
	g.s.clock.remove(w) // waits for a write under way
	return time.Time{}, "client_gone"
}

func (g *gen) whole(ctx context.Context, arrival time.Time) {
	// The schedule is drawn step by step so that load changes stretch it
	// as they happen.
	t := arrival.Add(g.delay(g.s.cfg.TTFT + time.Duration(g.prompt)*g.s.cfg.PrefillPerToken))
	for i := 0; i < g.max; i++ {
		if i > 0 {
			t = t.Add(g.delay(g.s.cfg.ITL))
		}
		if !g.wait(ctx, t) {
			g.log.Failure = "client_gone"
			return
		}
		if i == 0 {
			g.firstAt = time.Now()
		}
		if g.log.Due != nil {
			g.log.Due = append(g.log.Due, t)
		}
	}
	g.s.m.genTokens.Add(uint64(g.max))
	bp := bodyPool.Get().(*[]byte)
	defer bodyPool.Put(bp)
	b := g.head((*bp)[:0])
	if g.chat {
		b = append(b, `","object":"chat.completion","created":`...)
	} else {
		b = append(b, `","object":"text_completion","created":`...)
	}
	b = g.tail(b)
	if g.chat {
		b = append(b, `"message":{"role":"assistant","content":"`...)
	} else {
		b = append(b, `"text":"`...)
	}
	for i := 0; i < g.max; i++ {
		b = append(b, g.token(i)...) // vocabulary words need no escaping
	}
	b = append(b, '"')
	if g.chat {
		b = append(b, '}')
	}
	b = append(b, `,"finish_reason":"length"}],"usage":`...)
	b = g.appendUsage(b)
	b = append(b, "}\n"...)
	h := g.w.Header()
	h["Content-Type"] = jsonType
	h["Date"] = nil // net/http would format one per response; the sim needs none
	if len(b) > 2000 {
		// Smaller answers are measured by net/http itself.
		h["Content-Length"] = []string{strconv.Itoa(len(b))}
	}
	now := time.Now()
	if g.s.cfg.OnDone != nil {
		// The answer is complete only with its last byte: report first.
		g.w.Write(b[:len(b)-1])
		g.log.Written = appendTimes(g.log.Written, now, g.max)
		g.report()
		g.w.Write(b[len(b)-1:])
	} else {
		g.w.Write(b)
	}
	if cap(b) <= 1<<20 {
		*bp = b[:0]
	}
}

func appendTimes(ts []time.Time, t time.Time, n int) []time.Time {
	for range n {
		ts = append(ts, t)
	}
	return ts
}

// report hands the request's log to Config.OnDone, once.
func (g *gen) report() {
	if g.s.cfg.OnDone != nil && !g.reported {
		g.reported = true
		g.s.cfg.OnDone(g.log)
	}
}

// head appends the start of an answer or chunk, up to its id.
func (g *gen) head(b []byte) []byte {
	if g.chat {
		b = append(b, `{"id":"chatcmpl-`...)
	} else {
		b = append(b, `{"id":"cmpl-`...)
	}
	return strconv.AppendUint(b, g.n, 10)
}

// tail appends the creation time, the model and the start of the choice.
func (g *gen) tail(b []byte) []byte {
	b = strconv.AppendInt(b, g.created, 10)
	b = append(b, `,"model":`...)
	b = append(b, g.model...)
	return append(b, `,"choices":[{"index":0,`...)
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
		b = g.head(b)
		if g.chat {
			b = append(b, `","object":"chat.completion.chunk","created":`...)
		} else {
			b = append(b, `","object":"text_completion","created":`...)
		}
		b = g.tail(b)
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
//
// With SplitWrites the stream's first bytes go out one by one (unless
// timed: the clock writes them at a deadline), and every later flush in two
// writes, cut at a place that moves from flush to flush (see splitAt). Two
// writes per flush, not one per line, keep the quirk cheap: a flush is due
// at a token's deadline, and every extra write, and the client's read of
// it, would make the next due token late.
func (g *gen) flush(b []byte, timed bool) error {
	if len(b) == 0 {
		return nil
	}
	if g.rc == nil {
		g.rc = http.NewResponseController(g.w)
	}
	write := func(p []byte) error {
		if _, err := g.w.Write(p); err != nil {
			return err
		}
		return g.rc.Flush()
	}
	if !g.q.SplitWrites {
		return write(b)
	}
	g.flushes++
	if g.flushes == 1 && !timed {
		// The start of the stream byte by byte: enough to cut its first
		// line everywhere. Not for a token due now (the clock writes it,
		// and every other stream's token waits meanwhile).
		n := min(len(b), startBytes)
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
	cut := splitAt(b, g.flushes)
	if cut > 0 && cut < len(b) {
		if err := write(b[:cut]); err != nil {
			return err
		}
		b = b[cut:]
	}
	return write(b)
}

// startBytes is how many bytes at the start of a stream go out one by one
// with SplitWrites: the first line and the start of the next whatever the
// other quirks. Each is a write and a read of its own, taken from the
// tokens of other streams due meanwhile, so no more than that.
const startBytes = 16

// splitAt returns where to cut b, one or more events, the k-th flush of a
// stream. Over any five flushes in a row the cut falls inside the first
// line's field name, inside the first data line's value, between the CR
// and LF of its end (after the line end when it is a lone LF), between
// the data line and the blank line that closes its event, and between the
// first event and the next. It returns len(b) when there is no such place.
func splitAt(b []byte, k int) int {
	data := 0 // the first data line
	if !bytes.HasPrefix(b, []byte("data")) {
		data = bytes.Index(b, []byte("\ndata")) + 1
	}
	switch k % 5 {
	case 0:
		return min(2, len(b))
	case 1:
		if end := lineEnd(b, data); data < end {
			return data + (end-data)/2 + 1
		}
		return len(b)
	case 2:
		return min(lineEnd(b, data)+1, len(b))
	case 3:
		return afterLine(b, data)
	default:
		// The blank line ends the event: the byte after it.
		return afterLine(b, afterLine(b, data))
	}
}

// lineEnd returns the index of the CR or LF that ends the line starting at
// i (len(b) if none).
func lineEnd(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	if j := bytes.IndexAny(b[i:], "\r\n"); j >= 0 {
		return i + j
	}
	return len(b)
}

// afterLine returns where the line after the one starting at i starts.
func afterLine(b []byte, i int) int {
	e := lineEnd(b, i)
	if e < len(b) && b[e] == '\r' {
		e++
	}
	return min(e+1, len(b))
}

func (g *gen) stream(ctx context.Context, arrival time.Time, failAt, stallAt int) {
	h := g.w.Header()
	h["Content-Type"] = eventType
	h["Cache-Control"] = noCache
	h["Date"] = nil
	g.w.WriteHeader(http.StatusOK)
	bp := bodyPool.Get().(*[]byte)
	b := (*bp)[:0]
	defer func() {
		if cap(b) <= 1<<20 {
			*bp = b[:0]
		}
		bodyPool.Put(bp)
	}()
	if g.q.RoleChunk {
		b = g.chunk(b, nil, "")
	}
	if err := g.flush(b, false); err != nil {
		g.log.Failure = "client_gone"
		return
	}
	b = b[:0]
	t := arrival.Add(g.delay(g.s.cfg.TTFT + time.Duration(g.prompt)*g.s.cfg.PrefillPerToken))
	pending := 0 // tokens in b, not yet written
	sent := 0
	// wrote logs the pending tokens as written at at.
	wrote := func(at time.Time) {
		if g.log.Written != nil {
			for range pending {
				g.log.Written = append(g.log.Written, at)
			}
		}
		if sent == 0 && pending > 0 {
			g.firstAt = at
		}
		sent += pending
		pending = 0
		b = b[:0]
	}
	writeOut := func() bool {
		if err := g.flush(b, false); err != nil {
			g.log.Failure = "client_gone"
			return false
		}
		wrote(time.Now())
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
			g.flush(b, false)
			return
		}
		ahead := time.Until(t) > 0
		if ahead && pending > 0 {
			// Tokens that came due while the schedule ran behind: out
			// before waiting for this one.
			if !writeOut() {
				return
			}
		}
		if ctx.Err() != nil {
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
		if ahead {
			// Built ahead of its deadline: the clock writes it then. A
			// token already due stays in b, to go out with the next write.
			at, failure := g.writeAt(ctx, t, b)
			if failure != "" {
				g.log.Failure = failure
				return
			}
			wrote(at)
		}
	}
	g.s.m.genTokens.Add(uint64(g.max))
	if g.s.cfg.OnDone != nil {
		// The last tokens, then the report, then the end of the stream.
		if !writeOut() {
			return
		}
		g.report()
	}
	if g.usage {
		b = g.event(b, func(b []byte) []byte {
			if g.chat {
				b = append(b, `{"id":"chatcmpl-`...)
			} else {
				b = append(b, `{"id":"cmpl-`...)
			}
			b = strconv.AppendUint(b, g.n, 10)
			b = append(b, `","object":"`...)
			if g.chat {
				b = append(b, "chat.completion.chunk"...)
			} else {
				b = append(b, "text_completion"...)
			}
			b = append(b, `","created":`...)
			b = strconv.AppendInt(b, g.created, 10)
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
	l.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: time.Minute,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	go func() {
		defer close(l.done)
		l.srv.Serve(stampListener{ln})
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

// stampListener accepts connections that note when their bytes arrived.
type stampListener struct{ net.Listener }

func (l stampListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return stampconn.New(c), nil
}
