package report

import (
	"fmt"
	"image/color"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/inference-pio/piobench/result"
)

// Results of `piobench load` carry their load level in metadata
// ("load_level", such as "concurrency=4" or "rate=10/s poisson") and are
// named metric_statistic: ttft_p50, itl_p99, e2e_mean, ...
var latencyName = regexp.MustCompile(`^(ttft|itl|tpot|e2e)_(mean|p50|p90|p99)$`)

// loadLevel returns the load level a result was measured at, or "".
func loadLevel(r result.Result) string { return metaString(r.Metadata, "load_level") }

// displayName names a result in tables: its benchmark, and its load level
// when it has one ("ttft_p50 @ concurrency=4").
func displayName(r result.Result) string {
	if l := loadLevel(r); l != "" {
		return r.BenchmarkName + " @ " + l
	}
	return r.BenchmarkName
}

// A level orders load levels: closed loops by concurrency, then open loops
// by rate (an infinite rate last).
type level struct {
	name string
	open bool
	x    float64
}

func parseLevel(r result.Result) level {
	l := level{name: loadLevel(r), x: math.NaN()}
	if c, ok := metaFloat(r.Metadata, "concurrency"); ok && metaString(r.Metadata, "mode") != "open" {
		l.x = c
		return l
	}
	l.open = true
	if s := metaString(r.Metadata, "rate"); s == "inf" {
		l.x = math.Inf(1)
	} else if v, ok := metaFloat(r.Metadata, "rate"); ok {
		l.x = v
	}
	return l
}

// short is the level's name on an axis: c=4, 10/s, inf.
func (l level) short() string {
	switch {
	case !l.open && !math.IsNaN(l.x):
		return "c=" + strconv.FormatFloat(l.x, 'g', -1, 64)
	case l.open && math.IsInf(l.x, 1):
		return "rate inf"
	case l.open && !math.IsNaN(l.x):
		return strconv.FormatFloat(l.x, 'g', 4, 64) + "/s"
	}
	return shorten(clean(l.name), 12)
}

func sortLevels(ls []level) {
	sort.SliceStable(ls, func(i, j int) bool {
		a, b := ls[i], ls[j]
		if a.open != b.open {
			return !a.open
		}
		if math.IsNaN(a.x) || math.IsNaN(b.x) {
			return !math.IsNaN(a.x) && math.IsNaN(b.x)
		}
		return a.x < b.x
	})
}

// A loadSeries is the load results of one model in one run.
type loadSeries struct {
	run    int
	model  string
	levels []level
	// values[metric_statistic][level name]
	values map[string]map[string]float64
	failed map[string]int
}

func (cb *chartBuilder) loadSeries() []*loadSeries {
	var out []*loadSeries
	idx := map[string]*loadSeries{}
	for _, e := range cb.rep.allEntries() {
		if loadLevel(e.res) == "" {
			continue
		}
		k := fmt.Sprintf("%d\x00%s", e.run, e.res.ModelName)
		s := idx[k]
		if s == nil {
			s = &loadSeries{run: e.run, model: e.res.ModelName, values: map[string]map[string]float64{}, failed: map[string]int{}}
			idx[k] = s
			out = append(out, s)
		}
		lv := parseLevel(e.res)
		known := false
		for _, l := range s.levels {
			known = known || l.name == lv.name
		}
		if !known {
			s.levels = append(s.levels, lv)
		}
		if e.failed {
			s.failed[e.res.BenchmarkName]++
			continue
		}
		if s.values[e.res.BenchmarkName] == nil {
			s.values[e.res.BenchmarkName] = map[string]float64{}
		}
		s.values[e.res.BenchmarkName][lv.name] = e.res.Value
	}
	for _, s := range out {
		sortLevels(s.levels)
	}
	return out
}

func (cb *chartBuilder) seriesTitle(s *loadSeries) string {
	t := chartLabel(s.model)
	if len(cb.rep.Runs) > 1 {
		t += " · " + shorten(cb.rep.label(s.run), 14)
	}
	return t
}

var (
	statColors = map[string]color.Color{"p50": palette[0], "p90": palette[1], "p99": palette[5], "mean": palette[7]}
	metricName = map[string]string{"ttft": "Time to first token", "itl": "Inter-token latency", "tpot": "Time per output token", "e2e": "End-to-end latency"}
)

