package report

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/inference-pio/piobench/result"
)

// A Chart is one figure of a report, drawn by gonum/plot. The same drawing
// becomes inline SVG in the HTML report and a PNG or SVG file with
// --charts.
type Chart struct {
	// ID is unique in the report and safe as a file name and an HTML id.
	ID string
	// Section groups charts in the HTML report: "compare", "latency",
	// "throughput", "trend" or "memory".
	Section string
	// Title heads the chart.
	Title string
	// Caption says what the chart shows and what it leaves out.
	Caption string
	// Marks is how many data marks (bars, points, line segments' series)
	// the chart draws.
	Marks int

	plot          *plot.Plot
	width, height vg.Length
}

// Chart sizes, in points.
const (
	chartWidth  = 560
	chartHeight = 300
)

// SVG draws the chart as an SVG document. With embedFonts the font is
// inside the file (for a file that stands alone); without it the text
// names "Liberation Sans", which the HTML report provides once for all
// its charts.
func (c *Chart) SVG(w io.Writer, embedFonts bool) (err error) {
	defer recoverDraw(&err, c.ID)
	cv := vgsvg.NewWith(vgsvg.UseWH(c.width, c.height), vgsvg.EmbedFonts(embedFonts))
	c.plot.Draw(draw.New(cv))
	_, err = cv.WriteTo(w)
	return err
}

// PNG draws the chart as a PNG image at 2 pixels per point.
func (c *Chart) PNG(w io.Writer) (err error) {
	defer recoverDraw(&err, c.ID)
	cv := vgimg.NewWith(vgimg.UseWH(c.width, c.height), vgimg.UseDPI(144))
	c.plot.Draw(draw.New(cv))
	_, err = vgimg.PngCanvas{Canvas: cv}.WriteTo(w)
	return err
}

// recoverDraw turns a panic inside the plotting library (it panics on
// some impossible inputs) into an error naming the chart.
func recoverDraw(err *error, id string) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("chart %s: %v", id, p)
	}
}

// inlineSVG returns the chart's SVG without the XML prolog, ready to sit
// inside an HTML page.
func (c *Chart) inlineSVG() (string, error) {
	var b bytes.Buffer
	if err := c.SVG(&b, false); err != nil {
		return "", err
	}
	s := b.String()
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	return s, nil
}

