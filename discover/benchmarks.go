package discover

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/inference-pio/piobench/bench"
)

// benchmarks reads a model folder's benchmarks/ directory.
func (l *loader) benchmarks(m *Model) {
	dir := filepath.Join(m.Dir, "benchmarks")
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		return
	}
	_, fi, ok := l.w.resolve(dir)
	if !ok {
		return
	}
	if !fi.IsDir() {
		l.errorf(Pos{File: dir}, "not a directory")
		return
	}
	byKind := map[string]bool{}
	for _, name := range l.w.entries(dir) {
		p := filepath.Join(dir, name)
		_, fi, ok := l.w.resolve(p)
		if !ok {
			continue
		}
		if !fi.IsDir() {
			if isYAML(name) {
				l.errorf(Pos{File: p}, "benchmark files belong in benchmarks/unit, benchmarks/integration or benchmarks/performance")
			}
			continue
		}
		if !contains(Kinds, name) {
			l.errorf(Pos{File: p}, "unknown benchmarks folder %q (want unit, integration or performance)", name)
			continue
		}
		byKind[name] = true
	}
	var checks []*Check
	for _, kind := range Kinds {
		if !byKind[kind] {
			continue
		}
		kdir := filepath.Join(dir, kind)
		kreal, _, ok := l.w.resolve(kdir)
		if !ok {
			continue
		}
		for _, f := range l.w.yamlFiles(kdir, kreal) {
			checks = append(checks, l.benchFile(m, kind, f)...)
		}
	}
	names := map[string]*Instance{}
	for _, in := range m.Benchmarks {
		if prev, dup := names[in.Name]; dup {
			l.errorf(in.Pos, "duplicate benchmark name %q in model %s (also %s); give one a different name", in.Name, m.Name, prev.Pos)
			continue
		}
		names[in.Name] = in
	}
	tests := map[string]*Test{}
	for _, t := range m.Tests {
		if prev, dup := tests[t.Name]; dup {
			l.errorf(t.Pos, "duplicate test name %q in model %s (also %s)", t.Name, m.Name, prev.Pos)
			continue
		}
		tests[t.Name] = t
	}
	// Checks name an instance of this model, or a registered benchmark
	// that is then run with the model's defaults for the checks alone.
	extra := map[string]*Instance{}
	for _, c := range checks {
		if in, ok := names[c.Metric]; ok {
			c.Instance = in
		} else if in, ok := extra[c.Metric]; ok {
			c.Instance = in
		} else if b, err := l.opts.Benchmarks.New(c.Metric); err == nil {
			in := &Instance{Name: c.Metric, Benchmark: c.Metric, Kind: c.kind, Pos: c.Pos, Warmup: -1,
				Category: b.Category(), Unit: b.Unit(), Model: m.Name}
			l.applyDefaults(m, in, b)
			extra[c.Metric] = in
			m.CheckOnly = append(m.CheckOnly, in)
			c.Instance = in
		} else {
			l.errorf(c.metricPos, "check: unknown benchmark %q: model %s does not declare it and it is not registered (declared: %s)",
				c.Metric, m.Name, strings.Join(sortedKeys(names), ", "))
			continue
		}
		if c.Unit != "" && c.Key == "" && !sameUnit(c.Unit, c.Instance.Unit) {
			l.errorf(c.unitPos, "check: %s is measured in %s, not %s", c.Metric, c.Instance.Unit, c.Unit)
		}
	}
}

// sameUnit compares units, ignoring case and the sec/s spelling.
func sameUnit(a, b string) bool {
	norm := func(u string) string {
		u = strings.ToLower(strings.TrimSpace(u))
		u = strings.TrimSuffix(u, "ec")
		return strings.ReplaceAll(u, " ", "")
	}
	return norm(a) == norm(b)
}

