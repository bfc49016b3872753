// Command piobench benchmarks inference models. See README.md.
package main

import (
	"os"

	"github.com/inference-pio/piobench/cli"
)

func main() {
	os.Exit(cli.Exec(os.Args[1:]))
}
