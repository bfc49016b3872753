package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/pflag"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/eval"
	"github.com/inference-pio/piobench/result"
)

const accuracyHook = "accuracy"

// accuracyFlags are run's flags for the accuracy benchmark (datasets,
// selection, prompting, concurrency, per-case records), and what check
// makes of them.
type accuracyFlags struct {
	fs          *pflag.FlagSet
	limit       int
	shuffle     bool
	seed        int64
	saveCases   string
	concurrency int
	template    string
	system      string
	maxTokens   int
	stop        []string
	scorer      string

	// Set by check.
	cases    []eval.Case
	datasets []string // the datasets' names
	tmpl     *eval.Template
	sys      string
	stops    []string

	// The --save-cases file, written by begin, onCase and end.
	mu   sync.Mutex
	tmp  *os.File
	enc  *json.Encoder
	werr error
}

// accuracyOnly are the flags that only the accuracy benchmark uses.
var accuracyOnly = []string{"dataset", "limit", "shuffle", "seed", "save-cases", "concurrency",
	"prompt-template", "system-prompt", "max-tokens", "stop", "scorer"}

func init() {
	addRunHook(runHook{
		name: accuracyHook,
		addFlags: func(fs *pflag.FlagSet, f *runFlags) {
			a := &accuracyFlags{fs: fs}
			f.ext[accuracyHook] = a
			fs.StringArrayVar(&f.datasets, "dataset", nil, "accuracy cases: a JSONL file, builtin:smoke or builtin:arithmetic[:n=N,seed=S] (repeatable; default builtin:smoke)")
			fs.IntVar(&a.limit, "limit", 0, "evaluate at most N accuracy cases (after --shuffle; 0: all)")
			fs.BoolVar(&a.shuffle, "shuffle", false, "shuffle the accuracy cases with --seed before --limit")
			fs.Int64Var(&a.seed, "seed", 0, "seed of --shuffle, also sent with every accuracy request")
			fs.StringVar(&a.saveCases, "save-cases", "", "write one JSON line per accuracy case (input, output, expected, score, latency, error) to `FILE`")
			fs.IntVar(&a.concurrency, "concurrency", eval.DefaultConcurrency, "accuracy cases in flight at once: requests for models that serve concurrently, the batch size for models that batch (others: one at a time)")
			fs.StringVar(&a.template, "prompt-template", "", "Go template of each accuracy prompt, such as 'Q: {{.Input}}\\nA:' (fields .Input .Choices .ChoiceList .ID .Tags; @FILE reads a file)")
			fs.StringVar(&a.system, "system-prompt", "", "system prompt for accuracy cases (@FILE reads a file)")
			fs.IntVar(&a.maxTokens, "max-tokens", 0, "tokens per accuracy answer (default 32)")
			fs.StringArrayVar(&a.stop, "stop", nil, "stop sequence of accuracy answers, such as '\\n' (repeatable)")
			fs.StringVar(&a.scorer, "scorer", "", "scorer of accuracy cases that name none: contains (default), exact, normalized, regex, numeric, choice, with options such as numeric:tolerance=0.5")
		},
		check:     checkAccuracy,
		configure: configureAccuracy,
		begin:     beginAccuracy,
		end:       endAccuracy,
	})
}

func accuracyOf(f *runFlags) *accuracyFlags {
	a, _ := f.ext[accuracyHook].(*accuracyFlags)
	return a
}

// runsAccuracy reports whether the run includes an accuracy benchmark, and
// false for names that do not resolve (run reports those itself).
func runsAccuracy(cfg Config, f *runFlags) bool {
	names := f.benchmarks
	if len(names) == 0 {
		var err error
		if names, err = cfg.Benchmarks.Suite(f.suite); err != nil {
			return false
		}
	}
	for _, n := range names {
		if b, err := cfg.Benchmarks.New(n); err == nil {
			if _, ok := b.(*bench.Accuracy); ok {
				return true
			}
		}
	}
	return false
}

// flagText reads \n, \t and \\ in a flag's text (so that a shell can
// pass them); @FILE reads the text verbatim from a file.
func flagText(name, v string) (string, error) {
	if path, ok := strings.CutPrefix(v, "@"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", fmt.Errorf("--%s %s: %v", name, v, err)
		}
		return string(b), nil
	}
	return unescape(v), nil
}

