package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/proc"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/runner"
	"github.com/inference-pio/piobench/sysmon"
)

// `piobench run --driver proc --command "python3 my_plugin.py"` benchmarks
// a plugin in any language, run as a subprocess that speaks the JSON-lines
// protocol of docs/plugin-protocol.md. Its memory is the plugin's process
// tree's; a plugin that leaves processes behind makes the run exit 1.

const procHook = "proc"

type procFlags struct {
	command     string
	name        string
	workdir     string
	env         []string
	options     []string
	log         string
	callTimeout time.Duration
	fs          *pflag.FlagSet

	mu       sync.Mutex
	warnings []error
}

func procOf(f *runFlags) *procFlags {
	p, _ := f.ext[procHook].(*procFlags)
	return p
}

func (p *procFlags) given() []string {
	var out []string
	for _, n := range []string{"command", "name", "workdir", "env", "plugin-option", "plugin-log", "call-timeout"} {
		if fl := p.fs.Lookup(n); fl != nil && fl.Changed {
			out = append(out, "--"+n)
		}
	}
	return out
}

// config builds the plugin's configuration from the flags, checking them.
func (p *procFlags) config(f *runFlags) (proc.Config, error) {
	if strings.TrimSpace(p.command) == "" {
		return proc.Config{}, usagef("--driver proc needs --command, the command line that starts the plugin, such as --command \"python3 my_plugin.py\"")
	}
	argv, err := proc.SplitCommand(p.command)
	if err != nil {
		return proc.Config{}, usagef("--command %q: %v", p.command, err)
	}
	if p.workdir != "" {
		if fi, err := os.Stat(p.workdir); err != nil || !fi.IsDir() {
			return proc.Config{}, usagef("--workdir %s: not a directory", p.workdir)
		}
	}
	if err := proc.CheckCommand(argv, p.workdir); err != nil {
		return proc.Config{}, usagef("--command %q: %v", p.command, err)
	}
	for _, kv := range p.env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.ContainsAny(k, " \t\n") {
			return proc.Config{}, usagef("--env %q: want KEY=VALUE", kv)
		}
	}
	opts := map[string]any{}
	for _, kv := range p.options {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return proc.Config{}, usagef("--plugin-option %q: want KEY=VALUE", kv)
		}
		opts[k] = pluginOptionValue(v)
	}
	if f.modelPath != "" {
		if _, err := os.Stat(f.modelPath); err != nil {
			return proc.Config{}, usagef("--model-path: %v", errors.Unwrap(err))
		}
		opts["model_path"] = f.modelPath
	}
	if p.callTimeout < 0 {
		return proc.Config{}, usagef("--call-timeout %v: must not be negative", p.callTimeout)
	}
	return proc.Config{
		Argv: argv, Command: p.command, Name: p.name, Dir: p.workdir, Env: p.env,
		Log: p.log, LoadOptions: opts, CallTimeout: p.callTimeout,
		OnWarning: func(err error) {
			p.mu.Lock()
			p.warnings = append(p.warnings, err)
			p.mu.Unlock()
		},
	}, nil
}

// procProbe reads the plugin's process tree, and says why not in the
// plugin's words when the plugin is not running.
func procProbe(probe sysmon.Probe, main func() *proc.Model) sysmon.Probe {
	return func() (uint64, error) {
		if m := main(); m != nil {
			if err := m.NotRunning("memory"); err != nil {
				return 0, err
			}
		}
		return probe()
	}
}

// pluginOptionValue passes numbers and booleans as JSON numbers and
// booleans, anything else as a string.
func pluginOptionValue(s string) any {
	c, _ := proc.ConfigFromOptions(map[string]string{"load.v": s})
	return c.LoadOptions["v"]
}

