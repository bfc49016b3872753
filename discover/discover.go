// Package discover reads model folders from disk: the benchmark
// standardization guide's per-model layout,
//
//	models/<name>/model.yaml
//	models/<name>/benchmarks/{unit,integration,performance}/*.yaml
//
// where model.yaml names a driver and its options, and the benchmark files
// declare benchmark instances (a registered benchmark with parameters) and
// test items (a prompt with an expectation, or a check on a benchmark's
// result). Files are validated strictly against the registries in use:
// unknown keys, unknown benchmarks and unknown parameters are errors, and
// every error names its file, line and column.
//
// Values may use environment variables as ${NAME} or ${NAME:-default}.
// Values of variables whose names look secret (…KEY, …TOKEN, …PASSWORD)
// and of options whose keys do are never shown: displays keep the
// ${NAME} form, and a Scrubber hides them in messages and results.
package discover

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/inference-pio/piobench/bench"
	"github.com/inference-pio/piobench/model"
)

// Kinds of benchmark folders, in the guide's order.
var Kinds = []string{"unit", "integration", "performance"}

// ModelFile is the name of a model folder's declaration.
const ModelFile = "model.yaml"

// Options configure Load.
type Options struct {
	// Models and Benchmarks are the registries that names resolve in;
	// nil means the defaults.
	Models     *model.Registry
	Benchmarks *bench.Registry
	// LookupEnv reads environment variables; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// OpenModels opens every model with its driver (without loading it),
	// so that drivers check their options. Errors are reported at the
	// model's driver key.
	OpenModels bool
}

// A Tree is a set of model folders.
type Tree struct {
	// Dir is the directory Load was given.
	Dir    string
	Models []*Model
	scrub  *Scrubber
}

// Scrubber returns the scrubber that hides the tree's secret values.
func (t *Tree) Scrubber() *Scrubber { return t.scrub }

// Model returns the model called name, or nil.
func (t *Tree) Model(name string) *Model {
	for _, m := range t.Models {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Names returns the models' names in order.
func (t *Tree) Names() []string {
	out := make([]string, len(t.Models))
	for i, m := range t.Models {
		out[i] = m.Name
	}
	return out
}

// A Model is one model folder.
type Model struct {
	Name        string
	Dir         string // the folder
	File        string // its model.yaml
	Description string
	Driver      string
	Preset      string
	Path        string // weights, relative paths resolved against Dir
	Tokenizer   string
	// Options are the driver options with environment variables expanded.
	// They may hold secrets: show DisplayOptions instead.
	Options map[string]string
	// DisplayOptions are the options as they may be shown: values from
	// the environment in their ${NAME} form, secret literals redacted.
	DisplayOptions map[string]string
	Tags           []string
	Defaults       Defaults
	// Benchmarks are the benchmark instances `piobench run` runs, in
	// folder order (unit, integration, performance) then file order.
	Benchmarks []*Instance
	// Tests are the test items `piobench test` runs.
	Tests []*Test
	// CheckOnly are instances made for checks that name a registered
	// benchmark the folder does not declare; only tests run them.
	CheckOnly []*Instance

	driverPos Pos
	defaults  map[string]defaultParam
	scrub     *Scrubber
}

// Defaults apply to every benchmark of a model unless the benchmark sets
// its own.
type Defaults struct {
	Iterations int           `json:"iterations,omitempty"`
	Warmup     int           `json:"warmup"` // -1: not set
	Timeout    time.Duration `json:"timeout,omitempty"`
	// Params are parameter values, as shown, applied to every benchmark
	// that has the parameter.
	Params map[string]string `json:"params,omitempty"`
}

type defaultParam struct {
	spec    bench.ParamSpec
	value   any
	display string
	pos     Pos
}

// Config returns the model.Config its driver opens.
func (m *Model) Config() model.Config {
	opts := make(map[string]string, len(m.Options))
	for k, v := range m.Options {
		opts[k] = v
	}
	return model.Config{Name: m.Name, Preset: m.Preset, Path: m.Path, Tokenizer: m.Tokenizer, Options: opts}
}

// Open opens the model with its driver, without loading it. Secrets are
// scrubbed from the error.
func (m *Model) Open(reg *model.Registry) (model.Model, error) {
	if reg == nil {
		reg = model.Default
	}
	mm, err := reg.Open(m.Driver, m.Config())
	if err != nil {
		return nil, scrubbed(m.scrub, err)
	}
	return mm, nil
}

// Scrubber returns the scrubber for the model's secrets.
func (m *Model) Scrubber() *Scrubber { return m.scrub }

// An Instance is one configured benchmark.
type Instance struct {
	// Name is the result's benchmark_name.
	Name string
	// Benchmark is the registered benchmark it configures.
	Benchmark   string
	Kind        string // unit, integration or performance
	Pos         Pos
	Description string
	Iterations  int           // 0: the benchmark's default
	Warmup      int           // -1: the benchmark's default
	Timeout     time.Duration // 0: none beyond the run's
	Params      []Param
	Category    string
	Unit        string
	Model       string

	scrub *Scrubber
}

// A Param is one parameter value of an instance.
type Param struct {
	Name string
	// Value has the Go type of the parameter's kind.
	Value any
	// Display is the value as it may be shown.
	Display string
	Pos     Pos
	// Default says the value came from the model's defaults.
	Default bool
}

// New returns a fresh benchmark with the instance's parameters set (and
// without its iterations, warmup, timeout or name: see Build).
func (in *Instance) New(reg *bench.Registry) (bench.Benchmark, error) {
	if reg == nil {
		reg = bench.Default
	}
	b, err := reg.New(in.Benchmark)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.Pos, err)
	}
	for _, p := range in.Params {
		c, ok := b.(bench.Configurable)
		if !ok {
			return nil, fmt.Errorf("%s: benchmark %s has no parameters", p.Pos, in.Benchmark)
		}
		if err := c.Set(p.Name, p.Value); err != nil {
			return nil, fmt.Errorf("%s: params.%s: %w", p.Pos, p.Name, err)
		}
	}
	return b, nil
}

