// Package openai is the model driver for inference servers that speak the
// OpenAI HTTP API (vLLM, SGLang, TGI, llama.cpp, Ollama and OpenAI itself):
// /v1/completions or /v1/chat/completions, streamed as server-sent events
// by default.
//
// Its SSE reader stamps every chunk with the arrival time of the bytes that
// completed it, so that time to first token and inter-token latency are
// measured the way vLLM's serving benchmark defines them, and it survives
// the quirks real servers have (see SSEReader and Model.InferStream). Its
// connection pool is sized to the load (SetConcurrency), with no hidden
// cap. The API key is read from an environment variable and kept out of
// every error, result and log.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/inference-pio/piobench/internal/stampconn"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/inference-pio/piobench/model"
)

// Errors a Load can wrap, so that callers can tell configuration problems
// apart with errors.Is.
var (
	ErrUnreachable  = errors.New("endpoint unreachable")
	ErrUnauthorized = errors.New("endpoint refused the credentials")
	ErrUnknownModel = errors.New("model not served")
	ErrStalled      = errors.New("stream stalled")
	// ErrTooLarge: the server sent more than Options.MaxBody bytes in one
	// response (an endless stream, a runaway body).
	ErrTooLarge = errors.New("response too large")
)

// An HTTPError is a response with a status other than 200.
type HTTPError struct {
	StatusCode int
	Path       string // request path, such as /v1/completions
	Message    string // the server's message, from its JSON error body when it sent one
}

func (e *HTTPError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("HTTP %d from %s: %s", e.StatusCode, e.Path, msg)
}

// A StreamError is an error object a server sent in the middle of a stream.
type StreamError struct {
	Message string
	Chunks  int // content chunks received before it
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("server error mid-stream after %d chunks: %s", e.Chunks, e.Message)
}

// API selects the endpoint requests go to.
type API string

const (
	Completions API = "completions"       // POST /v1/completions with a prompt
	Chat        API = "chat"              // POST /v1/chat/completions with one user message
	chatPath        = "/chat/completions" // under the base
	complPath       = "/completions"
)

// Options configure a Model. From the command line and model folders they
// arrive as model.Config.Options, with the keys named in each field.
type Options struct {
	Endpoint     string        // "endpoint": base URL, such as http://127.0.0.1:8000 (a trailing /v1 is optional)
	ModelID      string        // "model_id": the served model's id; empty: the only one /v1/models lists
	API          API           // "api": completions (default) or chat
	APIKeyEnv    string        // "api_key_env": environment variable holding the API key
	NoStream     bool          // "stream": "false" asks for whole answers
	NoUsage      bool          // "usage": "false" leaves out stream_options.include_usage
	Timeout      time.Duration // "timeout": limit per request (0: none)
	StallTimeout time.Duration // "stall_timeout": longest silence before a request fails (default 5m)
	Concurrency  int           // "concurrency": connection pool size (0: unlimited connections)
	Name         string        // "name": name in results (default: the model id)
	MaxBody      int64         // "max_response_bytes": largest response body accepted, streamed or not (default 64 MiB)
}

// ParseOptions reads Options from a driver configuration's string options.
// Unknown keys are errors.
func ParseOptions(opts map[string]string) (Options, error) {
	var o Options
	for k, v := range opts {
		var err error
		switch k {
		case "endpoint":
			o.Endpoint = v
		case "model_id", "model":
			o.ModelID = v
		case "api":
			o.API = API(v)
		case "api_key_env":
			o.APIKeyEnv = v
		case "stream":
			var b bool
			b, err = strconv.ParseBool(v)
			o.NoStream = !b
		case "usage":
			var b bool
			b, err = strconv.ParseBool(v)
			o.NoUsage = !b
		case "timeout":
			o.Timeout, err = time.ParseDuration(v)
		case "stall_timeout":
			o.StallTimeout, err = time.ParseDuration(v)
		case "concurrency":
			o.Concurrency, err = strconv.Atoi(v)
		case "name":
			o.Name = v
		case "max_response_bytes":
			o.MaxBody, err = strconv.ParseInt(v, 10, 64)
			if err == nil && o.MaxBody <= 0 {
				return o, fmt.Errorf("openai: option %s=%q: must be positive", k, v)
			}
		default:
			return o, fmt.Errorf("openai: unknown option %q (known: endpoint, model_id, api, api_key_env, stream, usage, timeout, stall_timeout, concurrency, name, max_response_bytes)", k)
		}
		if err != nil {
			return o, fmt.Errorf("openai: option %s=%q: %v", k, v, errors.Unwrap(err))
		}
	}
	return o, nil
}

