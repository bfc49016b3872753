package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/stats"
)

// A Proportion is an accuracy as counts: Correct of N answered cases.
type Proportion struct {
	Correct int
	N       int
}

// Ratio returns Correct/N, NaN when N is 0.
func (p Proportion) Ratio() float64 {
	if p.N <= 0 {
		return math.NaN()
	}
	return float64(p.Correct) / float64(p.N)
}

// ProportionOf reads the counts of an accuracy result (metadata "correct"
// and "n", as the accuracy benchmark writes them, in memory or read back
// from JSON).
func ProportionOf(r result.Result) (Proportion, error) {
	if r.Failed() {
		return Proportion{}, fmt.Errorf("%s of %s failed: %s", r.BenchmarkName, r.ModelName, r.Err())
	}
	c, ok1 := count(r.Metadata["correct"])
	n, ok2 := count(r.Metadata["n"])
	if !ok1 || !ok2 || c < 0 || n < c {
		return Proportion{}, fmt.Errorf("%s of %s: no counts (metadata \"correct\" and \"n\")", r.BenchmarkName, r.ModelName)
	}
	return Proportion{Correct: c, N: n}, nil
}

func count(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case float64:
		if x == math.Trunc(x) {
			return int(x), true
		}
	}
	return 0, false
}

// A Comparison says whether accuracy B differs from accuracy A (the
// baseline) by more than chance.
type Comparison struct {
	A, B Proportion
	// Diff is B's accuracy minus A's.
	Diff float64
	// Low and High bound Diff at the comparison's confidence: Newcombe's
	// hybrid score interval, built from the two Wilson intervals.
	Low, High float64
	// PValue is the two-sided p-value of the pooled two-proportion z-test
	// (1 when both proportions are 0 or both are 1).
	PValue float64
	// Significant is true when the interval of the difference excludes
	// zero.
	Significant bool
}

// Change returns "+" when B is significantly more accurate than A, "-"
// when significantly less, and "~" otherwise (as benchstat marks
// differences that are not significant).
func (c Comparison) Change() string {
	switch {
	case !c.Significant:
		return "~"
	case c.Diff > 0:
		return "+"
	default:
		return "-"
	}
}

func (c Comparison) String() string {
	return fmt.Sprintf("%d/%d -> %d/%d: %+.3f [%+.3f, %+.3f] p=%.3g %s",
		c.A.Correct, c.A.N, c.B.Correct, c.B.N, c.Diff, c.Low, c.High, c.PValue, c.Change())
}

// CompareProportions compares two independent accuracies, a the baseline
// and b the new one, at the given confidence (0.95 for 95%; 0 means
// 0.95). Accuracy is higher-is-better: a significant positive Diff is an
// improvement, a significant negative one a regression.
//
// Significance is decided by the interval of the difference (Newcombe
// 1998, method 10: the hybrid of the two Wilson score intervals), which
// stays sensible at 0%, 100% and small n where the normal approximation
// fails; the z-test's p-value is reported beside it. With N = 0 on either
// side nothing is significant and the numbers are NaN.
func CompareProportions(a, b Proportion, confidence float64) Comparison {
	if confidence <= 0 || confidence >= 1 {
		confidence = stats.Confidence
	}
	c := Comparison{A: a, B: b, Diff: b.Ratio() - a.Ratio(), Low: math.NaN(), High: math.NaN(), PValue: math.NaN()}
	if a.N <= 0 || b.N <= 0 {
		return c
	}
	pa, pb := a.Ratio(), b.Ratio()
	la, ua := stats.Wilson(a.Correct, a.N, confidence)
	lb, ub := stats.Wilson(b.Correct, b.N, confidence)
	c.Low = c.Diff - math.Sqrt((pb-lb)*(pb-lb)+(ua-pa)*(ua-pa))
	c.High = c.Diff + math.Sqrt((ub-pb)*(ub-pb)+(pa-la)*(pa-la))
	c.Significant = c.Low > 0 || c.High < 0

	pool := float64(a.Correct+b.Correct) / float64(a.N+b.N)
	se := math.Sqrt(pool * (1 - pool) * (1/float64(a.N) + 1/float64(b.N)))
	if se == 0 {
		c.PValue = 1
	} else {
		z := c.Diff / se
		c.PValue = math.Erfc(math.Abs(z) / math.Sqrt2)
	}
	return c
}

