package report

import (
	"fmt"
	"math"
)

// Load tests write a dozen results per load level; tables show them
// pivoted, one row per level, which is how people read them.
var loadColumns = []struct{ key, title string }{
	{"ttft_p50", "TTFT p50"}, {"ttft_p99", "TTFT p99"},
	{"itl_p50", "ITL p50"}, {"itl_p99", "ITL p99"},
	{"tpot_p50", "TPOT p50"},
	{"e2e_p50", "E2E p50"}, {"e2e_p99", "E2E p99"},
	{"output_throughput", "tok/s"}, {"request_throughput", "req/s"}, {"goodput", "goodput"},
	{"error_rate", "errors"},
}

// A loadTable is the load levels of one model in one run.
type loadTable struct {
	Model string
	Rows  []loadRow
}

type loadRow struct {
	Level    string
	Requests string
	Cells    []string // parallel to loadColumns; "" when absent
	Failed   []bool
}

// splitLoad separates results measured at a load level from the others
// and pivots them into one table per model.
func splitLoad(es []entry) (plain []entry, tables []loadTable) {
	type key struct{ model, level string }
	var models []string
	levels := map[string][]level{}
	cells := map[key]map[string]entry{}
	for _, e := range es {
		l := loadLevel(e.res)
		if l == "" {
			plain = append(plain, e)
			continue
		}
		m := e.res.ModelName
		if _, ok := levels[m]; !ok {
			models = append(models, m)
			levels[m] = nil
		}
		k := key{m, l}
		if cells[k] == nil {
			cells[k] = map[string]entry{}
			levels[m] = append(levels[m], parseLevel(e.res))
		}
		cells[k][e.res.BenchmarkName] = e
	}
	for _, m := range models {
		ls := levels[m]
		sortLevels(ls)
		t := loadTable{Model: m}
		for _, l := range ls {
			row := loadRow{Level: l.name, Cells: make([]string, len(loadColumns)), Failed: make([]bool, len(loadColumns))}
			got := cells[key{m, l.name}]
			for _, e := range got {
				if n, ok := metaFloat(e.res.Metadata, "requests"); ok {
					row.Requests = fmt.Sprintf("%d", int(n))
					if f, ok := metaFloat(e.res.Metadata, "failed"); ok && f > 0 {
						row.Requests += fmt.Sprintf(" (%d failed)", int(f))
					}
					break
				}
			}
			for i, c := range loadColumns {
				e, ok := got[c.key]
				switch {
				case !ok:
				case e.failed:
					row.Cells[i], row.Failed[i] = "FAILED", true
				case c.key == "error_rate":
					row.Cells[i] = fmt.Sprintf("%.1f%%", 100*e.res.Value)
				case math.IsNaN(e.res.Value):
				default:
					row.Cells[i] = Number(e.res.Value)
				}
			}
			t.Rows = append(t.Rows, row)
		}
		tables = append(tables, t)
	}
	return plain, tables
}

// loadNote explains the load tables' units.
const loadNote = "latencies in ms; tok/s: output tokens per second; req/s and goodput: requests per second"
