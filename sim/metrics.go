package sim

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
)

// metrics are the counters /metrics exposes, named as vLLM names its own.
type metrics struct {
	running      atomic.Int64
	promptTokens atomic.Uint64
	genTokens    atomic.Uint64
	success      atomic.Uint64
	failed       atomic.Uint64
	ttft, e2e    histogram
}

func (m *metrics) init() {
	m.ttft.bounds = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	m.e2e.bounds = []float64{0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60}
	m.ttft.counts = make([]atomic.Uint64, len(m.ttft.bounds)+1)
	m.e2e.counts = make([]atomic.Uint64, len(m.e2e.bounds)+1)
}

// histogram is a Prometheus histogram with fixed bounds, safe for
// concurrent use.
type histogram struct {
	bounds []float64
	counts []atomic.Uint64 // per bucket (not cumulative); the last is +Inf
	sumNs  atomic.Uint64   // sum in nanoseconds
}

func (h *histogram) observe(sec float64) {
	i := 0
	for i < len(h.bounds) && sec > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(math.Max(0, sec) * 1e9))
}

func (h *histogram) write(b *strings.Builder, name, labels string) {
	fmt.Fprintf(b, "# TYPE %s histogram\n", name)
	var cum uint64
	for i, le := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(b, "%s_bucket{%s,le=\"%g\"} %d\n", name, labels, le, cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(b, "%s_bucket{%s,le=\"+Inf\"} %d\n", name, labels, cum)
	fmt.Fprintf(b, "%s_sum{%s} %g\n", name, labels, float64(h.sumNs.Load())/1e9)
	fmt.Fprintf(b, "%s_count{%s} %d\n", name, labels, cum)
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	labels := fmt.Sprintf("model_name=%q", s.cfg.Models[0])
	var b strings.Builder
	running := s.m.running.Load()
	waiting := int64(0)
	if c := int64(s.cfg.Capacity); c > 0 && running > c {
		waiting = running - c
		running = c
	}
	gauge := func(name, help string, v int64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s{%s} %d\n", name, help, name, name, labels, v)
	}
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n%s{%s} %d\n", name, help, name, name, labels, v)
	}
	gauge("vllm:num_requests_running", "Requests being served at full speed.", running)
	gauge("vllm:num_requests_waiting", "Requests beyond capacity (served slower).", waiting)
	counter("vllm:prompt_tokens_total", "Prompt tokens read.", s.m.promptTokens.Load())
	counter("vllm:generation_tokens_total", "Tokens generated.", s.m.genTokens.Load())
	counter("vllm:request_success_total", "Requests finished.", s.m.success.Load())
	counter("sim:request_failure_total", "Requests that failed (injected failures, clients gone).", s.m.failed.Load())
	s.m.ttft.write(&b, "vllm:time_to_first_token_seconds", labels)
	s.m.e2e.write(&b, "vllm:e2e_request_latency_seconds", labels)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write([]byte(b.String()))
}
