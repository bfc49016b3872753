package ref

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/model"
)

// loadPreset loads a preset model, writing its files to the cache
// directory the first time.
func loadPreset(b testing.TB, name string) *Model {
	b.Helper()
	m, err := Open(model.Config{Preset: name})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

const benchPrompt = "Once upon a time, there was a little"

// benchDecode generates 256 tokens (for 15m, up to the end of the context)
// and reports the rate of the decode phase, after the first token.
func benchDecode(b *testing.B, name string) {
	m := loadPreset(b, name)
	ctx := context.Background()
	var toks int
	var decode time.Duration
	for b.Loop() {
		r, err := m.Infer(ctx, model.Request{Prompt: benchPrompt, MaxTokens: 256})
		if err != nil {
			b.Fatal(err)
		}
		toks += r.OutputTokens - 1
		decode += r.Duration - r.FirstToken
	}
	b.ReportMetric(float64(toks)/decode.Seconds(), "tok/s")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkDecode15M(b *testing.B) { benchDecode(b, "15m") }

func BenchmarkDecode110M(b *testing.B) {
	if testing.Short() {
		b.Skip("110m model: 440 MB of weights, written to the cache directory on first use; skipped in -short")
	}
	benchDecode(b, "110m")
}

// BenchmarkDecodeStep15M measures one forward pass of one token and the
// greedy choice of the next, at positions cycling through the context (for
// 110m, through the first 256 positions, as BenchmarkDecode110M does).
func BenchmarkDecodeStep15M(b *testing.B) { benchDecodeStep(b, "15m") }

func BenchmarkDecodeStep110M(b *testing.B) {
	if testing.Short() {
		b.Skip("110m model: 440 MB of weights, written to the cache directory on first use; skipped in -short")
	}
	benchDecodeStep(b, "110m")
}

func benchDecodeStep(b *testing.B, preset string) { benchStep(b, loadPreset(b, preset), 1) }

// BenchmarkBatchStep15M is BenchmarkDecodeStep15M for several sequences
// decoded together, one token each per step.
func BenchmarkBatchStep15M(b *testing.B) {
	m := loadPreset(b, "15m")
	for _, n := range []int{4, 16} {
		b.Run("batch="+strconv.Itoa(n), func(b *testing.B) { benchStep(b, m, n) })
	}
}

// benchStep runs forward passes of n sequences, one token each, and
// reports generated tokens per second.
func benchStep(b *testing.B, m *Model, n int) {
	e := m.eng
	kvs := make([]*kvCache, n)
	toks := make([]int, n)
	for i := range kvs {
		kvs[i] = newKVCache(m.shape)
		toks[i] = tokBOS
	}
	pos := 0
	// The time of each step, to report a rate that other work on a shared
	// machine disturbs less: that of the 10th-percentile step.
	steps := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		e.batch = e.batch[:0]
		for i := range kvs {
			e.batch = append(e.batch, entry{tok: toks[i], pos: pos, kv: kvs[i], logits: true})
		}
		e.forward()
		for i := range toks {
			toks[i] = argmax(e.logitsRow(i))
		}
		if pos++; pos == min(m.shape.SeqLen, 256) {
			pos = 0
			for i := range toks {
				toks[i] = tokBOS
			}
		}
		if len(steps) < cap(steps) {
			steps = append(steps, time.Since(t0))
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
	if len(steps) >= 10 {
		slices.Sort(steps)
		b.ReportMetric(float64(n)/steps[len(steps)/10].Seconds(), "p10-tok/s")
	}
}

// BenchmarkBatchDecode15M generates for several requests at once and
// reports the generated tokens of all of them per second.
func BenchmarkBatchDecode15M(b *testing.B) {
	m := loadPreset(b, "15m")
	ctx := context.Background()
	for _, n := range []int{1, 4, 16} {
		b.Run("batch="+strconv.Itoa(n), func(b *testing.B) {
			reqs := make([]model.Request, n)
			for i := range reqs {
				reqs[i] = model.Request{Prompt: fmt.Sprintf("%s %d", benchPrompt, i), MaxTokens: 128}
			}
			toks := 0
			for b.Loop() {
				rs, err := m.InferBatch(ctx, reqs)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range rs {
					toks += r.OutputTokens
				}
			}
			b.ReportMetric(float64(toks)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}

// BenchmarkPrefill15M feeds a long prompt and generates one token.
func BenchmarkPrefill15M(b *testing.B) {
	m := loadPreset(b, "15m")
	prompt := strings.Repeat("the cat sat on a mat. ", 30)
	toks := 0
	var ttft time.Duration
	for b.Loop() {
		r, err := m.Infer(context.Background(), model.Request{Prompt: prompt, MaxTokens: 1})
		if err != nil {
			b.Fatal(err)
		}
		toks += r.PromptTokens
		ttft += r.FirstToken
	}
	b.ReportMetric(float64(toks)/ttft.Seconds(), "prompt-tok/s")
}

// BenchmarkLoad15M measures loading from the page cache.
func BenchmarkLoad15M(b *testing.B) {
	m, err := Open(model.Config{Preset: "15m"})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := m.Load(context.Background()); err != nil {
			b.Fatal(err)
		}
		m.Close()
	}
	b.ReportMetric(float64(4*m.shape.Params(true))/b.Elapsed().Seconds()*float64(b.N)/1e6, "MB/s")
}

// rssChildEnv makes the test binary, run again, load a preset and print its
// peak resident memory instead of running tests.
const rssChildEnv = "REF_RSS_CHILD"

// TestRSSChild is the body of the child process of peakRSSRatio.
func TestRSSChild(t *testing.T) {
	name := os.Getenv(rssChildEnv)
	if name == "" {
		t.Skip("runs only as the child process of TestPeakRSS")
	}
	m := loadPreset(t, name)
	if _, err := m.Infer(context.Background(), model.Request{Prompt: benchPrompt, MaxTokens: 64}); err != nil {
		t.Fatal(err)
	}
	hwm, err := procStatus("VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("\nRSS %d %d\n", hwm, 4*m.shape.Params(true))
}

// procStatus returns a field of /proc/self/status, in bytes.
func procStatus(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

// peakRSSRatio runs a child process that loads the preset and generates a
// few tokens, and returns its peak resident memory over the weight bytes.
func peakRSSRatio(t testing.TB, preset string) float64 {
	t.Helper()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status")
	}
	if _, err := Open(model.Config{Preset: preset}); err != nil { // write the files here, not in the child
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRSSChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), rssChildEnv+"="+preset)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		var hwm, weights int64
		if _, err := fmt.Sscanf(line, "RSS %d %d", &hwm, &weights); err == nil {
			return float64(hwm) / float64(weights)
		}
	}
	t.Fatalf("child printed no RSS line:\n%s", out)
	return 0
}

// TestPeakRSS checks that a loaded 15m model costs little more memory than
// its weights: they are mapped, not copied.
func TestPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and loads the 15m preset in a child process")
	}
	t.Setenv("PIOBENCH_CACHE_DIR", t.TempDir())
	if r := peakRSSRatio(t, "15m"); r > 1.3 {
		t.Errorf("peak RSS is %.2f× the weight bytes, want <= 1.3", r)
	} else {
		t.Logf("peak RSS is %.3f× the weight bytes", r)
	}
}

func BenchmarkPeakRSS15M(b *testing.B) {
	var r float64
	for b.Loop() {
		r = peakRSSRatio(b, "15m")
	}
	b.ReportMetric(r, "rss/weights")
}
