package eval

import (
	"math"
	"strings"
	"testing"

	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/stats"
)

// TestWilsonKnownValues checks the interval every accuracy reports
// against published values: Newcombe (1998), "Two-sided confidence
// intervals for the single proportion", Statistics in Medicine 17, table I,
// method 3 (Wilson score without continuity correction), and values
// computed by hand from the formula.
func TestWilsonKnownValues(t *testing.T) {
	for _, tc := range []struct {
		x, n   int
		lo, hi float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0.0000, 0.1611},
		{1, 29, 0.0061, 0.1718},
		{2, 3, 0.2077, 0.9385},
		{3, 3, 0.4385, 1.0000},
		{160, 200, 0.7391, 0.8495},
		{5, 8, 0.3057, 0.8632},
	} {
		lo, hi := stats.Wilson(tc.x, tc.n, 0.95)
		if math.Abs(lo-tc.lo) > 1e-4 || math.Abs(hi-tc.hi) > 1e-4 {
			t.Errorf("Wilson(%d/%d) = [%.4f, %.4f], want [%.4f, %.4f]", tc.x, tc.n, lo, hi, tc.lo, tc.hi)
		}
		// The same through a report's tally.
		tlo, thi := Tally{Answered: tc.n, Correct: tc.x, Total: tc.n}.Interval(0.95)
		if tlo != lo || thi != hi {
			t.Errorf("Tally.Interval differs from stats.Wilson for %d/%d", tc.x, tc.n)
		}
	}
	if lo, hi := (Tally{Total: 3, Errors: 3}).Interval(0.95); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("interval of nothing answered = [%v, %v], want NaN", lo, hi)
	}
}

// TestCompareProportions checks the interval of a difference against
// Newcombe (1998), "Interval estimation for the difference between
// independent proportions", Statistics in Medicine 17, table II, method 10
// (the score interval built from two Wilson intervals). The paper gives
// A - B; CompareProportions gives B - A (the change from the baseline A).
func TestCompareProportions(t *testing.T) {
	for _, tc := range []struct {
		a, b      Proportion
		low, high float64
		change    string
	}{
		{Proportion{48, 80}, Proportion{56, 70}, 0.0524, 0.3339, "+"},   // (a) 56/70 - 48/80
		{Proportion{0, 29}, Proportion{5, 56}, -0.0381, 0.1926, "~"},    // (g) 5/56 - 0/29
		{Proportion{0, 20}, Proportion{0, 10}, -0.1611, 0.2775, "~"},    // (h) 0/10 - 0/20
		{Proportion{56, 70}, Proportion{48, 80}, -0.3339, -0.0524, "-"}, // (a) reversed: a regression
	} {
		c := CompareProportions(tc.a, tc.b, 0.95)
		if math.Abs(c.Low-tc.low) > 1e-4 || math.Abs(c.High-tc.high) > 1e-4 {
			t.Errorf("%v -> %v: [%.4f, %.4f], want [%.4f, %.4f]", tc.a, tc.b, c.Low, c.High, tc.low, tc.high)
		}
		if c.Change() != tc.change {
			t.Errorf("%v -> %v: change %q, want %q (%s)", tc.a, tc.b, c.Change(), tc.change, c)
		}
	}
	// Identical accuracies are never a change; a large change on many
	// cases always is.
	same := CompareProportions(Proportion{80, 100}, Proportion{80, 100}, 0.95)
	if same.Significant || same.Diff != 0 || same.PValue != 1 || same.Low >= 0 || same.High <= 0 {
		t.Errorf("same accuracy: %+v", same)
	}
	big := CompareProportions(Proportion{500, 1000}, Proportion{600, 1000}, 0)
	if !big.Significant || big.Change() != "+" || big.PValue > 1e-5 {
		t.Errorf("50%% -> 60%% on 1000 cases: %+v", big)
	}
	// 2/3 -> 3/3 (the guide's three questions): far from significant.
	small := CompareProportions(Proportion{2, 3}, Proportion{3, 3}, 0.95)
	if small.Significant || small.Change() != "~" {
		t.Errorf("2/3 -> 3/3 called significant: %s", small)
	}
	// The pooled z-test: 56/70 vs 48/80, pooled p = 104/150,
	// z = 0.2 / sqrt(p(1-p)(1/70+1/80)) = 2.65017, two-sided p = 0.0080451.
	a := CompareProportions(Proportion{48, 80}, Proportion{56, 70}, 0.95)
	if math.Abs(a.PValue-0.0080451) > 1e-7 || math.Abs(a.Diff-0.2) > 1e-12 {
		t.Errorf("z-test p = %.7f, diff %v; want 0.0080451, 0.2", a.PValue, a.Diff)
	}
	// Nothing answered on one side: nothing to compare.
	none := CompareProportions(Proportion{0, 0}, Proportion{3, 3}, 0.95)
	if none.Significant || !math.IsNaN(none.Low) || !math.IsNaN(none.PValue) {
		t.Errorf("n = 0: %+v", none)
	}
}

