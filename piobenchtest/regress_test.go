package piobenchtest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/model/fake"
	"github.com/inference-pio/piobench/regress"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/store/sqlite"
)

// recorder is a testing.TB that keeps Errorf and Fatalf messages.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestAssertNoRegression measures the fake model ten times at 2 ms a
// token, then once more at the same speed (no regression) and once at
// 2.5 ms a token (20% slower: a regression), recording each in a SQLite
// history.
func TestAssertNoRegression(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "history.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tr := &regress.Tracker{Store: st, Env: result.Environment{Hostname: "test"},
		Options: regress.Options{Threshold: 0.05, Window: 1, MinRuns: 1, MinBaseline: 8}}
	clock := fake.NewClock()
	measure := func(tb testing.TB, decode time.Duration) result.Result {
		m := fake.New(clock, 0, time.Millisecond, decode)
		m.Load(ctx)
		return Measure(tb, m, "inference_speed", WithClock(clock), WithIterations(10))
	}
	for i := 0; i < 10; i++ {
		rec := &recorder{TB: t}
		AssertNoRegression(rec, tr, measure(t, 2*time.Millisecond), 0.05)
		if i >= 8 && len(rec.errors) > 0 {
			t.Fatalf("run %d: %v", i, rec.errors)
		}
	}
	rec := &recorder{TB: t}
	AssertNoRegression(rec, tr, measure(t, 2*time.Millisecond), 0.05)
	if len(rec.errors) != 0 {
		t.Errorf("same speed: %v", rec.errors)
	}
	rec = &recorder{TB: t}
	AssertNoRegression(rec, tr, measure(t, 2500*time.Microsecond), 0.05)
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "performance regression") || !strings.Contains(rec.errors[0], "inference_speed") {
		t.Errorf("20%% slower: %v", rec.errors)
	}
	alerts, err := tr.RecentAlerts(ctx, time.Time{})
	if err != nil || len(alerts) != 1 || alerts[0].Direction != "regression" {
		t.Errorf("alerts %+v, %v", alerts, err)
	}
	// A failed result is not recorded.
	rec = &recorder{TB: t}
	AssertNoRegression(rec, tr, result.Fail("fake", "inference_speed", "tokens/sec", "performance", fmt.Errorf("boom"), nil), 0.05)
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "boom") {
		t.Errorf("failed result: %v", rec.errors)
	}
}
