package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/perf/benchfmt"

	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/stats"
	"github.com/inference-pio/piobench/store"
	"github.com/inference-pio/piobench/store/postgres"
	"github.com/inference-pio/piobench/store/sqlite"
)

// The history database: --db names it (a file, or postgres://...); else
// PIOBENCH_DB; else history.db in the results directory
// (benchmark_results/history.db).

// dbEnv is the environment variable naming the history database.
const dbEnv = "PIOBENCH_DB"

// defaultDB is the history database when --db is not given.
func defaultDB(outDir string) string {
	if v := os.Getenv(dbEnv); v != "" {
		return v
	}
	if outDir == "" {
		outDir = "benchmark_results"
	}
	return filepath.Join(outDir, "history.db")
}

// dbTimeoutEnv names how long to wait for a SQLite file that another
// process is writing (a Go duration, default 5s).
const dbTimeoutEnv = "PIOBENCH_DB_TIMEOUT"

// openStore opens the history database. Every failure is a usage error
// (exit 2): a locked, corrupt or unreachable database is a configuration
// problem, reported in one line.
func openStore(ctx context.Context, db string, mustExist bool) (store.Store, error) {
	var s store.Store
	var err error
	if postgres.IsDSN(db) {
		s, err = postgres.Open(ctx, db, postgres.Options{})
	} else {
		opt := sqlite.Options{MustExist: mustExist}
		if v := os.Getenv(dbTimeoutEnv); v != "" {
			d, perr := time.ParseDuration(v)
			if perr != nil || d <= 0 {
				return nil, usagef("%s=%q: want a duration such as 5s", dbTimeoutEnv, v)
			}
			opt.BusyTimeout = d
		}
		s, err = sqlite.Open(ctx, db, opt)
	}
	if err != nil {
		return nil, asUsage(storeError(err))
	}
	return s, nil
}

// storeError drops the generic prefix of store errors for messages.
func storeError(err error) error {
	msg := err.Error()
	for _, p := range []string{store.ErrUnavailable.Error() + ": ", store.ErrInvalid.Error() + ": "} {
		msg = strings.Replace(msg, p, "", 1)
	}
	return errors.New(msg)
}

// storeUsage turns store errors that are the user's to fix (bad data,
// unusable database, unknown run) into usage errors.
func storeUsage(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) {
		return asUsage(storeError(err))
	}
	return err
}

// currentBranch names the version-control branch being measured: from CI
// variables where set (GitHub, GitLab), else from git.
func currentBranch(ctx context.Context) string {
	for _, v := range []string{"PIOBENCH_BRANCH", "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "BUILDKITE_BRANCH"} {
		if b := os.Getenv(v); b != "" {
			return b
		}
	}
	if _, err := exec.LookPath("git"); err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--abbrev-ref", "HEAD").Output()
	b := strings.TrimSpace(string(out))
	if err != nil || b == "HEAD" {
		return ""
	}
	return b
}

// An inputRun is a run read from a file, with where each result came
// from (file:line) for messages.
type inputRun struct {
	run    *result.Run
	origin []string
	file   string
}