// WriteCharts writes every chart of rep into dir as ID.svg (fonts
// embedded) and ID.png, and returns the paths written.
func WriteCharts(dir string, charts []*Chart) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, c := range charts {
		for _, f := range []struct {
			ext  string
			draw func(io.Writer) error
		}{
			{".svg", func(w io.Writer) error { return c.SVG(w, true) }},
			{".png", c.PNG},
		} {
			var b bytes.Buffer
			if err := f.draw(&b); err != nil {
				return paths, err
			}
			p := filepath.Join(dir, c.ID+f.ext)
			if err := result.WriteAtomic(p, b.Bytes()); err != nil {
				return paths, err
			}
			if err := os.Chmod(p, 0o644); err != nil {
				return paths, err
			}
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// Charts returns every chart the report has data for, in the order the
// HTML report shows them, and sentences about charts that could not be
// drawn for lack of data.
func Charts(rep *Report) ([]*Chart, []string) {
	cb := &chartBuilder{rep: rep, ids: map[string]int{}, colors: map[string]color.Color{}}
	cb.compareCharts()
	cb.latencyCharts()
	cb.throughputCharts()
	cb.trendCharts()
	cb.memoryCharts()
	return cb.charts, cb.missing
}

type chartBuilder struct {
	rep     *Report
	charts  []*Chart
	missing []string
	ids     map[string]int
	colors  map[string]color.Color
}

// Okabe–Ito colours, distinguishable with the common colour-vision
// deficiencies.
var palette = []color.Color{
	color.RGBA{0x00, 0x72, 0xB2, 0xff}, // blue
	color.RGBA{0xE6, 0x9F, 0x00, 0xff}, // orange
	color.RGBA{0x00, 0x9E, 0x73, 0xff}, // bluish green
	color.RGBA{0xCC, 0x79, 0xA7, 0xff}, // reddish purple
	color.RGBA{0x56, 0xB4, 0xE9, 0xff}, // sky blue
	color.RGBA{0xD5, 0x5E, 0x00, 0xff}, // vermillion
	color.RGBA{0xF0, 0xE4, 0x42, 0xff}, // yellow
	color.RGBA{0x55, 0x55, 0x55, 0xff}, // grey
}

var (
	colorAlert  = color.RGBA{0xC0, 0x1F, 0x1F, 0xff}
	colorMarker = color.RGBA{0x33, 0x33, 0x33, 0xff}
	colorGrid   = color.RGBA{0xE3, 0xE3, 0xE3, 0xff}
	colorWhisk  = color.RGBA{0x22, 0x22, 0x22, 0xff}
)

// color returns the colour of a series, the same in every chart of the
// report.
func (cb *chartBuilder) color(key string) color.Color {
	if c, ok := cb.colors[key]; ok {
		return c
	}
	c := palette[len(cb.colors)%len(palette)]
	cb.colors[key] = c
	return c
}

var unsafeID = regexp.MustCompile(`[^a-z0-9]+`)

// id makes a unique, file-name-safe id from parts.
func (cb *chartBuilder) id(parts ...string) string {
	s := strings.Trim(unsafeID.ReplaceAllString(strings.ToLower(strings.Join(parts, "-")), "-"), "-")
	if len(s) > 60 {
		s = strings.TrimRight(s[:60], "-")
	}
	if s == "" {
		s = "chart"
	}
	cb.ids[s]++
	if n := cb.ids[s]; n > 1 {
		s = fmt.Sprintf("%s-%d", s, n)
	}
	return s
}

func (cb *chartBuilder) add(c *Chart) {
	if c.width == 0 {
		c.width = chartWidth
	}
	if c.height == 0 {
		c.height = chartHeight
	}
	cb.charts = append(cb.charts, c)
}

// The font of every chart; the HTML report embeds the same one.
var chartFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// newPlot returns a plot with the report's look: sans-serif text, light
// grid lines, and plain-text labels (no markup is interpreted, so a
// model's name is drawn as it is).
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	h := text.Plain{Fonts: font.DefaultCache}
	p.TextHandler = h
	style := func(s *text.Style, size vg.Length) {
		s.Font = chartFont
		s.Font.Size = size
		s.Handler = h
	}
	p.Title.Text = shorten(clean(title), 80)
	style(&p.Title.TextStyle, 12)
	p.Title.Padding = 8
	p.X.Label.Text = shorten(clean(xlabel), 60)
	p.Y.Label.Text = shorten(clean(ylabel), 60)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		style(&a.Label.TextStyle, 10)
		style(&a.Tick.Label, 9)
		a.Color = colorMarker
		a.Tick.Color = colorMarker
	}
	style(&p.Legend.TextStyle, 9)
	p.Legend.Top = true
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = colorGrid, colorGrid
	p.Add(g)
	return p
}

// chartLabel shortens a name for an axis or legend.
func chartLabel(s string) string { return shorten(clean(s), 36) }

// A bar is one model's (or one run's) value of a benchmark.
type bar struct {
	label  string
	key    string // colour key
	value  float64
	lo, hi float64 // NaN when there is no interval
	failed bool
}

