package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/model/fake"
	"github.com/inference-pio/piobench/piobenchtest"
	"github.com/inference-pio/piobench/result"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestList: the custom driver, benchmark, category and suite sit beside
// piobench's own.
func TestList(t *testing.T) {
	code, out, errs := runCLI(t, "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"lookup:small", "ref:15m", "prompt_length_sensitivity  robustness   ratio",
		"inference_speed", "robustness   prompt_length_sensitivity"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
}

// TestModelFolder validates, tests and runs the example's model folder,
// which uses the custom driver and the custom benchmark with parameters.
func TestModelFolder(t *testing.T) {
	if code, out, errs := runCLI(t, "validate", "models"); code != 0 || !strings.Contains(out, "1 model, 4 benchmarks, 3 tests") {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := runCLI(t, "test", "--dir", "models"); code != 0 || !strings.Contains(out, "ok  3 tests passed") {
		t.Fatalf("test: exit %d\n%s%s", code, out, errs)
	}
	dir := t.TempDir()
	code, out, errs := runCLI(t, "run", "-q", "--dir", "models", "--out", dir)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errs)
	}
	js, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(js) != 1 {
		t.Fatalf("%d result files", len(js))
	}
	run, err := result.ReadFile(js[0])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range run.Results {
		got = append(got, r.BenchmarkName+"/"+r.Category)
		if r.Failed() || r.ModelName != "lookup" {
			t.Errorf("%s: %s %s", r.BenchmarkName, r.ModelName, r.Err())
		}
		if r.BenchmarkName == "prompt_length_sensitivity" && (r.Metadata["long_words"] != 400.0 || r.Value <= 1) {
			t.Errorf("sensitivity %v with %v", r.Value, r.Metadata["long_words"])
		}
	}
	if len(got) != 4 || !strings.Contains(strings.Join(got, " "), "prompt_length_sensitivity/robustness") {
		t.Errorf("results %v", got)
	}
	// A parameter the custom benchmark does not have is an error with its
	// position, as for the built-in ones.
	bad := t.TempDir()
	os.MkdirAll(filepath.Join(bad, "m/benchmarks/performance"), 0o755)
	os.WriteFile(filepath.Join(bad, "m/model.yaml"), []byte("driver: lookup\noptions: {decode_us: fast}\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "m/benchmarks/performance/x.yaml"), []byte("benchmark: prompt_length_sensitivity\nparams: {long: 3}\n"), 0o644)
	code, _, errs = runCLI(t, "validate", bad)
	for _, want := range []string{"m/benchmarks/performance/x.yaml:2:10: params: unknown parameter \"long\" of prompt_length_sensitivity (known: long_words, max_tokens, short_words)"} {
		if code != 2 || !strings.Contains(errs, want) {
			t.Errorf("validate: exit %d, want 2 and %q:\n%s", code, want, errs)
		}
	}
	os.Remove(filepath.Join(bad, "m/benchmarks/performance/x.yaml"))
	code, _, errs = runCLI(t, "validate", bad)
	if code != 2 || !strings.Contains(errs, `m/model.yaml:1:9: lookup: option decode_us="fast": want microseconds`) {
		t.Errorf("driver option: exit %d:\n%s", code, errs)
	}
}

// TestSensitivityExact runs the custom benchmark on the fake model, whose
// times are exact: 1 ms per prompt word and per output token, so 4+8 ms
// against 256+8 ms: a ratio of 22.
func TestSensitivityExact(t *testing.T) {
	clock := fake.NewClock()
	m := fake.New(clock, 0, time.Millisecond, time.Millisecond)
	m.Load(context.Background())
	b := NewSensitivity()
	if err := b.Set("long_words", 256); err != nil {
		t.Fatal(err)
	}
	r := bench.Execute(context.Background(), b, &bench.Env{Model: m, ModelName: "fake", Clock: clock, Iterations: 3}, 0)
	if r.Failed() || r.Value != 22 || r.Category != CategoryRobustness || r.Metadata["n"] != 3 {
		t.Errorf("%v %s %v: %s", r.Value, r.Category, r.Metadata["n"], r.Err())
	}
	if err := b.Set("long_words", 0); err == nil {
		t.Errorf("long_words 0 accepted")
	}
	b.LongWords = 2
	if r := bench.Execute(context.Background(), b, &bench.Env{Model: m, ModelName: "fake", Clock: clock}, 0); !r.Failed() {
		t.Errorf("long_words below short_words did not fail")
	}
}

// TestBuild builds the example as a user would and runs the binary.
func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	bin := filepath.Join(t.TempDir(), "custom")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "run", "-q", "--model", "lookup:small", "--suite", "robustness", "--out", t.TempDir()).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "prompt_length_sensitivity") {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err = exec.Command(bin, "run", "--model", "lookup:small", "--benchmark", "nope").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), `unknown benchmark "nope"`) {
		t.Fatalf("bad benchmark: %v\n%s", err, out)
	}
}

// BenchmarkLookup measures the custom model with the custom benchmark
// from go test: go test -bench=Lookup ./examples/custom.
func BenchmarkLookup(b *testing.B) {
	cfg, err := config()
	if err != nil {
		b.Fatal(err)
	}
	m := piobenchtest.Open(b, cfg.Models, "lookup:small")
	piobenchtest.Run(b, m, "prompt_length_sensitivity", piobenchtest.WithRegistry(cfg.Benchmarks),
		piobenchtest.WithParams(map[string]any{"long_words": 100}))
}
