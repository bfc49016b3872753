package ref

import (
	"math"
)

// A kvCache holds the keys and values of one sequence:
// [layers][seq_len][kv_dim] each.
type kvCache struct {
	key, val []float32
}

func newKVCache(s Shape) *kvCache {
	n := s.Layers * s.SeqLen * s.KVDim()
	return &kvCache{key: make([]float32, n), val: make([]float32, n)}
}

// kvBytes returns the size of one sequence's cache.
func kvBytes(s Shape) int64 { return 2 * 4 * int64(s.Layers) * int64(s.SeqLen) * int64(s.KVDim()) }

// An entry is one token of a batched forward pass: the token at position
// pos of the sequence whose cache is kv.
type entry struct {
	tok, pos int
	kv       *kvCache
	logits   bool // compute this entry's logits
	row      int  // set by forward: its row of engine.logits, when logits
}

// maxBatch is the most entries one forward pass takes.
const maxBatch = 32

// An engine runs forward passes of one model. Its buffers are allocated
// once, so a forward pass allocates nothing. An engine is not safe for
// concurrent use.
type engine struct {
	w    *weights
	s    Shape
	pool *pool

	// Activations, [maxBatch][width] each.
	x, xb, xb2, q, k, v, hb, hb2 []float32
	att                          []float32 // [maxBatch][heads][seq_len]
	logits                       []float32 // [maxBatch][vocab]

	ropeCos, ropeSin []float32 // [seq_len][head_size/2]

	batch []entry // the current forward pass
	layer int

	// The matrix products of the current step share one input.
	mats   [3]matOp
	nmats  int
	in     []float32 // [n][inDim]
	inDim  int
	nIn    int
	mmJob  job
	attJob job
}

// A matOp is one matrix product: out[b][r] = w[r] · in[b].
type matOp struct {
	w    []float32 // [rows][inDim]
	rows int
	out  []float32 // [n][rows]
}

func newEngine(w *weights, threads int) *engine {
	s := w.Shape
	d, kv, h := s.Dim, s.KVDim(), s.HiddenDim
	buf := func(width int) []float32 { return make([]float32, maxBatch*width) }
	e := &engine{
		w: w, s: s,
		x: buf(d), xb: buf(d), xb2: buf(d), q: buf(d), k: buf(kv), v: buf(kv),
		hb: buf(h), hb2: buf(h),
		att:    buf(s.Heads * s.SeqLen),
		logits: buf(s.Vocab),
		batch:  make([]entry, 0, maxBatch),
	}
	hs := s.HeadSize()
	e.ropeCos = make([]float32, s.SeqLen*hs/2)
	e.ropeSin = make([]float32, s.SeqLen*hs/2)
	for p := 0; p < s.SeqLen; p++ {
		for i := 0; i < hs/2; i++ {
			// llama2.c: freq = 1 / 10000^(head_dim / head_size) for the
			// pair starting at even head_dim = 2i.
			freq := 1 / math.Pow(10000, float64(2*i)/float64(hs))
			e.ropeCos[p*hs/2+i] = float32(math.Cos(float64(p) * freq))
			e.ropeSin[p*hs/2+i] = float32(math.Sin(float64(p) * freq))
		}
	}
	e.mmJob.do = e.matmulUnits
	e.attJob.do = e.attentionUnits
	e.pool = newPool(threads)
	return e
}

// bytes returns the size of the engine's buffers.
func (e *engine) bytes() int64 {
	n := len(e.x) + len(e.xb) + len(e.xb2) + len(e.q) + len(e.k) + len(e.v) + len(e.hb) + len(e.hb2) +
		len(e.att) + len(e.logits) + len(e.ropeCos) + len(e.ropeSin)
	return 4 * int64(n)
}

func (e *engine) close() { e.pool.close() }

// logitsRow returns the logits computed for entry i of the last forward.
func (e *engine) logitsRow(i int) []float32 {
	r := e.batch[i].row
	return e.logits[r*e.s.Vocab : (r+1)*e.s.Vocab]
}

