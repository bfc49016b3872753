package regress_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/regress"
	"github.com/inference-pio/piobench/store/sqlite"
	"github.com/inference-pio/piobench/store/storetest"
)

// fakeT records failures instead of failing.
type fakeT struct {
	testing.TB
	errors []string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, a ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, a...))
}
func (f *fakeT) Fatalf(format string, a ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, a...))
}

func TestTracker(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "h.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clock := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tr := &regress.Tracker{Store: s, Env: storetest.Env, Now: func() time.Time { clock = clock.Add(time.Hour); return clock }}
	rng := rand.New(rand.NewPCG(1, 2))
	record := func(name, unit string, level float64) {
		xs := make([]float64, 10)
		for i := range xs {
			xs[i] = level * (1 + 0.01*rng.NormFloat64())
		}
		if err := tr.RecordMetric(ctx, regress.Metric{Name: name, Value: xs[0], Unit: unit, ModelName: "m", Category: "performance", Metadata: map[string]any{"samples": xs}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 15; i++ {
		record("speed", "tokens/sec", 100)
		record("load", "seconds", 2)
	}
	regs, err := tr.DetectRegressions(ctx, 0.05)
	if err != nil || len(regs) != 0 {
		t.Fatalf("steady history: %v %v", regs, err)
	}
	ft := &fakeT{}
	regress.AssertNoRegression(ft, tr, "m", "speed", 0.05)
	if len(ft.errors) != 0 {
		t.Errorf("steady: %v", ft.errors)
	}
	// Speed drops 20% and loading gets 20% faster, for three runs.
	for i := 0; i < 3; i++ {
		record("speed", "tokens/sec", 75)
		record("load", "seconds", 1.6)
	}
	regs, err = tr.DetectRegressions(ctx, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	if len(regs) != 1 || regs[0].Benchmark != "speed" || regs[0].Direction != "regression" || regs[0].Severity != "critical" {
		t.Fatalf("regressions %+v", regs)
	}
	alerts, err := tr.RecentAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 2 {
		t.Fatalf("alerts %+v, want the regression and the improvement", alerts)
	}
	dirs := alerts[0].Direction + "," + alerts[1].Direction
	if !strings.Contains(dirs, "improvement") || !strings.Contains(dirs, "regression") {
		t.Errorf("alert directions %s", dirs)
	}
	// Detecting again records no duplicate alerts.
	tr.DetectRegressions(ctx, 0.05)
	if again, _ := tr.RecentAlerts(ctx); len(again) != 2 {
		t.Errorf("%d alerts after detecting twice", len(again))
	}
	ft = &fakeT{}
	regress.AssertNoRegression(ft, tr, "m", "speed", 0.05)
	if len(ft.errors) != 1 || !strings.Contains(ft.errors[0], "critical regression of speed on m") {
		t.Errorf("AssertNoRegression: %v", ft.errors)
	}
	ft = &fakeT{}
	regress.AssertNoRegression(ft, tr, "m", "load", 0.05)
	if len(ft.errors) != 0 {
		t.Errorf("an improvement failed the assertion: %v", ft.errors)
	}
	// A per-benchmark direction override turns the loading improvement
	// into a regression.
	tr.Directions = map[string]regress.Direction{"load": regress.HigherIsBetter}
	ft = &fakeT{}
	regress.AssertNoRegression(ft, tr, "m", "load", 0.05)
	if len(ft.errors) != 1 {
		t.Errorf("with the override: %v", ft.errors)
	}
	if err := tr.RecordMetric(ctx, regress.Metric{Name: "x", Value: 0.0 / zero()}); err == nil {
		t.Errorf("NaN metric accepted")
	}
}

func zero() float64 { return 0 }

// Example shows the guide's flow: record, detect, read alerts.
func ExampleTracker() {
	ctx := context.Background()
	dir, _ := filepathTemp()
	s, _ := sqlite.Open(ctx, filepath.Join(dir, "history.db"), sqlite.Options{})
	defer s.Close()
	tr := &regress.Tracker{Store: s, Env: storetest.Env}
	for i := 0; i < 16; i++ {
		v := 150.0 + float64(i%3)
		if i >= 14 {
			v = 120 // the last two runs are 20% slower
		}
		tr.RecordMetric(ctx, regress.Metric{Name: "inference_speed", Value: v, Unit: "tokens/sec", ModelName: "qwen3_vl_2b", Category: "performance"})
	}
	regs, _ := tr.DetectRegressions(ctx, 0.05)
	for _, a := range regs {
		fmt.Printf("%s %s: %.1f%%\n", strings.ToUpper(a.Severity), a.Benchmark, a.ChangePct)
	}
	// Output: CRITICAL inference_speed: -20.5%
}

func filepathTemp() (string, error) { return os.MkdirTemp("", "regress-example") }
