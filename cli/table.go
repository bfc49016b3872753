package cli

import (
	"io"
	"os"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/inference-pio/piobench/report"
	"github.com/inference-pio/piobench/result"
	"github.com/inference-pio/piobench/runner"
)

// printTable prints results as an aligned table grouped by model and
// category, in readable units, coloured only on a terminal without
// NO_COLOR.
func printTable(w io.Writer, results []result.Result) {
	report.WriteTable(w, results, report.TextOptions{Color: report.ColorFor(isTerminal(w), os.Getenv)})
}

// progressLine shows a run's progress on stderr (see newProgressLine).
type progressLine struct{ p *report.Progress }

func (p *progressLine) update(pr runner.Progress) { p.p.Update(pr) }
func (p *progressLine) clear()                    { p.p.Clear() }

const progressHook = "progress"

func init() {
	addRunHook(runHook{
		name: progressHook,
		addFlags: func(fs *pflag.FlagSet, f *runFlags) {
			mode := new(string)
			f.ext[progressHook] = mode
			fs.StringVar(mode, "progress", "auto", "progress display on stderr: auto (live line on a terminal, nothing otherwise), live, lines (one line per update, for logs) or none")
		},
		check: func(cfg Config, f *runFlags) error {
			_, err := progressMode(f)
			return err
		},
	})
}

// progressMode reads --progress.
func progressMode(f *runFlags) (string, error) {
	mode := "auto"
	if p, ok := f.ext[progressHook].(*string); ok && p != nil {
		mode = *p
	}
	if mode == "auto" {
		return mode, nil
	}
	if _, err := report.ParseProgressMode(mode); err != nil {
		return "", usagef("--%s", err.Error())
	}
	return mode, nil
}

// newProgressLine decides how a run shows progress on stderr: nothing with
// --quiet; with --progress auto (the default) a live line when stderr is a
// terminal and nothing otherwise, so that a piped or CI run stays quiet;
// --progress lines writes one plain line per update for logs; --progress
// live forces the redrawn line. It returns nil when nothing is to be
// shown.
func newProgressLine(f *runFlags, stderr io.Writer) *progressLine {
	if f.quiet {
		return nil
	}
	name, err := progressMode(f)
	if err != nil {
		return nil
	}
	tty := isTerminal(stderr)
	mode := report.ProgressOff
	if name == "auto" {
		if tty {
			mode = report.ProgressLive
		}
	} else {
		mode, _ = report.ParseProgressMode(name)
	}
	if mode == report.ProgressOff {
		return nil
	}
	opt := report.ProgressOptions{Color: report.ColorFor(tty, os.Getenv)}
	if fd, ok := stderr.(*os.File); ok && tty {
		if w, _, err := term.GetSize(int(fd.Fd())); err == nil && w > 20 {
			opt.Width = w
		}
	}
	return &progressLine{p: report.NewProgress(stderr, mode, opt)}
}

// formatValue prints a number with about four significant digits (other
// commands' tables use it).
func formatValue(v float64) string { return report.Number(v) }

// metaNumber reads a number from result metadata.
func metaNumber(m map[string]any, key string) (float64, bool) {
	switch v := m[key].(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	}
	return 0, false
}

// truncate cuts s to n bytes, ending in "..." when cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
