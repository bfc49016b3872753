package cli

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/inference-pio/piobench/regress"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/store"
)

func init() { addCommand(newChangesCmd) }

// A changeRow is one change point as printed by piobench changes --json.
type changeRow struct {
	ModelName     string  `json:"model_name"`
	BenchmarkName string  `json:"benchmark_name"`
	Timestamp     string  `json:"timestamp"`
	Index         int     `json:"index"`
	Direction     string  `json:"direction"`
	ChangePct     float64 `json:"change_pct"`
	Severity      string  `json:"severity"`
	PValue        float64 `json:"p_value"`
	// Beyond the required keys:
	Unit        string  `json:"unit"`
	Before      float64 `json:"before"`
	After       float64 `json:"after"`
	Fingerprint string  `json:"environment,omitempty"`
}

// directionFlags are --higher-is-better and --lower-is-better, shared by
// changes and ci.
type directionFlags struct {
	higher, lower []string
}

func (d *directionFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&d.higher, "higher-is-better", nil, "treat this benchmark as higher-is-better whatever its unit (repeatable)")
	cmd.Flags().StringArrayVar(&d.lower, "lower-is-better", nil, "treat this benchmark as lower-is-better whatever its unit (repeatable)")
}

func (d *directionFlags) of(benchmark, unit string) regress.Direction {
	for _, b := range d.higher {
		if b == benchmark {
			return regress.HigherIsBetter
		}
	}
	for _, b := range d.lower {
		if b == benchmark {
			return regress.LowerIsBetter
		}
	}
	dir, _ := regress.DirectionFor(unit)
	return dir
}

func (d *directionFlags) check() error {
	for _, h := range d.higher {
		for _, l := range d.lower {
			if h == l {
				return usagef("benchmark %q is both --higher-is-better and --lower-is-better", h)
			}
		}
	}
	return nil
}

// parseThreshold checks a --threshold in percent.
func parseThreshold(pct float64) (float64, error) {
	if !(pct > 0 && pct < 1000) {
		return 0, usagef("--threshold %v: want a percentage above 0, such as 5", pct)
	}
	return pct / 100, nil
}

