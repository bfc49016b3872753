package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/inference-pio/piobench/regress"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/store"
	"github.com/inference-pio/piobench/store/postgres"
)

func init() { addCommand(newCICmd) }

type ciFlags struct {
	thresholdPct float64
	failOnReg    bool
	results      string
	baseline     string
	db           string
	alpha        float64
	correction   string
	levels       string
	summary      string
	noHistory    bool
	dirs         directionFlags
}

func newCICmd(cfg Config, stdout, stderr io.Writer) *cobra.Command {
	var f ciFlags
	runCmd := newRunCmd(cfg, stdout, stderr)
	cmd := &cobra.Command{
		Use:   "ci",
		Short: "Run benchmarks (or read a results file), compare with the history, and fail on regressions",
		Long: `ci compares a new run with a baseline and fails when a benchmark regressed.
The new run is --results FILE, or a run made with the run flags (--model,
--benchmark, --suite, --iterations ...). The baseline is, by default, the
earlier runs of each benchmark in the history database in the same
environment (CPU, cores, memory, GPUs); --baseline names one run, a branch
(its runs in this environment), or a results file. Each benchmark's new value
is tested against the baseline (see docs/regression.md): a change counts when
it is significant at --alpha after the --correction across all benchmarks,
and at least --threshold percent. Direction comes from the unit (tokens/sec
higher is better, seconds lower), or --higher-is-better / --lower-is-better.

It prints a table, writes a Markdown summary ($GITHUB_STEP_SUMMARY when set,
else --summary, else ci-summary.md in the results directory), records the new
run and its alerts in the history (unless --no-history), and exits 1 on a
regression with --fail-on-regression (or when a benchmark failed), 2 on
usage errors, 0 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCI(c.Context(), c, runCmd, &f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.Float64Var(&f.thresholdPct, "threshold", 5, "smallest change that counts, in percent")
	fl.BoolVar(&f.failOnReg, "fail-on-regression", false, "exit 1 when a benchmark regressed")
	fl.StringVar(&f.results, "results", "", "results file of the new run (JSON, CSV or go test -bench output) instead of running benchmarks")
	fl.StringVar(&f.baseline, "baseline", "", "baseline: a run id, a branch, or a results file (default: earlier runs in this environment)")
	fl.StringVar(&f.db, "db", "", "history database: a SQLite file or postgres://... (default $PIOBENCH_DB or history.db in --out)")
	fl.Float64Var(&f.alpha, "alpha", 0.001, "significance level, after the correction across benchmarks")
	fl.StringVar(&f.correction, "correction", "holm", "correction across benchmarks: holm (no false alarm anywhere), bh (false discovery rate) or none")
	fl.StringVar(&f.levels, "severity-levels", "1,2,4", "multiples of the threshold at which a change is minor, major and critical")
	fl.StringVar(&f.summary, "summary", "", "write the Markdown summary here (default $GITHUB_STEP_SUMMARY, else ci-summary.md in --out)")
	fl.BoolVar(&f.noHistory, "no-history", false, "do not record the new run and its alerts in the history")
	f.dirs.add(cmd)
	// The run flags, for runs made by ci itself.
	fl.AddFlagSet(runCmd.Flags())
	return cmd
}

// ciRow is one benchmark's line in the ci table.
type ciRow struct {
	model, benchmark, unit string
	failed                 string // error text of a failed new result
	finding                regress.Finding
}

func runCI(ctx context.Context, c *cobra.Command, runCmd *cobra.Command, f *ciFlags, stdout, stderr io.Writer) error {
	thr, err := parseThreshold(f.thresholdPct)
	if err != nil {
		return err
	}
	if !(f.alpha > 0 && f.alpha < 1) {
		return usagef("--alpha %v: want a probability between 0 and 1", f.alpha)
	}
	corr, err := regress.ParseCorrection(f.correction)
	if err != nil {
		return asUsage(err)
	}
	lv, err := regress.ParseLevels(f.levels)
	if err != nil {
		return asUsage(err)
	}
	if err := f.dirs.check(); err != nil {
		return err
	}
	out := runCmd.Flags().Lookup("out").Value.String()
	db := f.db
	if db == "" {
		db = defaultDB(out)
	}

	// The new run.
	var newRun *result.Run
	runFailed := false
	if f.results != "" {
		var changed []string
		runCmd.Flags().VisitAll(func(fl *pflag.Flag) {
			if fl.Changed && fl.Name != "out" && fl.Name != "quiet" {
				changed = append(changed, "--"+fl.Name)
			}
		})
		if len(changed) > 0 {
			return usagef("--results and run flags (%s) cannot be used together", strings.Join(changed, ", "))
		}
		rs, err := readInput(f.results)
		if err != nil {
			return asUsage(err)
		}
		if len(rs) != 1 {
			return usagef("--results %s holds %d runs; give a file of one run", f.results, len(rs))
		}
		newRun = rs[0].run
	} else {
		capture := &runCapture{}
		runCmd.SetContext(withRunCapture(ctx, capture))
		err := runCmd.RunE(runCmd, nil)
		var ee exitError
		switch {
		case errors.As(err, &ee) && ee.code == ExitFailed:
			runFailed = true
		case err != nil:
			return err
		}
		if capture.run == nil {
			return fmt.Errorf("the run produced no results")
		}
		newRun = capture.run
		fmt.Fprintln(stdout)
	}
	fp := store.Fingerprint(newRun.Environment)

	// The history.
	var st store.Store
	if !f.noHistory || dbExists(db) {
		if st, err = openStore(ctx, db, false); err != nil {
			return err
		}
		defer st.Close()
	}
	alreadyRecorded := false
	if st != nil {
		_, _, err := st.Run(ctx, newRun.RunID)
		switch {
		case err == nil:
			alreadyRecorded = true
		case !errors.Is(err, store.ErrNotFound):
			return storeUsage(err)
		}
	}
	base, baseUnits, baseDesc, err := ciBaseline(ctx, st, f.baseline, newRun, fp, alreadyRecorded)
	if err != nil {
		return err
	}
	for _, r := range newRun.Results {
		if u, ok := baseUnits[[2]string{r.ModelName, r.BenchmarkName}]; ok && u != r.Unit {
			return usagef("%s on %s is in %q, but its baseline is in %q: mixed units in one series", r.BenchmarkName, r.ModelName, r.Unit, u)
		}
	}

	// Compare.
	o := regress.Options{Threshold: thr, Alpha: f.alpha, Window: 1, Levels: lv}
	var rows []ciRow
	var series []regress.Series
	var at []int
	for _, r := range newRun.Results {
		row := ciRow{model: r.ModelName, benchmark: r.BenchmarkName, unit: r.Unit}
		if r.Failed() {
			row.failed = oneLine(r.Err())
			if row.failed == "" {
				row.failed = "failed"
			}
			rows = append(rows, row)
			continue
		}
		xs, _ := store.Samples(r.Metadata)
		s := regress.Series{Model: r.ModelName, Benchmark: r.BenchmarkName, Unit: r.Unit, Fingerprint: fp, RunID: newRun.RunID,
			Baseline: base[[2]string{r.ModelName, r.BenchmarkName}], Recent: []regress.Obs{{Value: r.Value, Samples: xs}},
			Direction: f.dirs.of(r.BenchmarkName, r.Unit)}
		at = append(at, len(rows))
		series = append(series, s)
		rows = append(rows, row)
	}
	for i, fd := range regress.Detect(series, o, corr) {
		rows[at[i]].finding = fd
	}
	var regs, imps, fails int
	for _, r := range rows {
		switch {
		case r.failed != "":
			fails++
		case r.finding.Status == regress.Regression:
			regs++
		case r.finding.Status == regress.Improvement:
			imps++
		}
	}
	printCITable(stdout, rows)
	for _, r := range rows {
		if mp := r.finding.MinP; r.failed == "" && mp == mp && mp > f.alpha/float64(max(1, len(series))) {
			fmt.Fprintf(stdout, "note: with %d baseline runs the samples decide, and too few samples for alpha %g: the smallest possible p-value is %.2g; run more --iterations or keep a longer history\n",
				r.finding.BaseRuns, f.alpha, mp)
			break
		}
	}
	fmt.Fprintf(stdout, "\nbaseline: %s; threshold %g%%, alpha %g after %s across %d benchmarks\n", baseDesc, f.thresholdPct, f.alpha, corr, len(series))
	md := ciMarkdown(rows, baseDesc, f, corr, len(series), regs, imps, fails)
	if path := summaryPath(f.summary, out); path != "" {
		if err := appendFile(path, md); err != nil {
			fmt.Fprintf(stderr, "piobench: warning: summary %s: %v\n", path, err)
		} else {
			fmt.Fprintf(stdout, "wrote summary %s\n", path)
		}
	}

	// Record.
	if st != nil && !f.noHistory {
		if !alreadyRecorded && newRun.Config["interrupted"] != true {
			if err := st.SaveRun(ctx, newRun, store.RunMeta{Source: "ci", Branch: currentBranch(ctx)}); err != nil {
				return storeUsage(err)
			}
			fmt.Fprintf(stdout, "recorded run %s in %s\n", newRun.RunID, store.Redact(db))
		}
		var alerts []store.Alert
		now := time.Now().UTC()
		for _, r := range rows {
			if r.failed == "" && (r.finding.Status == regress.Regression || r.finding.Status == regress.Improvement) {
				alerts = append(alerts, regress.AlertOf(r.finding, now))
			}
		}
		if err := st.SaveAlerts(ctx, alerts); err != nil {
			return storeUsage(err)
		}
	}

	switch {
	case regs > 0 && f.failOnReg:
		fmt.Fprintf(stderr, "piobench: %d of %d benchmarks regressed\n", regs, len(rows))
		return exitError{ExitFailed}
	case fails > 0 || runFailed:
		fmt.Fprintf(stderr, "piobench: %d of %d benchmarks failed\n", max(fails, newRun.Failures()), len(rows))
		return exitError{ExitFailed}
	}
	return nil
}

func dbExists(db string) bool {
	if postgres.IsDSN(db) {
		return true
	}
	_, err := os.Stat(db)
	return !errors.Is(err, fs.ErrNotExist)
}

// baselineRuns is how many of the newest earlier runs form a baseline.
const baselineRuns = 30

// ciBaseline collects the baseline runs of each series (model, benchmark).
func ciBaseline(ctx context.Context, st store.Store, spec string, newRun *result.Run, fp string, recorded bool) (map[[2]string][]regress.Obs, map[[2]string]string, string, error) {
	out := map[[2]string][]regress.Obs{}
	units := map[[2]string]string{}
	addPoints := func(pts []store.Point) int {
		runs := map[string]bool{}
		for _, p := range pts {
			if p.Failed {
				continue
			}
			k := [2]string{p.Model, p.Benchmark}
			out[k] = append(out[k], regress.Obs{Value: p.Value, Samples: p.Samples})
			units[k] = p.Unit
			runs[p.RunID] = true
		}
		return len(runs)
	}
	if spec != "" {
		if fi, err := os.Stat(spec); err == nil && !fi.IsDir() {
			rs, err := readInput(spec)
			if err != nil {
				return nil, nil, "", asUsage(err)
			}
			for _, r := range rs {
				for _, x := range r.run.Results {
					if x.Failed() {
						continue
					}
					xs, _ := store.Samples(x.Metadata)
					k := [2]string{x.ModelName, x.BenchmarkName}
					out[k] = append(out[k], regress.Obs{Value: x.Value, Samples: xs})
					units[k] = x.Unit
				}
			}
			return out, units, fmt.Sprintf("%d runs from %s", len(rs), spec), nil
		}
		if st == nil {
			return nil, nil, "", usagef("--baseline %s: no such file, and no history database to find a run or branch in", spec)
		}
		run, info, err := st.Run(ctx, spec)
		if err == nil {
			for _, x := range run.Results {
				if x.Failed() {
					continue
				}
				xs, _ := store.Samples(x.Metadata)
				k := [2]string{x.ModelName, x.BenchmarkName}
				out[k] = append(out[k], regress.Obs{Value: x.Value, Samples: xs})
				units[k] = x.Unit
			}
			desc := "run " + spec
			if info.Fingerprint != fp {
				desc += " (NOTE: recorded in another environment, " + info.Fingerprint + ")"
			}
			return out, units, desc, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, nil, "", storeUsage(err)
		}
		pts, err := st.History(ctx, store.HistoryQuery{Branch: spec, Fingerprint: fp, LastRuns: baselineRuns})
		if err != nil {
			return nil, nil, "", storeUsage(err)
		}
		if len(pts) == 0 {
			any, err := st.History(ctx, store.HistoryQuery{Branch: spec})
			if err != nil {
				return nil, nil, "", storeUsage(err)
			}
			if len(any) == 0 {
				return nil, nil, "", usagef("--baseline %s: no run, branch or file of that name", spec)
			}
			return out, units, fmt.Sprintf("none: branch %s has runs only in other environments", spec), nil
		}
		n := addPoints(pts)
		return out, units, fmt.Sprintf("%d runs of branch %s in this environment", n, spec), nil
	}
	if st == nil {
		return out, units, "none (no history database)", nil
	}
	q := store.HistoryQuery{Fingerprint: fp, LastRuns: baselineRuns}
	if recorded {
		q.Before = newRun.RunID
	}
	pts, err := st.History(ctx, q)
	if err != nil {
		return nil, nil, "", storeUsage(err)
	}
	n := addPoints(pts)
	if n == 0 {
		return out, units, "none: no earlier runs in this environment (" + fp + ")", nil
	}
	return out, units, fmt.Sprintf("%d earlier runs in this environment", n), nil
}

func verdictText(r ciRow) string {
	if r.failed != "" {
		return "FAILED: " + truncate(r.failed, 60)
	}
	v := r.finding
	switch v.Status {
	case regress.Regression:
		return fmt.Sprintf("REGRESSION (%s)", v.Severity)
	case regress.Improvement:
		return fmt.Sprintf("improvement (%s)", v.Severity)
	case regress.NoChange:
		return "~"
	case regress.NoBaseline:
		return "new (no baseline)"
	}
	return string(v.Status)
}

func pText(p float64) string {
	if math.IsNaN(p) {
		return "-"
	}
	return fmt.Sprintf("%.2g", p)
}

func changeText(ch float64) string {
	if math.IsNaN(ch) {
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", 100*ch)
}

func printCITable(w io.Writer, rows []ciRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tBENCHMARK\tUNIT\tBASELINE\tNEW\tCHANGE\tP\tRUNS\tVERDICT")
	for _, r := range rows {
		v := r.finding
		if r.failed != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t-\t\t\t\t%s\n", r.model, r.benchmark, r.unit, verdictText(r))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.model, r.benchmark, r.unit, formatValue(v.Baseline), formatValue(v.Value),
			changeText(v.Change), pText(v.P), v.BaseRuns, verdictText(r))
	}
	tw.Flush()
}

func ciMarkdown(rows []ciRow, baseDesc string, f *ciFlags, corr regress.Correction, tested, regs, imps, fails int) string {
	var b strings.Builder
	status := "no regressions"
	if regs > 0 {
		status = fmt.Sprintf("%d regression", regs)
		if regs > 1 {
			status += "s"
		}
	}
	fmt.Fprintf(&b, "## piobench: %s", status)
	if imps > 0 {
		fmt.Fprintf(&b, ", %d improvement", imps)
		if imps > 1 {
			b.WriteString("s")
		}
	}
	if fails > 0 {
		fmt.Fprintf(&b, ", %d failed", fails)
	}
	fmt.Fprintf(&b, "\n\nBaseline: %s. A change counts when it is at least %g%% and significant at %g after the %s correction across %d benchmarks.\n\n",
		baseDesc, f.thresholdPct, f.alpha, corr, tested)
	b.WriteString("| model | benchmark | baseline | new | change | p | verdict |\n|---|---|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		v := r.finding
		verdict := verdictText(r)
		if r.failed != "" || v.Status == regress.Regression {
			verdict = "**" + verdict + "**"
		}
		if r.failed != "" {
			fmt.Fprintf(&b, "| %s | %s | | | | | %s |\n", mdEscape(r.model), mdEscape(r.benchmark), mdEscape(verdict))
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s %s | %s %s | %s | %s | %s |\n", mdEscape(r.model), mdEscape(r.benchmark), formatValue(v.Baseline), r.unit,
			formatValue(v.Value), r.unit, changeText(v.Change), pText(v.P), mdEscape(verdict))
	}
	b.WriteString("\n")
	return b.String()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func summaryPath(flag, out string) string {
	if flag != "" {
		return flag
	}
	if p := os.Getenv("GITHUB_STEP_SUMMARY"); p != "" {
		return p
	}
	if out == "" {
		out = "benchmark_results"
	}
	return out + string(os.PathSeparator) + "ci-summary.md"
}

// appendFile appends to path (GitHub's step summary is appended to),
// creating it and its directory.
func appendFile(path, s string) error {
	if i := strings.LastIndexByte(path, os.PathSeparator); i > 0 {
		if err := os.MkdirAll(path[:i], 0o755); err != nil {
			return err
		}
	}
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = fh.WriteString(s)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}