// CompareResults compares two accuracy results (a the baseline) with
// CompareProportions.
func CompareResults(a, b result.Result, confidence float64) (Comparison, error) {
	pa, err := ProportionOf(a)
	if err != nil {
		return Comparison{}, err
	}
	pb, err := ProportionOf(b)
	if err != nil {
		return Comparison{}, err
	}
	return CompareProportions(pa, pb, confidence), nil
}

// A Paired comparison is of two evaluations of the same cases: it counts
// the cases on which they disagree.
type Paired struct {
	Cases  int // cases answered in both
	OnlyA  int // correct in A only (B got them wrong)
	OnlyB  int // correct in B only
	Diff   float64
	PValue float64 // exact two-sided McNemar test
}

// Significant reports whether the paired difference is significant at the
// given level (such as 0.05).
func (p Paired) Significant(alpha float64) bool { return p.PValue < alpha }

// ComparePaired compares two evaluations of the same cases, matched by
// dataset and id, with McNemar's exact test: far more sensitive than
// comparing the two accuracies when the cases are shared, since cases both
// get right (or both get wrong) say nothing about the difference. Cases
// that errored in either are left out. It is an error when no case is
// shared.
func ComparePaired(a, b []Record) (Paired, error) {
	type key struct{ dataset, id string }
	inA := map[key]bool{}
	for i := range a {
		if a[i].Score != nil {
			inA[key{a[i].Dataset, a[i].ID}] = a[i].Correct()
		}
	}
	var p Paired
	for i := range b {
		if b[i].Score == nil {
			continue
		}
		ca, ok := inA[key{b[i].Dataset, b[i].ID}]
		if !ok {
			continue
		}
		cb := b[i].Correct()
		p.Cases++
		switch {
		case ca && !cb:
			p.OnlyA++
		case cb && !ca:
			p.OnlyB++
		}
	}
	if p.Cases == 0 {
		return p, errors.New("the two evaluations share no answered case")
	}
	p.Diff = float64(p.OnlyB-p.OnlyA) / float64(p.Cases)
	p.PValue = mcnemarExact(p.OnlyA, p.OnlyB)
	return p, nil
}

// mcnemarExact returns the two-sided exact p-value of McNemar's test: the
// probability, under Binomial(b+c, 1/2), of a split at least as uneven as
// the one seen.
func mcnemarExact(b, c int) float64 {
	n := b + c
	if n == 0 {
		return 1
	}
	k := min(b, c)
	// P(X <= k) for X ~ Binomial(n, 1/2), summed in log space.
	lgN, _ := math.Lgamma(float64(n + 1))
	sum := 0.0
	for i := 0; i <= k; i++ {
		li, _ := math.Lgamma(float64(i + 1))
		lr, _ := math.Lgamma(float64(n - i + 1))
		sum += math.Exp(lgN - li - lr - float64(n)*math.Ln2)
	}
	return math.Min(1, 2*sum)
}

// ReadRecords reads per-case records, one JSON object a line, as
// `piobench run --save-cases` writes them (other keys on a line, such as
// "benchmark", are ignored). name is used in errors. When model is not
// empty, only that model's records are kept.
func ReadRecords(r io.Reader, name, model string) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64<<20)
	var out []Record
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, &DatasetError{File: name, Line: line, Msg: "not a case record: " + jsonMessage(err)}
		}
		if rec.ID == "" {
			return nil, &DatasetError{File: name, Line: line, Msg: `not a case record: no "id"`}
		}
		if model == "" || rec.Model == model {
			out = append(out, rec)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &DatasetError{File: name, Msg: err.Error()}
	}
	return out, nil
}
