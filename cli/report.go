package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/inference-pio/piobench/report"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/store"
)

type reportFlags struct {
	results   []string
	dir       string
	latest    bool
	compare   bool
	format    string
	html      string
	charts    string
	db        string
	noHistory bool
	threshold float64
	title     string
}

func init() { addCommand(newReportCmd) }

func newReportCmd(cfg Config, stdout, stderr io.Writer) *cobra.Command {
	f := &reportFlags{}
	cmd := &cobra.Command{
		Use:   "report [FILE]...",
		Short: "Show results as a console table, Markdown, or a self-contained HTML report with charts",
		Long: `Report reads result files (JSON or CSV, as written by piobench run) and shows
them: an aligned table on the console (the default), Markdown for a pull
request comment or CI job summary (--format markdown), one self-contained
HTML file with charts that opens offline (--html FILE), and each chart as
PNG and SVG files (--charts DIR).

With no FILE and no --results, it reports the newest run in --dir
(benchmark_results), or in the history database. --latest keeps only the
newest of the runs given. --compare A B sets two runs side by side, A the
baseline (each a file, or a run id in the history database).

When a history database is there (--db, $PIOBENCH_DB, or history.db in
--dir), the report adds each metric's trend over the runs in the same
environment, with change points and alerts, and lists the newest run's
regressions first, with their severity.

Exit code 0: the report was written; 2: bad flags or input files (nothing
is written).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(cmd, f, args, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.results, "results", nil, "result file to report (repeatable; FILE arguments do the same)")
	fl.StringVar(&f.dir, "dir", "benchmark_results", "where to find the newest run when no file is given")
	fl.BoolVar(&f.latest, "latest", false, "report only the newest run (of the files given, or in --dir)")
	fl.BoolVar(&f.compare, "compare", false, "compare two runs: --compare A B (A is the baseline)")
	fl.StringVar(&f.format, "format", "text", "console output: text or markdown")
	fl.StringVar(&f.html, "html", "", "write a self-contained HTML report to this file")
	fl.StringVar(&f.charts, "charts", "", "write each chart as PNG and SVG into this directory")
	fl.StringVar(&f.db, "db", "", "history database for trends, change points and regressions: a SQLite file or postgres://... (default $PIOBENCH_DB or history.db in --dir, when it exists)")
	fl.BoolVar(&f.noHistory, "no-history", false, "leave the history database out")
	fl.Float64Var(&f.threshold, "threshold", 5, "smallest change, in percent, that counts as a regression or a change point")
	fl.StringVar(&f.title, "title", "", "title of the report (default \"piobench report\")")
	return cmd
}

func runReport(cmd *cobra.Command, f *reportFlags, args []string, stdout, stderr io.Writer) error {
	ctx := cmd.Context()
	if f.format != "text" && f.format != "markdown" && f.format != "md" {
		return usagef("--format %q: want text or markdown", f.format)
	}
	thr, err := parseThreshold(f.threshold)
	if err != nil {
		return err
	}
	paths := append(append([]string(nil), f.results...), args...)
	if f.compare && len(paths) != 2 {
		return usagef("--compare needs exactly two runs, A (the baseline) and B; got %d", len(paths))
	}
	if f.compare && f.latest {
		return usagef("--compare and --latest cannot be used together")
	}
	if f.noHistory && f.db != "" {
		return usagef("--db and --no-history cannot be used together")
	}

	// The history database, when there is one.
	var st store.Store
	db := f.db
	if db == "" && !f.noHistory {
		if d := defaultDB(f.dir); dbExists(d) {
			db = d
		}
	}
	if db != "" {
		if st, err = openStore(ctx, db, true); err != nil {
			return err
		}
		defer st.Close()
	}

	rep := &report.Report{}
	switch {
	case len(paths) > 0:
		for _, p := range paths {
			run, src, err := reportInput(ctx, p, st)
			if err != nil {
				return err
			}
			rep.Runs = append(rep.Runs, run)
			rep.Source = append(rep.Source, src)
			if len(run.Results) == 0 {
				rep.Notes = append(rep.Notes, src+": no results in this file")
			}
		}
	default:
		p, err := report.Latest(f.dir)
		switch {
		case err == nil && p != "":
			r, err := report.ReadRuns([]string{p})
			if err != nil {
				return asUsage(err)
			}
			rep = r
		case st != nil:
			infos, err := st.Runs(ctx, store.RunQuery{Limit: 1})
			if err != nil {
				return storeUsage(err)
			}
			if len(infos) == 0 {
				return usagef("nothing to report: no result files in %s and no run in the history database %s", f.dir, db)
			}
			run, _, err := st.Run(ctx, infos[0].ID)
			if err != nil {
				return storeUsage(err)
			}
			rep.Runs, rep.Source = []*result.Run{run}, []string{"history"}
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return usagef("--dir %s: %v", f.dir, errors.Unwrap(err))
		case err != nil:
			return usagef("nothing to report: give result files, or run `piobench run` first (%s does not exist)", f.dir)
		default:
			return usagef("nothing to report: %s holds no result files", f.dir)
		}
	}
	if f.latest && len(rep.Runs) > 1 {
		keepNewest(rep)
	}
	if f.compare {
		rep.Compare = &[2]int{0, 1}
	}
	rep.Title = f.title
	if st != nil {
		h, err := report.LoadHistory(ctx, st, rep, report.HistoryOptions{Threshold: thr})
		if err != nil {
			return storeUsage(err)
		}
		rep.History = h
	}

	// Everything is rendered in memory first, so that a problem leaves no
	// half-written file behind.
	var console bytes.Buffer
	textOut := f.html == "" && f.charts == "" || cmd.Flags().Changed("format")
	if textOut {
		if f.format == "text" {
			report.WriteText(&console, rep, report.TextOptions{Color: report.ColorFor(isTerminal(stdout), os.Getenv)})
		} else {
			report.WriteMarkdown(&console, rep)
		}
	}
	var page bytes.Buffer
	if f.html != "" {
		if err := report.WriteHTML(&page, rep); err != nil {
			return fmt.Errorf("html report: %w", err)
		}
	}
	var charts []*report.Chart
	if f.charts != "" {
		charts, _ = report.Charts(rep)
		if err := os.MkdirAll(f.charts, 0o755); err != nil {
			return usagef("--charts %s: %v", f.charts, errors.Unwrap(err))
		}
	}
	var written []string
	if f.html != "" {
		if err := writeFileAtomic(f.html, page.Bytes()); err != nil {
			return usagef("--html %s: %v", f.html, errors.Unwrap(err))
		}
		written = append(written, f.html)
	}
	if f.charts != "" {
		ps, err := report.WriteCharts(f.charts, charts)
		if err != nil {
			return usagef("--charts %s: %v", f.charts, err)
		}
		if len(charts) == 0 {
			fmt.Fprintf(stderr, "piobench: --charts: no chart to draw (no successful results with data to chart)\n")
		}
		written = append(written, ps...)
	}
	stdout.Write(console.Bytes())
	for _, p := range written {
		fmt.Fprintf(stdout, "wrote %s\n", p)
	}
	return nil
}

// reportInput reads one run to report: a result file, or (when no such
// file exists and a history database is open) a run id in it.
func reportInput(ctx context.Context, p string, st store.Store) (*result.Run, string, error) {
	if _, err := os.Stat(p); err != nil && st != nil && errors.Is(err, fs.ErrNotExist) {
		run, _, err := st.Run(ctx, p)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", usagef("%s: no such file, and no run with that id in the history database", p)
		}
		if err != nil {
			return nil, "", storeUsage(err)
		}
		return run, "history", nil
	}
	r, err := report.ReadRuns([]string{p})
	if err != nil {
		return nil, "", asUsage(err)
	}
	return r.Runs[0], p, nil
}

// keepNewest keeps only the run that started last.
func keepNewest(rep *report.Report) {
	best := 0
	for i, r := range rep.Runs {
		if time.Time(r.StartedAt).After(time.Time(rep.Runs[best].StartedAt)) {
			best = i
		}
	}
	rep.Runs = rep.Runs[best : best+1]
	if best < len(rep.Source) {
		rep.Source = rep.Source[best : best+1]
	}
}

// writeFileAtomic writes data to path through a temporary file renamed
// into place, readable by all (a report is meant to be shared).
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}
