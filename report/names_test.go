package report

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/inference-pio/piobench/result"
)

// hostileNames are model and benchmark names that try to escape a
// directory, end a string early, break a table or inject markup.
var hostileNames = []string{
	"../../x",
	"/etc/passwd",
	"a\x00b",
	strings.Repeat("very-long-model-name-", 20),
	"<b onmouseover=alert(1)>bold</b>|cell|",
	"line\nbreak\r\n# heading",
	"\xff\xfe invalid UTF-8",
	"\x1b[31mred\x1b[0m",
	"[link](javascript:alert(1))",
}

// hostileReport is a run whose models and benchmarks carry hostileNames,
// written to a file and read back as the report command does.
func hostileReport(t *testing.T) *Report {
	t.Helper()
	run := &result.Run{SchemaVersion: result.SchemaVersion, RunID: "hostile", StartedAt: result.Time(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)),
		Environment: result.Environment{GPUs: []result.GPU{}}}
	for i, n := range hostileNames {
		for _, b := range []string{"inference_speed", n} {
			run.Results = append(run.Results, result.Result{Timestamp: time.Time(run.StartedAt), ModelName: n, BenchmarkName: b,
				Value: float64(10 + i), Unit: "tokens/sec", Category: result.CategoryPerformance,
				Metadata: map[string]any{"samples": []float64{9, 10, 11}, "ci95_low": 9.0, "ci95_high": 11.0}})
		}
	}
	dir := t.TempDir()
	jp, _, err := result.WriteFiles(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ReadRuns([]string{jp})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestHostileNamesInChartFiles writes every chart of a report whose names
// are hostile: every file lands in the directory, with a short, plain
// name.
func TestHostileNamesInChartFiles(t *testing.T) {
	rep := hostileReport(t)
	charts, _ := Charts(rep)
	if len(charts) == 0 {
		t.Fatal("no charts")
	}
	root := t.TempDir()
	dir := filepath.Join(root, "charts")
	paths, err := WriteCharts(dir, charts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		name := filepath.Base(p)
		if filepath.Dir(p) != dir || len(name) > 100 || strings.ContainsAny(name, "\x00/\\ <>|") || strings.HasPrefix(name, ".") || !utf8.ValidString(name) {
			t.Errorf("chart file %q", p)
		}
	}
	if ents, _ := os.ReadDir(root); len(ents) != 1 {
		t.Errorf("files written beside the charts directory: %d entries in %s", len(ents), root)
	}
	t.Logf("%d chart files for %d hostile names", len(paths), len(hostileNames))
}

// TestHostileNamesInHTMLAndMarkdown renders the same report as HTML and
// Markdown: no name becomes markup, a line break, a raw control character
// or invalid UTF-8.
func TestHostileNamesInHTMLAndMarkdown(t *testing.T) {
	rep := hostileReport(t)
	var hb bytes.Buffer
	if err := WriteHTML(&hb, rep); err != nil {
		t.Fatal(err)
	}
	page := hb.String()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		if n.Data == "b" {
			t.Error("a model name became a <b> element")
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("a model name became an attribute %s=%q", a.Key, a.Val)
			}
		}
	})
	if !utf8.ValidString(page) || strings.ContainsAny(page, "\x00\x1b") {
		t.Error("the HTML holds invalid UTF-8, NUL or ESC")
	}
	if !strings.Contains(page, "&lt;b onmouseover=alert(1)&gt;") {
		t.Error("the HTML lacks the escaped name")
	}

	var mb bytes.Buffer
	if err := WriteMarkdown(&mb, rep); err != nil {
		t.Fatal(err)
	}
	md := mb.String()
	if !utf8.ValidString(md) || strings.ContainsAny(md, "\x00\x1b\r") {
		t.Errorf("the Markdown holds invalid UTF-8, NUL, ESC or CR:\n%q", md)
	}
	for _, bad := range []string{"<b ", "\n# heading"} {
		if strings.Contains(md, bad) {
			t.Errorf("the Markdown holds %q unescaped", bad)
		}
	}
	if regexp.MustCompile(`(^|[^\\])\]\(javascript:`).MatchString(md) || !strings.Contains(md, `\[link\](javascript:`) {
		t.Error("the Markdown holds a link a name made, or lacks the escaped name")
	}
	// Every table row has as many cell separators as its table's header.
	want := -1
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			want = -1
			continue
		}
		n := strings.Count(line, "|") - strings.Count(line, `\|`)
		if want < 0 {
			want = n
		} else if n != want {
			t.Errorf("row has %d cell separators, its header %d: %s", n, want, line)
		}
	}
}
