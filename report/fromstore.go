package report

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/inference-pio/piobench/regress"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/stats"
	"github.com/inference-pio/piobench/store"
)

// HistoryOptions tune LoadHistory.
type HistoryOptions struct {
	// Threshold is the smallest change reported, as a fraction (default
	// 0.05 for 5%).
	Threshold float64
	// Alpha is the significance level (default regress's).
	Alpha float64
}

// LoadHistory reads from s the history of every metric of the report's
// newest run, in that run's environment (store.Fingerprint), and returns
// trends with their change points (regress.FindChanges) and recorded
// alerts, and the regressions of the newest run against all earlier runs
// (regress.Detect with a window of one run and Holm's correction across
// metrics, as piobench ci judges a new run). The newest run need not be in
// the store: when it is not, it is added as the last point of each trend.
// Results measured at a load level are left out (a level is not a series
// of its own in the history).
func LoadHistory(ctx context.Context, s store.Store, rep *Report, o HistoryOptions) (*History, error) {
	if o.Threshold <= 0 {
		o.Threshold = 0.05
	}
	newest := rep.newest()
	if newest == nil {
		return &History{Note: "No run to compare with the history."}, nil
	}
	fp := store.Fingerprint(newest.Environment)
	pts, err := s.History(ctx, store.HistoryQuery{Fingerprint: fp, IncludeFailed: true})
	if err != nil {
		return nil, err
	}
	alerts, err := s.Alerts(ctx, store.AlertQuery{})
	if err != nil {
		return nil, err
	}
	type key struct{ model, bench string }
	want := map[key]result.Result{}
	var order []key
	for _, r := range newest.Results {
		if loadLevel(r) != "" {
			continue
		}
		k := key{r.ModelName, r.BenchmarkName}
		if _, ok := want[k]; !ok {
			order = append(order, k)
		}
		want[k] = r
	}
	series := map[key][]store.Point{}
	runs := map[string]bool{}
	for _, p := range pts {
		k := key{p.Model, p.Benchmark}
		if _, ok := want[k]; ok {
			series[k] = append(series[k], p)
			runs[p.RunID] = true
		}
	}
	if newest.RunID == "" || !runs[newest.RunID] {
		runs[newest.RunID+"\x00new"] = true
	}
	h := &History{Runs: len(runs)}
	var tests []regress.Series
	lastIndex := map[key]int{}
	for _, k := range order {
		ps := series[k]
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].StartedAt.Before(ps[j].StartedAt) })
		r := want[k]
		inStore := false
		for _, p := range ps {
			inStore = inStore || (p.RunID == newest.RunID && newest.RunID != "")
		}
		if !inStore {
			samples, _ := store.Samples(r.Metadata)
			ps = append(ps, store.Point{RunID: newest.RunID, StartedAt: time.Time(newest.StartedAt), Model: r.ModelName, Benchmark: r.BenchmarkName,
				Unit: r.Unit, Value: r.Value, Samples: samples, Failed: r.Failed()})
		}
		tr := Trend{Model: k.model, Benchmark: k.bench, Unit: r.Unit}
		dir, _ := regress.DirectionFor(r.Unit)
		var values []float64
		last := -1 // index of the newest run's point
		for i, p := range ps {
			pt := Point{At: p.StartedAt, RunID: p.RunID, Value: p.Value, Lo: math.NaN(), Hi: math.NaN()}
			if p.Failed {
				pt.Value = math.NaN()
			} else if len(p.Samples) >= 6 {
				sum := stats.Summarize(p.Samples)
				pt.Lo, pt.Hi = sum.CILo, sum.CIHi
			}
			tr.Points = append(tr.Points, pt)
			values = append(values, pt.Value)
			if p.RunID == newest.RunID {
				last = i
			}
		}
		for _, cp := range regress.FindChanges(values, regress.ChangeOptions{Threshold: o.Threshold, Alpha: o.Alpha, Direction: dir}) {
			tr.ChangePoints = append(tr.ChangePoints, cp.Index)
		}
		for _, a := range alerts {
			if a.Model != k.model || a.Benchmark != k.bench || a.Direction != string(regress.Regression) {
				continue
			}
			for i, p := range ps {
				if p.RunID == a.RunID {
					tr.Alerts = append(tr.Alerts, Alert{Index: i, Severity: a.Severity, Message: a.Message})
				}
			}
		}
		h.Trends = append(h.Trends, tr)
		lastIndex[k] = last
		// The newest run against every earlier one.
		if last < 0 || r.Failed() {
			continue
		}
		var base []regress.Obs
		for _, p := range ps[:last] {
			if !p.Failed {
				base = append(base, regress.Obs{Value: p.Value, Samples: p.Samples})
			}
		}
		samples, _ := store.Samples(r.Metadata)
		tests = append(tests, regress.Series{Model: k.model, Benchmark: k.bench, Unit: r.Unit, Fingerprint: fp, RunID: newest.RunID,
			Baseline: base, Recent: []regress.Obs{{Value: r.Value, Samples: samples}}})
	}
	for _, f := range regress.Detect(tests, regress.Options{Threshold: o.Threshold, Alpha: o.Alpha, Window: 1}, regress.Holm) {
		if f.Status != regress.Regression {
			continue
		}
		h.Regressions = append(h.Regressions, Regression{Model: f.Model, Benchmark: f.Benchmark, Unit: f.Unit, Baseline: f.Baseline,
			Current: f.Value, Change: f.Change, Severity: string(f.Severity), Message: fmt.Sprintf("%s, p=%.2g, against %s", f.Method, f.P, plural(f.BaseRuns, "earlier run"))})
		for i := range h.Trends {
			t := &h.Trends[i]
			at, ok := lastIndex[key{t.Model, t.Benchmark}]
			if t.Model == f.Model && t.Benchmark == f.Benchmark && ok && at >= 0 && !hasAlertAt(t, at) {
				t.Alerts = append(t.Alerts, Alert{Index: at, Severity: string(f.Severity), Message: f.Message()})
			}
		}
	}
	return h, nil
}

func hasAlertAt(t *Trend, i int) bool {
	for _, a := range t.Alerts {
		if a.Index == i {
			return true
		}
	}
	return false
}

// newest returns the report's run that started last (the last given when
// times are equal or unknown), or nil when there is none with results.
func (r *Report) newest() *result.Run {
	var best *result.Run
	for _, run := range r.Runs {
		if len(run.Results) == 0 {
			continue
		}
		if best == nil || !time.Time(run.StartedAt).Before(time.Time(best.StartedAt)) {
			best = run
		}
	}
	return best
}