// ParamDisplay returns the parameters as they may be shown.
func (in *Instance) ParamDisplay() map[string]string {
	out := make(map[string]string, len(in.Params))
	for _, p := range in.Params {
		out[p.Name] = p.Display
	}
	return out
}

// A Test is one test item: a prompt with expectations, or checks on
// benchmark results.
type Test struct {
	Name        string
	Kind        string // unit or integration
	Pos         Pos
	Description string
	Model       string
	// Prompt, MaxTokens and Expect make a prompt test.
	Prompt    string
	MaxTokens int
	Expect    []Expectation
	// Checks make a check test.
	Checks []*Check
}

// schemePrefix matches values such as builtin:smoke that a path parameter
// passes on as they are.
var schemePrefix = regexp.MustCompile(`^[a-z][a-z0-9+.-]+:`)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

const nameRule = "letters, digits, _ and -, starting with a letter or digit"

// Load reads the models tree at dir: either a folder of model folders or
// one model folder (a folder holding model.yaml). It returns every problem
// as an ErrorList; a tree with any problem is not returned.
func Load(dir string, opts Options) (*Tree, error) {
	if opts.Models == nil {
		opts.Models = model.Default
	}
	if opts.Benchmarks == nil {
		opts.Benchmarks = bench.Default
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	var errs ErrorList
	fail := func(format string, args ...any) (*Tree, error) {
		errs = append(errs, &Error{Pos: Pos{File: dir}, Msg: fmt.Sprintf(format, args...)})
		return nil, errs
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fail("%v", unwrapPath(err))
	}
	if !fi.IsDir() {
		return fail("not a directory")
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fail("%v", unwrapPath(err))
	}
	real, _ = filepath.Abs(real)
	env := &expander{lookup: opts.LookupEnv, secrets: map[string]bool{}}
	l := &loader{opts: opts, errs: &errs, env: env, params: paramIndex(opts.Benchmarks)}
	var folders []string
	if _, err := os.Lstat(filepath.Join(dir, ModelFile)); err == nil {
		// One model folder; symlinks may point anywhere in the folder
		// that holds it.
		l.w = &walker{root: filepath.Dir(real), errs: &errs}
		folders = []string{dir}
	} else {
		l.w = &walker{root: real, errs: &errs}
		for _, name := range l.w.entries(dir) {
			p := filepath.Join(dir, name)
			_, fi, ok := l.w.resolve(p)
			switch {
			case !ok:
			case fi.IsDir() && strings.HasPrefix(name, "_"):
				// Folders starting with _ are not models (shared datasets).
			case fi.IsDir():
				folders = append(folders, p)
			case isYAML(name):
				errs = append(errs, &Error{Pos: Pos{File: p}, Msg: "a model is a folder holding model.yaml, not a file"})
			}
		}
		if len(folders) == 0 && len(errs) == 0 {
			return fail("no model folders (want %s/<name>/model.yaml)", dir)
		}
	}
	t := &Tree{Dir: dir}
	byName := map[string]*Model{}
	for _, f := range folders {
		m := l.model(f)
		if m == nil {
			continue
		}
		if prev, dup := byName[m.Name]; dup {
			errs = append(errs, &Error{Pos: Pos{File: m.File, Line: 1, Col: 1},
				Msg: fmt.Sprintf("duplicate model name %q (also %s)", m.Name, prev.File)})
			continue
		}
		byName[m.Name] = m
		t.Models = append(t.Models, m)
	}
	t.scrub = newScrubber(env.secrets)
	for _, m := range t.Models {
		m.scrub = t.scrub
		for _, in := range append(append([]*Instance(nil), m.Benchmarks...), m.CheckOnly...) {
			in.scrub = t.scrub
		}
	}
	if opts.OpenModels && len(errs) == 0 {
		for _, m := range t.Models {
			mm, err := m.Open(opts.Models)
			if err != nil {
				errs = append(errs, &Error{Pos: m.driverPos, Msg: err.Error()})
				continue
			}
			mm.Close()
		}
	}
	if len(errs) > 0 {
		// Messages may quote values; none may show a secret.
		for _, e := range errs {
			e.Msg = t.scrub.Scrub(e.Msg)
		}
		errs.sort()
		return nil, errs
	}
	return t, nil
}

// paramIndex maps every parameter name of the registry's benchmarks to
// its spec, for checking defaults.
func paramIndex(reg *bench.Registry) map[string]bench.ParamSpec {
	out := map[string]bench.ParamSpec{}
	for _, n := range reg.Names() {
		b, err := reg.New(strings.ReplaceAll(n, "<N>", "1"))
		if err != nil {
			continue
		}
		if c, ok := b.(bench.Configurable); ok {
			for p, s := range c.Params() {
				if _, seen := out[p]; !seen {
					out[p] = s
				}
			}
		}
	}
	return out
}

// loader holds what Load shares between files.
type loader struct {
	opts   Options
	errs   *ErrorList
	env    *expander
	w      *walker
	params map[string]bench.ParamSpec
}

func (l *loader) decoder(file string) *decoder {
	return &decoder{file: file, errs: l.errs, env: l.env}
}

func (l *loader) errorf(p Pos, format string, args ...any) {
	*l.errs = append(*l.errs, &Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// model reads one model folder.
func (l *loader) model(dir string) *Model {
	file := filepath.Join(dir, ModelFile)
	if _, err := os.Lstat(file); err != nil {
		l.errorf(Pos{File: dir}, "no %s in the model folder (every folder in the models directory is a model; start helper folders with _)", ModelFile)
		return nil
	}
	if _, _, ok := l.w.resolve(file); !ok {
		return nil
	}
	data, err := readFile(file)
	if err != nil {
		l.errorf(Pos{File: file}, "%v", err)
		return nil
	}
	before := len(*l.errs)
	d := l.decoder(file)
	root := d.parse(data)
	if root == nil {
		return nil
	}
	m := &Model{
		Name:           filepath.Base(dir),
		Dir:            dir,
		File:           file,
		Options:        map[string]string{},
		DisplayOptions: map[string]string{},
		Defaults:       Defaults{Warmup: -1},
		defaults:       map[string]defaultParam{},
	}
	if abs, err := filepath.Abs(dir); err == nil && m.Name == "." {
		m.Name = filepath.Base(abs)
	}
	nameNode := (*yaml.Node)(nil)
	d.fields(root, "model.yaml",
		field{"name", false, func(k, v *yaml.Node) {
			if s, ok := d.str(v, "name"); ok {
				m.Name, nameNode = s, v
			}
		}},
		field{"description", false, func(k, v *yaml.Node) { m.Description, _ = d.str(v, "description") }},
		field{"driver", true, func(k, v *yaml.Node) {
			s, ok := d.str(v, "driver")
			if !ok {
				return
			}
			m.Driver, m.driverPos = s, d.pos(v)
			if _, err := l.opts.Models.Lookup(s); err != nil {
				d.errorf(v, "%v", err)
			}
		}},
		field{"preset", false, func(k, v *yaml.Node) { m.Preset, _ = d.str(v, "preset") }},
		field{"path", false, func(k, v *yaml.Node) {
			if s, ok := d.str(v, "path"); ok {
				m.Path = resolvePath(dir, s)
			}
		}},
		field{"tokenizer", false, func(k, v *yaml.Node) {
			if s, ok := d.str(v, "tokenizer"); ok {
				m.Tokenizer = resolvePath(dir, s)
			}
		}},
		field{"options", false, func(k, v *yaml.Node) { l.options(d, m, v) }},
		field{"tags", false, func(k, v *yaml.Node) { m.Tags, _ = d.strs(v, "tags") }},
		field{"defaults", false, func(k, v *yaml.Node) { l.defaults(d, m, v) }},
	)
	if !nameRE.MatchString(m.Name) {
		p := Pos{File: file}
		if nameNode != nil {
			p = d.pos(nameNode)
		}
		l.errorf(p, "model name %q: use %s", m.Name, nameRule)
	}
	if m.Driver != "" && m.Preset != "" {
		if drv, err := l.opts.Models.Lookup(m.Driver); err == nil && len(drv.Presets) > 0 && !contains(drv.Presets, m.Preset) {
			l.errorf(m.driverPos, "driver %s has no preset %q (have %s)", m.Driver, m.Preset, strings.Join(drv.Presets, ", "))
		}
	}
	if m.Driver != "" && m.driverPos.Line == 0 {
		m.driverPos = Pos{File: file, Line: root.Line, Col: root.Column}
	}
	if m.driverPos.File == "" {
		m.driverPos = Pos{File: file, Line: root.Line, Col: root.Column}
	}
	l.benchmarks(m)
	if len(*l.errs) > before {
		return nil
	}
	return m
}

// resolvePath makes a relative path relative to the model folder.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// options reads the driver options: a free mapping of names to single
// values, which the driver checks.
func (l *loader) options(d *decoder, m *Model, n *yaml.Node) {
	keys, values := d.pairs(n, "options")
	for i, k := range keys {
		v := values[i]
		what := "options." + k.Value
		s, fromEnv, ok := d.scalar(v, what)
		if !ok {
			continue
		}
		m.Options[k.Value] = s
		switch {
		case fromEnv:
			m.DisplayOptions[k.Value] = v.Value
		case IsSecretName(k.Value) && s != "":
			// A secret written into the file: hide it all the same.
			l.env.secrets[s] = true
			m.DisplayOptions[k.Value] = Redacted
		default:
			m.DisplayOptions[k.Value] = s
		}
		if fromEnv && IsSecretName(k.Value) && s != "" {
			l.env.secrets[s] = true
		}
	}
}

// defaults reads model.yaml's defaults.
func (l *loader) defaults(d *decoder, m *Model, n *yaml.Node) {
	d.fields(n, "defaults",
		field{"iterations", false, func(k, v *yaml.Node) { m.Defaults.Iterations, _ = d.integer(v, "defaults.iterations", 1) }},
		field{"warmup", false, func(k, v *yaml.Node) {
			if w, ok := d.integer(v, "defaults.warmup", 0); ok {
				m.Defaults.Warmup = w
			}
		}},
		field{"timeout", false, func(k, v *yaml.Node) { m.Defaults.Timeout, _ = d.duration(v, "defaults.timeout") }},
		field{"params", false, func(k, v *yaml.Node) {
			keys, values := d.pairs(v, "defaults.params")
			for i, k := range keys {
				spec, ok := l.params[k.Value]
				if !ok {
					d.errorf(k, "defaults.params: no benchmark has a parameter %q (known: %s)", k.Value, strings.Join(sortedKeys(l.params), ", "))
					continue
				}
				val, disp, ok := l.paramValue(d, m.Dir, values[i], spec, "defaults.params."+k.Value)
				if !ok {
					continue
				}
				if m.Defaults.Params == nil {
					m.Defaults.Params = map[string]string{}
				}
				m.Defaults.Params[k.Value] = disp
				m.defaults[k.Value] = defaultParam{spec: spec, value: val, display: disp, pos: d.pos(values[i])}
			}
		}},
	)
}

// paramValue converts a parameter's YAML value to the Go type of its kind.
func (l *loader) paramValue(d *decoder, dir string, n *yaml.Node, spec bench.ParamSpec, what string) (any, string, bool) {
	display := func(s string) string {
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
			return n.Value
		}
		return s
	}
	switch spec.Kind {
	case bench.ParamInt:
		min := int(spec.Min)
		if !spec.HasMin {
			min = -1 << 62
		}
		v, ok := d.integer(n, what, min)
		return v, display(fmt.Sprint(v)), ok
	case bench.ParamFloat:
		v, ok := d.number(n, what)
		if ok && spec.HasMin && v < spec.Min {
			d.errorf(n, "%s: %v: must be at least %v", what, v, spec.Min)
			return nil, "", false
		}
		return v, display(fmt.Sprint(v)), ok
	case bench.ParamBool:
		v, ok := d.boolean(n, what)
		return v, display(fmt.Sprint(v)), ok
	case bench.ParamDuration:
		v, ok := d.duration(n, what)
		if ok && spec.HasMin && float64(v) < spec.Min {
			d.errorf(n, "%s: %v: must be at least %v", what, v, time.Duration(spec.Min))
			return nil, "", false
		}
		return v, display(v.String()), ok
	case bench.ParamString:
		v, ok := d.str(n, what)
		return v, display(v), ok
	case bench.ParamPath:
		v, ok := d.str(n, what)
		if ok && v == "" {
			d.errorf(n, "%s: must not be empty", what)
			return nil, "", false
		}
		if schemePrefix.MatchString(v) {
			// builtin:smoke and the like name no file.
			return v, display(v), ok
		}
		return resolvePath(dir, v), display(v), ok
	case bench.ParamCases:
		return l.cases(d, n, what)
	}
	d.errorf(n, "%s: parameter of unsupported kind %q", what, spec.Kind)
	return nil, "", false
}

// cases reads a list of {input, expected}.
func (l *loader) cases(d *decoder, n *yaml.Node, what string) (any, string, bool) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: want a list of {input, expected}, got %s", what, describe(n))
		return nil, "", false
	}
	if len(n.Content) == 0 {
		d.errorf(n, "%s: no cases", what)
		return nil, "", false
	}
	var cs []bench.Case
	ok := true
	for i, c := range n.Content {
		var bc bench.Case
		w := fmt.Sprintf("%s[%d]", what, i)
		d.fields(c, w,
			field{"input", true, func(k, v *yaml.Node) { bc.Input, _ = d.str(v, w+".input") }},
			field{"expected", true, func(k, v *yaml.Node) { bc.Expected, _ = d.str(v, w+".expected") }},
		)
		if bc.Input == "" || bc.Expected == "" {
			ok = false
		}
		cs = append(cs, bc)
	}
	return cs, fmt.Sprintf("%d inline cases", len(cs)), ok
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scrubbed hides secrets in err's text, keeping err for errors.Is.
func scrubbed(s *Scrubber, err error) error {
	if err == nil || s.Empty() {
		return err
	}
	msg := s.Scrub(err.Error())
	if msg == err.Error() {
		return err
	}
	return &scrubbedError{msg: msg, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
