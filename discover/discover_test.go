package discover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/fake"
	"github.com/inference-pio/piobench/result"
)

// testDrivers has a driver "fake" that accepts the options decode_ms,
// api_key, base_url and fail, and rejects others as real drivers do.
func testDrivers(t testing.TB) *model.Registry {
	t.Helper()
	r := model.NewRegistry()
	err := r.Register(model.Driver{Name: "fake", Presets: []string{"small", "large"}, Open: func(cfg model.Config) (model.Model, error) {
		for k := range cfg.Options {
			switch k {
			case "decode_ms", "api_key", "base_url", "fail":
			default:
				return nil, fmt.Errorf("fake: unknown option %q", k)
			}
		}
		if cfg.Options["fail"] == "yes" {
			return nil, fmt.Errorf("fake: server refused key %s at %s", cfg.Options["api_key"], cfg.Options["base_url"])
		}
		return fake.New(fake.NewClock(), 0, time.Millisecond, time.Millisecond), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// writeTree writes files (path → content) under a new temporary
// directory and returns it.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func load(t testing.TB, dir string, vars map[string]string) (*Tree, error) {
	t.Helper()
	return Load(dir, Options{Models: testDrivers(t), LookupEnv: env(vars), OpenModels: true})
}

const alphaModel = `description: the alpha model
driver: fake
preset: small
options:
  decode_ms: 2
  api_key: ${ALPHA_API_KEY}
  base_url: ${ALPHA_URL:-http://localhost:8000}
tags: [small, cpu]
defaults:
  iterations: 4
  warmup: 1
  timeout: 30s
  params:
    max_tokens: 8
`

const alphaSpeed = `benchmarks:
  - benchmark: inference_speed
    params:
      prompt: "Once upon a time"
  - benchmark: inference_speed
    name: inference_speed_long
    iterations: 9
    params: {prompt: "a much longer prompt", max_tokens: 64}
  - benchmark: batch_processing_32
    warmup: 0
`

const alphaMemory = `benchmark: memory_usage
description: memory while reading a long input
params:
  text: "lorem ipsum "
  repeat: 50
  sample_interval: 2ms
`

const alphaAccuracy = `benchmarks:
  - benchmark: accuracy
    params:
      cases:
        - {input: "What is 2+2?", expected: "4"}
        - {input: "Capital of France?", expected: Paris}
  - benchmark: accuracy
    name: accuracy_file
    params:
      dataset: ../../../_data/qa.jsonl
tests:
  - name: paris
    prompt: Capital of France?
    max_tokens: 4
    expect:
      contains: Paris
      not_contains: [London, Berlin]
  - name: fast-enough
    check: inference_speed > 50 tokens/sec
  - name: loads-quickly
    check:
      - loading_time < 2 seconds
      - inference_speed.ttft_ms_median <= 200 ms
`

func goodTree(t testing.TB) string {
	return writeTree(t, map[string]string{
		"alpha/model.yaml":                                  alphaModel,
		"alpha/benchmarks/performance/speed.yaml":           alphaSpeed,
		"alpha/benchmarks/performance/memory/long.yml":      alphaMemory,
		"alpha/benchmarks/unit/accuracy.yaml":               alphaAccuracy,
		"alpha/README.md":                                   "not a config file",
		"alpha/weights.bin":                                 "",
		"beta/model.yaml":                                   "driver: fake\npreset: large\n",
		"gamma/model.yaml":                                  "name: gamma-renamed\ndriver: fake\npath: weights/g.bin\n",
		"gamma/benchmarks/integration/smoke.yaml":           "tests:\n  - name: hello\n    prompt: hi\n    expect: {matches: \"^tok\"}\n",
		"_data/qa.jsonl":                                    `{"input":"a","expected":"b"}` + "\n",
		"README.md":                                         "models live here",
		".hidden/model.yaml":                                "this: is ignored",
		"alpha/benchmarks/performance/memory/notes.txt":     "ignored",
		"alpha/benchmarks/integration/.editor-backup.yaml":  "ignored: true",
		"gamma/benchmarks/integration/nested/deeper/x.yaml": "benchmark: loading_time\n",
	})
}

func TestLoadTree(t *testing.T) {
	dir := goodTree(t)
	tr, err := load(t, dir, map[string]string{"ALPHA_API_KEY": "sk-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Names(); !reflect.DeepEqual(got, []string{"alpha", "beta", "gamma-renamed"}) {
		t.Fatalf("models %v", got)
	}
	a := tr.Model("alpha")
	if a.Driver != "fake" || a.Preset != "small" || a.Description != "the alpha model" || !reflect.DeepEqual(a.Tags, []string{"small", "cpu"}) {
		t.Errorf("alpha: %+v", a)
	}
	wantOpts := map[string]string{"decode_ms": "2", "api_key": "sk-secret-0123456789", "base_url": "http://localhost:8000"}
	if !reflect.DeepEqual(a.Options, wantOpts) {
		t.Errorf("options %v, want %v", a.Options, wantOpts)
	}
	wantShown := map[string]string{"decode_ms": "2", "api_key": "${ALPHA_API_KEY}", "base_url": "${ALPHA_URL:-http://localhost:8000}"}
	if !reflect.DeepEqual(a.DisplayOptions, wantShown) {
		t.Errorf("display options %v, want %v", a.DisplayOptions, wantShown)
	}
	if a.Defaults.Iterations != 4 || a.Defaults.Warmup != 1 || a.Defaults.Timeout != 30*time.Second || a.Defaults.Params["max_tokens"] != "8" {
		t.Errorf("defaults %+v", a.Defaults)
	}

	// Folder order unit, integration, performance; files in name order,
	// sub-folders included.
	var names []string
	for _, in := range a.Benchmarks {
		names = append(names, in.Kind+"/"+in.Name)
	}
	want := []string{"unit/accuracy", "unit/accuracy_file", "performance/memory_usage",
		"performance/inference_speed", "performance/inference_speed_long", "performance/batch_processing_32"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("benchmarks\n got %v\nwant %v", names, want)
	}
	byName := map[string]*Instance{}
	for _, in := range a.Benchmarks {
		byName[in.Name] = in
	}
	speed := byName["inference_speed"]
	if speed.Iterations != 4 || speed.Warmup != 1 || speed.Timeout != 30*time.Second || speed.Unit != "tokens/sec" || speed.Category != "performance" {
		t.Errorf("inference_speed settings %+v", speed)
	}
	if got := speed.ParamDisplay(); !reflect.DeepEqual(got, map[string]string{"prompt": "Once upon a time", "max_tokens": "8"}) {
		t.Errorf("inference_speed params %v", got)
	}
	wantPos := Pos{File: filepath.Join(dir, "alpha/benchmarks/performance/speed.yaml"), Line: 2, Col: 5}
	if speed.Pos != wantPos {
		t.Errorf("position %v, want %v", speed.Pos, wantPos)
	}
	long := byName["inference_speed_long"]
	if long.Benchmark != "inference_speed" || long.Iterations != 9 || long.ParamDisplay()["max_tokens"] != "64" {
		t.Errorf("inference_speed_long %+v %v", long, long.ParamDisplay())
	}
	if bp := byName["batch_processing_32"]; bp.Warmup != 0 || bp.Unit != "requests/sec" {
		t.Errorf("batch_processing_32 %+v", bp)
	}

	// The instances build benchmarks with their parameters set.
	b, err := long.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if is := b.(*bench.InferenceSpeed); is.Prompt != "a much longer prompt" || is.MaxTokens != 64 {
		t.Errorf("built %+v", is)
	}
	b, _ = byName["memory_usage"].New(nil)
	if mu := b.(*bench.MemoryUsage); mu.Text != "lorem ipsum " || mu.Repeat != 50 || mu.SampleInterval != 2*time.Millisecond || mu.MaxTokens != 8 {
		t.Errorf("memory_usage %+v", mu)
	}
	b, _ = byName["accuracy"].New(nil)
	if acc := b.(*bench.Accuracy); len(acc.Cases) != 2 || acc.Cases[1].Expected != "Paris" {
		t.Errorf("accuracy cases %+v", acc.Cases)
	}
	b, _ = byName["accuracy_file"].New(nil)
	if acc := b.(*bench.Accuracy); len(acc.Questions) != 1 || acc.Questions[0].Expected[0] != "b" || !strings.HasSuffix(acc.Dataset, "qa.jsonl") {
		t.Errorf("accuracy dataset %+v", acc)
	}

	// Tests and checks.
	if len(a.Tests) != 3 {
		t.Fatalf("%d tests", len(a.Tests))
	}
	paris := a.Tests[0]
	if paris.Name != "paris" || paris.Prompt != "Capital of France?" || paris.MaxTokens != 4 || len(paris.Expect) != 3 || paris.Kind != "unit" {
		t.Errorf("paris %+v", paris)
	}
	fast := a.Tests[1].Checks[0]
	if fast.Metric != "inference_speed" || fast.Op != ">" || fast.Value != 50 || fast.Unit != "tokens/sec" || fast.Instance != speed {
		t.Errorf("fast check %+v", fast)
	}
	lq := a.Tests[2].Checks
	if len(lq) != 2 || lq[0].Instance == nil || lq[0].Instance.Name != "loading_time" || lq[1].Key != "ttft_ms_median" || lq[1].Instance != speed {
		t.Errorf("loads-quickly checks %+v", lq)
	}
	if len(a.CheckOnly) != 1 || a.CheckOnly[0].Name != "loading_time" || a.CheckOnly[0].Iterations != 4 {
		t.Errorf("check-only instances %+v", a.CheckOnly)
	}

	if beta := tr.Model("beta"); len(beta.Benchmarks) != 0 || len(beta.Tests) != 0 {
		t.Errorf("beta %+v", beta)
	}
	g := tr.Model("gamma-renamed")
	if g.Path != filepath.Join(dir, "gamma", "weights/g.bin") || len(g.Tests) != 1 || len(g.Benchmarks) != 1 || g.Benchmarks[0].Name != "loading_time" {
		t.Errorf("gamma %+v", g)
	}
	if ok, _ := g.Tests[0].Expect[0].Match("tok tok"); !ok {
		t.Errorf("matches ^tok failed")
	}

	// A model folder on its own.
	one, err := load(t, filepath.Join(dir, "gamma"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := one.Names(); !reflect.DeepEqual(got, []string{"gamma-renamed"}) {
		t.Errorf("single folder: %v", got)
	}
}

func TestSuiteInstances(t *testing.T) {
	tr, err := load(t, goodTree(t), map[string]string{"ALPHA_API_KEY": "k"})
	if err != nil {
		t.Fatal(err)
	}
	ins, err := tr.Model("alpha").SuiteInstances(nil, bench.SuitePerformance)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != len(bench.SuitePerformance) {
		t.Fatalf("%d instances", len(ins))
	}
	for _, in := range ins {
		if in.Iterations != 4 || in.Warmup != 1 {
			t.Errorf("%s: defaults not applied: %+v", in.Name, in)
		}
		_, hasMax := in.ParamDisplay()["max_tokens"]
		b, _ := in.New(nil)
		wantMax := false
		for _, p := range bench.ParamNames(b) {
			wantMax = wantMax || p == "max_tokens"
		}
		if hasMax != wantMax {
			t.Errorf("%s: max_tokens default applied = %v", in.Name, hasMax)
		}
	}
}

// TestBadInput checks that each problem is reported at its place with a
// message that names it.
func TestBadInput(t *testing.T) {
	ok := "driver: fake\n"
	cases := []struct {
		name  string
		files map[string]string
		want  string // FILE:LINE:COL: message (prefix of one reported error), FILE relative
		vars  map[string]string
	}{
		{"folder without model.yaml", map[string]string{"a/model.yaml": ok, "b/benchmarks/unit/x.yaml": "benchmark: accuracy\n"},
			"b: no model.yaml in the model folder", nil},
		{"duplicate model names", map[string]string{"a/model.yaml": ok, "b/model.yaml": "name: a\ndriver: fake\n"},
			`b/model.yaml:1:1: duplicate model name "a"`, nil},
		{"syntax error with column", map[string]string{"a/model.yaml": "driver: fake\noptions: {decode_ms: 2\n"},
			"a/model.yaml:2:10: YAML syntax: could not find flow mapping end token", nil},
		{"tab indentation", map[string]string{"a/model.yaml": "driver: fake\ntags:\n\t- x\n"},
			"a/model.yaml:3:1: YAML syntax:", nil},
		{"two documents", map[string]string{"a/model.yaml": "driver: fake\n---\ndriver: fake\n"},
			"a/model.yaml:2: more than one YAML document", nil},
		{"only comments", map[string]string{"a/model.yaml": "# nothing\n"}, "a/model.yaml: empty file", nil},
		{"null driver", map[string]string{"a/model.yaml": "driver:\n"}, "a/model.yaml:1:8: driver: want a value, got null", nil},
		{"empty model.yaml", map[string]string{"a/model.yaml": ""}, "a/model.yaml: empty file", nil},
		{"top level list", map[string]string{"a/model.yaml": "- driver: fake\n"},
			"a/model.yaml:1:1: want a mapping of keys to values at the top level, got a list", nil},
		{"missing driver", map[string]string{"a/model.yaml": "preset: small\n"},
			`a/model.yaml:1:1: model.yaml: missing required key "driver"`, nil},
		{"unknown key in model.yaml", map[string]string{"a/model.yaml": "driver: fake\ncolour: blue\n"},
			`a/model.yaml:2:1: model.yaml: unknown key "colour"`, nil},
		{"duplicate key", map[string]string{"a/model.yaml": "driver: fake\ndriver: fake\n"},
			`a/model.yaml:2:1: `, nil},
		{"unknown driver", map[string]string{"a/model.yaml": "driver: nope\n"},
			`a/model.yaml:1:9: unknown driver "nope"`, nil},
		{"unknown preset", map[string]string{"a/model.yaml": "driver: fake\npreset: huge\n"},
			`a/model.yaml:1:9: driver fake has no preset "huge" (have small, large)`, nil},
		{"option rejected by the driver", map[string]string{"a/model.yaml": "driver: fake\noptions:\n  colour: red\n"},
			`a/model.yaml:1:9: fake: unknown option "colour"`, nil},
		{"option not a single value", map[string]string{"a/model.yaml": "driver: fake\noptions:\n  decode_ms: [1, 2]\n"},
			`a/model.yaml:3:14: options.decode_ms: want a single value, got a list`, nil},
		{"unset environment variable", map[string]string{"a/model.yaml": "driver: fake\noptions:\n  api_key: \"key=${NOPE_KEY}\"\n"},
			`a/model.yaml:3:17: options.api_key: environment variable NOPE_KEY is not set`, nil},
		{"unterminated variable", map[string]string{"a/model.yaml": "driver: fake\noptions:\n  base_url: http://${HOST\n"},
			`a/model.yaml:3:20: options.base_url: unterminated ${`, nil},
		{"bad model name", map[string]string{"a/model.yaml": "name: a:b\ndriver: fake\n"},
			`a/model.yaml:1:7: model name "a:b"`, nil},
		{"defaults: unknown parameter", map[string]string{"a/model.yaml": "driver: fake\ndefaults:\n  params:\n    max_tokenz: 3\n"},
			`a/model.yaml:4:5: defaults.params: no benchmark has a parameter "max_tokenz"`, nil},
		{"defaults: negative iterations", map[string]string{"a/model.yaml": "driver: fake\ndefaults:\n  iterations: -1\n"},
			`a/model.yaml:3:15: defaults.iterations: -1: must be at least 1`, nil},
		{"defaults: bad timeout", map[string]string{"a/model.yaml": "driver: fake\ndefaults:\n  timeout: soon\n"},
			`a/model.yaml:3:12: defaults.timeout: want a positive duration`, nil},
		{"YAML alias", map[string]string{"a/model.yaml": "driver: &d fake\npreset: *d\n"},
			`a/model.yaml:1:9: YAML anchors (&d) are not supported`, nil},
		{"unknown benchmark", map[string]string{"a/model.yaml": ok, "a/benchmarks/performance/x.yaml": "benchmark: warp_speed\n"},
			`a/benchmarks/performance/x.yaml:1:12: unknown benchmark "warp_speed"`, nil},
		{"unknown parameter", map[string]string{"a/model.yaml": ok, "a/benchmarks/performance/x.yaml": "benchmark: inference_speed\nparams:\n  prompt: hi\n  temprature: 0.5\n"},
			`a/benchmarks/performance/x.yaml:4:3: params: unknown parameter "temprature" of inference_speed (known: max_tokens, prompt)`, nil},
		{"parameter of a benchmark without any", map[string]string{"a/model.yaml": ok, "a/benchmarks/performance/x.yaml": "benchmark: loading_time\nparams: {cold: true}\n"},
			`a/benchmarks/performance/x.yaml:2:10: params: unknown parameter "cold": loading_time has no parameters`, nil},
		{"parameter of the wrong type", map[string]string{"a/model.yaml": ok, "a/benchmarks/performance/x.yaml": "benchmark: inference_speed\nparams:\n  max_tokens: lots\n"},
			`a/benchmarks/performance/x.yaml:3:15: params.max_tokens: want an integer, got a string`, nil},
		{"parameter out of range", map[string]string{"a/model.yaml": ok, "a/benchmarks/performance/x.yaml": "benchmark: batch_processing_4\nparams: {size: 0}\n"},
			`a/benchmarks/performance/x.yaml:2:16: params.size: 0: must be at least 1`, nil},
		{"unknown key in a benchmark", map[string]string{"a/model.yaml": ok, "a/benchmarks/performance/x.yaml": "benchmarks:\n  - benchmark: inference_speed\n    repeat: 3\n"},
			`a/benchmarks/performance/x.yaml:3:5: benchmark: unknown key "repeat"`, nil},
		{"unknown key at the top of a benchmark file", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "benchmarkz:\n  - benchmark: accuracy\n"},
			`a/benchmarks/unit/x.yaml:1:1: benchmark file: unknown key "benchmarkz"`, nil},
		{"missing dataset", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "benchmark: accuracy\nparams:\n  dataset: none.jsonl\n"},
			`a/benchmarks/unit/x.yaml:3:12: params.dataset: `, nil},
		{"bad dataset line", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "benchmark: accuracy\nparams:\n  dataset: d.jsonl\n", "a/benchmarks/unit/d.jsonl": "{\"input\":\"a\",\"expected\":\"b\"}\n{oops\n"},
			`a/benchmarks/unit/x.yaml:3:12: params.dataset: a/benchmarks/unit/d.jsonl:2: not valid JSON`, nil},
		{"unknown built-in dataset", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "benchmark: accuracy\nparams:\n  dataset: builtin:trivia\n"},
			`a/benchmarks/unit/x.yaml:3:12: params.dataset: `, nil},
		{"inline case without expected", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "benchmark: accuracy\nparams:\n  cases:\n    - input: hi\n"},
			`a/benchmarks/unit/x.yaml:4:7: params.cases[0]: missing required key "expected"`, nil},
		{"duplicate result names", map[string]string{"a/model.yaml": ok, "a/benchmarks/performance/x.yaml": "benchmarks:\n  - benchmark: inference_speed\n  - benchmark: inference_speed\n"},
			`a/benchmarks/performance/x.yaml:3:5: duplicate benchmark name "inference_speed" in model a`, nil},
		{"bad instance name", map[string]string{"a/model.yaml": ok, "a/benchmarks/performance/x.yaml": "benchmark: inference_speed\nname: speed.fast\n"},
			`a/benchmarks/performance/x.yaml:2:7: name "speed.fast"`, nil},
		{"tests in performance", map[string]string{"a/model.yaml": ok, "a/benchmarks/performance/x.yaml": "tests:\n  - name: t\n    check: loading_time < 1\n"},
			`a/benchmarks/performance/x.yaml:1:1: tests belong in benchmarks/unit or benchmarks/integration`, nil},
		{"test with prompt and check", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "tests:\n  - name: t\n    prompt: hi\n    expect: {contains: x}\n    check: loading_time < 1\n"},
			`a/benchmarks/unit/x.yaml:2:5: test "t": a test has either prompt and expect, or check, not both`, nil},
		{"prompt without expect", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "tests:\n  - name: t\n    prompt: hi\n"},
			`a/benchmarks/unit/x.yaml:3:13: test "t": a prompt needs an expect`, nil},
		{"test without name", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "tests:\n  - prompt: hi\n    expect: {contains: x}\n"},
			`a/benchmarks/unit/x.yaml:2:5: test: missing required key "name"`, nil},
		{"unknown expectation", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "tests:\n  - name: t\n    prompt: hi\n    expect: {startswith: x}\n"},
			`a/benchmarks/unit/x.yaml:4:14: expect: unknown key "startswith"`, nil},
		{"bad regular expression", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "tests:\n  - name: t\n    prompt: hi\n    expect: {matches: \"(\"}\n"},
			`a/benchmarks/unit/x.yaml:4:23: expect.matches: bad regular expression`, nil},
		{"duplicate test names", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "tests:\n  - name: t\n    check: loading_time < 1\n", "a/benchmarks/integration/y.yaml": "tests:\n  - name: t\n    check: loading_time < 2\n"},
			`a/benchmarks/integration/y.yaml:2:5: duplicate test name "t" in model a (also `, nil},
		{"check without comparison", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "tests:\n  - name: t\n    check: inference_speed 50\n"},
			`a/benchmarks/unit/x.yaml:3:28: check: want a comparison`, nil},
		{"check without number", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "tests:\n  - name: t\n    check: \"inference_speed > fast\"\n"},
			`a/benchmarks/unit/x.yaml:3:31: check: want a number after >, got "fast"`, nil},
		{"check on an unknown benchmark", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "tests:\n  - name: t\n    check: speed > 5\n"},
			`a/benchmarks/unit/x.yaml:3:12: check: unknown benchmark "speed"`, nil},
		{"check with the wrong unit", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "tests:\n  - name: t\n    check: inference_speed > 5 requests/sec\n"},
			`a/benchmarks/unit/x.yaml:3:32: check: inference_speed is measured in tokens/sec, not requests/sec`, nil},
		{"unknown benchmarks folder", map[string]string{"a/model.yaml": ok, "a/benchmarks/stress/x.yaml": "benchmark: inference_speed\n"},
			`a/benchmarks/stress: unknown benchmarks folder "stress"`, nil},
		{"benchmark file outside a kind folder", map[string]string{"a/model.yaml": ok, "a/benchmarks/x.yaml": "benchmark: inference_speed\n"},
			`a/benchmarks/x.yaml: benchmark files belong in`, nil},
		{"model as a file", map[string]string{"a/model.yaml": ok, "b.yaml": ok},
			`b.yaml: a model is a folder holding model.yaml`, nil},
		{"empty benchmark file", map[string]string{"a/model.yaml": ok, "a/benchmarks/unit/x.yaml": "{}\n"},
			`a/benchmarks/unit/x.yaml:1:1: empty benchmark file`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			tr, err := load(t, dir, tc.vars)
			checkErr(t, dir, tr, err, tc.want)
		})
	}
}