// benchFile reads one benchmark file: either one instance (a top-level
// benchmark key) or lists of benchmarks and tests.
func (l *loader) benchFile(m *Model, kind, file string) []*Check {
	data, err := readFile(file)
	if err != nil {
		l.errorf(Pos{File: file}, "%v", err)
		return nil
	}
	d := l.decoder(file)
	root := d.parse(data)
	if root == nil {
		return nil
	}
	var checks []*Check
	single := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "benchmark" {
			single = true
		}
	}
	if single {
		l.instance(d, m, kind, root)
		return nil
	}
	d.fields(root, "benchmark file",
		field{"benchmarks", false, func(k, v *yaml.Node) {
			if v.Kind != yaml.SequenceNode {
				d.errorf(v, "benchmarks: want a list, got %s", describe(v))
				return
			}
			for _, c := range v.Content {
				l.instance(d, m, kind, c)
			}
		}},
		field{"tests", false, func(k, v *yaml.Node) {
			if kind == "performance" {
				d.errorf(k, "tests belong in benchmarks/unit or benchmarks/integration, not performance")
				return
			}
			if v.Kind != yaml.SequenceNode {
				d.errorf(v, "tests: want a list, got %s", describe(v))
				return
			}
			for _, c := range v.Content {
				checks = append(checks, l.test(d, m, kind, c)...)
			}
		}},
	)
	if len(root.Content) == 0 {
		d.errorf(root, "empty benchmark file (want benchmark:, benchmarks: or tests:)")
	}
	return checks
}

// instance reads one benchmark instance.
func (l *loader) instance(d *decoder, m *Model, kind string, n *yaml.Node) {
	in := &Instance{Kind: kind, Pos: d.pos(n), Warmup: -1, Model: m.Name}
	var b bench.Benchmark
	var nameNode, paramsNode *yaml.Node
	// The benchmark key goes first: parameters depend on it.
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "benchmark" {
				v := n.Content[i+1]
				if s, ok := d.str(v, "benchmark"); ok {
					nb, err := l.opts.Benchmarks.New(s)
					if err != nil {
						d.errorf(v, "%v", err)
					} else {
						in.Benchmark, b = s, nb
					}
				}
			}
		}
	}
	ok := d.fields(n, "benchmark",
		field{"benchmark", true, func(k, v *yaml.Node) {}},
		field{"name", false, func(k, v *yaml.Node) {
			if s, ok := d.str(v, "name"); ok {
				in.Name, nameNode = s, v
			}
		}},
		field{"description", false, func(k, v *yaml.Node) { in.Description, _ = d.str(v, "description") }},
		field{"iterations", false, func(k, v *yaml.Node) { in.Iterations, _ = d.integer(v, "iterations", 1) }},
		field{"warmup", false, func(k, v *yaml.Node) {
			if w, ok := d.integer(v, "warmup", 0); ok {
				in.Warmup = w
			}
		}},
		field{"timeout", false, func(k, v *yaml.Node) { in.Timeout, _ = d.duration(v, "timeout") }},
		field{"params", false, func(k, v *yaml.Node) { paramsNode = v }},
	)
	if !ok || b == nil {
		return
	}
	if paramsNode != nil {
		c, configurable := b.(bench.Configurable)
		keys, values := d.pairs(paramsNode, "params")
		for i, k := range keys {
			if !configurable {
				d.errorf(k, "params: unknown parameter %q: %s has no parameters", k.Value, in.Benchmark)
				continue
			}
			spec, ok := c.Params()[k.Value]
			if !ok {
				known := bench.ParamNames(b)
				if len(known) == 0 {
					d.errorf(k, "params: unknown parameter %q: %s has no parameters", k.Value, in.Benchmark)
				} else {
					d.errorf(k, "params: unknown parameter %q of %s (known: %s)", k.Value, in.Benchmark, strings.Join(known, ", "))
				}
				continue
			}
			what := "params." + k.Value
			val, disp, ok := l.paramValue(d, filepath.Dir(d.file), values[i], spec, what)
			if !ok {
				continue
			}
			if err := c.Set(k.Value, val); err != nil {
				d.errorf(values[i], "%s: %v", what, err)
				continue
			}
			in.Params = append(in.Params, Param{Name: k.Value, Value: val, Display: disp, Pos: d.pos(values[i])})
		}
	}
	l.applyDefaults(m, in, b)
	if in.Name == "" {
		in.Name = b.Name()
	} else if !nameRE.MatchString(in.Name) {
		d.errorf(nameNode, "name %q: use %s", in.Name, nameRule)
	}
	in.Category, in.Unit = b.Category(), b.Unit()
	m.Benchmarks = append(m.Benchmarks, in)
}