// secret holds an API key and never prints it.
type secret string

func (secret) String() string   { return "[redacted]" }
func (secret) GoString() string { return "[redacted]" }

// A Model is a model behind an OpenAI-compatible server. It is safe for
// concurrent use: every request runs on its own connection from the pool.
type Model struct {
	opts    Options
	base    *url.URL // with /v1
	display string   // base URL without user info, for messages
	urls    map[string]string
	posts   map[string]*url.URL // parsed URLs of the completion paths
	header  http.Header         // headers of every completion request (read-only)
	key     secret

	mu     sync.RWMutex
	client *http.Client
	tr     *http.Transport
	closed bool
}

var (
	_ model.Streamer          = (*Model)(nil)
	_ model.ConcurrentInferer = (*Model)(nil)
	_ model.Describer         = (*Model)(nil)
)

func init() {
	model.Register(model.Driver{
		Name: "openai",
		Doc:  "a model behind an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, Ollama): --endpoint URL --model-id NAME",
		Open: func(cfg model.Config) (model.Model, error) {
			o, err := ParseOptions(cfg.Options)
			if err != nil {
				return nil, err
			}
			if o.Name == "" {
				o.Name = cfg.Name
			}
			return New(o)
		},
	})
}

// New returns a Model for o. It checks the options and reads the API key
// from the environment, but does not contact the server (Load does).
func New(o Options) (*Model, error) {
	if o.Endpoint == "" {
		return nil, errors.New("openai: no endpoint: give the server's base URL, such as http://127.0.0.1:8000")
	}
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai: endpoint %q: want an http:// or https:// URL with a host", redactURL(o.Endpoint))
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/v1") {
		u.Path += "/v1"
	}
	switch o.API {
	case "":
		o.API = Completions
	case Completions, Chat:
	default:
		return nil, fmt.Errorf("openai: api %q: want completions or chat", o.API)
	}
	if o.Concurrency < 0 {
		return nil, fmt.Errorf("openai: concurrency %d: must not be negative", o.Concurrency)
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = 5 * time.Minute
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 64 << 20
	}
	m := &Model{opts: o, base: u, display: u.Redacted(), urls: map[string]string{}, posts: map[string]*url.URL{}}
	for _, p := range []string{"/models", complPath, chatPath} {
		v := *u
		v.Path += p
		m.urls[p] = v.String()
		if p != "/models" {
			m.posts[p], err = url.Parse(m.urls[p])
			if err != nil {
				return nil, fmt.Errorf("openai: endpoint %q: %v", redactURL(o.Endpoint), err)
			}
		}
	}
	if o.APIKeyEnv != "" {
		v, ok := os.LookupEnv(o.APIKeyEnv)
		if !ok || v == "" {
			return nil, fmt.Errorf("openai: environment variable %s (named for the API key) is not set", o.APIKeyEnv)
		}
		m.key = secret(v)
	}
	// Shared by every request and never changed: the transport only reads
	// a request's headers.
	m.header = http.Header{
		"Content-Type": {"application/json"},
		"Accept":       {"application/json, text/event-stream"},
	}
	if m.key != "" {
		m.header["Authorization"] = []string{"Bearer " + string(m.key)}
	}
	m.client, m.tr = newClient(o.Concurrency)
	return m, nil
}

func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

func newClient(conns int) (*http.Client, *http.Transport) {
	idle := conns
	if idle <= 0 {
		idle = 256
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		// Connections note when requests leave and answers arrive.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return stampconn.New(c), nil
		},
		MaxConnsPerHost:       conns, // 0: no limit
		MaxIdleConns:          0,     // no limit overall
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   30 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // compression would hold back streamed chunks
		ForceAttemptHTTP2:     true,
		ReadBufferSize:        16 << 10,
		WriteBufferSize:       4 << 10,
	}
	return &http.Client{Transport: tr}, tr
}

