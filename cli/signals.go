package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Exec runs the command line as a program does: the first SIGINT or
// SIGTERM cancels the context (running benchmarks stop, finished results
// are written, and the exit code is 130); after it the default handling is
// restored, so a second signal ends the process at once.
func Exec(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	return Main(ctx, args, os.Stdout, os.Stderr)
}
