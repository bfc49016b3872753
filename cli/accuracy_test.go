package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/eval"
	"github.com/inference-pio/piobench/model"
)

// calculator answers "What is A op B?" right, except multiplications,
// which it gets wrong by one; it fails outright on questions listed in
// fail. Its true accuracy on any arithmetic set is known exactly.
type calculator struct {
	mu      sync.Mutex
	reqs    []model.Request
	fail    map[string]bool
	max     int  // MaxConcurrency, when it serves concurrently
	perfect bool // multiplications right too
}

var question = regexp.MustCompile(`What is (\d+) ([-+*]) (\d+)\?`)

func (c *calculator) Load(context.Context) error { return nil }
func (c *calculator) Close() error               { return nil }
func (c *calculator) Infer(_ context.Context, req model.Request) (model.Response, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, req)
	c.mu.Unlock()
	if c.fail[req.Prompt] {
		return model.Response{}, errors.New("upstream timed out")
	}
	if c.perfect {
		if m := question.FindStringSubmatch(req.Prompt); m != nil {
			a, _ := strconv.Atoi(m[1])
			b, _ := strconv.Atoi(m[3])
			return model.Response{Text: strconv.Itoa(map[string]int{"+": a + b, "-": a - b, "*": a * b}[m[2]])}, nil
		}
	}
	m := question.FindStringSubmatch(req.Prompt)
	if m == nil {
		return model.Response{Text: "I do not know."}, nil
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[3])
	v := map[string]int{"+": a + b, "-": a - b, "*": a*b + 1}[m[2]]
	return model.Response{Text: fmt.Sprintf("%s %s %s = %d\nWhat is next?", m[1], m[2], m[3], v)}, nil
}

// serving is a calculator that serves concurrently.
type serving struct{ *calculator }

func (s serving) MaxConcurrency() int { return s.max }

