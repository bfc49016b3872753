// Package piobenchtest runs piobench's benchmarks from go test, so that a
// model's speed, memory and accuracy are measured by the same code as
// `piobench run` and reported by `go test -bench` like any Go benchmark:
//
//	func BenchmarkSpeed(b *testing.B) {
//		m := piobenchtest.Open(b, model.Default, "ref:15m")
//		piobenchtest.Run(b, m, "inference_speed")
//	}
//
// Run makes b.N measured iterations and reports the benchmark's value in
// its unit (tokens/sec, requests/sec, MB, seconds, ratio) and its
// percentiles through b.ReportMetric, so benchstat compares them.
package piobenchtest

import (
	"context"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
)

// An Option changes how a benchmark runs.
type Option func(*options)

type options struct {
	reg        *bench.Registry
	params     map[string]any
	name       string
	iterations int
	warmup     int
	open       func(ctx context.Context) (model.Model, error)
	clock      bench.Clock
}

// WithRegistry resolves the benchmark name in r instead of bench.Default.
func WithRegistry(r *bench.Registry) Option { return func(o *options) { o.reg = r } }

// WithParams sets parameters of a bench.Configurable benchmark, as a model
// folder's params do: {"prompt": "…", "max_tokens": 64}. Values have the
// Go type of the parameter's kind (int, float64, string, bool,
// time.Duration, []bench.Case).
func WithParams(p map[string]any) Option { return func(o *options) { o.params = p } }

// WithModelName names the model in the result (default: the model's own
// name when it describes itself, else "model").
func WithModelName(name string) Option { return func(o *options) { o.name = name } }

// WithIterations fixes the number of measured iterations (Run's default is
// b.N; Measure's is the benchmark's own).
func WithIterations(n int) Option { return func(o *options) { o.iterations = n } }

// WithWarmup sets the warmup iterations (default: the benchmark's own).
func WithWarmup(n int) Option { return func(o *options) { o.warmup = n } }

// WithOpen gives benchmarks that measure loading (loading_time) a way to
// open fresh instances of the model. Open sets it.
func WithOpen(open func(ctx context.Context) (model.Model, error)) Option {
	return func(o *options) { o.open = open }
}

// WithClock times the benchmark with c (for tests on simulated clocks).
func WithClock(c bench.Clock) Option { return func(o *options) { o.clock = c } }

// opened remembers how Open made each model, for loading_time.
var opened = struct {
	sync.Mutex
	by map[model.Model]func(ctx context.Context) (model.Model, error)
}{by: map[model.Model]func(ctx context.Context) (model.Model, error){}}

// Open opens and loads the model called name ("driver:preset") in reg (nil
// means model.Default), closes it when the test ends, and lets Run measure
// its loading time.
func Open(tb testing.TB, reg *model.Registry, name string) model.Model {
	tb.Helper()
	if reg == nil {
		reg = model.Default
	}
	open := func(ctx context.Context) (model.Model, error) { return reg.OpenName(name) }
	m, err := open(context.Background())
	if err != nil {
		tb.Fatalf("piobenchtest: %v", err)
	}
	if err := m.Load(context.Background()); err != nil {
		m.Close()
		tb.Fatalf("piobenchtest: loading %s: %v", name, err)
	}
	tb.Cleanup(func() {
		m.Close()
		opened.Lock()
		delete(opened.by, m)
		opened.Unlock()
	})
	opened.Lock()
	opened.by[m] = open
	opened.Unlock()
	return m
}

// Run runs the named benchmark on m, a loaded model, with b.N measured
// iterations, and reports its value and percentiles with b.ReportMetric.
// The timer starts when measuring starts, so ns/op is the time of one
// measured iteration. A failed benchmark fails b. Run returns the result
// for further checks.
func Run(b *testing.B, m model.Model, name string, opts ...Option) result.Result {
	b.Helper()
	o := collect(opts)
	if o.iterations == 0 {
		o.iterations = b.N
	}
	b.ReportAllocs()
	b.StopTimer()
	started := false
	r := measure(b, m, name, o, func(ev bench.Event) {
		if ev.Phase == "measure" && !started {
			started = true
			b.ResetTimer()
			b.StartTimer()
		}
	})
	b.StopTimer()
	for _, mt := range Metrics(r) {
		b.ReportMetric(mt.Value, mt.Unit)
	}
	return r
}

