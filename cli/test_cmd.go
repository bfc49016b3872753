package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/discover"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
)

func init() { addCommand(newTestCmd) }

type testFlags struct {
	dir     string
	models  []string
	run     string
	timeout time.Duration
	asJSON  bool
}

// A testOutcome is the verdict on one test item.
type testOutcome struct {
	Model    string        `json:"model"`
	Test     string        `json:"test"`
	Folder   string        `json:"folder"`
	Position string        `json:"position"`
	Pass     bool          `json:"pass"`
	Detail   string        `json:"detail"`
	Duration time.Duration `json:"duration_ns"`
}

func newTestCmd(cfg Config, stdout, stderr io.Writer) *cobra.Command {
	var f testFlags
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Run the test items of the model folders and report pass or fail",
		Long: `Test runs the test items found in the unit and integration folders of the
model folders (--dir, default models): prompts with expectations on the
output, and checks on benchmark results such as
"inference_speed > 50 tokens/sec". Each model is loaded once; each
benchmark a check reads runs once. Exit code 0: every test passed; 1: some
failed; 2: bad flags or files (nothing runs); 130: interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTests(cmd.Context(), cfg, &f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", "models", "models tree, or one model folder")
	fl.StringArrayVar(&f.models, "model", nil, "test only this model folder (repeatable)")
	fl.StringVar(&f.run, "run", "", "test only items whose MODEL/NAME matches this regular expression")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Minute, "time limit per test item or benchmark (0: none)")
	fl.BoolVar(&f.asJSON, "json", false, "print the outcomes as JSON")
	return cmd
}

func runTests(ctx context.Context, cfg Config, f *testFlags, stdout, stderr io.Writer) error {
	if f.timeout < 0 {
		return usagef("--timeout %v: must not be negative", f.timeout)
	}
	var filter *regexp.Regexp
	if f.run != "" {
		re, err := regexp.Compile(f.run)
		if err != nil {
			return usagef("--run: bad regular expression: %v", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		filter = re
	}
	t, err := loadModels(cfg, f.dir, false)
	if err != nil {
		return err
	}
	models := t.Models
	if len(f.models) > 0 {
		models = nil
		for _, n := range f.models {
			m := t.Model(n)
			if m == nil {
				return usagef("--model %s: no such model folder in %s (have %s)", n, f.dir, strings.Join(t.Names(), ", "))
			}
			models = append(models, m)
		}
	}
	type plan struct {
		m     *discover.Model
		tests []*discover.Test
	}
	var plans []plan
	total := 0
	for _, m := range models {
		var ts []*discover.Test
		for _, tt := range m.Tests {
			if filter == nil || filter.MatchString(m.Name+"/"+tt.Name) {
				ts = append(ts, tt)
			}
		}
		if len(ts) == 0 {
			continue
		}
		// Every model opens before anything runs, so a bad option stops
		// the whole command (exit 2) rather than half of it.
		mm, err := m.Open(cfg.Models)
		if err != nil {
			return usagef("%s: %v", m.File, err)
		}
		mm.Close()
		plans = append(plans, plan{m, ts})
		total += len(ts)
	}
	if total == 0 {
		fmt.Fprintf(stdout, "no test items in %s\n", f.dir)
		return nil
	}
	var outcomes []testOutcome
	report := func(o testOutcome) {
		outcomes = append(outcomes, o)
		if f.asJSON {
			return
		}
		verdict := "PASS"
		if !o.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(stdout, "%s  %s/%s  (%s, %.2fs)  %s\n", verdict, o.Model, o.Test, o.Folder, o.Duration.Seconds(), o.Detail)
	}
	for _, p := range plans {
		testModel(ctx, cfg, f, p.m, p.tests, report)
		if ctx.Err() != nil {
			break
		}
	}
	failed := 0
	for _, o := range outcomes {
		if !o.Pass {
			failed++
		}
	}
	if f.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"passed": len(outcomes) - failed, "failed": failed, "tests": outcomes}); err != nil {
			return err
		}
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "piobench: interrupted: %d of %d tests finished\n", len(outcomes), total)
		return exitError{ExitInterrupted}
	case failed > 0:
		if !f.asJSON {
			fmt.Fprintf(stdout, "FAIL  %d of %d tests failed\n", failed, len(outcomes))
		}
		return exitError{ExitFailed}
	}
	if !f.asJSON {
		fmt.Fprintf(stdout, "ok  %d %s passed\n", len(outcomes), plural(len(outcomes), "test", "tests"))
	}
	return nil
}

// testModel loads m once, runs its prompt tests, then the benchmarks its
// checks read (each once), and reports every test.
func testModel(ctx context.Context, cfg Config, f *testFlags, m *discover.Model, tests []*discover.Test, report func(testOutcome)) {
	scrub := m.Scrubber().Scrub
	outcome := func(tt *discover.Test, pass bool, detail string, d time.Duration) testOutcome {
		return testOutcome{Model: m.Name, Test: tt.Name, Folder: tt.Kind, Position: tt.Pos.String(), Pass: pass, Detail: scrub(detail), Duration: d}
	}
	limit := func(ctx context.Context) (context.Context, context.CancelFunc) {
		if f.timeout > 0 {
			return context.WithTimeout(ctx, f.timeout)
		}
		return context.WithCancel(ctx)
	}
	open := func(ctx context.Context) (model.Model, error) { return m.Open(cfg.Models) }
	start := time.Now()
	mm, err := open(ctx)
	if err == nil {
		lctx, cancel := limit(ctx)
		err = mm.Load(lctx)
		cancel()
		if err != nil {
			mm.Close()
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		for _, tt := range tests {
			report(outcome(tt, false, "model did not load: "+err.Error(), time.Since(start)))
		}
		return
	}
	defer mm.Close()
	results := map[*discover.Instance]result.Result{}
	for _, tt := range tests {
		if ctx.Err() != nil {
			return
		}
		start := time.Now()
		if len(tt.Checks) == 0 {
			tctx, cancel := limit(ctx)
			resp, err := mm.Infer(tctx, model.Request{Prompt: tt.Prompt, MaxTokens: tt.MaxTokens})
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				report(outcome(tt, false, "inference failed: "+err.Error(), time.Since(start)))
				continue
			}
			pass, why := true, ""
			for _, e := range tt.Expect {
				if ok, reason := e.Match(resp.Text); !ok {
					pass, why = false, reason
					break
				}
			}
			detail := fmt.Sprintf("output %q", clip(resp.Text, 60))
			if !pass {
				detail = why + "; " + detail
			}
			report(outcome(tt, pass, detail, time.Since(start)))
			continue
		}
		pass := true
		var details []string
		for _, c := range tt.Checks {
			r, ok := results[c.Instance]
			if !ok {
				b, err := c.Instance.Build(cfg.Benchmarks, nil)
				if err != nil {
					r = result.Fail(m.Name, c.Instance.Name, c.Instance.Unit, c.Instance.Category, err, nil)
				} else {
					env := &bench.Env{Model: mm, ModelName: m.Name, Open: open, Warmup: -1}
					r = bench.Execute(ctx, b, env, f.timeout)
				}
				if ctx.Err() != nil {
					return
				}
				results[c.Instance] = r
			}
			ok, got, why := c.Eval(r)
			if !ok {
				pass = false
				details = append(details, why)
			} else {
				details = append(details, c.Describe(got))
			}
		}
		report(outcome(tt, pass, strings.Join(details, "; "), time.Since(start)))
	}
}

// clip shortens s to n runes for one-line reports.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
