package load

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/stats"
)

// Result names, one set per load level.
var (
	LatencyMetrics = []string{"ttft", "itl", "tpot", "e2e"}
	Statistics     = []string{"mean", "p50", "p90", "p99"}
)

// Metadata returns what every result of the level carries: the level, the
// counts, the token accounting, the sender's lag and the SLO.
func (r *Report) Metadata() map[string]any {
	m := map[string]any{
		"load_level":                 r.Level.String(),
		"requests":                   r.Requests,
		"completed":                  r.Completed,
		"failed":                     r.Failed,
		"warmup_requests":            r.Warmup,
		"warmup_failed":              r.WarmupFailed,
		"duration_s":                 r.Elapsed.Seconds(),
		"output_tokens_total":        r.OutputTokens,
		"server_output_tokens_total": r.ServerTokens,
		"client_output_tokens_total": r.ClientTokens,
		"prompt_tokens_total":        r.PromptTokens,
		"token_count_disagreements":  r.Disagreements,
		"token_count_rule":           "server usage when reported, else the client's count of content chunks",
		"prompts":                    r.Prompts,
		"max_tokens":                 r.MaxTokens,
		"ignore_eos":                 r.IgnoreEOS,
		"percentile_method":          stats.PercentileMethod,
	}
	if r.Duration > 0 {
		m["duration_requested_s"] = r.Duration.Seconds()
	}
	if r.Level.IsOpen() {
		m["mode"] = "open"
		m["rate"] = rateValue(r.Level.Rate)
		m["arrival"] = string(r.Level.Arrival)
		m["latency_from"] = "intended send time"
		if len(r.Lag) > 0 {
			s := r.Summary("lag")
			m["sender_lag_p50_ms"] = s.P50
			m["sender_lag_p99_ms"] = s.P99
			m["sender_lag_max_ms"] = s.Max
		}
		if r.DispatchSpan > 0 && r.Requests > 1 {
			m["send_rate_achieved"] = float64(r.Requests-1) / r.DispatchSpan.Seconds()
		}
		if r.IntendedSpan > 0 {
			m["send_rate_scheduled"] = float64(r.Requests-1) / r.IntendedSpan.Seconds()
		}
	} else {
		m["mode"] = "closed"
		m["concurrency"] = r.Level.Concurrency
		m["latency_from"] = "send time"
	}
	if len(r.Queue) > 0 {
		s := r.Summary("queue")
		m["client_queue_p50_ms"] = s.P50
		m["client_queue_p99_ms"] = s.P99
	}
	if !r.SLO.IsZero() {
		m["slo"] = r.SLO.Map()
	}
	if len(r.Errors) > 0 {
		m["errors"] = r.Errors.top(5)
	}
	if r.Interrupted {
		m["interrupted"] = true
	}
	return m
}

func rateValue(r float64) any {
	if math.IsInf(r, 1) {
		return "inf"
	}
	return r
}

// Summary summarises a metric ("ttft", "itl", "tpot", "e2e", "lag" or
// "queue"): from its samples while the report kept them all, else from its
// histogram.
func (r *Report) Summary(name string) stats.Summary {
	xs := map[string][]float64{"ttft": r.TTFT, "itl": r.ITL, "tpot": r.TPOT, "e2e": r.E2E, "lag": r.Lag, "queue": r.Queue}[name]
	h := r.hist[name]
	if h == nil || h.n <= len(xs) {
		return stats.Summarize(xs)
	}
	nan := math.NaN()
	return stats.Summary{N: h.n, Mean: h.mean(), Stddev: h.stddev(), Min: h.min, Max: h.max,
		P50: h.percentile(50), P90: h.percentile(90), P99: h.percentile(99), CILo: nan, CIHi: nan}
}

var definitions = map[string]string{"ttft": DefTTFT, "itl": DefITL, "tpot": DefTPOT, "e2e": DefE2E}

