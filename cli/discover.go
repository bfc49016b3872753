package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/inference-pio/piobench/discover"
)

func init() { addCommand(newDiscoverCmd) }

// discoveredTree is discover's JSON output.
type discoveredTree struct {
	Dir    string            `json:"dir"`
	Models []discoveredModel `json:"models"`
}

type discoveredModel struct {
	Name        string               `json:"name"`
	Folder      string               `json:"folder"`
	File        string               `json:"file"`
	Description string               `json:"description,omitempty"`
	Driver      string               `json:"driver"`
	Preset      string               `json:"preset,omitempty"`
	Path        string               `json:"path,omitempty"`
	Tokenizer   string               `json:"tokenizer,omitempty"`
	Options     map[string]string    `json:"options,omitempty"`
	Tags        []string             `json:"tags,omitempty"`
	Defaults    discover.Defaults    `json:"defaults"`
	Benchmarks  []discoveredInstance `json:"benchmarks"`
	Tests       []discoveredTest     `json:"tests"`
}

type discoveredInstance struct {
	Name        string            `json:"name"`
	Benchmark   string            `json:"benchmark"`
	Folder      string            `json:"folder"`
	Position    discover.Pos      `json:"position"`
	Description string            `json:"description,omitempty"`
	Category    string            `json:"category"`
	Unit        string            `json:"unit"`
	Iterations  int               `json:"iterations,omitempty"`
	Warmup      *int              `json:"warmup,omitempty"`
	Timeout     string            `json:"timeout,omitempty"`
	Params      map[string]string `json:"params,omitempty"`
	CheckOnly   bool              `json:"check_only,omitempty"`
}

type discoveredTest struct {
	Name        string        `json:"name"`
	Folder      string        `json:"folder"`
	Position    discover.Pos  `json:"position"`
	Description string        `json:"description,omitempty"`
	Type        string        `json:"type"` // prompt or check
	Prompt      string        `json:"prompt,omitempty"`
	MaxTokens   int           `json:"max_tokens,omitempty"`
	Expect      []expectation `json:"expect,omitempty"`
	Checks      []string      `json:"checks,omitempty"`
}

type expectation struct {
	Op    string `json:"op"`
	Value string `json:"value"`
}

func describeTree(t *discover.Tree) discoveredTree {
	out := discoveredTree{Dir: t.Dir, Models: []discoveredModel{}}
	for _, m := range t.Models {
		dm := discoveredModel{
			Name: m.Name, Folder: m.Dir, File: m.File, Description: m.Description,
			Driver: m.Driver, Preset: m.Preset, Path: m.Path, Tokenizer: m.Tokenizer,
			Options: m.DisplayOptions, Tags: m.Tags, Defaults: m.Defaults,
			Benchmarks: []discoveredInstance{}, Tests: []discoveredTest{},
		}
		add := func(in *discover.Instance, checkOnly bool) {
			di := discoveredInstance{Name: in.Name, Benchmark: in.Benchmark, Folder: in.Kind, Position: in.Pos,
				Description: in.Description, Category: in.Category, Unit: in.Unit, Iterations: in.Iterations,
				CheckOnly: checkOnly}
			if in.Warmup >= 0 {
				w := in.Warmup
				di.Warmup = &w
			}
			if in.Timeout > 0 {
				di.Timeout = in.Timeout.String()
			}
			if len(in.Params) > 0 {
				di.Params = in.ParamDisplay()
			}
			dm.Benchmarks = append(dm.Benchmarks, di)
		}
		for _, in := range m.Benchmarks {
			add(in, false)
		}
		for _, in := range m.CheckOnly {
			add(in, true)
		}
		for _, tt := range m.Tests {
			dt := discoveredTest{Name: tt.Name, Folder: tt.Kind, Position: tt.Pos, Description: tt.Description}
			if len(tt.Checks) > 0 {
				dt.Type = "check"
				for _, c := range tt.Checks {
					dt.Checks = append(dt.Checks, c.Source)
				}
			} else {
				dt.Type, dt.Prompt, dt.MaxTokens = "prompt", tt.Prompt, tt.MaxTokens
				for _, e := range tt.Expect {
					dt.Expect = append(dt.Expect, expectation{e.Op, e.Value})
				}
			}
			dm.Tests = append(dm.Tests, dt)
		}
		out.Models = append(out.Models, dm)
	}
	return out
}

