package reliability

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/openai"
	"github.com/inference-pio/piobench/model/proc"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/runner"
)

// badPlugin is testdata/badplugin, built by TestMain.
var badPlugin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "piobench-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	badPlugin = filepath.Join(dir, "badplugin")
	if out, err := exec.Command("go", "build", "-o", badPlugin, "./testdata/badplugin").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building testdata/badplugin: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// margin is added to every timeout before a case counts as hung: the
// machines tests run on are shared and slow.
const margin = 20 * time.Second

// runBenchmark runs inference_speed once (no warmup) on the model that
// open returns, as piobench run does, and returns its one result.
func runBenchmark(t *testing.T, open func(context.Context) (model.Model, error)) result.Result {
	t.Helper()
	rs, err := runner.Run(context.Background(), []runner.Target{{Name: "peer", Open: open}}, runner.Options{
		Benchmarks:  []bench.Factory{func() bench.Benchmark { b, _ := bench.Default.New("inference_speed"); return b }},
		Iterations:  1,
		Warmup:      0,
		Timeout:     2 * time.Minute,
		LoadTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatalf("runner: %v", err)
	}
	if len(rs) != 1 {
		t.Fatalf("%d results, want 1", len(rs))
	}
	return rs[0]
}

// watch records the goroutines and allocations before a case; its check
// method fails the test if goroutines are left over once the case is
// cleaned up, and returns the bytes allocated meanwhile.
type watch struct {
	goroutines int
	alloc      uint64
	start      time.Time
}

func newWatch() *watch {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return &watch{goroutines: runtime.NumGoroutine(), alloc: ms.TotalAlloc, start: time.Now()}
}

func (w *watch) allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc - w.alloc
}