// compareCharts draws, for each benchmark, the value of every model as a
// horizontal bar with its 95% confidence interval as a whisker.
func (cb *chartBuilder) compareCharts() {
	type series struct {
		name, unit string
		bars       []bar
	}
	var order []string
	byName := map[string]*series{}
	multi := len(cb.rep.Runs) > 1
	for _, e := range cb.rep.allEntries() {
		if loadLevel(e.res) != "" {
			continue // charted per load level
		}
		s := byName[e.res.BenchmarkName]
		if s == nil {
			s = &series{name: e.res.BenchmarkName, unit: e.res.Unit}
			byName[e.res.BenchmarkName] = s
			order = append(order, e.res.BenchmarkName)
		}
		b := bar{label: chartLabel(e.res.ModelName), key: e.res.ModelName, value: e.res.Value, lo: math.NaN(), hi: math.NaN(), failed: e.failed}
		if multi {
			b.label = chartLabel(e.res.ModelName) + " · " + shorten(cb.rep.label(e.run), 14)
			b.key = e.res.ModelName + "\x00" + cb.rep.label(e.run)
		}
		if lo, hi, ok := e.ci(); ok && !e.failed {
			b.lo, b.hi = lo, hi
		}
		s.bars = append(s.bars, b)
	}
	for _, name := range order {
		s := byName[name]
		c, ok := cb.barChart(s.name, s.unit, s.bars)
		if !ok {
			cb.missing = append(cb.missing, fmt.Sprintf("%s: every result failed; nothing to chart.", clean(name)))
			continue
		}
		cb.add(c)
	}
}

func (cb *chartBuilder) barChart(name, unit string, bars []bar) (*Chart, bool) {
	ref := 0.0
	ok := false
	for _, b := range bars {
		if !b.failed {
			ref = math.Max(ref, math.Abs(b.value))
			ok = true
		}
	}
	if !ok {
		return nil, false
	}
	sc := scaleFor(ref, unit)
	p := newPlot(name, sc.unit, "")
	n := len(bars)
	labels := make([]string, n)
	var whiskers plotter.XErrorBars
	var valueLabels plotter.XYLabels
	marks := 0
	failed := 0
	// Bars are listed top to bottom, so the first result is at the top.
	for i, b := range bars {
		y := float64(n - 1 - i)
		labels[n-1-i] = b.label
		if b.failed {
			labels[n-1-i] = b.label + " (failed)"
			failed++
			continue
		}
		v := b.value * sc.factor
		bc, err := plotter.NewBarChart(plotter.Values{v}, 14)
		if err != nil {
			continue
		}
		bc.Horizontal = true
		bc.XMin = y
		bc.Color = cb.color(b.key)
		bc.LineStyle.Width = 0
		p.Add(bc)
		// A dot at the value keeps a zero (or tiny) value visible.
		if dot, err := plotter.NewScatter(plotter.XYs{{X: v, Y: y}}); err == nil {
			dot.GlyphStyle = draw.GlyphStyle{Color: cb.color(b.key), Radius: 3, Shape: draw.CircleGlyph{}}
			p.Add(dot)
		}
		marks++
		end := v
		if !math.IsNaN(b.lo) {
			lo, hi := b.lo*sc.factor, b.hi*sc.factor
			whiskers.XYs = append(whiskers.XYs, plotter.XY{X: v, Y: y})
			whiskers.XErrors = append(whiskers.XErrors, struct{ Low, High float64 }{math.Max(v-lo, 0), math.Max(hi-v, 0)})
			end = math.Max(v, hi)
		}
		valueLabels.XYs = append(valueLabels.XYs, plotter.XY{X: end, Y: y})
		valueLabels.Labels = append(valueLabels.Labels, Number(v))
	}
	if len(whiskers.XYs) > 0 {
		whiskers.LineStyle = draw.LineStyle{Color: colorWhisk, Width: 1.2}
		whiskers.CapWidth = 8
		p.Add(&whiskers)
	}
	if len(valueLabels.XYs) > 0 {
		if l, err := plotter.NewLabels(valueLabels); err == nil {
			for i := range l.TextStyle {
				l.TextStyle[i].Font = chartFont
				l.TextStyle[i].Font.Size = 8
				l.TextStyle[i].YAlign = draw.YCenter
				l.TextStyle[i].Handler = p.TextHandler
			}
			l.Offset = vg.Point{X: 4}
			p.Add(l)
		}
	}
	p.NominalY(labels...)
	p.Y.Tick.Label.Font.Size = 9
	if p.X.Min > 0 {
		p.X.Min = 0
	}
	// Room on the right for the value labels.
	p.X.Max += (p.X.Max - p.X.Min) * 0.12
	caption := "Bars: the headline value (median unless the result says otherwise); whiskers: its 95% confidence interval."
	if len(whiskers.XYs) < marks {
		n := marks - len(whiskers.XYs)
		caption += fmt.Sprintf(" %d of %d bars %s no interval (too few samples).", n, marks, map[bool]string{true: "has", false: "have"}[n == 1])
	}
	if failed > 0 {
		caption += fmt.Sprintf(" %s failed and %s no bar.", plural(failed, "result"), map[bool]string{true: "has", false: "have"}[failed == 1])
	}
	return &Chart{
		ID:      cb.id("compare", name),
		Section: "compare",
		Title:   name,
		Caption: caption,
		Marks:   marks,
		plot:    p,
		height:  vg.Length(70 + 28*n),
	}, true
}

