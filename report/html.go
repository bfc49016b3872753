package report

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"codeberg.org/go-fonts/liberation/liberationsansregular"

	"github.com/inference-pio/piobench/result"
)

//go:embed report.html.tmpl
var htmlTemplate string

//go:embed report.css
var reportCSS string

var (
	tmplOnce sync.Once
	tmpl     *template.Template
	tmplErr  error
	cssOnce  sync.Once
	fullCSS  template.CSS
)

// style returns the report's style sheet with its one font inside, as a
// data URL, so the page needs nothing from anywhere.
func style() template.CSS {
	cssOnce.Do(func() {
		font := base64.StdEncoding.EncodeToString(liberationsansregular.TTF)
		// The CSS is a constant of this package and the font is
		// base64: nothing here comes from input.
		fullCSS = template.CSS(`@font-face{font-family:"Liberation Sans";src:url(data:font/ttf;base64,` + font + `) format("truetype");font-weight:normal;font-style:normal}` + "\n" + reportCSS)
	})
	return fullCSS
}

func parsedTemplate() (*template.Template, error) {
	tmplOnce.Do(func() {
		tmpl, tmplErr = template.New("report").Funcs(template.FuncMap{
			"short": func(n int, s string) string { return shorten(clean(s), n) },
		}).Parse(htmlTemplate)
	})
	return tmpl, tmplErr
}

// The page's data. Every string in it is plain text that html/template
// escapes; only the charts' SVG (drawn by gonum/plot, which escapes the
// text it draws) and the style sheet are marked safe.
type htmlPage struct {
	Title       string
	Summary     string
	Generated   string
	Version     string
	CSS         template.CSS
	Missing     []string
	Regressions []htmlRegression
	HistoryRuns int
	Runs        []htmlRun
	Compare     *htmlCompare
	Sections    []htmlSection
}

type htmlRegression struct {
	Severity, Model, Benchmark, Baseline, Current, Change, Message string
	Rank                                                           int
}

type htmlRun struct {
	ID       string
	Anchor   string
	Heading  string
	Source   string
	Rows     []htmlRow
	Env      []kv
	Config   string
	Notes    []string
	Accuracy []htmlCase
	// Load holds the results of load tests, one row per level.
	Load        []loadTable
	LoadColumns []string
	LoadNote    string
}

type kv struct{ K, V string }

type htmlRow struct {
	Model, Category, Benchmark    string
	ModelSpan, CategorySpan       int // rows spanned; 0: covered by a cell above
	Value, Unit, CI, N, Statistic string
	Failed                        bool
	Error                         string
}

type htmlCase struct {
	Model, Input, Expected, Output string
	Correct                        bool
}

type htmlCompare struct {
	A, B  string
	Pairs []htmlPair
}

type htmlPair struct {
	Model, Benchmark, A, B, Unit, Change, Verdict string
	Class                                         string
}

type htmlSection struct {
	ID, Title, Intro string
	Charts           []htmlChart
	Missing          []string
}

type htmlChart struct {
	ID, Title, Caption string
	Marks              int
	SVG                template.HTML
}

// WriteHTML writes the report as one self-contained HTML file: the style,
// the font and every chart (as inline SVG) are inside it, it runs no
// script, and its Content-Security-Policy forbids loading anything, so it
// opens offline and makes no request.
func WriteHTML(w io.Writer, rep *Report) error {
	t, err := parsedTemplate()
	if err != nil {
		return err
	}
	page, err := buildPage(rep)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, page); err != nil {
		return err
	}
	_, err = w.Write(b.Bytes())
	return err
}