// SetConcurrency sizes the connection pool for n requests in flight at
// once: at most n connections to the server and n kept idle between
// requests; n <= 0 removes the limit. Call it between loads, not during one.
func (m *Model) SetConcurrency(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n < 0 {
		n = 0
	}
	if n == m.opts.Concurrency && m.tr != nil {
		return
	}
	old := m.tr
	m.opts.Concurrency = n
	m.client, m.tr = newClient(n)
	if old != nil {
		old.CloseIdleConnections()
	}
}

// MaxConcurrency implements model.ConcurrentInferer: the pool size, 0 when
// unlimited.
func (m *Model) MaxConcurrency() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.opts.Concurrency
}

// String describes the model without its API key (fmt cannot be trusted
// with the struct's fields).
func (m *Model) String() string {
	return fmt.Sprintf("openai model %q at %s", m.opts.ModelID, m.display)
}

// GoString is String, for %#v.
func (m *Model) GoString() string { return m.String() }

// ModelID returns the served model's id (known after Load when it was
// left empty).
func (m *Model) ModelID() string { return m.opts.ModelID }

// Endpoint returns the base URL, without user information.
func (m *Model) Endpoint() string { return m.display }

// Info implements model.Describer. It never holds the API key.
func (m *Model) Info() model.Info {
	name := m.opts.Name
	if name == "" {
		name = m.opts.ModelID
	}
	if name == "" {
		name = "openai@" + m.base.Host
	}
	p := map[string]any{
		"endpoint": m.display,
		"model_id": m.opts.ModelID,
		"api":      string(m.opts.API),
		"stream":   !m.opts.NoStream,
	}
	if m.opts.APIKeyEnv != "" {
		p["api_key_env"] = m.opts.APIKeyEnv
	}
	return model.Info{Name: name, Driver: "openai", Params: p}
}

func (m *Model) httpClient() (*http.Client, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, errors.New("openai: model is closed")
	}
	return m.client, nil
}

func (m *Model) newRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, m.urls[path], r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	if m.key != "" {
		req.Header.Set("Authorization", "Bearer "+string(m.key))
	}
	return req, nil
}

// Load checks that the server answers and serves the model: GET /v1/models
// must list the model id (a server without that route is taken on trust).
// With no model id configured, the only model listed is used.
func (m *Model) Load(ctx context.Context) error { return m.scrub(m.load(ctx)) }

func (m *Model) load(ctx context.Context) error {
	c, err := m.httpClient()
	if err != nil {
		return err
	}
	req, err := m.newRequest(ctx, http.MethodGet, "/models", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return m.transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %s answered HTTP %d (%s); set the key's variable with --api-key-env", ErrUnauthorized, m.display, resp.StatusCode, errorBody(body))
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		if m.opts.ModelID == "" {
			return fmt.Errorf("%w: %s has no /v1/models route; name the model with --model-id", ErrUnknownModel, m.display)
		}
		return nil
	case resp.StatusCode != http.StatusOK:
		return &HTTPError{StatusCode: resp.StatusCode, Path: m.base.Path + "/models", Message: errorBody(body)}
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return fmt.Errorf("%s/models: answer is not a model list: %v", m.display, err)
	}
	ids := make([]string, len(list.Data))
	for i, d := range list.Data {
		ids[i] = d.ID
		if d.ID == m.opts.ModelID {
			return nil
		}
	}
	if m.opts.ModelID == "" {
		if len(ids) == 1 {
			m.opts.ModelID = ids[0]
			return nil
		}
		return fmt.Errorf("%w: %s serves %d models (%s); choose one with --model-id", ErrUnknownModel, m.display, len(ids), strings.Join(ids, ", "))
	}
	return fmt.Errorf("%w: %s does not serve model %q (it serves: %s)", ErrUnknownModel, m.display, m.opts.ModelID, strings.Join(ids, ", "))
}

// transportError describes a failure to talk to the server.
func (m *Model) transportError(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		if errors.Is(cause, ErrStalled) {
			return cause
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	var op *net.OpError
	if errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial") {
		return fmt.Errorf("%w: cannot reach %s: %v", ErrUnreachable, m.display, rootCause(err))
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return fmt.Errorf("%w: cannot reach %s: %v", ErrUnreachable, m.display, dns)
	}
	return err
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// Close releases the connection pool. It is safe to call more than once.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed && m.tr != nil {
		m.tr.CloseIdleConnections()
	}
	m.closed = true
	return nil
}

