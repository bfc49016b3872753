package report

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg/draw"
)

// trendCharts draws each metric's history: one point per run (with its
// 95% interval as a whisker where known), change points as dashed
// vertical lines, and alerts as red rings.
func (cb *chartBuilder) trendCharts() {
	h := cb.rep.History
	if h == nil {
		return
	}
	for _, tr := range h.Trends {
		c, why := cb.trendChart(tr)
		if c == nil {
			cb.missing = append(cb.missing, fmt.Sprintf("Trend of %s on %s: %s", clean(tr.Benchmark), clean(tr.Model), why))
			continue
		}
		cb.add(c)
	}
}

func (cb *chartBuilder) trendChart(tr Trend) (*Chart, string) {
	ref := 0.0
	good := 0
	for _, pt := range tr.Points {
		if !math.IsNaN(pt.Value) {
			ref = math.Max(ref, math.Abs(pt.Value))
			good++
		}
	}
	if good == 0 {
		return nil, "no successful run in the history."
	}
	sc := scaleFor(ref, tr.Unit)
	title := tr.Benchmark + " · " + tr.Model
	p := newPlot(title, "run start (UTC)", sc.unit)
	p.X.Tick.Marker = plot.TimeTicks{Format: "01-02\n15:04"}
	var xys plotter.XYs
	var errs plotter.YErrors
	var errXYs plotter.XYs
	for _, pt := range tr.Points {
		if math.IsNaN(pt.Value) {
			continue
		}
		x := float64(pt.At.Unix())
		y := pt.Value * sc.factor
		xys = append(xys, plotter.XY{X: x, Y: y})
		if !math.IsNaN(pt.Lo) && !math.IsNaN(pt.Hi) {
			errXYs = append(errXYs, plotter.XY{X: x, Y: y})
			errs = append(errs, struct{ Low, High float64 }{math.Max(pt.Value-pt.Lo, 0) * sc.factor, math.Max(pt.Hi-pt.Value, 0) * sc.factor})
		}
	}
	col := cb.color(tr.Model)
	ln, lp, err := plotter.NewLinePoints(xys)
	if err != nil {
		return nil, err.Error()
	}
	ln.Color, ln.Width = col, 1.5
	lp.GlyphStyle = draw.GlyphStyle{Color: col, Radius: 2.5, Shape: draw.CircleGlyph{}}
	if len(errXYs) > 0 {
		eb := &plotter.YErrorBars{XYs: errXYs, YErrors: errs, LineStyle: draw.LineStyle{Color: col, Width: 0.8}, CapWidth: 5}
		p.Add(eb)
	}
	p.Add(ln, lp)
	for _, i := range tr.ChangePoints {
		if i < 0 || i >= len(tr.Points) {
			continue
		}
		p.Add(newVMarker(p, float64(tr.Points[i].At.Unix()), "change", colorMarker, true))
	}
	var alerts plotter.XYs
	for _, a := range tr.Alerts {
		if a.Index < 0 || a.Index >= len(tr.Points) || math.IsNaN(tr.Points[a.Index].Value) {
			continue
		}
		pt := tr.Points[a.Index]
		alerts = append(alerts, plotter.XY{X: float64(pt.At.Unix()), Y: pt.Value * sc.factor})
	}
	if len(alerts) > 0 {
		s, err := plotter.NewScatter(alerts)
		if err == nil {
			s.GlyphStyle = draw.GlyphStyle{Color: colorAlert, Radius: 6, Shape: draw.RingGlyph{}}
			p.Add(s)
			p.Legend.Add("alert", s)
			// Room above the data for the legend.
			p.Y.Max += (p.Y.Max - p.Y.Min) * 0.15
		}
	}
	if len(xys) == 1 {
		// One point: give the axis some width around it.
		p.X.Min, p.X.Max = xys[0].X-3600, xys[0].X+3600
	}
	caption := fmt.Sprintf("%s in the history.", plural(len(tr.Points), "run"))
	if n := len(tr.Points) - good; n > 0 {
		caption += fmt.Sprintf(" %d failed (no point).", n)
	}
	if len(tr.ChangePoints) > 0 {
		caption += fmt.Sprintf(" Dashed lines: %s.", plural(len(tr.ChangePoints), "change point"))
	}
	if len(alerts) > 0 {
		caption += fmt.Sprintf(" Red rings: %s.", plural(len(alerts), "alert"))
	}
	if len(tr.Points) < 2 {
		caption += " One run is not yet a trend."
	}
	return &Chart{
		ID:      cb.id("trend", tr.Model, tr.Benchmark),
		Section: "trend",
		Title:   title,
		Caption: caption,
		Marks:   len(xys),
		plot:    p,
		height:  260,
	}, ""
}

// latencyCharts and throughputCharts are filled in by charts_load.go.
