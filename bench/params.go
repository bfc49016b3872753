package bench

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/inference-pio/piobench/eval"
)

// A ParamKind is the type of a benchmark parameter's value.
type ParamKind string

// Parameter kinds. Set receives values of these Go types: int, float64,
// string, bool, time.Duration, string (a file path, already resolved by the
// caller) and []Case.
const (
	ParamInt      ParamKind = "int"
	ParamFloat    ParamKind = "float"
	ParamString   ParamKind = "string"
	ParamBool     ParamKind = "bool"
	ParamDuration ParamKind = "duration"
	ParamPath     ParamKind = "path"
	ParamCases    ParamKind = "cases"
)

// A ParamSpec describes one parameter that a configuration file may set on
// a benchmark.
type ParamSpec struct {
	Kind ParamKind
	Doc  string
	// Min is the smallest allowed value of an int, float or duration
	// parameter, when HasMin is set.
	Min    float64
	HasMin bool
}

// A Configurable benchmark has named parameters that can be set before it
// runs, such as inference_speed's prompt and max_tokens. Model folders use
// it to apply the parameters their benchmark files give; benchmarks that
// users write may implement it too.
//
// Params describes every parameter. Set assigns one; v has the Go type of
// the parameter's kind, and an out-of-range value is an error (whose text
// names no file: the caller adds the position).
type Configurable interface {
	Benchmark
	Params() map[string]ParamSpec
	Set(name string, v any) error
}

// ErrUnknownParam is wrapped by Set for names that are not parameters.
var ErrUnknownParam = errors.New("unknown parameter")

// ParamNames returns the names of b's parameters, sorted; none when b is
// not Configurable.
func ParamNames(b Benchmark) []string {
	c, ok := b.(Configurable)
	if !ok {
		return nil
	}
	var names []string
	for n := range c.Params() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// param is one parameter of a built-in benchmark: its spec and how to set
// it.
type param struct {
	spec ParamSpec
	set  func(v any) error
}

// params is the parameter table of one benchmark instance.
type params map[string]param

func (p params) specs() map[string]ParamSpec {
	out := make(map[string]ParamSpec, len(p))
	for n, x := range p {
		out[n] = x.spec
	}
	return out
}

func (p params) set(bench, name string, v any) error {
	x, ok := p[name]
	if !ok {
		names := make([]string, 0, len(p))
		for n := range p {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return fmt.Errorf("%w %q: %s has no parameters", ErrUnknownParam, name, bench)
		}
		return fmt.Errorf("%w %q of %s (known: %v)", ErrUnknownParam, name, bench, names)
	}
	return x.set(v)
}

// The setters check the value's type (a caller that converts by the spec's
// kind never fails this) and its range.

func intParam(doc string, min int, dst *int) param {
	return param{ParamSpec{Kind: ParamInt, Doc: doc, Min: float64(min), HasMin: true}, func(v any) error {
		n, ok := v.(int)
		if !ok {
			return fmt.Errorf("want an integer, got %T", v)
		}
		if n < min {
			return fmt.Errorf("%d: must be at least %d", n, min)
		}
		*dst = n
		return nil
	}}
}

func stringParam(doc string, nonEmpty bool, dst *string) param {
	return param{ParamSpec{Kind: ParamString, Doc: doc}, func(v any) error {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, got %T", v)
		}
		if nonEmpty && s == "" {
			return errors.New("must not be empty")
		}
		*dst = s
		return nil
	}}
}

func durationParam(doc string, min time.Duration, dst *time.Duration) param {
	return param{ParamSpec{Kind: ParamDuration, Doc: doc, Min: float64(min), HasMin: true}, func(v any) error {
		d, ok := v.(time.Duration)
		if !ok {
			return fmt.Errorf("want a duration, got %T", v)
		}
		if d < min {
			return fmt.Errorf("%v: must be at least %v", d, min)
		}
		*dst = d
		return nil
	}}
}

func (b *InferenceSpeed) table() params {
	return params{
		"prompt":     stringParam("the prompt sent in every request", true, &b.Prompt),
		"max_tokens": intParam("tokens to generate per request", 1, &b.MaxTokens),
	}
}

// Params implements Configurable.
func (b *InferenceSpeed) Params() map[string]ParamSpec { return b.table().specs() }

// Set implements Configurable.
func (b *InferenceSpeed) Set(name string, v any) error { return b.table().set(b.Name(), name, v) }

func (b *BatchProcessing) table() params {
	return params{
		"size":       intParam("requests per batch (also sets the name, batch_processing_<size>)", 1, &b.Size),
		"max_tokens": intParam("tokens to generate per request", 1, &b.MaxTokens),
	}
}

// Params implements Configurable.
func (b *BatchProcessing) Params() map[string]ParamSpec { return b.table().specs() }

// Set implements Configurable. Setting size renames the benchmark.
func (b *BatchProcessing) Set(name string, v any) error { return b.table().set(b.Name(), name, v) }