// Infer implements model.Model: it streams unless the model was opened
// with streaming off (then the whole answer comes in one body, and the
// first token is taken to arrive with it).
func (m *Model) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	return m.scrubbed(m.do(ctx, req, !m.opts.NoStream, nil))
}

// stallReader fails a stream that stays silent too long: every read that
// returns bytes notes the time, and the stall timer, when it fires, checks
// how long the silence has really lasted (so reads never reset a timer).
type stallReader struct {
	r       io.Reader
	last    atomic.Int64 // nanoseconds after epoch of the last bytes
	t       *time.Timer
	stopped atomic.Bool
}

// epoch anchors the monotonic nanosecond counts kept in atomics.
var epoch = time.Now()

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.last.Store(int64(time.Since(epoch)))
	}
	return n, err
}

// watch cancels with ErrStalled once nothing has arrived for d: its timer
// fires when the silence since the last bytes would reach d, until stop.
func (s *stallReader) watch(d time.Duration, cancel context.CancelCauseFunc) {
	s.last.Store(int64(time.Since(epoch)))
	s.t = time.AfterFunc(time.Duration(math.MaxInt64), func() {
		if s.stopped.Load() {
			return
		}
		silent := time.Since(epoch) - time.Duration(s.last.Load())
		if silent >= d {
			cancel(fmt.Errorf("%w: no bytes from the server for %v", ErrStalled, d))
			return
		}
		s.t.Reset(d - silent)
	})
	s.t.Reset(d) // only now: the function reads s.t
}

func (s *stallReader) stop() {
	s.stopped.Store(true)
	s.t.Stop()
}

// InferStream implements model.Streamer: it always streams, whatever the
// model's stream option. fn, when not nil, sees the text of every chunk
// that carries content (or reasoning content) as it arrives.
//
// Response.Start is the send time: on HTTP/1, when the request's first
// byte was written to its connection (time spent getting a connection is
// the client's queue, not the server's latency); otherwise just before the
// request went to the transport. FirstToken is the arrival of the first
// chunk with non-empty content; ChunkTimes holds the arrival of every such
// chunk; Duration is the arrival of the last byte. An arrival is the
// kernel's receive time of the read that brought the bytes where the
// connection can tell it (Linux), else the time that read returned. OutputTokens is the server's usage when it reported one, else the
// client's count of content chunks; both are kept. A stream may end with
// or without "data: [DONE]". An error object mid-stream, a malformed
// chunk, a stall or an HTTP error fails the request; the response returned
// with the error holds what arrived before it.
func (m *Model) InferStream(ctx context.Context, req model.Request, fn func(model.Token) error) (model.Response, error) {
	return m.scrubbed(m.do(ctx, req, true, fn))
}

// An exchange follows one request through the transport: which connection
// carried it.
type exchange struct {
	trace httptrace.ClientTrace
	conn  atomic.Pointer[stampconn.Conn]
}

func (x *exchange) gotConn(info httptrace.GotConnInfo) {
	c := info.Conn
	if n, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS
		c = n.NetConn()
	}
	if sc, ok := c.(*stampconn.Conn); ok {
		sc.MarkSend()
		x.conn.Store(sc)
	}
}

func (x *exchange) stamps() *stampconn.Conn { return x.conn.Load() }

// arrival returns when the bytes of sc's latest read arrived, the moment
// the caller's bytes (which came with that read or an earlier one) were
// known at the latest; without sc, or a stamp not after the request's
// send, the time now.
func arrival(sc *stampconn.Conn, sent time.Time) time.Time {
	now := time.Now()
	if sc == nil {
		return now
	}
	if a := sc.Arrival(); a.After(sent) && !a.After(now) {
		return a
	}
	return now
}

