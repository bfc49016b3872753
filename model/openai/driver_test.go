package openai_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inference-pio/piobench/internal/testutil"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/openai"
	"github.com/inference-pio/piobench/sim"
)

// raw serves a stream written exactly as given: each piece written and
// flushed on its own, with pause between pieces.
func raw(t *testing.T, status int, ctype string, pause time.Duration, pieces ...string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			fmt.Fprint(w, `{"data":[{"id":"m"}]}`)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		for i, p := range pieces {
			if i > 0 && pause > 0 {
				select {
				case <-time.After(pause):
				case <-r.Context().Done():
					return
				}
			}
			if p == "STALL" {
				<-r.Context().Done()
				return
			}
			if p == "CLOSE" {
				c, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					c.Close()
				}
				return
			}
			w.Write([]byte(p))
			http.NewResponseController(w).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func open(t *testing.T, o openai.Options) *openai.Model {
	t.Helper()
	if o.ModelID == "" {
		o.ModelID = "m"
	}
	m, err := openai.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

const sse = "text/event-stream"

func chat(content string) string {
	return `data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"` + content + `"},"finish_reason":null}]}` + "\n\n"
}

func TestStreamQuirks(t *testing.T) {
	role := `data: {"choices":[{"index":0,"delta":{"role":"assistant"}}]}` + "\n\n"
	empty := `data: {"choices":[{"index":0,"delta":{"content":""}}]}` + "\n\n"
	usage := func(p, c int) string {
		return fmt.Sprintf(`data: {"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`+"\n\n", p, c, p+c)
	}
	done := "data: [DONE]\n\n"
	for _, tc := range []struct {
		name                string
		pieces              []string
		text                string
		out, server, client int
		prompt              int
		tokenTimes, wantErr bool
		errIs               error
		errContains, finish string
		chunkTimes          int
	}{
		{name: "role-only first chunk, usage-only last chunk", pieces: []string{role, chat("a"), chat("b"), usage(3, 2), done},
			text: "ab", out: 2, server: 2, client: 2, prompt: 3, tokenTimes: true, chunkTimes: 2},
		{name: "empty chunks are not tokens", pieces: []string{chat("a"), empty, chat("b"), empty, done},
			text: "ab", out: 2, client: 2, tokenTimes: true, chunkTimes: 2},
		{name: "reasoning content counts", pieces: []string{`data: {"choices":[{"delta":{"reasoning_content":"think"}}]}` + "\n\n", chat("x"), done},
			text: "thinkx", out: 2, client: 2, tokenTimes: true, chunkTimes: 2},
		{name: "completions text and finish reason", pieces: []string{`data: {"choices":[{"text":"a"}]}` + "\n\n", `data: {"choices":[{"text":"b","finish_reason":"length"}]}` + "\n\n", done},
			text: "ab", out: 2, client: 2, tokenTimes: true, finish: "length", chunkTimes: 2},
		{name: "server and client counts disagree", pieces: []string{chat("ab"), chat("cd"), usage(1, 4), done},
			text: "abcd", out: 4, server: 4, client: 2, prompt: 1, chunkTimes: 2},
		{name: "no [DONE]", pieces: []string{chat("a"), chat("b")}, text: "ab", out: 2, client: 2, tokenTimes: true, chunkTimes: 2},
		{name: "CRLF, comments, no space, split writes", pieces: []string{": hi\r\n", "da", "ta:", `{"choices":[{"delta":{"content":"a"}}]}` + "\r", "\n\r\n", chat("b")},
			text: "ab", out: 2, client: 2, tokenTimes: true, chunkTimes: 2},
		{name: "error object mid-stream", pieces: []string{chat("a"), `data: {"error":{"message":"out of memory","type":"InternalServerError"}}` + "\n\n"},
			wantErr: true, errContains: "out of memory", text: "a", out: 1, client: 1, chunkTimes: 1, tokenTimes: true},
		{name: "vLLM error object", pieces: []string{chat("a"), `data: {"object":"error","message":"engine died"}` + "\n\n"},
			wantErr: true, errContains: "engine died", text: "a", out: 1, client: 1, chunkTimes: 1, tokenTimes: true},
		{name: "event: error", pieces: []string{"event: error\ndata: {\"detail\":\"x\"}\n\n"}, wantErr: true, errContains: "mid-stream"},
		{name: "malformed chunk", pieces: []string{chat("a"), "data: {not json\n\n"}, wantErr: true, errContains: "malformed SSE chunk", text: "a", out: 1, client: 1, chunkTimes: 1, tokenTimes: true},
		{name: "connection closed mid-line", pieces: []string{chat("a"), "data: {\"choi", "CLOSE"}, wantErr: true, text: "a", out: 1, client: 1, chunkTimes: 1, tokenTimes: true},
		{name: "empty stream", pieces: []string{}, wantErr: true, errContains: "empty stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.NoLeaks(t)
			url := raw(t, 200, sse, 0, tc.pieces...)
			m := open(t, openai.Options{Endpoint: url, API: openai.Chat})
			var seen []string
			resp, err := m.InferStream(context.Background(), model.Request{Prompt: "p", MaxTokens: 8}, func(tok model.Token) error {
				seen = append(seen, tok.Text)
				return nil
			})
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error; response %+v", resp)
				}
				if !strings.Contains(err.Error(), tc.errContains) {
					t.Errorf("error %q does not contain %q", err, tc.errContains)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if resp.Text != tc.text || resp.OutputTokens != tc.out || resp.ServerOutputTokens != tc.server || resp.ClientOutputTokens != tc.client || resp.PromptTokens != tc.prompt {
				t.Errorf("text %q out %d server %d client %d prompt %d; want %q %d %d %d %d",
					resp.Text, resp.OutputTokens, resp.ServerOutputTokens, resp.ClientOutputTokens, resp.PromptTokens,
					tc.text, tc.out, tc.server, tc.client, tc.prompt)
			}
			if len(resp.ChunkTimes) != tc.chunkTimes || len(seen) != tc.chunkTimes {
				t.Errorf("%d chunk times, %d callbacks; want %d", len(resp.ChunkTimes), len(seen), tc.chunkTimes)
			}
			if (len(resp.TokenTimes) > 0) != tc.tokenTimes {
				t.Errorf("token times %v, want present=%v", resp.TokenTimes, tc.tokenTimes)
			}
			if tc.finish != "" && resp.FinishReason != tc.finish {
				t.Errorf("finish %q, want %q", resp.FinishReason, tc.finish)
			}
			if len(resp.ChunkTimes) > 0 && resp.FirstToken != resp.ChunkTimes[0] {
				t.Errorf("FirstToken %v != first chunk %v", resp.FirstToken, resp.ChunkTimes[0])
			}
		})
	}
}

func TestChunkTiming(t *testing.T) {
	// Chunks 40 ms apart: TTFT after the first, ITL about 40 ms, E2E after
	// the last byte ([DONE], another 40 ms later).
	url := raw(t, 200, sse, 40*time.Millisecond, chat("a"), chat("b"), chat("c"), "data: [DONE]\n\n")
	m := open(t, openai.Options{Endpoint: url, API: openai.Chat})
	resp, err := m.Infer(context.Background(), model.Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ChunkTimes) != 3 {
		t.Fatalf("chunk times %v", resp.ChunkTimes)
	}
	for i := 1; i < 3; i++ {
		gap := resp.ChunkTimes[i] - resp.ChunkTimes[i-1]
		if gap < 35*time.Millisecond || gap > 200*time.Millisecond {
			t.Errorf("gap %d = %v, want about 40ms", i, gap)
		}
	}
	if d := resp.Duration - resp.ChunkTimes[2]; d < 35*time.Millisecond {
		t.Errorf("E2E %v ends only %v after the last chunk; want the [DONE] 40ms later", resp.Duration, d)
	}
}

func TestHTTPErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		ctype  string
		body   string
		want   string
	}{
		{500, "application/json", `{"error":{"message":"injected","type":"InternalServerError","code":500}}`, "HTTP 500 from /v1/chat/completions: injected"},
		{400, "application/json", `{"object":"error","message":"max_tokens is too large","type":"BadRequestError"}`, "HTTP 400 from /v1/chat/completions: max_tokens is too large"},
		{422, "application/json", `{"detail":"field required"}`, "HTTP 422 from /v1/chat/completions: field required"},
		{503, "text/plain", "overloaded\nsecond line", "HTTP 503 from /v1/chat/completions: overloaded"},
		{429, "text/plain", "", "HTTP 429 from /v1/chat/completions: Too Many Requests"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			url := raw(t, tc.status, tc.ctype, 0, tc.body)
			m := open(t, openai.Options{Endpoint: url, API: openai.Chat})
			_, err := m.Infer(context.Background(), model.Request{Prompt: "p"})
			var he *openai.HTTPError
			if !errors.As(err, &he) || he.StatusCode != tc.status {
				t.Fatalf("err = %v, want an HTTPError %d", err, tc.status)
			}
			if err.Error() != tc.want {
				t.Errorf("message %q, want %q", err, tc.want)
			}
		})
	}
}

