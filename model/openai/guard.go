package openai

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// printable makes text a server sent (an error message) safe to show on a
// terminal and to keep in results: control characters (escape sequences,
// NUL, bells) and invalid UTF-8 become U+FFFD.
func printable(s string) string {
	ok := utf8.ValidString(s)
	for _, r := range s {
		if unicode.IsControl(r) && r != '\t' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		if (unicode.IsControl(r) && r != '\t') || r == utf8.RuneError {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
}

// capReader fails a response body once it passes max bytes, so that a
// server that never stops sending (an endless stream, a gigabyte body)
// cannot fill memory or hold a request past its purpose.
type capReader struct {
	r    io.Reader
	left int64
	max  int64
}

func newCapReader(r io.Reader, max int64) *capReader { return &capReader{r: r, left: max, max: max} }

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// At the limit: a body that ends here is fine; one more byte is not.
		var one [1]byte
		for {
			n, err := c.r.Read(one[:])
			if n > 0 {
				return 0, fmt.Errorf("%w: more than %d bytes (max_response_bytes)", ErrTooLarge, c.max)
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
