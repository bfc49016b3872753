package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/openai"
	"github.com/inference-pio/piobench/runner"
)

// `piobench run --driver openai --endpoint URL --model-id NAME` benchmarks
// a model behind an OpenAI-compatible server with the standard suites
// (plus scalability, which runs only on models that serve concurrently).

const openaiHook = "openai"

// openaiFlags are the flags that reach an OpenAI-compatible server, shared
// by `run` (as a hook) and `load`.
type openaiFlags struct {
	endpoint       string
	modelID        string
	api            string
	apiKeyEnv      string
	noStream       bool
	noUsage        bool
	requestTimeout time.Duration
	stallTimeout   time.Duration
	maxResponse    int64
	fs             *pflag.FlagSet // where the flags live, to tell which were given
}

func addOpenAIFlags(fs *pflag.FlagSet, o *openaiFlags) {
	o.fs = fs
	fs.StringVar(&o.endpoint, "endpoint", "", "base URL of an OpenAI-compatible server, such as http://127.0.0.1:8000")
	fs.StringVar(&o.modelID, "model-id", "", "model id the server serves (default: the only one /v1/models lists)")
	fs.StringVar(&o.api, "api", "completions", "API to call: completions or chat")
	fs.StringVar(&o.apiKeyEnv, "api-key-env", "", "environment variable holding the API key (the key itself is never written anywhere)")
	fs.BoolVar(&o.noStream, "no-stream", false, "ask for whole answers instead of streams (TTFT then equals E2E; no ITL)")
	fs.BoolVar(&o.noUsage, "no-usage", false, "do not ask for usage in streams (stream_options.include_usage), for servers that reject it")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 0, "limit per request (0: none)")
	fs.DurationVar(&o.stallTimeout, "stall-timeout", 5*time.Minute, "fail a request after this long without a byte from the server")
	fs.Int64Var(&o.maxResponse, "max-response-bytes", 64<<20, "fail a request whose response (streamed or not) passes this many bytes")
}

// given returns the flags that were given on the command line.
func (o *openaiFlags) given() []string {
	var out []string
	for _, n := range []string{"endpoint", "model-id", "api", "api-key-env", "no-stream", "no-usage", "request-timeout", "stall-timeout", "max-response-bytes"} {
		if fl := o.fs.Lookup(n); fl != nil && fl.Changed {
			out = append(out, "--"+n)
		}
	}
	return out
}

// check validates the flags (usage errors).
func (o *openaiFlags) check() error {
	if o.endpoint == "" {
		return usagef("--endpoint is required: the server's base URL, such as http://127.0.0.1:8000")
	}
	if o.api != string(openai.Completions) && o.api != string(openai.Chat) {
		return usagef("--api %q: want completions or chat", o.api)
	}
	if o.requestTimeout < 0 {
		return usagef("--request-timeout %v: must not be negative", o.requestTimeout)
	}
	if o.stallTimeout <= 0 {
		return usagef("--stall-timeout %v: must be positive", o.stallTimeout)
	}
	if o.maxResponse <= 0 {
		return usagef("--max-response-bytes %d: must be positive", o.maxResponse)
	}
	return nil
}

// config returns the driver configuration the flags describe.
func (o *openaiFlags) config() model.Config {
	opts := map[string]string{
		"endpoint":      o.endpoint,
		"api":           o.api,
		"stream":        strconv.FormatBool(!o.noStream),
		"usage":         strconv.FormatBool(!o.noUsage),
		"stall_timeout": o.stallTimeout.String(),
	}
	if o.maxResponse > 0 {
		opts["max_response_bytes"] = strconv.FormatInt(o.maxResponse, 10)
	}
	if o.modelID != "" {
		opts["model_id"] = o.modelID
	}
	if o.apiKeyEnv != "" {
		opts["api_key_env"] = o.apiKeyEnv
	}
	if o.requestTimeout > 0 {
		opts["timeout"] = o.requestTimeout.String()
	}
	return model.Config{Options: opts}
}

// openModel opens and loads the model, so that an unreachable server, a
// wrong model id or refused credentials are reported before anything runs
// (as usage errors: the command cannot do what it was asked).
func (o *openaiFlags) openModel(ctx context.Context, cfg Config) (model.Model, error) {
	m, err := cfg.Models.Open("openai", o.config())
	if err != nil {
		return nil, asUsage(err)
	}
	wait := o.probeWait()
	lctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := m.Load(lctx); err != nil {
		m.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%s: no answer from /v1/models within %v", o.endpoint, wait)
		}
		return nil, asUsage(err)
	}
	return m, nil
}

// probeWait is how long the check of /v1/models waits for an answer: 30 s,
// or less when --stall-timeout or --request-timeout allow less.
func (o *openaiFlags) probeWait() time.Duration {
	wait := 30 * time.Second
	for _, d := range []time.Duration{o.stallTimeout, o.requestTimeout} {
		if d > 0 {
			wait = min(wait, d)
		}
	}
	return wait
}

func openaiOf(f *runFlags) *openaiFlags {
	o, _ := f.ext[openaiHook].(*openaiFlags)
	return o
}

func init() {
	addRunHook(runHook{
		name: openaiHook,
		addFlags: func(fs *pflag.FlagSet, f *runFlags) {
			o := &openaiFlags{}
			f.ext[openaiHook] = o
			addOpenAIFlags(fs, o)
		},
		check: func(cfg Config, f *runFlags) error {
			o := openaiOf(f)
			if o == nil {
				return nil
			}
			if f.driver != "openai" {
				if given := o.given(); len(given) > 0 {
					return usagef("%s is for --driver openai", given[0])
				}
				return nil
			}
			if len(f.models) > 0 || f.modelPath != "" {
				return usagef("--driver openai takes --endpoint and --model-id, not --model or --model-path")
			}
			return o.check()
		},
		targets: func(ctx context.Context, cfg Config, f *runFlags) ([]runner.Target, map[string][]string, bool, error) {
			o := openaiOf(f)
			if o == nil || f.driver != "openai" {
				return nil, nil, false, nil
			}
			m, err := o.openModel(ctx, cfg)
			if err != nil {
				return nil, nil, false, err
			}
			name := o.modelID
			if om, ok := m.(*openai.Model); ok {
				name = om.ModelID() // found by Load when not given
			}
			m.Close()
			mc := o.config()
			mc.Options["model_id"] = name
			return []runner.Target{{Name: name, Open: func(context.Context) (model.Model, error) {
				return cfg.Models.Open("openai", mc)
			}}}, nil, true, nil
		},
	})
}
