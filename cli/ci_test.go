package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/internal/testutil"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/fake"
	"github.com/inference-pio/piobench/store"
)

// ciHistory records n runs of two benchmarks (speed in tokens/sec at 100,
// load in seconds at 2) into a new database and returns it, the directory
// and the start of the next run.
func ciHistory(t *testing.T, n int, rng *rand.Rand) (db, dir string, next time.Time) {
	t.Helper()
	dir = t.TempDir()
	db = filepath.Join(dir, "h.db")
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var files []string
	for i := 0; i < n; i++ {
		files = append(files, histRun(t, dir, fmt.Sprintf("base%02d", i), t0.Add(time.Duration(i)*time.Hour), rng, "m",
			map[string]float64{"speed": 100, "load": 2}, map[string]string{"speed": "tokens/sec", "load": "seconds"}))
	}
	if code, _, stderr := runMain(t, DefaultConfig(), append([]string{"history", "import", "--db", db}, files...)...); code != 0 {
		t.Fatal(stderr)
	}
	return db, dir, t0.Add(time.Duration(n) * time.Hour)
}

func TestCIRegressionAndImprovement(t *testing.T) {
	t.Setenv(dbEnv, "")
	rng := rand.New(rand.NewPCG(5, 6))
	db, dir, next := ciHistory(t, 10, rng)
	summary := filepath.Join(dir, "step-summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	units := map[string]string{"speed": "tokens/sec", "load": "seconds"}

	// 25% fewer tokens/sec: a critical regression; load unchanged.
	slow := histRun(t, dir, "slow", next, rng, "m", map[string]float64{"speed": 75, "load": 2}, units)
	code, stdout, stderr := runMain(t, DefaultConfig(), "ci", "--threshold", "5", "--fail-on-regression", "--results", slow, "--db", db)
	if code != ExitFailed {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "REGRESSION (critical)") || !strings.Contains(stdout, "10 earlier runs in this environment") || strings.Count(stdout, "~") != 1 {
		t.Errorf("table:\n%s", stdout)
	}
	if !strings.Contains(stderr, "1 of 2 benchmarks regressed") {
		t.Errorf("stderr %q", stderr)
	}
	md, err := os.ReadFile(summary)
	if err != nil || !strings.Contains(string(md), "## piobench: 1 regression") || !strings.Contains(string(md), "| m | speed |") || !strings.Contains(string(md), "**REGRESSION (critical)**") {
		t.Errorf("summary %v:\n%s", err, md)
	}
	rs := histRuns(t, db)
	if len(rs) != 11 || rs[0].ID != "slow" || rs[0].Source != "ci" {
		t.Errorf("the new run was not recorded: %+v", rs[0])
	}
	st, _ := openStore(t.Context(), db, true)
	alerts, _ := st.Alerts(t.Context(), store.AlertQuery{})
	st.Close()
	if len(alerts) != 1 || alerts[0].RunID != "slow" || alerts[0].Severity != "critical" || alerts[0].Direction != "regression" || alerts[0].ChangePct > -15 {
		t.Errorf("alerts %+v", alerts)
	}

	// The same file again: it is in the history, so the baseline is the
	// runs before it, and it is not recorded twice. Without
	// --fail-on-regression the exit code is 0.
	code, stdout, _ = runMain(t, DefaultConfig(), "ci", "--results", slow, "--db", db, "--summary", filepath.Join(dir, "s2.md"))
	if code != 0 || !strings.Contains(stdout, "REGRESSION (critical)") || !strings.Contains(stdout, "10 earlier runs") {
		t.Errorf("again without --fail-on-regression: exit %d\n%s", code, stdout)
	}
	if len(histRuns(t, db)) != 11 {
		t.Errorf("recorded twice")
	}

	// 25% less loading time: an improvement, never a regression.
	fast := histRun(t, dir, "fast", next.Add(time.Hour), rng, "m", map[string]float64{"speed": 100, "load": 1.5}, units)
	code, stdout, stderr = runMain(t, DefaultConfig(), "ci", "--fail-on-regression", "--results", fast, "--db", db, "--no-history", "--summary", filepath.Join(dir, "s3.md"))
	if code != 0 || !strings.Contains(stdout, "improvement (critical)") || strings.Contains(stdout, "REGRESSION") {
		t.Errorf("improvement: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if len(histRuns(t, db)) != 11 {
		t.Errorf("--no-history recorded the run")
	}
	// A per-benchmark override makes the same move a regression.
	code, stdout, _ = runMain(t, DefaultConfig(), "ci", "--fail-on-regression", "--results", fast, "--db", db, "--no-history", "--higher-is-better", "load", "--summary", filepath.Join(dir, "s4.md"))
	if code != ExitFailed || !strings.Contains(stdout, "REGRESSION") {
		t.Errorf("override: exit %d\n%s", code, stdout)
	}
}

func TestCIBaselines(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	db, dir, next := ciHistory(t, 4, rng)
	units := map[string]string{"speed": "tokens/sec", "load": "seconds"}
	slow := histRun(t, dir, "slow", next, rng, "m", map[string]float64{"speed": 80, "load": 2}, units)
	sum := filepath.Join(dir, "s.md")

	// One run as the baseline: the samples decide (Mann-Whitney U).
	code, stdout, _ := runMain(t, DefaultConfig(), "ci", "--fail-on-regression", "--results", slow, "--db", db, "--baseline", "base02", "--no-history", "--summary", sum)
	if code != ExitFailed || !strings.Contains(stdout, "baseline: run base02") || !strings.Contains(stdout, "REGRESSION") {
		t.Errorf("--baseline RUN: exit %d\n%s", code, stdout)
	}
	// A results file as the baseline, without any database.
	base := histRun(t, dir, "filebase", next, rng, "m", map[string]float64{"speed": 100, "load": 2}, units)
	code, stdout, stderr := runMain(t, DefaultConfig(), "ci", "--fail-on-regression", "--results", slow, "--baseline", base, "--no-history", "--summary", sum, "--out", filepath.Join(dir, "none"))
	if code != ExitFailed || !strings.Contains(stdout, "1 runs from "+base) {
		t.Errorf("--baseline FILE: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Branches: main's runs are the baseline of a feature branch's run.
	t.Setenv("PIOBENCH_BRANCH", "main")
	for i := 0; i < 4; i++ {
		f := histRun(t, dir, fmt.Sprintf("main%d", i), next.Add(time.Duration(i+1)*time.Hour), rng, "m", map[string]float64{"speed": 120, "load": 2}, units)
		if code, _, stderr := runMain(t, DefaultConfig(), "ci", "--results", f, "--db", db, "--summary", sum); code != 0 {
			t.Fatalf("recording main: %s", stderr)
		}
	}
	t.Setenv("PIOBENCH_BRANCH", "feature")
	feat := histRun(t, dir, "feat", next.Add(10*time.Hour), rng, "m", map[string]float64{"speed": 100, "load": 2}, units)
	code, stdout, _ = runMain(t, DefaultConfig(), "ci", "--fail-on-regression", "--results", feat, "--db", db, "--baseline", "main", "--summary", sum)
	if code != ExitFailed || !strings.Contains(stdout, "4 runs of branch main in this environment") || !strings.Contains(stdout, "REGRESSION") {
		t.Errorf("--baseline main: exit %d\n%s", code, stdout)
	}
	// Against all history (100 x4, 120 x4) the feature run is no regression.
	code, stdout, _ = runMain(t, DefaultConfig(), "ci", "--fail-on-regression", "--results", feat, "--db", db, "--summary", sum)
	if code != 0 {
		t.Errorf("all history: exit %d\n%s", code, stdout)
	}
	rs := histRuns(t, db)
	branches := map[string]int{}
	for _, r := range rs {
		branches[r.Branch]++
	}
	if branches["main"] != 4 || branches["feature"] != 1 {
		t.Errorf("branches recorded %v", branches)
	}
}

func TestCIBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	db, dir, next := ciHistory(t, 3, rng)
	f := histRun(t, dir, "new", next, rng, "m", map[string]float64{"speed": 100}, map[string]string{"speed": "tokens/sec"})
	otherUnit := histRun(t, dir, "unit", next, rng, "m", map[string]float64{"speed": 100}, map[string]string{"speed": "ms"})
	two := histFile(t, dir, "two.csv", "model_name,benchmark_name,value,unit,category,timestamp\nm,b,1,ms,performance,2026-01-01T00:00:00Z\nm,b,2,ms,performance,2026-01-02T00:00:00Z\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"zero threshold", []string{"ci", "--threshold", "0", "--results", f, "--db", db}, "--threshold 0"},
		{"bad alpha", []string{"ci", "--alpha", "2", "--results", f, "--db", db}, "--alpha 2"},
		{"bad correction", []string{"ci", "--correction", "bonferroni", "--results", f, "--db", db}, `correction "bonferroni"`},
		{"bad levels", []string{"ci", "--severity-levels", "4,2,1", "--results", f, "--db", db}, "severity levels"},
		{"results and run flags", []string{"ci", "--results", f, "--model", "ref:15m", "--db", db}, "--results and run flags (--model)"},
		{"unknown baseline", []string{"ci", "--results", f, "--db", db, "--baseline", "nope"}, "--baseline nope: no run, branch or file of that name"},
		{"missing results", []string{"ci", "--results", filepath.Join(dir, "none.json"), "--db", db}, "none.json"},
		{"two runs in results", []string{"ci", "--results", two, "--db", db}, "holds 2 runs"},
		{"unit differs from history", []string{"ci", "--results", otherUnit, "--db", db}, `speed on m is in "ms", but its baseline is in "tokens/sec": mixed units in one series`},
		{"unreachable postgres", []string{"ci", "--results", f, "--db", "postgres://127.0.0.1:1/x"}, "cannot connect to PostgreSQL"},
		{"both directions", []string{"ci", "--results", f, "--db", db, "--higher-is-better", "x", "--lower-is-better", "x"}, "both --higher-is-better and --lower-is-better"},
		{"unknown benchmark", []string{"ci", "--benchmark", "warp", "--db", db, "--out", filepath.Join(dir, "o")}, `unknown benchmark "warp"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, DefaultConfig(), tc.args...)
			histUsage(t, code, stdout, stderr, tc.want)
		})
	}
	if rs := histRuns(t, db); len(rs) != 3 {
		t.Errorf("%d runs after refused ci calls, want 3", len(rs))
	}
}

// sleepy is a fake model that takes real time: it sleeps per generated
// token, so that benchmarks timed by the wall clock see its speed.
type sleepy struct {
	*fake.Model
	perToken time.Duration
}

func (s *sleepy) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	return s.InferStream(ctx, req, nil)
}

func (s *sleepy) InferStream(ctx context.Context, req model.Request, fn func(model.Token) error) (model.Response, error) {
	n := req.MaxTokens
	if n <= 0 {
		n = 16
	}
	time.Sleep(time.Duration(n) * s.perToken)
	return s.Model.InferStream(ctx, req, fn)
}

// TestCIRunsBenchmarks runs the benchmarks itself, on a model that sleeps
// per token: three steady runs, then one three times slower per token.
func TestCIRunsBenchmarks(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	t.Setenv(dbEnv, "")
	decode := 200 * time.Microsecond
	cfg := testConfig(t, func() model.Model {
		return &sleepy{fake.New(fake.NewClock(), 0, time.Millisecond, time.Millisecond), decode}
	})
	out := filepath.Join(t.TempDir(), "results")
	args := []string{"ci", "--threshold", "5", "--model", "test:m", "--benchmark", "inference_speed", "--iterations", "10", "--out", out}
	// The steady runs build the history; on a busy machine their own
	// timings may differ, so they do not fail on regressions.
	for i := 0; i < 3; i++ {
		code, stdout, stderr := runMain(t, cfg, args...)
		if code != 0 {
			t.Fatalf("steady run %d: exit %d\n%s\n%s", i, code, stdout, stderr)
		}
	}
	decode = 600 * time.Microsecond // three times slower: a margin for a busy machine
	code, stdout, stderr := runMain(t, cfg, append(args, "--fail-on-regression")...)
	if code != ExitFailed || !strings.Contains(stdout, "REGRESSION") || !strings.Contains(stdout, "3 earlier runs") {
		t.Fatalf("slower run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "wrote "+out) {
		t.Errorf("the run's files were not written:\n%s", stdout)
	}
	if rs := histRuns(t, filepath.Join(out, "history.db")); len(rs) != 4 {
		t.Errorf("%d runs recorded, want 4", len(rs))
	}
	if _, err := os.Stat(filepath.Join(out, "ci-summary.md")); err != nil {
		t.Errorf("no summary: %v", err)
	}
}

// changesCSV writes a CSV history: speed (tokens/sec) drops 20% at run 20
// of 40; load (seconds) never changes; plus one series of one run.
func changesCSV(t *testing.T, dir string) string {
	rng := rand.New(rand.NewPCG(11, 12))
	var b strings.Builder
	b.WriteString("model_name,benchmark_name,value,unit,category,timestamp\n")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 40; i++ {
		speed := 100 * (1 + 0.01*rng.NormFloat64())
		if i >= 20 {
			speed *= 0.8
		}
		ts := t0.Add(time.Duration(i) * 24 * time.Hour).Format(time.RFC3339)
		fmt.Fprintf(&b, "m,speed,%.3f,tokens/sec,performance,%s\n", speed, ts)
		fmt.Fprintf(&b, "m,load,%.4f,seconds,performance,%s\n", 2*(1+0.01*rng.NormFloat64()), ts)
		if i == 0 {
			fmt.Fprintf(&b, "m,once,1,ms,performance,%s\n", ts)
		}
	}
	return histFile(t, dir, "history.csv", b.String())
}

func TestChanges(t *testing.T) {
	dir := t.TempDir()
	csv := changesCSV(t, dir)
	code, stdout, stderr := runMain(t, DefaultConfig(), "changes", "--input", csv, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(rows) != 1 {
		t.Fatalf("changes %v", rows)
	}
	r := rows[0]
	var keys []string
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range []string{"model_name", "benchmark_name", "timestamp", "index", "direction", "change_pct", "severity", "p_value"} {
		if _, ok := r[k]; !ok {
			t.Errorf("key %q missing from %v", k, keys)
		}
	}
	if r["model_name"] != "m" || r["benchmark_name"] != "speed" || r["index"] != 20.0 || r["direction"] != "regression" ||
		r["severity"] != "critical" || r["timestamp"] != "2026-01-21T00:00:00.000000Z" {
		t.Errorf("change %v", r)
	}
	if c := r["change_pct"].(float64); c > -18 || c < -22 {
		t.Errorf("change_pct %v, want about -20", c)
	}
	if p := r["p_value"].(float64); !(p > 0 && p < 1e-4) {
		t.Errorf("p_value %v", p)
	}
	if !strings.Contains(stderr, "1 series of one run skipped (once on m)") {
		t.Errorf("stderr %q", stderr)
	}
	// The text form, from a database.
	db := filepath.Join(dir, "h.db")
	if code, _, stderr := runMain(t, DefaultConfig(), "history", "import", "--db", db, csv); code != 0 {
		t.Fatal(stderr)
	}
	code, stdout, _ = runMain(t, DefaultConfig(), "changes", "--db", db)
	if code != 0 || !strings.Contains(stdout, "speed") || !strings.Contains(stdout, "regression") || !strings.Contains(stdout, "critical") || strings.Contains(stdout, "load") {
		t.Errorf("changes --db: exit %d\n%s", code, stdout)
	}
	// A higher threshold hides it.
	code, stdout, _ = runMain(t, DefaultConfig(), "changes", "--input", csv, "--threshold", "25")
	if code != 0 || !strings.Contains(stdout, "no changes of 25% or more in 2 series") {
		t.Errorf("--threshold 25: %d\n%s", code, stdout)
	}
}

func TestChangesBadInput(t *testing.T) {
	dir := t.TempDir()
	one := histFile(t, dir, "one.csv", guideCSV)
	wrongHeader := histFile(t, dir, "h.csv", "a,b,c\n1,2,3\n")
	nonNumeric := histFile(t, dir, "n.csv", "model_name,benchmark_name,value,unit,category,timestamp\nm,b,1,ms,performance,2026-01-01T00:00:00Z\nm,b,NaN,ms,performance,2026-01-02T00:00:00Z\n")
	mixed1 := histFile(t, dir, "m1.csv", "model_name,benchmark_name,value,unit,category,timestamp\nm,b,1,ms,performance,2026-01-01T00:00:00Z\n")
	mixed2 := histFile(t, dir, "m2.csv", "model_name,benchmark_name,value,unit,category,timestamp\nm,b,1,seconds,performance,2026-01-02T00:00:00Z\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"series of one run", []string{"changes", "--input", one}, "a series of one run has no changes to find"},
		{"wrong header", []string{"changes", "--input", wrongHeader}, wrongHeader + ":1: header is"},
		{"non-numeric", []string{"changes", "--input", nonNumeric}, nonNumeric + `:3: value "NaN" is not a finite number`},
		{"mixed units across files", []string{"changes", "--input", mixed1, "--input", mixed2}, mixed2 + `:2: b on m is in "seconds" here but in "ms" at ` + mixed1 + ":2"},
		{"bad threshold", []string{"changes", "--input", one, "--threshold", "-1"}, "--threshold -1"},
		{"input and db", []string{"changes", "--input", one, "--db", "x.db"}, "--input and --db cannot be used together"},
		{"no database", []string{"changes", "--db", filepath.Join(dir, "none.db")}, "no history database at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, DefaultConfig(), tc.args...)
			histUsage(t, code, stdout, stderr, tc.want)
		})
	}
}

func TestCompareAndExport(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(13, 14))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	units := map[string]string{"speed": "tokens/sec", "load": "seconds"}
	a := histRun(t, dir, "a", t0, rng, "m", map[string]float64{"speed": 100, "load": 2}, units)
	b := histRun(t, dir, "b", t0.Add(time.Hour), rng, "m", map[string]float64{"speed": 90, "load": 2}, units)
	code, stdout, stderr := runMain(t, DefaultConfig(), "compare", a, b)
	if code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	lines := strings.Split(stdout, "\n")
	var speed, load string
	for _, l := range lines {
		if strings.Contains(l, " speed ") {
			speed = l
		}
		if strings.Contains(l, " load ") {
			load = l
		}
	}
	if !regexp.MustCompile(`-(9|10)\.\d\d% \(worse\)`).MatchString(speed) || !strings.Contains(speed, "n=10+10") || !strings.Contains(speed, "±") {
		t.Errorf("speed line %q", speed)
	}
	if !strings.Contains(load, " ~ ") {
		t.Errorf("load line %q, want ~ (no significant change)", load)
	}

	// Export to benchfmt and import back: same values and samples.
	db := filepath.Join(dir, "h.db")
	if code, _, stderr := runMain(t, DefaultConfig(), "history", "import", "--db", db, a); code != 0 {
		t.Fatal(stderr)
	}
	txt := filepath.Join(dir, "a.txt")
	code, _, stderr = runMain(t, DefaultConfig(), "export", "--format", "benchfmt", "--db", db, "-o", txt)
	if code != 0 {
		t.Fatal(stderr)
	}
	data, _ := os.ReadFile(txt)
	for _, want := range []string{"pkg: piobench", "piobench run a started 2026-11-01T00:00:00.000000Z\n", "Unit tokens/sec better=higher", "Benchmarkspeed/model=m-2 1 ", "Benchmarkload/model=m-2 1 "} {
		if !strings.Contains(string(data), want) {
			t.Errorf("export lacks %q:\n%s", want, data)
		}
	}
	if n := strings.Count(string(data), "\nBenchmark"); n != 20 {
		t.Errorf("%d benchmark lines, want 20 (one per sample)", n)
	}
	db2 := filepath.Join(dir, "h2.db")
	if code, _, stderr := runMain(t, DefaultConfig(), "history", "import", "--db", db2, txt); code != 0 {
		t.Fatal(stderr)
	}
	s1, _ := openStore(t.Context(), db, true)
	s2, _ := openStore(t.Context(), db2, true)
	defer s1.Close()
	defer s2.Close()
	p1, _ := s1.History(t.Context(), store.HistoryQuery{})
	p2, _ := s2.History(t.Context(), store.HistoryQuery{})
	if len(p1) != 2 || len(p2) != 2 {
		t.Fatalf("%d and %d points", len(p1), len(p2))
	}
	for i := range p1 {
		if p1[i].Model != p2[i].Model || p1[i].Benchmark != p2[i].Benchmark || p1[i].Unit != p2[i].Unit || p1[i].Value != p2[i].Value || fmt.Sprint(p1[i].Samples) != fmt.Sprint(p2[i].Samples) {
			t.Errorf("round trip\n%+v\n%+v", p1[i], p2[i])
		}
	}
	// Bad input.
	code, stdout, stderr = runMain(t, DefaultConfig(), "compare", a, "nope", "--db", db)
	histUsage(t, code, stdout, stderr, "nope: no such file, and no run of that id")
	code, stdout, stderr = runMain(t, DefaultConfig(), "export", "--format", "csv", a)
	histUsage(t, code, stdout, stderr, `--format "csv"`)
}

// TestHistoryOnPostgres records, lists and judges runs in a PostgreSQL
// database (skipped without a server; see store/postgres).
func TestHistoryOnPostgres(t *testing.T) {
	db := testutil.TempPostgres(t, "piobench_cli")

	rng := rand.New(rand.NewPCG(21, 22))
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	units := map[string]string{"speed": "tokens/sec"}
	var files []string
	for i := 0; i < 6; i++ {
		files = append(files, histRun(t, dir, fmt.Sprintf("pg%d", i), t0.Add(time.Duration(i)*time.Hour), rng, "m", map[string]float64{"speed": 100}, units))
	}
	if code, stdout, stderr := runMain(t, DefaultConfig(), append([]string{"history", "import", "--db", db}, files...)...); code != 0 || !strings.Contains(stdout, "imported 6 runs") {
		t.Fatalf("import: %d %s %s", code, stdout, stderr)
	}
	t.Setenv("PIOBENCH_DB", db)
	code, stdout, _ := runMain(t, DefaultConfig(), "history", "list")
	if code != 0 || strings.Count(stdout, "pg") != 6 {
		t.Errorf("list via PIOBENCH_DB: %d\n%s", code, stdout)
	}
	slow := histRun(t, dir, "slow", t0.Add(10*time.Hour), rng, "m", map[string]float64{"speed": 70}, units)
	code, stdout, _ = runMain(t, DefaultConfig(), "ci", "--fail-on-regression", "--results", slow, "--summary", filepath.Join(dir, "s.md"))
	if code != ExitFailed || !strings.Contains(stdout, "REGRESSION (critical)") || !strings.Contains(stdout, "6 earlier runs") {
		t.Errorf("ci: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runMain(t, DefaultConfig(), "changes", "--json")
	if code != 0 || !strings.HasPrefix(stdout, "[") {
		t.Errorf("changes: %d %s", code, stdout)
	}
}
