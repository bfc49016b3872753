package model

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Config tells a driver which model to open.
type Config struct {
	// Name is the model's name in results. Drivers fill it in when empty.
	Name string
	// Preset is a named shape the driver knows, such as "15m" in "ref:15m".
	Preset string
	// Path is the weights file or directory, when the model has one.
	Path string
	// Tokenizer is the tokenizer file, when it is separate from the weights.
	Tokenizer string
	// Options holds driver-specific settings.
	Options map[string]string
}

// A Driver opens models of one kind.
type Driver struct {
	Name    string
	Doc     string   // one line for `piobench list`
	Presets []string // named models, used as "driver:preset"
	Open    func(cfg Config) (Model, error)
}

// ErrUnknown is wrapped by errors for names that are not registered.
var ErrUnknown = errors.New("unknown")

// A Registry holds drivers by name. The zero value is not usable; use
// NewRegistry. A Registry is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	drivers map[string]Driver
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{drivers: make(map[string]Driver)}
}

// Default is the registry that drivers register themselves into from init.
var Default = NewRegistry()

// Register adds a driver to the Default registry and panics if its name is
// taken; it is meant for init functions.
func Register(d Driver) {
	if err := Default.Register(d); err != nil {
		panic(err)
	}
}

// Register adds d. A duplicate or empty name is an error.
func (r *Registry) Register(d Driver) error {
	if d.Name == "" || d.Open == nil {
		return errors.New("model: driver needs a name and an Open function")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.drivers[d.Name]; ok {
		return fmt.Errorf("model: driver %q registered twice", d.Name)
	}
	r.drivers[d.Name] = d
	return nil
}

// Lookup returns the driver called name.
func (r *Registry) Lookup(name string) (Driver, error) {
	r.mu.RLock()
	d, ok := r.drivers[name]
	r.mu.RUnlock()
	if !ok {
		return Driver{}, fmt.Errorf("%w driver %q (known: %s)", ErrUnknown, name, strings.Join(r.Names(), ", "))
	}
	return d, nil
}

// Names returns the registered driver names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.drivers))
	for n := range r.drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Drivers returns the registered drivers, sorted by name.
func (r *Registry) Drivers() []Driver {
	names := r.Names()
	out := make([]Driver, 0, len(names))
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, n := range names {
		out = append(out, r.drivers[n])
	}
	return out
}

// Open opens a model with the named driver. It does not load it.
func (r *Registry) Open(driver string, cfg Config) (Model, error) {
	d, err := r.Lookup(driver)
	if err != nil {
		return nil, err
	}
	if cfg.Preset != "" && !contains(d.Presets, cfg.Preset) {
		return nil, fmt.Errorf("%w model %q (driver %s has: %s)", ErrUnknown,
			driver+":"+cfg.Preset, driver, presetList(d))
	}
	return d.Open(cfg)
}

// OpenName opens a model named "driver:preset", such as "ref:15m".
func (r *Registry) OpenName(name string) (Model, error) {
	driver, preset, ok := strings.Cut(name, ":")
	if !ok || preset == "" {
		return nil, fmt.Errorf("%w model %q: want DRIVER:PRESET, such as %s", ErrUnknown, name, strings.Join(r.Models(), ", "))
	}
	return r.Open(driver, Config{Preset: preset})
}

// Models returns every "driver:preset" name, sorted.
func (r *Registry) Models() []string {
	var out []string
	for _, d := range r.Drivers() {
		for _, p := range d.Presets {
			out = append(out, d.Name+":"+p)
		}
	}
	sort.Strings(out)
	return out
}

func presetList(d Driver) string {
	if len(d.Presets) == 0 {
		return "no presets"
	}
	return strings.Join(d.Presets, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
