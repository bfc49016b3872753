package report

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode"
)

// WriteMarkdown writes the report as GitHub-flavoured Markdown, compact
// enough for a pull-request comment or a CI job summary: regressions
// first (worst first, with severity), then a table per run (or the
// comparison of two runs), with environments folded away.
func WriteMarkdown(w io.Writer, rep *Report) error {
	bw := bufio.NewWriter(w)
	total, failed := rep.counts()
	fmt.Fprintf(bw, "## %s\n\n", mdText(rep.title(), 120))
	var summary []string
	if h := rep.History; h != nil {
		if n := len(h.Regressions); n > 0 {
			summary = append(summary, "**"+plural(n, "regression")+"**")
		} else if h.Runs > 1 {
			summary = append(summary, "no regressions")
		}
	}
	summary = append(summary, plural(len(rep.Runs), "run"), plural(total, "result"))
	if failed > 0 {
		summary = append(summary, fmt.Sprintf("**%d failed**", failed))
	} else if total > 0 {
		summary = append(summary, "none failed")
	}
	fmt.Fprintf(bw, "%s\n\n", strings.Join(summary, " · "))
	for _, m := range rep.missing() {
		fmt.Fprintf(bw, "> %s\n", mdText(m, 300))
	}
	if len(rep.missing()) > 0 {
		fmt.Fprintln(bw)
	}
	if h := rep.History; h != nil && len(h.Regressions) > 0 {
		fmt.Fprintf(bw, "### Regressions\n\n")
		fmt.Fprintf(bw, "| severity | model | benchmark | baseline | now | change |\n|---|---|---|--:|--:|--:|\n")
		for _, g := range h.sortedRegressions() {
			s := scaleFor(g.Baseline, g.Unit)
			u := ""
			if s.unit != "" {
				u = " " + mdText(s.unit, 20)
			}
			fmt.Fprintf(bw, "| **%s** | %s | %s | %s%s | %s%s | %s |\n", mdText(strings.ToUpper(g.Severity), 20), mdText(g.Model, 60), mdText(g.Benchmark, 60),
				Number(g.Baseline*s.factor), u, Number(g.Current*s.factor), u, formatChange(g.Change))
		}
		fmt.Fprintln(bw)
	}
	if rep.Compare != nil {
		writeMarkdownComparison(bw, rep, rep.compare(rep.Compare[0], rep.Compare[1]))
		return bw.Flush()
	}
	for i, run := range rep.Runs {
		fmt.Fprintf(bw, "### %s\n\n", mdText(runHeading(rep, i), 200))
		if len(run.Results) == 0 {
			fmt.Fprintf(bw, "No results.\n\n")
			continue
		}
		plain, tables := splitLoad(rep.entries(i))
		if len(plain) > 0 {
			fmt.Fprintf(bw, "| model | benchmark | value | 95%% CI | n |\n|---|---|--:|---|--:|\n")
		}
		last := ""
		for gi, g := range groups(plain) {
			for j, e := range g.Entries {
				model := ""
				if j == 0 && (gi == 0 || g.Model != last) {
					model = mdText(g.Model, 60)
				}
				last = g.Model
				value, unit, ci, n := resultCells(e.res)
				if e.failed {
					value = "**FAILED**"
					if msg := firstLine(e.res.Err()); msg != "" {
						value += ": " + mdText(msg, 100)
					}
				} else if unit != "" {
					value += " " + mdText(unit, 20)
				}
				fmt.Fprintf(bw, "| %s | %s | %s | %s | %s |\n", model, mdText(displayName(e.res), 80), value, mdEscape(ci), n)
			}
		}
		for _, lt := range tables {
			if len(plain) > 0 {
				fmt.Fprintln(bw)
			}
			fmt.Fprintf(bw, "Load test of %s (%s)\n\n| level | requests |", mdText(lt.Model, 60), loadNote)
			for _, c := range loadColumns {
				fmt.Fprintf(bw, " %s |", c.title)
			}
			fmt.Fprintf(bw, "\n|---|--:|%s\n", strings.Repeat("--:|", len(loadColumns)))
			for _, r := range lt.Rows {
				fmt.Fprintf(bw, "| %s | %s |", mdText(r.Level, 30), r.Requests)
				for i, c := range r.Cells {
					if r.Failed[i] {
						c = "**FAILED**"
					}
					fmt.Fprintf(bw, " %s |", c)
				}
				fmt.Fprintln(bw)
			}
		}
		if env := envLine(run.Environment); env != "" {
			fmt.Fprintf(bw, "\n<details><summary>Environment</summary>\n\n%s\n\n</details>\n", mdText(env, 400))
		}
		fmt.Fprintln(bw)
	}
	return bw.Flush()
}

func writeMarkdownComparison(w io.Writer, rep *Report, c comparison) {
	fmt.Fprintf(w, "### Comparison\n\nA = %s, B = %s\n\n", mdText(runHeading(rep, c.A), 200), mdText(runHeading(rep, c.B), 200))
	fmt.Fprintf(w, "| model | benchmark | A | B | change | |\n|---|---|--:|--:|--:|---|\n")
	for _, p := range c.Pairs {
		a, b, unit := pairValues(p)
		if unit != "" {
			unit = " " + mdText(unit, 20)
			if a != "-" && a != "FAILED" {
				a += unit
			}
			if b != "-" && b != "FAILED" {
				b += unit
			}
		}
		ch := ""
		if x := p.change(); !math.IsNaN(x) {
			ch = formatChange(x)
		}
		v := p.verdict()
		if v == verdictWorse || v == verdictFailed {
			v = "**" + v + "**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", mdText(p.Model, 60), mdText(p.Benchmark, 60), a, b, ch, mdEscape(v))
	}
	fmt.Fprintf(w, "\n~: the 95%% intervals overlap (no significant difference); ?: an interval is missing\n")
}

// mdText makes s safe as plain text in a Markdown table cell or line:
// one line, at most max columns, with Markdown and HTML metacharacters
// escaped, and @mentions defused.
func mdText(s string, max int) string {
	s = mdEscape(shorten(clean(firstLine(strings.ReplaceAll(s, "\n", " "))), max))
	// Keep addresses in names from becoming links.
	return linkish.Replace(s)
}

var linkish = strings.NewReplacer("://", ":\u200b//", "www.", "www\u200b.")

func mdEscape(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		switch r {
		case '_':
			// Inside a word (inference_speed) an underscore never
			// emphasises; elsewhere it may.
			if i > 0 && i < len(rs)-1 && isWordRune(rs[i-1]) && isWordRune(rs[i+1]) {
				b.WriteRune(r)
				continue
			}
			b.WriteString(`\_`)
		case '\\', '`', '*', '[', ']', '#', '|', '~', '$':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '@':
			// A zero-width space after @ keeps a name such as "@team/x"
			// from notifying anyone.
			b.WriteString("@\u200b")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}
