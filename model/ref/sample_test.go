package ref

import (
	"math"
	"testing"
)

func TestGreedyIsArgmax(t *testing.T) {
	logits := []float32{0.1, -3, 2.5, 2.4999, 0}
	s := newSampler(0, 0.9, 1, len(logits))
	if got := s.sample(append([]float32(nil), logits...)); got != 2 {
		t.Errorf("greedy picked %d, want 2", got)
	}
	if got := argmax([]float32{1, 5, 5, 2}); got != 1 {
		t.Errorf("argmax of a tie picked %d, want the first", got)
	}
}

func TestSamplingDeterministic(t *testing.T) {
	logits := make([]float32, 50)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)))
	}
	for _, topP := range []float64{0, 0.5, 0.9, 1} {
		draw := func(seed int64) []int {
			s := newSampler(0.8, topP, seed, len(logits))
			var out []int
			for range 200 {
				out = append(out, s.sample(append([]float32(nil), logits...)))
			}
			return out
		}
		a, b, c := draw(7), draw(7), draw(8)
		same := true
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("topP %v: same seed, draw %d differs: %d vs %d", topP, i, a[i], b[i])
			}
			same = same && a[i] == c[i]
		}
		if same {
			t.Errorf("topP %v: seeds 7 and 8 drew the same 200 tokens", topP)
		}
	}
}

func TestTopP(t *testing.T) {
	// Probabilities 0.5, 0.3, 0.15, 0.05 (after softmax of their logs).
	probs := []float64{0.05, 0.5, 0.15, 0.3}
	logits := func() []float32 {
		l := make([]float32, len(probs))
		for i, p := range probs {
			l[i] = float32(math.Log(p))
		}
		return l
	}
	count := func(topP float64) map[int]int {
		s := newSampler(1, topP, 3, len(probs))
		n := map[int]int{}
		for range 4000 {
			n[s.sample(logits())]++
		}
		return n
	}
	// topP 0.7: the nucleus is {1, 3} (0.5 + 0.3 > 0.7).
	if n := count(0.7); n[0] != 0 || n[2] != 0 || n[1] == 0 || n[3] == 0 {
		t.Errorf("topP 0.7 drew %v, want only tokens 1 and 3", n)
	}
	// A tiny topP leaves only the most likely token.
	if n := count(1e-6); n[1] != 4000 {
		t.Errorf("topP 1e-6 drew %v, want only token 1", n)
	}
	// topP 1 (or 0) samples from everything, in proportion.
	for _, p := range []float64{0, 1} {
		n := count(p)
		for i, want := range probs {
			if got := float64(n[i]) / 4000; math.Abs(got-want) > 0.03 {
				t.Errorf("topP %v: token %d drawn %.3f of the time, want %.2f", p, i, got, want)
			}
		}
	}
	// One token.
	if got := newSampler(1, 0.5, 1, 1).sample([]float32{3}); got != 0 {
		t.Errorf("one-token vocabulary gave %d", got)
	}
}

func TestSampleMultEdges(t *testing.T) {
	p := []float32{0.25, 0.25, 0.5}
	for _, c := range []struct {
		coin float32
		want int
	}{{0, 0}, {0.2499, 0}, {0.25, 1}, {0.74, 2}, {0.99999, 2}, {1, 2}} {
		if got := sampleMult(p, c.coin); got != c.want {
			t.Errorf("coin %v: got %d, want %d", c.coin, got, c.want)
		}
	}
}
