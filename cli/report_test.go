package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/fake"
	"github.com/inference-pio/piobench/result"
)

// The report package's fixtures: real runs of ref:15m and ref:110m, a
// load test and a scalability sweep of the simulator, and bad inputs.
func reportFixture(name string) string { return filepath.Join("..", "report", "testdata", name) }

func TestReportConsoleAndMarkdown(t *testing.T) {
	code, stdout, stderr := runMain(t, DefaultConfig(), "report", reportFixture("models.json"), "--no-history")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"piobench report: 1 run, 16 results, none failed", "ref:110m", "loading_time", "38.69  ms", "1.394  s", "864.0  KB"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text report lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = runMain(t, DefaultConfig(), "report", "--format", "markdown", "--results", reportFixture("failed.json"), "--no-history")
	if code != 0 || !strings.HasPrefix(stdout, "## piobench report\n") || !strings.Contains(stdout, "**FAILED**: model did not load") {
		t.Errorf("markdown (exit %d):\n%s", code, stdout)
	}
}

func TestReportHTMLAndCharts(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	charts := filepath.Join(dir, "charts")
	code, stdout, stderr := runMain(t, DefaultConfig(), "report", "--html", page, "--charts", charts, "--no-history",
		reportFixture("models.json"), reportFixture("load.json"), reportFixture("scalability.json"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote "+page) || strings.Contains(stdout, "MODEL") {
		t.Errorf("stdout:\n%s", stdout)
	}
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "<!DOCTYPE html>") || !strings.Contains(string(b), `id="chart-throughput-sim"`) {
		t.Errorf("HTML report is not what was expected (%d bytes)", len(b))
	}
	if fi, _ := os.Stat(page); fi.Mode().Perm() != 0o644 {
		t.Errorf("report mode %v, want 0644", fi.Mode().Perm())
	}
	for _, n := range []string{"compare-inference-speed", "latency-sim-ttft", "throughput-sim", "memory-rss"} {
		for _, ext := range []string{".png", ".svg"} {
			if fi, err := os.Stat(filepath.Join(charts, n+ext)); err != nil || fi.Size() < 1000 {
				t.Errorf("chart %s%s: %v", n, ext, err)
			}
		}
	}
	// --format with --html prints the console report as well.
	code, stdout, _ = runMain(t, DefaultConfig(), "report", "--html", page, "--format", "markdown", "--no-history", reportFixture("failed.json"))
	if code != 0 || !strings.Contains(stdout, "## piobench report") || !strings.Contains(stdout, "wrote "+page) {
		t.Errorf("exit %d:\n%s", code, stdout)
	}
}

func TestReportBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{\n \"results\": [\n  {\"benchmark_name\": 3}\n ]\n}\n"), 0o644)
	emptyDir := t.TempDir()
	page := filepath.Join(dir, "out.html")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--dir", filepath.Join(dir, "none")}, "nothing to report"},
		{[]string{"--dir", emptyDir, "--no-history"}, "holds no result files"},
		{[]string{bad, "--html", page}, "bad.json:3"},
		{[]string{filepath.Join(dir, "missing.json")}, "missing.json: no such file"},
		{[]string{"--compare", reportFixture("models.json")}, "--compare needs exactly two runs"},
		{[]string{"--format", "pdf", reportFixture("models.json")}, `--format "pdf"`},
		{[]string{"--threshold", "0", reportFixture("models.json")}, "--threshold 0"},
		{[]string{"--html", filepath.Join(dir, "no", "such", "dir.html"), reportFixture("models.json"), "--no-history"}, "--html"},
		{[]string{"--db", filepath.Join(dir, "h.db"), "--no-history", reportFixture("models.json")}, "--db and --no-history"},
		{[]string{"--db", filepath.Join(dir, "absent.db"), reportFixture("models.json")}, "absent.db"},
	} {
		code, stdout, stderr := runMain(t, DefaultConfig(), append([]string{"report"}, c.args...)...)
		if code != ExitUsage || !strings.HasPrefix(stderr, "piobench: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want exit 2 and one line with %q", c.args, code, stderr, c.want)
		}
		if stdout != "" {
			t.Errorf("%v: wrote to stdout: %q", c.args, stdout)
		}
	}
	if _, err := os.Stat(page); err == nil {
		t.Error("a failed report left an HTML file")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
	// An empty file still renders, saying so.
	code, stdout, _ := runMain(t, DefaultConfig(), "report", reportFixture("empty.json"), "--no-history")
	if code != 0 || !strings.Contains(stdout, "empty.json: no results in this file") {
		t.Errorf("empty file: exit %d:\n%s", code, stdout)
	}
}

