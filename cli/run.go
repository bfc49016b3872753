package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/runner"
	"github.com/inference-pio/piobench/store"
)

type runFlags struct {
	suite      string
	benchmarks []string
	out        string
	iterations int
	warmup     int
	models     []string
	driver     string
	modelPath  string
	tokenizer  string
	datasets   []string // --dataset, defined by the accuracy hook (run_accuracy.go)
	timeout    time.Duration
	quiet      bool
	resume     string
	// args is the command line, kept in the journal so a run can resume.
	args []string
	// ext holds the flag values of run hooks, by hook name.
	ext map[string]any
}

func init() { addCommand(newRunCmd) }

func newRunCmd(cfg Config, stdout, stderr io.Writer) *cobra.Command {
	var f *runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a benchmark suite over one or more models and write JSON and CSV results",
		Long: `Run benchmarks a model (ref:15m unless told otherwise) with the full suite,
prints a table of results, and writes one JSON and one CSV file into
benchmark_results/ (or --out). Each finished result is also appended to a
journal (<out>/<run>.jsonl) as it finishes, so that an interrupted or
crashed run can be finished with --resume RUN_ID. Exit code 0: all
benchmarks passed; 1: some failed; 2: bad flags or input; 130: interrupted
(finished results are still written).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkRunFlags(cmd.Flags(), f); err != nil {
				return err
			}
			if f.resume != "" {
				return resumeRun(cmd.Context(), cfg, f, stdout, stderr)
			}
			return runRun(cmd.Context(), cfg, f, stdout, stderr)
		},
	}
	f = addRunFlags(cmd.Flags())
	f.args = cfg.args
	return cmd
}

// addRunFlags defines run's flags, its hooks' included, on fs.
func addRunFlags(fl *pflag.FlagSet) *runFlags {
	f := &runFlags{ext: map[string]any{}}
	fl.StringVar(&f.suite, "suite", "full", "suite to run: performance, memory, accuracy or full")
	fl.StringArrayVar(&f.benchmarks, "benchmark", nil, "run only this benchmark (repeatable); overrides --suite")
	fl.StringVar(&f.out, "out", "benchmark_results", "directory for the JSON and CSV results")
	fl.IntVar(&f.iterations, "iterations", 0, "measured iterations per benchmark (default: each benchmark's own)")
	fl.IntVar(&f.warmup, "warmup", 0, "warmup iterations per benchmark, not measured (default: each benchmark's own)")
	fl.StringArrayVar(&f.models, "model", nil, "model to benchmark as DRIVER:PRESET, such as ref:15m or ref:110m (repeatable)")
	fl.StringVar(&f.driver, "driver", "", "driver for --model-path (default ref)")
	fl.StringVar(&f.modelPath, "model-path", "", "weights file to load with --driver, such as a llama2.c checkpoint")
	fl.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer file for --model-path (default: tokenizer.bin beside it)")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Minute, "time limit per benchmark (0: none)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress display")
	fl.StringVar(&f.resume, "resume", "", "finish the interrupted run RUN_ID from its journal in --out")
	for _, h := range runHooks {
		if h.addFlags != nil {
			h.addFlags(fl, f)
		}
	}
	return f
}

// checkRunFlags validates values that flag parsing accepts but run does
// not.
func checkRunFlags(fl *pflag.FlagSet, f *runFlags) error {
	if fl.Changed("iterations") && f.iterations <= 0 {
		return usagef("--iterations %d: must be at least 1", f.iterations)
	}
	if fl.Changed("warmup") && f.warmup < 0 {
		return usagef("--warmup %d: must be 0 or more", f.warmup)
	}
	if !fl.Changed("warmup") {
		f.warmup = -1
	}
	if f.timeout < 0 {
		return usagef("--timeout %v: must not be negative", f.timeout)
	}
	return nil
}

// factories resolves the benchmarks to run, checking every name first.
func factories(cfg Config, f *runFlags) ([]bench.Factory, []string, error) {
	names := f.benchmarks
	if len(names) == 0 {
		var err error
		names, err = cfg.Benchmarks.Suite(f.suite)
		if err != nil {
			return nil, nil, asUsage(err)
		}
	}
	var out []bench.Factory
	for _, n := range names {
		if _, err := cfg.Benchmarks.New(n); err != nil {
			return nil, nil, asUsage(err)
		}
		n := n
		out = append(out, func() bench.Benchmark {
			b, _ := cfg.Benchmarks.New(n)
			for _, h := range runHooks {
				if h.configure != nil {
					h.configure(f, b)
				}
			}
			return b
		})
	}
	return out, names, nil
}

// targets resolves the models to benchmark. It opens each once (without
// loading) so that unknown names and bad files are reported before
// anything runs.
func targets(cfg Config, f *runFlags) ([]runner.Target, map[string][]string, error) {
	type spec struct {
		driver string
		mc     model.Config
		label  string
	}
	var specs []spec
	switch {
	case f.modelPath != "":
		if len(f.models) > 0 {
			return nil, nil, usagef("--model and --model-path cannot be used together")
		}
		d := f.driver
		if d == "" {
			d = "ref"
		}
		if _, err := os.Stat(f.modelPath); err != nil {
			return nil, nil, usagef("--model-path: %v", errors.Unwrap(err))
		}
		specs = append(specs, spec{d, model.Config{Path: f.modelPath, Tokenizer: f.tokenizer}, f.modelPath})
	default:
		if f.tokenizer != "" {
			return nil, nil, usagef("--tokenizer needs --model-path")
		}
		names := f.models
		if len(names) == 0 {
			names = []string{"ref:15m"}
		}
		for _, n := range names {
			d, p, ok := strings.Cut(n, ":")
			if !ok {
				if f.driver == "" {
					return nil, nil, usagef("unknown model %q: want DRIVER:PRESET, one of %s", n, strings.Join(cfg.Models.Models(), ", "))
				}
				d, p = f.driver, n
			}
			if f.driver != "" && d != f.driver {
				return nil, nil, usagef("--model %s is not a model of --driver %s", n, f.driver)
			}
			specs = append(specs, spec{d, model.Config{Preset: p}, d + ":" + p})
		}
	}
	var out []runner.Target
	notes := map[string][]string{}
	for _, s := range specs {
		m, err := cfg.Models.Open(s.driver, s.mc)
		if err != nil {
			return nil, nil, asUsage(err)
		}
		name := s.label
		if d, ok := m.(model.Describer); ok {
			if info := d.Info(); info.Name != "" {
				name = info.Name
			}
			notes[name] = d.Info().Notes
		}
		m.Close()
		s := s
		out = append(out, runner.Target{Name: name, Open: func(context.Context) (model.Model, error) {
			return cfg.Models.Open(s.driver, s.mc)
		}})
	}
	return out, notes, nil
}

// checkWritable makes sure results can be written to dir before anything
// runs.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usagef("--out %s: cannot create the directory: %v", dir, errors.Unwrap(err))
	}
	probe, err := os.CreateTemp(dir, ".piobench-probe-*")
	if err != nil {
		return usagef("--out %s: cannot write there: %v", dir, errors.Unwrap(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

func newRunID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// resolveTargets asks each hook for the models to run, then falls back to
// --model / --model-path.
func resolveTargets(ctx context.Context, cfg Config, f *runFlags) ([]runner.Target, map[string][]string, error) {
	for _, h := range runHooks {
		if h.targets == nil {
			continue
		}
		ts, notes, ok, err := h.targets(ctx, cfg, f)
		if err != nil {
			return nil, nil, asUsage(err)
		}
		if ok {
			return ts, notes, nil
		}
	}
	return targets(cfg, f)
}

func runRun(ctx context.Context, cfg Config, f *runFlags, stdout, stderr io.Writer) error {
	return execRun(ctx, cfg, f, nil, stdout, stderr)
}

// resumeRun finishes the run named by --resume from its journal: it reads
// the original command line from the journal, skips the benchmarks that
// finished, runs the rest and writes the same final files a run without a
// crash would have written.
func resumeRun(ctx context.Context, cfg Config, f *runFlags, stdout, stderr io.Writer) error {
	matches, _ := filepath.Glob(filepath.Join(f.out, "*_"+f.resume+".jsonl"))
	if len(matches) != 1 || strings.ContainsAny(f.resume, "/\\*?[") {
		return usagef("--resume %s: no journal of that run in %s (finished runs have no journal)", f.resume, f.out)
	}
	prev, err := result.ReadJournal(matches[0])
	if err != nil {
		return asUsage(err)
	}
	var args []string
	if list, ok := prev.Config["args"].([]any); ok {
		for _, a := range list {
			if s, ok := a.(string); ok {
				args = append(args, s)
			}
		}
	}
	if len(args) == 0 || args[0] != "run" {
		return usagef("%s: the journal does not record the run's command line", matches[0])
	}
	// The original flags, then any given now (later ones win), without
	// --resume itself.
	extra := withoutFlag(f.args[1:], "resume")
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	nf := addRunFlags(fs)
	if err := fs.Parse(append(append([]string{}, args[1:]...), extra...)); err != nil {
		return usagef("resuming %s: %v", f.resume, err)
	}
	if err := checkRunFlags(fs, nf); err != nil {
		return err
	}
	nf.out, nf.args = f.out, args
	prev.Config["resumed"] = true
	return execRun(ctx, cfg, nf, prev, stdout, stderr)
}

// withoutFlag drops --name and --name=value (and its value) from args.
func withoutFlag(args []string, name string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--"+name {
			i++
			continue
		}
		if strings.HasPrefix(a, "--"+name+"=") {
			continue
		}
		out = append(out, a)
	}
	return out
}

// execRun runs the benchmarks. prev, when not nil, is an interrupted run
// read from its journal: its id, start, environment and finished results
// are kept, and its finished benchmarks are not run again.
func execRun(ctx context.Context, cfg Config, f *runFlags, prev *result.Run, stdout, stderr io.Writer) error {
	for _, h := range runHooks {
		if h.check != nil {
			if err := h.check(cfg, f); err != nil {
				return asUsage(err)
			}
		}
	}
	facts, names, err := factories(cfg, f)
	if err != nil {
		return err
	}
	tgts, notes, err := resolveTargets(ctx, cfg, f)
	if err != nil {
		return err
	}
	if err := checkWritable(f.out); err != nil {
		return err
	}
	run := prev
	if run == nil {
		run = &result.Run{
			SchemaVersion: result.SchemaVersion,
			RunID:         newRunID(),
			StartedAt:     result.Time(time.Now().UTC()),
			Environment:   result.CaptureEnvironment(ctx),
			Results:       []result.Result{},
			Config: map[string]any{
				"command":    "run",
				"args":       redactArgs(f.args),
				"suite":      f.suite,
				"benchmarks": names,
				"models":     targetNames(tgts),
				"iterations": f.iterations,
				"warmup":     f.warmup,
				"timeout":    f.timeout.String(),
			},
		}
	}
	for _, h := range runHooks {
		if h.begin != nil {
			if err := h.begin(ctx, cfg, f, run); err != nil {
				return asUsage(fmt.Errorf("%s: %w", h.name, err))
			}
		}
	}
	done := map[[2]string]bool{}
	for _, r := range run.Results {
		done[[2]string{r.ModelName, r.BenchmarkName}] = true
	}
	var journal *result.Journal
	jpath := result.JournalPath(f.out, run)
	if prev != nil {
		journal, err = result.OpenJournal(jpath)
	} else {
		journal, err = result.CreateJournal(jpath, run)
	}
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer journal.Close()
	var journalErr error

	prog := newProgressLine(f, stderr)
	opts := runner.Options{
		Benchmarks: facts,
		Iterations: f.iterations,
		Warmup:     f.warmup,
		Timeout:    f.timeout,
		Skip:       func(m, b string) bool { return done[[2]string{m, b}] },
	}
	if prog != nil {
		opts.Progress = prog.update
	}
	opts.OnResult = func(r result.Result) {
		if err := journal.Append(r); err != nil && journalErr == nil {
			journalErr = err
		}
		for _, h := range runHooks {
			if h.onResult != nil {
				h.onResult(f, r)
			}
		}
	}
	results, runErr := runner.Run(ctx, tgts, opts)
	if prog != nil {
		prog.clear()
	}
	run.Results = orderResults(append(run.Results, results...), tgts, facts)
	fin := result.Time(time.Now().UTC())
	run.FinishedAt = &fin
	interrupted := runErr != nil && ctx.Err() != nil
	if interrupted {
		run.Config["interrupted"] = true
	} else {
		delete(run.Config, "interrupted")
	}
	printTable(stdout, run.Results)
	for _, t := range tgts {
		for _, n := range notes[t.Name] {
			fmt.Fprintf(stdout, "note: %s: %s\n", t.Name, n)
		}
	}
	jp, cp, err := result.WriteFiles(f.out, run)
	if err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	fmt.Fprintf(stdout, "\nwrote %s\nwrote %s\n", jp, cp)
	if journalErr != nil {
		fmt.Fprintf(stderr, "piobench: warning: journal %s: %v\n", jpath, journalErr)
	}
	if !interrupted {
		// The final files hold everything the journal did.
		journal.Close()
		os.Remove(jpath)
	}
	for _, h := range runHooks {
		if h.end != nil {
			if err := h.end(ctx, cfg, f, run, []string{jp, cp}, stdout, stderr); err != nil {
				return fmt.Errorf("%s: %w", h.name, err)
			}
		}
	}
	total := plannedBenchmarks(tgts, facts)
	switch {
	case interrupted:
		fmt.Fprintf(stderr, "piobench: interrupted: %d of %d benchmarks finished; finish with: piobench run --resume %s --out %s\n",
			len(run.Results), total, run.RunID, f.out)
		return exitError{ExitInterrupted}
	case runErr != nil:
		return runErr
	case run.Failures() > 0:
		fmt.Fprintf(stderr, "piobench: %d of %d benchmarks failed%s\n", run.Failures(), len(run.Results), firstFailure(run.Results))
		return exitError{ExitFailed}
	}
	return nil
}

// orderResults sorts results into the order a run without interruption
// produces: targets in order, each target's benchmarks in its order.
func orderResults(rs []result.Result, ts []runner.Target, facts []bench.Factory) []result.Result {
	rank := map[[2]string]int{}
	n := 0
	for _, t := range ts {
		list := t.Benchmarks
		if list == nil {
			list = facts
		}
		for _, f := range list {
			k := [2]string{t.Name, f().Name()}
			if _, ok := rank[k]; !ok {
				rank[k] = n
				n++
			}
		}
	}
	sort.SliceStable(rs, func(a, b int) bool {
		ra, oka := rank[[2]string{rs[a].ModelName, rs[a].BenchmarkName}]
		rb, okb := rank[[2]string{rs[b].ModelName, rs[b].BenchmarkName}]
		if oka != okb {
			return oka
		}
		return ra < rb
	})
	return rs
}

// plannedBenchmarks counts the benchmarks a run means to run.
func plannedBenchmarks(ts []runner.Target, facts []bench.Factory) int {
	n := 0
	for _, t := range ts {
		if t.Benchmarks != nil {
			n += len(t.Benchmarks)
		} else {
			n += len(facts)
		}
	}
	return n
}

// redactArgs returns the command line with the values of --env K=V flags
// hidden, since environment values may be secrets, and the passwords of
// URLs (--endpoint http://user:pass@host, --db postgres://user:pass@host).
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i := 0; i < len(out); i++ {
		out[i] = store.Redact(out[i])
		a := out[i]
		if a == "--env" && i+1 < len(out) {
			k, _, _ := strings.Cut(out[i+1], "=")
			out[i+1] = k + "=<redacted>"
			i++
		} else if v, ok := strings.CutPrefix(a, "--env="); ok {
			k, _, _ := strings.Cut(v, "=")
			out[i] = "--env=" + k + "=<redacted>"
		}
	}
	return out
}

func targetNames(ts []runner.Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
