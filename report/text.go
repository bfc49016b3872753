package report

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/inference-pio/piobench/result"
)

// TextOptions control console output.
type TextOptions struct {
	// Color adds ANSI colours: set it only when writing to a terminal and
	// NO_COLOR is not set (see ColorFor).
	Color bool
	// NameWidth caps the width of model and benchmark names (longer ones
	// are cut with "…"); zero means 40.
	NameWidth int
}

func (o TextOptions) nameWidth() int {
	if o.NameWidth > 0 {
		return o.NameWidth
	}
	return 40
}

// ColorFor decides whether output may be coloured: only on a terminal,
// never when the NO_COLOR environment variable is set to anything
// (https://no-color.org), and never when TERM is "dumb". getenv is
// os.Getenv, passed in so tests need not touch the environment.
func ColorFor(terminal bool, getenv func(string) string) bool {
	if !terminal {
		return false
	}
	if getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	return true
}

// ANSI styles.
const (
	sBold  = "\x1b[1m"
	sDim   = "\x1b[2m"
	sRed   = "\x1b[31m"
	sGreen = "\x1b[32m"
	sYell  = "\x1b[33m"
	sReset = "\x1b[0m"
)

type cell struct {
	text  string
	style string
}

type column struct {
	title string
	right bool
}

// A textTable aligns cells in columns; styles are applied around the text
// after the widths are measured, so colour never breaks alignment.
type textTable struct {
	cols []column
	rows [][]cell
}

func (t *textTable) add(cells ...cell) { t.rows = append(t.rows, cells) }

func (t *textTable) write(w io.Writer, color bool, indent string) error {
	widths := make([]int, len(t.cols))
	for i, c := range t.cols {
		widths[i] = displayWidth(c.title)
	}
	for _, r := range t.rows {
		for i, c := range r {
			widths[i] = max(widths[i], displayWidth(c.text))
		}
	}
	bw := bufio.NewWriter(w)
	line := func(cells []cell) {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range cells {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-displayWidth(c.text))
			text := c.text
			if color && c.style != "" && text != "" {
				text = c.style + text + sReset
			}
			if t.cols[i].right {
				b.WriteString(pad + text)
			} else {
				b.WriteString(text + pad)
			}
		}
		bw.WriteString(strings.TrimRight(b.String(), " ") + "\n")
	}
	head := make([]cell, len(t.cols))
	for i, c := range t.cols {
		head[i] = cell{c.title, sBold}
	}
	line(head)
	for _, r := range t.rows {
		line(r)
	}
	return bw.Flush()
}

// resultCells formats one result's value, unit, interval and sample count.
func resultCells(res result.Result) (value, unit, ci, n string) {
	if res.Failed() {
		return "FAILED", res.Unit, "", ""
	}
	s := scaleFor(res.Value, res.Unit)
	value = Number(res.Value * s.factor)
	unit = s.unit
	if lo, okLo := metaFloat(res.Metadata, "ci95_low"); okLo {
		if hi, okHi := metaFloat(res.Metadata, "ci95_high"); okHi {
			ci = s.interval(lo, hi)
		}
	}
	if v, ok := metaFloat(res.Metadata, "n"); ok {
		n = fmt.Sprintf("%d", int(v))
	}
	return value, unit, ci, n
}

// WriteTable writes results as one aligned table, grouped by model and
// then category (each name shown once, where its group starts), with
// values in readable units and failed results marked FAILED with their
// error.
func WriteTable(w io.Writer, results []result.Result, opt TextOptions) error {
	if len(results) == 0 {
		_, err := fmt.Fprintln(w, "no results")
		return err
	}
	es := make([]entry, len(results))
	for i, r := range results {
		es[i] = entry{res: r, failed: r.Failed()}
	}
	return writeEntries(w, es, opt, "")
}