// checkErr asserts that err is an ErrorList holding an error that starts
// with dir/want.
func checkErr(t *testing.T, dir string, tr *Tree, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; tree %v", tr.Names())
	}
	if tr != nil {
		t.Errorf("a tree came back with the error")
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, not an ErrorList: %v", err, err)
	}
	var got []string
	for _, e := range list {
		rel := strings.ReplaceAll(e.Error(), dir+string(filepath.Separator), "")
		got = append(got, rel)
		if strings.HasPrefix(rel, want) {
			if strings.Contains(e.Error(), "\n") {
				t.Errorf("message spans lines: %q", e.Error())
			}
			return
		}
	}
	t.Errorf("no error starts with %q; got:\n  %s", want, strings.Join(got, "\n  "))
}

func TestSymlinks(t *testing.T) {
	outside := writeTree(t, map[string]string{"m/model.yaml": "driver: fake\n", "bench/x.yaml": "benchmark: accuracy\n"})
	for _, tc := range []struct {
		name  string
		setup func(dir string) error
		want  string
	}{
		{"model folder linked from outside", func(dir string) error {
			return os.Symlink(filepath.Join(outside, "m"), filepath.Join(dir, "linked"))
		}, "linked: symlink points outside the models tree"},
		{"benchmark folder linked from outside", func(dir string) error {
			return os.Symlink(filepath.Join(outside, "bench"), filepath.Join(dir, "a/benchmarks/unit"))
		}, "a/benchmarks/unit: symlink points outside the models tree"},
		{"model.yaml linked from outside", func(dir string) error {
			if err := os.MkdirAll(filepath.Join(dir, "b"), 0o755); err != nil {
				return err
			}
			return os.Symlink(filepath.Join(outside, "m/model.yaml"), filepath.Join(dir, "b/model.yaml"))
		}, "b/model.yaml: symlink points outside the models tree"},
		{"folder loop", func(dir string) error {
			return os.Symlink("..", filepath.Join(dir, "a/benchmarks/performance/loop"))
		}, "a/benchmarks/performance/loop: symlink loop"},
		{"loop between two folders", func(dir string) error {
			p := filepath.Join(dir, "a/benchmarks/performance")
			for _, d := range []string{"x", "y"} {
				if err := os.MkdirAll(filepath.Join(p, d), 0o755); err != nil {
					return err
				}
			}
			if err := os.Symlink(filepath.Join(p, "y"), filepath.Join(p, "x/to-y")); err != nil {
				return err
			}
			return os.Symlink(filepath.Join(p, "x"), filepath.Join(p, "y/to-x"))
		}, "a/benchmarks/performance/x/to-y/to-x: symlink loop"},
		{"symlink loop", func(dir string) error {
			p := filepath.Join(dir, "a/benchmarks/performance")
			if err := os.Symlink(filepath.Join(p, "y.yaml"), filepath.Join(p, "x.yaml")); err != nil {
				return err
			}
			return os.Symlink(filepath.Join(p, "x.yaml"), filepath.Join(p, "y.yaml"))
		}, "a/benchmarks/performance/x.yaml: symlink loop"},
		{"broken symlink", func(dir string) error {
			return os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "a/benchmarks/performance/x.yaml"))
		}, "a/benchmarks/performance/x.yaml: broken symlink"},
		{"very deep nesting", func(dir string) error {
			p := filepath.Join(dir, "a/benchmarks/performance")
			for i := 0; i < 12; i++ {
				p = filepath.Join(p, fmt.Sprintf("d%d", i))
			}
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(p, "x.yaml"), []byte("benchmark: accuracy\n"), 0o644)
		}, "a/benchmarks/performance/d0/d1/d2/d3/d4/d5/d6/d7/d8: folders nested more than 8 deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"a/model.yaml": "driver: fake\n", "a/benchmarks/performance/ok.yaml": "benchmark: loading_time\n"})
			if err := tc.setup(dir); err != nil {
				t.Fatal(err)
			}
			tr, err := load(t, dir, nil)
			checkErr(t, dir, tr, err, tc.want)
		})
	}
	// A symlink inside the tree is fine.
	dir := writeTree(t, map[string]string{"a/model.yaml": "driver: fake\n", "_shared/speed.yaml": "benchmark: inference_speed\n"})
	if err := os.Symlink(filepath.Join(dir, "_shared"), filepath.Join(dir, "a/benchmarks-perf")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "a/benchmarks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "_shared"), filepath.Join(dir, "a/benchmarks/performance")); err != nil {
		t.Fatal(err)
	}
	tr, err := load(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tr.Model("a").Benchmarks); n != 1 {
		t.Errorf("%d benchmarks through an inside symlink, want 1", n)
	}
}

