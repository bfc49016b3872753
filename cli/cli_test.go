package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/fake"
	"github.com/inference-pio/piobench/model/ref"
	"github.com/inference-pio/piobench/result"
)

var update = flag.Bool("update", false, "rewrite golden files")

// runMain runs the command line in-process.
func runMain(t *testing.T, cfg Config, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = MainWith(context.Background(), args, &out, &errb, cfg)
	return code, out.String(), errb.String()
}

// smallCheckpoint writes a tiny llama2.c checkpoint and returns its path.
func smallCheckpoint(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "tiny.bin")
	s := ref.Shape{Dim: 64, HiddenDim: 128, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 512, SeqLen: 128}
	if err := ref.WriteCheckpoint(path, s, 1, true); err != nil {
		t.Fatal(err)
	}
	return path
}

func readRun(t *testing.T, dir string) (*result.Run, *result.Run) {
	t.Helper()
	js, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	cs, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	if len(js) != 1 || len(cs) != 1 {
		t.Fatalf("%s holds %d JSON and %d CSV files, want one each", dir, len(js), len(cs))
	}
	j, err := result.ReadFile(js[0])
	if err != nil {
		t.Fatal(err)
	}
	c, err := result.ReadFile(cs[0])
	if err != nil {
		t.Fatal(err)
	}
	return j, c
}

func TestRunCheckpoint(t *testing.T) {
	ckpt := smallCheckpoint(t)
	out := filepath.Join(t.TempDir(), "results")
	code, stdout, stderr := runMain(t, DefaultConfig(), "run", "--driver", "ref", "--model-path", ckpt,
		"--benchmark", "inference_speed", "--benchmark", "batch_processing_4", "--benchmark", "loading_time",
		"--iterations", "3", "--warmup", "1", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"MODEL", "tiny", "inference_speed", "tokens/sec", "batch_processing_4", "loading_time", "wrote " + out} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	j, c := readRun(t, out)
	if len(j.Results) != 3 || len(c.Results) != 3 {
		t.Fatalf("%d JSON and %d CSV results", len(j.Results), len(c.Results))
	}
	if j.SchemaVersion != 1 || j.RunID == "" || j.Environment.CPUCores < 1 {
		t.Errorf("run header %+v", j)
	}
	for i, r := range j.Results {
		if r.Failed() || r.Value <= 0 || r.ModelName != "tiny" {
			t.Errorf("result %+v", r)
		}
		if c.Results[i].Value != r.Value || c.Results[i].BenchmarkName != r.BenchmarkName {
			t.Errorf("CSV row %d differs from JSON: %+v vs %+v", i, c.Results[i], r)
		}
		if r.Metadata["n"] != 3.0 {
			t.Errorf("%s: n = %v, want 3", r.BenchmarkName, r.Metadata["n"])
		}
	}
	if j.Results[1].Metadata["mode"] != "batched" {
		t.Errorf("ref batches, but batch_processing_4 ran %v", j.Results[1].Metadata["mode"])
	}
}

// TestRunDefault runs what the README's first command runs: no flags,
// ref:15m, the full suite.
func TestRunDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("the full default run takes several seconds")
	}
	dir := t.TempDir()
	wd, _ := os.Getwd()
	os.Chdir(dir)
	defer os.Chdir(wd)
	start := time.Now()
	code, stdout, stderr := runMain(t, DefaultConfig(), "run")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("default run took %v", time.Since(start))
	j, _ := readRun(t, filepath.Join(dir, "benchmark_results"))
	var names []string
	for _, r := range j.Results {
		names = append(names, r.BenchmarkName)
		if r.Failed() || r.ModelName != "ref:15m" {
			t.Errorf("%s: %+v", r.BenchmarkName, r)
		}
	}
	// The full suite, less scalability, which applies only to models that
	// serve concurrent requests.
	var want []string
	for _, n := range bench.SuiteFull {
		if n != "scalability" {
			want = append(want, n)
		}
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("ran %v, want the full suite %v", names, want)
	}
	if !strings.Contains(stdout, "untrained") {
		t.Errorf("no note that the weights are untrained:\n%s", stdout)
	}
}