// applyDefaults gives in the model's defaults for what it does not set.
func (l *loader) applyDefaults(m *Model, in *Instance, b bench.Benchmark) {
	if in.Iterations == 0 {
		in.Iterations = m.Defaults.Iterations
	}
	if in.Warmup < 0 {
		in.Warmup = m.Defaults.Warmup
	}
	if in.Timeout == 0 {
		in.Timeout = m.Defaults.Timeout
	}
	c, ok := b.(bench.Configurable)
	if !ok {
		return
	}
	specs := c.Params()
	set := map[string]bool{}
	for _, p := range in.Params {
		set[p.Name] = true
	}
	for _, name := range sortedKeys(m.defaults) {
		dp := m.defaults[name]
		spec, has := specs[name]
		if !has || set[name] {
			continue
		}
		if spec.Kind != dp.spec.Kind {
			l.errorf(dp.pos, "defaults.params.%s: %s's parameter %s is a %s, not a %s", name, in.Benchmark, name, spec.Kind, dp.spec.Kind)
			continue
		}
		if err := c.Set(name, dp.value); err != nil {
			l.errorf(dp.pos, "defaults.params.%s: for %s: %v", name, in.Benchmark, err)
			continue
		}
		in.Params = append(in.Params, Param{Name: name, Value: dp.value, Display: dp.display, Pos: dp.pos, Default: true})
	}
}

// SuiteInstances returns instances of the named registered benchmarks with
// the model's defaults applied, for a model folder that declares no
// benchmarks of its own.
func (m *Model) SuiteInstances(reg *bench.Registry, names []string) ([]*Instance, error) {
	if reg == nil {
		reg = bench.Default
	}
	var errs ErrorList
	l := &loader{opts: Options{Benchmarks: reg}, errs: &errs}
	var out []*Instance
	for _, n := range names {
		b, err := reg.New(n)
		if err != nil {
			return nil, err
		}
		in := &Instance{Name: b.Name(), Benchmark: n, Kind: "performance", Pos: Pos{File: m.File}, Warmup: -1,
			Category: b.Category(), Unit: b.Unit(), Model: m.Name, scrub: m.scrub}
		l.applyDefaults(m, in, b)
		out = append(out, in)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// test reads one test item and returns its checks, to be resolved once
// all of the model's benchmarks are known.
func (l *loader) test(d *decoder, m *Model, kind string, n *yaml.Node) []*Check {
	t := &Test{Kind: kind, Pos: d.pos(n), Model: m.Name}
	var nameNode, promptNode, expectNode *yaml.Node
	var checks []*Check
	hasCheck := false
	ok := d.fields(n, "test",
		field{"name", true, func(k, v *yaml.Node) {
			if s, ok := d.str(v, "name"); ok {
				t.Name, nameNode = s, v
			}
		}},
		field{"description", false, func(k, v *yaml.Node) { t.Description, _ = d.str(v, "description") }},
		field{"prompt", false, func(k, v *yaml.Node) {
			promptNode = v
			t.Prompt, _ = d.str(v, "prompt")
		}},
		field{"max_tokens", false, func(k, v *yaml.Node) { t.MaxTokens, _ = d.integer(v, "max_tokens", 1) }},
		field{"expect", false, func(k, v *yaml.Node) {
			expectNode = v
			t.Expect = l.expect(d, v)
		}},
		field{"check", false, func(k, v *yaml.Node) {
			hasCheck = true
			list := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				list = v.Content
				if len(list) == 0 {
					d.errorf(v, "check: empty list")
				}
			}
			for _, c := range list {
				s, ok := d.str(c, "check")
				if !ok {
					continue
				}
				ck, err := parseCheck(s)
				if err != nil {
					p := d.pos(c)
					if plainCol(c) {
						p.Col += err.offset
						if c.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
							p.Col++
						}
					}
					*d.errs = append(*d.errs, &Error{Pos: p, Msg: "check: " + err.msg})
					continue
				}
				ck.Pos, ck.kind = d.pos(c), kind
				ck.metricPos, ck.unitPos = ck.Pos, ck.Pos
				if plainCol(c) {
					q := 0
					if c.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
						q = 1
					}
					ck.metricPos.Col += q + ck.metricOff
					ck.unitPos.Col += q + ck.unitOff
				}
				checks = append(checks, ck)
			}
		}},
	)
	if !ok {
		return nil
	}
	if nameNode != nil && !nameRE.MatchString(t.Name) {
		d.errorf(nameNode, "test name %q: use %s", t.Name, nameRule)
	}
	switch {
	case hasCheck && (promptNode != nil || expectNode != nil):
		d.errorf(n, "test %q: a test has either prompt and expect, or check, not both", t.Name)
	case !hasCheck && promptNode == nil:
		d.errorf(n, "test %q: want prompt and expect, or check", t.Name)
	case promptNode != nil && expectNode == nil:
		d.errorf(promptNode, "test %q: a prompt needs an expect", t.Name)
	case expectNode != nil && promptNode == nil:
		d.errorf(expectNode, "test %q: expect needs a prompt", t.Name)
	}
	t.Checks = checks
	if t.MaxTokens == 0 {
		t.MaxTokens = 32
		if dp, ok := m.defaults["max_tokens"]; ok {
			if v, ok := dp.value.(int); ok {
				t.MaxTokens = v
			}
		}
	}
	m.Tests = append(m.Tests, t)
	return checks
}

