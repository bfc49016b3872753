package bench

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/fake"
	"github.com/inference-pio/piobench/result"
)

const (
	loadTime = 1500 * time.Millisecond
	prefill  = 2 * time.Millisecond
	decode   = 10 * time.Millisecond
)

// newEnv returns an environment around a loaded fake model on a simulated
// clock, so every timing is exact.
func newEnv(t *testing.T, m model.Model, clock *fake.Clock) *Env {
	t.Helper()
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &Env{
		Model:      m,
		ModelName:  "fake",
		Iterations: 6,
		Warmup:     -1,
		Clock:      clock,
		Open: func(context.Context) (model.Model, error) {
			return fake.New(clock, loadTime, prefill, decode), nil
		},
	}
}

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.12g, want %.12g", what, got, want)
	}
}

func metaFloat(t *testing.T, r result.Result, key string) float64 {
	t.Helper()
	switch v := r.Metadata[key].(type) {
	case float64:
		return v
	case int:
		return float64(v)
	}
	t.Fatalf("metadata %q = %#v, want a number", key, r.Metadata[key])
	return 0
}

func TestInferenceSpeedNumbers(t *testing.T) {
	clock := fake.NewClock()
	env := newEnv(t, fake.New(clock, loadTime, prefill, decode), clock)
	r := Execute(context.Background(), NewInferenceSpeed(), env, 0)
	if r.Failed() {
		t.Fatalf("failed: %s", r.Err())
	}
	// "test input for speed measurement" is 5 prompt tokens; 64 output
	// tokens: e2e = 5*2ms + 64*10ms = 650ms.
	near(t, "value (tokens/sec)", r.Value, 64/0.650)
	near(t, "decode_tokens_per_second", metaFloat(t, r, "decode_tokens_per_second"), 63/0.630)
	near(t, "prefill_tokens_per_second", metaFloat(t, r, "prefill_tokens_per_second"), 5/0.020)
	near(t, "n", metaFloat(t, r, "n"), 6)
	near(t, "stddev", metaFloat(t, r, "stddev"), 0)
	near(t, "output_tokens_total", metaFloat(t, r, "output_tokens_total"), 6*64)
	if r.Metadata["statistic"] != "median" || r.Unit != "tokens/sec" || r.Category != "performance" || r.BenchmarkName != "inference_speed" {
		t.Errorf("labels: %q %q %q %v", r.BenchmarkName, r.Unit, r.Category, r.Metadata["statistic"])
	}
	if got := len(r.Metadata["samples"].([]float64)); got != 6 {
		t.Errorf("%d samples kept, want 6 (warmup excluded)", got)
	}
	if m := env.Model.(*fake.Model); m.Calls != 8 {
		t.Errorf("model called %d times, want 6 measured + 2 warmup", m.Calls)
	}
	for _, k := range []string{"mean", "min", "max", "p50", "p90", "p99", "ci95_low", "ci95_high"} {
		near(t, k, metaFloat(t, r, k), 64/0.650)
	}
}

func TestBatchProcessingNumbers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batched bool
		size    int
		seconds float64
	}{
		// "test input N" is 3 prompt tokens, 16 output tokens each.
		{"sequential", false, 4, 4 * (3*0.002 + 16*0.010)},
		{"batched", true, 4, 4*3*0.002 + 16*0.010},
		{"batched", true, 16, 16*3*0.002 + 16*0.010},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := fake.NewClock()
			var m model.Model = fake.New(clock, loadTime, prefill, decode)
			if tc.batched {
				m = fake.Batcher{Model: m.(*fake.Model)}
			}
			r := Execute(context.Background(), NewBatchProcessing(tc.size), newEnv(t, m, clock), 0)
			if r.Failed() {
				t.Fatalf("failed: %s", r.Err())
			}
			near(t, "requests/sec", r.Value, float64(tc.size)/tc.seconds)
			if want := map[bool]string{true: "batched", false: "sequential"}[tc.batched]; r.Metadata["mode"] != want {
				t.Errorf("mode = %v, want %s", r.Metadata["mode"], want)
			}
			if r.BenchmarkName != "batch_processing_"+map[int]string{4: "4", 16: "16"}[tc.size] {
				t.Errorf("name %q", r.BenchmarkName)
			}
		})
	}
}