// TestReportLatest reports the newest run of --dir when no file is given.
func TestReportLatest(t *testing.T) {
	dir := t.TempDir()
	for i, id := range []string{"aaaa0001", "aaaa0002"} {
		run := &result.Run{SchemaVersion: 1, RunID: id, StartedAt: result.Time(time.Date(2026, 11, 1+i, 0, 0, 0, 0, time.UTC)),
			Results: []result.Result{{Timestamp: time.Now(), ModelName: "m" + id, BenchmarkName: "b", Value: 1, Unit: "s", Category: "performance", Metadata: map[string]any{}}}}
		if _, _, err := result.WriteFiles(dir, run); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := runMain(t, DefaultConfig(), "report", "--dir", dir, "--no-history")
	if code != 0 || !strings.Contains(stdout, "run aaaa0002") || strings.Contains(stdout, "aaaa0001") {
		t.Errorf("exit %d %s\n%s", code, stderr, stdout)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	code, stdout, _ = runMain(t, DefaultConfig(), append([]string{"report", "--latest", "--no-history"}, files...)...)
	if code != 0 || !strings.Contains(stdout, "run aaaa0002") || strings.Contains(stdout, "run aaaa0001") {
		t.Errorf("--latest: exit %d\n%s", code, stdout)
	}
}

// TestReportHistory records runs in a history database through piobench
// itself and reports the newest: trends in the HTML, the regression first
// in Markdown, and --compare by run id.
func TestReportHistory(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "history.db")
	env := result.Environment{OS: "linux", Arch: "amd64", CPUModel: "Test CPU", CPUCores: 4, GoMaxProcs: 4, MemoryBytes: 8 << 30, GoVersion: "go1.26.8", PiobenchVersion: "test"}
	var files []string
	for i := 0; i < 12; i++ {
		v := 100 + float64(i%3)
		if i == 11 {
			v = 70 // the newest run is 30% slower
		}
		var samples []any
		for j := 0; j < 8; j++ {
			samples = append(samples, v*(1+0.002*float64(j%4-2)))
		}
		run := &result.Run{SchemaVersion: 1, RunID: "hist" + string(rune('a'+i)) + "00", StartedAt: result.Time(time.Date(2026, 11, 1, i, 0, 0, 0, time.UTC)), Environment: env,
			Results: []result.Result{{Timestamp: time.Date(2026, 11, 1, i, 0, 0, 0, time.UTC), ModelName: "ref:15m", BenchmarkName: "inference_speed", Value: v, Unit: "tokens/sec",
				Category: "performance", Metadata: map[string]any{"status": "ok", "samples": samples}}}}
		jp, _, err := result.WriteFiles(filepath.Join(dir, "runs"), run)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, jp)
	}
	if code, _, stderr := runMain(t, DefaultConfig(), append([]string{"history", "import", "--db", db}, files...)...); code != 0 {
		t.Fatalf("history import: exit %d %s", code, stderr)
	}
	code, stdout, stderr := runMain(t, DefaultConfig(), "report", "--db", db, "--format", "markdown")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	reg, run := strings.Index(stdout, "### Regressions"), strings.Index(stdout, "### run histl00")
	if reg < 0 || run < reg || !regexp.MustCompile(`\| \*\*CRITICAL\*\* \| ref:15m \| inference_speed \| 1\d\d\.\d tokens/sec \| 70\.00 tokens/sec \| -3\d\.\d% \|`).MatchString(stdout) {
		t.Errorf("markdown from the history:\n%s", stdout)
	}
	page := filepath.Join(dir, "r.html")
	if code, _, stderr := runMain(t, DefaultConfig(), "report", "--db", db, files[11], "--html", page); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, _ := os.ReadFile(page)
	if !strings.Contains(string(b), `id="chart-trend-ref-15m-inference-speed" data-marks="12"`) {
		t.Error("the HTML report has no trend of 12 runs")
	}
	code, stdout, stderr = runMain(t, DefaultConfig(), "report", "--db", db, "--compare", "histk00", "histl00")
	if code != 0 || !strings.Contains(stdout, "comparing A = run histk00") || !strings.Contains(stdout, "worse") {
		t.Errorf("--compare by id: exit %d %s\n%s", code, stderr, stdout)
	}
}

// TestRunProgress checks run's progress display: nothing when stderr is
// not a terminal (the default), one line per update with --progress lines,
// nothing with --quiet, and a bad --progress is a usage error.
func TestRunProgress(t *testing.T) {
	cfg := testConfig(t, func() model.Model { return fake.New(fake.NewClock(), 0, time.Millisecond, time.Millisecond) })
	args := func(extra ...string) []string {
		return append([]string{"run", "--model", "test:m", "--benchmark", "inference_speed", "--iterations", "3", "--warmup", "0", "--out", t.TempDir(), "--no-history"}, extra...)
	}
	code, _, stderr := runMain(t, cfg, args()...)
	if code != 0 || stderr != "" {
		t.Errorf("default: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runMain(t, cfg, args("--progress", "lines")...)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 0 || len(lines) < 2 || !regexp.MustCompile(`^\[1/1\] \S+ · inference_speed · measure 0/3$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^\[1/1\] \S+ · inference_speed · done: [0-9.e+]+ tokens/sec in `).MatchString(lines[len(lines)-1]) {
		t.Errorf("--progress lines: exit %d:\n%s", code, stderr)
	}
	code, _, stderr = runMain(t, cfg, args("--progress", "lines", "--quiet")...)
	if code != 0 || stderr != "" {
		t.Errorf("--quiet: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runMain(t, cfg, args("--progress", "bar")...)
	if code != ExitUsage || !strings.Contains(stderr, `--progress "bar"`) {
		t.Errorf("--progress bar: exit %d, stderr %q", code, stderr)
	}
}
