package regress

import (
	"math"
	"sort"
)

// ChangeOptions tune FindChanges.
type ChangeOptions struct {
	// Threshold: changes smaller than this (a fraction, default 0.05) are
	// not reported (segments still split at them).
	Threshold float64
	// Alpha is the significance level of each split (default 0.001).
	Alpha float64
	// MinSegment is the fewest runs on each side of a change (default 3).
	MinSegment int
	// Direction of the metric (default LowerIsBetter).
	Direction Direction
	// Levels grade severities (default 1x, 2x, 4x the threshold).
	Levels Levels
}

func (o ChangeOptions) withDefaults() ChangeOptions {
	if o.Threshold <= 0 {
		o.Threshold = 0.05
	}
	if o.Alpha <= 0 {
		o.Alpha = 0.001
	}
	if o.MinSegment <= 0 {
		o.MinSegment = 3
	}
	if o.Direction == 0 {
		o.Direction = LowerIsBetter
	}
	if o.Levels == (Levels{}) {
		o.Levels = DefaultLevels
	}
	return o
}

// A ChangePoint is a lasting change of level in a series.
type ChangePoint struct {
	Index     int      // 0-based index of the first run at the new level
	Direction Status   // Regression or Improvement
	Change    float64  // relative change of the medians of the segments either side (0.1: +10%)
	Severity  Severity // from |Change| and the threshold
	P         float64  // p-value of the split
	Before    float64  // median of the segment before
	After     float64  // median of the segment after
}

// FindChanges finds change points in a series of run values (oldest
// first) by binary segmentation in the manner of E-divisive means (the
// method of Apache Otava): in each segment, the split that maximises the
// energy distance between the two sides (computed for every split in
// O(n log n) with Fenwick trees) is kept when the Mann-Whitney statistic
// at that split is significant, with the p-value taken from the
// distribution of the maximum of the standardised statistic over all
// splits (so scanning the segment does not inflate false alarms). Each side
// is then searched again. A change is reported when the medians of the
// final segments either side differ by at least the threshold.
func FindChanges(xs []float64, o ChangeOptions) []ChangePoint {
	o = o.withDefaults()
	var vals []float64
	var pos []int // index in xs of each finite value
	for i, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			vals = append(vals, x)
			pos = append(pos, i)
		}
	}
	type split struct {
		at int
		p  float64
	}
	var splits []split
	var search func(lo, hi int)
	search = func(lo, hi int) {
		seg := vals[lo:hi]
		if len(seg) < 2*o.MinSegment {
			return
		}
		tau := bestEnergySplit(seg, o.MinSegment)
		if tau < 0 {
			return
		}
		z := rankZ(seg, tau)
		p := scanP(z, len(seg), o.MinSegment)
		if p > o.Alpha {
			return
		}
		splits = append(splits, split{lo + tau, p})
		search(lo, lo+tau)
		search(lo+tau, hi)
	}
	search(0, len(vals))
	sort.Slice(splits, func(i, j int) bool { return splits[i].at < splits[j].at })
	var out []ChangePoint
	for k, s := range splits {
		lo, hi := 0, len(vals)
		if k > 0 {
			lo = splits[k-1].at
		}
		if k+1 < len(splits) {
			hi = splits[k+1].at
		}
		before, after := median(vals[lo:s.at]), median(vals[s.at:hi])
		if before == 0 {
			continue
		}
		ch := (after - before) / math.Abs(before)
		if math.Abs(ch) < o.Threshold {
			continue
		}
		worse := ch > 0
		if o.Direction == HigherIsBetter {
			worse = ch < 0
		}
		dir := Improvement
		if worse {
			dir = Regression
		}
		out = append(out, ChangePoint{Index: pos[s.at], Direction: dir, Change: ch, Severity: o.Levels.Of(ch, o.Threshold), P: s.p, Before: before, After: after})
	}
	return out
}

