package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/inference-pio/piobench/model"
)

// LookupDriver opens lookup models: a table of known answers, with a
// fixed time per prompt word and per generated word, standing in for a
// model of your own. Options: prefill_us and decode_us (microseconds per
// prompt word and per output word, defaults 20 and 100).
var LookupDriver = model.Driver{
	Name:    "lookup",
	Doc:     "example driver: answers from a table, at a fixed time per word",
	Presets: []string{"small"},
	Open: func(cfg model.Config) (model.Model, error) {
		m := &Lookup{name: cfg.Name, prefill: 20 * time.Microsecond, decode: 100 * time.Microsecond}
		if m.name == "" {
			m.name = "lookup:" + cfg.Preset
		}
		for k, v := range cfg.Options {
			us, err := strconv.Atoi(v)
			if err != nil || us < 0 {
				return nil, fmt.Errorf("lookup: option %s=%q: want microseconds (an integer, 0 or more)", k, v)
			}
			switch k {
			case "prefill_us":
				m.prefill = time.Duration(us) * time.Microsecond
			case "decode_us":
				m.decode = time.Duration(us) * time.Microsecond
			default:
				return nil, fmt.Errorf("lookup: unknown option %q (have prefill_us, decode_us)", k)
			}
		}
		return m, nil
	},
}

// answers is what a lookup model knows.
var answers = map[string]string{
	"What is 2+2?":         "4",
	"Capital of France?":   "Paris",
	"How many continents?": "7",
}

// A Lookup model answers from its table and otherwise repeats "word".
type Lookup struct {
	name            string
	prefill, decode time.Duration
	loaded          bool
}

var _ model.Describer = (*Lookup)(nil)

func (m *Lookup) Load(ctx context.Context) error { m.loaded = true; return ctx.Err() }
func (m *Lookup) Close() error                   { m.loaded = false; return nil }

func (m *Lookup) Info() model.Info {
	return model.Info{Name: m.name, Driver: "lookup", Notes: []string{"an example model: its answers come from a table"}}
}

func (m *Lookup) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	if !m.loaded {
		return model.Response{}, errors.New("lookup: Infer before Load")
	}
	start := time.Now()
	prompt := len(strings.Fields(req.Prompt))
	out, ok := answers[req.Prompt]
	if !ok {
		n := req.MaxTokens
		if n <= 0 {
			n = 16
		}
		out = strings.TrimSpace(strings.Repeat("word ", n))
	}
	words := len(strings.Fields(out))
	if err := sleep(ctx, time.Duration(prompt)*m.prefill+m.decode); err != nil {
		return model.Response{}, err
	}
	first := time.Since(start)
	if err := sleep(ctx, time.Duration(words-1)*m.decode); err != nil {
		return model.Response{}, err
	}
	return model.Response{Text: out, PromptTokens: prompt, OutputTokens: words, Start: start,
		FirstToken: first, Duration: time.Since(start), FinishReason: "stop"}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