// unescape replaces \n, \t and \\ with what they stand for.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			case 't':
				b.WriteByte('\t')
				i++
				continue
			case '\\':
				b.WriteByte('\\')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func checkAccuracy(cfg Config, f *runFlags) error {
	a := accuracyOf(f)
	if a == nil {
		return nil
	}
	changed := func(n string) bool { return a.fs != nil && a.fs.Changed(n) }
	if !runsAccuracy(cfg, f) {
		for _, n := range accuracyOnly {
			if changed(n) {
				return usagef("--%s is for the accuracy benchmark, which this run does not include", n)
			}
		}
		return nil
	}
	switch {
	case a.limit < 0:
		return usagef("--limit %d: must be 0 (all) or more", a.limit)
	case a.concurrency < 1:
		return usagef("--concurrency %d: must be at least 1", a.concurrency)
	case changed("max-tokens") && a.maxTokens < 1:
		return usagef("--max-tokens %d: must be at least 1", a.maxTokens)
	case changed("seed") && a.seed < 0:
		return usagef("--seed %d: must be 0 or more", a.seed)
	}
	if a.scorer != "" {
		if _, err := eval.Scorers.New(a.scorer); err != nil {
			return usagef("--scorer: %v", err)
		}
	}
	if a.template != "" {
		text, err := flagText("prompt-template", a.template)
		if err != nil {
			return usageError{err}
		}
		if a.tmpl, err = eval.ParseTemplate(text); err != nil {
			return usagef("--prompt-template: %v", err)
		}
	}
	if a.system != "" {
		text, err := flagText("system-prompt", a.system)
		if err != nil {
			return usageError{err}
		}
		a.sys = text
	}
	a.stops = nil
	for _, s := range a.stop {
		if s == "" {
			return usagef("--stop: empty stop sequence")
		}
		a.stops = append(a.stops, unescape(s))
	}
	a.cases, a.datasets = nil, nil
	for _, d := range f.datasets {
		ds, err := eval.Load(d, nil, a.scorer)
		if err != nil {
			return asUsage(err)
		}
		a.cases = append(a.cases, ds.Cases...)
		a.datasets = append(a.datasets, ds.Name)
	}
	if a.saveCases != "" {
		if err := checkSaveCases(a.saveCases); err != nil {
			return err
		}
	}
	return nil
}

