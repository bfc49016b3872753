// Package storetest is the conformance suite that every store.Store
// passes: Run(t, newStore).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/store"
)

// Run runs the suite. newStore returns a new, empty store each call; the
// suite closes it.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	open := func(t *testing.T) store.Store {
		s := newStore(t)
		t.Cleanup(func() { s.Close() })
		return s
	}
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("Duplicate", func(t *testing.T) { testDuplicate(t, open(t)) })
	t.Run("MixedUnits", func(t *testing.T) { testMixedUnits(t, open(t)) })
	t.Run("History", func(t *testing.T) { testHistory(t, open(t)) })
	t.Run("Runs", func(t *testing.T) { testRuns(t, open(t)) })
	t.Run("Alerts", func(t *testing.T) { testAlerts(t, open(t)) })
	t.Run("SaveRunsAllOrNothing", func(t *testing.T) { testSaveRuns(t, open(t)) })
	t.Run("Large", func(t *testing.T) { testLarge(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open(t)) })
}

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 123456000, time.UTC)

// Env is the environment of the suite's runs.
var Env = result.Environment{OS: "linux", Arch: "amd64", CPUModel: "Test CPU", CPUCores: 2, GoMaxProcs: 2, MemoryBytes: 24 << 30, GoVersion: "go1.26", PiobenchVersion: "test", GitCommit: "abc1234", GPUs: []result.GPU{}}

// MakeRun returns a run with one result per benchmark name of model, each
// with three samples around value.
func MakeRun(id string, start time.Time, model string, value float64, benchmarks ...string) *result.Run {
	run := &result.Run{SchemaVersion: 1, RunID: id, StartedAt: result.Time(start), Environment: Env, Config: map[string]any{"command": "run", "suite": "full"}}
	fin := result.Time(start.Add(time.Minute))
	run.FinishedAt = &fin
	for i, b := range benchmarks {
		run.Results = append(run.Results, result.Result{
			Timestamp: start.Add(time.Duration(i) * time.Second), ModelName: model, BenchmarkName: b,
			Value: value, Unit: "tokens/sec", Category: "performance",
			Metadata: map[string]any{"statistic": "median", "n": 3.0, "samples": []float64{value * 0.99, value, value * 1.01}},
		})
	}
	return run
}

func mustSave(t *testing.T, s store.Store, run *result.Run, meta store.RunMeta) {
	t.Helper()
	if err := s.SaveRun(context.Background(), run, meta); err != nil {
		t.Fatalf("SaveRun(%s): %v", run.RunID, err)
	}
}

func testRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	run := MakeRun("r1", t0, "ref:15m", 391.75, "inference_speed", "batch_processing_4")
	run.Results[1].Unit = "requests/sec"
	run.Results = append(run.Results, result.Fail("ref:15m", "loading_time", "seconds", "performance", errors.New("load failed: no file"), nil))
	run.Results[2].Timestamp = t0.Add(5 * time.Second)
	run.Results[0].Metadata["cases"] = []any{map[string]any{"input": "2+2", "correct": true}}
	run.Results[0].Metadata["odd"] = math.Inf(1)
	mustSave(t, s, run, store.RunMeta{Source: "run", Branch: "main"})

	got, info, err := s.Run(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != "r1" || info.Branch != "main" || info.Source != "run" || info.Commit != "abc1234" || info.Results != 3 || info.Failures != 1 {
		t.Errorf("info %+v", info)
	}
	if info.Fingerprint != store.Fingerprint(Env) || info.Fingerprint == "" {
		t.Errorf("fingerprint %q, want %q", info.Fingerprint, store.Fingerprint(Env))
	}
	if !time.Time(got.StartedAt).Equal(t0) || got.FinishedAt == nil || !time.Time(*got.FinishedAt).Equal(t0.Add(time.Minute)) {
		t.Errorf("times %v %v", got.StartedAt, got.FinishedAt)
	}
	if !reflect.DeepEqual(got.Environment, Env) {
		t.Errorf("environment\n got %+v\nwant %+v", got.Environment, Env)
	}
	if got.Config["suite"] != "full" {
		t.Errorf("config %v", got.Config)
	}
	if len(got.Results) != 3 {
		t.Fatalf("%d results", len(got.Results))
	}
	r0 := got.Results[0]
	if r0.Value != 391.75 || r0.Unit != "tokens/sec" || r0.BenchmarkName != "inference_speed" || !r0.Timestamp.Equal(t0) || r0.Category != "performance" {
		t.Errorf("result 0 %+v", r0)
	}
	xs, ok := store.Samples(r0.Metadata)
	if !ok || !reflect.DeepEqual(xs, []float64{391.75 * 0.99, 391.75, 391.75 * 1.01}) {
		t.Errorf("samples %v", r0.Metadata["samples"])
	}
	if r0.Metadata["odd"] != nil || r0.Metadata["statistic"] != "median" {
		t.Errorf("metadata %v", r0.Metadata)
	}
	if c, _ := r0.Metadata["cases"].([]any); len(c) != 1 {
		t.Errorf("nested metadata %v", r0.Metadata["cases"])
	}
	if got.Results[1].Unit != "requests/sec" {
		t.Errorf("result 1 unit %q", got.Results[1].Unit)
	}
	f := got.Results[2]
	if !f.Failed() || !math.IsNaN(f.Value) || f.Err() != "load failed: no file" {
		t.Errorf("failed result read back as %+v", f)
	}
	if _, _, err := s.Run(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Run(nope) = %v, want ErrNotFound", err)
	}
}

