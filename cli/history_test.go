package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/fake"

	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/store"
	"github.com/inference-pio/piobench/store/sqlite"
)

// histEnv is the environment of the test runs written by writeRun.
var histEnv = result.Environment{OS: "linux", Arch: "amd64", CPUModel: "Test CPU", CPUCores: 2, GoMaxProcs: 2, MemoryBytes: 8 << 30, GPUs: []result.GPU{}}

// writeRun writes a JSON run with one result per benchmark of model, each
// with ten samples around its level (noise 1%), and returns the path.
func histRun(t *testing.T, dir, id string, at time.Time, rng *rand.Rand, model string, levels map[string]float64, units map[string]string) string {
	t.Helper()
	run := &result.Run{SchemaVersion: 1, RunID: id, StartedAt: result.Time(at), Environment: histEnv}
	for _, b := range histKeys(levels) {
		xs := make([]float64, 10)
		for i := range xs {
			xs[i] = levels[b] * (1 + 0.01*rng.NormFloat64())
		}
		r := result.Result{Timestamp: at, ModelName: model, BenchmarkName: b, Unit: units[b], Category: "performance",
			Value: histMedian(xs), Metadata: map[string]any{"samples": xs, "statistic": "median"}}
		run.Results = append(run.Results, r)
	}
	path := filepath.Join(dir, id+".json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := result.EncodeJSON(f, run); err != nil {
		t.Fatal(err)
	}
	return path
}

