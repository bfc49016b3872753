package load

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/inference-pio/piobench/model"
)

// Definitions of the streaming metrics, as vLLM's serving benchmark
// defines them, with the one change that latency counts from the intended
// send time in an open loop. They are written into every result's
// metadata.
const (
	DefTTFT = "time to first token: arrival of the first chunk with non-empty content (or reasoning content) minus the send time; open loop: minus the intended send time"
	DefITL  = "inter-token latency: gaps between consecutive chunks with content, all requests' gaps pooled"
	DefTPOT = "time per output token: (e2e - ttft) / (output_tokens - 1), per streamed request with more than one output token"
	DefE2E  = "end-to-end latency: arrival of the last byte minus the send time; open loop: minus the intended send time"
	DefOut  = "output tokens of successful requests (the server's usage when it reported one, else the client's count of content chunks) divided by the level's duration"
	DefReq  = "successful requests divided by the level's duration (first intended send to last answer)"
	DefGood = "successful requests that met every SLO, divided by the level's duration"
	DefErr  = "failed requests divided by all measured requests"
)

// Measures are the metrics of one request, in the units results use.
type Measures struct {
	TTFT    time.Duration
	E2E     time.Duration
	TPOT    time.Duration // 0 when not defined (fewer than 2 tokens, or not streamed)
	HasTPOT bool
	ITL     []time.Duration
	// OutputTokens is the server's count when it gave one, else the
	// client's; Disagree says both were known and differ.
	OutputTokens int
	Disagree     bool
}

// Measure computes a request's metrics from its response. wait is how long
// after its intended send time the request was actually sent (zero in a
// closed loop, where sending is the intention); it counts toward TTFT and
// E2E so that a late sender cannot hide latency (no coordinated omission).
func Measure(resp model.Response, wait time.Duration) Measures {
	var m Measures
	m.TTFT = wait + resp.FirstToken
	m.E2E = wait + resp.Duration
	m.OutputTokens = outputTokens(resp)
	m.Disagree = resp.ServerOutputTokens > 0 && resp.ClientOutputTokens > 0 && resp.ServerOutputTokens != resp.ClientOutputTokens
	times := resp.ChunkTimes
	if len(times) == 0 {
		times = resp.TokenTimes
	}
	if len(times) > 1 {
		m.ITL = make([]time.Duration, len(times)-1)
		for i := 1; i < len(times); i++ {
			m.ITL[i-1] = times[i] - times[i-1]
		}
	}
	if m.OutputTokens > 1 && len(times) > 0 {
		m.TPOT = (m.E2E - m.TTFT) / time.Duration(m.OutputTokens-1)
		m.HasTPOT = true
	}
	return m
}

func outputTokens(r model.Response) int {
	switch {
	case r.ServerOutputTokens > 0:
		return r.ServerOutputTokens
	case r.ClientOutputTokens > 0:
		return r.ClientOutputTokens
	}
	return r.OutputTokens
}

// An SLO is a service-level objective for goodput: a request is good when
// each of its metrics that has a limit is at most that limit.
type SLO struct {
	TTFT, TPOT, E2E time.Duration // 0: no limit
}

// IsZero reports whether no limit is set.
func (s SLO) IsZero() bool { return s == SLO{} }

// Met reports whether m meets every limit. A request without a TPOT (one
// token) meets a TPOT limit.
func (s SLO) Met(m Measures) bool {
	if s.TTFT > 0 && m.TTFT > s.TTFT {
		return false
	}
	if s.E2E > 0 && m.E2E > s.E2E {
		return false
	}
	if s.TPOT > 0 && m.HasTPOT && m.TPOT > s.TPOT {
		return false
	}
	return true
}

// String writes s as ParseSLO reads it.
func (s SLO) String() string {
	var parts []string
	if s.TTFT > 0 {
		parts = append(parts, "ttft="+s.TTFT.String())
	}
	if s.TPOT > 0 {
		parts = append(parts, "tpot="+s.TPOT.String())
	}
	if s.E2E > 0 {
		parts = append(parts, "e2e="+s.E2E.String())
	}
	return strings.Join(parts, ",")
}

// Map returns the limits in milliseconds, for metadata.
func (s SLO) Map() map[string]any {
	m := map[string]any{}
	for k, v := range map[string]time.Duration{"ttft_ms": s.TTFT, "tpot_ms": s.TPOT, "e2e_ms": s.E2E} {
		if v > 0 {
			m[k] = ms(v)
		}
	}
	return m
}

// ParseSLO reads limits such as "ttft=200ms,tpot=50ms,e2e=5s".
func ParseSLO(text string) (SLO, error) {
	var s SLO
	if strings.TrimSpace(text) == "" {
		return s, errors.New("slo: empty; want such as ttft=200ms,tpot=50ms,e2e=5s")
	}
	seen := map[string]bool{}
	for _, part := range splitList(text) {
		k, v, ok := strings.Cut(part, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok {
			return s, fmt.Errorf("slo %q: want NAME=DURATION, such as ttft=200ms", part)
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return s, fmt.Errorf("slo %s=%s: want a positive duration, such as 200ms", k, v)
		}
		if seen[k] {
			return s, fmt.Errorf("slo: %s given twice", k)
		}
		seen[k] = true
		switch k {
		case "ttft":
			s.TTFT = d
		case "tpot":
			s.TPOT = d
		case "e2e", "e2el":
			s.E2E = d
		default:
			return s, fmt.Errorf("slo %q: unknown metric (known: ttft, tpot, e2e)", k)
		}
	}
	return s, nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// errorCounts keeps how often each error message happened.
type errorCounts map[string]int

func (e errorCounts) add(err error) {
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	e[msg]++
}

// top returns the most frequent messages with their counts, at most n.
func (e errorCounts) top(n int) []map[string]any {
	type kv struct {
		msg string
		n   int
	}
	var list []kv
	for k, v := range e {
		list = append(list, kv{k, v})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].n != list[j].n {
			return list[i].n > list[j].n
		}
		return list[i].msg < list[j].msg
	})
	var out []map[string]any
	for i, x := range list {
		if i == n {
			break
		}
		out = append(out, map[string]any{"error": x.msg, "count": x.n})
	}
	return out
}
