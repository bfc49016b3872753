package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
)

// echoModel is a model for command-line tests: it answers known prompts,
// otherwise repeats "tok", and takes a real perToken per generated token.
type echoModel struct {
	perToken time.Duration
	failLoad bool
	loaded   bool
}

var echoAnswers = map[string]string{"Capital of France?": "Paris is the capital", "What is 2+2?": "4"}

func (m *echoModel) Load(ctx context.Context) error {
	if m.failLoad {
		return errors.New("echo: weights are missing")
	}
	m.loaded = true
	return nil
}
func (m *echoModel) Close() error { m.loaded = false; return nil }
func (m *echoModel) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	if !m.loaded {
		return model.Response{}, errors.New("echo: not loaded")
	}
	start := time.Now()
	text, ok := echoAnswers[req.Prompt]
	n := len(strings.Fields(text))
	if !ok {
		n = req.MaxTokens
		if n <= 0 {
			n = 16
		}
		text = strings.TrimSpace(strings.Repeat("tok ", n))
	}
	time.Sleep(time.Duration(n) * m.perToken)
	d := time.Since(start)
	return model.Response{Text: text, PromptTokens: len(strings.Fields(req.Prompt)), OutputTokens: n, Start: start,
		FirstToken: d / time.Duration(n+1), Duration: d}, nil
}