func writeEntries(w io.Writer, es []entry, opt TextOptions, indent string) error {
	plain, tables := splitLoad(es)
	if len(plain) > 0 {
		if err := writePlain(w, plain, opt, indent); err != nil {
			return err
		}
	}
	for i, lt := range tables {
		if i > 0 || len(plain) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%sload test of %s (%s)\n", indent, shorten(clean(lt.Model), opt.nameWidth()), loadNote)
		cols := []column{{"LEVEL", false}, {"REQUESTS", true}}
		for _, c := range loadColumns {
			cols = append(cols, column{strings.ToUpper(c.title), true})
		}
		t := &textTable{cols: cols}
		for _, r := range lt.Rows {
			cells := []cell{{shorten(clean(r.Level), 24), ""}, {r.Requests, ""}}
			for i, c := range r.Cells {
				st := ""
				if r.Failed[i] {
					st = sRed
				}
				if c == "" {
					c = "-"
				}
				cells = append(cells, cell{c, st})
			}
			t.add(cells...)
		}
		if err := t.write(w, opt.Color, indent); err != nil {
			return err
		}
	}
	return nil
}

func writePlain(w io.Writer, es []entry, opt TextOptions, indent string) error {
	nw := opt.nameWidth()
	t := &textTable{cols: []column{{"MODEL", false}, {"CATEGORY", false}, {"BENCHMARK", false}, {"VALUE", true}, {"UNIT", false}, {"95% CI", false}, {"N", true}, {"STATUS", false}}}
	lastModel := ""
	for gi, g := range groups(es) {
		for i, e := range g.Entries {
			var model, cat cell
			if i == 0 {
				cat = cell{shorten(clean(g.Category), 16), ""}
				if gi == 0 || g.Model != lastModel {
					model = cell{shorten(clean(g.Model), nw), sBold}
				}
				lastModel = g.Model
			}
			value, unit, ci, n := resultCells(e.res)
			status := cell{"ok", sGreen}
			vstyle := ""
			if e.failed {
				status = cell{"FAILED", sRed}
				if msg := firstLine(e.res.Err()); msg != "" {
					status.text = "FAILED: " + shorten(clean(msg), 80)
				}
				vstyle = sRed
			}
			t.add(model, cat, cell{shorten(clean(displayName(e.res)), nw+20), ""}, cell{value, vstyle}, cell{shorten(clean(unit), 16), ""}, cell{ci, sDim}, cell{n, ""}, status)
		}
	}
	return t.write(w, opt.Color, indent)
}