// Results returns the level's results in the core format: ttft_*, itl_*,
// tpot_* and e2e_* (mean, p50, p90, p99; ms), output_throughput
// (tokens/sec), request_throughput and goodput (requests/sec) and
// error_rate (ratio). When no request succeeded, every result but
// error_rate is a failed result naming the first errors. ITL and TPOT are
// left out when no request gave the samples they need (non-streamed
// answers, or one-token answers).
func (r *Report) Results(modelName string) []result.Result {
	now := time.Now().UTC()
	base := r.Metadata()
	var out []result.Result
	add := func(res result.Result) {
		res.ModelName = modelName
		res.Timestamp = now
		out = append(out, res)
	}
	var fail error
	switch {
	case r.Requests == 0:
		fail = errors.New("no request finished")
	case r.Completed == 0:
		fail = fmt.Errorf("all %d requests failed: %s", r.Requests, firstError(r))
	}
	samples := map[string][]float64{"ttft": r.TTFT, "itl": r.ITL, "tpot": r.TPOT, "e2e": r.E2E}
	for _, name := range LatencyMetrics {
		xs := samples[name]
		if fail == nil && len(xs) == 0 && (name == "itl" || name == "tpot") {
			continue
		}
		s := r.Summary(name)
		for _, st := range Statistics {
			meta := copyMeta(base)
			meta["definition"] = definitions[name]
			if h := r.hist[name]; h != nil && h.n > len(xs) {
				meta["percentile_method"] = HistogramMethod
				meta["samples_kept"] = len(xs)
			}
			meta["statistic"] = st
			meta["n"] = s.N
			bn := name + "_" + st
			if fail != nil || s.N == 0 {
				err := fail
				if err == nil {
					err = errors.New("no samples")
				}
				add(result.Fail(modelName, bn, "ms", result.CategoryPerformance, err, meta))
				continue
			}
			v := map[string]float64{"mean": s.Mean, "p50": s.P50, "p90": s.P90, "p99": s.P99}[st]
			meta["min"], meta["max"], meta["stddev"] = s.Min, s.Max, s.Stddev
			add(result.Result{BenchmarkName: bn, Value: v, Unit: "ms", Category: result.CategoryPerformance, Metadata: meta})
		}
	}
	secs := r.Elapsed.Seconds()
	rate := func(name, unit, def string, count int) {
		meta := copyMeta(base)
		meta["definition"] = def
		if fail != nil || secs <= 0 {
			err := fail
			if err == nil {
				err = errors.New("the level took no measurable time")
			}
			add(result.Fail(modelName, name, unit, result.CategoryPerformance, err, meta))
			return
		}
		add(result.Result{BenchmarkName: name, Value: float64(count) / secs, Unit: unit, Category: result.CategoryPerformance, Metadata: meta})
	}
	rate("output_throughput", "tokens/sec", DefOut, r.OutputTokens)
	rate("request_throughput", "requests/sec", DefReq, r.Completed)
	rate("goodput", "requests/sec", DefGood, r.Good)
	meta := copyMeta(base)
	meta["definition"] = DefErr
	if r.Requests == 0 {
		add(result.Fail(modelName, "error_rate", "ratio", result.CategoryPerformance, errors.New("no request finished"), meta))
	} else {
		lo, hi := stats.Wilson(r.Failed, r.Requests, stats.Confidence)
		meta["ci95_low"], meta["ci95_high"] = lo, hi
		meta["ci_method"] = "Wilson score interval"
		add(result.Result{BenchmarkName: "error_rate", Value: float64(r.Failed) / float64(r.Requests), Unit: "ratio", Category: result.CategoryPerformance, Metadata: meta})
	}
	if r.SLO.IsZero() {
		for i := range out {
			if out[i].BenchmarkName == "goodput" {
				out[i].Metadata["slo"] = "none given: every successful request counts"
			}
		}
	}
	return out
}

func firstError(r *Report) string {
	top := r.Errors.top(1)
	if len(top) == 0 {
		return "no error recorded"
	}
	return fmt.Sprint(top[0]["error"])
}

func copyMeta(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+8)
	for k, v := range m {
		out[k] = v
	}
	return out
}