// noGoroutinesLeft waits up to 10 s for the goroutine count to return to
// where it was, and fails with their stacks if it does not.
func (w *watch) noGoroutinesLeft(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > w.goroutines {
		if time.Now().After(deadline) {
			var b bytes.Buffer
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Errorf("%d goroutines left behind (%d before):\n%s", runtime.NumGoroutine()-w.goroutines, w.goroutines, b.String())
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A peer is a misbehaving server: it serves /v1/models properly (unless
// raw says otherwise) and misbehaves on completions.
type peer struct {
	quit chan struct{} // closed when the test is done with the server
}

func (p *peer) stopped(r *http.Request) bool {
	select {
	case <-p.quit:
		return true
	case <-r.Context().Done():
		return true
	default:
		return false
	}
}

// writeFor writes chunk to w until total bytes are out, the client goes
// or the test ends: a body of any size without holding it in memory.
func (p *peer) writeFor(w http.ResponseWriter, r *http.Request, chunk []byte, total int64) {
	for sent := int64(0); sent < total && !p.stopped(r); sent += int64(len(chunk)) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

func sse(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
}

const gigabyte = 1 << 30

// httpCases are servers that misbehave after answering /v1/models.
var httpCases = []struct {
	name    string
	handler func(p *peer) http.HandlerFunc
	opts    func(o *openai.Options)
	want    string        // regexp the recorded error must match; "" for success
	limit   time.Duration // the timeout that must end it
	maxMem  uint64        // bytes the client may allocate
}{
	{
		name: "accepts and never answers",
		handler: func(p *peer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				for !p.stopped(r) {
					time.Sleep(5 * time.Millisecond)
				}
			}
		},
		opts:  func(o *openai.Options) { o.StallTimeout = time.Second },
		want:  `stream stalled: no bytes from the server for 1s`,
		limit: time.Second, maxMem: 16 << 20,
	},
	{
		name: "slowloris: a byte every 20ms, forever",
		handler: func(p *peer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				sse(w)
				for i := 0; !p.stopped(r); i++ {
					b := []byte(":")
					if i%50 == 49 {
						b = []byte("\n")
					}
					if _, err := w.Write(b); err != nil {
						return
					}
					w.(http.Flusher).Flush()
					time.Sleep(20 * time.Millisecond)
				}
			}
		},
		opts:  func(o *openai.Options) { o.Timeout = 2 * time.Second; o.StallTimeout = time.Second },
		want:  `deadline exceeded`,
		limit: 2 * time.Second, maxMem: 16 << 20,
	},
	{
		name: "1 GB JSON body",
		handler: func(p *peer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"choices":[{"text":"`)
				p.writeFor(w, r, bytes.Repeat([]byte("a"), 64<<10), gigabyte)
			}
		},
		opts:  func(o *openai.Options) { o.NoStream = true; o.MaxBody = 1 << 20 },
		want:  `answer larger than 1048576 bytes|response too large: more than 1048576 bytes`,
		limit: time.Minute, maxMem: 32 << 20,
	},
	{
		name: "1 GB SSE line",
		handler: func(p *peer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				sse(w)
				io.WriteString(w, `data: {"choices":[{"text":"`)
				p.writeFor(w, r, bytes.Repeat([]byte("a"), 64<<10), gigabyte)
			}
		},
		opts:  func(o *openai.Options) { o.MaxBody = 4 << 20 },
		want:  `SSE line too long|response too large`,
		limit: time.Minute, maxMem: 48 << 20,
	},
	{
		name: "1 GB SSE event of many data lines",
		handler: func(p *peer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				sse(w)
				p.writeFor(w, r, bytes.Repeat([]byte("data: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"), 1024), gigabyte)
			}
		},
		opts:  func(o *openai.Options) { o.MaxBody = 4 << 20 },
		want:  `response too large: more than 4194304 bytes`,
		limit: time.Minute, maxMem: 64 << 20,
	},
	{
		name: "endless SSE of valid chunks",
		handler: func(p *peer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				sse(w)
				p.writeFor(w, r, bytes.Repeat([]byte("data: {\"choices\":[{\"text\":\"tok\"}]}\n\n"), 256), 1<<62)
			}
		},
		opts:  func(o *openai.Options) { o.MaxBody = 2 << 20 },
		want:  `response too large: more than 2097152 bytes`,
		limit: time.Minute, maxMem: 64 << 20,
	},
	{
		name: "endless slow SSE stopped by the request timeout",
		handler: func(p *peer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				sse(w)
				for !p.stopped(r) {
					if _, err := io.WriteString(w, "data: {\"choices\":[{\"text\":\"tok\"}]}\n\n"); err != nil {
						return
					}
					w.(http.Flusher).Flush()
					time.Sleep(time.Millisecond)
				}
			}
		},
		opts:  func(o *openai.Options) { o.Timeout = 2 * time.Second },
		want:  `deadline exceeded`,
		limit: 2 * time.Second, maxMem: 64 << 20,
	},
	{
		name: "invalid UTF-8 in the stream",
		handler: func(p *peer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				sse(w)
				for i := 0; i < 3; i++ {
					io.WriteString(w, "data: {\"choices\":[{\"text\":\"\xff\xfe\xc3 ok\"}]}\n\n")
				}
				io.WriteString(w, "data: [DONE]\n\n")
			}
		},
		want:  "",
		limit: 10 * time.Second, maxMem: 16 << 20,
	},
	{
		name: "invalid UTF-8 and NUL in an error body",
		handler: func(p *peer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				io.WriteString(w, "upstream \xff\xfe\x00 failed\x1b[31m")
			}
		},
		want:  `HTTP 502 from /v1/completions: upstream`,
		limit: 10 * time.Second, maxMem: 16 << 20,
	},
	{
		name: "malformed JSON chunk",
		handler: func(p *peer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				sse(w)
				io.WriteString(w, "data: {\"choices\":[{\"text\":\n\n")
			}
		},
		want:  `malformed SSE chunk`,
		limit: 10 * time.Second, maxMem: 16 << 20,
	},
	{
		name: "connection dropped mid-stream",
		handler: func(p *peer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				sse(w)
				io.WriteString(w, "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"cho")
				w.(http.Flusher).Flush()
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
			}
		},
		want:  `reading the stream after 1 chunks`,
		limit: 10 * time.Second, maxMem: 16 << 20,
	},
}

