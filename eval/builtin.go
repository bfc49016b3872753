package eval

import (
	"fmt"
	"strconv"
	"strings"
)

// Smoke returns the guide's three accuracy cases (the "smoke" set),
// scored by contains.
func Smoke() []Case {
	return []Case{
		{ID: "smoke-1", Input: "What is 2+2?", Expected: []string{"4"}, Tags: []string{"arithmetic"}, Dataset: "builtin:smoke"},
		{ID: "smoke-2", Input: "Capital of France?", Expected: []string{"Paris"}, Tags: []string{"geography"}, Dataset: "builtin:smoke"},
		{ID: "smoke-3", Input: "How many continents?", Expected: []string{"7"}, Tags: []string{"geography"}, Dataset: "builtin:smoke"},
	}
}

// ArithmeticOptions shape a generated arithmetic set.
type ArithmeticOptions struct {
	N      int    // number of cases
	Seed   uint64 // the same seed gives the same cases
	Digits int    // operands have at most this many digits (1 to 6)
	Ops    string // operations to draw from: any of "+", "-", "*"
}

// DefaultArithmetic is the arithmetic set "builtin:arithmetic" names.
var DefaultArithmetic = ArithmeticOptions{N: 100, Seed: 1, Digits: 2, Ops: "+-*"}

// Name returns the built-in name that generates this set.
func (o ArithmeticOptions) Name() string {
	return fmt.Sprintf("%sarithmetic:n=%d,seed=%d,digits=%d,ops=%s", BuiltinPrefix, o.N, o.Seed, o.Digits, o.Ops)
}

// Arithmetic generates o.N questions "What is A op B?" with operands drawn
// uniformly with seed o.Seed, scored by the numeric scorer and tagged
// "arithmetic" and by operation. Subtractions never go below zero. The
// questions are distinct unless o.N is more than a quarter of the
// questions there are (len(o.Ops) * 10^(2*o.Digits)).
func Arithmetic(o ArithmeticOptions) ([]Case, error) {
	if o.N < 1 || o.N > 1_000_000 {
		return nil, fmt.Errorf("n=%d: want 1 to 1000000 cases", o.N)
	}
	if o.Digits < 1 || o.Digits > 6 {
		return nil, fmt.Errorf("digits=%d: want 1 to 6", o.Digits)
	}
	if o.Ops == "" || strings.Trim(o.Ops, "+-*") != "" {
		return nil, fmt.Errorf("ops=%q: want some of +, - and *", o.Ops)
	}
	names := map[byte]string{'+': "addition", '-': "subtraction", '*': "multiplication"}
	hi := 1
	for i := 0; i < o.Digits; i++ {
		hi *= 10
	}
	// Distinct while there are plenty to draw from (subtraction has about
	// half as many questions as the others); beyond that, some repeat.
	distinct := o.N <= len(o.Ops)*hi*hi/4
	seen := map[string]bool{}
	name := o.Name()
	r := newRand(o.Seed)
	out := make([]Case, 0, o.N)
	for i := 0; i < o.N; i++ {
		op := o.Ops[r.intn(len(o.Ops))]
		a, b := r.intn(hi), r.intn(hi)
		var v int
		switch op {
		case '+':
			v = a + b
		case '-':
			if a < b {
				a, b = b, a
			}
			v = a - b
		case '*':
			v = a * b
		}
		q := fmt.Sprintf("What is %d %c %d?", a, op, b)
		if distinct && seen[q] {
			i--
			continue
		}
		seen[q] = true
		out = append(out, Case{
			ID:       fmt.Sprintf("arithmetic-%d", i+1),
			Input:    q,
			Expected: []string{strconv.Itoa(v)},
			Scorer:   "numeric",
			Tags:     []string{"arithmetic", names[op]},
			Dataset:  name,
		})
	}
	return out, nil
}

// Builtin returns a built-in dataset by name: "smoke", or "arithmetic"
// with options "n", "seed", "digits" and "ops"
// ("arithmetic:n=500,seed=7").
func Builtin(spec string) (*Dataset, error) {
	name, opts, err := ParseSpec(spec)
	fail := func(format string, args ...any) error {
		return &DatasetError{File: BuiltinPrefix + spec, Msg: fmt.Sprintf(format, args...)}
	}
	if err != nil {
		return nil, fail("%v", err)
	}
	switch name {
	case "smoke":
		if err := opts.Only(); err != nil {
			return nil, fail("%v", err)
		}
		return &Dataset{Name: BuiltinPrefix + "smoke", Cases: Smoke()}, nil
	case "arithmetic":
		if err := opts.Only("n", "seed", "digits", "ops"); err != nil {
			return nil, fail("%v", err)
		}
		o := DefaultArithmetic
		for k, v := range opts {
			var err error
			switch k {
			case "n":
				o.N, err = strconv.Atoi(v)
			case "seed":
				o.Seed, err = strconv.ParseUint(v, 10, 64)
			case "digits":
				o.Digits, err = strconv.Atoi(v)
			case "ops":
				o.Ops = v
			}
			if err != nil {
				return nil, fail("%s=%q is not a whole number", k, v)
			}
		}
		cases, err := Arithmetic(o)
		if err != nil {
			return nil, fail("%v", err)
		}
		return &Dataset{Name: o.Name(), Cases: cases}, nil
	}
	return nil, fail("unknown built-in dataset %q (known: smoke, arithmetic)", name)
}
