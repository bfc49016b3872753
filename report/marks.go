package report

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// A vMarker is a vertical line across the data area at X, with a short
// label at its top: a change point on a trend, the knee of a throughput
// curve.
type vMarker struct {
	X      float64
	Label  string
	Color  color.Color
	Dashed bool
	style  text.Style
}

var _ plot.Plotter = vMarker{}

func newVMarker(p *plot.Plot, x float64, label string, c color.Color, dashed bool) vMarker {
	st := p.X.Tick.Label
	st.Color = c
	st.XAlign = draw.XLeft
	st.YAlign = draw.YTop
	st.Font.Size = 8
	return vMarker{X: x, Label: label, Color: c, Dashed: dashed, style: st}
}

// Plot implements plot.Plotter.
func (m vMarker) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(m.X)
	if x < c.Min.X || x > c.Max.X {
		return
	}
	ls := draw.LineStyle{Color: m.Color, Width: 1.2}
	if m.Dashed {
		ls.Dashes = []vg.Length{4, 3}
	}
	c.StrokeLine2(ls, x, c.Min.Y, x, c.Max.Y)
	if m.Label != "" {
		c.FillText(m.style, vg.Point{X: x + 3, Y: c.Max.Y - 2}, m.Label)
	}
}

// DataRange implements plot.DataRanger, so the axis always reaches the
// marker.
func (m vMarker) DataRange() (xmin, xmax, ymin, ymax float64) {
	return m.X, m.X, math.Inf(1), math.Inf(-1)
}