func TestMisbehavingServers(t *testing.T) {
	for _, c := range httpCases {
		t.Run(c.name, func(t *testing.T) {
			w := newWatch()
			p := &peer{quit: make(chan struct{})}
			mux := http.NewServeMux()
			mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"data":[{"id":"m"}]}`)
			})
			mux.HandleFunc("POST /v1/completions", c.handler(p))
			srv := httptest.NewServer(mux)
			o := openai.Options{Endpoint: srv.URL, ModelID: "m"}
			if c.opts != nil {
				c.opts(&o)
			}
			start := time.Now()
			r := runBenchmark(t, func(context.Context) (model.Model, error) { return openai.New(o) })
			took := time.Since(start)
			close(p.quit)
			srv.CloseClientConnections()
			srv.Close()
			alloc := w.allocated()
			t.Logf("ended in %v, %.1f MiB allocated: %s", took.Round(time.Millisecond), float64(alloc)/(1<<20), r.Err())
			checkRecorded(t, r, c.want)
			if strings.Contains(r.Err(), "timed out after 2m0s") {
				t.Errorf("the error blames the benchmark's 2m timeout, which did not pass: %s", r.Err())
			}
			if took > c.limit+margin {
				t.Errorf("took %v; its timeout is %v", took, c.limit)
			}
			if alloc > c.maxMem {
				t.Errorf("allocated %.1f MiB, more than %.0f MiB", float64(alloc)/(1<<20), float64(c.maxMem)/(1<<20))
			}
			w.noGoroutinesLeft(t)
		})
	}
}

// checkRecorded checks the result is failed with an error matching want
// (or passed, when want is ""), and that it encodes as valid UTF-8 JSON
// and CSV.
func checkRecorded(t *testing.T, r result.Result, want string) {
	t.Helper()
	if want == "" {
		if r.Failed() {
			t.Errorf("failed: %s", r.Err())
		}
	} else {
		if !r.Failed() {
			t.Fatalf("passed with value %v; want a recorded error matching %q", r.Value, want)
		}
		if r.Metadata["status"] != result.StatusError {
			t.Errorf("metadata.status = %v", r.Metadata["status"])
		}
		if !regexp.MustCompile(want).MatchString(r.Err()) {
			t.Errorf("error %q does not match %q", r.Err(), want)
		}
		if strings.Contains(r.Err(), "goroutine ") || strings.Contains(r.Err(), "panic") {
			t.Errorf("error holds a panic trace: %s", r.Err())
		}
		if !utf8.ValidString(r.Err()) || strings.ContainsAny(r.Err(), "\x00\x1b\a") {
			t.Errorf("error holds invalid UTF-8 or control characters (they would reach the terminal): %q", r.Err())
		}
	}
	run := &result.Run{SchemaVersion: result.SchemaVersion, RunID: "x", Results: []result.Result{r}}
	var j, c bytes.Buffer
	if err := result.EncodeJSON(&j, run); err != nil {
		t.Fatalf("encoding JSON: %v", err)
	}
	if err := result.EncodeCSV(&c, run); err != nil {
		t.Fatalf("encoding CSV: %v", err)
	}
	for _, b := range [][]byte{j.Bytes(), c.Bytes()} {
		if !utf8.Valid(b) || bytes.ContainsRune(b, 0) || bytes.ContainsRune(b, 0x1b) {
			t.Errorf("a result file would hold invalid UTF-8, NUL or ESC:\n%q", b)
		}
	}
	if _, err := result.DecodeJSON(&j, "x.json"); err != nil {
		t.Errorf("the result does not read back: %v", err)
	}
}

// TestMisbehavingTCPPeers covers servers that break HTTP itself: one that
// accepts and never says a word (not even to /v1/models), and one that
// sends its response headers a byte at a time forever.
func TestMisbehavingTCPPeers(t *testing.T) {
	cases := []struct {
		name  string
		serve func(conn net.Conn, quit chan struct{})
		want  string
		limit time.Duration
	}{
		{"accepts and never answers, even /v1/models", func(conn net.Conn, quit chan struct{}) {
			io.Copy(io.Discard, conn)
		}, `load: .*deadline exceeded|load.*within`, 2 * time.Second},
		{"slowloris headers", func(conn net.Conn, quit chan struct{}) {
			br := bufio.NewReader(conn)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if strings.HasPrefix(line, "GET /v1/models") {
					for l, err := br.ReadString('\n'); err == nil && l != "\r\n"; l, err = br.ReadString('\n') {
					}
					body := `{"data":[{"id":"m"}]}`
					fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
					continue
				}
				if strings.HasPrefix(line, "POST ") {
					io.WriteString(conn, "HTTP/1.1 200 OK\r\nX-Slow: ")
					for {
						select {
						case <-quit:
							return
						case <-time.After(20 * time.Millisecond):
						}
						if _, err := io.WriteString(conn, "a"); err != nil {
							return
						}
					}
				}
			}
		}, `stream stalled`, time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWatch()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			quit := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var conns []net.Conn
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					mu.Lock()
					conns = append(conns, conn)
					mu.Unlock()
					wg.Add(1)
					go func() { defer wg.Done(); c.serve(conn, quit) }()
				}
			}()
			o := openai.Options{Endpoint: "http://" + ln.Addr().String(), ModelID: "m", StallTimeout: time.Second}
			start := time.Now()
			r := runBenchmark(t, func(context.Context) (model.Model, error) { return openai.New(o) })
			took := time.Since(start)
			close(quit)
			ln.Close()
			mu.Lock()
			for _, conn := range conns {
				conn.Close()
			}
			mu.Unlock()
			wg.Wait()
			t.Logf("ended in %v: %s", took.Round(time.Millisecond), r.Err())
			checkRecorded(t, r, c.want)
			if took > c.limit+margin {
				t.Errorf("took %v; its timeout is %v", took, c.limit)
			}
			w.noGoroutinesLeft(t)
		})
	}
}

// pluginPID reads the pid the bad plugin wrote to its stderr log.
func pluginPID(t *testing.T, log string) int {
	t.Helper()
	b, _ := os.ReadFile(log)
	m := regexp.MustCompile(`badplugin: pid (\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no pid in the plugin's log %s:\n%s", log, b)
	}
	pid, _ := strconv.Atoi(string(m[1]))
	return pid
}

// groupGone waits up to 10 s for process group pgid to be empty.
func groupGone(pgid int) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// marked lists the live processes whose environment holds mark (what ps
// would show, read from /proc).
func marked(mark string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(env, []byte(mark)) {
			continue
		}
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && bytes.HasPrefix(bytes.TrimSpace(stat[i+1:]), []byte("Z")) {
			continue // a zombie holds no resources
		}
		out = append(out, pid)
	}
	return out
}

func TestMisbehavingPlugins(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process groups and /proc are checked on Linux")
	}
	cases := []struct {
		mode   string
		want   string
		limit  time.Duration
		maxMem uint64
	}{
		{"garbage", `infer: protocol error: stdout line 3: not a JSON object: "Loading checkpoint shards: 100%"`, 2 * time.Second, 16 << 20},
		{"progress", `infer: no answer in time: infer did not answer within 2s`, 2 * time.Second, 16 << 20},
		{"binary", `infer: protocol error: stdout line 3`, 2 * time.Second, 16 << 20},
		{"huge-line", `infer: protocol error: a line longer than 67108864 bytes`, 2 * time.Minute, 512 << 20},
		{"silent", `infer: no answer in time: infer did not answer within 2s`, 2 * time.Second, 16 << 20},
		{"deaf", `infer: no answer in time: infer did not answer within 2s`, 2 * time.Second, 16 << 20},
		{"die", `infer: plugin exited \(signal: killed\).*killed by the OOM killer`, 2 * time.Second, 16 << 20},
		{"exit-handshake", `handshake: plugin exited with status 4 \(stderr: badplugin: cannot import torch\)`, 2 * time.Second, 16 << 20},
		{"token-flood", `infer: no answer in time: infer did not answer within 2s`, 2 * time.Second, 1 << 30},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			if testing.Short() && (c.mode == "huge-line" || c.mode == "token-flood") {
				t.Skip("pushes 64 MiB or more through a pipe")
			}
			w := newWatch()
			mark := fmt.Sprintf("PIOBENCH_RELIABILITY_MARK=%d", time.Now().UnixNano())
			log := filepath.Join(t.TempDir(), "plugin.log")
			cfg := proc.Config{Argv: []string{badPlugin, "-child", "-mode=" + c.mode}, Name: "badplugin", Env: []string{mark}, Log: log,
				HandshakeTimeout: 2 * time.Second, LoadTimeout: 2 * time.Second, CallTimeout: min(c.limit, time.Minute)}
			if c.mode == "huge-line" {
				cfg.CallTimeout = c.limit // long enough to read 64 MiB on a slow machine
			}
			start := time.Now()
			r := runBenchmark(t, func(context.Context) (model.Model, error) { return proc.New(cfg) })
			took := time.Since(start)
			alloc := w.allocated()
			t.Logf("ended in %v, %.1f MiB allocated: %s", took.Round(time.Millisecond), float64(alloc)/(1<<20), oneLine(r.Err()))
			checkRecorded(t, r, c.want)
			if took > c.limit+margin {
				t.Errorf("took %v; its timeout is %v", took, c.limit)
			}
			if alloc > c.maxMem {
				t.Errorf("allocated %.1f MiB, more than %.0f MiB", float64(alloc)/(1<<20), float64(c.maxMem)/(1<<20))
			}
			// The plugin's process group (it and its sleeping child) is gone.
			pgid := pluginPID(t, log)
			if !groupGone(pgid) {
				syscall.Kill(-pgid, syscall.SIGKILL)
				t.Errorf("process group %d still has processes", pgid)
			}
			if left := marked(mark); len(left) > 0 {
				for _, pid := range left {
					syscall.Kill(pid, syscall.SIGKILL)
				}
				t.Errorf("processes left behind: %v", left)
			}
			w.noGoroutinesLeft(t)
		})
	}
}

// TestDeafPluginBlocksStdin gives a plugin that stopped reading its stdin
// a request larger than the pipe holds: the write itself must time out.
func TestDeafPluginBlocksStdin(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process groups are checked on Linux")
	}
	w := newWatch()
	log := filepath.Join(t.TempDir(), "plugin.log")
	m, err := proc.New(proc.Config{Argv: []string{badPlugin, "-child", "-mode=deaf"}, Name: "badplugin", Log: log, CallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The first request fits the pipe's buffer; the plugin never reads it.
	start := time.Now()
	_, err = m.Infer(context.Background(), model.Request{Prompt: strings.Repeat("word ", 1<<18), MaxTokens: 1})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "stdin stayed full for 2s (it is not reading)") {
		t.Errorf("Infer of a 1.25 MB prompt to a deaf plugin: %v", err)
	}
	if took > 2*time.Second+margin {
		t.Errorf("took %v", took)
	}
	m.Close()
	if pgid := pluginPID(t, log); !groupGone(pgid) {
		syscall.Kill(-pgid, syscall.SIGKILL)
		t.Errorf("process group %d still has processes", pgid)
	}
	w.noGoroutinesLeft(t)
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
