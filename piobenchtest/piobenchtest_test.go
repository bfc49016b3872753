package piobenchtest

import (
	"context"
	"flag"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/fake"
	_ "github.com/inference-pio/piobench/model/ref"
	"github.com/inference-pio/piobench/result"
)

// benchtime sets -test.benchtime for the duration of a test, so that
// testing.Benchmark runs a known number of iterations.
func benchtime(t *testing.T, v string) {
	t.Helper()
	old := flag.Lookup("test.benchtime").Value.String()
	if err := flag.Set("test.benchtime", v); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flag.Set("test.benchtime", old) })
}

func near(got, want float64) bool { return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want)) }

// TestRunReportsMetrics runs inference_speed through testing.Benchmark on
// the fake model, whose timings are known exactly: a 4-word prompt at
// 1 ms per prompt token and 10 tokens at 2 ms each take 24 ms, so 10/0.024
// tokens per second; the first token comes at 6 ms; decoding makes 9
// tokens in 18 ms.
func TestRunReportsMetrics(t *testing.T) {
	benchtime(t, "7x")
	clock := fake.NewClock()
	m := fake.New(clock, 0, time.Millisecond, 2*time.Millisecond)
	m.Load(context.Background())
	var r result.Result
	var calls []int
	res := testing.Benchmark(func(b *testing.B) {
		before := m.Calls
		r = Run(b, m, "inference_speed", WithClock(clock), WithWarmup(1),
			WithParams(map[string]any{"prompt": "a b c d", "max_tokens": 10}))
		calls = append(calls, m.Calls-before)
	})
	if res.N != 7 {
		t.Fatalf("N = %d, want 7", res.N)
	}
	if got := calls[len(calls)-1]; got != 8 {
		t.Errorf("%d model calls, want 7 measured + 1 warmup", got)
	}
	if r.Metadata["iterations"] != 7 || r.ModelName != "fake" {
		t.Errorf("result %s %v", r.ModelName, r.Metadata["iterations"])
	}
	for unit, want := range map[string]float64{
		"tokens/sec":         10 / 0.024,
		"p90-tokens/sec":     10 / 0.024,
		"p99-tokens/sec":     10 / 0.024,
		"decode-tokens/sec":  9 / 0.018,
		"prefill-tokens/sec": 4 / 0.006,
		"ttft-ms":            6,
	} {
		if got, ok := res.Extra[unit]; !ok || !near(got, want) {
			t.Errorf("%s = %v (reported %v), want %v", unit, got, ok, want)
		}
	}
}

func TestMeasure(t *testing.T) {
	clock := fake.NewClock()
	m := fake.New(clock, 0, time.Millisecond, 2*time.Millisecond)
	m.Load(context.Background())
	// Four sequential requests of 3 prompt words and 16 tokens: 35 ms each.
	r := Measure(t, m, "batch_processing_4", WithClock(clock), WithIterations(3), WithModelName("mine"))
	if r.ModelName != "mine" || r.Unit != "requests/sec" || r.Metadata["iterations"] != 3 {
		t.Errorf("%+v", r)
	}
	if !near(r.Value, 4/0.140) {
		t.Errorf("value %v, want %v", r.Value, 4/0.140)
	}
	ms := Metrics(r)
	if ms[0].Unit != "requests/sec" || !near(ms[0].Value, 4/0.140) || ms[1].Unit != "p90-requests/sec" {
		t.Errorf("metrics %+v", ms)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func fatalOf(t *testing.T, fn func(tb testing.TB)) string {
	rec := &fatalRecorder{TB: t}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fn(rec)
	}()
	wg.Wait()
	return rec.msg
}

func TestFailures(t *testing.T) {
	clock := fake.NewClock()
	broken := fake.New(clock, 0, time.Millisecond, time.Millisecond)
	broken.Fail = errTest("GPU fell off the bus")
	ok := fake.New(clock, 0, time.Millisecond, time.Millisecond)
	broken.Load(context.Background())
	ok.Load(context.Background())
	for _, tc := range []struct {
		name string
		fn   func(tb testing.TB)
		want string
	}{
		{"failed benchmark", func(tb testing.TB) { Measure(tb, broken, "inference_speed", WithClock(clock)) }, "inference_speed on fake failed: warmup 1: GPU fell off the bus"},
		{"unknown benchmark", func(tb testing.TB) { Measure(tb, ok, "warp_speed") }, `unknown benchmark "warp_speed"`},
		{"unknown parameter", func(tb testing.TB) {
			Measure(tb, ok, "inference_speed", WithParams(map[string]any{"temperature": 0.5}))
		}, `unknown parameter "temperature"`},
		{"bad parameter", func(tb testing.TB) {
			Measure(tb, ok, "inference_speed", WithParams(map[string]any{"max_tokens": 0}))
		}, "max_tokens: 0: must be at least 1"},
		{"no opener for loading_time", func(tb testing.TB) { Measure(tb, ok, "loading_time") }, "cannot be reopened"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fatalOf(t, tc.fn); !strings.Contains(got, tc.want) {
				t.Errorf("failure %q, want %q", got, tc.want)
			}
		})
	}
}

// TestOpen measures loading_time through a model that Open made, which
// can therefore be reopened.
func TestOpen(t *testing.T) {
	reg := model.NewRegistry()
	clock := fake.NewClock()
	opens := 0
	reg.Register(model.Driver{Name: "fake", Presets: []string{"m"}, Open: func(model.Config) (model.Model, error) {
		opens++
		return fake.New(clock, 250*time.Millisecond, time.Millisecond, time.Millisecond), nil
	}})
	m := Open(t, reg, "fake:m")
	r := Measure(t, m, "loading_time", WithClock(clock), WithIterations(3))
	if !near(r.Value, 0.25) || opens != 4 {
		t.Errorf("loading_time %v s after %d opens, want 0.25 s and 4 opens", r.Value, opens)
	}
}

// BenchmarkReference measures the embedded reference model as a user's
// own benchmark would; go test -bench=Reference ./piobenchtest reports
// tokens/sec, its percentiles, the decode rate and time to first token.
func BenchmarkReference(b *testing.B) {
	m := Open(b, nil, "ref:15m")
	Run(b, m, "inference_speed", WithParams(map[string]any{"max_tokens": 32}))
}

type errTest string

func (e errTest) Error() string { return string(e) }
