package report

import (
	"bytes"
	"context"
	"encoding/xml"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func renderHTML(t *testing.T, rep *Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, rep); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// fullFixture is every kind of data at once: two models, a load test, a
// scalability sweep, and a newest run judged against a history of 29
// earlier runs in a SQLite store (with a change point in loading_time and
// a regression of inference_speed).
func fullFixture(t *testing.T) *Report {
	rep := fixture(t, "models.json", "load.json", "scalability.json")
	runs := historyRuns(t, 30, 10)
	s := openTestStore(t, runs[:29])
	rep.Runs = append(rep.Runs, runs[29])
	rep.Source = append(rep.Source, "")
	h, err := LoadHistory(context.Background(), s, rep, HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep.History = h
	return rep
}

// TestHTMLSelfContained checks that the page can load nothing: no script,
// no external style, image, font or frame, a policy that forbids every
// fetch, and no address other than SVG's namespace.
func TestHTMLSelfContained(t *testing.T) {
	page := renderHTML(t, fullFixture(t))
	if !strings.Contains(page, `<meta http-equiv="Content-Security-Policy" content="default-src 'none';`) {
		t.Error("no Content-Security-Policy forbidding fetches")
	}
	lower := strings.ToLower(page)
	for _, bad := range []string{"<script", "<link", "<iframe", "<object", "<embed", "@import", "<img", "<base"} {
		if strings.Contains(lower, bad) {
			t.Errorf("page holds %q", bad)
		}
	}
	for _, m := range regexp.MustCompile(`(?i)(?:src|href)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "#") && !strings.HasPrefix(m[1], "data:") {
			t.Errorf("reference to %q", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`url\(([^)]{0,40})`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "data:") {
			t.Errorf("CSS url(%s…)", m[1])
		}
	}
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	walk(doc, func(n *html.Node) {
		for _, a := range n.Attr {
			ns := (a.Key == "xmlns" || a.Namespace == "xmlns") && strings.HasPrefix(a.Val, "http://www.w3.org/")
			if strings.Contains(a.Val, "://") && !ns {
				t.Errorf("<%s %s=%q>: an address in an attribute", n.Data, a.Key, a.Val)
			}
		}
	})
}

// TestHTMLSections checks that every chart and section of the full
// fixture is there, with its marks.
func TestHTMLSections(t *testing.T) {
	page := renderHTML(t, fullFixture(t))
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	figs := map[string]*html.Node{}
	ids := map[string]bool{}
	walk(doc, func(n *html.Node) {
		if id := attr(n, "id"); id != "" {
			if ids[id] {
				t.Errorf("duplicate id %q", id)
			}
			ids[id] = true
		}
		if n.Type == html.ElementNode && n.Data == "figure" {
			figs[attr(n, "id")] = n
		}
	})
	for _, id := range []string{"regressions", "results", "compare", "latency", "throughput", "trend", "memory", "environment"} {
		if !ids[id] {
			t.Errorf("no section %q", id)
		}
	}
	for _, id := range []string{
		"chart-compare-inference-speed", "chart-compare-memory-usage", "chart-compare-scalability",
		"chart-latency-sim-ttft", "chart-latency-sim-itl", "chart-latency-sim-e2e",
		"chart-throughput-sim", "chart-throughput-sim-2",
		"chart-trend-ref-15m-inference-speed", "chart-trend-ref-15m-loading-time",
		"chart-memory-rss",
	} {
		f := figs[id]
		if f == nil {
			t.Errorf("no figure %s", id)
			continue
		}
		paths := 0
		walk(f, func(n *html.Node) {
			if n.Type == html.ElementNode && n.Data == "path" {
				paths++
			}
		})
		if paths < 10 {
			t.Errorf("%s: %d SVG paths; the chart drew nothing", id, paths)
		}
	}
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// TestHTMLEscapes renders names and model output full of markup: none of
// it may become an element or attribute.
func TestHTMLEscapes(t *testing.T) {
	page := renderHTML(t, fixture(t, "evil.json"))
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "script", "img", "i", "b":
			t.Errorf("model text became a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("model text became an attribute %s=%q", a.Key, a.Val)
			}
		}
	})
	for _, want := range []string{
		"&lt;script&gt;alert(&#34;m&#34;)&lt;/script&gt;",   // a model name
		"&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;img src=x", // a model's output
		"&lt;/script&gt;&lt;script&gt;alert(2)",             // a config value
		"CPU &lt;b&gt;&#34;x&#34;&lt;/b&gt;",                // the environment
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks the escaped text %s", want)
		}
	}
	if strings.Contains(page, "\x1b") {
		t.Error("page holds an escape character")
	}
	// The SVG of each chart is well-formed XML, so no name broke out of it.
	for _, svg := range regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAllString(page, -1) {
		d := xml.NewDecoder(strings.NewReader(svg))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("chart SVG is not well-formed: %v", err)
			}
		}
	}
}

func TestHTMLBadInput(t *testing.T) {
	for _, c := range []struct {
		files []string
		hist  *History
		want  []string
	}{
		{[]string{"empty.json"}, nil, []string{"no results in this file", "No results in this run."}},
		{[]string{"failed.json"}, nil, []string{"Every result failed", "model did not load", "every result failed; nothing to chart"}},
		{[]string{"failed.json"}, &History{Runs: 1}, []string{"The history holds one run"}},
		{[]string{"evil.json"}, nil, []string{"very_long_benchmark_name_xxxxxxxx"}},
	} {
		rep := fixture(t, c.files...)
		rep.History = c.hist
		page := renderHTML(t, rep)
		for _, w := range c.want {
			if !strings.Contains(page, w) {
				t.Errorf("%v: page lacks %q", c.files, w)
			}
		}
		if _, err := html.Parse(strings.NewReader(page)); err != nil {
			t.Error(err)
		}
	}
}

func TestChartsExport(t *testing.T) {
	rep := fullFixture(t)
	charts, missing := Charts(rep)
	if len(missing) != 0 {
		t.Errorf("missing: %v", missing)
	}
	want := map[string]int{
		"compare-inference-speed": 4, "compare-scalability": 1, "compare-loading-time": 3,
		"latency-sim-ttft": 15, "throughput-sim": 4, "throughput-sim-2": 5,
		"trend-ref-15m-inference-speed": 30, "trend-ref-15m-loading-time": 30,
	}
	got := map[string]int{}
	for _, c := range charts {
		got[c.ID] = c.Marks
	}
	for id, n := range want {
		if got[id] != n {
			t.Errorf("chart %s has %d marks, want %d", id, got[id], n)
		}
	}
	dir := t.TempDir()
	paths, err := WriteCharts(dir, charts)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2*len(charts) {
		t.Errorf("%d files for %d charts", len(paths), len(charts))
	}
	f, err := os.Open(filepath.Join(dir, "throughput-sim.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() != 2*chartWidth || b.Dy() != 2*280 {
		t.Errorf("PNG is %dx%d", b.Dx(), b.Dy())
	}
	// The curve is drawn in the model's colour, the knee in red.
	colours := map[[3]uint32]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}]++
		}
	}
	red := colours[[3]uint32{0xC0, 0x1F, 0x1F}]
	if red < 100 {
		t.Errorf("knee marker: %d red pixels", red)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "throughput-sim.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("@font-face")) {
		t.Error("a standalone SVG does not embed its font")
	}
}
