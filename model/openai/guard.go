package openai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/inference-pio/piobench/model"
)

// redacted replaces the API key wherever a server echoed it back.
const redacted = "[redacted]"

// scrub removes the API key from an error's text, for servers that echo
// the Authorization header back in their error messages: the messages of
// HTTPError and StreamError are rewritten in place; any other error that
// holds the key is replaced by one with the same text, redacted, that
// still matches the original's sentinel errors with errors.Is.
func (m *Model) scrub(err error) error {
	key := string(m.key)
	if err == nil || key == "" || !strings.Contains(err.Error(), key) {
		return err
	}
	var he *HTTPError
	if errors.As(err, &he) {
		he.Message = strings.ReplaceAll(he.Message, key, redacted)
	}
	var se *StreamError
	if errors.As(err, &se) {
		se.Message = strings.ReplaceAll(se.Message, key, redacted)
	}
	if !strings.Contains(err.Error(), key) {
		return err
	}
	return &scrubbedError{msg: strings.ReplaceAll(err.Error(), key, redacted), is: sentinels(err)}
}

// scrubbed is scrub for a response and its error: an answer that repeats
// the key has it redacted too.
func (m *Model) scrubbed(resp model.Response, err error) (model.Response, error) {
	if key := string(m.key); key != "" && strings.Contains(resp.Text, key) {
		resp.Text = strings.ReplaceAll(resp.Text, key, redacted)
	}
	return resp, m.scrub(err)
}

// A scrubbedError is an error whose text held the API key.
type scrubbedError struct {
	msg string
	is  []error
}

func (e *scrubbedError) Error() string { return e.msg }

func (e *scrubbedError) Is(target error) bool {
	for _, s := range e.is {
		if s == target {
			return true
		}
	}
	return false
}

// sentinels lists the sentinel errors err matches, so that a scrubbed
// copy still answers errors.Is like the original.
func sentinels(err error) []error {
	var out []error
	for _, s := range []error{ErrUnreachable, ErrUnauthorized, ErrUnknownModel, ErrStalled, ErrTooLarge, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, s) {
			out = append(out, s)
		}
	}
	return out
}

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