func histKeys(m map[string]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func histMedian(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func histFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// storeRuns lists the runs recorded in the SQLite file db.
func histRuns(t *testing.T, db string) []store.RunInfo {
	t.Helper()
	s, err := sqlite.Open(context.Background(), db, sqlite.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rs, err := s.Runs(context.Background(), store.RunQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// oneLineError checks a usage error: exit 2, one line on stderr naming the
// problem, no panic.
func histUsage(t *testing.T, code int, stdout, stderr, want string) {
	t.Helper()
	wantUsage(t, code, stdout, stderr, want, "")
}

func TestRunRecordsHistory(t *testing.T) {
	t.Setenv(dbEnv, "")
	ckpt := smallCheckpoint(t)
	out := filepath.Join(t.TempDir(), "results")
	args := []string{"run", "--driver", "ref", "--model-path", ckpt, "--benchmark", "loading_time", "--iterations", "2", "--warmup", "0", "--out", out}
	code, stdout, stderr := runMain(t, DefaultConfig(), args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	db := filepath.Join(out, "history.db")
	j, _ := readRun(t, out)
	if !strings.Contains(stdout, "recorded run "+j.RunID+" in "+db) {
		t.Errorf("stdout does not say where the run was recorded:\n%s", stdout)
	}
	rs := histRuns(t, db)
	if len(rs) != 1 || rs[0].ID != j.RunID || rs[0].Results != 1 || rs[0].Source != "run" || rs[0].Fingerprint != store.Fingerprint(j.Environment) {
		t.Fatalf("recorded %+v", rs)
	}
	// The history lists and shows it.
	code, stdout, _ = runMain(t, DefaultConfig(), "history", "list", "--db", db)
	if code != 0 || !strings.Contains(stdout, j.RunID) || !strings.Contains(stdout, "RESULTS") {
		t.Errorf("history list: %d\n%s", code, stdout)
	}
	code, stdout, _ = runMain(t, DefaultConfig(), "history", "show", j.RunID, "--db", db)
	if code != 0 || !strings.Contains(stdout, "loading_time") || !strings.Contains(stdout, "run "+j.RunID) {
		t.Errorf("history show: %d\n%s", code, stdout)
	}
	code, stdout, _ = runMain(t, DefaultConfig(), "history", "show", j.RunID, "--db", db, "--json")
	var back result.Run
	if code != 0 || json.Unmarshal([]byte(stdout), &back) != nil || back.RunID != j.RunID || len(back.Results) != 1 {
		t.Errorf("history show --json: %d\n%s", code, stdout)
	}
	if xs, _ := store.Samples(back.Results[0].Metadata); len(xs) != 2 {
		t.Errorf("samples read back: %v", back.Results[0].Metadata["samples"])
	}

	// Importing the run's own JSON and CSV files into another history
	// records the run once, under its id.
	other0 := filepath.Join(t.TempDir(), "other.db")
	js, _ := filepath.Glob(filepath.Join(out, "*.json"))
	cs, _ := filepath.Glob(filepath.Join(out, "*.csv"))
	code, stdout, stderr = runMain(t, DefaultConfig(), "history", "import", "--db", other0, js[0], cs[0])
	if code != 0 || !strings.Contains(stdout, "imported 1 runs (1 results)") || !strings.Contains(stdout, "1 already there") {
		t.Errorf("import of the run's JSON and CSV: %d\n%s%s", code, stdout, stderr)
	}
	if rs := histRuns(t, other0); len(rs) != 1 || rs[0].ID != j.RunID {
		t.Errorf("imported %+v", rs)
	}

	// --no-history records nothing.
	out2 := filepath.Join(t.TempDir(), "results")
	noHist := append(append([]string{}, args[:len(args)-1]...), out2, "--no-history")
	code, stdout, stderr = runMain(t, DefaultConfig(), noHist...)
	if code != 0 {
		t.Fatalf("--no-history: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out2, "history.db")); err == nil || strings.Contains(stdout, "recorded") {
		t.Errorf("--no-history wrote a history:\n%s", stdout)
	}
	// --db elsewhere.
	other := filepath.Join(t.TempDir(), "team.db")
	code, _, stderr = runMain(t, DefaultConfig(), append(append([]string{}, args...), "--db", other)...)
	if code != 0 || len(histRuns(t, other)) != 1 {
		t.Errorf("--db: exit %d %s", code, stderr)
	}
	if len(histRuns(t, db)) != 1 {
		t.Errorf("the run recorded with --db elsewhere went into the --out history too")
	}
}

// TestRunBadDatabase: a corrupt or locked history file, or an unreachable
// PostgreSQL server, stops the run before anything runs: one line, exit 2,
// no result files.
func TestRunBadDatabase(t *testing.T) {
	t.Setenv(dbTimeoutEnv, "200ms")
	ckpt := smallCheckpoint(t)
	dir := t.TempDir()
	corrupt := histFile(t, dir, "corrupt.db", strings.Repeat("not a database\n", 100))
	locked := filepath.Join(dir, "locked.db")
	s, err := sqlite.Open(context.Background(), locked, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	release := histLock(t, locked)
	defer release()
	for _, tc := range []struct{ name, db, want string }{
		{"corrupt", corrupt, corrupt + " is not a SQLite database or is corrupt"},
		{"locked", locked, locked + " is locked by another process"},
		{"unreachable postgres", "postgres://bob:pw@127.0.0.1:1/history?sslmode=disable", "cannot connect to PostgreSQL at 127.0.0.1:1/history"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "results")
			code, stdout, stderr := runMain(t, DefaultConfig(), "run", "--driver", "ref", "--model-path", ckpt, "--benchmark", "loading_time",
				"--iterations", "1", "--out", out, "--db", tc.db)
			histUsage(t, code, stdout, stderr, tc.want)
			if strings.Contains(stderr, "pw@") {
				t.Errorf("password in message: %s", stderr)
			}
			if js, _ := filepath.Glob(filepath.Join(out, "*.json")); len(js) > 0 {
				t.Errorf("results written: %v", js)
			}
		})
	}
	if b, _ := os.ReadFile(corrupt); string(b) != strings.Repeat("not a database\n", 100) {
		t.Errorf("the corrupt file was changed")
	}
}

// lockFile holds SQLite's write lock on path, as another process writing
// would, until release is called.
func histLock(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
		db.Close()
	}
}

const guideCSV = `model_name,benchmark_name,value,unit,category,timestamp
qwen3_vl_2b,inference_speed,150.5,tokens/sec,performance,2023-10-15T10:30:45.123456
qwen3_vl_2b,memory_usage,812,MB,memory,2023-10-15T10:30:46.000000
`

func TestHistoryImport(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "h.db")
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	j1 := histRun(t, dir, "run1", t0, rng, "m", map[string]float64{"speed": 100}, map[string]string{"speed": "tokens/sec"})
	csv := histFile(t, dir, "guide.csv", guideCSV)
	// A CSV history: the same series three times is three runs.
	hist := histFile(t, dir, "hist.csv", `model_name,benchmark_name,value,unit,category,timestamp
a,b,1.0,ms,performance,2026-01-01T00:00:00Z
a,b,1.1,ms,performance,2026-01-02T00:00:00Z
a,b,,ms,performance,2026-01-03T00:00:00Z
`)
	bench := histFile(t, dir, "bench.txt", `goos: linux
goarch: amd64
pkg: example.com/fast
cpu: Test CPU
BenchmarkParse-2   	 1000	      1200 ns/op	     64 B/op	       2 allocs/op
BenchmarkParse-2   	 1000	      1250 ns/op	     64 B/op	       2 allocs/op
BenchmarkParse-2   	 1000	      1190 ns/op	     64 B/op	       2 allocs/op
PASS
`)
	code, stdout, stderr := runMain(t, DefaultConfig(), "history", "import", "--db", db, j1, csv, hist, bench)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "imported 6 runs (9 results)") {
		t.Errorf("stdout: %s", stdout)
	}
	rs := histRuns(t, db)
	if len(rs) != 6 {
		t.Fatalf("%d runs recorded, want 6: %+v", len(rs), rs)
	}
	s, _ := sqlite.Open(context.Background(), db, sqlite.Options{})
	defer s.Close()
	pts, _ := s.History(context.Background(), store.HistoryQuery{Model: "a", Benchmark: "b", IncludeFailed: true})
	if len(pts) != 3 || pts[0].Value != 1.0 || pts[1].Value != 1.1 || !pts[2].Failed {
		t.Errorf("CSV history points %+v", pts)
	}
	pts, _ = s.History(context.Background(), store.HistoryQuery{Model: "example.com/fast"})
	if len(pts) != 3 {
		t.Fatalf("go test -bench points %+v", pts)
	}
	for _, p := range pts {
		switch p.Unit {
		case "ns/op":
			if p.Benchmark != "Parse-2" || p.Value != 1200 || len(p.Samples) != 3 {
				t.Errorf("time point %+v", p)
			}
		case "B/op":
			if p.Benchmark != "Parse-2 [B/op]" || p.Value != 64 {
				t.Errorf("B/op point %+v", p)
			}
		case "allocs/op":
			if p.Value != 2 {
				t.Errorf("allocs point %+v", p)
			}
		default:
			t.Errorf("unit %q", p.Unit)
		}
	}
	// Importing again records nothing new.
	code, stdout, _ = runMain(t, DefaultConfig(), "history", "import", "--db", db, j1, csv)
	if code != 0 || !strings.Contains(stdout, "imported 0 runs") || !strings.Contains(stdout, "2 already there") {
		t.Errorf("re-import: %d %s", code, stdout)
	}
}

func TestHistoryBadInput(t *testing.T) {
	t.Setenv(dbTimeoutEnv, "200ms")
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	good := histRun(t, dir, "good", t0, rng, "m", map[string]float64{"speed": 100}, map[string]string{"speed": "tokens/sec"})
	db := filepath.Join(dir, "h.db")
	if code, _, stderr := runMain(t, DefaultConfig(), "history", "import", "--db", db, good); code != 0 {
		t.Fatal(stderr)
	}
	wrongHeader := histFile(t, dir, "header.csv", "model,benchmark,value,unit,category,timestamp\nm,b,1,ms,performance,2026-01-01T00:00:00Z\n")
	nonNumeric := histFile(t, dir, "value.csv", "model_name,benchmark_name,value,unit,category,timestamp\nm,b,1,ms,performance,2026-01-01T00:00:00Z\nm,b,fast,ms,performance,2026-01-02T00:00:00Z\n")
	mixed := histFile(t, dir, "mixed.csv", "model_name,benchmark_name,value,unit,category,timestamp\nm,b,1,ms,performance,2026-01-01T00:00:00Z\nm,b,0.001,seconds,performance,2026-01-02T00:00:00Z\n")
	// Fine on its own, but "speed" of m is in tokens/sec in the history.
	otherUnit := histFile(t, dir, "other.csv", "model_name,benchmark_name,value,unit,category,timestamp\nm,x,1,ms,performance,2026-01-01T00:00:00Z\nm,speed,5,ms,performance,2026-01-01T00:00:00Z\n")
	fresh := histRun(t, dir, "fresh", t0.Add(time.Hour), rng, "m", map[string]float64{"speed": 100}, map[string]string{"speed": "tokens/sec"})
	garbage := histFile(t, dir, "notes.txt", "hello\nworld\n")
	corrupt := histFile(t, dir, "corrupt.db", strings.Repeat("garbage", 1000))
	locked := filepath.Join(dir, "locked.db")
	if code, _, stderr := runMain(t, DefaultConfig(), "history", "import", "--db", locked, good); code != 0 {
		t.Fatal(stderr)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong header", []string{"history", "import", "--db", db, fresh, wrongHeader}, wrongHeader + `:1: header is "model,benchmark,value,unit,category,timestamp"`},
		{"non-numeric", []string{"history", "import", "--db", db, fresh, nonNumeric}, nonNumeric + `:3: value "fast" is not a finite number`},
		{"mixed units in a file", []string{"history", "import", "--db", db, fresh, mixed}, mixed + `:3: b on m is in "seconds" here but in "ms" at ` + mixed + ":2: mixed units in one series"},
		{"unit differs from history", []string{"history", "import", "--db", db, fresh, otherUnit}, `m/speed is in "ms", but its history is in "tokens/sec": mixed units in one series`},
		{"not a results file", []string{"history", "import", "--db", db, garbage}, garbage + ": no results"},
		{"missing file", []string{"history", "import", "--db", db, filepath.Join(dir, "none.json")}, "none.json"},
		{"corrupt database", []string{"history", "import", "--db", corrupt, fresh}, corrupt + " is not a SQLite database or is corrupt"},
		{"unreachable postgres", []string{"history", "import", "--db", "postgres://127.0.0.1:1/h?sslmode=disable", fresh}, "cannot connect to PostgreSQL at 127.0.0.1:1/h"},
		{"list without a database", []string{"history", "list", "--db", filepath.Join(dir, "none.db")}, "no history database at " + filepath.Join(dir, "none.db")},
		{"show unknown run", []string{"history", "show", "nope", "--db", db}, `no run "nope"`},
		{"import nothing", []string{"history", "import", "--db", db}, "requires at least 1 arg"},
		{"bad timeout", []string{"history", "list", "--db", db}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "bad timeout" {
				t.Setenv(dbTimeoutEnv, "soon")
				tc.want = dbTimeoutEnv + `="soon"`
			}
			code, stdout, stderr := runMain(t, DefaultConfig(), tc.args...)
			histUsage(t, code, stdout, stderr, tc.want)
		})
	}
	// Nothing of the refused imports was written: "fresh" came before
	// each bad file and must not be there.
	if rs := histRuns(t, db); len(rs) != 1 || rs[0].ID != "good" {
		t.Errorf("runs after refused imports: %+v", rs)
	}
	t.Run("locked database", func(t *testing.T) {
		release := histLock(t, locked)
		defer release()
		code, stdout, stderr := runMain(t, DefaultConfig(), "history", "import", "--db", locked, fresh)
		histUsage(t, code, stdout, stderr, locked+" is locked by another process")
	})
	if rs := histRuns(t, locked); len(rs) != 1 {
		t.Errorf("the locked database got %d runs", len(rs))
	}
}

// TestInterruptedRunNotRecorded: an interrupted run keeps its result files
// but is not recorded (resuming it records it).
func TestInterruptedRunNotRecorded(t *testing.T) {
	t.Setenv(dbEnv, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	cfg := testConfig(t, func() model.Model {
		return &cancelling{Model: fake.New(fake.NewClock(), 0, time.Millisecond, time.Millisecond), calls: &calls, n: 5, cancel: cancel}
	})
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := MainWith(ctx, []string{"run", "--model", "test:m", "--benchmark", "inference_speed", "--benchmark", "comprehensive_benchmark",
		"--iterations", "3", "--warmup", "0", "--out", out}, &stdout, &stderr, cfg)
	if code != ExitInterrupted {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "not recorded in the history: the run was interrupted") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(out, "history.db")); err == nil {
		t.Errorf("an interrupted run created the history")
	}
}
