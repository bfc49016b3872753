package cli

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/inference-pio/piobench/internal/testutil"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/store"
	"github.com/inference-pio/piobench/store/postgres"
	"github.com/inference-pio/piobench/store/sqlite"
)

// concurrentProcs is how many piobench processes write one history at
// once.
const concurrentProcs = 10

// TestConcurrentRecordingSQLite runs 10 piobench processes that record
// into one new SQLite history at the same time (all of them create it,
// migrate it and add the same series), then 10 that import result files
// into it at once: every run, result and sample must be in it afterwards.
func TestConcurrentRecordingSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 20 piobench processes")
	}
	db := filepath.Join(t.TempDir(), "shared", "history.db")
	concurrentRecording(t, db, func(ctx context.Context) (store.Store, error) {
		return sqlite.Open(ctx, db, sqlite.Options{MustExist: true})
	})
}

// TestConcurrentRecordingPostgres is the same against a new PostgreSQL
// database (skipped without PIOBENCH_TEST_POSTGRES; CI sets it).
func TestConcurrentRecordingPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 20 piobench processes")
	}
	db := testutil.TempPostgres(t, "piobench_conc")
	concurrentRecording(t, db, func(ctx context.Context) (store.Store, error) {
		return postgres.Open(ctx, db, postgres.Options{})
	})
}

// childResult is what one piobench process did.
type childResult struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// runChildren starts every command line as a piobench process at once
// and waits for all of them.
func runChildren(t *testing.T, argv [][]string) []childResult {
	t.Helper()
	out := make([]childResult, len(argv))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, args := range argv {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(os.Environ(), "PIOBENCH_TEST_MAIN=1", "PIOBENCH_BRANCH=concurrency", "PIOBENCH_DB=", "PIOBENCH_DB_TIMEOUT=")
			var so, se bytes.Buffer
			cmd.Stdout, cmd.Stderr = &so, &se
			<-start
			t0 := time.Now()
			err := cmd.Run()
			out[i] = childResult{code: cmd.ProcessState.ExitCode(), stdout: so.String(), stderr: se.String(), took: time.Since(t0)}
			if err != nil && cmd.ProcessState == nil {
				out[i].code, out[i].stderr = -1, err.Error()
			}
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func concurrentRecording(t *testing.T, db string, open func(context.Context) (store.Store, error)) {
	ckpt := smallCheckpoint(t)
	root := t.TempDir()

	// Phase 1: 10 runs, each recording itself at its end.
	var argv [][]string
	for i := 0; i < concurrentProcs; i++ {
		argv = append(argv, []string{"run", "--quiet", "--model-path", ckpt, "--benchmark", "loading_time", "--benchmark", "inference_speed",
			"--iterations", "2", "--warmup", "0", "--out", filepath.Join(root, fmt.Sprintf("run%d", i)), "--db", db})
	}
	var want []*result.Run
	for i, c := range runChildren(t, argv) {
		if c.code != 0 {
			t.Fatalf("run %d: exit %d\n%s\n%s", i, c.code, c.stdout, c.stderr)
		}
		run, _ := readRun(t, filepath.Join(root, fmt.Sprintf("run%d", i)))
		want = append(want, run)
		t.Logf("run %d: %s in %v", i, run.RunID, c.took.Round(time.Millisecond))
	}

	// Phase 2: 10 imports at once of files that share their series.
	argv = nil
	dir := filepath.Join(root, "imports")
	for i := 0; i < concurrentProcs; i++ {
		run := &result.Run{SchemaVersion: result.SchemaVersion, RunID: fmt.Sprintf("conc-import-%d", i),
			StartedAt: result.Time(time.Date(2026, 11, 1, i, 0, 0, 0, time.UTC)), Environment: result.Environment{OS: "linux", Arch: "amd64", GPUs: []result.GPU{}}}
		for b, unit := range []string{"ms", "tokens/sec", "MB"} {
			xs := []float64{float64(i) + 1, float64(i) + 2, float64(i) + 3}
			run.Results = append(run.Results, result.Result{Timestamp: time.Time(run.StartedAt), ModelName: fmt.Sprintf("conc-model-%d", b),
				BenchmarkName: fmt.Sprintf("conc_bench_%d", b), Value: xs[1], Unit: unit, Category: result.CategoryPerformance,
				Metadata: map[string]any{"samples": xs}})
		}
		jp, _, err := result.WriteFiles(dir, run)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, run)
		argv = append(argv, []string{"history", "import", "--db", db, jp})
	}
	for i, c := range runChildren(t, argv) {
		if c.code != 0 {
			t.Fatalf("import %d: exit %d\n%s\n%s", i, c.code, c.stdout, c.stderr)
		}
	}

	// Everything is there, exactly once.
	ctx := context.Background()
	st, err := open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	infos, err := st.Runs(ctx, store.RunQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(want) {
		t.Errorf("the history holds %d runs, want %d", len(infos), len(want))
	}
	results, samples := 0, 0
	for _, w := range want {
		got, _, err := st.Run(ctx, w.RunID)
		if err != nil {
			t.Errorf("run %s: %v", w.RunID, err)
			continue
		}
		if len(got.Results) != len(w.Results) {
			t.Errorf("run %s: %d results in the history, %d in its file", w.RunID, len(got.Results), len(w.Results))
			continue
		}
		for i, r := range w.Results {
			g := got.Results[i]
			same := g.Value == r.Value || (math.IsNaN(g.Value) && math.IsNaN(r.Value))
			if g.ModelName != r.ModelName || g.BenchmarkName != r.BenchmarkName || !same {
				t.Errorf("run %s result %d: %s/%s = %v in the history, %s/%s = %v in its file", w.RunID, i, g.ModelName, g.BenchmarkName, g.Value, r.ModelName, r.BenchmarkName, r.Value)
			}
			ws, _ := store.Samples(r.Metadata)
			gs, _ := store.Samples(g.Metadata)
			if len(ws) != len(gs) {
				t.Errorf("run %s result %d: %d samples in the history, %d in its file", w.RunID, i, len(gs), len(ws))
			}
			results++
			samples += len(gs)
		}
	}
	t.Logf("%d processes recorded %d runs, %d results, %d samples into %s", 2*concurrentProcs, len(infos), results, samples, store.Redact(db))
}