func TestStallAndTimeout(t *testing.T) {
	testutil.NoLeaks(t)
	url := raw(t, 200, sse, 0, chat("a"), "STALL")
	m := open(t, openai.Options{Endpoint: url, API: openai.Chat, StallTimeout: 150 * time.Millisecond})
	start := time.Now()
	resp, err := m.Infer(context.Background(), model.Request{Prompt: "p"})
	if !errors.Is(err, openai.ErrStalled) {
		t.Fatalf("err = %v, want ErrStalled", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("stall noticed after %v", el)
	}
	if resp.ClientOutputTokens != 1 {
		t.Errorf("partial response: %d tokens, want the 1 before the stall", resp.ClientOutputTokens)
	}
	m2 := open(t, openai.Options{Endpoint: url, API: openai.Chat, Timeout: 150 * time.Millisecond})
	if _, err := m2.Infer(context.Background(), model.Request{Prompt: "p"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
}

func TestNotStreamedWhenServerIgnoresStream(t *testing.T) {
	url := raw(t, 200, "application/json", 0, `{"choices":[{"message":{"content":"whole"}}],"usage":{"prompt_tokens":2,"completion_tokens":3}}`)
	m := open(t, openai.Options{Endpoint: url, API: openai.Chat})
	resp, err := m.Infer(context.Background(), model.Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != "whole" || resp.OutputTokens != 3 || resp.FirstToken != resp.Duration {
		t.Errorf("%+v", resp)
	}
}

func TestLoadErrors(t *testing.T) {
	testutil.NoLeaks(t)
	const key = "sk-planted-7f3c9a1e5b"
	t.Setenv("PIOBENCH_TEST_KEY", key)
	l, err := sim.Listen("127.0.0.1:0", sim.Config{APIKey: key, Models: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name string
		o    openai.Options
		is   error
		msg  string
	}{
		{"unreachable", openai.Options{Endpoint: closed, ModelID: "a"}, openai.ErrUnreachable, "connection refused"},
		{"no key", openai.Options{Endpoint: l.URL, ModelID: "a"}, openai.ErrUnauthorized, "HTTP 401"},
		{"wrong model", openai.Options{Endpoint: l.URL, ModelID: "c", APIKeyEnv: "PIOBENCH_TEST_KEY"}, openai.ErrUnknownModel, `does not serve model "c" (it serves: a, b)`},
		{"ambiguous model", openai.Options{Endpoint: l.URL, APIKeyEnv: "PIOBENCH_TEST_KEY"}, openai.ErrUnknownModel, "serves 2 models"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := openai.New(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			err = m.Load(context.Background())
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.is, tc.msg)
			}
			if strings.Contains(err.Error(), key) {
				t.Errorf("error holds the API key: %v", err)
			}
		})
	}
	// With the key, everything works, and the key shows nowhere.
	m, err := openai.New(openai.Options{Endpoint: l.URL, ModelID: "a", APIKeyEnv: "PIOBENCH_TEST_KEY"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := m.Infer(context.Background(), model.Request{Prompt: "p", MaxTokens: 2})
	if err != nil || resp.OutputTokens != 2 {
		t.Fatalf("%v %+v", err, resp)
	}
	for _, s := range []string{fmt.Sprintf("%v %+v %#v", m, m, m), fmt.Sprintf("%+v", m.Info())} {
		if strings.Contains(s, key) {
			t.Errorf("the key shows in %q", s)
		}
	}
	if _, err := openai.New(openai.Options{Endpoint: l.URL, APIKeyEnv: "PIOBENCH_UNSET_VAR_X"}); err == nil || !strings.Contains(err.Error(), "PIOBENCH_UNSET_VAR_X") {
		t.Errorf("unset key variable: %v", err)
	}
	os.Unsetenv("PIOBENCH_UNSET_VAR_X")
}

func TestOptions(t *testing.T) {
	o, err := openai.ParseOptions(map[string]string{"endpoint": "http://h:1/v1/", "model_id": "x", "api": "chat", "stream": "false", "timeout": "3s", "concurrency": "8"})
	if err != nil || o.Endpoint != "http://h:1/v1/" || o.ModelID != "x" || o.API != openai.Chat || !o.NoStream || o.Timeout != 3*time.Second || o.Concurrency != 8 {
		t.Fatalf("%+v %v", o, err)
	}
	for _, bad := range []map[string]string{{"nope": "1"}, {"stream": "maybe"}, {"timeout": "soon"}} {
		if _, err := openai.ParseOptions(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	for _, bad := range []openai.Options{{}, {Endpoint: "ftp://x"}, {Endpoint: "http://"}, {Endpoint: "http://h", API: "embeddings"}} {
		if _, err := openai.New(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	m, err := openai.New(openai.Options{Endpoint: "http://user:secret@h:1/v1", ModelID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.Endpoint(), "secret") {
		t.Errorf("endpoint shows the password: %s", m.Endpoint())
	}
}

func TestPoolSizedToLoad(t *testing.T) {
	m := open(t, openai.Options{Endpoint: "http://127.0.0.1:1"})
	if m.MaxConcurrency() != 0 {
		t.Errorf("default pool limit %d, want 0 (none)", m.MaxConcurrency())
	}
	m.SetConcurrency(300)
	if m.MaxConcurrency() != 300 {
		t.Errorf("pool limit %d, want 300", m.MaxConcurrency())
	}
}

func TestCancelMidStream(t *testing.T) {
	testutil.NoLeaks(t)
	l, err := sim.Listen("127.0.0.1:0", sim.Config{TTFT: time.Millisecond, ITL: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	m := open(t, openai.Options{Endpoint: l.URL, ModelID: "sim"})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err = m.InferStream(ctx, model.Request{Prompt: "p", MaxTokens: 100}, func(model.Token) error {
		n++
		if n == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for l.Active() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if l.Active() != 0 {
		t.Errorf("server still streams %d requests after the client left", l.Active())
	}
}

// A chunk is stamped when its bytes arrived, not when a busy client got
// round to reading them: the client here is away for 60 ms after the first
// chunk, while the second arrives 5 ms after it (Linux: kernel receive
// timestamps).
func TestChunkStampedOnArrival(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("kernel receive timestamps are read on Linux only")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", sse)
		rc := http.NewResponseController(w)
		for i, gap := range []time.Duration{0, 5 * time.Millisecond, 150 * time.Millisecond} {
			time.Sleep(gap)
			w.Write([]byte(chat(fmt.Sprint(i))))
			rc.Flush()
		}
	}))
	t.Cleanup(srv.Close)
	m := open(t, openai.Options{Endpoint: srv.URL, API: openai.Chat})
	before := time.Now()
	n := 0
	resp, err := m.InferStream(context.Background(), model.Request{Prompt: "p"}, func(model.Token) error {
		if n++; n == 1 {
			time.Sleep(60 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ChunkTimes) != 3 {
		t.Fatalf("chunk times %v", resp.ChunkTimes)
	}
	if gap := resp.ChunkTimes[1] - resp.ChunkTimes[0]; gap > 40*time.Millisecond {
		t.Errorf("second chunk stamped %v after the first; it arrived about 5ms after (the client read it 60ms after)", gap)
	}
	if resp.Start.Before(before) {
		t.Errorf("send time %v before the call", resp.Start.Sub(before))
	}
}

// A stream whose "[DONE]" comes a write before the body's end leaves its
// connection for the next request; one that keeps the body open after
// "[DONE]" does not hold the caller.
func TestStreamEndKeepsConnection(t *testing.T) {
	var conns atomic.Int64
	const hold = 3 * time.Millisecond
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", sse)
		w.Write([]byte(chat("a") + chat("b") + "data: [DONE]\n\n"))
		http.NewResponseController(w).Flush()
		select {
		case <-time.After(hold):
		case <-r.Context().Done():
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	m := open(t, openai.Options{Endpoint: srv.URL, API: openai.Chat})
	for i := 0; i < 5; i++ {
		resp, err := m.Infer(context.Background(), model.Request{Prompt: "x", MaxTokens: 2})
		if err != nil || resp.Text != "ab" {
			t.Fatalf("request %d: %q, %v", i, resp.Text, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("5 streams in a row took %d connections, want 1", n)
	}
	srv.Close()

	held := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", sse)
		w.Write([]byte(chat("a") + "data: [DONE]\n\n"))
		http.NewResponseController(w).Flush()
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(held.Close)
	m = open(t, openai.Options{Endpoint: held.URL, API: openai.Chat})
	start := time.Now()
	resp, err := m.Infer(context.Background(), model.Request{Prompt: "x", MaxTokens: 1})
	if err != nil || resp.Text != "a" {
		t.Fatalf("%q, %v", resp.Text, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Infer waited %v for a body left open after [DONE]", d)
	}
}
