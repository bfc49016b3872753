// Package modeltest is the conformance suite every model driver passes:
// modeltest.Run(t, newModel) checks the behaviour benchmarks rely on —
// loading, token counts, timing fields, stop conditions, streaming,
// batching, cancellation and closing.
package modeltest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/model"
)

// Options tune the suite for a driver.
type Options struct {
	// MaxTokens is the generation length used by the checks (default 8).
	MaxTokens int
	// Timeout bounds each check (default 60s).
	Timeout time.Duration
	// ExactLength says the model always generates MaxTokens tokens for the
	// suite's prompts (true for models that cannot stop early on their
	// own, such as untrained or fake ones).
	ExactLength bool
}

// Run runs the conformance suite. newModel returns a fresh, unloaded model
// each time it is called; the suite loads and closes it.
func Run(t *testing.T, newModel func(t *testing.T) model.Model, opts Options) {
	t.Helper()
	if opts.MaxTokens <= 0 {
		opts.MaxTokens = 8
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(context.Background(), opts.Timeout)
		t.Cleanup(cancel)
		return c
	}
	loaded := func(t *testing.T) model.Model {
		m := newModel(t)
		if err := m.Load(ctx(t)); err != nil {
			t.Fatalf("Load: %v", err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}

	t.Run("Infer", func(t *testing.T) {
		m := loaded(t)
		resp, err := m.Infer(ctx(t), model.Request{Prompt: "Hello, world", MaxTokens: opts.MaxTokens})
		if err != nil {
			t.Fatalf("Infer: %v", err)
		}
		checkResponse(t, resp, opts.MaxTokens, opts.ExactLength)
	})

	t.Run("TokenCountsGrowWithPrompt", func(t *testing.T) {
		m := loaded(t)
		short, err := m.Infer(ctx(t), model.Request{Prompt: "one two", MaxTokens: 1})
		if err != nil {
			t.Fatal(err)
		}
		long, err := m.Infer(ctx(t), model.Request{Prompt: strings.Repeat("one two three four ", 8), MaxTokens: 1})
		if err != nil {
			t.Fatal(err)
		}
		if long.PromptTokens <= short.PromptTokens {
			t.Errorf("prompt tokens: long prompt %d, short prompt %d; want long > short", long.PromptTokens, short.PromptTokens)
		}
	})

	t.Run("MaxTokensHonoured", func(t *testing.T) {
		m := loaded(t)
		for _, n := range []int{1, 3} {
			resp, err := m.Infer(ctx(t), model.Request{Prompt: "count", MaxTokens: n})
			if err != nil {
				t.Fatal(err)
			}
			if resp.OutputTokens > n || resp.OutputTokens < 1 {
				t.Errorf("MaxTokens %d: got %d output tokens", n, resp.OutputTokens)
			}
			if opts.ExactLength && resp.OutputTokens != n {
				t.Errorf("MaxTokens %d: got %d output tokens, want exactly %d", n, resp.OutputTokens, n)
			}
		}
	})

	t.Run("Deterministic", func(t *testing.T) {
		m := loaded(t)
		req := model.Request{Prompt: "repeat after me", MaxTokens: opts.MaxTokens, Temperature: 0, Seed: 7}
		a, err := m.Infer(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Infer(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		if a.Text != b.Text || a.OutputTokens != b.OutputTokens {
			t.Errorf("greedy decoding differs between calls: %q (%d) vs %q (%d)", a.Text, a.OutputTokens, b.Text, b.OutputTokens)
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		m := loaded(t)
		c, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := m.Infer(c, model.Request{Prompt: "never", MaxTokens: opts.MaxTokens})
		if err == nil {
			t.Fatal("Infer with a cancelled context succeeded")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Infer with a cancelled context: %v, want an error wrapping context.Canceled", err)
		}
	})

	t.Run("CloseTwice", func(t *testing.T) {
		m := newModel(t)
		if err := m.Load(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatalf("first Close: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})

	t.Run("Streamer", func(t *testing.T) {
		m := loaded(t)
		s, ok := m.(model.Streamer)
		if !ok {
			t.Skip("driver does not stream")
		}
		var toks []model.Token
		resp, err := s.InferStream(ctx(t), model.Request{Prompt: "stream this", MaxTokens: opts.MaxTokens}, func(tok model.Token) error {
			toks = append(toks, tok)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkResponse(t, resp, opts.MaxTokens, opts.ExactLength)
		if len(toks) != resp.OutputTokens {
			t.Errorf("callback saw %d tokens, response says %d", len(toks), resp.OutputTokens)
		}
		var text strings.Builder
		for i, tok := range toks {
			text.WriteString(tok.Text)
			if i > 0 && tok.At < toks[i-1].At {
				t.Errorf("token %d at %v, before token %d at %v", i, tok.At, i-1, toks[i-1].At)
			}
		}
		if !strings.HasPrefix(text.String(), strings.TrimSpace(resp.Text)) && !strings.Contains(text.String(), resp.Text) {
			t.Errorf("streamed text %q does not hold the response text %q", text.String(), resp.Text)
		}
		stop := errors.New("stop here")
		n := 0
		_, err = s.InferStream(ctx(t), model.Request{Prompt: "stream this", MaxTokens: opts.MaxTokens}, func(model.Token) error {
			n++
			return stop
		})
		if !errors.Is(err, stop) {
			t.Errorf("callback error: InferStream returned %v, want the callback's error", err)
		}
		if n != 1 {
			t.Errorf("callback called %d times after returning an error, want 1", n)
		}
	})

	t.Run("BatchInferer", func(t *testing.T) {
		m := loaded(t)
		b, ok := m.(model.BatchInferer)
		if !ok {
			t.Skip("driver does not batch")
		}
		reqs := []model.Request{
			{Prompt: "first", MaxTokens: opts.MaxTokens},
			{Prompt: "the second prompt is longer", MaxTokens: opts.MaxTokens},
			{Prompt: "third", MaxTokens: 2},
		}
		resps, err := b.InferBatch(ctx(t), reqs)
		if err != nil {
			t.Fatal(err)
		}
		if len(resps) != len(reqs) {
			t.Fatalf("%d requests, %d responses", len(reqs), len(resps))
		}
		for i, r := range resps {
			if r.OutputTokens < 1 || r.OutputTokens > reqs[i].MaxTokens {
				t.Errorf("response %d: %d output tokens for MaxTokens %d", i, r.OutputTokens, reqs[i].MaxTokens)
			}
			single, err := m.Infer(ctx(t), reqs[i])
			if err != nil {
				t.Fatal(err)
			}
			if single.Text != r.Text {
				t.Errorf("request %d: batched text %q, alone %q (greedy decoding must agree)", i, r.Text, single.Text)
			}
		}
	})

	t.Run("MemoryReporter", func(t *testing.T) {
		m := loaded(t)
		mr, ok := m.(model.MemoryReporter)
		if !ok {
			t.Skip("driver does not report memory")
		}
		ms, err := mr.MemoryStats(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if ms.WeightBytes < 0 || ms.CacheBytes < 0 || ms.DeviceBytes < 0 {
			t.Errorf("negative memory: %+v", ms)
		}
	})
}

func checkResponse(t *testing.T, resp model.Response, maxTokens int, exact bool) {
	t.Helper()
	if resp.PromptTokens < 1 {
		t.Errorf("PromptTokens = %d, want >= 1", resp.PromptTokens)
	}
	if resp.OutputTokens < 1 || resp.OutputTokens > maxTokens {
		t.Errorf("OutputTokens = %d, want 1..%d", resp.OutputTokens, maxTokens)
	}
	if exact && resp.OutputTokens != maxTokens {
		t.Errorf("OutputTokens = %d, want exactly %d", resp.OutputTokens, maxTokens)
	}
	if resp.Start.IsZero() {
		t.Error("Start not set")
	}
	if resp.Duration <= 0 {
		t.Errorf("Duration = %v, want > 0", resp.Duration)
	}
	if resp.FirstToken <= 0 || resp.FirstToken > resp.Duration {
		t.Errorf("FirstToken = %v, want in (0, Duration=%v]", resp.FirstToken, resp.Duration)
	}
	if n := len(resp.TokenTimes); n > 0 {
		if n != resp.OutputTokens {
			t.Errorf("%d token times for %d output tokens", n, resp.OutputTokens)
		}
		if resp.TokenTimes[0] != resp.FirstToken {
			t.Errorf("first token time %v != FirstToken %v", resp.TokenTimes[0], resp.FirstToken)
		}
		for i := 1; i < n; i++ {
			if resp.TokenTimes[i] < resp.TokenTimes[i-1] {
				t.Errorf("token %d at %v, before token %d at %v", i, resp.TokenTimes[i], i-1, resp.TokenTimes[i-1])
			}
		}
		if resp.TokenTimes[n-1] > resp.Duration {
			t.Errorf("last token at %v, after Duration %v", resp.TokenTimes[n-1], resp.Duration)
		}
	}
}