// Measure runs the named benchmark on m, a loaded model, with the
// benchmark's own iterations (or WithIterations), from a test or a
// benchmark, and fails tb when it fails. Use it to feed assertions on the
// result.
func Measure(tb testing.TB, m model.Model, name string, opts ...Option) result.Result {
	tb.Helper()
	return measure(tb, m, name, collect(opts), nil)
}

func collect(opts []Option) *options {
	o := &options{warmup: -1}
	for _, f := range opts {
		f(o)
	}
	if o.reg == nil {
		o.reg = bench.Default
	}
	return o
}

func measure(tb testing.TB, m model.Model, name string, o *options, progress func(bench.Event)) result.Result {
	tb.Helper()
	bm, err := o.reg.New(name)
	if err != nil {
		tb.Fatalf("piobenchtest: %v", err)
	}
	if len(o.params) > 0 {
		c, ok := bm.(bench.Configurable)
		if !ok {
			tb.Fatalf("piobenchtest: %s has no parameters", name)
		}
		keys := make([]string, 0, len(o.params))
		for k := range o.params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := c.Set(k, o.params[k]); err != nil {
				tb.Fatalf("piobenchtest: %s: %s: %v", name, k, err)
			}
		}
	}
	modelName := o.name
	if modelName == "" {
		modelName = "model"
		if d, ok := m.(model.Describer); ok && d.Info().Name != "" {
			modelName = d.Info().Name
		}
	}
	open := o.open
	if open == nil {
		opened.Lock()
		open = opened.by[m]
		opened.Unlock()
	}
	env := &bench.Env{Model: m, ModelName: modelName, Open: open, Iterations: o.iterations, Warmup: o.warmup,
		Clock: o.clock, Progress: progress}
	r := bench.Execute(tb.Context(), bm, env, 0)
	if r.Failed() {
		tb.Fatalf("piobenchtest: %s on %s failed: %s", r.BenchmarkName, modelName, r.Err())
	}
	return r
}

// A Metric is one number to report, in a unit go test accepts (no spaces).
type Metric struct {
	Value float64
	Unit  string
}

// metaMetrics are metadata numbers worth reporting, with their units.
var metaMetrics = []struct{ key, unit string }{
	{"decode_tokens_per_second", "decode-tokens/sec"},
	{"prefill_tokens_per_second", "prefill-tokens/sec"},
	{"ttft_ms_median", "ttft-ms"},
	{"output_tokens_per_sec", "output-tokens/sec"},
	{"memory_used_mb", "MB-used"},
	{"peak_memory", "peak-MB"},
	{"latency_p50", "p50-latency-sec"},
	{"latency_p99", "p99-latency-sec"},
}

// Metrics returns what Run reports for r: the value in r's unit, the 90th
// and 99th percentiles of the samples when known, and the benchmark's
// other headline numbers (decode rate, time to first token, memory used).
func Metrics(r result.Result) []Metric {
	unit := metricUnit(r.Unit)
	out := []Metric{{r.Value, unit}}
	for _, p := range []string{"p90", "p99"} {
		if v, ok := num(r.Metadata[p]); ok && r.Metadata["n"] != nil {
			if n, _ := num(r.Metadata["n"]); n > 1 {
				out = append(out, Metric{v, p + "-" + unit})
			}
		}
	}
	for _, mm := range metaMetrics {
		if v, ok := num(r.Metadata[mm.key]); ok {
			out = append(out, Metric{v, mm.unit})
		}
	}
	return out
}

func metricUnit(u string) string {
	u = strings.Join(strings.Fields(u), "-")
	if u == "" {
		return "value"
	}
	return u
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case int:
		return float64(x), true
	}
	return 0, false
}
