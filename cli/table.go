package cli

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/runner"
)

// formatValue prints a number with about four significant digits.
func formatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "-"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 10:
		return fmt.Sprintf("%.2f", v)
	case a >= 1 || a == 0:
		return fmt.Sprintf("%.3f", v)
	default:
		return fmt.Sprintf("%.4g", v)
	}
}

func metaNumber(m map[string]any, key string) (float64, bool) {
	switch v := m[key].(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	}
	return 0, false
}

// printTable prints results as an aligned table.
func printTable(w io.Writer, results []result.Result) {
	if len(results) == 0 {
		fmt.Fprintln(w, "no results")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tBENCHMARK\tVALUE\tUNIT\t95% CI\tN\tSTATUS")
	for _, r := range results {
		if r.Failed() {
			fmt.Fprintf(tw, "%s\t%s\t-\t%s\t\t\tFAILED: %s\n", r.ModelName, r.BenchmarkName, r.Unit, truncate(oneLine(r.Err()), 80))
			continue
		}
		ci := ""
		lo, okLo := metaNumber(r.Metadata, "ci95_low")
		hi, okHi := metaNumber(r.Metadata, "ci95_high")
		if okLo && okHi {
			ci = "[" + formatValue(lo) + ", " + formatValue(hi) + "]"
		}
		n := ""
		if v, ok := metaNumber(r.Metadata, "n"); ok {
			n = fmt.Sprintf("%d", int(v))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\tok\n", r.ModelName, r.BenchmarkName, formatValue(r.Value), r.Unit, ci, n)
	}
	tw.Flush()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// progressLine redraws one status line on a terminal.
type progressLine struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *progressLine) update(pr runner.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "[%d/%d] %s %s", pr.Index+1, pr.Total, pr.Model, pr.Benchmark)
	if pr.Done != nil {
		status := "done"
		if pr.Done.Failed() {
			status = "FAILED"
		}
		b.WriteString(" " + status)
	} else if pr.Event.Total > 0 {
		fmt.Fprintf(&b, "  %s %d/%d", pr.Event.Phase, pr.Event.Done, pr.Event.Total)
		if !math.IsNaN(pr.Event.Rate) && pr.Event.Rate != 0 {
			fmt.Fprintf(&b, "  %s %s", formatValue(pr.Event.Rate), pr.Event.Unit)
		}
	}
	fmt.Fprintf(p.w, "\r\033[K%s", b.String())
}

func (p *progressLine) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.w, "\r\033[K")
}
