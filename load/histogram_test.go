package load

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/inference-pio/piobench/stats"
)

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for _, ns := range []int64{0, 1, 2047, 2048, 2049, 4095, 4096, 1e6, 1e9, 1 << 40} {
		i := bucketOf(ns)
		if i < prev {
			t.Errorf("bucket of %d = %d, below %d", ns, i, prev)
		}
		prev = i
		if mid := bucketMid(i); math.Abs(mid-float64(ns)) > float64(ns)/1000+1 {
			t.Errorf("%d ns: bucket %d middle %.0f, more than 0.1%% away", ns, i, mid)
		}
	}
}

func TestHistogramPercentiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h histogram
	xs := make([]float64, 100000)
	for i := range xs {
		xs[i] = 10 * math.Exp(0.3*rng.NormFloat64()) // ms
		h.add(xs[i])
	}
	s := stats.Summarize(xs)
	for _, c := range []struct{ p, exact float64 }{{50, s.P50}, {90, s.P90}, {99, s.P99}} {
		if got := h.percentile(c.p); math.Abs(got-c.exact)/c.exact > 0.001 {
			t.Errorf("p%v: histogram %.5f, exact %.5f", c.p, got, c.exact)
		}
	}
	if math.Abs(h.mean()-s.Mean) > 1e-9 || math.Abs(h.stddev()-s.Stddev) > 1e-6 {
		t.Errorf("mean %v/%v stddev %v/%v", h.mean(), s.Mean, h.stddev(), s.Stddev)
	}
}

func TestKeepBoundsMemory(t *testing.T) {
	s := &stub{ttft: time.Millisecond, itl: time.Millisecond, tokens: 5}
	rep, err := Run(context.Background(), s, Closed(4), Options{Requests: 40, Keep: 10, Prompts: testPrompts, MaxTokens: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.TTFT) != 10 || len(rep.ITL) != 10 {
		t.Fatalf("kept %d TTFT and %d ITL samples, want 10", len(rep.TTFT), len(rep.ITL))
	}
	res := byName(rep.Results("m"))
	if n := res["itl_p50"].Metadata["n"]; n != 160 {
		t.Errorf("itl n = %v, want all 160", n)
	}
	if res["itl_p50"].Metadata["percentile_method"] != HistogramMethod || res["itl_p50"].Value < 0.9 {
		t.Errorf("itl_p50 %v, %v", res["itl_p50"].Value, res["itl_p50"].Metadata["percentile_method"])
	}
}
