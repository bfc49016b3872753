package report

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixture reads result files from testdata.
func fixture(t *testing.T, names ...string) *Report {
	t.Helper()
	var paths []string
	for _, n := range names {
		paths = append(paths, filepath.Join("testdata", n))
	}
	rep, err := ReadRuns(paths)
	if err != nil {
		t.Fatal(err)
	}
	rep.Generated = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	return rep
}

// fixtureHistory is a history of eight runs of two metrics: speed drops
// by a fifth at the sixth run (a change point and a critical alert), and
// memory holds steady with one failed run.
func fixtureHistory() *History {
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	speed := Trend{Model: "ref:15m", Benchmark: "inference_speed", Unit: "tokens/sec"}
	mem := Trend{Model: "ref:15m", Benchmark: "memory_usage", Unit: "MB"}
	for i := 0; i < 8; i++ {
		at := t0.Add(time.Duration(i) * 20 * time.Hour)
		v := 140 + float64(i%3)
		if i >= 5 {
			v = 112 + float64(i%2)
		}
		speed.Points = append(speed.Points, Point{At: at, RunID: "run" + string(rune('a'+i)), Value: v, Lo: v - 6, Hi: v + 5})
		m := 0.84 + 0.01*float64(i%2)
		if i == 3 {
			m = math.NaN()
		}
		mem.Points = append(mem.Points, Point{At: at, RunID: "run" + string(rune('a'+i)), Value: m, Lo: math.NaN(), Hi: math.NaN()})
	}
	speed.ChangePoints = []int{5}
	speed.Alerts = []Alert{{Index: 5, Severity: "critical", Message: "-20.0% vs baseline"}}
	return &History{
		Runs:   8,
		Trends: []Trend{speed, mem},
		Regressions: []Regression{
			{Model: "ref:15m", Benchmark: "memory_usage", Unit: "MB", Baseline: 0.84, Current: 0.93, Change: 0.107, Severity: "minor", Message: "Mann-Whitney U p=0.04"},
			{Model: "ref:15m", Benchmark: "inference_speed", Unit: "tokens/sec", Baseline: 141, Current: 112.5, Change: -0.202, Severity: "critical", Message: "Mann-Whitney U p=0.001 < 0.05; -20.2% beyond the 5% threshold"},
		},
	}
}

// golden compares got with testdata/golden/name, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./report -update rewrites it); got:\n%s", path, got)
	}
}

var goldenCases = []struct {
	name    string
	files   []string
	history bool
	compare bool
}{
	{"models", []string{"models.json"}, false, false},
	{"history", []string{"models.json"}, true, false},
	{"load", []string{"load.json", "scalability.json"}, false, false},
	{"compare", []string{"models.json", "failed.json"}, false, true},
	{"failed", []string{"failed.json"}, false, false},
	{"empty", []string{"empty.json"}, false, false},
	{"evil", []string{"evil.json"}, false, false},
	{"history-one-run", []string{"failed.json"}, true, false},
}

func goldenReport(t *testing.T, i int) *Report {
	c := goldenCases[i]
	rep := fixture(t, c.files...)
	if c.history {
		rep.History = fixtureHistory()
		if c.name == "history-one-run" {
			rep.History = &History{Runs: 1}
		}
	}
	if c.compare {
		rep.Compare = &[2]int{0, 1}
	}
	return rep
}

func TestGoldenText(t *testing.T) {
	for i, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteText(&b, goldenReport(t, i), TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b.Bytes(), []byte("\x1b")) {
				t.Error("plain text output holds an escape character")
			}
			golden(t, c.name+".txt", b.Bytes())
		})
	}
}

func TestGoldenMarkdown(t *testing.T) {
	for i, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteMarkdown(&b, goldenReport(t, i)); err != nil {
				t.Fatal(err)
			}
			golden(t, c.name+".md", b.Bytes())
		})
	}
}

func TestGoldenColorTable(t *testing.T) {
	rep := fixture(t, "failed.json", "models.json")
	var b bytes.Buffer
	if err := WriteTable(&b, rep.Runs[0].Results, TextOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), sRed+"FAILED") {
		t.Errorf("failed results are not red:\n%q", b.String())
	}
	golden(t, "failed-color.txt", b.Bytes())
}

func TestMarkdownRegressionsFirst(t *testing.T) {
	rep := fixture(t, "models.json")
	rep.History = fixtureHistory()
	var b bytes.Buffer
	WriteMarkdown(&b, rep)
	s := b.String()
	reg, crit, minor, results := strings.Index(s, "### Regressions"), strings.Index(s, "CRITICAL"), strings.Index(s, "MINOR"), strings.Index(s, "### run")
	if reg < 0 || crit < 0 || minor < 0 || results < 0 {
		t.Fatalf("missing sections:\n%s", s)
	}
	if !(reg < crit && crit < minor && minor < results) {
		t.Errorf("want regressions first, critical before minor, then results:\n%s", s)
	}
	if !strings.Contains(s, "**2 regressions**") {
		t.Errorf("summary does not count the regressions:\n%s", s)
	}
}