// bestEnergySplit returns the split tau (the first index of the right
// side, with at least m values each side) that maximises the energy
// statistic Q = tau(n-tau)/n * (2 mean|x-y| - mean|x-x'| - mean|y-y'|),
// or -1.
func bestEnergySplit(z []float64, m int) int {
	n := len(z)
	// Ranks for the Fenwick trees.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return z[order[a]] < z[order[b]] })
	rank := make([]int, n)
	for r, i := range order {
		rank[i] = r
	}
	// within[k]: sum of |z_i - z_j| over pairs inside z[:k] (left) and,
	// from the other end, inside z[k:] (right).
	left := pairSums(z, rank, false)
	right := pairSums(z, rank, true)
	total := left[n]
	best, bestQ := -1, math.Inf(-1)
	for tau := m; tau <= n-m; tau++ {
		nl, nr := float64(tau), float64(n-tau)
		sxx, syy := left[tau], right[tau]
		sxy := total - sxx - syy
		e := 2 * sxy / (nl * nr)
		if tau > 1 {
			e -= sxx / (nl * (nl - 1) / 2)
		}
		if n-tau > 1 {
			e -= syy / (nr * (nr - 1) / 2)
		}
		q := nl * nr / float64(n) * e
		if q > bestQ {
			best, bestQ = tau, q
		}
	}
	return best
}

// pairSums returns s where s[k] is the sum of |z_i - z_j| over pairs within
// z[:k] (or, reversed, within z[k:]).
func pairSums(z []float64, rank []int, reversed bool) []float64 {
	n := len(z)
	cnt := make([]int, n+1)
	sum := make([]float64, n+1)
	add := func(r int, x float64) {
		for i := r + 1; i <= n; i += i & -i {
			cnt[i]++
			sum[i] += x
		}
	}
	query := func(r int) (int, float64) { // over ranks < r
		c, s := 0, 0.0
		for i := r; i > 0; i -= i & -i {
			c += cnt[i]
			s += sum[i]
		}
		return c, s
	}
	out := make([]float64, n+1)
	acc, all, seen := 0.0, 0.0, 0
	for k := 0; k < n; k++ {
		i := k
		if reversed {
			i = n - 1 - k
		}
		x := z[i]
		cl, sl := query(rank[i])
		acc += x*float64(cl) - sl + (all - sl) - x*float64(seen-cl)
		add(rank[i], x)
		all += x
		seen++
		if reversed {
			out[i] = acc
		} else {
			out[k+1] = acc
		}
	}
	if reversed {
		out[n] = 0
	}
	return out
}

// rankZ is the standardised Mann-Whitney statistic of z[:tau] against
// z[tau:], with the tie correction.
func rankZ(z []float64, tau int) float64 {
	n := len(z)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return z[idx[a]] < z[idx[b]] })
	ranks := make([]float64, n)
	ties := 0.0
	for i := 0; i < n; {
		j := i
		for j+1 < n && z[idx[j+1]] == z[idx[i]] {
			j++
		}
		r := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			ranks[idx[k]] = r
		}
		t := float64(j - i + 1)
		ties += t*t*t - t
		i = j + 1
	}
	r1 := 0.0
	for i := 0; i < tau; i++ {
		r1 += ranks[i]
	}
	n1, n2, nf := float64(tau), float64(n-tau), float64(n)
	u := r1 - n1*(n1+1)/2
	v := n1 * n2 / 12 * ((nf + 1) - ties/(nf*(nf-1)))
	if v <= 0 {
		return 0
	}
	return (u - n1*n2/2) / math.Sqrt(v)
}

// scanP is the approximate probability that the largest standardised
// two-sample statistic over all splits of n values with at least m each
// side exceeds |z| when there is no change (James, James and Siegmund's
// approximation for the maximum of a standardised Brownian bridge,
// b*phi(b)*log((1-h)^2/h^2) + 4*phi(b)/b with h = m/n), capped by the
// Bonferroni bound over the splits.
func scanP(z float64, n, m int) float64 {
	b := math.Abs(z)
	if b == 0 {
		return 1
	}
	phi := math.Exp(-b*b/2) / math.Sqrt(2*math.Pi)
	h := float64(m) / float64(n)
	p := b*phi*math.Log((1-h)*(1-h)/(h*h)) + 4*phi/b
	bonf := float64(n-2*m+1) * math.Erfc(b/math.Sqrt2)
	return math.Min(1, math.Min(p, bonf))
}