func TestCompareResults(t *testing.T) {
	mk := func(correct, n any) result.Result {
		return result.Result{BenchmarkName: "accuracy", ModelName: "m", Value: 0.5, Metadata: map[string]any{"status": "ok", "correct": correct, "n": n}}
	}
	// As in memory (int) and read back from JSON (float64).
	c, err := CompareResults(mk(48, 80), mk(56.0, 70.0), 0.95)
	if err != nil || !c.Significant || c.A != (Proportion{48, 80}) || c.B != (Proportion{56, 70}) {
		t.Errorf("CompareResults: %+v, %v", c, err)
	}
	if _, err := CompareResults(mk(48, 80), mk("x", 70), 0.95); err == nil {
		t.Error("a result without counts compared")
	}
	if _, err := CompareResults(mk(81, 80), mk(1, 2), 0.95); err == nil {
		t.Error("correct > n accepted")
	}
	failed := result.Fail("m", "accuracy", "ratio", "accuracy", errString("down"), nil)
	if _, err := CompareResults(failed, mk(1, 2), 0.95); err == nil {
		t.Error("a failed result compared")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func rec(dataset, id string, correct bool) Record {
	v := 0.0
	if correct {
		v = 1
	}
	return Record{Dataset: dataset, ID: id, Score: &v}
}

func TestComparePaired(t *testing.T) {
	// 20 shared cases: both right on 8, both wrong on 1, only A right on
	// 1, only B right on 9 (plus one error in B and one case only A has).
	var a, b []Record
	add := func(n int, ca, cb bool) {
		for i := 0; i < n; i++ {
			id := string(rune('a'+len(a))) + "x"
			a = append(a, rec("d", id, ca))
			b = append(b, rec("d", id, cb))
		}
	}
	add(8, true, true)
	add(1, false, false)
	add(1, true, false)
	add(9, false, true)
	a = append(a, rec("d", "only-a", true))
	a = append(a, rec("d", "err", true))
	b = append(b, Record{Dataset: "d", ID: "err", Error: "timeout"})
	p, err := ComparePaired(a, b)
	if err != nil {
		t.Fatal(err)
	}
	// Exact McNemar: 2 * P(X <= 1), X ~ Binomial(10, 1/2) = 2 * 11/1024.
	if p.Cases != 19 || p.OnlyA != 1 || p.OnlyB != 9 || math.Abs(p.PValue-22.0/1024) > 1e-12 {
		t.Errorf("paired %+v, want 19 cases, 1 vs 9, p = %v", p, 22.0/1024)
	}
	if !p.Significant(0.05) || p.Significant(0.01) || math.Abs(p.Diff-8.0/19) > 1e-12 {
		t.Errorf("paired significance %+v", p)
	}
	if q, _ := ComparePaired(a, a); q.PValue != 1 || q.Diff != 0 {
		t.Errorf("an evaluation against itself: %+v", q)
	}
	if _, err := ComparePaired(a, []Record{rec("other", "ax", true)}); err == nil {
		t.Error("no shared case, no error")
	}
	// Same ids in another dataset are other cases.
	if q, _ := ComparePaired([]Record{rec("d1", "1", true), rec("d2", "1", false)}, []Record{rec("d2", "1", true)}); q.Cases != 1 || q.OnlyB != 1 {
		t.Errorf("cases matched across datasets: %+v", q)
	}
	for _, tc := range []struct {
		b, c int
		p    float64
	}{{0, 0, 1}, {0, 5, 2.0 / 32}, {3, 3, 1}, {0, 20, 2.0 / (1 << 20)}} {
		if got := mcnemarExact(tc.b, tc.c); math.Abs(got-tc.p) > 1e-12 {
			t.Errorf("mcnemarExact(%d, %d) = %v, want %v", tc.b, tc.c, got, tc.p)
		}
	}
}

func TestReadRecords(t *testing.T) {
	data := `{"benchmark":"accuracy","model":"m1","dataset":"d","id":"1","input":"q","output":"7","expected":["7"],"scorer":"contains","score":1,"latency_ms":3}
{"benchmark":"accuracy","model":"m1","dataset":"d","id":"2","input":"q2","output":"","expected":["8"],"scorer":"contains","score":null,"latency_ms":1,"error":"timeout"}

{"benchmark":"accuracy","model":"m2","dataset":"d","id":"1","input":"q","output":"6","expected":["7"],"scorer":"contains","score":0,"latency_ms":2}
`
	all, err := ReadRecords(strings.NewReader(data), "cases.jsonl", "")
	if err != nil || len(all) != 3 {
		t.Fatalf("%d records, %v", len(all), err)
	}
	if !all[0].Correct() || all[1].Score != nil || all[1].Error != "timeout" || all[2].Model != "m2" {
		t.Errorf("records %+v", all)
	}
	m1, _ := ReadRecords(strings.NewReader(data), "cases.jsonl", "m1")
	m2, _ := ReadRecords(strings.NewReader(data), "cases.jsonl", "m2")
	p, err := ComparePaired(m1, m2)
	if err != nil || p.Cases != 1 || p.OnlyA != 1 {
		t.Errorf("paired from records: %+v, %v", p, err)
	}
	for body, want := range map[string]string{
		"{oops":                       `cases.jsonl:1: not a case record`,
		"\n{\"score\": 1}":            `cases.jsonl:2: not a case record: no "id"`,
		`{"id": "1", "score": "yes"}`: `cases.jsonl:1: not a case record: "score" has the wrong type`,
	} {
		if _, err := ReadRecords(strings.NewReader(body), "cases.jsonl", ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}