// forward runs the entries in e.batch through the model: it appends their
// keys and values to their caches and computes logits for those that ask.
// Entries of one sequence must be in order of position, and all earlier
// positions of each sequence must be cached already or in the batch.
func (e *engine) forward() {
	s, w := e.s, e.w
	d, kvd, hd := s.Dim, s.KVDim(), s.HiddenDim
	n := len(e.batch)
	for b := range e.batch {
		t := e.batch[b].tok
		copy(e.x[b*d:(b+1)*d], w.TokenEmbedding[t*d:(t+1)*d])
	}
	for l := 0; l < s.Layers; l++ {
		e.layer = l
		for b := 0; b < n; b++ {
			rmsnorm(e.xb[b*d:(b+1)*d], e.x[b*d:(b+1)*d], w.RMSAtt[l*d:(l+1)*d])
		}
		e.matmul(e.xb, d, n,
			matOp{w.WQ[l*d*d : (l+1)*d*d], d, e.q},
			matOp{w.WK[l*kvd*d : (l+1)*kvd*d], kvd, e.k},
			matOp{w.WV[l*kvd*d : (l+1)*kvd*d], kvd, e.v})
		for b := range e.batch {
			en := &e.batch[b]
			q, k := e.q[b*d:(b+1)*d], e.k[b*kvd:(b+1)*kvd]
			e.rope(q, en.pos)
			e.rope(k, en.pos)
			at := (l*s.SeqLen + en.pos) * kvd
			copy(en.kv.key[at:at+kvd], k)
			copy(en.kv.val[at:at+kvd], e.v[b*kvd:(b+1)*kvd])
		}
		e.attJob.units = n * s.Heads
		e.attJob.chunk = 1
		e.pool.run(&e.attJob)
		e.matmul(e.xb, d, n, matOp{w.WO[l*d*d : (l+1)*d*d], d, e.xb2})
		add(e.x[:n*d], e.xb2[:n*d])
		for b := 0; b < n; b++ {
			rmsnorm(e.xb[b*d:(b+1)*d], e.x[b*d:(b+1)*d], w.RMSFFN[l*d:(l+1)*d])
		}
		e.matmul(e.xb, d, n,
			matOp{w.W1[l*hd*d : (l+1)*hd*d], hd, e.hb},
			matOp{w.W3[l*hd*d : (l+1)*hd*d], hd, e.hb2})
		swiglu(e.hb[:n*hd], e.hb2[:n*hd])
		e.matmul(e.hb, hd, n, matOp{w.W2[l*d*hd : (l+1)*d*hd], d, e.xb2})
		add(e.x[:n*d], e.xb2[:n*d])
	}
	// The final norm and classifier, only for the entries that need them.
	nl := 0
	for b := range e.batch {
		if e.batch[b].logits {
			rmsnorm(e.xb[nl*d:(nl+1)*d], e.x[b*d:(b+1)*d], w.RMSFinal)
			e.batch[b].row = nl
			nl++
		}
	}
	if nl > 0 {
		e.matmul(e.xb, d, nl, matOp{w.WCls, s.Vocab, e.logits})
	}
}

// matmul computes the products ops, which share the input in ([n][inDim]),
// on every goroutine of the pool.
func (e *engine) matmul(in []float32, inDim, n int, ops ...matOp) {
	e.in, e.inDim, e.nIn = in, inDim, n
	e.nmats = copy(e.mats[:], ops)
	units := 0
	for _, op := range ops {
		units += (op.rows + 3) / 4
	}
	e.mmJob.units = units
	// Small claims balance the work between goroutines; claims of up to
	// 64 blocks (a few microseconds of work) keep their cost negligible.
	e.mmJob.chunk = min(max(1, units/(8*e.pool.threads())), 64)
	e.pool.run(&e.mmJob)
}

// matmulUnits computes blocks [lo, hi) of four rows of the current
// products, numbering the blocks of all products in order.
func (e *engine) matmulUnits(lo, hi int) {
	m, base := 0, 0
	for u := lo; u < hi; {
		for u-base >= (e.mats[m].rows+3)/4 {
			base += (e.mats[m].rows + 3) / 4
			m++
		}
		op := &e.mats[m]
		if e.nIn == 1 {
			// One input: whole blocks of this product in one call.
			k := e.inDim
			r0 := 4 * (u - base)
			r1 := min(4*(hi-base), op.rows&^3)
			if r1 > r0 {
				matvec4(op.w[r0*k:r1*k], e.in[:k], op.out[r0:r1])
				u += (r1 - r0) / 4
				continue
			}
		}
		e.matBlock(op, 4*(u-base))
		u++
	}
}

