package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/sim"
)

func startSim(t *testing.T, cfg sim.Config) string {
	t.Helper()
	l, err := sim.Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.URL
}

// readOutputs returns every file under dir, concatenated, for leak checks.
func readOutputs(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			data, _ := os.ReadFile(p)
			b.Write(data)
		}
		return nil
	})
	return b.String()
}

func TestLoadEndToEnd(t *testing.T) {
	const key = "sk-planted-c0ffee-51de"
	t.Setenv("PIOBENCH_CLI_KEY", key)
	url := startSim(t, sim.Config{APIKey: key, TTFT: 2 * time.Millisecond, ITL: time.Millisecond})
	dir := t.TempDir()
	out := filepath.Join(dir, "results")
	reqs := filepath.Join(dir, "requests.jsonl")
	code, stdout, stderr := runMain(t, DefaultConfig(), "load", "--endpoint", url, "--model-id", "sim", "--api-key-env", "PIOBENCH_CLI_KEY",
		"--concurrency", "1,4", "--requests", "8", "--warmup", "2", "--max-tokens", "4", "--prompt-tokens", "8",
		"--slo", "ttft=2s,tpot=1s", "--out", out, "--save-requests", reqs, "--api", "chat")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"concurrency=1", "concurrency=4", "TTFT p50", "wrote "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	jsonRun, csvRun := readRun(t, out)
	if len(jsonRun.Results) != 40 || len(csvRun.Results) != 40 {
		t.Fatalf("%d JSON and %d CSV results, want 2 levels x 20", len(jsonRun.Results), len(csvRun.Results))
	}
	byLevel := map[string]map[string]result.Result{}
	for _, r := range jsonRun.Results {
		lvl := fmt.Sprint(r.Metadata["load_level"])
		if byLevel[lvl] == nil {
			byLevel[lvl] = map[string]result.Result{}
		}
		byLevel[lvl][r.BenchmarkName] = r
		if r.Failed() || r.ModelName != "sim" {
			t.Errorf("%s %s: failed=%v model %q", lvl, r.BenchmarkName, r.Failed(), r.ModelName)
		}
	}
	c4 := byLevel["concurrency=4"]
	if c4["ttft_p50"].Unit != "ms" || c4["output_throughput"].Unit != "tokens/sec" || c4["goodput"].Unit != "requests/sec" || c4["error_rate"].Value != 0 {
		t.Errorf("concurrency=4 results: %+v", c4)
	}
	if c4["ttft_p50"].Value < 2 {
		t.Errorf("ttft_p50 %v ms, below the sim's 2 ms", c4["ttft_p50"].Value)
	}
	if c4["e2e_p50"].Metadata["completed"] != 8.0 || c4["e2e_p50"].Metadata["server_output_tokens_total"] != 32.0 {
		t.Errorf("metadata %v", c4["e2e_p50"].Metadata)
	}
	// One JSON line per measured request.
	f, err := os.Open(reqs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		for _, k := range []string{"intended_send", "actual_send", "first_token_ms", "chunk_times_ms", "server_output_tokens", "client_output_tokens", "status"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("line %d lacks %s: %s", n, k, sc.Text())
			}
		}
		if len(rec["chunk_times_ms"].([]any)) != 4 || rec["status"] != "ok" {
			t.Errorf("line %d: %s", n, sc.Text())
		}
	}
	if n != 16 {
		t.Errorf("%d request lines, want 16", n)
	}
	// The planted key is nowhere.
	all := stdout + stderr + readOutputs(t, dir)
	if strings.Contains(all, key) {
		t.Error("the API key appears in the output or the files written")
	}
	if !strings.Contains(readOutputs(t, out), `"api_key_env": "PIOBENCH_CLI_KEY"`) {
		t.Error("config does not name the key's variable")
	}
}

