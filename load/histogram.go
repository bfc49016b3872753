package load

import (
	"math"
	"math/bits"
)

// HistogramMethod names how percentiles are computed once a metric has more
// samples than a report keeps.
const HistogramMethod = "log-linear histogram of every sample (1024 sub-buckets per power of two of nanoseconds): relative error below 0.05%"

// DefaultKeep is how many samples per metric a report keeps exactly;
// beyond it percentiles come from the histogram, so that memory stays flat
// however long a run lasts.
const DefaultKeep = 1 << 18

const subBits = 11 // values below 2^subBits ns are exact; above, 2^(subBits-1) buckets per octave

// A histogram counts durations (in nanoseconds) in log-linear buckets of
// bounded relative width, in memory that depends only on the range.
type histogram struct {
	counts   []uint32
	n        int
	sum, sq  float64 // in ms
	min, max float64 // in ms
}

func bucketOf(ns int64) int {
	if ns < 0 {
		ns = 0
	}
	v := uint64(ns)
	if v < 1<<subBits {
		return int(v)
	}
	e := bits.Len64(v) - subBits
	return 1<<subBits + (e-1)<<(subBits-1) + int(v>>e) - 1<<(subBits-1)
}

// bucketMid returns the middle of bucket i, in nanoseconds.
func bucketMid(i int) float64 {
	if i < 1<<subBits {
		return float64(i)
	}
	j := i - 1<<subBits
	e := j>>(subBits-1) + 1
	m := uint64(j&(1<<(subBits-1)-1)) + 1<<(subBits-1)
	lo := m << e
	return float64(lo) + float64(uint64(1)<<e)/2
}

func (h *histogram) add(ms float64) {
	i := bucketOf(int64(ms * 1e6))
	if i >= len(h.counts) {
		n := max(2*len(h.counts), i+1, 1<<subBits)
		c := make([]uint32, n)
		copy(c, h.counts)
		h.counts = c
	}
	h.counts[i]++
	if h.n == 0 || ms < h.min {
		h.min = ms
	}
	if h.n == 0 || ms > h.max {
		h.max = ms
	}
	h.n++
	h.sum += ms
	h.sq += ms * ms
}

// percentile returns the p-th percentile in ms (the middle of the bucket
// holding that rank, clamped to the extremes).
func (h *histogram) percentile(p float64) float64 {
	if h.n == 0 {
		return math.NaN()
	}
	rank := p / 100 * float64(h.n-1)
	cum := 0.0
	for i, c := range h.counts {
		cum += float64(c)
		if cum > rank {
			v := bucketMid(i) / 1e6
			return math.Min(math.Max(v, h.min), h.max)
		}
	}
	return h.max
}

func (h *histogram) mean() float64 {
	if h.n == 0 {
		return math.NaN()
	}
	return h.sum / float64(h.n)
}

func (h *histogram) stddev() float64 {
	if h.n < 2 {
		return 0
	}
	m := h.mean()
	v := (h.sq - float64(h.n)*m*m) / float64(h.n-1)
	return math.Sqrt(math.Max(0, v))
}