func buildPage(rep *Report) (*htmlPage, error) {
	total, failed := rep.counts()
	page := &htmlPage{
		Title:     shorten(clean(rep.title()), 120),
		Generated: rep.generated().Format("2006-01-02 15:04:05 UTC"),
		Version:   result.PiobenchVersion(),
		CSS:       style(),
		Missing:   rep.missing(),
	}
	sum := []string{plural(len(rep.Runs), "run"), plural(total, "result"), failedWord(failed)}
	if h := rep.History; h != nil {
		page.HistoryRuns = h.Runs
		sum = append(sum, "history of "+plural(h.Runs, "run"))
		if len(h.Regressions) > 0 {
			sum = append([]string{plural(len(h.Regressions), "regression")}, sum...)
		} else if h.Runs > 1 {
			sum = append(sum, "no regressions")
		}
		for _, g := range h.sortedRegressions() {
			s := scaleFor(g.Baseline, g.Unit)
			page.Regressions = append(page.Regressions, htmlRegression{
				Severity: strings.ToLower(clean(g.Severity)), Rank: severityRank(g.Severity),
				Model: g.Model, Benchmark: g.Benchmark,
				Baseline: Number(g.Baseline*s.factor) + " " + s.unit, Current: Number(g.Current*s.factor) + " " + s.unit,
				Change: formatChange(g.Change), Message: g.Message,
			})
		}
	}
	page.Summary = strings.Join(sum, " · ")
	for i := range rep.Runs {
		page.Runs = append(page.Runs, buildRun(rep, i))
	}
	if rep.Compare != nil {
		page.Compare = buildCompare(rep, rep.compare(rep.Compare[0], rep.Compare[1]))
	}
	charts, missing := Charts(rep)
	sections := []htmlSection{
		{ID: "compare", Title: "Comparison of models", Intro: "One chart per benchmark: each model's headline value, with its 95% confidence interval as a whisker."},
		{ID: "latency", Title: "Latency percentiles per load level", Intro: "Time to first token, inter-token latency and end-to-end latency at each load level."},
		{ID: "throughput", Title: "Throughput against concurrency", Intro: "Output throughput at each concurrency; the dashed line marks where the curve saturates (the knee)."},
		{ID: "trend", Title: "History", Intro: "Each metric over the runs in the history store, with change points and alerts."},
		{ID: "memory", Title: "Memory over time", Intro: "Resident memory sampled during the memory benchmark."},
	}
	idx := map[string]int{}
	for i, s := range sections {
		idx[s.ID] = i
	}
	for _, c := range charts {
		svg, err := c.inlineSVG()
		if err != nil {
			return nil, err
		}
		s := &sections[idx[c.Section]]
		// gonum/plot escapes all text it draws (html.EscapeString), so
		// the SVG holds no markup from names or model output.
		s.Charts = append(s.Charts, htmlChart{ID: c.ID, Title: c.Title, Caption: c.Caption, Marks: c.Marks, SVG: template.HTML(svg)})
	}
	for _, m := range missing {
		s := &sections[idx[sectionOfMissing(m)]]
		s.Missing = append(s.Missing, m)
	}
	for _, s := range sections {
		if len(s.Charts) > 0 || len(s.Missing) > 0 {
			page.Sections = append(page.Sections, s)
		}
	}
	if total > 0 && len(charts) == 0 && failed < total {
		page.Missing = append(page.Missing, "No chart could be drawn from these results.")
	}
	return page, nil
}

// sectionOfMissing files a note about a missing chart under its section.
func sectionOfMissing(m string) string {
	switch {
	case strings.HasPrefix(m, "Trend"):
		return "trend"
	case strings.HasPrefix(m, "Memory") || strings.Contains(m, "memory samples"):
		return "memory"
	case strings.HasPrefix(m, "Latency"):
		return "latency"
	case strings.HasPrefix(m, "Throughput"):
		return "throughput"
	}
	return "compare"
}

func buildRun(rep *Report, i int) htmlRun {
	run := rep.Runs[i]
	hr := htmlRun{ID: clean(rep.label(i)), Anchor: fmt.Sprintf("run-%d", i+1), Heading: clean(runHeading(rep, i)), Source: clean(rep.source(i))}
	plain, tables := splitLoad(rep.entries(i))
	hr.Load = tables
	hr.LoadNote = loadNote
	for _, c := range loadColumns {
		hr.LoadColumns = append(hr.LoadColumns, c.title)
	}
	gs := groups(plain)
	notes := map[string]bool{}
	lastModel, modelRow := "", 0
	for _, g := range gs {
		first := len(hr.Rows)
		for j, e := range g.Entries {
			value, unit, ci, n := resultCells(e.res)
			row := htmlRow{Benchmark: clean(displayName(e.res)), Value: value, Unit: clean(unit), CI: ci, N: n, Failed: e.failed, Statistic: clean(metaString(e.res.Metadata, "statistic"))}
			if j == 0 {
				row.Category, row.CategorySpan = clean(g.Category), len(g.Entries)
			}
			if e.failed {
				row.Error = shorten(clean(firstLine(e.res.Err())), 300)
				if row.Error == "" {
					row.Error = "failed (no error text recorded)"
				}
			}
			hr.Rows = append(hr.Rows, row)
			for _, note := range metaStrings(e.res.Metadata, "notes") {
				key := clean(e.res.ModelName + ": " + note)
				if !notes[key] {
					notes[key] = true
					hr.Notes = append(hr.Notes, key)
				}
			}
			if cases, ok := e.res.Metadata["cases"].([]any); ok && !e.failed {
				for _, c := range cases {
					m, ok := c.(map[string]any)
					if !ok {
						continue
					}
					correct, _ := m["correct"].(bool)
					hr.Accuracy = append(hr.Accuracy, htmlCase{Model: clean(e.res.ModelName), Input: shorten(clean(fmt.Sprint(m["input"])), 200), Expected: shorten(clean(fmt.Sprint(m["expected"])), 200), Output: shorten(clean(metaString(m, "output")), 400), Correct: correct})
				}
			}
		}
		// The model cell spans every row of the model's groups (a model's
		// groups are consecutive).
		if first == 0 || g.Model != lastModel {
			modelRow = first
			hr.Rows[first].Model = clean(g.Model)
		}
		hr.Rows[modelRow].ModelSpan += len(g.Entries)
		lastModel = g.Model
	}
	hr.Env = envTable(rep, i)
	if len(run.Config) > 0 {
		// Not HTML-escaped here: the template escapes it.
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(run.Config); err == nil {
			hr.Config = b.String()
		}
	}
	return hr
}

