package report

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/store"
	"github.com/inference-pio/piobench/store/sqlite"
)

// historyRuns makes n runs of ref:15m's inference_speed (about 140
// tokens/sec, 10 samples) and loading_time (40 ms) in the fixture's
// environment: loading takes 60 ms from run `step` on, and the last run's
// speed falls by 30%.
func historyRuns(t *testing.T, n, step int) []*result.Run {
	base := fixture(t, "models.json").Runs[0]
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	var runs []*result.Run
	for i := 0; i < n; i++ {
		level, loadTime := 140.0, 0.04
		if i == n-1 && n > 1 {
			level = 98
		}
		if i >= step {
			loadTime = 0.06
		}
		wobble := 1 + 0.01*float64((i*7)%5-2)
		var samples []float64
		for j := 0; j < 10; j++ {
			samples = append(samples, level*wobble*(1+0.004*float64(j%5-2)))
		}
		speed := result.Result{Timestamp: t0, ModelName: "ref:15m", BenchmarkName: "inference_speed", Value: level * wobble, Unit: "tokens/sec",
			Category: "performance", Metadata: map[string]any{"status": "ok", "samples": samples}}
		load := result.Result{Timestamp: t0, ModelName: "ref:15m", BenchmarkName: "loading_time", Value: loadTime * wobble, Unit: "seconds",
			Category: "performance", Metadata: map[string]any{"status": "ok", "samples": []float64{loadTime * wobble, loadTime * 1.002 * wobble, loadTime * 0.998 * wobble}}}
		at := result.Time(t0.Add(time.Duration(i) * 6 * time.Hour))
		runs = append(runs, &result.Run{SchemaVersion: 1, RunID: fmt.Sprintf("h%02d", i), StartedAt: at, Environment: base.Environment,
			Results: []result.Result{speed, load}})
	}
	return runs
}

func openTestStore(t *testing.T, runs []*result.Run) store.Store {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "history.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, r := range runs {
		if err := s.SaveRun(ctx, r, store.RunMeta{Source: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestLoadHistory(t *testing.T) {
	runs := historyRuns(t, 30, 10)
	for _, stored := range []bool{true, false} {
		t.Run(fmt.Sprintf("newest-stored=%v", stored), func(t *testing.T) {
			kept := runs
			if !stored {
				kept = runs[:29]
			}
			s := openTestStore(t, kept)
			rep := &Report{Runs: []*result.Run{runs[29]}, Generated: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
			h, err := LoadHistory(context.Background(), s, rep, HistoryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if h.Runs != 30 {
				t.Errorf("history of %d runs, want 30", h.Runs)
			}
			if len(h.Trends) != 2 {
				t.Fatalf("%d trends, want 2", len(h.Trends))
			}
			speed := h.Trends[0]
			if speed.Benchmark != "inference_speed" || len(speed.Points) != 30 {
				t.Fatalf("trend %s with %d points", speed.Benchmark, len(speed.Points))
			}
			load := h.Trends[1]
			if len(load.ChangePoints) != 1 || load.ChangePoints[0] != 10 {
				t.Errorf("loading_time change points %v, want [10]", load.ChangePoints)
			}
			if lo, hi := speed.Points[0].Lo, speed.Points[0].Hi; math.IsNaN(lo) || !(lo <= speed.Points[0].Value && speed.Points[0].Value <= hi) {
				t.Errorf("point 0: interval [%v, %v] around %v", lo, hi, speed.Points[0].Value)
			}
			if len(speed.ChangePoints) != 0 {
				t.Errorf("speed fell only in the newest run, yet change points %v", speed.ChangePoints)
			}
			if len(h.Regressions) != 1 {
				t.Fatalf("regressions %+v, want one", h.Regressions)
			}
			g := h.Regressions[0]
			if g.Benchmark != "inference_speed" || g.Severity != "critical" || math.Abs(g.Change-(-0.3)) > 0.05 {
				t.Errorf("regression %+v, want inference_speed about -30%%, critical", g)
			}
			if len(speed.Alerts) != 1 || speed.Alerts[0].Index != 29 {
				t.Errorf("alerts %+v, want one on the newest point", speed.Alerts)
			}
			// And the report shows it, regressions first.
			rep.History = h
			var b bytes.Buffer
			WriteMarkdown(&b, rep)
			if !strings.Contains(b.String(), "| **CRITICAL** | ref:15m | inference_speed |") {
				t.Errorf("markdown lacks the regression:\n%s", b.String())
			}
		})
	}
}

func TestLoadHistoryOneRun(t *testing.T) {
	runs := historyRuns(t, 1, 10)
	s := openTestStore(t, runs)
	rep := &Report{Runs: runs}
	h, err := LoadHistory(context.Background(), s, rep, HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h.Runs != 1 || len(h.Regressions) != 0 || len(h.Trends) != 2 || len(h.Trends[0].Points) != 1 {
		t.Errorf("history %+v", h)
	}
	rep.History = h
	page := renderHTML(t, rep)
	for _, want := range []string{"The history holds one run", "One run is not yet a trend."} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
