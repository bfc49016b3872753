package openai_test

import (
	"testing"
	"time"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/modeltest"
	"github.com/inference-pio/piobench/model/openai"
	"github.com/inference-pio/piobench/sim"
)

func startSim(t testing.TB, cfg sim.Config) *sim.Listening {
	t.Helper()
	l, err := sim.Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts openai.Options
		cfg  sim.Config
	}{
		{"completions", openai.Options{}, sim.Config{TTFT: time.Millisecond, ITL: 100 * time.Microsecond}},
		{"chat", openai.Options{API: openai.Chat}, sim.Config{TTFT: time.Millisecond}},
		{"chat-quirks", openai.Options{API: openai.Chat}, sim.Config{Quirks: sim.AllQuirks()}},
		{"completions-quirks", openai.Options{}, sim.Config{Quirks: sim.AllQuirks(), ITL: 200 * time.Microsecond}},
		{"no-stream", openai.Options{NoStream: true}, sim.Config{TTFT: time.Millisecond}},
		{"chat-no-stream", openai.Options{NoStream: true, API: openai.Chat}, sim.Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := startSim(t, tc.cfg)
			modeltest.Run(t, func(t *testing.T) model.Model {
				o := tc.opts
				o.Endpoint = l.URL
				o.ModelID = "sim"
				m, err := openai.New(o)
				if err != nil {
					t.Fatal(err)
				}
				return m
			}, modeltest.Options{ExactLength: true, Timeout: 20 * time.Second})
		})
	}
}
