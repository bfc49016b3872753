package bench

import (
	"context"
	"fmt"
	"math"

	"github.com/inference-pio/piobench/load"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/stats"
)

// An Applicable benchmark measures only models with some ability. A
// runner skips it, recording nothing, for a model it does not apply to, so
// that suites may hold benchmarks that not every model can run.
type Applicable interface {
	Benchmark
	AppliesTo(m model.Model) bool
}

// Scalability sweeps concurrency upward (closed loop: 1, 2, 4, ...) until
// output throughput gains less than MinGain over the best level so far, an
// SLO breaks, or MaxConcurrency is reached. Its value is the saturation
// throughput (the best output tokens per second seen); metadata holds the
// knee (the lowest concurrency within MinGain of saturation) and the whole
// curve. It applies to models that serve concurrent requests
// (model.ConcurrentInferer), such as the openai driver's.
type Scalability struct {
	MaxConcurrency int      // highest level tried (default 64, or the model's own limit)
	MinGain        float64  // relative gain that counts as still scaling (default 0.05)
	Rounds         int      // requests per level = Rounds × concurrency (default: iterations, else 4)
	MaxTokens      int      // output tokens per request (default 64)
	PromptWords    int      // synthetic prompt length (default 64)
	SLO            load.SLO // optional: a level whose median breaks it ends the sweep
}

// NewScalability returns the benchmark with its defaults.
func NewScalability() *Scalability {
	return &Scalability{MaxConcurrency: 64, MinGain: 0.05, MaxTokens: 64, PromptWords: 64}
}

var _ Applicable = (*Scalability)(nil)

func (*Scalability) Name() string     { return "scalability" }
func (*Scalability) Category() string { return result.CategoryPerformance }
func (*Scalability) Unit() string     { return "tokens/sec" }

// AppliesTo reports whether m serves concurrent requests.
func (*Scalability) AppliesTo(m model.Model) bool {
	_, ok := m.(model.ConcurrentInferer)
	return ok
}

func (b *Scalability) Run(ctx context.Context, env *Env) (result.Result, error) {
	ci, ok := env.Model.(model.ConcurrentInferer)
	if !ok {
		return result.Result{}, fmt.Errorf("model %s does not serve concurrent requests", env.ModelName)
	}
	maxC := b.MaxConcurrency
	if maxC <= 0 {
		maxC = 64
	}
	if lim := ci.MaxConcurrency(); lim > 0 && lim < maxC {
		maxC = lim
	}
	minGain := b.MinGain
	if minGain <= 0 {
		minGain = 0.05
	}
	rounds := b.Rounds
	if rounds <= 0 {
		rounds = env.iterations(4)
	}
	maxTokens := max(b.MaxTokens, 1)
	words := max(b.PromptWords, 1)
	warm := env.warmup(1)

	var curve []map[string]any
	best, bestC := 0.0, 0
	var thr []float64
	var levels []int
	stop := "reached the highest concurrency tried"
	for c := 1; c <= maxC; c *= 2 {
		env.progress(Event{Benchmark: b.Name(), Phase: "measure", Done: len(levels), Total: int(math.Log2(float64(maxC))) + 1, Rate: best, Unit: b.Unit()})
		rep, err := load.Run(ctx, env.Model, load.Closed(c), load.Options{
			Requests:  rounds * c,
			Warmup:    warm * c,
			Prompts:   load.Synthetic{Words: words, Seed: uint64(c)},
			MaxTokens: maxTokens,
			IgnoreEOS: true,
			SLO:       b.SLO,
		})
		if err != nil {
			return result.Result{}, err
		}
		if rep.Completed == 0 {
			return result.Result{}, fmt.Errorf("concurrency %d: all %d requests failed: %s", c, rep.Requests, firstErr(rep))
		}
		t := float64(rep.OutputTokens) / rep.Elapsed.Seconds()
		point := map[string]any{
			"concurrency":        c,
			"output_throughput":  t,
			"request_throughput": float64(rep.Completed) / rep.Elapsed.Seconds(),
			"ttft_p50_ms":        stats.Summarize(rep.TTFT).P50,
			"e2e_p50_ms":         stats.Summarize(rep.E2E).P50,
			"error_rate":         float64(rep.Failed) / float64(rep.Requests),
		}
		if len(rep.TPOT) > 0 {
			point["tpot_p50_ms"] = stats.Summarize(rep.TPOT).P50
		}
		curve = append(curve, point)
		thr = append(thr, t)
		levels = append(levels, c)
		if broken := sloBroken(b.SLO, rep); broken != "" {
			stop = fmt.Sprintf("SLO broken at concurrency %d (%s)", c, broken)
			if best == 0 {
				best, bestC = t, c
			}
			break
		}
		gain := math.Inf(1)
		if best > 0 {
			gain = t/best - 1
		}
		if t > best {
			best, bestC = t, c
		}
		if gain < minGain {
			stop = fmt.Sprintf("throughput gained %.1f%% at concurrency %d (< %.0f%%)", 100*gain, c, 100*minGain)
			break
		}
	}
	knee := bestC
	for i, t := range thr {
		if t >= best*(1-minGain) {
			knee = levels[i]
			break
		}
	}
	return result.Result{
		BenchmarkName: b.Name(),
		Value:         best,
		Unit:          b.Unit(),
		Category:      b.Category(),
		Metadata: map[string]any{
			"statistic":              "max",
			"definition":             "saturation throughput: the highest output tokens/sec over a closed-loop sweep of concurrency 1, 2, 4, ...",
			"saturation_concurrency": bestC,
			"knee_concurrency":       knee,
			"knee_definition":        fmt.Sprintf("lowest concurrency with throughput within %.0f%% of saturation", 100*minGain),
			"stopped_because":        stop,
			"curve":                  curve,
			"requests_per_level":     fmt.Sprintf("%d x concurrency", rounds),
			"max_tokens":             maxTokens,
			"prompt_words":           words,
			"slo":                    b.SLO.Map(),
			"notes":                  modelNotes(env.Model),
		},
	}, nil
}

// sloBroken names the first limit a level's median breaks, or "".
func sloBroken(s load.SLO, rep *load.Report) string {
	check := func(name string, limit float64, xs []float64) string {
		if limit <= 0 || len(xs) == 0 {
			return ""
		}
		if p := stats.Summarize(xs).P50; p > limit {
			return fmt.Sprintf("median %s %.1f ms > %.1f ms", name, p, limit)
		}
		return ""
	}
	for _, c := range []string{
		check("ttft", float64(s.TTFT)/1e6, rep.TTFT),
		check("tpot", float64(s.TPOT)/1e6, rep.TPOT),
		check("e2e", float64(s.E2E)/1e6, rep.E2E),
	} {
		if c != "" {
			return c
		}
	}
	return ""
}

func firstErr(rep *load.Report) string {
	for _, r := range rep.Results("") {
		if e, ok := r.Metadata["errors"].([]map[string]any); ok && len(e) > 0 {
			return fmt.Sprint(e[0]["error"])
		}
	}
	return "no error recorded"
}
