package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inference-pio/piobench/sim"
)

// TestSecretsNeverWritten plants an API key (in the variable named by
// --api-key-env, so it travels in the Authorization header, and also as a
// URL password) and a database password, runs every command that talks
// to a server or writes files — run (passing, failing, accuracy with
// --save-cases, interrupted with its journal left), load with
// --save-requests, the history database, report to HTML, Markdown and
// charts, history list and show, and commands that fail on bad
// credentials or an unreachable database — against the simulator and a
// server that echoes the Authorization header back in every error, then
// greps every byte they printed or wrote for the secrets.
func TestSecretsNeverWritten(t *testing.T) {
	b := make([]byte, 8)
	rand.Read(b)
	key := "sk-PLANTED-" + hex.EncodeToString(b)
	pgPass := "pgPLANTED" + hex.EncodeToString(b)
	t.Setenv("PIOBENCH_SECRET_KEY", key)
	t.Setenv("PIOBENCH_WRONG_KEY", key+"-wrong")
	t.Setenv("PIOBENCH_DB", "")
	t.Setenv("PIOBENCH_BRANCH", "secrets")

	simURL := startSim(t, sim.Config{APIKey: key, TTFT: time.Millisecond, ITL: time.Millisecond, DefaultMaxTokens: 4})
	slowURL := startSim(t, sim.Config{APIKey: key, TTFT: 50 * time.Millisecond, ITL: 10 * time.Millisecond, DefaultMaxTokens: 4})
	var calls atomic.Int64
	// echo answers /v1/models, then fails every completion with the
	// Authorization header in its message, in an HTTP error or mid-stream.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if r.URL.Path == "/v1/models" {
			if auth != "Bearer "+key {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprintf(w, `{"error":{"message":"bad credentials: %s"}}`, auth)
				return
			}
			fmt.Fprint(w, `{"data":[{"id":"echo"}]}`)
			return
		}
		if calls.Add(1)%2 == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "upstream refused %s", auth)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: {\"choices\":[{\"text\":\"%s\"}]}\n\ndata: {\"error\":{\"message\":\"quota exceeded for %s\"}}\n\n", auth, auth)
	}))
	defer echo.Close()
	withPassword := func(raw string) string {
		u, _ := url.Parse(raw)
		u.User = url.UserPassword("bench", key)
		return u.String()
	}

	dir := t.TempDir()
	db := filepath.Join(dir, "history.db")
	var printed bytes.Buffer
	run := func(want int, args ...string) {
		t.Helper()
		code, so, se := runMain(t, DefaultConfig(), args...)
		printed.WriteString(so + se)
		if code != want {
			t.Errorf("piobench %s: exit %d, want %d\n%s\n%s", strings.Join(args, " "), code, want, so, se)
		}
	}
	openai := func(endpoint string) []string {
		return []string{"--driver", "openai", "--endpoint", endpoint, "--api-key-env", "PIOBENCH_SECRET_KEY", "--db", db, "--quiet"}
	}
	out := func(name string) string { return filepath.Join(dir, name) }

	run(0, append([]string{"run", "--benchmark", "inference_speed", "--iterations", "2", "--warmup", "0", "--out", out("run-ok")}, openai(withPassword(simURL))...)...)
	run(1, append([]string{"run", "--benchmark", "inference_speed", "--benchmark", "accuracy", "--iterations", "3", "--warmup", "0",
		"--save-cases", out("echo-cases.jsonl"), "--out", out("run-echo")}, openai(echo.URL)...)...)
	run(0, append([]string{"run", "--benchmark", "accuracy", "--save-cases", out("cases.jsonl"), "--out", out("run-acc")}, openai(simURL)...)...)
	run(0, "load", "--endpoint", withPassword(simURL), "--model-id", "sim", "--api-key-env", "PIOBENCH_SECRET_KEY", "--concurrency", "1,2",
		"--requests", "4", "--warmup", "0", "--max-tokens", "2", "--prompt-tokens", "4", "--out", out("load"), "--save-requests", out("requests.jsonl"), "--quiet")
	run(1, "load", "--endpoint", echo.URL, "--model-id", "echo", "--api-key-env", "PIOBENCH_SECRET_KEY", "--concurrency", "1",
		"--requests", "4", "--warmup", "0", "--max-tokens", "2", "--out", out("load-echo"), "--save-requests", out("echo-requests.jsonl"), "--quiet")

	// Refused credentials, echoed back by the server, and an unreachable
	// database with a password in its address.
	run(ExitUsage, "run", "--driver", "openai", "--endpoint", echo.URL, "--api-key-env", "PIOBENCH_WRONG_KEY", "--out", out("refused"))
	run(ExitUsage, "run", "--driver", "openai", "--endpoint", withPassword(simURL), "--api-key-env", "PIOBENCH_WRONG_KEY", "--out", out("refused"))
	pgDSN := "postgres://bench:" + pgPass + "@127.0.0.1:1/piobench?sslmode=disable&connect_timeout=2"
	run(ExitUsage, append([]string{"run", "--benchmark", "loading_time", "--iterations", "1", "--out", out("pg")}, "--db", pgDSN)...)
	run(ExitUsage, "history", "list", "--db", pgDSN)

	// An interrupted run leaves its journal behind.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var so, se bytes.Buffer
		code := MainWith(ctx, append([]string{"run", "--benchmark", "loading_time", "--benchmark", "inference_speed", "--iterations", "1000",
			"--warmup", "0", "--out", out("interrupted")}, openai(withPassword(slowURL))...), &so, &se, DefaultConfig())
		printed.WriteString(so.String() + se.String())
		if code != ExitInterrupted {
			t.Errorf("interrupted run: exit %d\n%s", code, se.String())
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if j, _ := filepath.Glob(filepath.Join(out("interrupted"), "*.jsonl")); len(j) == 1 && countLines(j[0]) >= 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if j, _ := filepath.Glob(filepath.Join(out("interrupted"), "*.jsonl")); len(j) != 1 {
		t.Errorf("no journal left by the interrupted run")
	}

	// Reports and the history.
	run(0, "report", "--dir", out("run-echo"), "--db", db, "--html", out("report.html"), "--charts", out("charts"))
	run(0, "report", "--dir", out("run-echo"), "--db", db, "--format", "markdown")
	run(0, "report", "--dir", out("load"), "--no-history", "--html", out("load.html"), "--charts", out("load-charts"))
	run(0, "history", "list", "--db", db)
	for _, d := range []string{"run-ok", "run-echo", "run-acc"} {
		r, _ := readRun(t, out(d))
		run(0, "history", "show", r.RunID, "--db", db)
		run(0, "history", "show", "--json", r.RunID, "--db", db)
	}

	// Every file written, and every byte printed.
	files := 0
	var kinds []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		files++
		kinds = append(kinds, filepath.Ext(p))
		data, _ := os.ReadFile(p)
		for _, s := range []string{key, pgPass} {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds a planted secret", p)
			}
		}
		return nil
	})
	for _, s := range []string{key, pgPass} {
		if i := strings.Index(printed.String(), s); i >= 0 {
			t.Errorf("a planted secret was printed: ...%s...", printed.String()[max(0, i-200):i])
		}
	}
	// The checks had something to check: the echo reached the results
	// (redacted), and every kind of output exists.
	for _, f := range []string{"requests.jsonl", "echo-requests.jsonl", "cases.jsonl", "echo-cases.jsonl", "report.html", "history.db"} {
		if _, err := os.Stat(out(f)); err != nil {
			t.Errorf("%s was not written: %v", f, err)
		}
	}
	if !strings.Contains(readOutputs(t, out("run-echo")), "[redacted]") {
		t.Errorf("the echoing server's errors are not in the results:\n%s", readOutputs(t, out("run-echo")))
	}
	if !strings.Contains(printed.String(), "# ") || !strings.Contains(printed.String(), "bench:xxxxx@") && !strings.Contains(readOutputs(t, out("run-ok")), "bench:xxxxx@") {
		t.Errorf("the URL password was not shown redacted anywhere")
	}
	t.Logf("checked %d files (%v) and %d bytes printed", files, uniq(kinds), printed.Len())
}

func uniq(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
