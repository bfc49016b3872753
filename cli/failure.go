package cli

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/inference-pio/piobench/result"
)

// printable replaces control characters (a plugin's coloured stderr, a
// server's escape sequences, NUL) and invalid UTF-8 with U+FFFD, so that
// what piobench prints cannot move the cursor, clear or recolour the
// terminal it is printed on.
func printable(s string) string {
	clean := utf8.ValidString(s)
	for _, r := range s {
		if unicode.IsControl(r) && r != '\t' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\t' {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
}

// firstFailure names the first failed result and its error, for the one
// line a failed run prints, so that the line says what went wrong (the
// table cuts errors short; the results hold them whole).
func firstFailure(rs []result.Result) string {
	for _, r := range rs {
		if !r.Failed() {
			continue
		}
		msg := oneLine(r.Err())
		if rs := []rune(msg); len(rs) > 240 {
			msg = string(rs[:240]) + "…"
		}
		return fmt.Sprintf("; first: %s %s: %s", r.ModelName, r.BenchmarkName, msg)
	}
	return ""
}