func count(t *testing.T, s store.Store) (runs, points int) {
	t.Helper()
	rs, err := s.Runs(context.Background(), store.RunQuery{})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := s.History(context.Background(), store.HistoryQuery{IncludeFailed: true})
	if err != nil {
		t.Fatal(err)
	}
	return len(rs), len(ps)
}

func testDuplicate(t *testing.T, s store.Store) {
	mustSave(t, s, MakeRun("dup", t0, "m", 10, "a", "b"), store.RunMeta{})
	err := s.SaveRun(context.Background(), MakeRun("dup", t0.Add(time.Hour), "m", 20, "a", "b", "c"), store.RunMeta{})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("second SaveRun = %v, want ErrExists", err)
	}
	if r, p := count(t, s); r != 1 || p != 2 {
		t.Errorf("after refused duplicate: %d runs, %d points; want 1, 2", r, p)
	}
}

func testMixedUnits(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustSave(t, s, MakeRun("u1", t0, "m", 10, "a"), store.RunMeta{})
	bad := MakeRun("u2", t0.Add(time.Hour), "m", 10, "b", "a", "c")
	bad.Results[1].Unit = "seconds"
	err := s.SaveRun(ctx, bad, store.RunMeta{})
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("SaveRun with a changed unit = %v, want ErrInvalid", err)
	}
	if r, p := count(t, s); r != 1 || p != 1 {
		t.Errorf("after refused run: %d runs, %d points; want 1, 1 (no partial write)", r, p)
	}
	// Series b and c were not recorded either: a later run may use any unit for them.
	ok := MakeRun("u3", t0.Add(2*time.Hour), "m", 10, "b")
	ok.Results[0].Unit = "ms"
	mustSave(t, s, ok, store.RunMeta{})
	within := MakeRun("u4", t0.Add(3*time.Hour), "m", 10, "x", "x")
	within.Results[1].Unit = "ms"
	if err := s.SaveRun(ctx, within, store.RunMeta{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("mixed units within one run = %v, want ErrInvalid", err)
	}
	bad = MakeRun("u5", t0.Add(4*time.Hour), "m", 10, "d")
	bad.Results[0].Metadata["samples"] = []float64{1, math.NaN()}
	if err := s.SaveRun(ctx, bad, store.RunMeta{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("NaN sample = %v, want ErrInvalid", err)
	}
}

func testHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	other := Env
	other.CPUModel = "Other CPU"
	// Recorded out of time order on purpose.
	for i, spec := range []struct {
		id     string
		at     int
		branch string
		env    result.Environment
		value  float64
	}{
		{"h3", 3, "main", Env, 103}, {"h1", 1, "main", Env, 101}, {"h2", 2, "feature", Env, 102},
		{"h4", 4, "main", other, 104}, {"h5", 5, "main", Env, 105},
	} {
		run := MakeRun(spec.id, t0.Add(time.Duration(spec.at)*time.Hour), "m", spec.value, "a", "b")
		run.Environment = spec.env
		if i == 4 {
			run.Results[1] = result.Fail("m", "b", "tokens/sec", "performance", errors.New("boom"), nil)
		}
		mustSave(t, s, run, store.RunMeta{Branch: spec.branch})
	}
	mustSave(t, s, MakeRun("other-model", t0, "n", 1, "a"), store.RunMeta{})

	ids := func(ps []store.Point) string {
		out := ""
		for _, p := range ps {
			out += fmt.Sprintf("%s/%s/%s ", p.Model, p.Benchmark, p.RunID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    store.HistoryQuery
		want string
	}{
		{"all", store.HistoryQuery{}, "m/a/h1 m/a/h2 m/a/h3 m/a/h4 m/a/h5 m/b/h1 m/b/h2 m/b/h3 m/b/h4 n/a/other-model "},
		{"with failed", store.HistoryQuery{Model: "m", Benchmark: "b", IncludeFailed: true}, "m/b/h1 m/b/h2 m/b/h3 m/b/h4 m/b/h5 "},
		{"model+benchmark", store.HistoryQuery{Model: "m", Benchmark: "a"}, "m/a/h1 m/a/h2 m/a/h3 m/a/h4 m/a/h5 "},
		{"fingerprint", store.HistoryQuery{Model: "m", Benchmark: "a", Fingerprint: store.Fingerprint(Env)}, "m/a/h1 m/a/h2 m/a/h3 m/a/h5 "},
		{"branch", store.HistoryQuery{Model: "m", Benchmark: "a", Branch: "main"}, "m/a/h1 m/a/h3 m/a/h4 m/a/h5 "},
		{"before", store.HistoryQuery{Model: "m", Benchmark: "a", Before: "h4"}, "m/a/h1 m/a/h2 m/a/h3 "},
		{"last runs", store.HistoryQuery{Model: "m", Benchmark: "a", LastRuns: 2}, "m/a/h4 m/a/h5 "},
		{"last runs of a fingerprint before a run", store.HistoryQuery{Benchmark: "a", Fingerprint: store.Fingerprint(Env), Before: "h5", LastRuns: 2}, "m/a/h2 m/a/h3 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := s.History(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(ps); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	ps, err := s.History(ctx, store.HistoryQuery{Model: "m", Benchmark: "a", Before: "h5"})
	if err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	if p.Value != 101 || p.Unit != "tokens/sec" || p.Branch != "main" || !p.StartedAt.Equal(t0.Add(time.Hour)) || p.Failed ||
		!reflect.DeepEqual(p.Samples, []float64{101 * 0.99, 101, 101 * 1.01}) || p.Fingerprint != store.Fingerprint(Env) {
		t.Errorf("point %+v", p)
	}
	ps, err = s.History(ctx, store.HistoryQuery{Model: "m", Benchmark: "a", WithoutSamples: true})
	if err != nil || len(ps) != 5 || ps[0].Samples != nil || ps[0].Value != 101 {
		t.Errorf("without samples: %v %+v", err, ps)
	}
	if _, err := s.History(ctx, store.HistoryQuery{Before: "missing"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Before a missing run = %v, want ErrNotFound", err)
	}
	ps, _ = s.History(ctx, store.HistoryQuery{Model: "m", Benchmark: "b", IncludeFailed: true})
	if last := ps[len(ps)-1]; !last.Failed || !math.IsNaN(last.Value) {
		t.Errorf("failed point %+v", last)
	}
}

func testRuns(t *testing.T, s store.Store) {
	ctx := context.Background()
	if rs, err := s.Runs(ctx, store.RunQuery{}); err != nil || len(rs) != 0 {
		t.Fatalf("empty store: %v, %v", rs, err)
	}
	for i := 0; i < 4; i++ {
		run := MakeRun(fmt.Sprintf("run%d", i), t0.Add(time.Duration(i)*time.Hour), "m", 1, "a", "b", "c")
		if i == 2 {
			run.Results[0] = result.Fail("m", "a", "tokens/sec", "performance", errors.New("x"), nil)
		}
		br := "main"
		if i%2 == 1 {
			br = "dev"
		}
		mustSave(t, s, run, store.RunMeta{Branch: br, Source: "run"})
	}
	rs, err := s.Runs(ctx, store.RunQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 || rs[0].ID != "run3" || rs[3].ID != "run0" {
		t.Fatalf("runs %+v", rs)
	}
	if rs[1].Results != 3 || rs[1].Failures != 1 || rs[0].Failures != 0 || !rs[1].StartedAt.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("run2 %+v", rs[1])
	}
	rs, _ = s.Runs(ctx, store.RunQuery{Branch: "main", Limit: 1})
	if len(rs) != 1 || rs[0].ID != "run2" {
		t.Errorf("branch main, limit 1: %+v", rs)
	}
}

func testAlerts(t *testing.T, s store.Store) {
	ctx := context.Background()
	if as, err := s.Alerts(ctx, store.AlertQuery{}); err != nil || len(as) != 0 {
		t.Fatalf("no alerts: %v %v", as, err)
	}
	in := []store.Alert{
		{RunID: "r1", CreatedAt: t0, Model: "m", Benchmark: "a", Unit: "ms", Fingerprint: "f", Severity: "minor", Direction: "regression", ChangePct: 6.5, PValue: 0.001, Baseline: 10, Value: 10.65, Message: "a slower"},
		{RunID: "r2", CreatedAt: t0.Add(time.Hour), Model: "m", Benchmark: "b", Unit: "ms", Severity: "critical", Direction: "regression", ChangePct: 40, PValue: math.NaN(), Baseline: 10, Value: 14, Message: "b much slower"},
	}
	if err := s.SaveAlerts(ctx, in); err != nil {
		t.Fatal(err)
	}
	as, err := s.Alerts(ctx, store.AlertQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 || as[0].RunID != "r2" || as[1].ID == 0 || as[0].ID == as[1].ID {
		t.Fatalf("alerts %+v", as)
	}
	a := as[1]
	a.ID = 0
	if !reflect.DeepEqual(a, in[0]) {
		t.Errorf("alert\n got %+v\nwant %+v", a, in[0])
	}
	if !math.IsNaN(as[0].PValue) {
		t.Errorf("NaN p-value read back as %v", as[0].PValue)
	}
	as, _ = s.Alerts(ctx, store.AlertQuery{Since: t0.Add(time.Minute)})
	if len(as) != 1 || as[0].Benchmark != "b" {
		t.Errorf("since: %+v", as)
	}
	as, _ = s.Alerts(ctx, store.AlertQuery{Limit: 1})
	if len(as) != 1 || as[0].Benchmark != "b" {
		t.Errorf("limit: %+v", as)
	}
}

func testLarge(t *testing.T, s store.Store) {
	ctx := context.Background()
	var names []string
	for i := 0; i < 1234; i++ {
		names = append(names, fmt.Sprintf("b%04d", i))
	}
	run := MakeRun("large", t0, "m", 5, names...)
	run.Results[777].Metadata["samples"] = make([]float64, 1001)
	mustSave(t, s, run, store.RunMeta{})
	got, info, err := s.Run(ctx, "large")
	if err != nil {
		t.Fatal(err)
	}
	if info.Results != 1234 || len(got.Results) != 1234 || got.Results[1233].BenchmarkName != "b1233" {
		t.Fatalf("%d results", len(got.Results))
	}
	if xs, _ := store.Samples(got.Results[777].Metadata); len(xs) != 1001 {
		t.Errorf("result 777 has %d samples, want 1001", len(xs))
	}
	if xs, _ := store.Samples(got.Results[778].Metadata); len(xs) != 3 {
		t.Errorf("result 778 has %d samples, want 3", len(xs))
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- s.SaveRun(context.Background(), MakeRun(fmt.Sprintf("c%d", i), t0.Add(time.Duration(i)*time.Minute), "m", float64(i), "a", "b"), store.RunMeta{})
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if r, p := count(t, s); r != 8 || p != 16 {
		t.Errorf("%d runs and %d points, want 8 and 16", r, p)
	}
}

func testSaveRuns(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := MakeRun("a", t0, "m", 1, "x", "y")
	b := MakeRun("b", t0.Add(time.Hour), "m", 2, "x", "y")
	c := MakeRun("c", t0.Add(2*time.Hour), "m", 3, "x", "y")
	c.Results[1].Unit = "seconds" // y changes unit in the third run
	if err := s.SaveRuns(ctx, []*result.Run{a, b, c}, store.RunMeta{Source: "import"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("SaveRuns with a unit change in the last run = %v, want ErrInvalid", err)
	}
	if r, p := count(t, s); r != 0 || p != 0 {
		t.Errorf("after the refused batch: %d runs, %d points; want none", r, p)
	}
	if err := s.SaveRuns(ctx, []*result.Run{a, a}, store.RunMeta{}); !errors.Is(err, store.ErrExists) {
		t.Errorf("the same run twice = %v, want ErrExists", err)
	}
	if err := s.SaveRuns(ctx, []*result.Run{a, b}, store.RunMeta{Source: "import"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRuns(ctx, []*result.Run{MakeRun("d", t0, "m", 1, "x"), b}, store.RunMeta{}); !errors.Is(err, store.ErrExists) {
		t.Errorf("a batch with a recorded run = %v, want ErrExists", err)
	}
	if r, p := count(t, s); r != 2 || p != 4 {
		t.Errorf("%d runs, %d points; want 2, 4", r, p)
	}
	if err := s.SaveRuns(ctx, nil, store.RunMeta{}); err != nil {
		t.Errorf("no runs: %v", err)
	}
}