func readCases(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("--save-cases line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestAccuracyEndToEnd evaluates a model whose true accuracy is known
// exactly on a generated set, through the command line, and finds it.
func TestAccuracyEndToEnd(t *testing.T) {
	ds, err := eval.Builtin("arithmetic:n=60,seed=5")
	if err != nil {
		t.Fatal(err)
	}
	right := 0
	for _, c := range ds.Cases {
		if c.Tags[1] != "multiplication" {
			right++
		}
	}
	calc := &calculator{}
	cfg := testConfig(t, func() model.Model { return calc })
	out := t.TempDir()
	saved := filepath.Join(t.TempDir(), "cases.jsonl")
	code, stdout, stderr := runMain(t, cfg, "run", "--model", "test:m", "--benchmark", "accuracy", "--out", out,
		"--dataset", "builtin:arithmetic:n=60,seed=5", "--save-cases", saved)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	j, c := readRun(t, out)
	r := j.Results[0]
	if r.BenchmarkName != "accuracy" || r.Unit != "ratio" || r.Value != float64(right)/60 {
		t.Fatalf("result %s %v %s, want accuracy %v ratio (%d/60)", r.BenchmarkName, r.Value, r.Unit, float64(right)/60, right)
	}
	if c.Results[0].Value != r.Value {
		t.Errorf("CSV value %v", c.Results[0].Value)
	}
	md := r.Metadata
	if md["n"] != 60.0 || md["correct"] != float64(right) || md["errors"] != 0.0 || md["dataset"] != "builtin:arithmetic:n=60,seed=5,digits=2,ops=+-*" {
		t.Errorf("metadata n=%v correct=%v errors=%v dataset=%v", md["n"], md["correct"], md["errors"], md["dataset"])
	}
	mult := md["tags"].(map[string]any)["multiplication"].(map[string]any)
	if mult["accuracy"] != 0.0 || mult["n"] != float64(60-right) {
		t.Errorf("multiplication tag %v", mult)
	}
	if md["mode"] != "sequential" || md["temperature"] != 0.0 || md["seed"] != 0.0 {
		t.Errorf("mode %v temperature %v seed %v", md["mode"], md["temperature"], md["seed"])
	}
	lines := readCases(t, saved)
	if len(lines) != 60 {
		t.Fatalf("%d lines in --save-cases, want 60", len(lines))
	}
	for i, l := range lines {
		for _, k := range []string{"input", "output", "expected", "score", "latency_ms", "id", "model", "scorer"} {
			if _, ok := l[k]; !ok {
				t.Fatalf("line %d lacks %q: %v", i+1, k, l)
			}
		}
		wantScore := 1.0
		if strings.Contains(l["input"].(string), "*") {
			wantScore = 0
		}
		if l["score"] != wantScore || l["model"] != "test:m" || l["error"] != nil {
			t.Errorf("line %d: %v", i+1, l)
		}
	}
	if !strings.Contains(stdout, "wrote "+saved) {
		t.Errorf("stdout does not say where the cases went:\n%s", stdout)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(saved), ".*partial")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAccuracyFilesLimitShuffle(t *testing.T) {
	dir := t.TempDir()
	var a, b strings.Builder
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&a, `{"id": "a%d", "input": "What is %d + 1?", "expected": %d, "tags": ["a"]}`+"\n", i, i, i+1)
		fmt.Fprintf(&b, `{"id": "b%d", "input": "What is %d * 2?", "expected": "%d", "scorer": "numeric"}`+"\n", i, i, 2*i)
	}
	fa := writeFile(t, dir, "a.jsonl", a.String())
	fb := writeFile(t, dir, "b.jsonl", b.String())
	ids := func(seed string) []string {
		calc := &calculator{}
		cfg := testConfig(t, func() model.Model { return calc })
		out := t.TempDir()
		saved := filepath.Join(out, "cases.jsonl")
		code, stdout, stderr := runMain(t, cfg, "run", "--model", "test:m", "--suite", "accuracy", "--out", out,
			"--dataset", fa, "--dataset", fb, "--shuffle", "--seed", seed, "--limit", "25", "--save-cases", saved)
		if code != ExitOK {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		j, _ := readRun(t, filepath.Join(out))
		md := j.Results[0].Metadata
		if md["n"] != 25.0 || md["cases_available"] != 60.0 || md["limit"] != 25.0 || md["shuffle"] != true || md["dataset"] != fa+","+fb {
			t.Errorf("metadata n=%v available=%v limit=%v shuffle=%v dataset=%v", md["n"], md["cases_available"], md["limit"], md["shuffle"], md["dataset"])
		}
		conf := j.Config["accuracy"].(map[string]any)
		if conf["limit"] != 25.0 || conf["shuffle"] != true || fmt.Sprint(conf["seed"]) != seed {
			t.Errorf("run config %v", conf)
		}
		if fmt.Sprint(j.Config["datasets"]) != fmt.Sprint([]string{fa, fb}) {
			t.Errorf("run config datasets %v", j.Config["datasets"])
		}
		// The calculator gets the a-set right and the b-set (doubling,
		// which it reads as a*b+1) wrong: the value is the a-share.
		var got []string
		nA := 0
		for _, l := range readCases(t, saved) {
			got = append(got, l["id"].(string))
			if strings.HasPrefix(l["id"].(string), "a") {
				nA++
			}
		}
		if v := j.Results[0].Value; v != float64(nA)/25 {
			t.Errorf("value %v, want %d/25", v, nA)
		}
		return got
	}
	s1, s2, s3 := ids("7"), ids("7"), ids("8")
	if fmt.Sprint(s1) != fmt.Sprint(s2) {
		t.Errorf("the same seed picked different cases:\n%v\n%v", s1, s2)
	}
	if fmt.Sprint(s1) == fmt.Sprint(s3) {
		t.Error("seeds 7 and 8 picked the same cases in the same order")
	}
	if len(s1) != 25 {
		t.Errorf("%d cases, want 25", len(s1))
	}
}

// TestAccuracyCaseErrorsExitOne: cases that error are recorded apart from
// wrong answers, the result is written, and the run exits 1.
func TestAccuracyCaseErrorsExitOne(t *testing.T) {
	dir := t.TempDir()
	data := `{"input": "What is 1 + 1?", "expected": "2"}
{"input": "What is 2 + 2?", "expected": "4"}
{"input": "What is 3 * 3?", "expected": "9"}
{"input": "What is 5 + 5?", "expected": "10"}
`
	f := writeFile(t, dir, "d.jsonl", data)
	calc := &calculator{fail: map[string]bool{"What is 5 + 5?": true}}
	cfg := testConfig(t, func() model.Model { return calc })
	out := t.TempDir()
	code, stdout, stderr := runMain(t, cfg, "run", "--model", "test:m", "--benchmark", "accuracy", "--out", out, "--dataset", f)
	if code != ExitFailed {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	want := "piobench: accuracy: cases errored (counted apart from wrong answers): test:m accuracy: 1 of 4 cases; first: case 4: upstream timed out\n"
	if stderr != want {
		t.Errorf("stderr %q\nwant   %q", stderr, want)
	}
	j, _ := readRun(t, out)
	r := j.Results[0]
	if r.Failed() || r.Value != 2.0/3 || r.Metadata["errors"] != 1.0 || r.Metadata["wrong"] != 1.0 || r.Metadata["n"] != 3.0 || r.Metadata["total"] != 4.0 {
		t.Errorf("result value %v metadata errors=%v wrong=%v n=%v total=%v", r.Value, r.Metadata["errors"], r.Metadata["wrong"], r.Metadata["n"], r.Metadata["total"])
	}
	cases := r.Metadata["cases"].([]any)
	last := cases[3].(map[string]any)
	if last["error"] != "upstream timed out" || last["score"] != nil {
		t.Errorf("errored case record %v", last)
	}
	if !strings.Contains(stdout, "accuracy") {
		t.Errorf("table:\n%s", stdout)
	}
}

func TestAccuracyPromptFlags(t *testing.T) {
	dir := t.TempDir()
	sys := writeFile(t, dir, "sys.txt", "You are a calculator.\nAnswer with a number.")
	calc := &calculator{}
	cfg := testConfig(t, func() model.Model { return calc })
	out := t.TempDir()
	code, stdout, stderr := runMain(t, cfg, "run", "--model", "test:m", "--benchmark", "accuracy", "--out", out,
		"--dataset", "builtin:arithmetic:n=4,ops=+", "--prompt-template", `Q: {{.Input}}\nA:`, "--system-prompt", "@"+sys,
		"--stop", `\n`, "--max-tokens", "7", "--seed", "42", "--scorer", "exact")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if len(calc.reqs) != 4 {
		t.Fatalf("%d requests", len(calc.reqs))
	}
	r0 := calc.reqs[0]
	wantPrompt := "You are a calculator.\nAnswer with a number.\n\nQ: " + question.FindString(r0.Prompt) + "\nA:"
	if r0.Prompt != wantPrompt || r0.System != "You are a calculator.\nAnswer with a number." || r0.MaxTokens != 7 ||
		r0.Seed != 42 || r0.Temperature != 0 || len(r0.Stop) != 1 || r0.Stop[0] != "\n" {
		t.Errorf("request %+v", r0)
	}
	j, _ := readRun(t, out)
	md := j.Results[0].Metadata
	if md["prompt_template"] != "Q: {{.Input}}\nA:" || md["max_tokens"] != 7.0 || md["seed"] != 42.0 || fmt.Sprint(md["stop"]) != "[\n]" {
		t.Errorf("metadata %v %v %v %q", md["prompt_template"], md["max_tokens"], md["seed"], md["stop"])
	}
	// The generated set names its own scorer (numeric), which wins over
	// --scorer; the answer "A + B = C" cut at the stop sequence is right.
	if j.Results[0].Value != 1 {
		t.Errorf("value %v, want 1", j.Results[0].Value)
	}
}

func TestAccuracyConcurrencyFlag(t *testing.T) {
	calc := &calculator{max: 0}
	cfg := testConfig(t, func() model.Model { return serving{calc} })
	out := t.TempDir()
	code, stdout, stderr := runMain(t, cfg, "run", "--model", "test:m", "--benchmark", "accuracy", "--out", out,
		"--dataset", "builtin:arithmetic:n=20", "--concurrency", "3")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	j, _ := readRun(t, out)
	md := j.Results[0].Metadata
	if md["mode"] != "concurrent" || md["concurrency"] != 3.0 || md["n"] != 20.0 {
		t.Errorf("mode %v concurrency %v n %v", md["mode"], md["concurrency"], md["n"])
	}
}

// TestAccuracyBadInput: each problem is one line naming the file and line
// where there is one, exit 2, and nothing is written.
func TestAccuracyBadInput(t *testing.T) {
	dir := t.TempDir()
	ok := `{"input": "What is 1 + 1?", "expected": "2"}` + "\n"
	files := map[string]string{
		"notjson":   writeFile(t, dir, "notjson.jsonl", ok+"this is not JSON\n"),
		"badjson":   writeFile(t, dir, "badjson.jsonl", ok+ok+`{"input": "x", "expected": }`+"\n"),
		"noexp":     writeFile(t, dir, "noexp.jsonl", ok+`{"input": "What is 2 + 2?"}`+"\n"),
		"scorer":    writeFile(t, dir, "scorer.jsonl", ok+`{"input": "q", "expected": "a", "scorer": "semantic"}`+"\n"),
		"empty":     writeFile(t, dir, "empty.jsonl", ""),
		"blank":     writeFile(t, dir, "blank.jsonl", "\n\n"),
		"regex":     writeFile(t, dir, "regex.jsonl", ok+ok+ok+`{"input": "q", "expected": "[0-9", "scorer": "regex"}`+"\n"),
		"numeric":   writeFile(t, dir, "numeric.jsonl", `{"input": "q", "expected": "many", "scorer": "numeric"}`+"\n"),
		"choice":    writeFile(t, dir, "choice.jsonl", `{"input": "q", "choices": ["x", "y"], "expected": "E"}`+"\n"),
		"ok":        writeFile(t, dir, "ok.jsonl", ok),
		"paris":     writeFile(t, dir, "paris.jsonl", `{"input": "Capital of France?", "expected": "Paris"}`+"\n"),
		"notadir":   writeFile(t, dir, "plain", "x"),
		"duplicate": writeFile(t, dir, "dup.jsonl", `{"id": "q", "input": "a", "expected": "b"}`+"\n"+`{"id": "q", "input": "c", "expected": "d"}`+"\n"),
	}
	saved := filepath.Join(t.TempDir(), "cases.jsonl")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"not JSON", []string{"--dataset", files["notjson"]}, "notjson.jsonl:2: not a JSON object"},
		{"broken JSON", []string{"--dataset", files["badjson"]}, "badjson.jsonl:3: not valid JSON"},
		{"no expected", []string{"--dataset", files["noexp"]}, `noexp.jsonl:2: no "expected" answer`},
		{"unknown scorer", []string{"--dataset", files["scorer"]}, `scorer.jsonl:2: unknown scorer "semantic" (known: choice, contains, exact, normalized, numeric, regex)`},
		{"empty dataset", []string{"--dataset", files["empty"]}, "empty.jsonl: no cases (the dataset is empty)"},
		{"blank dataset", []string{"--dataset", files["blank"]}, "blank.jsonl: no cases"},
		{"invalid regex", []string{"--dataset", files["regex"]}, `regex.jsonl:4: regex scorer: invalid regular expression "[0-9": missing closing ]`},
		{"numeric not a number", []string{"--dataset", files["numeric"]}, `numeric.jsonl:1: numeric scorer: expected "many" is not a number`},
		{"choice not a choice", []string{"--dataset", files["choice"]}, `choice.jsonl:1: choice scorer: expected "E"`},
		{"duplicate id", []string{"--dataset", files["duplicate"]}, `dup.jsonl:2: duplicate id "q" (first on line 1)`},
		{"second file bad", []string{"--dataset", files["ok"], "--dataset", files["noexp"]}, `noexp.jsonl:2:`},
		{"missing file", []string{"--dataset", filepath.Join(dir, "none.jsonl")}, "none.jsonl: no such file or directory"},
		{"unknown builtin", []string{"--dataset", "builtin:trivia"}, `builtin:trivia: unknown built-in dataset "trivia"`},
		{"bad builtin option", []string{"--dataset", "builtin:arithmetic:n=0"}, `builtin:arithmetic:n=0: n=0: want 1 to 1000000 cases`},
		{"default scorer rejects a case", []string{"--dataset", files["paris"], "--scorer", "numeric"}, `paris.jsonl:1: numeric scorer: expected "Paris" is not a number`},
		{"unknown default scorer", []string{"--scorer", "fuzzy"}, `--scorer: unknown scorer "fuzzy"`},
		{"negative limit", []string{"--limit", "-1"}, "--limit -1"},
		{"zero concurrency", []string{"--concurrency", "0"}, "--concurrency 0: must be at least 1"},
		{"zero max tokens", []string{"--max-tokens", "0"}, "--max-tokens 0: must be at least 1"},
		{"negative seed", []string{"--seed", "-2"}, "--seed -2"},
		{"empty stop", []string{"--stop", ""}, "--stop: empty stop sequence"},
		{"bad template", []string{"--prompt-template", "{{.Input"}, "--prompt-template: prompt template: prompt:1: unclosed action"},
		{"unknown template field", []string{"--prompt-template", "{{.Question}}"}, "can't evaluate field Question"},
		{"missing template file", []string{"--prompt-template", "@" + filepath.Join(dir, "none.tmpl")}, "--prompt-template @"},
		{"missing system file", []string{"--system-prompt", "@" + filepath.Join(dir, "none.txt")}, "--system-prompt @"},
		{"save-cases unwritable", []string{"--save-cases", filepath.Join(files["notadir"], "cases.jsonl")}, "--save-cases"},
		{"save-cases a directory", []string{"--save-cases", dir}, "is a directory"},
		{"dataset without accuracy", []string{"--benchmark", "inference_speed", "--dataset", files["ok"]}, "--dataset is for the accuracy benchmark, which this run does not include"},
		{"limit without accuracy", []string{"--suite", "performance", "--limit", "5"}, "--limit is for the accuracy benchmark"},
		{"save-cases without accuracy", []string{"--benchmark", "loading_time", "--save-cases", saved}, "--save-cases is for the accuracy benchmark"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "results")
			args := append([]string{"run", "--model", "test:m", "--out", out}, tc.args...)
			if !contains(tc.args, "--benchmark") && !contains(tc.args, "--suite") {
				args = append(args, "--benchmark", "accuracy")
			}
			calc := &calculator{}
			code, stdout, stderr := runMain(t, testConfig(t, func() model.Model { return calc }), args...)
			wantUsage(t, code, stdout, stderr, tc.want, out)
			if _, err := os.Stat(saved); err == nil {
				t.Error("--save-cases file written despite the error")
			}
			if len(calc.reqs) > 0 {
				t.Errorf("the model was asked %d questions despite the error", len(calc.reqs))
			}
		})
	}
}

