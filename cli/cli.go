// Package cli is piobench's command line. Main runs it in-process with
// explicit arguments and writers, so it is tested like any function, and
// so that users can wrap it in their own main with extra drivers and
// benchmarks registered (see Config).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/model"
	_ "github.com/inference-pio/piobench/model/ref" // the embedded reference model
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailed      = 1 // a benchmark failed or a regression was found
	ExitUsage       = 2 // bad flags, names, files or configuration
	ExitInterrupted = 130
)

// Config holds the registries the command line uses.
type Config struct {
	Models     *model.Registry
	Benchmarks *bench.Registry

	args []string // the command line, set by MainWith
}

// DefaultConfig uses the package-level default registries.
func DefaultConfig() Config {
	return Config{Models: model.Default, Benchmarks: bench.Default}
}

// A usageError is a problem with what the user asked for: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// asUsage marks err as a usage error (nil stays nil).
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// exitError carries an exit code without a message of its own (the command
// has already reported).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Main runs the piobench command line with the default registries and
// returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return MainWith(ctx, args, stdout, stderr, DefaultConfig())
}

// MainWith runs the command line with the given registries.
func MainWith(ctx context.Context, args []string, stdout, stderr io.Writer, cfg Config) int {
	cfg.args = append([]string(nil), args...)
	root := newRoot(cfg, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(stderr, "piobench: "+oneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) || isFlagError(err) {
		return ExitUsage
	}
	return ExitFailed
}

// isFlagError recognises cobra's and pflag's parsing errors, which are
// usage errors.
func isFlagError(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand", "flag needs an argument", "invalid argument", "unknown command", "accepts ", "requires at least", "bad flag syntax", "if any flags in the group"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// oneLine keeps an error message to one line, fit for a terminal (see
// printable).
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return printable(s)
}

func newRoot(cfg Config, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "piobench",
		Short:         "Benchmark inference models: speed, latency, memory, loading time and accuracy",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	for _, c := range commands {
		root.AddCommand(c(cfg, stdout, stderr))
	}
	return root
}

// A command makes one subcommand. Each subcommand's file adds its maker to
// commands from init, so subcommands live in files of their own.
type command func(cfg Config, stdout, stderr io.Writer) *cobra.Command

var commands []command

func addCommand(c command) { commands = append(commands, c) }

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
