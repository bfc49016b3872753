package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/inference-pio/piobench/sim"
)

type simFlags struct {
	addr            string
	models          []string
	ttft, itl       time.Duration
	prefill         time.Duration
	jitter          float64
	capacity        int
	defaultMax      int
	failRate        float64
	midStreamErrors float64
	stallRate       float64
	apiKeyEnv       string
	quirks          bool
	seed            uint64
}

func init() { addCommand(newSimCmd) }

func newSimCmd(_ Config, stdout, stderr io.Writer) *cobra.Command {
	f := &simFlags{}
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Serve a simulated OpenAI-compatible model with a known latency schedule",
		Long: `Sim serves /v1/completions, /v1/chat/completions (streamed and whole, with
usage), /v1/models, /health and /metrics. Each token is written on an
absolute deadline: the first --ttft after the request arrived, each next
--itl after the one before (log-normal --jitter around each mean), slower
when more than --capacity requests are in flight. Its first line of output
is "listening on http://HOST:PORT". It serves until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSim(cmd.Context(), f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8000", "address to listen on (port 0: any free port)")
	fl.StringSliceVar(&f.models, "model-id", []string{"sim"}, "model ids to serve")
	fl.DurationVar(&f.ttft, "ttft", 50*time.Millisecond, "mean time to first token")
	fl.DurationVar(&f.itl, "itl", 10*time.Millisecond, "mean time between tokens")
	fl.DurationVar(&f.prefill, "prefill-per-token", 0, "extra time to first token per prompt token")
	fl.Float64Var(&f.jitter, "jitter", 0, "log-normal sigma of every delay around its mean (0: exact)")
	fl.IntVar(&f.capacity, "capacity", 0, "requests served at full speed; beyond it every delay stretches by in-flight/capacity (0: no limit)")
	fl.IntVar(&f.defaultMax, "default-max-tokens", 16, "output tokens when a request gives no max_tokens")
	fl.Float64Var(&f.failRate, "fail-rate", 0, "share of requests answered with HTTP 500")
	fl.Float64Var(&f.midStreamErrors, "mid-stream-error-rate", 0, "share of streams that send an error object half-way")
	fl.Float64Var(&f.stallRate, "stall-rate", 0, "share of streams that go silent half-way")
	fl.StringVar(&f.apiKeyEnv, "api-key-env", "", "require the API key held by this environment variable")
	fl.BoolVar(&f.quirks, "quirks", false, "switch on every stream quirk: CRLF, comments, data: without space, role-only and empty chunks, split writes, no [DONE]")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of jitter and failure draws")
	return cmd
}

func runSim(ctx context.Context, f *simFlags, stdout, stderr io.Writer) error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"fail-rate", f.failRate}, {"mid-stream-error-rate", f.midStreamErrors}, {"stall-rate", f.stallRate}} {
		if r.v < 0 || r.v > 1 {
			return usagef("--%s %v: want a share between 0 and 1", r.name, r.v)
		}
	}
	if f.ttft < 0 || f.itl < 0 || f.prefill < 0 || f.jitter < 0 || f.capacity < 0 {
		return usagef("--ttft, --itl, --prefill-per-token, --jitter and --capacity must not be negative")
	}
	if f.defaultMax < 1 {
		return usagef("--default-max-tokens %d: must be at least 1", f.defaultMax)
	}
	cfg := sim.Config{
		Models: f.models, TTFT: f.ttft, ITL: f.itl, PrefillPerToken: f.prefill, Jitter: f.jitter,
		Capacity: f.capacity, DefaultMaxTokens: f.defaultMax, FailRate: f.failRate,
		MidStreamErrorRate: f.midStreamErrors, StallRate: f.stallRate, Seed: f.seed,
	}
	if f.quirks {
		cfg.Quirks = sim.AllQuirks()
	}
	if f.apiKeyEnv != "" {
		k := os.Getenv(f.apiKeyEnv)
		if k == "" {
			return usagef("--api-key-env %s: the variable is not set", f.apiKeyEnv)
		}
		cfg.APIKey = k
	}
	l, err := sim.Listen(f.addr, cfg)
	if err != nil {
		return usagef("--addr %s: %v", f.addr, err)
	}
	fmt.Fprintf(stdout, "listening on %s\n", l.URL)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l.Shutdown(sctx)
	return nil
}
