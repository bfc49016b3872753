package cli

import (
	"fmt"

	"github.com/inference-pio/piobench/result"
)

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
