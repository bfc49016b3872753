package ref

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/modeltest"
)

// smallShape is big enough for the byte-level tokenizer and small enough to
// generate quickly.
var smallShape = Shape{Dim: 64, HiddenDim: 128, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 400, SeqLen: 256}

// openSmall writes a small checkpoint with a byte-level tokenizer beside it
// and opens it.
func openSmall(t testing.TB) *Model {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "small.bin")
	if err := WriteCheckpoint(path, smallShape, 3, true); err != nil {
		t.Fatal(err)
	}
	if err := WriteByteTokenizer(filepath.Join(dir, "tokenizer.bin"), smallShape.Vocab); err != nil {
		t.Fatal(err)
	}
	m, err := Open(model.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func loadSmall(t testing.TB) *Model {
	t.Helper()
	m := openSmall(t)
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestConformance(t *testing.T) {
	modeltest.Run(t, func(t *testing.T) model.Model { return openSmall(t) }, modeltest.Options{ExactLength: true})
}

func TestRegisteredPreset(t *testing.T) {
	t.Setenv("PIOBENCH_CACHE_DIR", t.TempDir())
	d, err := model.Default.Lookup("ref")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Presets, []string{"15m", "110m"}) {
		t.Errorf("presets %v", d.Presets)
	}
	m, err := model.Default.OpenName("ref:15m")
	if err != nil {
		t.Fatal(err)
	}
	info := m.(model.Describer).Info()
	if info.Name != "ref:15m" || info.Params["dim"] != 288 || info.Params["weight_bytes"] != int64(4*Presets["15m"].Params(true)) {
		t.Errorf("info %+v", info)
	}
	if !slices.ContainsFunc(info.Notes, func(s string) bool { return strings.Contains(s, "untrained") }) {
		t.Errorf("notes %q do not say the weights are untrained", info.Notes)
	}
	// The files exist, whole, and a second Open reuses them.
	ckpt := info.Path
	st, err := os.Stat(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != Presets["15m"].fileSize(true) {
		t.Errorf("cache file has %d bytes", st.Size())
	}
	if _, err := Open(model.Config{Preset: "15m"}); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(ckpt)
	if !st2.ModTime().Equal(st.ModTime()) {
		t.Error("second Open rewrote the cache file")
	}
	if err := m.(model.CacheDropper).DropCache(); err != nil {
		t.Errorf("DropCache: %v", err)
	}
	// Where the check is possible, the file is out of the page cache.
	if f, err := os.Open(ckpt); err == nil {
		if res, total, err := residentPages(f); err == nil && res*10 > total {
			t.Errorf("after DropCache %d of %d pages are cached", res, total)
		}
		f.Close()
	}
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.(model.CacheDropper).DropCache(); err == nil {
		t.Error("DropCache of a loaded model succeeded")
	}
	resp, err := m.Infer(context.Background(), model.Request{Prompt: "Once upon a time", MaxTokens: 5})
	if err != nil {
		t.Fatal(err)
	}
	if resp.OutputTokens != 5 || resp.PromptTokens < 2 {
		t.Errorf("response %+v", resp)
	}
}

func TestInferMaxTokensAndLength(t *testing.T) {
	m := loadSmall(t)
	ctx := context.Background()
	for _, n := range []int{1, 2, 7} {
		r, err := m.Infer(ctx, model.Request{Prompt: "abc", MaxTokens: n})
		if err != nil {
			t.Fatal(err)
		}
		if r.OutputTokens != n || len(r.TokenTimes) != n || r.FinishReason != "length" {
			t.Errorf("MaxTokens %d: %d tokens, %d times, reason %q", n, r.OutputTokens, len(r.TokenTimes), r.FinishReason)
		}
	}
	// With no MaxTokens, generation fills the context: the token sampled
	// after the last position is output too.
	r, err := m.Infer(ctx, model.Request{Prompt: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	if want := smallShape.SeqLen - r.PromptTokens + 1; r.OutputTokens != want || r.FinishReason != "length" {
		t.Errorf("no MaxTokens: %d tokens (%q), want %d", r.OutputTokens, r.FinishReason, want)
	}
	if _, err := m.Infer(ctx, model.Request{Prompt: strings.Repeat("x!", 200)}); err == nil {
		t.Error("a prompt longer than the context was accepted")
	}
}

func TestInferStop(t *testing.T) {
	m := loadSmall(t)
	ctx := context.Background()
	full, err := m.Infer(ctx, model.Request{Prompt: "hi", MaxTokens: 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Text) < 6 {
		t.Fatalf("text %q too short to test stop strings", full.Text)
	}
	stop := full.Text[3:5]
	cut := strings.Index(full.Text, stop)
	r, err := m.Infer(ctx, model.Request{Prompt: "hi", MaxTokens: 20, Stop: []string{"never there", stop}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != full.Text[:cut] || r.FinishReason != "stop" {
		t.Errorf("stop %q: text %q (%s), want %q", stop, r.Text, r.FinishReason, full.Text[:cut])
	}
	if r.OutputTokens >= full.OutputTokens {
		t.Errorf("stop did not end generation early: %d tokens", r.OutputTokens)
	}
}

func TestInferStreamOrder(t *testing.T) {
	m := loadSmall(t)
	var toks []model.Token
	r, err := m.InferStream(context.Background(), model.Request{Prompt: "stream", MaxTokens: 12}, func(tk model.Token) error {
		toks = append(toks, tk)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != r.OutputTokens || r.OutputTokens != 12 {
		t.Fatalf("%d streamed, %d output", len(toks), r.OutputTokens)
	}
	var text strings.Builder
	for i, tk := range toks {
		text.WriteString(tk.Text)
		if tk.At != r.TokenTimes[i] || (i > 0 && tk.At < toks[i-1].At) {
			t.Errorf("token %d at %v, response time %v", i, tk.At, r.TokenTimes[i])
		}
	}
	if text.String() != r.Text {
		t.Errorf("streamed %q, response %q", text.String(), r.Text)
	}
	// The ids decode to the text.
	ids := make([]int, len(toks))
	for i, tk := range toks {
		ids[i] = tk.ID
	}
	prompt := m.Tokenizer().Encode(nil, "stream", true)
	if got := m.Tokenizer().Decode(prompt[len(prompt)-1], ids); got != r.Text {
		t.Errorf("decoded ids %q, text %q", got, r.Text)
	}
}

func TestInferCancel(t *testing.T) {
	m := loadSmall(t)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := m.InferStream(ctx, model.Request{Prompt: "go on"}, func(model.Token) error {
		n++
		if n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if n != 3 {
		t.Errorf("%d tokens after cancelling at the third", n)
	}
}

func TestInferBatchEqualsSingle(t *testing.T) {
	m := loadSmall(t)
	ctx := context.Background()
	var reqs []model.Request
	for i, p := range []string{"", "a", "hello there", "the quick brown fox jumps over the lazy dog, twice over", "zz", "Ünïcødé ✓"} {
		reqs = append(reqs, model.Request{Prompt: p, MaxTokens: 3 + 2*i})
	}
	// Sampling with a seed is per request too.
	reqs = append(reqs, model.Request{Prompt: "sampled", MaxTokens: 10, Temperature: 0.9, TopP: 0.9, Seed: 42})
	batch, err := m.InferBatch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, req := range reqs {
		one, err := m.Infer(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		b := batch[i]
		if b.Text != one.Text || b.OutputTokens != one.OutputTokens || b.PromptTokens != one.PromptTokens || b.FinishReason != one.FinishReason {
			t.Errorf("request %d: batched %q (%d/%d %s), alone %q (%d/%d %s)", i,
				b.Text, b.PromptTokens, b.OutputTokens, b.FinishReason, one.Text, one.PromptTokens, one.OutputTokens, one.FinishReason)
		}
		if !b.Start.Equal(batch[0].Start) || (b.OutputTokens > 0 && b.FirstToken <= 0) || b.Duration < b.FirstToken {
			t.Errorf("request %d: times %v %v %v", i, b.Start, b.FirstToken, b.Duration)
		}
	}
}

func TestConcurrentInfer(t *testing.T) {
	m := loadSmall(t)
	ctx := context.Background()
	req := model.Request{Prompt: "together", MaxTokens: 10}
	want, err := m.Infer(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			r, err := m.Infer(ctx, req)
			if err == nil && r.Text != want.Text {
				err = errors.New("concurrent answer " + r.Text + " differs from " + want.Text)
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestInferClosed(t *testing.T) {
	m := openSmall(t)
	if _, err := m.Infer(context.Background(), model.Request{Prompt: "x"}); err == nil {
		t.Error("Infer before Load succeeded")
	}
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, err := m.Infer(context.Background(), model.Request{Prompt: "x"}); err == nil {
		t.Error("Infer after Close succeeded")
	}
	// A closed model loads again.
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Infer(context.Background(), model.Request{Prompt: "x", MaxTokens: 2}); err != nil {
		t.Error(err)
	}
}

func TestMemoryStats(t *testing.T) {
	m := loadSmall(t)
	if _, err := m.Infer(context.Background(), model.Request{Prompt: "x", MaxTokens: 2}); err != nil {
		t.Fatal(err)
	}
	ms, err := m.MemoryStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ms.WeightBytes != 4*smallShape.Params(true) || ms.CacheBytes < kvBytes(smallShape) {
		t.Errorf("memory %+v", ms)
	}
}

// TestInferBatchLarge answers more requests than one forward pass takes,
// with prompts longer than a pass, so that they take turns.
func TestInferBatchLarge(t *testing.T) {
	m := loadSmall(t)
	ctx := context.Background()
	reqs := make([]model.Request, maxBatch+9)
	for i := range reqs {
		reqs[i] = model.Request{Prompt: strings.Repeat("ab c", i%7*4) + itoa(i), MaxTokens: 2 + i%5}
	}
	batch, err := m.InferBatch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, req := range reqs {
		one, err := m.Infer(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if b := batch[i]; b.Text != one.Text || b.OutputTokens != one.OutputTokens || b.PromptTokens != one.PromptTokens {
			t.Errorf("request %d: batched %q (%d/%d), alone %q (%d/%d)", i, b.Text, b.PromptTokens, b.OutputTokens, one.Text, one.PromptTokens, one.OutputTokens)
		}
	}
}