// checkSaveCases makes sure the --save-cases file can be written, without
// leaving anything behind.
func checkSaveCases(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return usagef("--save-cases %s: is a directory", path)
	}
	probe, err := os.CreateTemp(filepath.Dir(path), ".piobench-probe-*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return usagef("--save-cases %s: cannot write there: %v", path, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

func configureAccuracy(f *runFlags, b bench.Benchmark) {
	a := accuracyOf(f)
	acc, ok := b.(*bench.Accuracy)
	if a == nil || !ok {
		return
	}
	if len(a.cases) > 0 {
		acc.Questions = a.cases
		acc.Dataset = strings.Join(a.datasets, ",")
	}
	extra := map[string]any{}
	if a.limit > 0 || a.shuffle {
		all := acc.EvalCases()
		acc.Questions = eval.Select(all, a.limit, a.shuffle, uint64(a.seed))
		extra["cases_available"] = len(all)
		extra["limit"] = a.limit
		extra["shuffle"] = a.shuffle
		if acc.Dataset == "" {
			acc.Dataset = describeCases(all)
		}
	}
	if len(extra) > 0 {
		if acc.Extra == nil {
			acc.Extra = map[string]any{}
		}
		for k, v := range extra {
			acc.Extra[k] = v
		}
	}
	// Flags given on the command line win; otherwise the benchmark keeps
	// what it has (a model folder's parameters, or the defaults).
	changed := func(n string) bool { return a.fs != nil && a.fs.Changed(n) }
	if a.tmpl != nil {
		acc.Eval.Template = a.tmpl
	}
	if changed("system-prompt") {
		acc.Eval.System = a.sys
	}
	if changed("stop") {
		acc.Eval.Stop = a.stops
	}
	if changed("seed") {
		acc.Eval.Seed = a.seed
	}
	if changed("concurrency") {
		acc.Eval.Concurrency = a.concurrency
	}
	if a.scorer != "" {
		acc.Eval.DefaultScorer = a.scorer
	}
	if changed("max-tokens") {
		acc.Eval.MaxTokens = a.maxTokens
	}
	if a.saveCases != "" {
		acc.OnCase = a.write
	}
}

func describeCases(cases []eval.Case) string {
	seen := map[string]bool{}
	var names []string
	for i := range cases {
		if d := cases[i].Dataset; d != "" && !seen[d] {
			seen[d] = true
			names = append(names, d)
		}
	}
	return strings.Join(names, ",")
}

// caseLine is one line of the --save-cases file.
type caseLine struct {
	Benchmark string `json:"benchmark"`
	eval.Record
}

func (a *accuracyFlags) write(r eval.Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.enc == nil || a.werr != nil {
		return
	}
	a.werr = a.enc.Encode(caseLine{Benchmark: "accuracy", Record: r})
}

func beginAccuracy(ctx context.Context, cfg Config, f *runFlags, run *result.Run) error {
	a := accuracyOf(f)
	if a == nil {
		return nil
	}
	if run.Config == nil {
		run.Config = map[string]any{}
	}
	run.Config["datasets"] = append([]string{}, f.datasets...)
	if !runsAccuracy(cfg, f) {
		return nil
	}
	conf := map[string]any{
		"limit":       a.limit,
		"shuffle":     a.shuffle,
		"seed":        a.seed,
		"concurrency": a.concurrency,
	}
	if len(a.datasets) > 0 {
		conf["datasets"] = a.datasets
	}
	if a.tmpl != nil {
		conf["prompt_template"] = a.tmpl.String()
	}
	if a.sys != "" {
		conf["system_prompt"] = a.sys
	}
	if a.fs != nil && a.fs.Changed("max-tokens") {
		conf["max_tokens"] = a.maxTokens
	}
	if len(a.stops) > 0 {
		conf["stop"] = a.stops
	}
	if a.scorer != "" {
		conf["scorer"] = a.scorer
	}
	if a.saveCases != "" {
		conf["save_cases"] = a.saveCases
		tmp, err := os.CreateTemp(filepath.Dir(a.saveCases), "."+filepath.Base(a.saveCases)+".*.partial")
		if err != nil {
			return fmt.Errorf("--save-cases: %w", err)
		}
		a.tmp = tmp
		a.enc = json.NewEncoder(tmp)
		a.enc.SetEscapeHTML(false)
	}
	run.Config["accuracy"] = conf
	return nil
}

// endAccuracy puts the --save-cases file in place and makes the run fail
// (exit 1) when accuracy cases errored.
func endAccuracy(ctx context.Context, cfg Config, f *runFlags, run *result.Run, files []string, stdout, stderr io.Writer) error {
	a := accuracyOf(f)
	if a == nil {
		return nil
	}
	if a.tmp != nil {
		a.mu.Lock()
		werr := a.werr
		a.enc = nil
		a.mu.Unlock()
		if err := a.tmp.Close(); err != nil && werr == nil {
			werr = err
		}
		if werr == nil {
			werr = os.Rename(a.tmp.Name(), a.saveCases)
		}
		if werr != nil {
			os.Remove(a.tmp.Name())
			return fmt.Errorf("--save-cases %s: %w", a.saveCases, werr)
		}
		a.tmp = nil
		fmt.Fprintf(stdout, "wrote %s\n", a.saveCases)
	}
	if ctx.Err() != nil {
		return nil // interrupted: run says so
	}
	var parts []string
	first := ""
	for _, r := range run.Results {
		if r.Failed() || r.Category != result.CategoryAccuracy {
			continue
		}
		n := metaInt(r.Metadata, "errors")
		if n <= 0 {
			continue
		}
		total := metaInt(r.Metadata, "total")
		parts = append(parts, fmt.Sprintf("%s %s: %d of %d cases", r.ModelName, r.BenchmarkName, n, total))
		if e, _ := r.Metadata["first_error"].(string); e != "" && first == "" {
			first = e
		}
	}
	if len(parts) == 0 {
		return nil
	}
	sort.Strings(parts)
	msg := "cases errored (counted apart from wrong answers): " + strings.Join(parts, "; ")
	if first != "" {
		msg += "; first: " + first
	}
	if run.Failures() > 0 {
		// run reports the failures and exits 1 itself.
		fmt.Fprintln(stderr, "piobench: accuracy: "+oneLine(msg))
		return nil
	}
	return errors.New(msg)
}

// metaInt reads a count from metadata, as it is in memory (int) or read
// back from JSON (float64); 0 when absent.
func metaInt(m map[string]any, key string) int {
	switch v := m[key].(type) {
	case int:
		return v
	case float64:
		return int(v)
	}
	return 0
}

// compareAccuracy is compare's row for two accuracy results (counts of
// correct answers in their metadata): each accuracy with its Wilson
// interval, and the difference B - A with its interval (Newcombe), which
// decides significance at 1 - alpha, rather than a test on the samples.
// ok is false for other results.
func compareAccuracy(a, b result.Result, alpha float64) (row string, ok bool) {
	if a.Category != result.CategoryAccuracy || b.Category != result.CategoryAccuracy {
		return "", false
	}
	c, err := eval.CompareResults(a, b, 1-alpha)
	if err != nil {
		return "", false
	}
	acc := func(p eval.Proportion) string {
		lo, hi := eval.Tally{Correct: p.Correct, Answered: p.N}.Interval(1 - alpha)
		return fmt.Sprintf("%.3f [%.3f, %.3f]", p.Ratio(), lo, hi)
	}
	delta := "~"
	switch c.Change() {
	case "+":
		delta = fmt.Sprintf("%+.3f [%+.3f, %+.3f] (better)", c.Diff, c.Low, c.High)
	case "-":
		delta = fmt.Sprintf("%+.3f [%+.3f, %+.3f] (worse)", c.Diff, c.Low, c.High)
	}
	return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\tp=%.3f\tn=%d+%d", a.ModelName, a.BenchmarkName, a.Unit, acc(c.A), acc(c.B), delta, c.PValue, c.A.N, c.B.N), true
}
