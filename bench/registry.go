package bench

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// A Factory makes a new instance of a benchmark.
type Factory func() Benchmark

// ErrUnknown is wrapped by errors for names that are not registered.
var ErrUnknown = errors.New("unknown")

// A Registry holds benchmarks and suites by name. A Registry is safe for
// concurrent use.
type Registry struct {
	mu         sync.RWMutex
	benchmarks map[string]Factory
	families   map[string]func(n int) Benchmark // "batch_processing_" + N
	suites     map[string][]string
	categories map[string]bool
}

// NewRegistry returns a Registry holding the standard categories and no
// benchmarks.
func NewRegistry() *Registry {
	r := &Registry{
		benchmarks: map[string]Factory{},
		families:   map[string]func(int) Benchmark{},
		suites:     map[string][]string{},
		categories: map[string]bool{},
	}
	for _, c := range []string{"performance", "accuracy", "memory", "custom"} {
		r.categories[c] = true
	}
	return r
}

// Default holds the built-in benchmarks and suites.
var Default = NewRegistry()

// Register adds a benchmark under its own name. A duplicate name is an
// error, as is a category that is not registered.
func (r *Registry) Register(f Factory) error {
	b := f()
	name := b.Name()
	if name == "" {
		return errors.New("bench: benchmark with empty name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.benchmarks[name]; ok {
		return fmt.Errorf("bench: benchmark %q registered twice", name)
	}
	if !r.categories[b.Category()] {
		return fmt.Errorf("bench: benchmark %q has unregistered category %q", name, b.Category())
	}
	r.benchmarks[name] = f
	return nil
}

// RegisterFamily adds benchmarks named prefix+N for any positive N, such as
// batch_processing_32. Names registered exactly take precedence.
func (r *Registry) RegisterFamily(prefix string, f func(n int) Benchmark) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.families[prefix]; ok {
		return fmt.Errorf("bench: family %q registered twice", prefix)
	}
	r.families[prefix] = f
	return nil
}

// RegisterCategory adds a user category.
func (r *Registry) RegisterCategory(name string) error {
	if name == "" {
		return errors.New("bench: empty category")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.categories[name] {
		return fmt.Errorf("bench: category %q registered twice", name)
	}
	r.categories[name] = true
	return nil
}

// RegisterSuite adds a named list of benchmarks. Every name must resolve.
func (r *Registry) RegisterSuite(name string, benchmarks []string) error {
	for _, b := range benchmarks {
		if _, err := r.New(b); err != nil {
			return fmt.Errorf("bench: suite %q: %w", name, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.suites[name]; ok {
		return fmt.Errorf("bench: suite %q registered twice", name)
	}
	r.suites[name] = append([]string(nil), benchmarks...)
	return nil
}

// New returns a new instance of the named benchmark.
func (r *Registry) New(name string) (Benchmark, error) {
	r.mu.RLock()
	f, ok := r.benchmarks[name]
	fams := r.families
	r.mu.RUnlock()
	if ok {
		return f(), nil
	}
	for prefix, ff := range fams {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			if n, err := strconv.Atoi(rest); err == nil && n > 0 && strconv.Itoa(n) == rest {
				return ff(n), nil
			}
		}
	}
	return nil, fmt.Errorf("%w benchmark %q (known: %s)", ErrUnknown, name, strings.Join(r.Names(), ", "))
}

// Suite returns the benchmark names of a suite.
func (r *Registry) Suite(name string) ([]string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.suites[name]
	if !ok {
		return nil, fmt.Errorf("%w suite %q (known: %s)", ErrUnknown, name, strings.Join(sortedKeys(r.suites), ", "))
	}
	return append([]string(nil), s...), nil
}

// Names returns the registered benchmark names, sorted, with families shown
// as prefix+"<N>".
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := sortedKeys(r.benchmarks)
	for p := range r.families {
		names = append(names, p+"<N>")
	}
	sort.Strings(names)
	return names
}

// Suites returns the suite names, sorted.
func (r *Registry) Suites() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return sortedKeys(r.suites)
}

// Categories returns the category names, sorted.
func (r *Registry) Categories() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return sortedKeys(r.categories)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