// TestAccuracyFlagsKeepBenchmarkSettings: settings a benchmark comes with
// (from a model folder's parameters, say) stay unless a flag is given.
func TestAccuracyFlagsKeepBenchmarkSettings(t *testing.T) {
	benchmarks := bench.NewRegistry()
	if err := benchmarks.Register(func() bench.Benchmark {
		a := bench.NewAccuracy()
		a.Eval.Seed, a.Eval.Concurrency, a.Eval.System = 5, 2, "Be brief."
		return a
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flags      []string
		seed, conc float64
		system     string
	}{
		{nil, 5, 2, "Be brief."},
		{[]string{"--seed", "9", "--concurrency", "3", "--system-prompt", "Think."}, 9, 3, "Think."},
	} {
		calc := &calculator{}
		cfg := testConfig(t, func() model.Model { return serving{calc} })
		cfg.Benchmarks = benchmarks
		out := t.TempDir()
		args := append([]string{"run", "--model", "test:m", "--benchmark", "accuracy", "--out", out}, tc.flags...)
		if code, stdout, stderr := runMain(t, cfg, args...); code != ExitOK {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		j, _ := readRun(t, out)
		md := j.Results[0].Metadata
		if md["seed"] != tc.seed || md["concurrency"] != tc.conc || md["system_prompt"] != tc.system {
			t.Errorf("flags %v: seed %v concurrency %v system %q, want %v %v %q", tc.flags, md["seed"], md["concurrency"], md["system_prompt"], tc.seed, tc.conc, tc.system)
		}
		if calc.reqs[0].System != tc.system || calc.reqs[0].Seed != int64(tc.seed) {
			t.Errorf("request %+v", calc.reqs[0])
		}
	}
}

// TestCompareAccuracy: piobench compare decides an accuracy change by the
// interval of the difference.
func TestCompareAccuracy(t *testing.T) {
	runOnce := func(perfect bool, n int) string {
		calc := &calculator{perfect: perfect}
		out := t.TempDir()
		code, stdout, stderr := runMain(t, testConfig(t, func() model.Model { return calc }), "run", "--model", "test:m", "--benchmark", "accuracy",
			"--out", out, "--no-history", "--dataset", fmt.Sprintf("builtin:arithmetic:n=%d,seed=3", n))
		if code != ExitOK {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		return mustGlob(t, out, "*.json")
	}
	a, b := runOnce(false, 90), runOnce(true, 90)
	code, stdout, stderr := runMain(t, DefaultConfig(), "compare", a, b)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	// A gets the 30-odd multiplications wrong, B none: a clear improvement,
	// shown with the interval of the difference.
	row := regexp.MustCompile(`test:m\s+accuracy\s+ratio\s+(0\.\d+) \[0\.\d+, 0\.\d+\]\s+1\.000 \[0\.\d+, 1\.000\]\s+\+0\.\d+ \[\+0\.\d+, \+0\.\d+\] \(better\)\s+p=0\.000\s+n=90\+90`)
	if !row.MatchString(stdout) {
		t.Errorf("compare output:\n%s", stdout)
	}
	// The same evaluation twice is no change.
	code, stdout, _ = runMain(t, DefaultConfig(), "compare", a, a)
	if code != ExitOK || !regexp.MustCompile(`accuracy\s+ratio\s+\S+ \[\S+ \S+\]\s+\S+ \[\S+ \S+\]\s+~\s+p=1\.000`).MatchString(stdout) {
		t.Errorf("compare of a run with itself:\n%s", stdout)
	}
	// Three questions each: 2/3 against 3/3 is not a significant change.
	s1, s2 := runOnce(false, 3), runOnce(true, 3)
	_, stdout, _ = runMain(t, DefaultConfig(), "compare", s1, s2)
	if !strings.Contains(stdout, "~") || !strings.Contains(stdout, "0.667 [") {
		t.Errorf("3 questions called a significant change (or no multiplication among them):\n%s", stdout)
	}
}