func TestLoadOpenLoop(t *testing.T) {
	url := startSim(t, sim.Config{ITL: time.Millisecond})
	out := t.TempDir()
	code, stdout, stderr := runMain(t, DefaultConfig(), "load", "--endpoint", url, "--rate", "200,inf", "--arrival", "constant",
		"--requests", "10", "--max-tokens", "3", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	run, _ := readRun(t, out)
	levels := map[string]bool{}
	for _, r := range run.Results {
		levels[fmt.Sprint(r.Metadata["load_level"])] = true
		if r.Metadata["mode"] != "open" || r.Metadata["latency_from"] != "intended send time" {
			t.Errorf("%s: %v", r.BenchmarkName, r.Metadata)
		}
	}
	if !levels["rate=200/s constant"] || !levels["rate=inf"] || len(levels) != 2 {
		t.Errorf("levels %v", levels)
	}
}

// rawSSE serves /v1/models and answers completions with body.
func rawSSE(t *testing.T, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			io.WriteString(w, `{"data":[{"id":"m"}]}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestLoadBadInput(t *testing.T) {
	const key = "sk-planted-bad-input-9"
	t.Setenv("PIOBENCH_BAD_KEY", key)
	t.Setenv("PIOBENCH_WRONG_KEY", "sk-wrong")
	sim1 := startSim(t, sim.Config{APIKey: key})
	stall := startSim(t, sim.Config{StallRate: 1})
	failing := startSim(t, sim.Config{FailRate: 1})
	malformed := rawSSE(t, "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {oops\n\n")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	ln.Close()
	// A server that accepts connections and never answers.
	quiet, _ := net.Listen("tcp", "127.0.0.1:0")
	t.Cleanup(func() { quiet.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := quiet.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	silent := "http://" + quiet.Addr().String()
	dir := t.TempDir()
	dataset := filepath.Join(dir, "prompts.jsonl")
	os.WriteFile(dataset, []byte("{\"prompt\":\"fine\"}\n{\"prompt\": }\n"), 0o644)

	ok := []string{"--api-key-env", "PIOBENCH_BAD_KEY"}
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unreachable endpoint", []string{"--endpoint", closed}, 2, "cannot reach " + closed},
		{"silent endpoint", []string{"--endpoint", silent, "--stall-timeout", "300ms"}, 2, silent + ": no answer from /v1/models within 300ms"},
		{"wrong model id", append([]string{"--endpoint", sim1, "--model-id", "gpt-9"}, ok...), 2, `does not serve model "gpt-9" (it serves: sim)`},
		{"401", []string{"--endpoint", sim1, "--api-key-env", "PIOBENCH_WRONG_KEY"}, 2, "HTTP 401"},
		{"key variable unset", []string{"--endpoint", sim1, "--api-key-env", "PIOBENCH_NOT_SET_ANYWHERE"}, 2, "PIOBENCH_NOT_SET_ANYWHERE"},
		{"no endpoint", []string{"--concurrency", "2"}, 2, "--endpoint is required"},
		{"rate 0", []string{"--endpoint", sim1, "--rate", "0"}, 2, "--rate 0: must be more than 0"},
		{"negative rate", []string{"--endpoint", sim1, "--rate", "10,-1"}, 2, "--rate -1"},
		{"bad concurrency", []string{"--endpoint", sim1, "--concurrency", "4,zero"}, 2, `--concurrency "zero"`},
		{"rate and concurrency", []string{"--endpoint", sim1, "--rate", "5", "--concurrency", "2"}, 2, "cannot be used together"},
		{"requests and duration", []string{"--endpoint", sim1, "--requests", "5", "--duration", "1s"}, 2, "--requests and --duration cannot be used together"},
		{"arrival without rate", []string{"--endpoint", sim1, "--arrival", "constant"}, 2, "--arrival is for the open loop"},
		{"bad arrival", []string{"--endpoint", sim1, "--rate", "5", "--arrival", "bursty"}, 2, `arrival "bursty"`},
		{"inf with duration", []string{"--endpoint", sim1, "--rate", "inf", "--duration", "1s"}, 2, "--rate inf"},
		{"dataset and prompt tokens", []string{"--endpoint", sim1, "--dataset", dataset, "--prompt-tokens", "5"}, 2, "cannot be used together"},
		{"bad dataset line", []string{"--endpoint", sim1, "--dataset", dataset}, 2, dataset + ":2: not a JSON object"},
		{"missing dataset", []string{"--endpoint", sim1, "--dataset", filepath.Join(dir, "nope.jsonl")}, 2, "no such file"},
		{"bad slo", []string{"--endpoint", sim1, "--slo", "ttft=soon"}, 2, "--slo ttft=soon"},
		{"zero requests", []string{"--endpoint", sim1, "--requests", "0"}, 2, "--requests 0"},
		{"bad api", []string{"--endpoint", sim1, "--api", "embeddings"}, 2, `--api "embeddings"`},
		{"bad url", []string{"--endpoint", "localhost:8000"}, 2, "want an http:// or https:// URL"},
		{"unknown flag", []string{"--endpoint", sim1, "--concurency", "2"}, 2, "unknown flag"},
		{"malformed SSE", []string{"--endpoint", malformed, "--requests", "3"}, 1, "all 3 requests failed: malformed SSE chunk"},
		{"stall mid-stream", []string{"--endpoint", stall, "--requests", "2", "--max-tokens", "6", "--stall-timeout", "1s"}, 1, "stream stalled"},
		{"server errors", []string{"--endpoint", failing, "--requests", "3"}, 1, "HTTP 500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"load", "--out", out, "--requests", "2"}, tc.args...)
			if tc.name == "requests and duration" || tc.name == "zero requests" || tc.name == "inf with duration" {
				args = append([]string{"load", "--out", out}, tc.args...)
			}
			code, stdout, stderr := runMain(t, DefaultConfig(), args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, tc.code, stdout, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "piobench: ") || !strings.Contains(lines[0], tc.msg) {
				t.Errorf("stderr %q, want one line with %q", stderr, tc.msg)
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
				t.Errorf("panic trace: %s", stderr)
			}
			if strings.Contains(stdout+stderr, key) {
				t.Error("the API key shows")
			}
			if tc.code == 2 {
				if ents, _ := os.ReadDir(out); len(ents) > 0 {
					t.Errorf("exit 2 but %d files written in --out", len(ents))
				}
			} else {
				// Failed requests are recorded: failed results, and an
				// error_rate of 1.
				run, _ := readRun(t, out)
				for _, r := range run.Results {
					if r.BenchmarkName == "error_rate" && r.Value != 1 {
						t.Errorf("error_rate %v", r.Value)
					}
					if r.BenchmarkName == "ttft_p50" && !r.Failed() {
						t.Errorf("ttft_p50 of failed requests: %v", r.Value)
					}
				}
			}
		})
	}
}

func TestSimCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"sim", "--addr", "127.0.0.1:0", "--ttft", "1ms", "--itl", "1ms", "--model-id", "a,b"}, pw, &stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening on http://127.0.0.1:") {
		t.Fatalf("first line %q, %v", line, err)
	}
	url := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	resp, err := http.Get(url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"id":"a"`) || !strings.Contains(string(b), `"id":"b"`) {
		t.Errorf("models %s", b)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sim did not stop")
	}
	for _, bad := range [][]string{{"sim", "--fail-rate", "2"}, {"sim", "--addr", "256.0.0.1:99999"}, {"sim", "--itl", "-1ms"}} {
		if code, _, stderr := runMain(t, DefaultConfig(), bad...); code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, %q", bad, code, stderr)
		}
	}
}

func TestRunWithOpenAIDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the performance suite against the sim")
	}
	url := startSim(t, sim.Config{ITL: 200 * time.Microsecond, Capacity: 2})
	out := t.TempDir()
	code, stdout, stderr := runMain(t, DefaultConfig(), "run", "--driver", "openai", "--endpoint", url, "--model-id", "sim",
		"--suite", "performance", "--iterations", "2", "--warmup", "0", "--out", out, "-q")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	run, _ := readRun(t, out)
	var sc *result.Result
	for i, r := range run.Results {
		if r.ModelName != "sim" {
			t.Errorf("model name %q", r.ModelName)
		}
		if r.BenchmarkName == "scalability" {
			sc = &run.Results[i]
		}
	}
	if sc == nil || sc.Failed() {
		t.Fatalf("no scalability result: %+v", run.Results)
	}
	if k, ok := sc.Metadata["knee_concurrency"].(float64); !ok || k < 1 {
		t.Errorf("knee %v", sc.Metadata["knee_concurrency"])
	}
}

func TestRunOpenAIFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"run", "--endpoint", "http://x"}, "--endpoint is for --driver openai"},
		{[]string{"run", "--driver", "openai"}, "--endpoint is required"},
		{[]string{"run", "--driver", "openai", "--endpoint", "http://x", "--model", "ref:15m"}, "not --model"},
		{[]string{"run", "--driver", "openai", "--endpoint", "http://127.0.0.1:1", "--model-id", "m"}, "cannot reach"},
	} {
		code, _, stderr := runMain(t, DefaultConfig(), append(tc.args, "--out", t.TempDir())...)
		if code != 2 || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, %q; want 2 with %q", tc.args, code, stderr, tc.msg)
		}
	}
}

// The scalability benchmark is in the performance suite but runs only on
// models that serve concurrently: a ref run has no scalability result.
func TestScalabilitySkippedForRef(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runMain(t, DefaultConfig(), "run", "--benchmark", "inference_speed", "--benchmark", "scalability",
		"--iterations", "1", "--warmup", "0", "--out", out, "-q")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	run, _ := readRun(t, out)
	if len(run.Results) != 1 || run.Results[0].BenchmarkName != "inference_speed" {
		t.Errorf("results %+v, want inference_speed only", run.Results)
	}
}