func newDiscoverCmd(cfg Config, stdout, stderr io.Writer) *cobra.Command {
	var dir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "discover",
		Short: "List the model folders, their benchmarks and their test items",
		Long: `Discover reads the models tree (--dir, default models), validates it and
lists every model with its driver, options, benchmarks (with parameters and
file positions) and test items. Secret option values are never shown:
values from environment variables appear as ${NAME}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := loadModels(cfg, dir, false)
			if err != nil {
				return err
			}
			d := describeTree(t)
			var buf bytes.Buffer
			if asJSON {
				enc := json.NewEncoder(&buf)
				enc.SetIndent("", "  ")
				if err := enc.Encode(d); err != nil {
					return err
				}
			} else {
				printTree(&buf, d)
			}
			// Belt and braces: nothing secret leaves, whatever a value holds.
			_, err = io.WriteString(stdout, t.Scrubber().Scrub(buf.String()))
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "models", "models tree, or one model folder")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printTree(w io.Writer, d discoveredTree) {
	nb, nt := 0, 0
	for i, m := range d.Models {
		if i > 0 {
			fmt.Fprintln(w)
		}
		drv := m.Driver
		if m.Preset != "" {
			drv += ":" + m.Preset
		}
		fmt.Fprintf(w, "%s  (%s)  %s\n", m.Name, drv, m.File)
		if m.Description != "" {
			fmt.Fprintf(w, "  %s\n", m.Description)
		}
		if m.Path != "" {
			fmt.Fprintf(w, "  path: %s\n", m.Path)
		}
		if len(m.Options) > 0 {
			fmt.Fprintf(w, "  options: %s\n", kvList(m.Options))
		}
		if len(m.Tags) > 0 {
			fmt.Fprintf(w, "  tags: %s\n", strings.Join(m.Tags, ", "))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, b := range m.Benchmarks {
			what := "benchmark"
			if b.CheckOnly {
				what = "benchmark (checks only)"
			} else {
				nb++
			}
			var settings []string
			if b.Name != b.Benchmark {
				settings = append(settings, "of "+b.Benchmark)
			}
			if b.Iterations > 0 {
				settings = append(settings, fmt.Sprintf("iterations=%d", b.Iterations))
			}
			if b.Warmup != nil {
				settings = append(settings, fmt.Sprintf("warmup=%d", *b.Warmup))
			}
			if b.Timeout != "" {
				settings = append(settings, "timeout="+b.Timeout)
			}
			if len(b.Params) > 0 {
				settings = append(settings, kvList(b.Params))
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", what, b.Folder, b.Name, strings.Join(settings, " "), b.Position)
		}
		for _, t := range m.Tests {
			nt++
			var what string
			if t.Type == "check" {
				what = "check " + strings.Join(t.Checks, "; ")
			} else {
				var es []string
				for _, e := range t.Expect {
					es = append(es, fmt.Sprintf("%s %q", e.Op, e.Value))
				}
				what = fmt.Sprintf("prompt %q expect %s", t.Prompt, strings.Join(es, ", "))
			}
			fmt.Fprintf(tw, "  test\t%s\t%s\t%s\t%s\n", t.Folder, t.Name, what, t.Position)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\n%d %s, %d %s, %d %s\n", len(d.Models), plural(len(d.Models), "model", "models"),
		nb, plural(nb, "benchmark", "benchmarks"), nt, plural(nt, "test", "tests"))
}

func kvList(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := m[k]
		if strings.ContainsAny(v, " \t\"") || v == "" {
			v = fmt.Sprintf("%q", v)
		}
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, " ")
}