// latencyCharts draws, for each model's load test, TTFT, ITL and E2E
// percentiles (p50, p90, p99) against the load level.
func (cb *chartBuilder) latencyCharts() {
	for _, s := range cb.loadSeries() {
		for _, metric := range []string{"ttft", "itl", "e2e"} {
			if c := cb.latencyChart(s, metric); c != nil {
				cb.add(c)
			} else if s.failed[metric+"_p50"] > 0 {
				cb.missing = append(cb.missing, fmt.Sprintf("Latency %s on %s: every level failed.", metric, clean(s.model)))
			}
		}
	}
}

func (cb *chartBuilder) latencyChart(s *loadSeries, metric string) *Chart {
	ref := 0.0
	any := false
	for _, st := range []string{"p50", "p90", "p99"} {
		for _, v := range s.values[metric+"_"+st] {
			ref = math.Max(ref, v)
			any = true
		}
	}
	if !any {
		return nil
	}
	sc := scaleFor(ref, "ms")
	title := metricName[metric] + " · " + s.model
	p := newPlot(shorten(metricName[metric], 40)+" · "+cb.seriesTitle(s), "load level", sc.unit)
	names := make([]string, len(s.levels))
	for i, l := range s.levels {
		names[i] = l.short()
	}
	p.NominalX(names...)
	marks := 0
	for _, st := range []string{"p50", "p90", "p99"} {
		vals := s.values[metric+"_"+st]
		var xys plotter.XYs
		for i, l := range s.levels {
			if v, ok := vals[l.name]; ok {
				xys = append(xys, plotter.XY{X: float64(i), Y: v * sc.factor})
			}
		}
		if len(xys) == 0 {
			continue
		}
		ln, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			continue
		}
		ln.Color, ln.Width = statColors[st], 1.5
		if st == "p99" {
			ln.Dashes = []vg.Length{4, 2}
		}
		pts.GlyphStyle = draw.GlyphStyle{Color: statColors[st], Radius: 2.5, Shape: draw.CircleGlyph{}}
		p.Add(ln, pts)
		p.Legend.Add(st, ln, pts)
		marks += len(xys)
	}
	if p.Y.Min > 0 {
		p.Y.Min = 0
	}
	p.Y.Max *= 1.2 // room for the legend
	p.Legend.Left = true
	caption := fmt.Sprintf("%s percentiles at each of %s, from every request's sample.", metricName[metric], plural(len(s.levels), "load level"))
	if n := s.failed[metric+"_p50"]; n > 0 {
		caption += fmt.Sprintf(" %s failed (no point).", plural(n, "level"))
	}
	return &Chart{ID: cb.id("latency", s.model, metric), Section: "latency", Title: title, Caption: caption, Marks: marks, plot: p, height: 260}
}

// A curvePoint is one concurrency level's throughput.
type curvePoint struct{ c, thr float64 }

// throughputCharts draws output throughput against concurrency: from the
// scalability benchmark's curve (with its knee and saturation point), or
// else from closed-loop load levels (the knee found by the same rule:
// the lowest concurrency within 5% of the best throughput).
func (cb *chartBuilder) throughputCharts() {
	for _, e := range cb.rep.allEntries() {
		if e.res.BenchmarkName != "scalability" || e.failed {
			continue
		}
		curve := scalabilityCurve(e.res.Metadata)
		if len(curve) == 0 {
			cb.missing = append(cb.missing, fmt.Sprintf("Throughput of %s: the scalability result holds no curve.", clean(e.res.ModelName)))
			continue
		}
		knee, okK := metaFloat(e.res.Metadata, "knee_concurrency")
		sat, okS := metaFloat(e.res.Metadata, "saturation_concurrency")
		if !okK {
			knee = math.NaN()
		}
		if !okS {
			sat = math.NaN()
		}
		name := chartLabel(e.res.ModelName)
		if len(cb.rep.Runs) > 1 {
			name += " · " + shorten(cb.rep.label(e.run), 14)
		}
		caption := "Output tokens per second at each concurrency of the scalability sweep."
		if d := metaString(e.res.Metadata, "knee_definition"); d != "" {
			caption += " Knee: " + d + "."
		}
		if s := metaString(e.res.Metadata, "stopped_because"); s != "" {
			caption += " Stopped: " + s + "."
		}
		cb.add(cb.throughputChart(e.res.ModelName, name, e.res.Unit, curve, knee, sat, caption))
	}
	for _, s := range cb.loadSeries() {
		vals := s.values["output_throughput"]
		var curve []curvePoint
		for _, l := range s.levels {
			if v, ok := vals[l.name]; ok && !l.open && !math.IsNaN(l.x) {
				curve = append(curve, curvePoint{l.x, v})
			}
		}
		if len(curve) < 2 {
			continue
		}
		best := 0
		for i, p := range curve {
			if p.thr > curve[best].thr {
				best = i
			}
		}
		knee := curve[best].c
		for _, p := range curve {
			if p.thr >= curve[best].thr*0.95 {
				knee = p.c
				break
			}
		}
		caption := "Output tokens per second at each closed-loop concurrency of the load test. Knee: lowest concurrency within 5% of the best throughput."
		cb.add(cb.throughputChart(s.model, cb.seriesTitle(s), "tokens/sec", curve, knee, curve[best].c, caption))
	}
}

