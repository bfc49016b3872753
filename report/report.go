// Package report shows benchmark runs to people: aligned console tables,
// Markdown for pull-request comments and CI job summaries, one
// self-contained HTML file with charts, PNG and SVG images of each chart,
// and a live progress display for long runs.
//
// Every format is built from a Report: the runs to show, and optionally
// their history (trends, change points, alerts and regressions). What a
// report cannot show (no results, only failures, a history of one run) it
// says in words instead of leaving a gap.
package report

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/stats"
)

// A Report is what every format shows.
type Report struct {
	// Title heads the HTML and Markdown reports; empty means "piobench
	// report".
	Title string
	// Runs are shown in order. Source names where each came from (a file
	// path or "history"), parallel to Runs; it may be shorter.
	Runs   []*result.Run
	Source []string
	// Compare, when set, holds the indexes in Runs of a baseline (A) and a
	// candidate (B) run to compare side by side.
	Compare *[2]int
	// History holds trends and regressions from a history store; nil when
	// no store was given.
	History *History
	// Notes are remarks to show at the top, such as a file that held no
	// results.
	Notes []string
	// Generated is when the report was made; zero means now. Tests set it
	// so that output is reproducible.
	Generated time.Time
}

func (r *Report) title() string {
	if r.Title != "" {
		return r.Title
	}
	return "piobench report"
}

func (r *Report) generated() time.Time {
	if r.Generated.IsZero() {
		return time.Now().UTC()
	}
	return r.Generated.UTC()
}

// source returns where run i came from.
func (r *Report) source(i int) string {
	if i < len(r.Source) && r.Source[i] != "" {
		return r.Source[i]
	}
	return ""
}

// ReadRuns reads result files (JSON or CSV). A file that is empty (or
// holds a run without results) does not stop the report: it adds an empty
// run and a note saying so. Any other problem is an error naming the file
// (and line, where there is one).
func ReadRuns(paths []string) (*Report, error) {
	rep := &Report{}
	for _, p := range paths {
		run, err := readRun(p)
		if err != nil {
			return nil, err
		}
		if len(run.Results) == 0 {
			rep.Notes = append(rep.Notes, p+": no results in this file")
		}
		rep.Runs = append(rep.Runs, run)
		rep.Source = append(rep.Source, p)
	}
	return rep, nil
}

func readRun(path string) (*result.Run, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file", path)
		}
		return nil, err
	}
	if strings.TrimSpace(string(data)) == "" {
		return &result.Run{Results: []result.Result{}}, nil
	}
	run, err := result.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if run.Results == nil {
		run.Results = []result.Result{}
	}
	return run, nil
}

// Latest returns the path of the newest run file (.json) in dir, by the
// time in its name (which is the run's UTC start time), or "" when there
// is none.
func Latest(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return "", nil
	}
	sort.Strings(names)
	return dir + string(os.PathSeparator) + names[len(names)-1], nil
}

// label names run i in headings and legends: its id, or its source file,
// or its position.
func (r *Report) label(i int) string {
	run := r.Runs[i]
	if run.RunID != "" {
		return run.RunID
	}
	if s := r.source(i); s != "" {
		return baseName(s)
	}
	return fmt.Sprintf("run %d", i+1)
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// An entry is one result as the reports show it.
type entry struct {
	run    int // index in Report.Runs
	res    result.Result
	failed bool
}

// ci returns the result's 95% interval: from its metadata, or computed
// from its samples (as piobench's benchmarks compute it) when the
// metadata has none, as for a run read back from the history.
func (e entry) ci() (lo, hi float64, ok bool) {
	lo, okLo := metaFloat(e.res.Metadata, "ci95_low")
	hi, okHi := metaFloat(e.res.Metadata, "ci95_high")
	if okLo && okHi {
		return lo, hi, true
	}
	if xs, ok := metaFloats(e.res.Metadata, "samples"); ok && len(xs) >= 6 && (metaString(e.res.Metadata, "statistic") == "" || metaString(e.res.Metadata, "statistic") == "median") {
		s := stats.Summarize(xs)
		if !math.IsNaN(s.CILo) {
			return s.CILo, s.CIHi, true
		}
	}
	return 0, 0, false
}

// A group is the results of one model in one category.
type group struct {
	Model    string
	Category string
	Entries  []entry
}

// groups orders results by model, then category, keeping the order in
// which each model, category and benchmark first appears.
func groups(results []entry) []group {
	var models []string
	cats := map[string][]string{}
	byKey := map[[2]string][]entry{}
	for _, e := range results {
		m, c := e.res.ModelName, e.res.Category
		if _, ok := cats[m]; !ok {
			models = append(models, m)
			cats[m] = nil
		}
		k := [2]string{m, c}
		if _, ok := byKey[k]; !ok {
			cats[m] = append(cats[m], c)
		}
		byKey[k] = append(byKey[k], e)
	}
	var out []group
	for _, m := range models {
		for _, c := range cats[m] {
			out = append(out, group{Model: m, Category: c, Entries: byKey[[2]string{m, c}]})
		}
	}
	return out
}

// entries returns the results of run i.
func (r *Report) entries(i int) []entry {
	var out []entry
	for _, res := range r.Runs[i].Results {
		out = append(out, entry{run: i, res: res, failed: res.Failed()})
	}
	return out
}

// allEntries returns the results of every run, in order.
func (r *Report) allEntries() []entry {
	var out []entry
	for i := range r.Runs {
		out = append(out, r.entries(i)...)
	}
	return out
}

// counts returns how many results there are and how many failed.
func (r *Report) counts() (total, failed int) {
	for _, run := range r.Runs {
		total += len(run.Results)
		failed += run.Failures()
	}
	return total, failed
}

// missing returns sentences about what the report cannot show: no runs,
// no results, only failures, no history or too little of it.
func (r *Report) missing() []string {
	out := append([]string(nil), r.Notes...)
	total, failed := r.counts()
	switch {
	case len(r.Runs) == 0:
		out = append(out, "No runs to show.")
	case total == 0:
		out = append(out, "No results: the runs given hold no benchmark results.")
	case failed == total:
		out = append(out, fmt.Sprintf("Every result failed (%d of %d): there are no measurements to chart.", failed, total))
	}
	if r.History != nil {
		out = append(out, r.History.missing()...)
	}
	return out
}

// metaFloat reads a number from metadata.
func metaFloat(m map[string]any, key string) (float64, bool) {
	switch v := m[key].(type) {
	case float64:
		return v, !math.IsNaN(v)
	case float32:
		return float64(v), true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	}
	return 0, false
}

// metaFloats reads an array of numbers from metadata; ok is false when any
// element is not a number.
func metaFloats(m map[string]any, key string) ([]float64, bool) {
	switch v := m[key].(type) {
	case []float64:
		return v, true
	case []any:
		out := make([]float64, len(v))
		for i, x := range v {
			f, ok := x.(float64)
			if !ok {
				return nil, false
			}
			out[i] = f
		}
		return out, true
	}
	return nil, false
}

func metaString(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}
