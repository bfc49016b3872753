package cli

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/store"
	"github.com/inference-pio/piobench/store/sqlite"
)

// BenchmarkChangesCommand runs `piobench changes --db` end to end (reading
// the history and analysing it) over 1,000 series of 500 runs in a SQLite
// history: the target is under 10 s on 2 cores. Building the history is not
// timed.
func BenchmarkChangesCommand(b *testing.B) {
	const series, runs = 1000, 500
	db := filepath.Join(b.TempDir(), "history.db")
	ctx := context.Background()
	if keep := os.Getenv("PIOBENCH_BENCH_DB"); keep != "" {
		// Reuse (or build once) the history at this path.
		db = keep
		if _, err := os.Stat(db); err == nil {
			b.ResetTimer()
			benchChanges(b, db)
			return
		}
	}
	s, err := sqlite.Open(ctx, db, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	level := make([]float64, series)
	for i := range level {
		level[i] = 100
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []*result.Run
	for r := 0; r < runs; r++ {
		at := t0.Add(time.Duration(r) * time.Hour)
		run := &result.Run{SchemaVersion: 1, RunID: fmt.Sprintf("r%04d", r), StartedAt: result.Time(at), Environment: histEnv}
		for i := 0; i < series; i++ {
			if r%120 == 119 && rng.IntN(3) == 0 {
				level[i] *= 1.1
			}
			run.Results = append(run.Results, result.Result{Timestamp: at, ModelName: "m", BenchmarkName: fmt.Sprintf("b%04d", i),
				Value: level[i] * (1 + 0.02*rng.NormFloat64()), Unit: "ms", Category: "performance", Metadata: map[string]any{}})
		}
		batch = append(batch, run)
		if len(batch) == 50 {
			if err := s.SaveRuns(ctx, batch, store.RunMeta{}); err != nil {
				b.Fatal(err)
			}
			batch = nil
		}
	}
	s.Close()
	b.ResetTimer()
	benchChanges(b, db)
}

func benchChanges(b *testing.B, db string) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		if code := Main(ctx, []string{"changes", "--db", db, "--json"}, io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}
