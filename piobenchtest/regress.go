package piobenchtest

import (
	"testing"

	"github.com/inference-pio/piobench/regress"
	"github.com/inference-pio/piobench/result"
)

// AssertNoRegression records r, a result of Run or Measure, in the
// tracker's history and fails t when it regressed by at least threshold (a
// fraction: 0.05 for 5%) against the earlier runs of the same model,
// benchmark and environment: the guide's record_performance_metric
// followed by assert_no_performance_regression.
//
//	r := piobenchtest.Measure(t, m, "inference_speed")
//	piobenchtest.AssertNoRegression(t, tracker, r, 0.05)
//
// The decision is regress's: a statistical test on the samples with a
// minimum effect, direction from the unit (tokens/sec higher is better,
// seconds lower), and the tracker's Options (the default asks for two
// recent runs, so that one outlying run never fails a test; set Window
// and MinRuns to 1 to judge the newest run alone). A failed result is
// not recorded and fails t.
func AssertNoRegression(t testing.TB, tr *regress.Tracker, r result.Result, threshold float64) {
	t.Helper()
	if r.Failed() {
		t.Fatalf("piobenchtest: %s on %s failed, nothing to compare: %s", r.BenchmarkName, r.ModelName, r.Err())
		return
	}
	err := tr.RecordMetric(t.Context(), regress.Metric{Name: r.BenchmarkName, Value: r.Value, Unit: r.Unit,
		ModelName: r.ModelName, Category: r.Category, Metadata: r.Metadata})
	if err != nil {
		t.Fatalf("piobenchtest: recording %s on %s: %v", r.BenchmarkName, r.ModelName, err)
		return
	}
	regress.AssertNoRegression(t, tr, r.ModelName, r.BenchmarkName, threshold)
}