// bufPool holds request bodies and non-streamed answers between requests.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func (m *Model) do(ctx context.Context, req model.Request, stream bool, fn func(model.Token) error) (model.Response, error) {
	c, err := m.httpClient()
	if err != nil {
		return model.Response{}, err
	}
	if err := ctx.Err(); err != nil {
		return model.Response{}, err
	}
	path := complPath
	if m.opts.API == Chat {
		path = chatPath
	}
	// The body stays with the request (the transport may read it again to
	// retry on a connection the server had closed), so it is not pooled.
	data, err := m.appendBody(make([]byte, 0, 160+len(req.Prompt)), req, stream)
	if err != nil {
		return model.Response{}, fmt.Errorf("openai: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if m.opts.Timeout > 0 {
		var tc context.CancelFunc
		ctx, tc = context.WithTimeout(ctx, m.opts.Timeout)
		defer tc()
	}
	proto := http.Request{
		Method:     http.MethodPost,
		URL:        m.posts[path],
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     m.header,
		// A type net/http knows to be in memory, so that headers and body
		// leave in one write.
		Body:          io.NopCloser(bytes.NewReader(data)),
		ContentLength: int64(len(data)),
		GetBody: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		},
		Host: m.posts[path].Host,
	}
	x := &exchange{}
	x.trace.GotConn = x.gotConn
	hreq := proto.WithContext(httptrace.WithClientTrace(ctx, &x.trace))
	sr := &stallReader{}
	sr.watch(m.opts.StallTimeout, cancel)
	defer sr.stop()

	var resp model.Response
	resp.Start = time.Now()
	// The transport itself: no redirects to follow, no cookies to keep.
	hresp, err := c.Transport.RoundTrip(hreq)
	if err != nil {
		return resp, m.transportError(ctx, err)
	}
	sc := x.stamps()
	if sc != nil && hresp.ProtoMajor == 1 {
		// On HTTP/1 the first write after the connection was handed over
		// is this request's: it was sent then, not when it was queued.
		if t := sc.SentAt(); !t.IsZero() && t.After(resp.Start) {
			resp.Start = t
		}
	}
	defer hresp.Body.Close()
	sr.r = newCapReader(hresp.Body, m.opts.MaxBody)
	sr.last.Store(int64(time.Since(epoch)))
	if hresp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(sr, 64<<10))
		resp.Duration = time.Since(resp.Start)
		return resp, &HTTPError{StatusCode: hresp.StatusCode, Path: m.base.Path + path, Message: errorBody(b)}
	}
	ct := hresp.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "text/event-stream") {
		err = m.readWhole(sr, hresp.ContentLength, sc, &resp, fn)
	} else {
		err = m.readStream(sr, req.MaxTokens, sc, &resp, fn)
		if err == nil {
			drain(hresp.Body)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return resp, m.transportError(ctx, err)
		}
		return resp, err
	}
	return resp, nil
}

// drainWait and drainMax bound how long and how much drain reads.
const (
	drainWait = 20 * time.Millisecond
	drainMax  = 64 << 10
)

// drain reads what is left of a finished stream's body. A stream ends with
// "data: [DONE]", often a write before the body's own end; a body closed
// before its end closes its connection too, and the next request would
// wait for a new one (a dial, counted in its TTFT). The end normally
// follows at once: a server that keeps the body open longer, or sends
// more, has its connection closed as before.
func drain(body io.ReadCloser) {
	t := time.AfterFunc(drainWait, func() { body.Close() })
	io.CopyN(io.Discard, body, drainMax)
	t.Stop()
}

// readWhole reads a non-streamed answer of size bytes (-1: unknown). The
// first token is taken to arrive with the whole answer.
func (m *Model) readWhole(r io.Reader, size int64, sc *stampconn.Conn, resp *model.Response, fn func(model.Token) error) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b := (*bp)[:0]
	if size > m.opts.MaxBody {
		return fmt.Errorf("answer larger than %d bytes", m.opts.MaxBody)
	}
	if size >= 0 && int64(cap(b)) < size+1 {
		b = make([]byte, 0, size+1)
	}
	var err error
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		var n int
		n, err = r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > m.opts.MaxBody {
			return fmt.Errorf("answer larger than %d bytes", m.opts.MaxBody)
		}
		if err != nil {
			break
		}
	}
	*bp = b[:0]
	end := arrival(sc, resp.Start).Sub(resp.Start)
	if err != io.EOF {
		return fmt.Errorf("reading the answer: %w", err)
	}
	var fc fastChunk
	var text string
	finish := ""
	if scanChunk(b, &fc) {
		text, finish = string(fc.text), finishReason(fc.finish)
		if fc.hasUsage {
			resp.PromptTokens = fc.usage.PromptTokens
			resp.ServerOutputTokens = fc.usage.CompletionTokens
			resp.OutputTokens = fc.usage.CompletionTokens
		}
	} else {
		var c chunk
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("malformed answer: %v", err)
		}
		if e := c.errorText(); e != "" {
			return &StreamError{Message: e}
		}
		text, finish = c.content()
		if c.Usage != nil {
			resp.PromptTokens = c.Usage.PromptTokens
			resp.ServerOutputTokens = c.Usage.CompletionTokens
			resp.OutputTokens = c.Usage.CompletionTokens
		}
	}
	resp.Text, resp.FinishReason = text, finish
	resp.Duration = end
	resp.FirstToken = end
	if text != "" && fn != nil {
		return fn(model.Token{ID: -1, Text: text, At: end})
	}
	return nil
}