func TestBadInput(t *testing.T) {
	ckpt := smallCheckpoint(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	full, _ := os.ReadFile(ckpt)
	truncated := write("truncated.bin", full[:len(full)/2])
	short := write("short.bin", full[:10])
	extra := write("extra.bin", append(append([]byte{}, full...), 0, 0, 0, 0))
	notFile := write("plain-file", []byte("x"))
	badData := write("bad.jsonl", []byte("{\"input\":\"a\",\"expected\":\"b\"}\n{oops\n"))

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown model", []string{"run", "--model", "ref:1b"}, `unknown model "ref:1b"`},
		{"unknown driver", []string{"run", "--model", "nope:x"}, `unknown driver "nope"`},
		{"model without driver", []string{"run", "--model", "gpt"}, `unknown model "gpt"`},
		{"unknown driver with path", []string{"run", "--driver", "nope", "--model-path", ckpt}, `unknown driver "nope"`},
		{"unknown benchmark", []string{"run", "--benchmark", "warp_speed"}, `unknown benchmark "warp_speed"`},
		{"unknown suite", []string{"run", "--suite", "everything"}, `unknown suite "everything"`},
		{"missing checkpoint", []string{"run", "--model-path", filepath.Join(dir, "nope.bin")}, "no such file"},
		{"truncated checkpoint", []string{"run", "--model-path", truncated}, "truncated.bin"},
		{"short header", []string{"run", "--model-path", short}, "short.bin"},
		{"inconsistent checkpoint", []string{"run", "--model-path", extra}, "extra.bin"},
		{"zero iterations", []string{"run", "--iterations", "0"}, "--iterations 0"},
		{"negative iterations", []string{"run", "--iterations", "-3"}, "--iterations -3"},
		{"negative warmup", []string{"run", "--warmup", "-1"}, "--warmup -1"},
		{"iterations not a number", []string{"run", "--iterations", "many"}, "invalid argument"},
		{"out not writable", []string{"run", "--out", filepath.Join(notFile, "sub")}, "--out"},
		{"dataset bad line", []string{"run", "--benchmark", "accuracy", "--dataset", badData}, "bad.jsonl:2:"},
		{"dataset missing", []string{"run", "--benchmark", "accuracy", "--dataset", filepath.Join(dir, "none.jsonl")}, "none.jsonl"},
		{"dataset without accuracy", []string{"run", "--benchmark", "inference_speed", "--dataset", write("ok.jsonl", []byte(`{"input":"a","expected":"b"}`))}, "--dataset"},
		{"model and path", []string{"run", "--model", "ref:15m", "--model-path", ckpt}, "cannot be used together"},
		{"tokenizer without path", []string{"run", "--tokenizer", ckpt}, "--tokenizer needs --model-path"},
		{"unknown flag", []string{"run", "--fast"}, "unknown flag"},
		{"unknown command", []string{"sprint"}, "unknown command"},
		{"stray argument", []string{"run", "extra"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "results")
			args := tc.args
			if !contains(args, "--out") {
				args = append(args, "--out", out)
			}
			if args[0] != "run" {
				args = tc.args
			}
			code, stdout, stderr := runMain(t, DefaultConfig(), args...)
			wantUsage(t, code, stdout, stderr, tc.want, out)
		})
	}
}

