// Package bench defines what a benchmark is, runs one safely, and provides
// the standard benchmarks of the benchmark standardization guide:
// inference_speed, memory_usage, batch_processing_<N>, loading_time,
// accuracy and comprehensive_benchmark.
//
// A Benchmark measures one model and returns one result.Result. Every
// benchmark keeps all of its samples, excludes warmup iterations, and
// reports a headline value (the median unless its metadata says otherwise)
// together with a summary of the samples.
package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/sysmon"
)

// A Benchmark measures one aspect of a model.
//
// Run returns a result whose ModelName and Timestamp may be left empty: the
// caller (Execute) fills them in. A Benchmark reports failure by returning
// an error, never a zero value.
type Benchmark interface {
	Name() string
	Category() string
	Unit() string
	Run(ctx context.Context, env *Env) (result.Result, error)
}

// A SetupBenchmark prepares before Run.
type SetupBenchmark interface {
	Benchmark
	Setup(ctx context.Context, env *Env) error
}

// A TeardownBenchmark cleans up after Run. Teardown runs whenever Setup was
// attempted: after success, error, panic and cancellation.
type TeardownBenchmark interface {
	Benchmark
	Teardown(ctx context.Context, env *Env) error
}

// A Clock tells the time. Benchmarks time with it so tests can substitute a
// deterministic clock; the real one is monotonic.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// RealClock is the monotonic wall clock.
var RealClock Clock = realClock{}

// An Event reports progress within a benchmark.
type Event struct {
	Benchmark string
	Phase     string // "warmup" or "measure"
	Done      int
	Total     int
	Rate      float64 // the benchmark's current value, when it has one
	Unit      string
}

// Env is what a benchmark runs against.
type Env struct {
	// Model is the loaded model under test.
	Model model.Model
	// ModelName names the model in results.
	ModelName string
	// Open returns a fresh, unloaded instance of the same model, for
	// benchmarks that measure loading. Nil when the model cannot be
	// reopened.
	Open func(ctx context.Context) (model.Model, error)
	// Iterations is how many measured repetitions a benchmark makes
	// (benchmarks may define their own default when it is zero).
	Iterations int
	// Warmup is how many unmeasured repetitions come first; -1 means the
	// benchmark's default.
	Warmup int
	// Clock times everything; nil means RealClock.
	Clock Clock
	// Progress, when set, receives progress events.
	Progress func(Event)
	// Memory reads the resident memory of whatever runs the model; nil
	// means this process. MemoryOwner says whose memory that is.
	Memory      sysmon.Probe
	MemoryOwner string
}

func (e *Env) now() time.Time {
	if e.Clock == nil {
		return time.Now()
	}
	return e.Clock.Now()
}

func (e *Env) since(t time.Time) time.Duration { return e.now().Sub(t) }

func (e *Env) iterations(def int) int {
	if e.Iterations > 0 {
		return e.Iterations
	}
	return def
}

func (e *Env) warmup(def int) int {
	if e.Warmup >= 0 {
		return e.Warmup
	}
	return def
}

func (e *Env) progress(ev Event) {
	if e.Progress != nil {
		e.Progress(ev)
	}
}

// A PanicError is a panic recovered from a benchmark.
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string { return fmt.Sprintf("benchmark panicked: %v", p.Value) }

// Execute runs b against env: Setup (if any), Run, and Teardown (if any),
// which runs also after an error, a panic or cancellation. It always
// returns a result: a failure becomes a failed result with the error in
// its metadata. timeout bounds the whole benchmark when positive.
func Execute(ctx context.Context, b Benchmark, env *Env, timeout time.Duration) result.Result {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	res, err := execute(ctx, b, env)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %v: %w", timeout, err)
		}
		meta := map[string]any{}
		var pe *PanicError
		if errors.As(err, &pe) {
			meta["panic_stack"] = string(pe.Stack)
		}
		return result.Fail(env.ModelName, b.Name(), b.Unit(), b.Category(), err, meta)
	}
	if res.BenchmarkName == "" {
		res.BenchmarkName = b.Name()
	}
	if res.Unit == "" {
		res.Unit = b.Unit()
	}
	if res.Category == "" {
		res.Category = b.Category()
	}
	res.ModelName = env.ModelName
	if res.Timestamp.IsZero() {
		res.Timestamp = time.Now().UTC()
	}
	if res.Metadata == nil {
		res.Metadata = map[string]any{}
	}
	if _, ok := res.Metadata["status"]; !ok {
		res.Metadata["status"] = result.StatusOK
	}
	return res
}

func execute(ctx context.Context, b Benchmark, env *Env) (res result.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	if td, ok := b.(TeardownBenchmark); ok {
		defer func() {
			// Teardown gets its own short context: the benchmark's may be
			// cancelled already, and cleanup must still happen.
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			terr := callTeardown(tctx, td, env)
			if err == nil && terr != nil {
				err = fmt.Errorf("teardown: %w", terr)
			}
		}()
	}
	if su, ok := b.(SetupBenchmark); ok {
		if err := su.Setup(ctx, env); err != nil {
			return result.Result{}, fmt.Errorf("setup: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return result.Result{}, err
	}
	return b.Run(ctx, env)
}

func callTeardown(ctx context.Context, td TeardownBenchmark, env *Env) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return td.Teardown(ctx, env)
}
