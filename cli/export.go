package cli

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/inference-pio/piobench/regress"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/store"
)

func init() { addCommand(newExportCmd) }

func newExportCmd(cfg Config, stdout, stderr io.Writer) *cobra.Command {
	var format, db, outPath string
	var runs []string
	cmd := &cobra.Command{
		Use:   "export [FILE...]",
		Short: "Export runs in the Go benchmark format, for benchstat",
		Long: `export writes runs in the Go benchmark format (golang.org/x/perf/benchfmt),
one line per sample, so that benchstat and other Go tools read them:

  piobench export --run A > old.txt
  piobench export --run B > new.txt
  benchstat old.txt new.txt

Runs are result files given as arguments, or --run IDs from the history
database (the newest run when neither is given). Each result becomes
Benchmark<benchmark>/model=<model>-<procs>; higher-is-better units are
marked with a "Unit ... better=higher" line. piobench history import reads
the output back.`,
		RunE: func(c *cobra.Command, args []string) error {
			if format != "benchfmt" {
				return usagef("--format %q: the only format is benchfmt", format)
			}
			var list []*result.Run
			for _, a := range args {
				rs, err := readInput(a)
				if err != nil {
					return asUsage(err)
				}
				for _, r := range rs {
					list = append(list, r.run)
				}
			}
			if len(args) == 0 {
				if db == "" {
					db = defaultDB("")
				}
				st, err := openStore(c.Context(), db, true)
				if err != nil {
					return err
				}
				defer st.Close()
				ids := runs
				if len(ids) == 0 {
					rs, err := st.Runs(c.Context(), store.RunQuery{Limit: 1})
					if err != nil {
						return storeUsage(err)
					}
					if len(rs) == 0 {
						return usagef("no runs in %s", store.Redact(db))
					}
					ids = []string{rs[0].ID}
				}
				for _, id := range ids {
					run, _, err := st.Run(c.Context(), id)
					if err != nil {
						return storeUsage(err)
					}
					list = append(list, run)
				}
			} else if len(runs) > 0 {
				return usagef("give result files or --run, not both")
			}
			var buf bytes.Buffer
			for _, r := range list {
				writeBenchfmt(&buf, r)
			}
			if outPath != "" {
				if err := result.WriteAtomic(outPath, buf.Bytes()); err != nil {
					return asUsage(err)
				}
				fmt.Fprintf(stdout, "wrote %s\n", outPath)
				return nil
			}
			_, err := stdout.Write(buf.Bytes())
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "benchfmt", "output format: benchfmt (go test -bench)")
	cmd.Flags().StringArrayVar(&runs, "run", nil, "run id in the history database (repeatable; default the newest)")
	cmd.Flags().StringVar(&db, "db", "", "history database: a SQLite file or postgres://... (default $PIOBENCH_DB or benchmark_results/history.db)")
	cmd.Flags().StringVarP(&outPath, "output", "o", "", "write to this file instead of standard output")
	return cmd
}

// benchToken makes s usable inside a benchmark name or unit: no spaces.
func benchToken(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return '_'
		}
		return r
	}, s)
}

// writeBenchfmt writes one run in the Go benchmark format.
func writeBenchfmt(w io.Writer, run *result.Run) {
	env := run.Environment
	// A line that is neither configuration nor a result is ignored by
	// Go's tools: it names the run without making benchstat split tables
	// by run.
	fmt.Fprintf(w, "piobench run %s started %s\n", run.RunID, result.FormatTime(time.Time(run.StartedAt)))
	cfg := [][2]string{{"goos", env.OS}, {"goarch", env.Arch}, {"cpu", env.CPUModel}, {"pkg", "piobench"}}
	for _, kv := range cfg {
		if kv[1] != "" {
			fmt.Fprintf(w, "%s: %s\n", kv[0], strings.ReplaceAll(kv[1], "\n", " "))
		}
	}
	procs := env.GoMaxProcs
	if procs <= 0 {
		procs = 1
	}
	higher := map[string]bool{}
	for _, r := range run.Results {
		if d, _ := regress.DirectionFor(r.Unit); d == regress.HigherIsBetter {
			higher[benchToken(r.Unit)] = true
		}
	}
	units := make([]string, 0, len(higher))
	for u := range higher {
		units = append(units, u)
	}
	sort.Strings(units)
	for _, u := range units {
		fmt.Fprintf(w, "Unit %s better=higher\n", u)
	}
	for _, r := range run.Results {
		if r.Failed() {
			continue
		}
		name := "Benchmark" + benchToken(r.BenchmarkName) + "/model=" + benchToken(r.ModelName) + "-" + strconv.Itoa(procs)
		xs := sampleOf(r)
		for _, x := range xs {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				continue
			}
			fmt.Fprintf(w, "%s 1 %s %s\n", name, strconv.FormatFloat(x, 'g', -1, 64), benchToken(r.Unit))
		}
	}
}
