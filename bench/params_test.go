package bench

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestParams sets every parameter of the built-in benchmarks and checks
// that it reaches the field it names, and that bad values and unknown
// names are refused.
func TestParams(t *testing.T) {
	is := NewInferenceSpeed()
	bp := NewBatchProcessing(1)
	mu := NewMemoryUsage()
	cb := NewComprehensive()
	ac := NewAccuracy()
	sc := NewScalability()
	for _, tc := range []struct {
		b     Configurable
		name  string
		value any
		check func() bool
		err   string
	}{
		{is, "prompt", "hello there", func() bool { return is.Prompt == "hello there" }, ""},
		{is, "max_tokens", 7, func() bool { return is.MaxTokens == 7 }, ""},
		{is, "max_tokens", 0, nil, "0: must be at least 1"},
		{is, "max_tokens", "7", nil, "want an integer"},
		{is, "prompt", "", nil, "must not be empty"},
		{is, "temperature", 0.5, nil, `unknown parameter "temperature" of inference_speed (known: [max_tokens prompt])`},
		{bp, "size", 32, func() bool { return bp.Size == 32 && bp.Name() == "batch_processing_32" }, ""},
		{bp, "max_tokens", 3, func() bool { return bp.MaxTokens == 3 }, ""},
		{mu, "text", "abc ", func() bool { return mu.Text == "abc " }, ""},
		{mu, "repeat", 9, func() bool { return mu.Repeat == 9 }, ""},
		{mu, "sample_interval", 2 * time.Millisecond, func() bool { return mu.SampleInterval == 2*time.Millisecond }, ""},
		{mu, "sample_interval", time.Microsecond, nil, "must be at least 100µs"},
		{cb, "input_size", 11, func() bool { return cb.InputSize == 11 }, ""},
		{ac, "cases", []Case{{"q", "a"}}, func() bool { return len(ac.Cases) == 1 && len(ac.Questions) == 0 && ac.Dataset == "inline" }, ""},
		{ac, "dataset", "builtin:arithmetic:n=7,seed=3", func() bool { return len(ac.Questions) == 7 && ac.Cases == nil }, ""},
		{ac, "system_prompt", "Answer with a number.", func() bool { return ac.Eval.System == "Answer with a number." }, ""},
		{ac, "concurrency", 4, func() bool { return ac.Eval.Concurrency == 4 }, ""},
		{ac, "seed", 42, func() bool { return ac.Eval.Seed == 42 }, ""},
		{ac, "cases", []Case{{"q", ""}}, nil, "case 1: input and expected must both be non-empty"},
		{ac, "dataset", "/nonexistent/x.jsonl", nil, "no such file"},
		{sc, "min_gain", 0.1, func() bool { return sc.MinGain == 0.1 }, ""},
		{sc, "max_concurrency", 8, func() bool { return sc.MaxConcurrency == 8 }, ""},
		{NewLoadingTime(), "cold", true, nil, `unknown parameter "cold": loading_time has no parameters`},
	} {
		err := tc.b.Set(tc.name, tc.value)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s.%s = %v: error %v, want %q", tc.b.Name(), tc.name, tc.value, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s.%s = %v: %v", tc.b.Name(), tc.name, tc.value, err)
		case !tc.check():
			t.Errorf("%s.%s = %v did not reach its field", tc.b.Name(), tc.name, tc.value)
		}
	}
	if err := is.Set("nope", 1); !errors.Is(err, ErrUnknownParam) {
		t.Errorf("unknown name: %v does not wrap ErrUnknownParam", err)
	}
	if got := ParamNames(mu); !reflect.DeepEqual(got, []string{"max_tokens", "repeat", "sample_interval", "text"}) {
		t.Errorf("ParamNames %v", got)
	}
	if spec := is.Params()["max_tokens"]; spec.Kind != ParamInt || !spec.HasMin || spec.Min != 1 || spec.Doc == "" {
		t.Errorf("spec %+v", spec)
	}
}