// echoConfig is a Config whose only driver is "echo" (options
// delay_us and fail_load; others are rejected, as drivers do).
func echoConfig(t testing.TB) Config {
	t.Helper()
	models := model.NewRegistry()
	err := models.Register(model.Driver{Name: "echo", Presets: []string{"small"}, Open: func(cfg model.Config) (model.Model, error) {
		m := &echoModel{perToken: 20 * time.Microsecond}
		for k, v := range cfg.Options {
			switch k {
			case "delay_us":
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, fmt.Errorf("echo: delay_us=%q: want an integer", v)
				}
				m.perToken = time.Duration(n) * time.Microsecond
			case "fail_load":
				m.failLoad = v == "yes"
			case "api_key":
			default:
				return nil, fmt.Errorf("echo: unknown option %q", k)
			}
		}
		return m, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return Config{Models: models, Benchmarks: bench.Default}
}

// modelsTree writes a models tree into a new directory and returns the
// directory that holds models/.
func modelsTree(t testing.TB, extra map[string]string) string {
	t.Helper()
	base := t.TempDir()
	files := map[string]string{
		"alpha/model.yaml": `description: answers capitals
driver: echo
options:
  delay_us: 30
  api_key: ${PIOBENCH_TEST_API_KEY}
tags: [fast]
defaults:
  iterations: 2
  warmup: 0
  params:
    max_tokens: 4
`,
		"alpha/benchmarks/performance/speed.yaml": `benchmarks:
  - benchmark: inference_speed
  - benchmark: inference_speed
    name: inference_speed_long
    iterations: 3
    params: {prompt: "a much longer prompt than the other", max_tokens: 8}
  - benchmark: batch_processing_2
`,
		"alpha/benchmarks/unit/accuracy.yaml": `benchmark: accuracy
params:
  cases:
    - {input: "Capital of France?", expected: paris}
    - {input: "What is 2+2?", expected: "4"}
    - {input: "Largest ocean?", expected: Pacific}
`,
		"alpha/benchmarks/unit/tests.yaml": `tests:
  - name: paris
    prompt: Capital of France?
    expect: {contains: Paris, not_contains: London}
  - name: london
    prompt: Capital of France?
    expect: {contains: London}
  - name: fast
    check: inference_speed > 1 tokens/sec
  - name: impossible
    check: inference_speed_long > 1e12 tokens/sec
`,
		"alpha/benchmarks/integration/accuracy.yaml": `tests:
  - name: mostly-right
    check: [accuracy >= 0.6 ratio, accuracy.correct == 2]
`,
		"beta/model.yaml":                       "driver: echo\ndefaults: {iterations: 2, warmup: 0}\n",
		"beta/benchmarks/performance/load.yaml": "benchmark: loading_time\n",
		"gamma/model.yaml":                      "driver: echo\ndefaults: {iterations: 1, warmup: 0, params: {max_tokens: 3}}\n",
	}
	for k, v := range extra {
		if v == "" {
			delete(files, k)
			continue
		}
		files[k] = v
	}
	for p, content := range files {
		full := filepath.Join(base, "models", filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

// inDir runs fn with the working directory set to dir.
func inDir(t *testing.T, dir string, fn func()) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	fn()
}

func resultNames(run *result.Run) map[string][]string {
	out := map[string][]string{}
	for _, r := range run.Results {
		out[r.ModelName] = append(out[r.ModelName], r.BenchmarkName)
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

const testKey = "sk-test-key-0123456789abcdef"

func TestRunModelFolders(t *testing.T) {
	t.Setenv("PIOBENCH_TEST_API_KEY", testKey)
	base := modelsTree(t, nil)
	models := filepath.Join(base, "models")
	cfg := echoConfig(t)
	for _, tc := range []struct {
		name string
		args []string
		want map[string][]string
	}{
		{"every folder", []string{"--dir", models},
			map[string][]string{"alpha": {"accuracy", "batch_processing_2", "inference_speed", "inference_speed_long"}, "beta": {"loading_time"},
				"gamma": suiteFor(t, cfg, "full")}},
		{"one folder", []string{"--dir", filepath.Join(models, "beta")},
			map[string][]string{"beta": {"loading_time"}}},
		{"--model selects folders", []string{"--dir", models, "--model", "beta"},
			map[string][]string{"beta": {"loading_time"}}},
		{"--suite names a folder kind", []string{"--dir", models, "--suite", "unit"},
			map[string][]string{"alpha": {"accuracy"}}},
		{"--suite names a category", []string{"--dir", models, "--suite", "accuracy", "--model", "alpha"},
			map[string][]string{"alpha": {"accuracy"}}},
		{"--suite names a registered suite", []string{"--dir", models, "--suite", "performance"},
			map[string][]string{"alpha": {"batch_processing_2", "inference_speed", "inference_speed_long"}, "beta": {"loading_time"},
				"gamma": suiteFor(t, cfg, "performance")}},
		{"--benchmark names an instance", []string{"--dir", models, "--benchmark", "inference_speed_long"},
			map[string][]string{"alpha": {"inference_speed_long"}}},
		{"a folder without benchmarks runs the registry's", []string{"--dir", filepath.Join(models, "gamma"), "--benchmark", "inference_speed", "--benchmark", "loading_time"},
			map[string][]string{"gamma": {"inference_speed", "loading_time"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "results")
			code, stdout, stderr := runMain(t, cfg, append([]string{"run", "-q", "--out", out}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			j, c := readRun(t, out)
			if got := resultNames(j); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ran %v, want %v", got, tc.want)
			}
			if len(c.Results) != len(j.Results) {
				t.Errorf("CSV has %d results, JSON %d", len(c.Results), len(j.Results))
			}
			if strings.Contains(stdout+stderr, testKey) {
				t.Errorf("the API key was printed")
			}
			data, _ := os.ReadFile(firstFile(t, out, "*.json"))
			if strings.Contains(string(data), testKey) {
				t.Errorf("the API key is in the results file")
			}
		})
	}
}

// suiteFor returns the sorted names of a registered suite's benchmarks
// that apply to the echo model: what a model folder without benchmarks
// runs.
func suiteFor(t *testing.T, cfg Config, suite string) []string {
	t.Helper()
	names, err := cfg.Benchmarks.Suite(suite)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		b, _ := cfg.Benchmarks.New(n)
		if a, ok := b.(bench.Applicable); ok && !a.AppliesTo(&echoModel{}) {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func firstFile(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(m) == 0 {
		t.Fatalf("no %s in %s", pattern, dir)
	}
	return m[0]
}

// TestRunModelFolderResults checks what a model folder run records: the
// instance's settings applied, provenance in metadata, the folders in the
// run's configuration.
func TestRunModelFolderResults(t *testing.T) {
	t.Setenv("PIOBENCH_TEST_API_KEY", testKey)
	base := modelsTree(t, nil)
	out := filepath.Join(t.TempDir(), "results")
	code, stdout, stderr := runMain(t, echoConfig(t), "run", "-q", "--out", out, "--dir", filepath.Join(base, "models"), "--model", "alpha")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	j, _ := readRun(t, out)
	by := map[string]result.Result{}
	for _, r := range j.Results {
		by[r.BenchmarkName] = r
	}
	long := by["inference_speed_long"]
	if long.ModelName != "alpha" || long.Metadata["iterations"] != 3.0 || long.Metadata["warmup_iterations"] != 0.0 ||
		long.Metadata["max_tokens"] != 8.0 || long.Metadata["benchmark"] != "inference_speed" || long.Metadata["folder"] != "performance" {
		t.Errorf("inference_speed_long: %v", long.Metadata)
	}
	if f, _ := long.Metadata["config_file"].(string); !strings.HasSuffix(f, "alpha/benchmarks/performance/speed.yaml:3:5") {
		t.Errorf("config_file %q", f)
	}
	if by["inference_speed"].Metadata["iterations"] != 2.0 || by["inference_speed"].Metadata["max_tokens"] != 4.0 {
		t.Errorf("defaults not applied: %v", by["inference_speed"].Metadata)
	}
	acc := by["accuracy"]
	if acc.Value != 2.0/3 || acc.Metadata["total"] != 3.0 {
		t.Errorf("accuracy %v of %v", acc.Value, acc.Metadata["total"])
	}
	if by["batch_processing_2"].Metadata["batch_size"] != 2.0 {
		t.Errorf("batch %v", by["batch_processing_2"].Metadata)
	}
	cfgs := j.Config
	if !strings.HasSuffix(fmt.Sprint(cfgs["models_dir"]), "models") || cfgs["suite"] != "full" {
		t.Errorf("config %v", cfgs)
	}
	folders, _ := cfgs["model_folders"].(map[string]any)
	alpha, _ := folders["alpha"].(map[string]any)
	opts, _ := alpha["options"].(map[string]any)
	if opts["api_key"] != "${PIOBENCH_TEST_API_KEY}" || opts["delay_us"] != "30" {
		t.Errorf("model_folders %v", folders)
	}
	benches, _ := cfgs["benchmarks"].(map[string]any)
	if fmt.Sprint(benches["alpha"]) != "[accuracy inference_speed inference_speed_long batch_processing_2]" {
		t.Errorf("benchmarks %v", benches)
	}
}

// TestRunDiscoversModelsDir: a plain `piobench run` in a directory that
// holds models/ runs every model folder; --model picks folders by name.
func TestRunDiscoversModelsDir(t *testing.T) {
	t.Setenv("PIOBENCH_TEST_API_KEY", testKey)
	base := modelsTree(t, map[string]string{"gamma/model.yaml": ""})
	cfg := echoConfig(t)
	inDir(t, base, func() {
		code, stdout, stderr := runMain(t, cfg, "run", "-q", "--out", "res1")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		j, _ := readRun(t, "res1")
		if got := resultNames(j); len(got) != 2 || len(got["alpha"]) != 4 || len(got["beta"]) != 1 {
			t.Errorf("ran %v", got)
		}
		code, stdout, stderr = runMain(t, cfg, "run", "-q", "--out", "res2", "--model", "beta")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		j, _ = readRun(t, "res2")
		if got := resultNames(j); !reflect.DeepEqual(got, map[string][]string{"beta": {"loading_time"}}) {
			t.Errorf("--model beta ran %v", got)
		}
		// DRIVER:PRESET names keep their meaning next to models/.
		code, stdout, stderr = runMain(t, cfg, "run", "-q", "--out", "res3", "--model", "echo:small", "--benchmark", "inference_speed", "--iterations", "1")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		j, _ = readRun(t, "res3")
		if got := resultNames(j); !reflect.DeepEqual(got, map[string][]string{"echo:small": {"inference_speed"}}) {
			t.Errorf("--model echo:small ran %v", got)
		}
	})
}

// TestRunWithoutModelsDirKeepsDefault: without ./models, --model still
// wants DRIVER:PRESET and a folder name is an unknown model.
func TestRunWithoutModelsDirKeepsDefault(t *testing.T) {
	inDir(t, t.TempDir(), func() {
		code, _, stderr := runMain(t, echoConfig(t), "run", "-q", "--model", "alpha")
		if code != ExitUsage || !strings.Contains(stderr, `unknown model "alpha"`) {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
}

func TestModelFoldersBadInput(t *testing.T) {
	t.Setenv("PIOBENCH_TEST_API_KEY", testKey)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "x.yaml"), []byte("benchmark: accuracy\n"), 0o644)
	for _, tc := range []struct {
		name  string
		files map[string]string
		setup func(models string) error
		args  []string
		want  string
		only  bool // a problem only run and validate see: they open every model
	}{
		{name: "folder without model.yaml", files: map[string]string{"delta/benchmarks/unit/x.yaml": "benchmark: accuracy\n"},
			want: "delta: no model.yaml"},
		{name: "duplicate model names", files: map[string]string{"delta/model.yaml": "name: beta\ndriver: echo\n"},
			want: `delta/model.yaml:1:1: duplicate model name "beta"`},
		{name: "YAML syntax error", files: map[string]string{"beta/model.yaml": "driver: echo\ndefaults: [1, 2\n"},
			want: "beta/model.yaml:2:11: YAML syntax: sequence end token ']' not found"},
		{name: "unknown benchmark", files: map[string]string{"beta/benchmarks/performance/load.yaml": "benchmark: loading_tyme\n"},
			want: `beta/benchmarks/performance/load.yaml:1:12: unknown benchmark "loading_tyme"`},
		{name: "unknown parameter", files: map[string]string{"beta/benchmarks/performance/load.yaml": "benchmark: inference_speed\nparams:\n  promt: hi\n"},
			want: `beta/benchmarks/performance/load.yaml:3:3: params: unknown parameter "promt" of inference_speed`},
		{name: "option the driver rejects", files: map[string]string{"beta/model.yaml": "driver: echo\noptions: {colour: red}\n"},
			want: `echo: unknown option "colour"`, only: true},
		{name: "unset environment variable", files: map[string]string{"beta/model.yaml": "driver: echo\noptions: {api_key: \"${PIOBENCH_NOPE_KEY}\"}\n"},
			want: `beta/model.yaml:2:21: options.api_key: environment variable PIOBENCH_NOPE_KEY is not set`},
		{name: "symlink outside the tree", setup: func(models string) error {
			return os.Symlink(outside, filepath.Join(models, "beta/benchmarks/unit"))
		}, want: "beta/benchmarks/unit: symlink points outside the models tree"},
		{name: "symlink loop", setup: func(models string) error {
			return os.Symlink(filepath.Join(models, "beta/benchmarks"), filepath.Join(models, "beta/benchmarks/performance/again"))
		}, want: "beta/benchmarks/performance/again: symlink loop"},
		{name: "very deep nesting", setup: func(models string) error {
			p := filepath.Join(models, "beta/benchmarks/performance/1/2/3/4/5/6/7/8/9/10")
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(p, "x.yaml"), []byte("benchmark: accuracy\n"), 0o644)
		}, want: "nested more than 8 deep"},
		{name: "unknown model folder", args: []string{"--model", "omega"}, want: "--model omega: no such model folder"},
		{name: "mixing folders and DRIVER:PRESET", args: []string{"--model", "beta", "--model", "echo:small"}, want: "--model echo:small: with model folders"},
		{name: "--model-path with --dir", args: []string{"--model-path", "x.bin"}, want: "--dir and --model-path cannot be used together"},
		{name: "unknown suite", args: []string{"--suite", "nightly"}, want: `unknown suite "nightly"`},
		{name: "unknown --benchmark", args: []string{"--benchmark", "warp"}, want: "--benchmark warp: no selected model folder has it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := modelsTree(t, tc.files)
			models := filepath.Join(base, "models")
			if tc.setup != nil {
				if err := tc.setup(models); err != nil {
					t.Fatal(err)
				}
			}
			cfg := echoConfig(t)
			cmds := [][]string{{"run", "-q", "--dir", models}, {"test", "--dir", models}, {"discover", "--dir", models}}
			if tc.args != nil || tc.only {
				cmds = cmds[:1]
			}
			for _, cmd := range cmds {
				out := filepath.Join(t.TempDir(), "results")
				args := append(append(append([]string{}, cmd...), tc.args...), "--out", out)
				if cmd[0] != "run" {
					args = args[:len(args)-2]
				}
				code, stdout, stderr := runMain(t, cfg, args...)
				if code != ExitUsage {
					t.Errorf("%s: exit %d, want 2\nstderr: %s", cmd[0], code, stderr)
				}
				lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
				if len(lines) != 1 || !strings.HasPrefix(lines[0], "piobench: ") {
					t.Errorf("%s: stderr is not one line starting with \"piobench: \":\n%s", cmd[0], stderr)
				}
				if !strings.Contains(strings.ReplaceAll(stderr, models+"/", ""), tc.want) {
					t.Errorf("%s: stderr %q does not name the problem (%q)", cmd[0], stderr, tc.want)
				}
				if strings.Contains(stderr+stdout, "goroutine ") || strings.Contains(stderr+stdout, testKey) {
					t.Errorf("%s: panic trace or secret in output", cmd[0])
				}
				if entries, _ := os.ReadDir(out); len(entries) > 0 {
					t.Errorf("%s: %d files written despite the error", cmd[0], len(entries))
				}
				if cmd[0] != "run" && stdout != "" {
					t.Errorf("%s: printed %q despite the error", cmd[0], stdout)
				}
			}
			if tc.args != nil {
				return
			}
			// validate lists the problem with its position, exit 2.
			code, _, stderr := runMain(t, cfg, "validate", models)
			if code != ExitUsage || !strings.Contains(strings.ReplaceAll(stderr, models+"/", ""), tc.want) ||
				!strings.Contains(stderr, "piobench: "+models+": ") {
				t.Errorf("validate: exit %d\n%s", code, stderr)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Setenv("PIOBENCH_TEST_API_KEY", testKey)
	base := modelsTree(t, nil)
	models := filepath.Join(base, "models")
	cfg := echoConfig(t)
	code, stdout, stderr := runMain(t, cfg, "validate", models)
	if code != 0 || stdout != "ok: "+models+": 3 models, 5 benchmarks, 5 tests\n" || stderr != "" {
		t.Errorf("exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	// Every problem, one per line, in file order.
	base = modelsTree(t, map[string]string{
		"alpha/model.yaml":                   "driver: echo\ncolour: red\n",
		"beta/benchmarks/unit/x.yaml":        "tests:\n  - name: t\n    check: loading_time <> 3\n",
		"gamma/benchmarks/performance/x.yml": "benchmark: memory_usage\nparams: {repeat: 0}\n",
	})
	models = filepath.Join(base, "models")
	code, stdout, stderr = runMain(t, cfg, "validate", models)
	got := strings.ReplaceAll(stderr, models+"/", "")
	want := `alpha/model.yaml:2:1: model.yaml: unknown key "colour" (want name, description, driver, preset, path, tokenizer, options, tags, defaults)
beta/benchmarks/unit/x.yaml:3:26: check: want a number after <, got "> 3"
gamma/benchmarks/performance/x.yml:2:18: params.repeat: 0: must be at least 1
piobench: ` + models + `: 3 problems
`
	if code != ExitUsage || got != want || stdout != "" {
		t.Errorf("exit %d\nstderr:\n%s\nwant:\n%s", code, got, want)
	}
	// Cobra's own argument checks are usage errors too.
	if code, _, _ := runMain(t, cfg, "validate", "a", "b"); code != ExitUsage {
		t.Errorf("two directories: exit %d", code)
	}
	if code, _, stderr := runMain(t, cfg, "validate", filepath.Join(base, "nowhere")); code != ExitUsage || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing directory: exit %d %s", code, stderr)
	}
}

func TestDiscover(t *testing.T) {
	t.Setenv("PIOBENCH_TEST_API_KEY", testKey)
	base := modelsTree(t, nil)
	models := filepath.Join(base, "models")
	cfg := echoConfig(t)
	code, stdout, stderr := runMain(t, cfg, "discover", "--dir", models)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	text := strings.ReplaceAll(stdout, models+"/", "")
	for _, want := range []string{
		"alpha  (echo)  alpha/model.yaml",
		"  answers capitals",
		"options: api_key=${PIOBENCH_TEST_API_KEY} delay_us=30",
		"tags: fast",
		"inference_speed_long  of inference_speed iterations=3 warmup=0 max_tokens=8 prompt=\"a much longer prompt than the other\"",
		"alpha/benchmarks/performance/speed.yaml:3:5",
		"test       unit         paris",
		"prompt \"Capital of France?\" expect contains \"Paris\", not_contains \"London\"",
		"check accuracy >= 0.6 ratio; accuracy.correct == 2",
		"beta  (echo)  beta/model.yaml",
		"gamma  (echo)",
		"3 models, 5 benchmarks, 5 tests",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("discover output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(stdout, testKey) {
		t.Errorf("the API key is shown")
	}
	code, stdout, _ = runMain(t, cfg, "discover", "--dir", models, "--json")
	if code != 0 {
		t.Fatalf("--json: exit %d", code)
	}
	var d discoveredTree
	if err := json.Unmarshal([]byte(stdout), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Models) != 3 || d.Models[0].Name != "alpha" || len(d.Models[0].Benchmarks) != 4 || len(d.Models[0].Tests) != 5 {
		t.Fatalf("json %+v", d)
	}
	a := d.Models[0]
	if a.Options["api_key"] != "${PIOBENCH_TEST_API_KEY}" || a.Defaults.Iterations != 2 || a.Benchmarks[0].Name != "accuracy" ||
		a.Benchmarks[0].Folder != "unit" || a.Tests[0].Type != "prompt" || a.Tests[2].Type != "check" || a.Tests[2].Checks[0] != "inference_speed > 1 tokens/sec" {
		t.Errorf("alpha %+v", a)
	}
	if p := a.Benchmarks[2].Position; !strings.HasSuffix(p.File, "speed.yaml") || p.Line != 3 || p.Col != 5 {
		t.Errorf("position %+v", p)
	}
	if strings.Contains(stdout, testKey) {
		t.Errorf("the API key is in the JSON")
	}
}

func TestTestCommand(t *testing.T) {
	t.Setenv("PIOBENCH_TEST_API_KEY", testKey)
	base := modelsTree(t, nil)
	models := filepath.Join(base, "models")
	cfg := echoConfig(t)
	code, stdout, stderr := runMain(t, cfg, "test", "--dir", models)
	if code != ExitFailed {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	verdicts := map[string]string{}
	for _, line := range strings.Split(stdout, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "PASS" || f[0] == "FAIL") && strings.Contains(f[1], "/") {
			verdicts[f[1]] = f[0]
		}
	}
	want := map[string]string{"alpha/paris": "PASS", "alpha/london": "FAIL", "alpha/fast": "PASS", "alpha/impossible": "FAIL", "alpha/mostly-right": "PASS"}
	if !reflect.DeepEqual(verdicts, want) {
		t.Errorf("verdicts %v, want %v\n%s", verdicts, want, stdout)
	}
	for _, s := range []string{`output does not contain "London"`, "inference_speed_long is ", "want > 1e+12 tokens/sec", "FAIL  2 of 5 tests failed"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, stdout)
		}
	}
	code, stdout, _ = runMain(t, cfg, "test", "--dir", models, "--run", "paris|mostly")
	if code != 0 || !strings.Contains(stdout, "ok  2 tests passed") {
		t.Errorf("--run: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runMain(t, cfg, "test", "--dir", models, "--json", "--model", "alpha")
	var js struct {
		Passed, Failed int
		Tests          []testOutcome
	}
	if err := json.Unmarshal([]byte(stdout), &js); err != nil || code != ExitFailed || js.Passed != 3 || js.Failed != 2 || len(js.Tests) != 5 {
		t.Errorf("--json: exit %d, %+v, %v\n%s", code, js, err, stdout)
	}
	// A model that does not load fails its tests; nothing else is wrong.
	base = modelsTree(t, map[string]string{"alpha/model.yaml": "driver: echo\noptions: {fail_load: \"yes\"}\n"})
	code, stdout, _ = runMain(t, cfg, "test", "--dir", filepath.Join(base, "models"))
	if code != ExitFailed || !strings.Contains(stdout, "FAIL  alpha/paris") || !strings.Contains(stdout, "model did not load: echo: weights are missing") {
		t.Errorf("load failure: exit %d\n%s", code, stdout)
	}
	// Flags.
	if code, _, stderr := runMain(t, cfg, "test", "--dir", models, "--run", "("); code != ExitUsage || !strings.Contains(stderr, "--run: bad regular expression") {
		t.Errorf("bad --run: exit %d %s", code, stderr)
	}
	if code, stdout, _ := runMain(t, cfg, "test", "--dir", filepath.Join(models, "beta")); code != 0 || !strings.Contains(stdout, "no test items") {
		t.Errorf("no tests: exit %d %s", code, stdout)
	}
}

// TestResumeModelFolders interrupts a model-folder run part way and
// finishes it with --resume: every benchmark of the folders ends up in the
// final files exactly once.
func TestResumeModelFolders(t *testing.T) {
	t.Setenv("PIOBENCH_TEST_API_KEY", testKey)
	base := modelsTree(t, map[string]string{"gamma/model.yaml": ""})
	models := filepath.Join(base, "models")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	cfg := echoConfig(t)
	drivers := model.NewRegistry()
	echo, _ := cfg.Models.Lookup("echo")
	open := echo.Open
	echo.Open = func(c model.Config) (model.Model, error) {
		m, err := open(c)
		if err != nil {
			return nil, err
		}
		return &interrupting{Model: m, calls: &calls, after: 6, cancel: cancel}, nil
	}
	drivers.Register(echo)
	cfg.Models = drivers
	out := t.TempDir()
	var stdout, stderr strings.Builder
	code := MainWith(ctx, []string{"run", "-q", "--dir", models, "--out", out}, &stdout, &stderr, cfg)
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want 130\n%s\n%s", code, stdout.String(), stderr.String())
	}
	first, _ := readRun(t, out)
	if n := len(first.Results); n == 0 || n >= 5 {
		t.Fatalf("%d results before the interrupt", n)
	}
	calls = -1 << 30 // no more interrupts
	code, so, se := runMain(t, cfg, "run", "--resume", first.RunID, "--out", out)
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s\n%s", code, so, se)
	}
	final, _ := readRun(t, out)
	want := map[string][]string{"alpha": {"accuracy", "batch_processing_2", "inference_speed", "inference_speed_long"}, "beta": {"loading_time"}}
	if got := resultNames(final); final.RunID != first.RunID || !reflect.DeepEqual(got, want) {
		t.Errorf("resumed run %s has %v, want %s with %v", final.RunID, got, first.RunID, want)
	}
}

// interrupting cancels the run after a number of inferences.
type interrupting struct {
	model.Model
	calls  *int
	after  int
	cancel context.CancelFunc
}

func (m *interrupting) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	*m.calls++
	if *m.calls == m.after {
		m.cancel()
	}
	return m.Model.Infer(ctx, req)
}
