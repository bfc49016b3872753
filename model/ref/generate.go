package ref

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/inference-pio/piobench/model"
)

// A sequence is one request being answered.
type sequence struct {
	req     model.Request
	tokens  []int // prompt (with BOS) then generated tokens
	nPrompt int
	fed     int // tokens already through the model
	kv      *kvCache
	samp    *sampler
	text    []byte
	maxStop int
	limit   int // most tokens to generate
	resp    model.Response
	done    bool
	fn      func(model.Token) error
	pending []model.Token // generated but not yet passed to fn
	last    int           // index of its last entry in the current step, or -1
}

// Infer answers req with a fresh context.
func (m *Model) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	return m.InferStream(ctx, req, nil)
}

// InferStream answers req, passing each generated token to fn (when not
// nil) as soon as it is sampled. Output stops at MaxTokens tokens (or the
// end of the context when MaxTokens <= 0), at the end of the context, at
// token EOS or BOS (finish reason "eos"; that token is not output), or when
// the text contains one of req.Stop (reason "stop"; the text is cut before
// it, but the tokens were already streamed and counted).
func (m *Model) InferStream(ctx context.Context, req model.Request, fn func(model.Token) error) (model.Response, error) {
	start := time.Now()
	resps, err := m.run(ctx, start, []model.Request{req}, fn)
	if err != nil {
		return model.Response{}, err
	}
	return resps[0], nil
}

// InferBatch answers reqs together: each step of the forward pass takes a
// token (or a chunk of prompt) from every unfinished request, so the
// weights are read once per step for all of them. Each request is answered
// as Infer would answer it alone.
func (m *Model) InferBatch(ctx context.Context, reqs []model.Request) ([]model.Response, error) {
	return m.run(ctx, time.Now(), reqs, nil)
}

// run generates the answers to reqs, taking turns with other requests on
// the model between steps.
func (m *Model) run(ctx context.Context, start time.Time, reqs []model.Request, fn func(model.Token) error) ([]model.Response, error) {
	m.step.Lock()
	if !m.loaded {
		m.step.Unlock()
		return nil, fmt.Errorf("%s: %w", m.name, errClosed)
	}
	tok := m.tok
	m.step.Unlock()

	seqs := make([]*sequence, len(reqs))
	for i, req := range reqs {
		q := &sequence{req: req, fn: fn}
		q.tokens = tok.Encode(make([]int, 0, 16+len(req.Prompt)), req.Prompt, true)
		q.nPrompt = len(q.tokens)
		if q.nPrompt > m.shape.SeqLen {
			return nil, fmt.Errorf("%s: prompt has %d tokens, more than the context of %d", m.name, q.nPrompt, m.shape.SeqLen)
		}
		// The token sampled after the last position is output but never fed.
		q.limit = m.shape.SeqLen - q.nPrompt + 1
		if req.MaxTokens > 0 {
			q.limit = min(q.limit, req.MaxTokens)
		}
		for _, s := range req.Stop {
			q.maxStop = max(q.maxStop, len(s))
		}
		q.samp = newSampler(req.Temperature, req.TopP, req.Seed, m.shape.Vocab)
		q.resp = model.Response{PromptTokens: q.nPrompt, Start: start}
		seqs[i] = q
	}
	defer func() {
		for _, q := range seqs {
			if q.kv != nil {
				m.putCache(q.kv)
			}
		}
	}()
	for _, q := range seqs {
		q.kv = m.getCache()
	}

	for turn := 0; ; turn++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		active, err := m.stepAll(start, seqs, turn)
		if err != nil {
			return nil, err
		}
		for _, q := range seqs {
			for _, t := range q.pending {
				if err := q.fn(t); err != nil {
					return nil, err
				}
			}
			q.pending = q.pending[:0]
		}
		if !active {
			break
		}
	}
	out := make([]model.Response, len(seqs))
	for i, q := range seqs {
		out[i] = q.resp
	}
	return out, nil
}

// stepAll runs one forward pass over the unfinished sequences and samples
// the next token of each that has reached the end of its input. When they
// have more input than one pass takes, the sequence that goes first turns
// round-robin from step to step. It reports whether any sequence is still
// unfinished.
func (m *Model) stepAll(start time.Time, seqs []*sequence, turn int) (bool, error) {
	m.step.Lock()
	defer m.step.Unlock()
	if !m.loaded {
		return false, fmt.Errorf("%s: %w", m.name, errClosed)
	}
	e := m.eng
	e.batch = e.batch[:0]
	for k := range seqs {
		q := seqs[(turn+k)%len(seqs)]
		q.last = -1
		if q.done || len(e.batch) == maxBatch {
			continue
		}
		n := min(len(q.tokens)-q.fed, maxBatch-len(e.batch))
		for i := 0; i < n; i++ {
			p := q.fed + i
			e.batch = append(e.batch, entry{tok: q.tokens[p], pos: p, kv: q.kv, logits: p == len(q.tokens)-1})
		}
		if n > 0 {
			q.fed += n
			q.last = len(e.batch) - 1
		}
	}
	if len(e.batch) == 0 {
		return false, nil
	}
	e.forward()
	active := false
	for _, q := range seqs {
		if q.last >= 0 && e.batch[q.last].logits {
			m.emit(start, q, q.samp.sample(e.logitsRow(q.last)))
		}
		active = active || !q.done
	}
	return active, nil
}

// emit records token id, just sampled for q, and decides whether q is
// finished.
func (m *Model) emit(start time.Time, q *sequence, id int) {
	at := time.Since(start)
	if id == tokEOS || id == tokBOS {
		q.finish("eos")
		return
	}
	prev := q.tokens[len(q.tokens)-1]
	q.tokens = append(q.tokens, id)
	piece := m.tok.Piece(prev, id)
	n := len(q.text)
	q.text = append(q.text, piece...)
	r := &q.resp
	if r.OutputTokens == 0 {
		r.FirstToken = at
	}
	r.OutputTokens++
	r.TokenTimes = append(r.TokenTimes, at)
	if q.fn != nil {
		q.pending = append(q.pending, model.Token{ID: id, Text: piece, At: at})
	}
	if q.maxStop > 0 {
		from := max(0, n-q.maxStop+1)
		cut := -1
		for _, s := range q.req.Stop {
			if s == "" {
				continue
			}
			if i := strings.Index(string(q.text[from:]), s); i >= 0 && (cut < 0 || from+i < cut) {
				cut = from + i
			}
		}
		if cut >= 0 {
			q.text = q.text[:cut]
			q.finish("stop")
			return
		}
	}
	if r.OutputTokens >= q.limit || len(q.tokens) > m.shape.SeqLen {
		q.finish("length")
	}
}

func (q *sequence) finish(reason string) {
	q.done = true
	q.resp.FinishReason = reason
	q.resp.Text = string(q.text)
	q.resp.Duration = time.Since(q.resp.Start)
}
