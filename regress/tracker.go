package regress

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/store"
)

// A Series is one benchmark on one model in one environment, ready for
// detection: the baseline runs and the newest runs, oldest first.
type Series struct {
	Model, Benchmark, Unit, Fingerprint string
	RunID                               string // of the newest run
	Baseline, Recent                    []Obs
	// Direction overrides the unit's direction when set.
	Direction Direction
}

// A Finding is the verdict on one series.
type Finding struct {
	Model, Benchmark, Unit, Fingerprint, RunID string
	Direction                                  Direction
	Verdict
}

// Message describes the finding in one line.
func (f Finding) Message() string {
	switch f.Status {
	case Regression, Improvement:
		return fmt.Sprintf("%s %s of %s on %s: %+.1f%% (%.4g -> %.4g %s, p=%.2g)", f.Severity, f.Status, f.Benchmark, f.Model,
			100*f.Change, f.Baseline, f.Value, f.Unit, f.P)
	}
	return fmt.Sprintf("%s on %s: %s", f.Benchmark, f.Model, f.Status)
}

// Detect compares every series, adjusts the p-values across all of them
// with c, and decides each at o.Alpha. o.Direction is ignored: each
// series' direction comes from its unit unless the series sets one.
func Detect(series []Series, o Options, c Correction) []Finding {
	out := make([]Finding, len(series))
	ps := make([]float64, len(series))
	opts := make([]Options, len(series))
	for i, s := range series {
		so := o
		so.Direction = s.Direction
		if so.Direction == 0 {
			so.Direction, _ = DirectionFor(s.Unit)
		}
		opts[i] = so
		v := Compare(s.Baseline, s.Recent, so)
		out[i] = Finding{Model: s.Model, Benchmark: s.Benchmark, Unit: s.Unit, Fingerprint: s.Fingerprint, RunID: s.RunID, Direction: so.Direction, Verdict: v}
		ps[i] = math.NaN()
		if v.Status != NoBaseline && v.Status != TooFewData && !math.IsNaN(v.P) {
			ps[i] = v.P
		}
	}
	adj := Adjust(ps, c)
	for i := range out {
		if !math.IsNaN(adj[i]) {
			out[i].Verdict = Decide(out[i].Verdict, adj[i], opts[i])
		}
	}
	return out
}

// A Metric is one measurement recorded through the Tracker, as in the
// guide's record_metric(name, value, unit, model_name, category).
type Metric struct {
	Name      string
	Value     float64
	Unit      string
	ModelName string
	Category  string
	Metadata  map[string]any // "samples" ([]float64) feeds the statistics
}

// A Tracker records metrics into a store and detects regressions on them:
// the guide's PerformanceRegressionTracker.
type Tracker struct {
	Store store.Store
	// Env is the environment metrics are recorded under; its fingerprint
	// selects the baseline. Defaults to this machine's.
	Env result.Environment
	// Options of detection. The default looks at up to 5 newest runs (at
	// least 2, so that one outlying run never alarms) against a baseline
	// of at least 8 runs; set Window 1 and MinRuns 1 to judge the newest
	// run alone.
	Options Options
	// Correction across series (default Holm).
	Correction Correction
	// Directions overrides the unit's direction per benchmark name.
	Directions map[string]Direction
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// HistoryOptions are the Tracker's default detection options.
var HistoryOptions = Options{Threshold: 0.05, Window: 5, MinRuns: 2, MinBaseline: 8}

// NewTracker returns a tracker over s with this machine's environment.
func NewTracker(ctx context.Context, s store.Store) *Tracker {
	return &Tracker{Store: s, Env: result.CaptureEnvironment(ctx)}
}

func (t *Tracker) now() time.Time {
	if t.Now != nil {
		return t.Now().UTC()
	}
	return time.Now().UTC()
}

// RecordMetric records one metric as a run of its own.
func (t *Tracker) RecordMetric(ctx context.Context, m Metric) error {
	if m.Name == "" {
		return fmt.Errorf("record metric: empty name")
	}
	if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
		return fmt.Errorf("record metric %s: value %v is not a finite number", m.Name, m.Value)
	}
	now := t.now()
	b := make([]byte, 6)
	rand.Read(b)
	meta := m.Metadata
	if meta == nil {
		meta = map[string]any{}
	}
	run := &result.Run{SchemaVersion: result.SchemaVersion, RunID: "m-" + hex.EncodeToString(b), StartedAt: result.Time(now), Environment: t.Env,
		Results: []result.Result{{Timestamp: now, ModelName: m.ModelName, BenchmarkName: m.Name, Value: m.Value, Unit: m.Unit, Category: m.Category, Metadata: meta}}}
	return t.Store.SaveRun(ctx, run, store.RunMeta{Source: "tracker"})
}