// matBlock computes rows r0 to r0+3 of op for every input, reading the
// weights of the rows once from memory.
func (e *engine) matBlock(op *matOp, r0 int) {
	k, n, rows := e.inDim, e.nIn, op.rows
	in := e.in
	if r0+4 > rows {
		for r := r0; r < rows; r++ {
			row := op.w[r*k : (r+1)*k]
			for b := 0; b < n; b++ {
				op.out[b*rows+r] = dot(row, in[b*k:(b+1)*k])
			}
		}
		return
	}
	w := op.w[r0*k : (r0+4)*k]
	b := 0
	for ; b+4 <= n; b += 4 {
		dot4x4(w, k, in[b*k:(b+4)*k], k, op.out[b*rows+r0:], rows)
	}
	for ; b+2 <= n; b += 2 {
		dot4x2(w, k, in[b*k:(b+1)*k], in[(b+1)*k:(b+2)*k],
			(*[4]float32)(op.out[b*rows+r0:]), (*[4]float32)(op.out[(b+1)*rows+r0:]))
	}
	if b < n {
		dot4(w, k, in[b*k:(b+1)*k], (*[4]float32)(op.out[b*rows+r0:]))
	}
}

// attentionUnits computes the attention of heads [lo, hi) of the batch,
// numbered entry by entry, into xb.
func (e *engine) attentionUnits(lo, hi int) {
	s := e.s
	d, kvd, hs := s.Dim, s.KVDim(), s.HeadSize()
	group := s.Heads / s.KVHeads
	scale := float32(1 / math.Sqrt(float64(hs)))
	l := e.layer
	for u := lo; u < hi; u++ {
		b, h := u/s.Heads, u%s.Heads
		en := &e.batch[b]
		q := e.q[b*d+h*hs : b*d+(h+1)*hs]
		att := e.att[(b*s.Heads+h)*s.SeqLen:][:en.pos+1]
		off := l*s.SeqLen*kvd + (h/group)*hs
		keys := en.kv.key[off:]
		vals := en.kv.val[off:]
		// Scores of four positions at a time: their keys are rows kvd
		// floats apart.
		t := 0
		for ; t+4 <= len(att); t += 4 {
			dot4(keys[t*kvd:], kvd, q, (*[4]float32)(att[t:]))
		}
		for ; t < len(att); t++ {
			att[t] = dot(q, keys[t*kvd:t*kvd+hs])
		}
		for t := range att {
			att[t] *= scale
		}
		softmax(att)
		out := e.xb[b*d+h*hs : b*d+(h+1)*hs]
		clear(out)
		t = 0
		for ; t+4 <= len(att); t += 4 {
			axpy4((*[4]float32)(att[t:]), vals[t*kvd:], kvd, out)
		}
		for ; t < len(att); t++ {
			axpy(att[t], vals[t*kvd:t*kvd+hs], out)
		}
	}
}

// rope rotates the pairs (i, i+1) of each head of v by the angles of
// position pos, as llama2.c does.
func (e *engine) rope(v []float32, pos int) {
	hs := e.s.HeadSize()
	cs := e.ropeCos[pos*hs/2 : (pos+1)*hs/2]
	sn := e.ropeSin[pos*hs/2 : (pos+1)*hs/2]
	for h := 0; h < len(v); h += hs {
		head := v[h : h+hs]
		for i := 0; i < hs; i += 2 {
			c, s := cs[i/2], sn[i/2]
			a, b := head[i], head[i+1]
			head[i] = a*c - b*s
			head[i+1] = a*s + b*c
		}
	}
}

// rmsnorm sets o to x normalized by its root mean square and scaled by w.
func rmsnorm(o, x, w []float32) {
	ss := dot(x, x)/float32(len(x)) + 1e-5
	inv := float32(1 / math.Sqrt(float64(ss)))
	w = w[:len(x)]
	o = o[:len(x)]
	for i, v := range x {
		o[i] = w[i] * (inv * v)
	}
}

// softmax replaces x with its softmax.
func softmax(x []float32) {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	var sum float32
	for i, v := range x {
		e := expf(v - m)
		x[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
}

// swiglu sets h to silu(h) * g.
func swiglu(h, g []float32) {
	g = g[:len(h)]
	for i, v := range h {
		h[i] = v / (1 + expf(-v)) * g[i]
	}
}

// add adds y to x.
func add(x, y []float32) {
	y = y[:len(x)]
	for i := range x {
		x[i] += y[i]
	}
}

// expf returns e**x.
func expf(x float32) float32 { return float32(math.Exp(float64(x))) }
