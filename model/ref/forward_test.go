package ref

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// naiveModel is an obviously correct transformer in float64, read from a
// checkpoint file without the package's loader.
type naiveModel struct {
	s                                   Shape
	emb, rmsAtt, wq, wk, wv, wo, rmsFFN []float64
	w1, w2, w3, rmsFinal, wcls          []float64
	keys, vals                          [][][]float64 // [layer][pos][kv_dim]
}

func readNaive(t *testing.T, path string) *naiveModel {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var hdr [7]int32
	for i := range hdr {
		hdr[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	s := Shape{int(hdr[0]), int(hdr[1]), int(hdr[2]), int(hdr[3]), int(hdr[4]), int(hdr[5]), int(hdr[6])}
	shared := s.Vocab > 0
	if !shared {
		s.Vocab = -s.Vocab
	}
	off := 28
	next := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[off:])))
			off += 4
		}
		return v
	}
	d, h, l := s.Dim, s.HiddenDim, s.Layers
	kv := d * s.KVHeads / s.Heads
	m := &naiveModel{s: s}
	m.emb = next(s.Vocab * d)
	m.rmsAtt = next(l * d)
	m.wq = next(l * d * d)
	m.wk = next(l * d * kv)
	m.wv = next(l * d * kv)
	m.wo = next(l * d * d)
	m.rmsFFN = next(l * d)
	m.w1 = next(l * h * d)
	m.w2 = next(l * d * h)
	m.w3 = next(l * h * d)
	m.rmsFinal = next(d)
	next(s.SeqLen * d / s.Heads)
	if shared {
		m.wcls = m.emb
	} else {
		m.wcls = next(s.Vocab * d)
	}
	if off != len(b) {
		t.Fatalf("naive reader: %d bytes left over", len(b)-off)
	}
	m.keys = make([][][]float64, l)
	m.vals = make([][][]float64, l)
	return m
}

// matvec returns W x for W of len(x) columns.
func matvec(w, x []float64) []float64 {
	out := make([]float64, len(w)/len(x))
	for r := range out {
		for c, xv := range x {
			out[r] += w[r*len(x)+c] * xv
		}
	}
	return out
}

func naiveRMSNorm(x, w []float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+1e-5)
	out := make([]float64, len(x))
	for i := range x {
		out[i] = w[i] * x[i] * inv
	}
	return out
}

func naiveRoPE(v []float64, pos, headSize int) {
	for i := 0; i < len(v); i += 2 {
		hd := i % headSize
		freq := 1 / math.Pow(10000, float64(hd)/float64(headSize))
		c, s := math.Cos(float64(pos)*freq), math.Sin(float64(pos)*freq)
		a, b := v[i], v[i+1]
		v[i], v[i+1] = a*c-b*s, a*s+b*c
	}
}

// step feeds token at position pos (positions must come in order) and
// returns the logits.
func (m *naiveModel) step(token, pos int) []float64 {
	s := m.s
	d, h := s.Dim, s.HiddenDim
	hs := d / s.Heads
	kv := hs * s.KVHeads
	x := append([]float64(nil), m.emb[token*d:(token+1)*d]...)
	for l := 0; l < s.Layers; l++ {
		xb := naiveRMSNorm(x, m.rmsAtt[l*d:])
		q := matvec(m.wq[l*d*d:(l+1)*d*d], xb)
		k := matvec(m.wk[l*kv*d:(l+1)*kv*d], xb)
		v := matvec(m.wv[l*kv*d:(l+1)*kv*d], xb)
		naiveRoPE(q, pos, hs)
		naiveRoPE(k, pos, hs)
		if len(m.keys[l]) != pos {
			panic("naive model: positions out of order")
		}
		m.keys[l] = append(m.keys[l], k)
		m.vals[l] = append(m.vals[l], v)
		att := make([]float64, d)
		for hd := 0; hd < s.Heads; hd++ {
			kh := hd / (s.Heads / s.KVHeads)
			scores := make([]float64, pos+1)
			mx := math.Inf(-1)
			for t := 0; t <= pos; t++ {
				for i := 0; i < hs; i++ {
					scores[t] += q[hd*hs+i] * m.keys[l][t][kh*hs+i]
				}
				scores[t] /= math.Sqrt(float64(hs))
				mx = math.Max(mx, scores[t])
			}
			var sum float64
			for t := range scores {
				scores[t] = math.Exp(scores[t] - mx)
				sum += scores[t]
			}
			for t := range scores {
				for i := 0; i < hs; i++ {
					att[hd*hs+i] += scores[t] / sum * m.vals[l][t][kh*hs+i]
				}
			}
		}
		o := matvec(m.wo[l*d*d:(l+1)*d*d], att)
		for i := range x {
			x[i] += o[i]
		}
		xb = naiveRMSNorm(x, m.rmsFFN[l*d:])
		a := matvec(m.w1[l*h*d:(l+1)*h*d], xb)
		g := matvec(m.w3[l*h*d:(l+1)*h*d], xb)
		for i := range a {
			a[i] = a[i] / (1 + math.Exp(-a[i])) * g[i]
		}
		o = matvec(m.w2[l*d*h:(l+1)*d*h], a)
		for i := range x {
			x[i] += o[i]
		}
	}
	return matvec(m.wcls, naiveRMSNorm(x, m.rmsFinal))
}

var tinyShape = Shape{Dim: 32, HiddenDim: 64, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 64, SeqLen: 32}

