// Command piobench benchmarks inference models. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/inference-pio/piobench/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default handling, so a
		// second Ctrl-C ends the process at once.
		<-ctx.Done()
		stop()
	}()
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
