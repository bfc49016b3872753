package cli

import (
	"context"
	"io"

	"github.com/spf13/pflag"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/runner"
)

// A runHook extends `piobench run` from a file of its own (history
// recording, journals, drivers' flags, model folders, accuracy options), so
// that features do not all edit run.go. Each field is optional. Hooks run
// in the order they were added.
type runHook struct {
	// name identifies the hook in messages.
	name string
	// addFlags adds the hook's flags to the run command. The hook keeps
	// its flag values in f.ext[name] (never in package variables: Main may
	// run many times in one process).
	addFlags func(fs *pflag.FlagSet, f *runFlags)
	// check validates flags before anything happens; an error is a usage
	// error (exit 2) and nothing is written.
	check func(cfg Config, f *runFlags) error
	// targets resolves the models to run when the hook's flags ask for it;
	// ok false means the hook does not apply and the next one (or the
	// default: --model / --model-path) decides. An error is a usage error.
	targets func(ctx context.Context, cfg Config, f *runFlags) (ts []runner.Target, notes map[string][]string, ok bool, err error)
	// configure adjusts each benchmark instance before it runs.
	configure func(f *runFlags, b bench.Benchmark)
	// begin runs once the run is set up, before any benchmark; an error
	// stops the run before anything runs (exit 2).
	begin func(ctx context.Context, cfg Config, f *runFlags, run *result.Run) error
	// onResult sees each result as soon as it exists.
	onResult func(f *runFlags, r result.Result)
	// end runs after the result files are written, with their paths.
	end func(ctx context.Context, cfg Config, f *runFlags, run *result.Run, files []string, stdout, stderr io.Writer) error
}

var runHooks []runHook

// addRunHook registers a hook; call it from init.
func addRunHook(h runHook) { runHooks = append(runHooks, h) }
