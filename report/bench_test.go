package report

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkWriteHTML renders the HTML report of two models (16 results,
// 8 comparison charts and a memory chart).
func BenchmarkWriteHTML(b *testing.B) {
	t := &testing.T{}
	rep := fixture(t, "models.json")
	var buf bytes.Buffer
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf.Reset()
		if err := WriteHTML(&buf, rep); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/report")
}

// BenchmarkWriteText renders the console report of a load test (100
// results pivoted into one table) and a scalability run.
func BenchmarkWriteText(b *testing.B) {
	rep := fixture(&testing.T{}, "load.json", "scalability.json")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := WriteText(io.Discard, rep, TextOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChartPNG draws one chart as a PNG file would be.
func BenchmarkChartPNG(b *testing.B) {
	charts, _ := Charts(fixture(&testing.T{}, "load.json"))
	var c *Chart
	for _, x := range charts {
		if x.ID == "latency-sim-ttft" {
			c = x
		}
	}
	if c == nil {
		b.Fatal("no latency chart")
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := c.PNG(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
