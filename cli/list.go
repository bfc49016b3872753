package cli

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/inference-pio/piobench/result"
)

func init() {
	addCommand(newListCmd)
	addCommand(newVersionCmd)
}

func newListCmd(cfg Config, stdout, _ io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List models, drivers, benchmarks and suites",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "MODELS")
			for _, m := range cfg.Models.Models() {
				fmt.Fprintf(tw, "  %s\n", m)
			}
			fmt.Fprintln(tw, "\nDRIVERS")
			for _, d := range cfg.Models.Drivers() {
				fmt.Fprintf(tw, "  %s\t%s\n", d.Name, d.Doc)
			}
			fmt.Fprintln(tw, "\nBENCHMARKS\tCATEGORY\tUNIT")
			for _, n := range cfg.Benchmarks.Names() {
				probe := strings.ReplaceAll(n, "<N>", "1")
				b, err := cfg.Benchmarks.New(probe)
				if err != nil {
					return err
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", n, b.Category(), b.Unit())
			}
			fmt.Fprintln(tw, "\nSUITES")
			for _, s := range cfg.Benchmarks.Suites() {
				list, _ := cfg.Benchmarks.Suite(s)
				fmt.Fprintf(tw, "  %s\t%s\n", s, strings.Join(list, ", "))
			}
			return tw.Flush()
		},
	}
}

func newVersionCmd(_ Config, stdout, _ io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print piobench's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(stdout, "piobench %s (%s, %s/%s)\n", result.PiobenchVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