func init() {
	addRunHook(runHook{
		name: procHook,
		addFlags: func(fs *pflag.FlagSet, f *runFlags) {
			p := &procFlags{fs: fs}
			f.ext[procHook] = p
			fs.StringVar(&p.command, "command", "", "with --driver proc: the command that starts the plugin, such as \"python3 my_plugin.py\"")
			fs.StringVar(&p.name, "name", "", "with --driver proc: the model's name in results (default: the plugin script's name)")
			fs.StringVar(&p.workdir, "workdir", "", "with --driver proc: the plugin's working directory")
			fs.StringArrayVar(&p.env, "env", nil, "with --driver proc: KEY=VALUE added to the plugin's environment (repeatable)")
			fs.StringArrayVar(&p.options, "plugin-option", nil, "with --driver proc: KEY=VALUE passed to the plugin's load (repeatable)")
			fs.StringVar(&p.log, "plugin-log", "", "with --driver proc: file the plugin's stderr is appended to (default: a temporary file, named in errors)")
			fs.DurationVar(&p.callTimeout, "call-timeout", 0, "with --driver proc: limit for one infer call (default 10m)")
		},
		check: func(cfg Config, f *runFlags) error {
			p := procOf(f)
			if p == nil {
				return nil
			}
			if f.driver != "proc" {
				if given := p.given(); len(given) > 0 {
					return usagef("%s is for --driver proc", given[0])
				}
				return nil
			}
			if len(f.models) > 0 {
				return usagef("--driver proc takes --command, not --model")
			}
			_, err := p.config(f)
			return err
		},
		targets: func(ctx context.Context, cfg Config, f *runFlags) ([]runner.Target, map[string][]string, bool, error) {
			p := procOf(f)
			if p == nil || f.driver != "proc" {
				return nil, nil, false, nil
			}
			pc, err := p.config(f)
			if err != nil {
				return nil, nil, false, err
			}
			first, err := proc.New(pc)
			if err != nil {
				return nil, nil, false, asUsage(err)
			}
			name := first.Name()
			// The model under test is the first one the runner opens; the
			// memory benchmarks read its process tree. (loading_time opens
			// more, briefly, while no memory is measured.)
			var mu sync.Mutex
			var main *proc.Model
			pid := func() int {
				mu.Lock()
				defer mu.Unlock()
				if main == nil {
					return 0
				}
				return main.PID()
			}
			t := runner.Target{
				Name: name,
				Open: func(context.Context) (model.Model, error) {
					m, err := proc.New(pc)
					if err != nil {
						return nil, err
					}
					mu.Lock()
					if main == nil {
						main = m
					}
					mu.Unlock()
					return m, nil
				},
				Memory:      procProbe(sysmon.TreeProbe(pid), func() *proc.Model { mu.Lock(); defer mu.Unlock(); return main }),
				MemoryOwner: fmt.Sprintf("the plugin's process tree (%s and its descendants)", pc.Command),
			}
			return []runner.Target{t}, nil, true, nil
		},
		begin: func(ctx context.Context, cfg Config, f *runFlags, run *result.Run) error {
			p := procOf(f)
			if p == nil || f.driver != "proc" {
				return nil
			}
			keys := make([]string, 0, len(p.env))
			for _, kv := range p.env {
				k, _, _ := strings.Cut(kv, "=")
				keys = append(keys, k) // names only: values may be secrets
			}
			sort.Strings(keys)
			run.Config["plugin"] = map[string]any{
				"command":          p.command,
				"workdir":          p.workdir,
				"env_keys":         keys,
				"options":          p.options,
				"protocol_version": proc.ProtocolVersion,
			}
			return nil
		},
		end: func(ctx context.Context, cfg Config, f *runFlags, run *result.Run, files []string, stdout, stderr io.Writer) error {
			p := procOf(f)
			if p == nil || f.driver != "proc" {
				return nil
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if len(p.warnings) == 0 {
				return nil
			}
			for _, w := range p.warnings[1:] {
				fmt.Fprintf(stderr, "piobench: %s\n", oneLine(w.Error()))
			}
			return p.warnings[0]
		},
	})
}
