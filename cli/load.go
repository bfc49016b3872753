package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/inference-pio/piobench/load"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/openai"
	"github.com/inference-pio/piobench/result"
)

type loadFlags struct {
	srv          openaiFlags
	concurrency  string
	rate         string
	arrival      string
	requests     int
	duration     time.Duration
	warmup       int
	promptTokens int
	dataset      string
	maxTokens    int
	ignoreEOS    bool
	slo          string
	saveRequests string
	out          string
	seed         uint64
	quiet        bool
}

func init() { addCommand(newLoadCmd) }

func newLoadCmd(cfg Config, stdout, stderr io.Writer) *cobra.Command {
	f := &loadFlags{}
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Measure a server under load: TTFT, ITL, TPOT, E2E, throughput and goodput per load level",
		Long: `Load sends requests to an OpenAI-compatible server at each load level and
writes one set of results per level (ttft_*, itl_*, tpot_*, e2e_* in ms,
output_throughput, request_throughput, goodput, error_rate) as JSON and CSV.

Closed loop: --concurrency 1,4,16,64 keeps that many requests in flight.
Open loop: --rate 10,50,inf sends that many requests per second on a
precomputed schedule (--arrival poisson or constant) and measures latency
from each request's intended send time.

Exit code 0: measured (failed requests are counted in error_rate); 1: a
level where every request failed; 2: bad flags, input or an endpoint that
cannot be used; 130: interrupted (finished levels are still written).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLoad(cmd, cfg, f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	addOpenAIFlags(fl, &f.srv)
	fl.StringVar(&f.concurrency, "concurrency", "", "closed loop: requests in flight at once, a list such as 1,4,16,64 (default 1)")
	fl.StringVar(&f.rate, "rate", "", "open loop: requests per second, a list such as 10,50,inf")
	fl.StringVar(&f.arrival, "arrival", "poisson", "open-loop spacing: poisson or constant")
	fl.IntVar(&f.requests, "requests", 0, "measured requests per level (default 100 unless --duration)")
	fl.DurationVar(&f.duration, "duration", 0, "send for this long per level instead of a number of requests")
	fl.IntVar(&f.warmup, "warmup", 0, "unmeasured requests before each level")
	fl.IntVar(&f.promptTokens, "prompt-tokens", 128, "synthetic prompts of about this many tokens (seeded random common words)")
	fl.StringVar(&f.dataset, "dataset", "", "JSONL file of prompts: {\"prompt\": ..., \"max_tokens\": N} per line")
	fl.IntVar(&f.maxTokens, "max-tokens", 128, "output tokens per request (unless a dataset line says otherwise)")
	fl.BoolVar(&f.ignoreEOS, "ignore-eos", false, "ask the server to generate --max-tokens tokens even past end of sequence")
	fl.StringVar(&f.slo, "slo", "", "limits for goodput, such as ttft=200ms,tpot=50ms,e2e=5s")
	fl.StringVar(&f.saveRequests, "save-requests", "", "write one JSON line per request to this file")
	fl.StringVar(&f.out, "out", "benchmark_results", "directory for the JSON and CSV results")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of synthetic prompts and Poisson arrivals")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress display")
	return cmd
}

// loadPlan is what the flags resolve to.
type loadPlan struct {
	levels []load.Level
	opts   load.Options
}

func (f *loadFlags) plan(cmd *cobra.Command) (*loadPlan, error) {
	fl := cmd.Flags()
	if err := f.srv.check(); err != nil {
		return nil, err
	}
	p := &loadPlan{}
	switch {
	case f.concurrency != "" && f.rate != "":
		return nil, usagef("--concurrency (closed loop) and --rate (open loop) cannot be used together")
	case f.rate != "":
		a, err := load.ParseArrival(f.arrival)
		if err != nil {
			return nil, usagef("--%v", err)
		}
		if p.levels, err = load.ParseRates(f.rate, a); err != nil {
			return nil, usagef("--%v", err)
		}
	default:
		if fl.Changed("arrival") {
			return nil, usagef("--arrival is for the open loop: give --rate")
		}
		c := f.concurrency
		if c == "" {
			c = "1"
		}
		var err error
		if p.levels, err = load.ParseConcurrency(c); err != nil {
			return nil, usagef("--%v", err)
		}
	}
	if fl.Changed("requests") && fl.Changed("duration") {
		return nil, usagef("--requests and --duration cannot be used together")
	}
	if fl.Changed("requests") && f.requests < 1 {
		return nil, usagef("--requests %d: must be at least 1", f.requests)
	}
	if fl.Changed("duration") && f.duration <= 0 {
		return nil, usagef("--duration %v: must be positive", f.duration)
	}
	if f.warmup < 0 {
		return nil, usagef("--warmup %d: must be 0 or more", f.warmup)
	}
	if f.maxTokens < 1 {
		return nil, usagef("--max-tokens %d: must be at least 1", f.maxTokens)
	}
	if f.duration > 0 {
		for _, l := range p.levels {
			if l.IsOpen() && math.IsInf(l.Rate, 1) {
				return nil, usagef("--rate inf sends every request at once: use --requests, not --duration")
			}
		}
	} else if f.requests == 0 {
		f.requests = 100
	}
	o := load.Options{Requests: f.requests, Duration: f.duration, Warmup: f.warmup, MaxTokens: f.maxTokens, IgnoreEOS: f.ignoreEOS, Seed: f.seed}
	if f.dataset != "" {
		if fl.Changed("prompt-tokens") {
			return nil, usagef("--prompt-tokens and --dataset cannot be used together")
		}
		d, err := load.ReadDataset(f.dataset)
		if err != nil {
			return nil, usageError{err}
		}
		o.Prompts = d
	} else {
		if f.promptTokens < 1 {
			return nil, usagef("--prompt-tokens %d: must be at least 1", f.promptTokens)
		}
		o.Prompts = load.Synthetic{Words: f.promptTokens, Seed: f.seed}
	}
	if fl.Changed("slo") {
		s, err := load.ParseSLO(f.slo)
		if err != nil {
			return nil, usagef("--%v", err)
		}
		o.SLO = s
	}
	p.opts = o
	return p, nil
}

// requestLog writes --save-requests lines from many goroutines, into a
// temporary file renamed into place at the end.
type requestLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
	w    *bufio.Writer
	err  error
}

func openRequestLog(path string) (*requestLog, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, usagef("--save-requests %s: cannot write there: %v", path, err)
	}
	return &requestLog{path: path, f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

func (l *requestLog) write(r *load.Record) {
	b, err := json.Marshal(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	if err == nil {
		b = append(b, '\n')
		_, err = l.w.Write(b)
	}
	l.err = err
}

// close finishes the file; keep false removes it.
func (l *requestLog) close(keep bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.err
	if err == nil {
		err = l.w.Flush()
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err == nil && keep {
		err = os.Rename(l.f.Name(), l.path)
	}
	if err != nil || !keep {
		os.Remove(l.f.Name())
	}
	return err
}

func runLoad(cmd *cobra.Command, cfg Config, f *loadFlags, stdout, stderr io.Writer) error {
	ctx := cmd.Context()
	p, err := f.plan(cmd)
	if err != nil {
		return err
	}
	if err := checkWritable(f.out); err != nil {
		return err
	}
	m, err := f.srv.openModel(ctx, cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	name := f.srv.modelID
	if om, ok := m.(*openai.Model); ok {
		name = om.ModelID()
	}
	var rlog *requestLog
	if f.saveRequests != "" {
		if rlog, err = openRequestLog(f.saveRequests); err != nil {
			return err
		}
		p.opts.OnRequest = rlog.write
	}
	var prog *loadProgress
	if !f.quiet && isTerminal(stderr) {
		prog = &loadProgress{w: stderr}
	}
	run := &result.Run{
		SchemaVersion: result.SchemaVersion,
		RunID:         newRunID(),
		StartedAt:     result.Time(time.Now().UTC()),
		Environment:   result.CaptureEnvironment(ctx),
		Results:       []result.Result{},
		Config:        loadConfig(f, p, m),
	}
	var reports []*load.Report
	var runErr error
	for _, lvl := range p.levels {
		o := p.opts
		if prog != nil {
			prog.level = lvl.String()
			o.Progress = prog.update
		}
		rep, err := load.Run(ctx, m, lvl, o)
		if prog != nil {
			prog.clear()
		}
		if rep != nil {
			reports = append(reports, rep)
			run.Results = append(run.Results, rep.Results(name)...)
		}
		if err != nil {
			runErr = err
			break
		}
	}
	fin := result.Time(time.Now().UTC())
	run.FinishedAt = &fin
	interrupted := runErr != nil && ctx.Err() != nil
	if interrupted {
		run.Config["interrupted"] = true
	}
	printLoadTable(stdout, name, reports)
	if rlog != nil {
		if err := rlog.close(true); err != nil {
			return fmt.Errorf("--save-requests: %w", err)
		}
	}
	jp, cp, err := result.WriteFiles(f.out, run)
	if err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	fmt.Fprintf(stdout, "\nwrote %s\nwrote %s\n", jp, cp)
	if rlog != nil {
		fmt.Fprintf(stdout, "wrote %s\n", f.saveRequests)
	}
	for _, r := range reports {
		if r.Failed > 0 && r.Completed > 0 {
			fmt.Fprintf(stderr, "piobench: %s: %d of %d requests failed (%s)\n", r.Level, r.Failed, r.Requests, oneLine(topError(r)))
		}
	}
	switch {
	case interrupted:
		fmt.Fprintf(stderr, "piobench: interrupted: %d of %d load levels finished\n", max(0, len(reports)-1), len(p.levels))
		return exitError{ExitInterrupted}
	case runErr != nil:
		return runErr
	}
	for _, r := range reports {
		if r.Completed == 0 {
			fmt.Fprintf(stderr, "piobench: %s: all %d requests failed: %s\n", r.Level, r.Requests, oneLine(topError(r)))
			return exitError{ExitFailed}
		}
	}
	return nil
}

func topError(r *load.Report) string {
	for _, r := range r.Results("") {
		if e, ok := r.Metadata["errors"].([]map[string]any); ok && len(e) > 0 {
			return fmt.Sprint(e[0]["error"])
		}
	}
	return "no error recorded"
}

func loadConfig(f *loadFlags, p *loadPlan, m model.Model) map[string]any {
	levels := make([]string, len(p.levels))
	for i, l := range p.levels {
		levels[i] = l.String()
	}
	c := map[string]any{
		"command":     "load",
		"levels":      levels,
		"requests":    f.requests,
		"duration":    f.duration.String(),
		"warmup":      f.warmup,
		"max_tokens":  f.maxTokens,
		"ignore_eos":  f.ignoreEOS,
		"prompts":     p.opts.Prompts.Describe(),
		"seed":        f.seed,
		"api":         f.srv.api,
		"stream":      !f.srv.noStream,
		"api_key_env": f.srv.apiKeyEnv,
	}
	if d, ok := m.(model.Describer); ok {
		c["endpoint"] = d.Info().Params["endpoint"]
		c["model_id"] = d.Info().Params["model_id"]
	}
	if !p.opts.SLO.IsZero() {
		c["slo"] = p.opts.SLO.String()
	}
	return c
}

// printLoadTable prints one line per level.
func printLoadTable(w io.Writer, name string, reports []*load.Report) {
	if len(reports) == 0 {
		fmt.Fprintln(w, "no load level finished")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "model %s\n", name)
	fmt.Fprintln(tw, "LEVEL\tREQS\tFAILED\tTTFT p50\tTTFT p99\tITL p50\tITL p99\tTPOT p50\tE2E p50\tE2E p99\tTOK/S\tREQ/S\tGOODPUT\t")
	for _, r := range reports {
		vals := map[string]float64{}
		for _, res := range r.Results(name) {
			if !res.Failed() {
				vals[res.BenchmarkName] = res.Value
			}
		}
		cell := func(k string) string {
			v, ok := vals[k]
			if !ok {
				return "-"
			}
			return formatValue(v)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Level, r.Requests, r.Failed,
			cell("ttft_p50"), cell("ttft_p99"), cell("itl_p50"), cell("itl_p99"), cell("tpot_p50"),
			cell("e2e_p50"), cell("e2e_p99"), cell("output_throughput"), cell("request_throughput"), cell("goodput"))
	}
	tw.Flush()
	fmt.Fprintln(w, "(latencies in ms; TOK/S output tokens per second)")
}

// loadProgress shows the level in progress on a terminal.
type loadProgress struct {
	mu    sync.Mutex
	w     io.Writer
	level string
	last  time.Time
}

func (p *loadProgress) update(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 100*time.Millisecond && done != total {
		return
	}
	p.last = time.Now()
	if total > 0 {
		fmt.Fprintf(p.w, "\r\033[K%s: %d/%d requests", p.level, done, total)
	} else {
		fmt.Fprintf(p.w, "\r\033[K%s: %d requests", p.level, done)
	}
}

func (p *loadProgress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.w, "\r\033[K")
}
