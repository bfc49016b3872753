package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/inference-pio/piobench/discover"
)

func init() { addCommand(newValidateCmd) }

// loadModels reads a models tree with the command line's registries. Any
// problem is a usage error (exit 2) whose message is the first problem
// with its position.
func loadModels(cfg Config, dir string, open bool) (*discover.Tree, error) {
	t, err := discover.Load(dir, discover.Options{Models: cfg.Models, Benchmarks: cfg.Benchmarks, OpenModels: open})
	if err != nil {
		return nil, asUsage(err)
	}
	return t, nil
}

func newValidateCmd(cfg Config, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Check model folders (model.yaml and benchmark files) and list every problem with its position",
		Long: `Validate reads the models tree DIR (default models), or one model folder,
and checks every file strictly: unknown keys, drivers, benchmarks and
parameters, bad values, unset environment variables, duplicate names,
symlinks that leave the tree. Each model is opened with its driver (not
loaded) so that the driver checks its options. Every problem is printed as
FILE:LINE:COL: MESSAGE on stderr; the exit code is 2 when there is any.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "models"
			if len(args) == 1 {
				dir = args[0]
			}
			t, err := discover.Load(dir, discover.Options{Models: cfg.Models, Benchmarks: cfg.Benchmarks, OpenModels: true})
			var list discover.ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					fmt.Fprintln(stderr, e.Error())
				}
				fmt.Fprintf(stderr, "piobench: %s: %d %s\n", dir, len(list), plural(len(list), "problem", "problems"))
				return exitError{ExitUsage}
			}
			if err != nil {
				return asUsage(err)
			}
			nb, nt := 0, 0
			for _, m := range t.Models {
				nb += len(m.Benchmarks)
				nt += len(m.Tests)
			}
			fmt.Fprintf(stdout, "ok: %s: %d %s, %d %s, %d %s\n", dir,
				len(t.Models), plural(len(t.Models), "model", "models"),
				nb, plural(nb, "benchmark", "benchmarks"), nt, plural(nt, "test", "tests"))
			return nil
		},
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