// wantUsage checks a usage error: exit code 2, one line on stderr that
// starts with "piobench: " and holds want, no panic trace, and (when out is
// not empty) nothing written into out.
func wantUsage(t *testing.T, code int, stdout, stderr, want, out string) {
	t.Helper()
	if code != ExitUsage {
		t.Errorf("exit %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "piobench: ") {
		t.Errorf("stderr is not one line starting with \"piobench: \":\n%s", stderr)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr %q does not name the problem (%q)", stderr, want)
	}
	if strings.Contains(stderr+stdout, "panic") || strings.Contains(stderr+stdout, "goroutine ") {
		t.Error("panic trace in output")
	}
	if out != "" {
		if entries, _ := os.ReadDir(out); len(entries) > 0 {
			t.Errorf("%d files written despite the error", len(entries))
		}
	}
}

// failingConfig has a driver whose models fail at run time.
func testConfig(t *testing.T, open func() model.Model) Config {
	t.Helper()
	models := model.NewRegistry()
	if err := models.Register(model.Driver{Name: "test", Presets: []string{"m"}, Open: func(model.Config) (model.Model, error) {
		return open(), nil
	}}); err != nil {
		t.Fatal(err)
	}
	return Config{Models: models, Benchmarks: bench.Default}
}

func TestRuntimeFailureIsRecordedAndExitsOne(t *testing.T) {
	cfg := testConfig(t, func() model.Model {
		m := fake.New(fake.NewClock(), 0, time.Millisecond, time.Millisecond)
		m.Fail = errors.New("GPU fell off the bus")
		return m
	})
	out := t.TempDir()
	code, stdout, stderr := runMain(t, cfg, "run", "--model", "test:m", "--benchmark", "inference_speed", "--benchmark", "loading_time", "--out", out, "--iterations", "2")
	if code != ExitFailed {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "FAILED: warmup 1: GPU fell off the bus") {
		t.Errorf("table does not show the failure:\n%s", stdout)
	}
	j, c := readRun(t, out)
	if !j.Results[0].Failed() || j.Results[0].Metadata["status"] != "error" || !strings.Contains(j.Results[0].Err(), "GPU fell off the bus") {
		t.Errorf("JSON result %+v", j.Results[0])
	}
	if j.Results[1].Failed() {
		t.Errorf("loading_time should have passed: %+v", j.Results[1])
	}
	if !c.Results[0].Failed() {
		t.Errorf("CSV row of the failure has a value: %+v", c.Results[0])
	}
	raw, _ := os.ReadFile(mustGlob(t, out, "*.json"))
	if !bytes.Contains(raw, []byte(`"value": null`)) {
		t.Error("failed result's value is not null in JSON")
	}
}

func mustGlob(t *testing.T, dir, pat string) string {
	m, _ := filepath.Glob(filepath.Join(dir, pat))
	if len(m) != 1 {
		t.Fatalf("%d files match %s", len(m), pat)
	}
	return m[0]
}

// cancelling is a fake model that cancels the run on its n-th call, as a
// Ctrl-C would.
type cancelling struct {
	*fake.Model
	mu     sync.Mutex
	calls  *int
	n      int
	cancel context.CancelFunc
}

func (c *cancelling) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	c.mu.Lock()
	*c.calls++
	if *c.calls == c.n {
		c.cancel()
	}
	c.mu.Unlock()
	return c.Model.Infer(ctx, req)
}

func TestInterruptWritesFinishedResults(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	cfg := testConfig(t, func() model.Model {
		return &cancelling{Model: fake.New(fake.NewClock(), 0, time.Millisecond, time.Millisecond), calls: &calls, n: 5, cancel: cancel}
	})
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	// inference_speed makes 3 calls; the 5th call (in comprehensive) is
	// the interrupt.
	code := MainWith(ctx, []string{"run", "--model", "test:m", "--benchmark", "inference_speed", "--benchmark", "comprehensive_benchmark",
		"--benchmark", "accuracy", "--iterations", "3", "--warmup", "0", "--out", out}, &stdout, &stderr, cfg)
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want 130\n%s\n%s", code, stdout.String(), stderr.String())
	}
	j, _ := readRun(t, out)
	if len(j.Results) != 1 || j.Results[0].BenchmarkName != "inference_speed" || j.Results[0].Failed() {
		t.Errorf("results %+v, want the one finished benchmark", j.Results)
	}
	if j.Config["interrupted"] != true {
		t.Errorf("run config does not say it was interrupted: %v", j.Config)
	}
	if !strings.Contains(stderr.String(), "interrupted: 1 of 3") {
		t.Errorf("stderr %q", stderr.String())
	}
}

func TestListGolden(t *testing.T) {
	code, stdout, stderr := runMain(t, DefaultConfig(), "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden := filepath.Join("testdata", "list.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, []byte(stdout), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./cli -update to create it)", err)
	}
	if stdout != string(want) {
		t.Errorf("list output differs from %s:\n%s", golden, stdout)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runMain(t, DefaultConfig(), "version")
	if code != 0 || !strings.HasPrefix(stdout, "piobench ") || !strings.Contains(stdout, "go1.") {
		t.Errorf("exit %d, %q", code, stdout)
	}
}
