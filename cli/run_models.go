package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/discover"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/runner"
)

// Model folders in `piobench run`: --dir models runs every model folder of
// a tree, --dir models/NAME one folder, --model NAME (a folder name, not
// DRIVER:PRESET) selects folders, and a plain `piobench run` runs every
// folder of ./models when that directory exists (and ref:15m otherwise).

const modelsHook = "models"

// modelsState is the hook's per-command state, kept in f.ext.
type modelsState struct {
	dir    string // --dir
	active bool   // this run runs model folders
	// suite and benchmarks are the --suite and --benchmark the user gave;
	// with model folders they filter the folders' benchmarks (and may name
	// folder kinds and instance names, which the registry does not know).
	suite      string
	benchmarks []string
	tree       *discover.Tree
	selected   map[string][]*discover.Instance
}

func init() {
	addRunHook(runHook{
		name: modelsHook,
		addFlags: func(fs *pflag.FlagSet, f *runFlags) {
			st := &modelsState{}
			f.ext[modelsHook] = st
			fs.StringVar(&st.dir, "dir", "", "run the model folders of this tree (models/), or one model folder (models/NAME); default: ./models when it exists")
		},
		check:   checkModels,
		targets: modelTargets,
		begin:   beginModels,
	})
}

func modelsOf(f *runFlags) *modelsState {
	st, _ := f.ext[modelsHook].(*modelsState)
	return st
}

// folderMode decides whether this run runs model folders, and from where.
func folderMode(f *runFlags, st *modelsState) (string, bool) {
	if st.dir != "" {
		return st.dir, true
	}
	if f.modelPath != "" {
		return "", false
	}
	fi, err := os.Stat("models")
	if err != nil || !fi.IsDir() {
		return "", false
	}
	if len(f.models) == 0 {
		return "models", true
	}
	for _, n := range f.models {
		if !strings.Contains(n, ":") {
			return "models", true
		}
	}
	return "", false
}

func checkModels(cfg Config, f *runFlags) error {
	st := modelsOf(f)
	if st == nil {
		return nil
	}
	dir, ok := folderMode(f, st)
	if !ok {
		return nil
	}
	switch {
	case f.modelPath != "":
		return usagef("--dir and --model-path cannot be used together")
	case f.driver != "":
		return usagef("--driver is for --model-path; a model folder names its driver in model.yaml")
	case len(f.datasets) > 0:
		return usagef("--dataset: with model folders, set the dataset in a benchmark file (params: {dataset: FILE})")
	}
	for _, n := range f.models {
		if strings.Contains(n, ":") {
			return usagef("--model %s: with model folders (%s), --model names a folder; DRIVER:PRESET models run without them", n, dir)
		}
	}
	// The registry does not know folder kinds or instance names: keep
	// --suite and --benchmark for filtering, and let run's own checks see
	// the full suite.
	st.dir, st.active = dir, true
	st.suite, st.benchmarks = f.suite, f.benchmarks
	f.suite, f.benchmarks = "full", nil
	return nil
}

// modelTargets loads and validates the tree, selects models and their
// benchmarks, and opens each model once (without loading it) so that
// every problem shows before anything runs.
func modelTargets(ctx context.Context, cfg Config, f *runFlags) ([]runner.Target, map[string][]string, bool, error) {
	st := modelsOf(f)
	if st == nil || !st.active {
		return nil, nil, false, nil
	}
	t, err := loadModels(cfg, st.dir, false)
	if err != nil {
		return nil, nil, false, err
	}
	st.tree = t
	models := t.Models
	if len(f.models) > 0 {
		models = nil
		for _, n := range f.models {
			m := t.Model(n)
			if m == nil {
				return nil, nil, false, usagef("--model %s: no such model folder in %s (have %s)", n, st.dir, strings.Join(t.Names(), ", "))
			}
			models = append(models, m)
		}
	}
	st.selected = map[string][]*discover.Instance{}
	matched := map[string]bool{}
	var ts []runner.Target
	notes := map[string][]string{}
	for _, m := range models {
		ins, err := selectInstances(cfg, m, st, matched)
		if err != nil {
			return nil, nil, false, err
		}
		if len(ins) == 0 {
			continue
		}
		facts := make([]bench.Factory, 0, len(ins))
		for _, in := range ins {
			if _, err := in.Build(cfg.Benchmarks, nil); err != nil {
				return nil, nil, false, err
			}
			in := in
			facts = append(facts, func() bench.Benchmark {
				b, err := in.Build(cfg.Benchmarks, func(b bench.Benchmark) {
					for _, h := range runHooks {
						if h.configure != nil {
							h.configure(f, b)
						}
					}
				})
				if err != nil {
					return failing{in: in, err: err}
				}
				return b
			})
		}
		mm, err := m.Open(cfg.Models)
		if err != nil {
			return nil, nil, false, fmt.Errorf("%s: %w", m.File, err)
		}
		if d, ok := mm.(model.Describer); ok {
			notes[m.Name] = d.Info().Notes
		}
		mm.Close()
		m := m
		st.selected[m.Name] = ins
		ts = append(ts, runner.Target{
			Name:       m.Name,
			Benchmarks: facts,
			Open: func(context.Context) (model.Model, error) {
				return m.Open(cfg.Models)
			},
		})
	}
	for _, b := range st.benchmarks {
		if !matched[b] {
			return nil, nil, false, usagef("--benchmark %s: no selected model folder has it", b)
		}
	}
	if len(ts) == 0 {
		return nil, nil, false, usagef("nothing to run: no benchmark of the model folders in %s matches --suite %s", st.dir, st.suite)
	}
	return ts, notes, true, nil
}