func metaStrings(m map[string]any, key string) []string {
	switch v := m[key].(type) {
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	case string:
		return []string{v}
	}
	return nil
}

// envTable lists where and how a run ran.
func envTable(rep *Report, i int) []kv {
	run := rep.Runs[i]
	e := run.Environment
	var out []kv
	add := func(k, v string) {
		if v != "" {
			out = append(out, kv{k, v})
		}
	}
	add("run id", run.RunID)
	add("source", rep.source(i))
	if t := time.Time(run.StartedAt); !t.IsZero() {
		add("started", t.UTC().Format("2006-01-02 15:04:05 UTC"))
		if run.FinishedAt != nil {
			d := time.Time(*run.FinishedAt).Sub(t)
			add("duration", formatETA(d.Seconds()))
		}
	}
	add("host", e.Hostname)
	if e.OS != "" {
		add("system", strings.TrimSpace(e.OS+"/"+e.Arch+" "+e.Kernel))
	}
	add("CPU", e.CPUModel)
	if e.CPUCores > 0 {
		add("cores", fmt.Sprintf("%d logical (GOMAXPROCS %d)", e.CPUCores, e.GoMaxProcs))
	}
	if e.MemoryBytes > 0 {
		add("memory", Quantity(float64(e.MemoryBytes), "B"))
	}
	var gpus []string
	for _, g := range e.GPUs {
		s := g.Name
		if g.MemoryBytes > 0 {
			s += ", " + Quantity(float64(g.MemoryBytes), "B")
		}
		if g.Driver != "" {
			s += ", driver " + g.Driver
		}
		gpus = append(gpus, s)
	}
	if len(gpus) > 0 {
		add("GPU", strings.Join(gpus, "; "))
	} else if e.GPUNote != "" {
		add("GPU", e.GPUNote)
	}
	add("Go", e.GoVersion)
	add("piobench", e.PiobenchVersion)
	if e.GitCommit != "" {
		c := e.GitCommit
		if e.GitDirty {
			c += " (uncommitted changes)"
		}
		add("git commit", c)
	}
	if len(out) == 0 {
		out = append(out, kv{"environment", "not recorded (the file holds results only)"})
	}
	return out
}

func buildCompare(rep *Report, c comparison) *htmlCompare {
	hc := &htmlCompare{A: runHeading(rep, c.A), B: runHeading(rep, c.B)}
	for _, p := range c.Pairs {
		a, b, unit := pairValues(p)
		ch := ""
		if x := p.change(); !math.IsNaN(x) {
			ch = formatChange(x)
		}
		v := p.verdict()
		class := ""
		switch v {
		case verdictWorse, verdictFailed:
			class = "bad"
		case verdictBetter:
			class = "good"
		}
		hc.Pairs = append(hc.Pairs, htmlPair{Model: p.Model, Benchmark: p.Benchmark, A: a, B: b, Unit: unit, Change: ch, Verdict: v, Class: class})
	}
	sort.SliceStable(hc.Pairs, func(i, j int) bool { return hc.Pairs[i].Class == "bad" && hc.Pairs[j].Class != "bad" })
	return hc
}
