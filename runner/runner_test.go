package runner

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/fake"
	"github.com/inference-pio/piobench/result"
)

func fakeTarget(name string, clock *fake.Clock, openErr error) Target {
	return Target{Name: name, Open: func(context.Context) (model.Model, error) {
		if openErr != nil {
			return nil, openErr
		}
		return fake.New(clock, time.Second, time.Millisecond, 5*time.Millisecond), nil
	}}
}

func factories(t *testing.T, names ...string) []bench.Factory {
	var fs []bench.Factory
	for _, n := range names {
		if _, err := bench.Default.New(n); err != nil {
			t.Fatal(err)
		}
		n := n
		fs = append(fs, func() bench.Benchmark { b, _ := bench.Default.New(n); return b })
	}
	return fs
}

func TestRunTwoModels(t *testing.T) {
	clock := fake.NewClock()
	var progress []Progress
	var streamed []string
	res, err := Run(context.Background(),
		[]Target{fakeTarget("a", clock, nil), fakeTarget("broken", clock, errors.New("no weights")), fakeTarget("b", clock, nil)},
		Options{
			Benchmarks: factories(t, "inference_speed", "loading_time"),
			Iterations: 3, Warmup: 0, Clock: clock,
			Progress: func(p Progress) { progress = append(progress, p) },
			OnResult: func(r result.Result) { streamed = append(streamed, r.ModelName+"/"+r.BenchmarkName) },
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 6 {
		t.Fatalf("%d results, want 6", len(res))
	}
	want := []string{"a/inference_speed", "a/loading_time", "broken/inference_speed", "broken/loading_time", "b/inference_speed", "b/loading_time"}
	if strings.Join(streamed, " ") != strings.Join(want, " ") {
		t.Errorf("results in order %v, want %v", streamed, want)
	}
	for _, r := range res {
		if (r.ModelName == "broken") != r.Failed() {
			t.Errorf("%s/%s failed=%v (%s)", r.ModelName, r.BenchmarkName, r.Failed(), r.Err())
		}
		if r.ModelName == "broken" && !strings.Contains(r.Err(), "model did not load: no weights") {
			t.Errorf("error %q", r.Err())
		}
	}
	if res[1].Value != 1 {
		t.Errorf("loading_time %v, want 1s", res[1].Value)
	}
	done := 0
	for _, p := range progress {
		if p.Total != 6 {
			t.Errorf("progress total %d", p.Total)
		}
		if p.Done != nil {
			done++
		}
	}
	if done != 4 {
		t.Errorf("%d completion events, want 4 (one per benchmark that ran)", done)
	}
}

func TestRunCancelledKeepsFinished(t *testing.T) {
	clock := fake.NewClock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Run(ctx, []Target{fakeTarget("a", clock, nil)}, Options{
		Benchmarks: factories(t, "inference_speed", "loading_time", "accuracy"),
		Iterations: 2, Warmup: 0, Clock: clock,
		Progress: func(p Progress) {
			if p.Benchmark == "loading_time" && p.Done == nil {
				cancel() // Ctrl-C during the second benchmark
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(res) != 1 || res[0].BenchmarkName != "inference_speed" || res[0].Failed() {
		t.Fatalf("results %+v, want only the finished inference_speed", res)
	}
}

func TestTimeoutPerBenchmark(t *testing.T) {
	slow := Target{Name: "slow", Open: func(context.Context) (model.Model, error) { return &stall{}, nil }}
	res, err := Run(context.Background(), []Target{slow}, Options{
		Benchmarks: factories(t, "inference_speed", "accuracy"), Timeout: 30 * time.Millisecond, Warmup: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.Failed() || !strings.Contains(r.Err(), "timed out after 30ms") {
			t.Errorf("%s: %q", r.BenchmarkName, r.Err())
		}
	}
}

// stall is a model whose Infer waits until cancelled.
type stall struct{}

func (*stall) Load(context.Context) error { return nil }
func (*stall) Close() error               { return nil }
func (*stall) Infer(ctx context.Context, _ model.Request) (model.Response, error) {
	<-ctx.Done()
	return model.Response{}, ctx.Err()
}