func TestMarkdownEscapes(t *testing.T) {
	rep := fixture(t, "evil.json")
	var b bytes.Buffer
	WriteMarkdown(&b, rep)
	s := b.String()
	for _, bad := range []string{"<script>", "**bold**", "[link](", "@team", "\x1b", "| **bold"} {
		if strings.Contains(s, bad) {
			t.Errorf("markdown holds %q unescaped:\n%s", bad, s)
		}
	}
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
			continue
		}
		// Every table row has as many unescaped pipes as the header.
		if n := strings.Count(line, "|") - strings.Count(line, `\|`); n != 6 {
			t.Errorf("row has %d cell separators, want 6: %s", n, line)
		}
	}
}

func TestTextCleansNames(t *testing.T) {
	rep := fixture(t, "evil.json")
	var b bytes.Buffer
	WriteText(&b, rep, TextOptions{})
	s := b.String()
	if strings.ContainsAny(s, "\x1b\r") {
		t.Errorf("text output holds control characters: %q", s)
	}
	for _, line := range strings.Split(s, "\n") {
		if displayWidth(line) > 260 {
			t.Errorf("line of %d columns: long names are not cut: %s", displayWidth(line), line)
		}
	}
}

func TestMissingSaysWhy(t *testing.T) {
	for _, c := range []struct {
		files []string
		hist  *History
		want  string
	}{
		{[]string{"empty.json"}, nil, "no results in this file"},
		{[]string{"failed.json"}, nil, "Every result failed (3 of 3)"},
		{[]string{"models.json"}, &History{Runs: 1}, "The history holds one run"},
		{[]string{"models.json"}, &History{}, "The history holds no runs yet"},
	} {
		rep := fixture(t, c.files...)
		rep.History = c.hist
		for _, f := range []func(*bytes.Buffer){
			func(b *bytes.Buffer) { WriteText(b, rep, TextOptions{}) },
			func(b *bytes.Buffer) { WriteMarkdown(b, rep) },
			func(b *bytes.Buffer) { WriteHTML(b, rep) },
		} {
			var b bytes.Buffer
			f(&b)
			if !strings.Contains(b.String(), c.want) {
				t.Errorf("%v: output lacks %q", c.files, c.want)
			}
		}
	}
}

func TestReadRunsErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{\n \"results\": [\n  {\"benchmark_name\": 3}\n ]\n}\n"), 0o644)
	if _, err := ReadRuns([]string{bad}); err == nil || !strings.Contains(err.Error(), "bad.json:") {
		t.Errorf("bad file: error %v, want one naming the file", err)
	}
	if _, err := ReadRuns([]string{filepath.Join(dir, "nope.json")}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: error %v", err)
	}
}

func TestLatest(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"20261101T000000Z_a.json", "20261127T000000Z_b.json", "20261127T000000Z_b.csv", "20261115T000000Z_c.json", ".hidden.json"} {
		os.WriteFile(filepath.Join(dir, n), []byte("{}"), 0o644)
	}
	got, err := Latest(dir)
	if err != nil || filepath.Base(got) != "20261127T000000Z_b.json" {
		t.Errorf("Latest = %q, %v", got, err)
	}
	got, err = Latest(t.TempDir())
	if err != nil || got != "" {
		t.Errorf("empty dir: Latest = %q, %v", got, err)
	}
}

func TestCompareVerdicts(t *testing.T) {
	rep := fixture(t, "models.json", "failed.json")
	c := rep.compare(0, 1)
	got := map[string]string{}
	for _, p := range c.Pairs {
		got[p.Model+"/"+p.Benchmark] = p.verdict()
	}
	if got["ref:15m/inference_speed"] != verdictFailed || got["ref:15m/batch_processing_1"] != verdictMissing {
		t.Errorf("verdicts %v", got)
	}
	mk := func(v, lo, hi float64) *entry {
		e := entry{}
		e.res.Value = v
		e.res.Metadata = map[string]any{"ci95_low": lo, "ci95_high": hi}
		return &e
	}
	for _, c := range []struct {
		unit string
		a, b *entry
		want string
	}{
		{"tokens/sec", mk(100, 95, 105), mk(120, 115, 125), verdictBetter},
		{"tokens/sec", mk(100, 95, 105), mk(80, 75, 85), verdictWorse},
		{"tokens/sec", mk(100, 95, 105), mk(103, 99, 108), verdictSame},
		{"ms", mk(100, 95, 105), mk(120, 115, 125), verdictWorse},
		{"MB", mk(100, 95, 105), mk(80, 75, 85), verdictBetter},
	} {
		p := pair{Unit: c.unit, A: c.a, B: c.b}
		if v := p.verdict(); v != c.want {
			t.Errorf("%s %v -> %v: verdict %s, want %s", c.unit, c.a.res.Value, c.b.res.Value, v, c.want)
		}
	}
	if ch := (pair{A: mk(100, 0, 0), B: mk(80, 0, 0)}).change(); math.Abs(ch+0.2) > 1e-12 {
		t.Errorf("change = %v, want -0.2", ch)
	}
}
