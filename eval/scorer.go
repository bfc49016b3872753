package eval

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// A Scorer decides whether a model's answer to a case is correct.
//
// Score must be safe to call from several goroutines at once. It sees the
// answer after it was cut at the first stop sequence.
type Scorer interface {
	Score(c *Case, answer string) bool
}

// A Checker is a Scorer that checks each case it will score when the
// dataset is read, so that a bad case (an invalid regular expression, an
// expected value that is not a number) is reported with its file and line
// before anything runs.
type Checker interface {
	Scorer
	Check(c *Case) error
}

// ScorerFunc adapts a function to the Scorer interface.
type ScorerFunc func(c *Case, answer string) bool

// Score implements Scorer.
func (f ScorerFunc) Score(c *Case, answer string) bool { return f(c, answer) }

// Options are a scorer's settings, written after its name in a case's
// "scorer" field: "numeric:tolerance=0.01,pick=first".
type Options map[string]string

// Only returns an error naming the first option that is not one of known.
func (o Options) Only(known ...string) error {
	for _, k := range sortedKeys(o) {
		found := false
		for _, n := range known {
			if k == n {
				found = true
			}
		}
		if !found {
			if len(known) == 0 {
				return fmt.Errorf("unknown option %q (this scorer takes none)", k)
			}
			return fmt.Errorf("unknown option %q (known: %s)", k, strings.Join(known, ", "))
		}
	}
	return nil
}

// A Factory makes a scorer with the given options; it returns an error
// for options it does not know or cannot use.
type Factory func(opts Options) (Scorer, error)

// ErrUnknownScorer is wrapped by errors for scorer names that are not
// registered.
var ErrUnknownScorer = errors.New("unknown scorer")

// A Registry holds scorers by name. A Registry is safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]Factory

	cacheMu sync.Mutex
	cache   map[string]Scorer
}

// NewRegistry returns a registry holding the built-in scorers: contains,
// exact, normalized, regex, numeric and choice.
func NewRegistry() *Registry {
	r := &Registry{m: map[string]Factory{}, cache: map[string]Scorer{}}
	for name, f := range builtinScorers {
		r.m[name] = f
	}
	return r
}

// Scorers is the default registry, used where none is given.
var Scorers = NewRegistry()

// Register adds a scorer to the default registry; see Registry.Register.
func Register(name string, f Factory) error { return Scorers.Register(name, f) }

// Register adds a scorer under name. Names are lower-case letters, digits,
// '_' and '-'; a name registered already is an error.
func (r *Registry) Register(name string, f Factory) error {
	if name == "" || strings.IndexFunc(name, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-')
	}) >= 0 {
		return fmt.Errorf("eval: scorer name %q: want lower-case letters, digits, '_' and '-'", name)
	}
	if f == nil {
		return fmt.Errorf("eval: scorer %q: nil factory", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[name]; ok {
		return fmt.Errorf("eval: scorer %q registered twice", name)
	}
	r.m[name] = f
	return nil
}

// Names returns the registered scorer names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return sortedKeys(r.m)
}

// New returns the scorer a spec names: a registered name, optionally
// followed by ':' and comma-separated key=value options. Equal specs share
// one scorer.
func (r *Registry) New(spec string) (Scorer, error) {
	spec = strings.TrimSpace(spec)
	r.cacheMu.Lock()
	s, ok := r.cache[spec]
	r.cacheMu.Unlock()
	if ok {
		return s, nil
	}
	name, opts, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	f, ok := r.m[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownScorer, name, strings.Join(r.Names(), ", "))
	}
	s, err = f(opts)
	if err != nil {
		return nil, fmt.Errorf("scorer %q: %w", spec, err)
	}
	r.cacheMu.Lock()
	r.cache[spec] = s
	r.cacheMu.Unlock()
	return s, nil
}

// ParseSpec splits "name:key=value,key=value" into the name and its
// options. A key without "=value" has the value "true".
func ParseSpec(spec string) (string, Options, error) {
	name, rest, _ := strings.Cut(strings.TrimSpace(spec), ":")
	name = strings.TrimSpace(name)
	if name == "" {
		return "", nil, fmt.Errorf("empty name in %q", spec)
	}
	opts := Options{}
	if strings.TrimSpace(rest) == "" {
		return name, opts, nil
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, hasValue := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if k == "" {
			return "", nil, fmt.Errorf("%q: empty option", spec)
		}
		if !hasValue {
			v = "true"
		}
		if _, dup := opts[k]; dup {
			return "", nil, fmt.Errorf("%q: option %q given twice", spec, k)
		}
		opts[k] = v
	}
	return name, opts, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