// bigWeights makes weights large enough that attention is far from
// uniform and errors would show.
func writeTestCheckpoint(t testing.TB, s Shape, shared bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.bin")
	if err := WriteCheckpoint(path, s, 7, shared); err != nil {
		t.Fatal(err)
	}
	return path
}

func maxDiff(a []float32, b []float64) float64 {
	var m float64
	for i := range b {
		m = math.Max(m, math.Abs(float64(a[i])-b[i]))
	}
	return m
}

func TestForwardMatchesNaive(t *testing.T) {
	for _, tc := range []struct {
		name   string
		s      Shape
		shared bool
	}{
		{"gqa-shared", tinyShape, true},
		{"gqa-unshared", tinyShape, false},
		{"mha-odd", Shape{Dim: 36, HiddenDim: 50, Layers: 3, Heads: 3, KVHeads: 3, Vocab: 37, SeqLen: 20}, true},
		{"mqa", Shape{Dim: 64, HiddenDim: 96, Layers: 1, Heads: 4, KVHeads: 1, Vocab: 70, SeqLen: 16}, false},
	} {
		for _, threads := range []int{1, 3} {
			t.Run(tc.name+"/threads="+itoa(threads), func(t *testing.T) {
				path := writeTestCheckpoint(t, tc.s, tc.shared)
				w, err := mapCheckpoint(path)
				if err != nil {
					t.Fatal(err)
				}
				defer w.unmap()
				scaleWeights(w, 20) // make the activations less uniform
				naive := readNaive(t, path)
				scaleNaive(naive, 20)
				e := newEngine(w, threads)
				defer e.close()
				kv := newKVCache(tc.s)
				tokens := []int{1, 5, 9, 3, 30, 2, 17, 8, 11, 4, 6, 12}
				for pos, tok := range tokens {
					e.batch = append(e.batch[:0], entry{tok: tok, pos: pos, kv: kv, logits: true})
					e.forward()
					want := naive.step(tok%tc.s.Vocab, pos)
					if d := maxDiff(e.logitsRow(0), want); d > 1e-4 {
						t.Fatalf("pos %d: logits differ by %g", pos, d)
					}
				}
			})
		}
	}
}

// scaleWeights multiplies the matrices (not the norms) of a mapped
// checkpoint's copy by k. The mapping is read-only, so the slices are
// replaced by scaled copies.
func scaleWeights(w *weights, k float32) {
	sc := func(v []float32) []float32 {
		o := make([]float32, len(v))
		for i := range v {
			o[i] = v[i] * k
		}
		return o
	}
	shared := &w.WCls[0] == &w.TokenEmbedding[0]
	w.TokenEmbedding = sc(w.TokenEmbedding)
	w.WQ, w.WK, w.WV, w.WO = sc(w.WQ), sc(w.WK), sc(w.WV), sc(w.WO)
	w.W1, w.W2, w.W3 = sc(w.W1), sc(w.W2), sc(w.W3)
	if shared {
		w.WCls = w.TokenEmbedding
	} else {
		w.WCls = sc(w.WCls)
	}
}

func scaleNaive(m *naiveModel, k float64) {
	shared := &m.wcls[0] == &m.emb[0]
	for _, v := range [][]float64{m.emb, m.wq, m.wk, m.wv, m.wo, m.w1, m.w2, m.w3} {
		for i := range v {
			v[i] *= k
		}
	}
	if !shared {
		for i := range m.wcls {
			m.wcls[i] *= k
		}
	}
}

// TestBatchedForward checks that a batch of entries from several sequences,
// including a prompt fed as one chunk, gives the logits of feeding them one
// at a time.
func TestBatchedForward(t *testing.T) {
	s := tinyShape
	path := writeTestCheckpoint(t, s, true)
	w, err := mapCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.unmap()
	scaleWeights(w, 20)
	e := newEngine(w, 2)
	defer e.close()

	seqs := [][]int{{1, 4, 5, 6, 7, 8}, {1, 9}, {1, 10, 11, 12}, {1, 13, 14, 15, 16, 17, 18, 19}, {1, 3}}
	// Unbatched logits of every position of every sequence.
	want := make([][][]float32, len(seqs))
	for i, sq := range seqs {
		kv := newKVCache(s)
		for p, tok := range sq {
			e.batch = append(e.batch[:0], entry{tok: tok, pos: p, kv: kv, logits: true})
			e.forward()
			want[i] = append(want[i], append([]float32(nil), e.logitsRow(0)...))
		}
	}
	// Batched: the first three tokens of each sequence in one pass, then
	// one token of each per pass.
	kvs := make([]*kvCache, len(seqs))
	for i := range kvs {
		kvs[i] = newKVCache(s)
	}
	fed := make([]int, len(seqs))
	for round := 0; ; round++ {
		e.batch = e.batch[:0]
		for i, sq := range seqs {
			n := 1
			if round == 0 {
				n = 3
			}
			for k := 0; k < n && fed[i] < len(sq); k++ {
				p := fed[i]
				e.batch = append(e.batch, entry{tok: sq[p], pos: p, kv: kvs[i], logits: true})
				fed[i]++
			}
		}
		if len(e.batch) == 0 {
			break
		}
		e.forward()
		for b, en := range e.batch {
			i := 0
			for kvs[i] != en.kv {
				i++
			}
			got, wnt := e.logitsRow(b), want[i][en.pos]
			for j := range wnt {
				if math.Abs(float64(got[j]-wnt[j])) > 1e-5 {
					t.Fatalf("round %d seq %d pos %d: logit %d is %v batched, %v alone", round, i, en.pos, j, got[j], wnt[j])
				}
			}
		}
	}
}