func TestAllErrorsReportedInOrder(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"a/model.yaml":                    "driver: nope\ncolour: x\n",
		"a/benchmarks/performance/x.yaml": "benchmark: warp\n",
		"b/model.yaml":                    "driver: fake\n",
		"b/benchmarks/unit/x.yaml":        "tests:\n  - name: t\n    check: warp > 1\n",
	})
	_, err := load(t, dir, nil)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("%v", err)
	}
	var got []string
	for _, e := range list {
		got = append(got, strings.TrimPrefix(e.Pos.String(), dir+"/"))
	}
	want := []string{"a/benchmarks/performance/x.yaml:1:12", "a/model.yaml:1:9", "a/model.yaml:2:1", "b/benchmarks/unit/x.yaml:3:12"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("positions\n got %v\nwant %v", got, want)
	}
	if msg := err.Error(); !strings.Contains(msg, "(and 3 more problems") || strings.Contains(msg, "\n") {
		t.Errorf("summary %q", msg)
	}
}

func TestSecretsAreNotShown(t *testing.T) {
	const key = "sk-live-abcdefghijklmnop"
	dir := writeTree(t, map[string]string{
		"a/model.yaml": "driver: fake\noptions:\n  api_key: ${OPENAI_API_KEY}\n  base_url: http://example.invalid\n  fail: \"yes\"\n",
		"b/model.yaml": "driver: fake\noptions:\n  api_key: literal-secret-value\n",
	})
	_, err := load(t, dir, map[string]string{"OPENAI_API_KEY": key})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Contains(msg, key) || strings.Contains(msg, "literal-secret-value") {
		t.Errorf("error shows a secret: %s", msg)
	}
	if !strings.Contains(msg, "server refused key <redacted> at http://example.invalid") {
		t.Errorf("error %q lost its meaning", msg)
	}
	// Without the failure, the display forms hide both secrets.
	os.WriteFile(filepath.Join(dir, "a/model.yaml"), []byte("driver: fake\noptions:\n  api_key: ${OPENAI_API_KEY}\n"), 0o644)
	tr, err := load(t, dir, map[string]string{"OPENAI_API_KEY": key})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Model("a").DisplayOptions["api_key"]; got != "${OPENAI_API_KEY}" {
		t.Errorf("display %q", got)
	}
	if got := tr.Model("b").DisplayOptions["api_key"]; got != Redacted {
		t.Errorf("display %q", got)
	}
	if got := tr.Scrubber().Scrub("key " + key + " and literal-secret-value"); got != "key <redacted> and <redacted>" {
		t.Errorf("scrub: %q", got)
	}
	if tr.Model("a").Options["api_key"] != key {
		t.Errorf("the driver does not get the key")
	}
}