// scalabilityCurve reads the metadata "curve": a list of objects with
// concurrency and output_throughput.
func scalabilityCurve(m map[string]any) []curvePoint {
	var out []curvePoint
	add := func(p map[string]any) {
		c, ok1 := metaFloat(p, "concurrency")
		t, ok2 := metaFloat(p, "output_throughput")
		if ok1 && ok2 && c > 0 {
			out = append(out, curvePoint{c, t})
		}
	}
	switch v := m["curve"].(type) {
	case []any:
		for _, x := range v {
			if p, ok := x.(map[string]any); ok {
				add(p)
			}
		}
	case []map[string]any:
		for _, p := range v {
			add(p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].c < out[j].c })
	return out
}

func (cb *chartBuilder) throughputChart(model, name, unit string, curve []curvePoint, knee, sat float64, caption string) *Chart {
	ref := 0.0
	for _, p := range curve {
		ref = math.Max(ref, p.thr)
	}
	sc := scaleFor(ref, unit)
	p := newPlot("Throughput vs concurrency · "+name, "concurrent requests (log scale)", sc.unit)
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = powTicks{}
	xys := make(plotter.XYs, len(curve))
	var satXY plotter.XYs
	for i, c := range curve {
		xys[i] = plotter.XY{X: c.c, Y: c.thr * sc.factor}
		if c.c == sat {
			satXY = append(satXY, xys[i])
		}
	}
	ln, pts, err := plotter.NewLinePoints(xys)
	if err == nil {
		col := cb.color(model)
		ln.Color, ln.Width = col, 1.8
		pts.GlyphStyle = draw.GlyphStyle{Color: col, Radius: 3, Shape: draw.CircleGlyph{}}
		p.Add(ln, pts)
	}
	if !math.IsNaN(knee) && knee > 0 {
		p.Add(newVMarker(p, knee, "knee c="+strconv.FormatFloat(knee, 'g', -1, 64), colorAlert, true))
	}
	if len(satXY) > 0 {
		if s, err := plotter.NewScatter(satXY); err == nil {
			s.GlyphStyle = draw.GlyphStyle{Color: colorAlert, Radius: 6, Shape: draw.RingGlyph{}}
			p.Add(s)
			p.Legend.Add("saturation", s)
		}
	}
	p.Legend.Top = false
	p.Legend.Left = false
	if p.Y.Min > 0 {
		p.Y.Min = 0
	}
	if p.X.Min == p.X.Max {
		p.X.Min, p.X.Max = p.X.Min/2, p.X.Max*2
	}
	return &Chart{ID: cb.id("throughput", model), Section: "throughput", Title: "Throughput vs concurrency · " + model, Caption: caption, Marks: len(xys), plot: p, height: 280}
}

// powTicks marks powers of two, for concurrency on a log axis.
type powTicks struct{}

func (powTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for v := 1.0; v <= max*1.0001; v *= 2 {
		if v >= min*0.9999 {
			ts = append(ts, plot.Tick{Value: v, Label: strings.TrimSuffix(strconv.FormatFloat(v, 'f', -1, 64), ".0")})
		}
	}
	return ts
}