// memoryCharts draws resident memory over time during each memory
// benchmark (metadata rss_mb over rss_times_ms), one line per model, with
// each peak marked.
func (cb *chartBuilder) memoryCharts() {
	type line struct {
		label, key string
		t, mb      []float64
	}
	var lines []line
	seen := false
	for _, e := range cb.rep.allEntries() {
		if e.failed {
			continue
		}
		mb, ok1 := metaFloats(e.res.Metadata, "rss_mb")
		ts, ok2 := metaFloats(e.res.Metadata, "rss_times_ms")
		if !ok1 && !ok2 {
			continue
		}
		seen = true
		if !ok1 || !ok2 || len(mb) != len(ts) || len(mb) == 0 {
			cb.missing = append(cb.missing, fmt.Sprintf("%s on %s: no usable memory samples (rss_mb and rss_times_ms missing or of different lengths).", clean(e.res.BenchmarkName), clean(e.res.ModelName)))
			continue
		}
		l := line{label: chartLabel(e.res.ModelName), key: e.res.ModelName, t: ts, mb: mb}
		if len(cb.rep.Runs) > 1 {
			l.label += " · " + shorten(cb.rep.label(e.run), 14)
			l.key += "\x00" + cb.rep.label(e.run)
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		if !seen {
			for _, e := range cb.rep.allEntries() {
				if e.res.BenchmarkName == "memory_usage" {
					cb.missing = append(cb.missing, "Memory over time: no memory_usage result with RSS samples in these runs.")
					break
				}
			}
		}
		return
	}
	maxT, maxMB := 0.0, 0.0
	for _, l := range lines {
		for i := range l.t {
			maxT = math.Max(maxT, l.t[i])
			maxMB = math.Max(maxMB, l.mb[i])
		}
	}
	ts := scaleFor(maxT, "ms")
	ms := scaleFor(maxMB, "MB")
	p := newPlot("Resident memory during memory_usage", "time since the call began ("+ts.unit+")", "RSS ("+ms.unit+")")
	marks := 0
	for _, l := range lines {
		xys := make(plotter.XYs, len(l.t))
		peak := 0
		for i := range l.t {
			xys[i] = plotter.XY{X: l.t[i] * ts.factor, Y: l.mb[i] * ms.factor}
			if l.mb[i] > l.mb[peak] {
				peak = i
			}
		}
		ln, err := plotter.NewLine(xys)
		if err != nil {
			continue
		}
		ln.Color = cb.color(l.key)
		ln.Width = 1.5
		p.Add(ln)
		p.Legend.Add(l.label, ln)
		pk, err := plotter.NewScatter(plotter.XYs{xys[peak]})
		if err == nil {
			pk.GlyphStyle = draw.GlyphStyle{Color: cb.color(l.key), Radius: 3.5, Shape: draw.CircleGlyph{}}
			p.Add(pk)
		}
		marks += len(xys)
	}
	cb.add(&Chart{
		ID:      cb.id("memory", "rss"),
		Section: "memory",
		Title:   "Resident memory during memory_usage",
		Caption: "Resident set size sampled during the benchmark's call; the dot marks each peak.",
		Marks:   marks,
		plot:    p,
	})
}