// plainCol reports whether columns inside the scalar can be computed from
// its start (one line, no escapes before the point of interest assumed).
func plainCol(n *yaml.Node) bool {
	return n.Column > 0 && !strings.Contains(n.Value, "\n") && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0
}

// An Expectation is one condition on a prompt test's output.
type Expectation struct {
	// Op is contains, not_contains, equals or matches.
	Op    string
	Value string
	Pos   Pos
	re    *regexp.Regexp
}

// Match reports whether text meets the expectation; when it does not, the
// reason says why.
func (e Expectation) Match(text string) (bool, string) {
	switch e.Op {
	case "contains":
		if strings.Contains(strings.ToLower(text), strings.ToLower(e.Value)) {
			return true, ""
		}
		return false, fmt.Sprintf("output does not contain %q", e.Value)
	case "not_contains":
		if !strings.Contains(strings.ToLower(text), strings.ToLower(e.Value)) {
			return true, ""
		}
		return false, fmt.Sprintf("output contains %q", e.Value)
	case "equals":
		if strings.TrimSpace(text) == strings.TrimSpace(e.Value) {
			return true, ""
		}
		return false, fmt.Sprintf("output is not %q", e.Value)
	case "matches":
		if e.re.MatchString(text) {
			return true, ""
		}
		return false, fmt.Sprintf("output does not match /%s/", e.Value)
	}
	return false, "unknown expectation " + e.Op
}

// expect reads a test's expect mapping: contains, not_contains, equals and
// matches, each a string or a list of strings.
func (l *loader) expect(d *decoder, n *yaml.Node) []Expectation {
	var out []Expectation
	add := func(op string) func(k, v *yaml.Node) {
		return func(k, v *yaml.Node) {
			list := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				list = v.Content
			}
			for _, c := range list {
				s, ok := d.str(c, "expect."+op)
				if !ok {
					continue
				}
				if s == "" && op != "equals" {
					d.errorf(c, "expect.%s: must not be empty", op)
					continue
				}
				e := Expectation{Op: op, Value: s, Pos: d.pos(c)}
				if op == "matches" {
					re, err := regexp.Compile(s)
					if err != nil {
						d.errorf(c, "expect.matches: bad regular expression: %v", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
						continue
					}
					e.re = re
				}
				out = append(out, e)
			}
		}
	}
	if d.fields(n, "expect",
		field{"contains", false, add("contains")},
		field{"not_contains", false, add("not_contains")},
		field{"equals", false, add("equals")},
		field{"matches", false, add("matches")},
	) && len(n.Content) == 0 {
		d.errorf(n, "expect: want at least one of contains, not_contains, equals, matches")
	}
	return out
}