func (b *MemoryUsage) table() params {
	return params{
		"text":            stringParam("text repeated to make the long input", true, &b.Text),
		"repeat":          intParam("how many times the text is repeated (at most; shortened to fit the model's context)", 1, &b.Repeat),
		"max_tokens":      intParam("tokens to generate", 1, &b.MaxTokens),
		"sample_interval": durationParam("time between memory samples", 100*time.Microsecond, &b.SampleInterval),
	}
}

// Params implements Configurable.
func (b *MemoryUsage) Params() map[string]ParamSpec { return b.table().specs() }

// Set implements Configurable.
func (b *MemoryUsage) Set(name string, v any) error { return b.table().set(b.Name(), name, v) }

func (b *Comprehensive) table() params {
	return params{
		"input_size": intParam("requests in the run (iterations, when given, take precedence)", 1, &b.InputSize),
		"max_tokens": intParam("tokens to generate per request", 1, &b.MaxTokens),
	}
}

// Params implements Configurable.
func (b *Comprehensive) Params() map[string]ParamSpec { return b.table().specs() }

// Set implements Configurable.
func (b *Comprehensive) Set(name string, v any) error { return b.table().set(b.Name(), name, v) }

func (b *Accuracy) table() params {
	return params{
		"max_tokens":    intParam("tokens to generate per case", 1, &b.MaxTokens),
		"system_prompt": stringParam("system prompt sent with every case", false, &b.Eval.System),
		"concurrency":   intParam("cases in flight at once, for models that serve concurrently or batch", 1, &b.Eval.Concurrency),
		"seed":          intParam64("seed sent with every request", &b.Eval.Seed),
		"cases": {ParamSpec{Kind: ParamCases, Doc: "the cases, as a list of {input, expected}"}, func(v any) error {
			cs, ok := v.([]Case)
			if !ok {
				return fmt.Errorf("want a list of cases, got %T", v)
			}
			if len(cs) == 0 {
				return errors.New("no cases")
			}
			for i, c := range cs {
				if c.Input == "" || c.Expected == "" {
					return fmt.Errorf("case %d: input and expected must both be non-empty", i+1)
				}
			}
			b.Cases, b.Questions, b.Dataset = cs, nil, "inline"
			return nil
		}},
		"dataset": {ParamSpec{Kind: ParamPath, Doc: "a JSONL dataset file, or a built-in set such as builtin:arithmetic:n=50"}, func(v any) error {
			path, ok := v.(string)
			if !ok {
				return fmt.Errorf("want a file path, got %T", v)
			}
			ds, err := eval.Load(path, nil, "")
			if err != nil {
				return err
			}
			b.Questions, b.Cases, b.Dataset = ds.Cases, nil, ds.Name
			return nil
		}},
	}
}

func intParam64(doc string, dst *int64) param {
	return param{ParamSpec{Kind: ParamInt, Doc: doc}, func(v any) error {
		n, ok := v.(int)
		if !ok {
			return fmt.Errorf("want an integer, got %T", v)
		}
		*dst = int64(n)
		return nil
	}}
}

// Params implements Configurable.
func (b *Accuracy) Params() map[string]ParamSpec { return b.table().specs() }

// Set implements Configurable.
func (b *Accuracy) Set(name string, v any) error { return b.table().set(b.Name(), name, v) }

func floatParam(doc string, min float64, dst *float64) param {
	return param{ParamSpec{Kind: ParamFloat, Doc: doc, Min: min, HasMin: true}, func(v any) error {
		f, ok := v.(float64)
		if !ok {
			if n, isInt := v.(int); isInt {
				f, ok = float64(n), true
			}
		}
		if !ok {
			return fmt.Errorf("want a number, got %T", v)
		}
		if f < min {
			return fmt.Errorf("%v: must be at least %v", f, min)
		}
		*dst = f
		return nil
	}}
}

func (b *Scalability) table() params {
	return params{
		"max_concurrency": intParam("highest concurrency tried", 1, &b.MaxConcurrency),
		"min_gain":        floatParam("relative throughput gain that counts as still scaling, such as 0.05", 0, &b.MinGain),
		"rounds":          intParam("requests per level = rounds × concurrency", 1, &b.Rounds),
		"max_tokens":      intParam("tokens to generate per request", 1, &b.MaxTokens),
		"prompt_words":    intParam("words in the synthetic prompt", 1, &b.PromptWords),
	}
}

// Params implements Configurable.
func (b *Scalability) Params() map[string]ParamSpec { return b.table().specs() }

// Set implements Configurable.
func (b *Scalability) Set(name string, v any) error { return b.table().set(b.Name(), name, v) }

// Params implements Configurable: loading_time has none.
func (b *LoadingTime) Params() map[string]ParamSpec { return map[string]ParamSpec{} }

// Set implements Configurable.
func (b *LoadingTime) Set(name string, v any) error { return params{}.set(b.Name(), name, v) }

var (
	_ Configurable = (*InferenceSpeed)(nil)
	_ Configurable = (*BatchProcessing)(nil)
	_ Configurable = (*MemoryUsage)(nil)
	_ Configurable = (*Comprehensive)(nil)
	_ Configurable = (*Accuracy)(nil)
	_ Configurable = (*LoadingTime)(nil)
	_ Configurable = (*Scalability)(nil)
)
