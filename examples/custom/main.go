// Command custom is piobench with a user's own additions: a model driver
// (lookup), a benchmark (prompt_length_sensitivity) in a category of its
// own (robustness), and a suite that runs it. It wraps piobench's command
// line, so every piobench command works with them:
//
//	go run ./examples/custom list
//	go run ./examples/custom run --model lookup:small --suite robustness
//	go run ./examples/custom run --dir examples/custom/models
//	go run ./examples/custom test --dir examples/custom/models
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/cli"
	"github.com/inference-pio/piobench/model"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := config()
	if err != nil {
		fmt.Fprintln(stderr, "custom:", err)
		return cli.ExitUsage
	}
	return cli.MainWith(ctx, args, stdout, stderr, cfg)
}

// config builds registries that hold piobench's own drivers and
// benchmarks plus ours. Registries are values: piobench's defaults are
// left as they are.
func config() (cli.Config, error) {
	models := model.NewRegistry()
	for _, d := range model.Default.Drivers() { // ref and the other built-in drivers
		if err := models.Register(d); err != nil {
			return cli.Config{}, err
		}
	}
	if err := models.Register(LookupDriver); err != nil {
		return cli.Config{}, err
	}

	benches := bench.NewRegistry()
	if err := bench.RegisterBuiltins(benches); err != nil {
		return cli.Config{}, err
	}
	if err := benches.RegisterCategory(CategoryRobustness); err != nil {
		return cli.Config{}, err
	}
	if err := benches.Register(func() bench.Benchmark { return NewSensitivity() }); err != nil {
		return cli.Config{}, err
	}
	if err := benches.RegisterSuite("robustness", []string{"prompt_length_sensitivity"}); err != nil {
		return cli.Config{}, err
	}
	return cli.Config{Models: models, Benchmarks: benches}, nil
}
