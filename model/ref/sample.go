package ref

import (
	"math/rand/v2"
	"slices"
)

// A sampler picks the next token from logits, as llama2.c does: greedy at
// temperature 0, otherwise from softmax(logits / temperature), truncated
// to the nucleus of probability topP when 0 < topP < 1.
type sampler struct {
	temp, topP float32
	rng        *rand.Rand
	cand       []candidate // scratch for nucleus sampling
}

type candidate struct {
	p  float32
	id int
}

// newSampler returns a sampler for a request; its random numbers depend
// only on seed.
func newSampler(temp, topP float64, seed int64, vocab int) *sampler {
	s := &sampler{temp: float32(temp), topP: float32(topP)}
	if temp > 0 {
		s.rng = rand.New(rand.NewPCG(uint64(seed), 0x243f6a8885a308d3))
		if topP > 0 && topP < 1 {
			s.cand = make([]candidate, 0, vocab)
		}
	}
	return s
}

// sample returns the next token. It overwrites logits.
func (s *sampler) sample(logits []float32) int {
	if s.temp <= 0 || s.rng == nil {
		return argmax(logits)
	}
	for i := range logits {
		logits[i] /= s.temp
	}
	softmax(logits)
	coin := s.rng.Float32()
	if s.topP <= 0 || s.topP >= 1 {
		return sampleMult(logits, coin)
	}
	return s.sampleTopP(logits, coin)
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// sampleMult samples an index from the probabilities p with coin, a random
// number in [0, 1).
func sampleMult(p []float32, coin float32) int {
	var cdf float32
	for i, v := range p {
		cdf += v
		if coin < cdf {
			return i
		}
	}
	return len(p) - 1 // rounding
}

// sampleTopP samples from the smallest set of most probable tokens whose
// probabilities sum to more than topP. Tokens below (1-topP)/(n-1) cannot
// be in that set and are dropped before sorting.
func (s *sampler) sampleTopP(p []float32, coin float32) int {
	if len(p) == 1 {
		return 0
	}
	cutoff := (1 - s.topP) / float32(len(p)-1)
	c := s.cand[:0]
	for i, v := range p {
		if v >= cutoff {
			c = append(c, candidate{v, i})
		}
	}
	if len(c) == 0 {
		return argmax(p)
	}
	slices.SortFunc(c, func(a, b candidate) int {
		switch {
		case a.p > b.p:
			return -1
		case a.p < b.p:
			return 1
		}
		return a.id - b.id
	})
	last := len(c) - 1
	var cum float32
	for i := range c {
		cum += c[i].p
		if cum > s.topP {
			last = i
			break
		}
	}
	r := coin * cum
	var cdf float32
	for i := 0; i <= last; i++ {
		cdf += c[i].p
		if r < cdf {
			return c[i].id
		}
	}
	return c[last].id
}
