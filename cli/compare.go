package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/perf/benchmath"

	"github.com/inference-pio/piobench/regress"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/store"
)

func init() { addCommand(newCompareCmd) }

// loadRun finds a run by file path or by id in the history database.
func loadRun(ctx context.Context, spec, db string) (*result.Run, error) {
	if fi, err := os.Stat(spec); err == nil && !fi.IsDir() {
		rs, err := readInput(spec)
		if err != nil {
			return nil, asUsage(err)
		}
		if len(rs) != 1 {
			return nil, usagef("%s holds %d runs; give a file of one run", spec, len(rs))
		}
		return rs[0].run, nil
	}
	if !dbExists(db) {
		return nil, usagef("%s: no such file, and no history database at %s to look the run up in", spec, db)
	}
	st, err := openStore(ctx, db, true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	run, _, err := st.Run(ctx, spec)
	if errors.Is(err, store.ErrNotFound) {
		return nil, usagef("%s: no such file, and no run of that id in %s", spec, store.Redact(db))
	}
	return run, storeUsage(err)
}

func newCompareCmd(cfg Config, stdout, stderr io.Writer) *cobra.Command {
	var db string
	var alpha float64
	cmd := &cobra.Command{
		Use:   "compare A B",
		Short: "Compare two runs (run ids or result files), benchstat style",
		Long: `compare prints, for each benchmark in both runs, the median of each run's
samples with its 95% confidence interval, the change from A to B, and the
p-value of a Mann-Whitney U test on the samples; "~" when the difference is
not significant at --alpha (as benchstat). A and B are run ids of the history
database or result files (JSON, CSV, go test -bench output).`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			if !(alpha > 0 && alpha < 1) {
				return usagef("--alpha %v: want a probability between 0 and 1", alpha)
			}
			if db == "" {
				db = defaultDB("")
			}
			a, err := loadRun(c.Context(), args[0], db)
			if err != nil {
				return err
			}
			b, err := loadRun(c.Context(), args[1], db)
			if err != nil {
				return err
			}
			printComparison(stdout, a, b, args[0], args[1], alpha)
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "history database: a SQLite file or postgres://... (default $PIOBENCH_DB or benchmark_results/history.db)")
	cmd.Flags().Float64Var(&alpha, "alpha", 0.05, "significance level")
	return cmd
}

// sampleOf returns a result's samples, or its value alone.
func sampleOf(r result.Result) []float64 {
	if xs, ok := store.Samples(r.Metadata); ok && len(xs) > 0 {
		return xs
	}
	return []float64{r.Value}
}

func summaryText(xs []float64) string {
	s := benchmath.AssumeNothing.Summary(benchmath.NewSample(xs, &benchmath.DefaultThresholds), 0.95)
	if math.IsInf(s.Lo, 0) || math.IsInf(s.Hi, 0) || s.Center == 0 {
		return formatValue(s.Center) + " ± ∞"
	}
	return formatValue(s.Center) + " ± " + s.PctRangeString()
}

func printComparison(w io.Writer, a, b *result.Run, nameA, nameB string, alpha float64) {
	index := map[[2]string]result.Result{}
	for _, r := range b.Results {
		index[[2]string{r.ModelName, r.BenchmarkName}] = r
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "MODEL\tBENCHMARK\tUNIT\tA: %s\tB: %s\tDELTA\tP\tN\n", nameA, nameB)
	seen := map[[2]string]bool{}
	var notes []string
	for _, ra := range a.Results {
		k := [2]string{ra.ModelName, ra.BenchmarkName}
		seen[k] = true
		rb, ok := index[k]
		switch {
		case !ok:
			notes = append(notes, fmt.Sprintf("%s on %s is only in A", ra.BenchmarkName, ra.ModelName))
			continue
		case ra.Failed() || rb.Failed():
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\t\t\n", ra.ModelName, ra.BenchmarkName, ra.Unit, failedOr(ra), failedOr(rb))
			continue
		case ra.Unit != rb.Unit:
			notes = append(notes, fmt.Sprintf("%s on %s: units differ (%s in A, %s in B); not compared", ra.BenchmarkName, ra.ModelName, ra.Unit, rb.Unit))
			continue
		}
		if row, ok := compareAccuracy(ra, rb, alpha); ok {
			fmt.Fprintln(tw, row)
			continue
		}
		xa, xb := sampleOf(ra), sampleOf(rb)
		sa := benchmath.NewSample(xa, &benchmath.DefaultThresholds)
		sb := benchmath.NewSample(xb, &benchmath.DefaultThresholds)
		cmp := benchmath.AssumeNothing.Compare(sa, sb)
		ma := benchmath.AssumeNothing.Summary(sa, 0.95).Center
		mb := benchmath.AssumeNothing.Summary(sb, 0.95).Center
		delta := "~"
		p := fmt.Sprintf("p=%.3f", cmp.P)
		if cmp.P < alpha && ma != 0 {
			delta = fmt.Sprintf("%+.2f%%", 100*(mb-ma)/math.Abs(ma))
			if dir, _ := regress.DirectionFor(ra.Unit); (dir == regress.HigherIsBetter) == (mb < ma) {
				delta += " (worse)"
			} else {
				delta += " (better)"
			}
		}
		if len(xa) < 2 || len(xb) < 2 {
			delta, p = "?", "no samples"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\tn=%d+%d\n", ra.ModelName, ra.BenchmarkName, ra.Unit, summaryText(xa), summaryText(xb), delta, p, len(xa), len(xb))
	}
	tw.Flush()
	for _, rb := range b.Results {
		if !seen[[2]string{rb.ModelName, rb.BenchmarkName}] {
			notes = append(notes, fmt.Sprintf("%s on %s is only in B", rb.BenchmarkName, rb.ModelName))
		}
	}
	if store.Fingerprint(a.Environment) != store.Fingerprint(b.Environment) {
		notes = append(notes, "the runs were made in different environments (CPU, cores, memory or GPUs differ)")
	}
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func failedOr(r result.Result) string {
	if r.Failed() {
		return "FAILED"
	}
	return formatValue(r.Value)
}