func TestExpand(t *testing.T) {
	x := &expander{lookup: env(map[string]string{"HOST": "h", "EMPTY": "", "API_TOKEN": "tok-123456"}), secrets: map[string]bool{}}
	for _, tc := range []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"http://${HOST}:8000", "http://h:8000", ""},
		{"${MISSING:-fallback}", "fallback", ""},
		{"${EMPTY:-fallback}", "fallback", ""},
		{"${EMPTY}", "", ""},
		{"cost $5 and $$HOME", "cost $5 and $HOME", ""},
		{"${API_TOKEN}", "tok-123456", ""},
		{"${MISSING}", "", "environment variable MISSING is not set"},
		{"${1BAD}", "", "bad variable name"},
		{"${HOST", "", "unterminated"},
	} {
		got, _, err := x.expand(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("expand(%q): error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if !x.secrets["tok-123456"] || x.secrets["h"] {
		t.Errorf("secrets %v: want only the token's value", x.secrets)
	}
}

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"api_key": true, "OPENAI_API_KEY": true, "hfToken": true, "HF_TOKEN": true, "DB_PASSWORD": true, "authorization": true,
		"x-api-key": true, "GITHUB_PAT": true, "session_cookie": true,
		"max_tokens": false, "per_token_us": true, "base_url": false, "keyboard": false, "monkey": false, "threads": false, "passage": false,
	} {
		if got := IsSecretName(name); got != want {
			t.Errorf("IsSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		src             string
		metric, key, op string
		value           float64
		unit, err       string
		errOff          int
		res             float64
		meta            map[string]any
		pass            bool
	}{
		{src: "inference_speed > 50 tokens/sec", metric: "inference_speed", op: ">", value: 50, unit: "tokens/sec", res: 51, pass: true},
		{src: "inference_speed > 50 tokens/sec", metric: "inference_speed", op: ">", value: 50, unit: "tokens/sec", res: 50, pass: false},
		{src: "loading_time<=2", metric: "loading_time", op: "<=", value: 2, res: 2, pass: true},
		{src: "  accuracy >= 0.5e0 ratio", metric: "accuracy", op: ">=", value: 0.5, unit: "ratio", res: 0.49, pass: false},
		{src: "x.ttft_ms_median < 200 ms", metric: "x", key: "ttft_ms_median", op: "<", value: 200, unit: "ms", meta: map[string]any{"ttft_ms_median": 150.0}, pass: true},
		{src: "x.iterations == 10", metric: "x", key: "iterations", op: "==", value: 10, meta: map[string]any{"iterations": 10}, pass: true},
		{src: "x.missing != 1", metric: "x", key: "missing", op: "!=", value: 1, meta: map[string]any{}, pass: false},
		{src: "x ~ 3", err: "want a comparison", errOff: 2},
		{src: "x > ", err: "want a number after >", errOff: 4},
		{src: "x > 3 tokens per sec", err: "unexpected", errOff: 6},
		{src: "x. > 3", err: "bad metadata key", errOff: 2},
		{src: "> 3", err: "want METRIC OP NUMBER", errOff: 0},
	} {
		c, cerr := parseCheck(tc.src)
		if tc.err != "" {
			if cerr == nil || !strings.Contains(cerr.msg, tc.err) || cerr.offset != tc.errOff {
				t.Errorf("parseCheck(%q): %+v, want %q at %d", tc.src, cerr, tc.err, tc.errOff)
			}
			continue
		}
		if cerr != nil {
			t.Errorf("parseCheck(%q): %s", tc.src, cerr.msg)
			continue
		}
		if c.Metric != tc.metric || c.Key != tc.key || c.Op != tc.op || c.Value != tc.value || c.Unit != tc.unit {
			t.Errorf("parseCheck(%q) = %+v", tc.src, c)
		}
		r := resultWith(tc.res, tc.meta)
		pass, _, why := c.Eval(r)
		if pass != tc.pass {
			t.Errorf("%q on %v %v: pass = %v (%s)", tc.src, tc.res, tc.meta, pass, why)
		}
		if !pass && why == "" {
			t.Errorf("%q: failed without a reason", tc.src)
		}
	}
	// A failed benchmark fails every check on it.
	c, _ := parseCheck("x < 1e9")
	if pass, _, why := c.Eval(failedResult("boom")); pass || !strings.Contains(why, "boom") {
		t.Errorf("check on a failed result: %v %q", pass, why)
	}
}

func TestExpectations(t *testing.T) {
	for _, tc := range []struct {
		op, value, text string
		want            bool
	}{
		{"contains", "paris", "The capital is Paris.", true},
		{"contains", "London", "The capital is Paris.", false},
		{"not_contains", "london", "LONDON calling", false},
		{"not_contains", "berlin", "Paris", true},
		{"equals", "4", "  4\n", true},
		{"equals", "4", "four", false},
	} {
		e := Expectation{Op: tc.op, Value: tc.value}
		if got, why := e.Match(tc.text); got != tc.want || (!got && why == "") {
			t.Errorf("%s %q on %q = %v (%q)", tc.op, tc.value, tc.text, got, why)
		}
	}
}

// TestBuildRunsAsConfigured runs built instances on the fake model and
// checks that their iterations, warmup, name and parameters took effect.
func TestBuildRunsAsConfigured(t *testing.T) {
	tr, err := load(t, goodTree(t), map[string]string{"ALPHA_API_KEY": "sk-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	a := tr.Model("alpha")
	byName := map[string]*Instance{}
	for _, in := range a.Benchmarks {
		byName[in.Name] = in
	}
	clock := fake.NewClock()
	m := fake.New(clock, 0, time.Millisecond, 2*time.Millisecond)
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	run := func(in *Instance, iterations, warmup int) (map[string]any, string) {
		t.Helper()
		var adjusted bench.Benchmark
		b, err := in.Build(nil, func(b bench.Benchmark) { adjusted = b })
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := adjusted.(*bench.InferenceSpeed); !ok {
			t.Fatalf("adjust saw %T", adjusted)
		}
		before := m.Calls
		r := bench.Execute(context.Background(), b, &bench.Env{Model: m, ModelName: "alpha", Clock: clock, Iterations: iterations, Warmup: warmup}, 0)
		if r.Failed() {
			t.Fatalf("%s failed: %s", in.Name, r.Err())
		}
		return r.Metadata, fmt.Sprintf("%s %d", r.BenchmarkName, m.Calls-before)
	}
	// inference_speed_long: 9 iterations (its own), warmup 1 (the model's
	// default), 64 tokens at 2 ms each plus prefill of 4 words.
	meta, got := run(byName["inference_speed_long"], 0, -1)
	if got != "inference_speed_long 10" {
		t.Errorf("ran %s, want inference_speed_long 10 calls", got)
	}
	if meta["iterations"] != 9 || meta["warmup_iterations"] != 1 || meta["max_tokens"] != 64 || meta["prompt"] != "a much longer prompt" {
		t.Errorf("metadata %v", meta)
	}
	if meta["config_file"] != byName["inference_speed_long"].Pos.String() || meta["benchmark"] != "inference_speed" || meta["folder"] != "performance" {
		t.Errorf("provenance %v %v %v", meta["config_file"], meta["benchmark"], meta["folder"])
	}
	// 64 tokens in 4 ms prefill + 64*2 ms decode = 132 ms: 484.8 tokens/s.
	if v := meta["p50"].(float64); v < 484.8 || v > 484.9 {
		t.Errorf("median %v tokens/sec, want 64/0.132 = 484.85", v)
	}
	// The run's own settings win.
	_, got = run(byName["inference_speed"], 2, 0)
	if got != "inference_speed 2" {
		t.Errorf("ran %s, want 2 calls", got)
	}
}

func TestInstanceTimeout(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"a/model.yaml":                    "driver: fake\n",
		"a/benchmarks/performance/x.yaml": "benchmark: inference_speed\ntimeout: 20ms\n",
	})
	tr, err := load(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := tr.Model("a").Benchmarks[0]
	b, err := in.Build(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := bench.Execute(context.Background(), b, &bench.Env{Model: slowModel{}, ModelName: "a", Warmup: -1}, 0)
	if !r.Failed() || !strings.Contains(r.Err(), "timed out after 20ms (timeout of "+in.Pos.String()+")") {
		t.Errorf("result %v: %s", r.Value, r.Err())
	}
}

// slowModel answers when its context ends.
type slowModel struct{}

func (slowModel) Load(context.Context) error { return nil }
func (slowModel) Close() error               { return nil }
func (slowModel) Infer(ctx context.Context, _ model.Request) (model.Response, error) {
	<-ctx.Done()
	return model.Response{}, ctx.Err()
}

func resultWith(v float64, meta map[string]any) result.Result {
	if meta == nil {
		meta = map[string]any{}
	}
	meta["status"] = result.StatusOK
	return result.Result{BenchmarkName: "x", Value: v, Metadata: meta}
}

func failedResult(msg string) result.Result {
	return result.Fail("m", "x", "u", "performance", errors.New(msg), nil)
}