// WriteText writes the whole report for a console: what is missing, the
// regressions (worst first), then each run with its environment and its
// results, or the comparison of two runs.
func WriteText(w io.Writer, rep *Report, opt TextOptions) error {
	bw := bufio.NewWriter(w)
	style := func(s, text string) string {
		if opt.Color {
			return s + text + sReset
		}
		return text
	}
	total, failed := rep.counts()
	fmt.Fprintf(bw, "%s: %s, %s, %s\n", style(sBold, clean(rep.title())), plural(len(rep.Runs), "run"), plural(total, "result"), failedWord(failed))
	for _, m := range rep.missing() {
		fmt.Fprintf(bw, "note: %s\n", clean(m))
	}
	if h := rep.History; h != nil && len(h.Regressions) > 0 {
		fmt.Fprintf(bw, "\n%s\n", style(sBold+sRed, fmt.Sprintf("%s (history of %s)", plural(len(h.Regressions), "regression"), plural(h.Runs, "run"))))
		t := &textTable{cols: []column{{"SEVERITY", false}, {"MODEL", false}, {"BENCHMARK", false}, {"BASELINE", true}, {"NOW", true}, {"UNIT", false}, {"CHANGE", true}, {"", false}}}
		for _, g := range h.sortedRegressions() {
			s := scaleFor(g.Baseline, g.Unit)
			t.add(cell{strings.ToUpper(clean(g.Severity)), severityStyle(g.Severity)}, cell{shorten(clean(g.Model), opt.nameWidth()), ""}, cell{shorten(clean(g.Benchmark), opt.nameWidth()), ""},
				cell{Number(g.Baseline * s.factor), ""}, cell{Number(g.Current * s.factor), ""}, cell{s.unit, ""}, cell{formatChange(g.Change), sRed}, cell{shorten(clean(firstLine(g.Message)), 80), sDim})
		}
		t.write(bw, opt.Color, "  ")
	}
	if rep.Compare != nil {
		writeTextComparison(bw, rep, rep.compare(rep.Compare[0], rep.Compare[1]), opt)
		return bw.Flush()
	}
	for i, run := range rep.Runs {
		fmt.Fprintf(bw, "\n%s\n", style(sBold, runHeading(rep, i)))
		if env := envLine(run.Environment); env != "" {
			fmt.Fprintf(bw, "%s\n", style(sDim, clean(env)))
		}
		if len(run.Results) == 0 {
			fmt.Fprintln(bw, "no results")
			continue
		}
		if err := writeEntries(bw, rep.entries(i), opt, ""); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func writeTextComparison(w io.Writer, rep *Report, c comparison, opt TextOptions) {
	fmt.Fprintf(w, "\ncomparing A = %s with B = %s\n", clean(runHeading(rep, c.A)), clean(runHeading(rep, c.B)))
	t := &textTable{cols: []column{{"MODEL", false}, {"BENCHMARK", false}, {"A", true}, {"B", true}, {"UNIT", false}, {"CHANGE", true}, {"", false}}}
	for _, p := range c.Pairs {
		a, b, unit := pairValues(p)
		v := p.verdict()
		st := ""
		switch v {
		case verdictWorse, verdictFailed:
			st = sRed
		case verdictBetter:
			st = sGreen
		}
		ch := ""
		if c := p.change(); !math.IsNaN(c) {
			ch = formatChange(c)
		}
		t.add(cell{shorten(clean(p.Model), opt.nameWidth()), ""}, cell{shorten(clean(p.Benchmark), opt.nameWidth()), ""}, cell{a, ""}, cell{b, ""}, cell{unit, ""}, cell{ch, st}, cell{v, st})
	}
	t.write(w, opt.Color, "")
	fmt.Fprintln(w, "~: the 95% intervals overlap (no significant difference); ?: an interval is missing")
}

// pairValues formats both sides of a pair in one scale (the baseline's).
func pairValues(p pair) (a, b, unit string) {
	ref := math.NaN()
	if p.A != nil && !p.A.failed {
		ref = p.A.res.Value
	} else if p.B != nil && !p.B.failed {
		ref = p.B.res.Value
	}
	s := scaleFor(ref, p.Unit)
	side := func(e *entry) string {
		switch {
		case e == nil:
			return "-"
		case e.failed:
			return "FAILED"
		}
		return Number(e.res.Value * s.factor)
	}
	return side(p.A), side(p.B), s.unit
}

func severityStyle(s string) string {
	if severityRank(s) <= 1 {
		return sBold + sRed
	}
	return sYell
}

// runHeading names a run: its id, start time and source.
func runHeading(rep *Report, i int) string {
	run := rep.Runs[i]
	parts := []string{"run " + rep.label(i)}
	if t := time.Time(run.StartedAt); !t.IsZero() {
		parts = append(parts, t.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if s := rep.source(i); s != "" && baseName(s) != rep.label(i) {
		parts = append(parts, s)
	}
	if run.Config != nil {
		if v, _ := run.Config["interrupted"].(bool); v {
			parts = append(parts, "interrupted")
		}
	}
	return strings.Join(parts, "  ")
}

// envLine summarises an environment on one line.
func envLine(e result.Environment) string {
	var parts []string
	if e.CPUModel != "" {
		parts = append(parts, e.CPUModel)
	}
	if e.CPUCores > 0 {
		parts = append(parts, plural(e.CPUCores, "core"))
	}
	if e.MemoryBytes > 0 {
		parts = append(parts, Quantity(float64(e.MemoryBytes), "B")+" memory")
	}
	if e.OS != "" {
		parts = append(parts, e.OS+"/"+e.Arch)
	}
	for _, g := range e.GPUs {
		parts = append(parts, g.Name)
	}
	if len(e.GPUs) == 0 && e.OS != "" {
		parts = append(parts, "no GPU")
	}
	if e.GoVersion != "" {
		parts = append(parts, e.GoVersion)
	}
	if e.PiobenchVersion != "" {
		parts = append(parts, "piobench "+e.PiobenchVersion)
	}
	if e.GitCommit != "" {
		c := e.GitCommit
		if len(c) > 12 {
			c = c[:12]
		}
		if e.GitDirty {
			c += " (dirty)"
		}
		parts = append(parts, "commit "+c)
	}
	return strings.Join(parts, " · ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func failedWord(n int) string {
	if n == 0 {
		return "none failed"
	}
	return fmt.Sprintf("%d failed", n)
}