func newChangesCmd(cfg Config, stdout, stderr io.Writer) *cobra.Command {
	var inputs []string
	var db, levels string
	var asJSON bool
	var thresholdPct, alpha float64
	var minSeg int
	var dirs directionFlags
	cmd := &cobra.Command{
		Use:   "changes",
		Short: "Find the change points in whole histories of results",
		Long: `changes finds lasting changes of level in each series (one benchmark on one
model in one environment) of the history database, or of result files given
with --input (JSON, CSV, go test -bench output; each file one or more runs,
in time order). It splits each series where the energy distance between the
two sides is largest, keeps the split when a rank test corrected for the
scan over all splits is significant at --alpha, and searches each side again
(in the manner of E-divisive means, as Apache Otava). Changes smaller than
--threshold percent are not shown. Per change it prints model_name,
benchmark_name, timestamp (of the first run at the new level), index (0-based
run index in its series), direction (regression or improvement), change_pct,
severity and p_value.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			thr, err := parseThreshold(thresholdPct)
			if err != nil {
				return err
			}
			if !(alpha > 0 && alpha < 1) {
				return usagef("--alpha %v: want a probability between 0 and 1", alpha)
			}
			if minSeg < 2 {
				return usagef("--min-segment %d: want 2 or more", minSeg)
			}
			lv, err := regress.ParseLevels(levels)
			if err != nil {
				return asUsage(err)
			}
			if err := dirs.check(); err != nil {
				return err
			}
			if len(inputs) > 0 && db != "" {
				return usagef("--input and --db cannot be used together")
			}
			type series struct {
				key   seriesKey
				fp    string
				ts    []time.Time
				value []float64
			}
			var all []series
			if len(inputs) > 0 {
				var runs []inputRun
				for _, in := range inputs {
					rs, err := readInput(in)
					if err != nil {
						return asUsage(err)
					}
					runs = append(runs, rs...)
				}
				grouped, keys, err := groupInputs(runs)
				if err != nil {
					return asUsage(err)
				}
				for _, k := range keys {
					s := series{key: k}
					for _, p := range grouped[k] {
						s.ts = append(s.ts, p.ts)
						s.value = append(s.value, p.value)
					}
					all = append(all, s)
				}
			} else {
				if db == "" {
					db = defaultDB("")
				}
				st, err := openStore(c.Context(), db, true)
				if err != nil {
					return err
				}
				defer st.Close()
				pts, err := st.History(c.Context(), store.HistoryQuery{IncludeFailed: true, WithoutSamples: true})
				if err != nil {
					return storeUsage(err)
				}
				idx := map[[4]string]int{}
				for _, p := range pts {
					k := [4]string{p.Model, p.Benchmark, p.Unit, p.Fingerprint}
					i, ok := idx[k]
					if !ok {
						i = len(all)
						idx[k] = i
						all = append(all, series{key: seriesKey{p.Model, p.Benchmark, p.Unit}, fp: p.Fingerprint})
					}
					all[i].ts = append(all[i].ts, p.StartedAt)
					all[i].value = append(all[i].value, p.Value)
				}
			}
			if len(all) == 0 {
				return usagef("no results to analyse")
			}
			var short []string
			long := 0
			for _, s := range all {
				if len(s.value) < 2 {
					short = append(short, s.key.benchmark+" on "+s.key.model)
				} else {
					long++
				}
			}
			if long == 0 {
				return usagef("%s: a series of one run has no changes to find; changes needs at least 2 runs of a series (%d series, all of one run)", short[0], len(short))
			}
			var rows []changeRow
			for _, s := range all {
				if len(s.value) < 2 {
					continue
				}
				cps := regress.FindChanges(s.value, regress.ChangeOptions{Threshold: thr, Alpha: alpha, MinSegment: minSeg,
					Direction: dirs.of(s.key.benchmark, s.key.unit), Levels: lv})
				for _, cp := range cps {
					rows = append(rows, changeRow{ModelName: s.key.model, BenchmarkName: s.key.benchmark, Timestamp: result.FormatTime(s.ts[cp.Index]),
						Index: cp.Index, Direction: string(cp.Direction), ChangePct: round(100*cp.Change, 4), Severity: string(cp.Severity),
						PValue: cp.P, Unit: s.key.unit, Before: cp.Before, After: cp.After, Fingerprint: s.fp})
				}
			}
			if len(short) > 0 {
				defer fmt.Fprintf(stderr, "piobench: note: %d series of one run skipped (%s)\n", len(short), strings.Join(short[:min(3, len(short))], ", "))
			}
			if asJSON {
				if rows == nil {
					rows = []changeRow{}
				}
				return jsonOut(stdout, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintf(stdout, "no changes of %g%% or more in %d series\n", thresholdPct, long)
			} else {
				tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "MODEL\tBENCHMARK\tTIMESTAMP\tINDEX\tDIRECTION\tCHANGE\tSEVERITY\tP-VALUE\tBEFORE -> AFTER")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%+.1f%%\t%s\t%.2g\t%s -> %s %s\n", r.ModelName, r.BenchmarkName, r.Timestamp, r.Index, r.Direction,
						r.ChangePct, r.Severity, r.PValue, formatValue(r.Before), formatValue(r.After), r.Unit)
				}
				tw.Flush()
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&inputs, "input", nil, "result file to analyse instead of the history database (repeatable, in time order)")
	fl.StringVar(&db, "db", "", "history database: a SQLite file or postgres://... (default $PIOBENCH_DB or benchmark_results/history.db)")
	fl.BoolVar(&asJSON, "json", false, "print the changes as a JSON array")
	fl.Float64Var(&thresholdPct, "threshold", 5, "smallest change to report, in percent")
	fl.Float64Var(&alpha, "alpha", 0.001, "significance level of each split")
	fl.IntVar(&minSeg, "min-segment", 3, "fewest runs on each side of a change")
	fl.StringVar(&levels, "severity-levels", "1,2,4", "multiples of the threshold at which a change is minor, major and critical")
	dirs.add(cmd)
	return cmd
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}