// readStream reads a server-sent event stream into resp. maxTokens sizes
// the chunk times (0: unknown).
func (m *Model) readStream(r io.Reader, maxTokens int, sc *stampconn.Conn, resp *model.Response, fn func(model.Token) error) error {
	var now func() time.Time
	if sc != nil {
		start := resp.Start
		now = func() time.Time { return arrival(sc, start) }
	}
	sse := NewSSEReader(r, now, 0)
	if maxTokens > 0 {
		resp.ChunkTimes = make([]time.Duration, 0, min(maxTokens, 4096))
	}
	var text []byte
	var fc fastChunk
	var last time.Time
	done := false
	events := 0
	for !done {
		ev, err := sse.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			m.finish(resp, text, sse.LastRead())
			return fmt.Errorf("reading the stream after %d chunks: %w", len(resp.ChunkTimes), err)
		}
		events++
		d := bytes.TrimSpace(ev.Data)
		if bytes.Equal(d, []byte("[DONE]")) {
			done = true
			last = ev.At
			break
		}
		if len(d) == 0 {
			continue
		}
		var s []byte
		if ev.Name != "error" && scanChunk(d, &fc) {
			if fc.hasUsage {
				resp.PromptTokens = fc.usage.PromptTokens
				resp.ServerOutputTokens = fc.usage.CompletionTokens
			}
			if len(fc.finish) > 0 {
				resp.FinishReason = finishReason(fc.finish)
			}
			s = fc.text
		} else {
			var c chunk
			if err := json.Unmarshal(d, &c); err != nil {
				m.finish(resp, text, sse.LastRead())
				return fmt.Errorf("malformed SSE chunk (event %d): %v", events, err)
			}
			if e := c.errorText(); e != "" || ev.Name == "error" {
				if e == "" {
					e = string(d)
				}
				m.finish(resp, text, sse.LastRead())
				return &StreamError{Message: e, Chunks: len(resp.ChunkTimes)}
			}
			if c.Usage != nil {
				resp.PromptTokens = c.Usage.PromptTokens
				resp.ServerOutputTokens = c.Usage.CompletionTokens
			}
			str, finish := c.content()
			if finish != "" {
				resp.FinishReason = finish
			}
			s = []byte(str)
		}
		if len(s) == 0 {
			continue // role-only, empty or usage-only chunks carry no token
		}
		at := ev.At.Sub(resp.Start)
		if len(resp.ChunkTimes) == 0 {
			resp.FirstToken = at
		}
		resp.ChunkTimes = append(resp.ChunkTimes, at)
		text = append(text, s...)
		if fn != nil {
			if err := fn(model.Token{ID: -1, Text: string(s), At: at}); err != nil {
				m.finish(resp, text, sse.LastRead())
				return err
			}
		}
	}
	if last.IsZero() {
		last = sse.LastRead()
	}
	m.finish(resp, text, last)
	if len(resp.ChunkTimes) == 0 && resp.ServerOutputTokens == 0 && !done && sse.BytesRead() == 0 {
		return errors.New("empty stream: the server closed it without sending anything")
	}
	return nil
}

// finish fills in the response's totals from what was read.
func (m *Model) finish(resp *model.Response, text []byte, last time.Time) {
	resp.Text = string(text)
	if !last.IsZero() {
		resp.Duration = last.Sub(resp.Start)
	} else {
		resp.Duration = time.Since(resp.Start)
	}
	resp.ClientOutputTokens = len(resp.ChunkTimes)
	resp.OutputTokens = resp.ClientOutputTokens
	if resp.ServerOutputTokens > 0 {
		resp.OutputTokens = resp.ServerOutputTokens
	}
	if resp.ServerOutputTokens == resp.ClientOutputTokens || resp.ServerOutputTokens == 0 {
		// One token per chunk: chunk times are token times.
		resp.TokenTimes = resp.ChunkTimes
	}
}
