package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/model/fake"
	"github.com/inference-pio/piobench/model/openai"
	"github.com/inference-pio/piobench/sim"
)

func TestScalabilityFindsTheKnee(t *testing.T) {
	// The sim serves 4 requests at full speed (ITL 2 ms: 500 tokens/s
	// each) and stretches every delay beyond that: saturation at about
	// 2000 tokens/s, from concurrency 4.
	l, err := sim.Listen("127.0.0.1:0", sim.Config{TTFT: time.Millisecond, ITL: 2 * time.Millisecond, Capacity: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m, err := openai.New(openai.Options{Endpoint: l.URL, ModelID: "sim"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b := bench.NewScalability()
	b.MaxTokens = 32
	b.Rounds = 3
	if !b.AppliesTo(m) {
		t.Fatal("does not apply to the openai driver")
	}
	r := bench.Execute(context.Background(), b, &bench.Env{Model: m, ModelName: "sim", Warmup: 0}, time.Minute)
	if r.Failed() {
		t.Fatal(r.Err())
	}
	knee, _ := r.Metadata["knee_concurrency"].(int)
	curve, _ := r.Metadata["curve"].([]map[string]any)
	t.Logf("saturation %.0f tokens/s, knee %v, stopped: %v", r.Value, knee, r.Metadata["stopped_because"])
	if r.Value < 2000*0.6 || r.Value > 2000*1.1 {
		t.Errorf("saturation %.0f tokens/s, want about 2000", r.Value)
	}
	if knee < 4 || knee > 8 {
		t.Errorf("knee at concurrency %d, want 4 (or 8 on a noisy machine)", knee)
	}
	if len(curve) < 3 || len(curve) > 5 {
		t.Errorf("curve of %d levels, want the sweep to stop soon after 4: %v", len(curve), curve)
	}
}

func TestScalabilityNotForSequentialModels(t *testing.T) {
	if bench.NewScalability().AppliesTo(fake.New(fake.NewClock(), 0, 0, 0)) {
		t.Error("applies to a model that cannot serve concurrently")
	}
}