// SeriesFromPoints groups history points (as store.History returns them)
// by model, benchmark and fingerprint; the newest window runs of each
// become Recent.
func SeriesFromPoints(pts []store.Point, window int) []Series {
	if window <= 0 {
		window = 1
	}
	type key struct{ m, b, f string }
	idx := map[key]int{}
	var out []Series
	var obs [][]Obs
	for _, p := range pts {
		if p.Failed {
			continue
		}
		k := key{p.Model, p.Benchmark, p.Fingerprint}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Series{Model: p.Model, Benchmark: p.Benchmark, Unit: p.Unit, Fingerprint: p.Fingerprint})
			obs = append(obs, nil)
		}
		obs[i] = append(obs[i], Obs{Value: p.Value, Samples: p.Samples})
		out[i].RunID = p.RunID
	}
	for i := range out {
		cut := max(0, len(obs[i])-window)
		out[i].Baseline, out[i].Recent = obs[i][:cut], obs[i][cut:]
	}
	return out
}

// Findings judges the newest run of every series in the store (or, with
// model and benchmark set, of that one) against its history.
func (t *Tracker) Findings(ctx context.Context, model, benchmark string, threshold float64) ([]Finding, error) {
	o := t.Options
	if o == (Options{}) {
		o = HistoryOptions
	}
	if threshold > 0 {
		o.Threshold = threshold
	}
	pts, err := t.Store.History(ctx, store.HistoryQuery{Model: model, Benchmark: benchmark})
	if err != nil {
		return nil, err
	}
	series := SeriesFromPoints(pts, max(o.Window, 1))
	for i := range series {
		if d, ok := t.Directions[series[i].Benchmark]; ok {
			series[i].Direction = d
		}
	}
	c := t.Correction
	if c == "" {
		c = Holm
	}
	return Detect(series, o, c), nil
}

// DetectRegressions judges the newest run of every series, records an
// alert for each regression and improvement not already recorded for that
// run, and returns the regressions, most severe first. threshold is a
// fraction (0.05 for 5%), as in the guide.
func (t *Tracker) DetectRegressions(ctx context.Context, threshold float64) ([]store.Alert, error) {
	fs, err := t.Findings(ctx, "", "", threshold)
	if err != nil {
		return nil, err
	}
	alerts, err := t.record(ctx, fs)
	if err != nil {
		return nil, err
	}
	var regs []store.Alert
	for _, a := range alerts {
		if a.Direction == string(Regression) {
			regs = append(regs, a)
		}
	}
	return regs, nil
}

// record turns findings into alerts and saves the new ones.
func (t *Tracker) record(ctx context.Context, fs []Finding) ([]store.Alert, error) {
	var all []store.Alert
	for _, f := range fs {
		if f.Status != Regression && f.Status != Improvement {
			continue
		}
		all = append(all, AlertOf(f, t.now()))
	}
	sort.SliceStable(all, func(i, j int) bool {
		return Severity(all[i].Severity).Rank() > Severity(all[j].Severity).Rank()
	})
	if len(all) == 0 {
		return nil, nil
	}
	old, err := t.Store.Alerts(ctx, store.AlertQuery{})
	if err != nil {
		return nil, err
	}
	type key struct{ run, m, b string }
	seen := map[key]bool{}
	for _, a := range old {
		seen[key{a.RunID, a.Model, a.Benchmark}] = true
	}
	var fresh []store.Alert
	for _, a := range all {
		if !seen[key{a.RunID, a.Model, a.Benchmark}] {
			fresh = append(fresh, a)
		}
	}
	return all, t.Store.SaveAlerts(ctx, fresh)
}

// AlertOf turns a finding into an alert.
func AlertOf(f Finding, now time.Time) store.Alert {
	return store.Alert{RunID: f.RunID, CreatedAt: now, Model: f.Model, Benchmark: f.Benchmark, Unit: f.Unit, Fingerprint: f.Fingerprint,
		Severity: string(f.Severity), Direction: string(f.Status), ChangePct: 100 * f.Change, PValue: f.P,
		Baseline: f.Baseline, Value: f.Value, Message: f.Message()}
}

// RecentAlerts returns the alerts of the last day (or since, when given),
// newest first, as the guide's get_recent_alerts.
func (t *Tracker) RecentAlerts(ctx context.Context, since ...time.Time) ([]store.Alert, error) {
	s := t.now().Add(-24 * time.Hour)
	if len(since) > 0 {
		s = since[0]
	}
	return t.Store.Alerts(ctx, store.AlertQuery{Since: s})
}

// AssertNoRegression fails the test when the newest run of the series
// (model, benchmark) regressed by at least threshold (a fraction) against
// its history, as the guide's assert_no_performance_regression. It records
// the alert like DetectRegressions.
func AssertNoRegression(t testing.TB, tr *Tracker, model, benchmark string, threshold float64) {
	t.Helper()
	ctx := context.Background()
	fs, err := tr.Findings(ctx, model, benchmark, threshold)
	if err != nil {
		t.Fatalf("regression check of %s on %s: %v", benchmark, model, err)
		return
	}
	if len(fs) == 0 {
		t.Fatalf("regression check: no history of %s on %s", benchmark, model)
		return
	}
	if _, err := tr.record(ctx, fs); err != nil {
		t.Fatalf("regression check of %s on %s: %v", benchmark, model, err)
		return
	}
	for _, f := range fs {
		if f.Status == Regression {
			t.Errorf("performance regression: %s", f.Message())
		}
	}
}