// readInput reads a results file: piobench's JSON run, JSON results or
// CSV (the guide's format), or `go test -bench` output. A file without a
// run id (CSV, JSON arrays, benchmark output) may hold several runs of the
// same series; each time a series repeats, a new run begins. Runs read
// without an id get one from the file's content, so importing a file twice
// is noticed. Mixed units in one series are an error naming the line.
func readInput(path string) ([]inputRun, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(data)
	ext := strings.ToLower(filepath.Ext(path))
	sum := sha256.Sum256(data)
	idBase := "imp-" + hex.EncodeToString(sum[:6])
	var run *result.Run
	var origin []string
	switch {
	case ext == ".json" || (ext != ".csv" && len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')):
		run, err = result.DecodeJSON(bytes.NewReader(data), path)
		if err != nil {
			return nil, err
		}
		for i := range run.Results {
			origin = append(origin, fmt.Sprintf("%s: result %d", path, i+1))
		}
	case ext == ".csv" || bytes.HasPrefix(trimmed, []byte(strings.Join(result.CSVHeader, ","))):
		first, _, _ := bytes.Cut(trimmed, []byte("\n"))
		first = bytes.TrimSpace(bytes.TrimPrefix(first, []byte("\xef\xbb\xbf")))
		if want := strings.Join(result.CSVHeader, ","); string(first) != want {
			return nil, &result.SyntaxError{File: path, Line: 1, Msg: fmt.Sprintf("header is %q, want %q", first, want)}
		}
		run, err = result.DecodeCSV(bytes.NewReader(data), path)
		if err != nil {
			return nil, err
		}
		for i := range run.Results {
			origin = append(origin, fmt.Sprintf("%s:%d", path, i+2))
		}
	default:
		run, origin, err = readBenchfmt(data, path)
		if err != nil {
			return nil, err
		}
	}
	if len(run.Results) == 0 {
		return nil, &result.SyntaxError{File: path, Msg: "no results"}
	}
	if err := checkMixedUnits(run.Results, origin); err != nil {
		return nil, err
	}
	if run.RunID != "" {
		return []inputRun{{run: run, origin: origin, file: path}}, nil
	}
	if ext == ".csv" {
		// A CSV written by piobench run is named START_RUNID.csv: it is
		// that run (so importing it and its JSON records the run once).
		if m := runFileName.FindStringSubmatch(filepath.Base(path)); m != nil && len(store.SplitRuns(run.Results)) == 1 {
			run.RunID = m[2]
			if t, err := time.Parse("20060102T150405Z", m[1]); err == nil {
				run.StartedAt = result.Time(t)
			}
			run.Config = map[string]any{"command": "import", "file": filepath.Base(path)}
			return []inputRun{{run: run, origin: origin, file: path}}, nil
		}
	}
	// Split into runs where a series repeats.
	var out []inputRun
	groups := store.SplitRuns(run.Results)
	at := 0
	for k, g := range groups {
		r := &result.Run{SchemaVersion: result.SchemaVersion, RunID: idBase, Environment: run.Environment, Results: g,
			Config: map[string]any{"command": "import", "file": filepath.Base(path)}}
		if len(groups) > 1 {
			r.RunID = fmt.Sprintf("%s-%d", idBase, k+1)
		}
		start := g[0].Timestamp
		for _, x := range g {
			if !x.Timestamp.IsZero() && (start.IsZero() || x.Timestamp.Before(start)) {
				start = x.Timestamp
			}
		}
		r.StartedAt = result.Time(start)
		out = append(out, inputRun{run: r, origin: origin[at : at+len(g)], file: path})
		at += len(g)
	}
	return out, nil
}

// runFileName matches the names of piobench's result files.
var runFileName = regexp.MustCompile(`^(\d{8}T\d{6}Z)_([A-Za-z0-9_-]+)\.(?:csv|json)$`)

// checkMixedUnits reports the first result whose series (model and
// benchmark) was in another unit earlier in the input.
func checkMixedUnits(rs []result.Result, origin []string) error {
	type first struct{ unit, where string }
	seen := map[[2]string]first{}
	for i, r := range rs {
		k := [2]string{r.ModelName, r.BenchmarkName}
		if f, ok := seen[k]; ok && f.unit != r.Unit {
			return fmt.Errorf("%s: %s on %s is in %q here but in %q at %s: mixed units in one series", origin[i], r.BenchmarkName, r.ModelName, r.Unit, f.unit, f.where)
		}
		if _, ok := seen[k]; !ok {
			seen[k] = first{r.Unit, origin[i]}
		}
	}
	return nil
}

// readBenchfmt reads `go test -bench` output: each benchmark and unit is
// one result whose samples are the lines' values (go test -count N gives N)
// and whose value is their median. The model name is the package (pkg:),
// the environment comes from goos, goarch and cpu.
func readBenchfmt(data []byte, path string) (*result.Run, []string, error) {
	rd := benchfmt.NewReader(bytes.NewReader(data), path)
	type key struct{ pkg, name, unit string }
	var order []key
	samples := map[key][]float64{}
	lines := map[key]int{}
	env := result.Environment{GPUs: []result.GPU{}}
	var syntaxErr error
	for rd.Scan() {
		switch rec := rd.Result(); rec := rec.(type) {
		case *benchfmt.SyntaxError:
			if syntaxErr == nil {
				syntaxErr = &result.SyntaxError{File: path, Line: rec.Line, Msg: rec.Msg}
			}
		case *benchfmt.Result:
			pkg := rec.GetConfig("pkg")
			env.OS, env.Arch, env.CPUModel = rec.GetConfig("goos"), rec.GetConfig("goarch"), rec.GetConfig("cpu")
			for _, v := range rec.Values {
				unit, val := v.Unit, v.Value
				if v.OrigUnit != "" {
					unit, val = v.OrigUnit, v.OrigValue
				}
				name := string(rec.Name.Full())
				if m, b, ok := modelInName(rec.Name); ok {
					// Written by piobench export: the model is a name key.
					pkg, name = "\x00"+m, b
				}
				k := key{pkg, name, unit}
				if _, ok := samples[k]; !ok {
					order = append(order, k)
					_, lines[k] = rec.Pos()
				}
				samples[k] = append(samples[k], val)
			}
		}
	}
	if err := rd.Err(); err != nil {
		return nil, nil, &result.SyntaxError{File: path, Msg: err.Error()}
	}
	if len(order) == 0 {
		if syntaxErr != nil {
			return nil, nil, syntaxErr
		}
		return nil, nil, &result.SyntaxError{File: path, Msg: "no results: not piobench JSON or CSV, nor go test -bench output"}
	}
	fi, _ := os.Stat(path)
	ts := time.Now().UTC()
	if fi != nil {
		ts = fi.ModTime().UTC()
	}
	run := &result.Run{Environment: env}
	var origin []string
	// The first unit of a benchmark names the series plainly; other units
	// (B/op, allocs/op, custom) get the unit in brackets.
	firstUnit := map[[2]string]string{}
	for _, k := range order {
		xs := samples[k]
		name := k.name
		if u, ok := firstUnit[[2]string{k.pkg, k.name}]; ok && u != k.unit {
			name = k.name + " [" + k.unit + "]"
		} else {
			firstUnit[[2]string{k.pkg, k.name}] = k.unit
		}
		model := k.pkg
		switch {
		case strings.HasPrefix(model, "\x00"):
			model = model[1:]
		case model == "":
			model = "go"
		}
		s := stats.Summarize(xs)
		meta := s.Metadata("median")
		meta["samples"] = xs
		meta["source"] = "go test -bench"
		run.Results = append(run.Results, result.Result{Timestamp: ts, ModelName: model, BenchmarkName: name, Value: s.P50, Unit: k.unit, Category: result.CategoryPerformance, Metadata: meta})
		origin = append(origin, fmt.Sprintf("%s:%d", path, lines[k]))
	}
	return run, origin, nil
}

// modelInName splits a benchmark name with a model=NAME key (as piobench
// export writes) into the model and the benchmark, without the
// GOMAXPROCS suffix.
func modelInName(n benchfmt.Name) (model, bench string, ok bool) {
	base, parts := n.Parts()
	b := string(base)
	for _, p := range parts {
		s := string(p)
		switch {
		case strings.HasPrefix(s, "/model="):
			model, ok = strings.TrimPrefix(s, "/model="), true
		case strings.HasPrefix(s, "-"):
		default:
			b += s
		}
	}
	return model, b, ok
}

func init() { addCommand(newHistoryCmd) }

func newHistoryCmd(cfg Config, stdout, stderr io.Writer) *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "history",
		Short: "The history of runs: import result files, list and show recorded runs",
		Long: `Every piobench run is recorded in a history database (benchmark_results/history.db,
a SQLite file, unless --db or PIOBENCH_DB names another file or a
postgres://... server). history import adds result files to it: piobench's
JSON and CSV (the guide's CSV format included) and go test -bench output.`,
	}
	cmd.PersistentFlags().StringVar(&db, "db", "", "history database: a SQLite file or postgres://... (default $PIOBENCH_DB or benchmark_results/history.db)")
	dbOf := func() string {
		if db != "" {
			return db
		}
		return defaultDB("")
	}

	imp := &cobra.Command{
		Use:   "import FILE...",
		Short: "Record result files (JSON, CSV, go test -bench output) in the history",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			var runs []inputRun
			for _, a := range args {
				rs, err := readInput(a)
				if err != nil {
					return asUsage(err)
				}
				runs = append(runs, rs...)
			}
			s, err := openStore(ctx, dbOf(), false)
			if err != nil {
				return err
			}
			defer s.Close()
			var fresh []*result.Run
			skipped := 0
			ids := map[string]bool{}
			for _, r := range runs {
				_, _, err := s.Run(ctx, r.run.RunID)
				switch {
				case err == nil || ids[r.run.RunID]:
					skipped++
					fmt.Fprintf(stdout, "skipped %s (%s): already in the history\n", r.run.RunID, r.file)
					continue
				case !errors.Is(err, store.ErrNotFound):
					return storeUsage(err)
				}
				ids[r.run.RunID] = true
				fresh = append(fresh, r.run)
			}
			if err := s.SaveRuns(ctx, fresh, store.RunMeta{Source: "import"}); err != nil {
				return storeUsage(err)
			}
			n := 0
			for _, r := range fresh {
				n += len(r.Results)
			}
			fmt.Fprintf(stdout, "imported %d runs (%d results) into %s", len(fresh), n, store.Redact(dbOf()))
			if skipped > 0 {
				fmt.Fprintf(stdout, "; %d already there", skipped)
			}
			fmt.Fprintln(stdout)
			return nil
		},
	}

	var limit int
	var branch string
	list := &cobra.Command{
		Use:   "list",
		Short: "List recorded runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if limit < 0 {
				return usagef("--limit %d: must be 0 (all) or more", limit)
			}
			s, err := openStore(c.Context(), dbOf(), true)
			if err != nil {
				return err
			}
			defer s.Close()
			rs, err := s.Runs(c.Context(), store.RunQuery{Branch: branch, Limit: limit})
			if err != nil {
				return storeUsage(err)
			}
			if len(rs) == 0 {
				fmt.Fprintln(stdout, "no runs recorded")
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSTARTED\tBRANCH\tSOURCE\tRESULTS\tFAILED\tENVIRONMENT\tCOMMIT")
			for _, r := range rs {
				commit := r.Commit
				if len(commit) > 10 {
					commit = commit[:10]
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.ID, r.StartedAt.Format("2006-01-02 15:04:05Z"), dash(r.Branch), dash(r.Source), r.Results, r.Failures, r.Fingerprint, dash(commit))
			}
			return tw.Flush()
		},
	}
	list.Flags().IntVar(&limit, "limit", 20, "show at most this many runs (0: all)")
	list.Flags().StringVar(&branch, "branch", "", "only runs of this branch")

	var asJSON bool
	show := &cobra.Command{
		Use:   "show RUN_ID",
		Short: "Show a recorded run's results",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			s, err := openStore(c.Context(), dbOf(), true)
			if err != nil {
				return err
			}
			defer s.Close()
			run, info, err := s.Run(c.Context(), args[0])
			if err != nil {
				return storeUsage(err)
			}
			if asJSON {
				return result.EncodeJSON(stdout, run)
			}
			fmt.Fprintf(stdout, "run %s  started %s  branch %s  source %s  environment %s\n", info.ID, info.StartedAt.Format(time.RFC3339), dash(info.Branch), dash(info.Source), info.Fingerprint)
			e := run.Environment
			if e.CPUModel != "" || e.OS != "" {
				fmt.Fprintf(stdout, "%s/%s, %s, %d CPUs, %s\n\n", e.OS, e.Arch, dash(e.CPUModel), e.CPUCores, dash(e.GoVersion))
			}
			printTable(stdout, run.Results)
			return nil
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print the run as JSON")
	cmd.AddCommand(imp, list, show)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// seriesKey names a series in messages and maps.
type seriesKey struct{ model, benchmark, unit string }

// inputSeries groups the results of input files into series (model,
// benchmark) in file order, each point with its run's start time.
type inputPoint struct {
	ts    time.Time
	value float64
	obs   []float64
}

func groupInputs(runs []inputRun) (map[seriesKey][]inputPoint, []seriesKey, error) {
	all := map[seriesKey][]inputPoint{}
	var keys []seriesKey
	units := map[[2]string]string{}
	where := map[[2]string]string{}
	for _, r := range runs {
		for i, x := range r.run.Results {
			k2 := [2]string{x.ModelName, x.BenchmarkName}
			if u, ok := units[k2]; ok && u != x.Unit {
				return nil, nil, fmt.Errorf("%s: %s on %s is in %q here but in %q at %s: mixed units in one series", r.origin[i], x.BenchmarkName, x.ModelName, x.Unit, u, where[k2])
			}
			units[k2], where[k2] = x.Unit, r.origin[i]
			k := seriesKey{x.ModelName, x.BenchmarkName, x.Unit}
			if _, ok := all[k]; !ok {
				keys = append(keys, k)
			}
			ts := x.Timestamp
			if ts.IsZero() {
				ts = time.Time(r.run.StartedAt)
			}
			v := x.Value
			if x.Failed() {
				v = math.NaN()
			}
			xs, _ := store.Samples(x.Metadata)
			all[k] = append(all[k], inputPoint{ts: ts, value: v, obs: xs})
		}
	}
	for _, k := range keys {
		sort.SliceStable(all[k], func(i, j int) bool { return all[k][i].ts.Before(all[k][j].ts) })
	}
	return all, keys, nil
}

// jsonOut writes v as indented JSON.
func jsonOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
