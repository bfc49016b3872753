package discover

import (
	"context"
	"errors"
	"fmt"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
)

// Build returns the instance as a benchmark ready to run: its parameters
// set, adjust applied to the underlying benchmark (when not nil), and its
// name, iterations, warmup and timeout applied when it runs. Iterations
// and warmup given to the run (Env.Iterations > 0, Env.Warmup >= 0) take
// precedence over the instance's. Results carry the instance's file
// position and parameters in metadata, and any secret is scrubbed from
// error messages.
func (in *Instance) Build(reg *bench.Registry, adjust func(bench.Benchmark)) (bench.Benchmark, error) {
	b, err := in.New(reg)
	if err != nil {
		return nil, err
	}
	if adjust != nil {
		adjust(b)
	}
	return &configured{inner: b, in: in}, nil
}

// configured is a benchmark run as an instance says.
type configured struct {
	inner bench.Benchmark
	in    *Instance
}

var (
	_ bench.SetupBenchmark    = (*configured)(nil)
	_ bench.TeardownBenchmark = (*configured)(nil)
	_ bench.Applicable        = (*configured)(nil)
)

// AppliesTo forwards to the underlying benchmark when it measures only
// some models (such as scalability, which needs concurrent serving).
func (c *configured) AppliesTo(m model.Model) bool {
	if a, ok := c.inner.(bench.Applicable); ok {
		return a.AppliesTo(m)
	}
	return true
}

func (c *configured) Name() string     { return c.in.Name }
func (c *configured) Category() string { return c.inner.Category() }
func (c *configured) Unit() string     { return c.inner.Unit() }

// Unwrap returns the underlying benchmark.
func (c *configured) Unwrap() bench.Benchmark { return c.inner }

func (c *configured) env(env *bench.Env) *bench.Env {
	e := *env
	if e.Iterations <= 0 && c.in.Iterations > 0 {
		e.Iterations = c.in.Iterations
	}
	if e.Warmup < 0 && c.in.Warmup >= 0 {
		e.Warmup = c.in.Warmup
	}
	if e.Progress != nil {
		name, progress := c.in.Name, e.Progress
		e.Progress = func(ev bench.Event) {
			ev.Benchmark = name
			progress(ev)
		}
	}
	return &e
}

func (c *configured) Setup(ctx context.Context, env *bench.Env) error {
	if s, ok := c.inner.(bench.SetupBenchmark); ok {
		return scrubbed(c.in.scrub, s.Setup(ctx, c.env(env)))
	}
	return nil
}

func (c *configured) Teardown(ctx context.Context, env *bench.Env) error {
	if t, ok := c.inner.(bench.TeardownBenchmark); ok {
		return scrubbed(c.in.scrub, t.Teardown(ctx, c.env(env)))
	}
	return nil
}

func (c *configured) Run(ctx context.Context, env *bench.Env) (result.Result, error) {
	if c.in.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.in.Timeout)
		defer cancel()
	}
	res, err := c.inner.Run(ctx, c.env(env))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && c.in.Timeout > 0 && ctx.Err() != nil {
			err = fmt.Errorf("timed out after %v (timeout of %s): %w", c.in.Timeout, c.in.Pos, err)
		}
		return res, scrubbed(c.in.scrub, err)
	}
	res.BenchmarkName = c.in.Name
	if res.Metadata == nil {
		res.Metadata = map[string]any{}
	}
	res.Metadata["config_file"] = c.in.Pos.String()
	res.Metadata["benchmark"] = c.in.Benchmark
	res.Metadata["folder"] = c.in.Kind
	if len(c.in.Params) > 0 {
		res.Metadata["params"] = c.in.ParamDisplay()
	}
	if c.in.Timeout > 0 {
		res.Metadata["instance_timeout"] = c.in.Timeout.String()
	}
	if !c.in.scrub.Empty() {
		for k, v := range res.Metadata {
			if s, ok := v.(string); ok {
				res.Metadata[k] = c.in.scrub.Scrub(s)
			}
		}
	}
	return res, nil
}