// selectInstances returns the benchmarks of m that --suite and
// --benchmark select. A folder that declares no benchmarks runs the
// registry's suite (or --benchmark list) with the folder's defaults.
func selectInstances(cfg Config, m *discover.Model, st *modelsState, matched map[string]bool) ([]*discover.Instance, error) {
	declared := m.Benchmarks
	if len(declared) == 0 {
		var names []string
		if len(st.benchmarks) > 0 {
			for _, b := range st.benchmarks {
				if _, err := cfg.Benchmarks.New(b); err == nil {
					names = append(names, b)
				}
			}
		} else if list, err := cfg.Benchmarks.Suite(st.suite); err == nil {
			names = list
		} else if !contains(discover.Kinds, st.suite) && !isCategory(cfg, st.suite) {
			return nil, asUsage(err)
		}
		ins, err := m.SuiteInstances(cfg.Benchmarks, names)
		if err != nil {
			return nil, asUsage(err)
		}
		for _, b := range names {
			matched[b] = true
		}
		return ins, nil
	}
	if len(st.benchmarks) > 0 {
		var out []*discover.Instance
		for _, in := range declared {
			for _, b := range st.benchmarks {
				if in.Name == b || in.Benchmark == b {
					matched[b] = true
					out = append(out, in)
					break
				}
			}
		}
		return out, nil
	}
	if st.suite == "full" {
		return declared, nil
	}
	suite, suiteErr := cfg.Benchmarks.Suite(st.suite)
	if suiteErr != nil && !contains(discover.Kinds, st.suite) && !isCategory(cfg, st.suite) {
		return nil, usagef("unknown suite %q: want a registered suite (%s), a folder (unit, integration, performance) or a category (%s)",
			st.suite, strings.Join(cfg.Benchmarks.Suites(), ", "), strings.Join(cfg.Benchmarks.Categories(), ", "))
	}
	var out []*discover.Instance
	for _, in := range declared {
		if in.Kind == st.suite || in.Category == st.suite || contains(suite, in.Benchmark) {
			out = append(out, in)
		}
	}
	return out, nil
}

func isCategory(cfg Config, s string) bool { return contains(cfg.Benchmarks.Categories(), s) }

// beginModels records the folders in the run's configuration.
func beginModels(ctx context.Context, cfg Config, f *runFlags, run *result.Run) error {
	st := modelsOf(f)
	if st == nil || !st.active || st.tree == nil {
		return nil
	}
	run.Config["models_dir"] = st.dir
	run.Config["suite"] = st.suite
	if len(st.benchmarks) > 0 {
		run.Config["benchmark_filter"] = st.benchmarks
	}
	benches := map[string][]string{}
	folders := map[string]any{}
	for _, m := range st.tree.Models {
		ins, ok := st.selected[m.Name]
		if !ok {
			continue
		}
		var names []string
		for _, in := range ins {
			names = append(names, in.Name)
		}
		benches[m.Name] = names
		folders[m.Name] = map[string]any{
			"file":    m.File,
			"driver":  m.Driver,
			"preset":  m.Preset,
			"options": m.DisplayOptions,
			"tags":    m.Tags,
		}
	}
	run.Config["benchmarks"] = benches
	run.Config["model_folders"] = folders
	return nil
}

// failing stands in for an instance that could not be built (its dataset
// vanished since validation, say): it fails with the reason.
type failing struct {
	in  *discover.Instance
	err error
}

func (b failing) Name() string     { return b.in.Name }
func (b failing) Category() string { return b.in.Category }
func (b failing) Unit() string     { return b.in.Unit }
func (b failing) Run(context.Context, *bench.Env) (result.Result, error) {
	return result.Result{}, b.err
}
