package openai

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestCapReader(t *testing.T) {
	for _, c := range []struct {
		size, max int64
		tooLarge  bool
	}{
		{0, 10, false}, {9, 10, false}, {10, 10, false}, {11, 10, true}, {1 << 20, 10, true},
	} {
		b, err := io.ReadAll(newCapReader(strings.NewReader(strings.Repeat("x", int(c.size))), c.max))
		if got := errors.Is(err, ErrTooLarge); got != c.tooLarge {
			t.Errorf("%d bytes under a cap of %d: err %v", c.size, c.max, err)
		}
		if int64(len(b)) > c.max {
			t.Errorf("%d bytes under a cap of %d: read %d", c.size, c.max, len(b))
		}
		if !c.tooLarge && int64(len(b)) != c.size {
			t.Errorf("%d bytes under a cap of %d: read %d", c.size, c.max, len(b))
		}
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain message":           "plain message",
		"tab\tkept":               "tab\tkept",
		"colour \x1b[31mred":      "colour \ufffd[31mred",
		"nul\x00bell\a":           "nul\ufffdbell\ufffd",
		"bad \xff\xfe utf8":       "bad \ufffd utf8",
		"über ✓":                  "über ✓",
		"line\nbreak\rreturn":     "line\ufffdbreak\ufffdreturn",
		"\u202eright-to-left\x7f": "\u202eright-to-left\ufffd",
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
	if got := errorBody([]byte("upstream \xff\x00 failed\x1b[2J\nsecond line")); got != "upstream \ufffd\ufffd failed\ufffd[2J" {
		t.Errorf("errorBody = %q", got)
	}
	if got := errorBody([]byte(`{"error":{"message":"bad \u001b[31m key"}}`)); got != "bad \ufffd[31m key" {
		t.Errorf("errorBody of JSON = %q", got)
	}
}