func TestLoadingTimeNumbers(t *testing.T) {
	clock := fake.NewClock()
	r := Execute(context.Background(), NewLoadingTime(), newEnv(t, fake.New(clock, loadTime, prefill, decode), clock), 0)
	if r.Failed() {
		t.Fatalf("failed: %s", r.Err())
	}
	near(t, "seconds", r.Value, 1.5)
	near(t, "page_cache_warm", metaFloat(t, r, "page_cache_warm"), 6)
}

func TestLoadingTimeWithoutOpenFails(t *testing.T) {
	clock := fake.NewClock()
	env := newEnv(t, fake.New(clock, loadTime, prefill, decode), clock)
	env.Open = nil
	r := Execute(context.Background(), NewLoadingTime(), env, 0)
	if !r.Failed() || !strings.Contains(r.Err(), "cannot be reopened") {
		t.Fatalf("want a failed result explaining why, got %+v", r)
	}
}

func TestAccuracyNumbers(t *testing.T) {
	clock := fake.NewClock()
	m := fake.New(clock, loadTime, prefill, decode)
	m.Answers = map[string]string{
		"What is 2+2?":         "The answer is 4",
		"Capital of France?":   "It is PARIS of course",
		"How many continents?": "There are seven",
	}
	r := Execute(context.Background(), NewAccuracy(), newEnv(t, m, clock), 0)
	if r.Failed() {
		t.Fatalf("failed: %s", r.Err())
	}
	// "seven" reads as 7 (package eval's contains scorer), so all three
	// are correct.
	near(t, "ratio", r.Value, 1)
	near(t, "correct", metaFloat(t, r, "correct"), 3)
	near(t, "total", metaFloat(t, r, "total"), 3)
	lo, hi := metaFloat(t, r, "ci95_low"), metaFloat(t, r, "ci95_high")
	// Wilson 95% for 3/3: [0.4385, 1].
	if math.Abs(lo-0.4385) > 1e-3 || math.Abs(hi-1) > 1e-9 {
		t.Errorf("Wilson interval [%g, %g], want about [0.4385, 1]", lo, hi)
	}
}

func TestComprehensiveNumbers(t *testing.T) {
	clock := fake.NewClock()
	r := Execute(context.Background(), NewComprehensive(), newEnv(t, fake.New(clock, loadTime, prefill, decode), clock), 0)
	if r.Failed() {
		t.Fatalf("failed: %s", r.Err())
	}
	per := 3*0.002 + 16*0.010
	near(t, "requests/sec", r.Value, 1/per)
	near(t, "avg_time_per_request", metaFloat(t, r, "avg_time_per_request"), per)
	near(t, "input_count", metaFloat(t, r, "input_count"), 6)
}

func TestMemoryUsageSeesHeldAllocation(t *testing.T) {
	clock := fake.NewClock()
	m := fake.New(clock, loadTime, prefill, decode)
	m.Hold = 64 << 20
	m.HoldTime = 30 * time.Millisecond
	r := Execute(context.Background(), NewMemoryUsage(), newEnv(t, m, clock), 0)
	if r.Failed() {
		t.Fatalf("failed: %s", r.Err())
	}
	if r.Value < 60 || r.Value > 200 {
		t.Errorf("memory increase %.1f MB, want about 64 MB (the model holds 64 MB during the call)", r.Value)
	}
	if metaFloat(t, r, "peak_memory") < metaFloat(t, r, "initial_memory")+60 {
		t.Errorf("peak %v vs initial %v", r.Metadata["peak_memory"], r.Metadata["initial_memory"])
	}
	if metaFloat(t, r, "samples_taken") < 2 {
		t.Errorf("sampler took %v readings during a 30ms call", r.Metadata["samples_taken"])
	}
	if metaFloat(t, r, "sample_rate_hz") <= 0 {
		t.Errorf("sample rate %v", r.Metadata["sample_rate_hz"])
	}
}

func TestMemoryUsageShortensInputToContext(t *testing.T) {
	b := NewMemoryUsage()
	prompt, note := b.input(seqModel{fake.New(fake.NewClock(), 0, 0, 0), 256})
	if len(prompt) > 256-b.MaxTokens-2 || note == "" {
		t.Errorf("prompt of %d chars for a 256-token context (note %q)", len(prompt), note)
	}
	prompt, note = b.input(fake.New(fake.NewClock(), 0, 0, 0))
	if len(prompt) != 100*len("long input text") || note != "" {
		t.Errorf("prompt of %d chars, note %q; want the guide's full input", len(prompt), note)
	}
}

