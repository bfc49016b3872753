package report

import (
	"math"

	"github.com/inference-pio/piobench/regress"
)

// A comparison pairs the results of a baseline run (A) and a candidate run
// (B), metric by metric.
type comparison struct {
	A, B  int // indexes into Report.Runs
	Pairs []pair
}

// A pair is one metric in both runs; either side may be missing.
type pair struct {
	Model, Benchmark, Category, Unit string
	A, B                             *entry
}

// Verdicts of a pair.
const (
	verdictSame    = "~"       // no significant difference
	verdictBetter  = "better"  // significant, in the good direction
	verdictWorse   = "worse"   // significant, in the bad direction
	verdictUnknown = "?"       // cannot tell (no interval on one side)
	verdictMissing = "missing" // one side has no result
	verdictFailed  = "failed"  // one side failed
)

// compare builds the comparison of runs a and b.
func (r *Report) compare(a, b int) comparison {
	c := comparison{A: a, B: b}
	idx := map[[2]string]int{}
	add := func(e entry, side int) {
		k := [2]string{e.res.ModelName, displayName(e.res)}
		i, ok := idx[k]
		if !ok {
			i = len(c.Pairs)
			idx[k] = i
			c.Pairs = append(c.Pairs, pair{Model: e.res.ModelName, Benchmark: displayName(e.res), Category: e.res.Category, Unit: e.res.Unit})
		}
		if side == 0 {
			c.Pairs[i].A = &e
		} else {
			c.Pairs[i].B = &e
		}
	}
	for _, e := range r.entries(a) {
		add(e, 0)
	}
	for _, e := range r.entries(b) {
		add(e, 1)
	}
	return c
}

// change returns B's value relative to A's: (B-A)/A, NaN when either is
// missing or A is zero.
func (p pair) change() float64 {
	if p.A == nil || p.B == nil || p.A.failed || p.B.failed || p.A.res.Value == 0 {
		return math.NaN()
	}
	return (p.B.res.Value - p.A.res.Value) / math.Abs(p.A.res.Value)
}

// verdict says whether B differs from A: only when both 95% intervals are
// known and do not overlap is a difference called significant (the rule
// benchstat's users read from its output).
func (p pair) verdict() string {
	switch {
	case p.A == nil || p.B == nil:
		return verdictMissing
	case p.A.failed || p.B.failed:
		return verdictFailed
	}
	alo, ahi, aok := p.A.ci()
	blo, bhi, bok := p.B.ci()
	if !aok || !bok {
		if p.A.res.Value == p.B.res.Value {
			return verdictSame
		}
		return verdictUnknown
	}
	if blo <= ahi && alo <= bhi {
		return verdictSame
	}
	up := p.B.res.Value > p.A.res.Value
	lower := LowerIsBetter(p.Unit) || p.A.res.BenchmarkName == "error_rate"
	if up != lower {
		return verdictBetter
	}
	return verdictWorse
}

// LowerIsBetter reports whether smaller values of a metric in unit are
// better, as regression detection judges it (regress.DirectionFor):
// times, memory and error rates are; rates, ratios and scores are not.
func LowerIsBetter(unit string) bool {
	d, _ := regress.DirectionFor(unit)
	return d == regress.LowerIsBetter
}