type seqModel struct {
	*fake.Model
	seq int
}

func (s seqModel) Info() model.Info { return model.Info{Params: map[string]any{"seq_len": s.seq}} }

// lifecycle records which of its methods ran.
type lifecycle struct {
	calls    []string
	runErr   error
	panicMsg string
	block    bool
}

func (l *lifecycle) Name() string     { return "lifecycle" }
func (l *lifecycle) Category() string { return "custom" }
func (l *lifecycle) Unit() string     { return "units" }
func (l *lifecycle) Setup(context.Context, *Env) error {
	l.calls = append(l.calls, "setup")
	return nil
}
func (l *lifecycle) Teardown(context.Context, *Env) error {
	l.calls = append(l.calls, "teardown")
	return nil
}
func (l *lifecycle) Run(ctx context.Context, _ *Env) (result.Result, error) {
	l.calls = append(l.calls, "run")
	if l.panicMsg != "" {
		panic(l.panicMsg)
	}
	if l.block {
		<-ctx.Done()
		return result.Result{}, ctx.Err()
	}
	if l.runErr != nil {
		return result.Result{}, l.runErr
	}
	return result.Result{Value: 42}, nil
}

func TestExecuteTeardownAlwaysRuns(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name    string
		b       *lifecycle
		ctx     context.Context
		timeout time.Duration
		wantErr string
	}{
		{"ok", &lifecycle{}, context.Background(), 0, ""},
		{"error", &lifecycle{runErr: errors.New("boom")}, context.Background(), 0, "boom"},
		{"panic", &lifecycle{panicMsg: "kaboom"}, context.Background(), 0, "panicked: kaboom"},
		{"timeout", &lifecycle{block: true}, context.Background(), 20 * time.Millisecond, "timed out after 20ms"},
		{"cancelled", &lifecycle{}, cancelled, 0, "canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Execute(tc.ctx, tc.b, &Env{ModelName: "m"}, tc.timeout)
			if last := tc.b.calls[len(tc.b.calls)-1]; last != "teardown" {
				t.Errorf("calls %v: teardown did not run last", tc.b.calls)
			}
			if tc.wantErr == "" {
				if r.Failed() || r.Value != 42 || r.ModelName != "m" || r.Metadata["status"] != "ok" {
					t.Errorf("got %+v", r)
				}
				return
			}
			if !r.Failed() || !math.IsNaN(r.Value) || !strings.Contains(r.Err(), tc.wantErr) {
				t.Errorf("got value %v, error %q; want a failed result with %q", r.Value, r.Err(), tc.wantErr)
			}
		})
	}
}

func TestFailingModelIsFailedResultNotZero(t *testing.T) {
	clock := fake.NewClock()
	m := fake.New(clock, loadTime, prefill, decode)
	m.Fail = errors.New("model exploded")
	for _, b := range []Benchmark{NewInferenceSpeed(), NewBatchProcessing(4), NewAccuracy(), NewComprehensive(), NewMemoryUsage()} {
		r := Execute(context.Background(), b, newEnv(t, m, clock), 0)
		if !r.Failed() || !strings.Contains(r.Err(), "model exploded") || !math.IsNaN(r.Value) {
			t.Errorf("%s: value %v, error %q; want a failed result", b.Name(), r.Value, r.Err())
		}
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	if err := RegisterBuiltins(r); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(func() Benchmark { return NewAccuracy() }); err == nil {
		t.Error("duplicate registration accepted")
	}
	if err := r.Register(func() Benchmark { return &lifecycle{} }); err != nil {
		t.Errorf("custom category: %v", err)
	}
	if b, err := r.New("batch_processing_32"); err != nil || b.Name() != "batch_processing_32" {
		t.Errorf("family: %v %v", b, err)
	}
	for _, bad := range []string{"nope", "batch_processing_0", "batch_processing_-1", "batch_processing_04"} {
		if _, err := r.New(bad); !errors.Is(err, ErrUnknown) {
			t.Errorf("New(%q) = %v, want ErrUnknown", bad, err)
		}
	}
	full, err := r.Suite("full")
	if err != nil || len(full) != 9 {
		t.Errorf("full suite: %v %v", full, err)
	}
	if _, err := r.Suite("nope"); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown suite: %v", err)
	}
}
