package openai

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// An Event is one server-sent event.
type Event struct {
	// Name is the event's "event:" field; empty means "message".
	Name string
	// Data is the event's data lines joined by "\n". It is valid only until
	// the next call to Next.
	Data []byte
	// ID is the event's "id:" field.
	ID string
	// At is when the byte that completed the event's last data line
	// arrived: the moment its content was known.
	At time.Time
}

// ErrLineTooLong is returned by an SSEReader for a line longer than its
// limit.
var ErrLineTooLong = errors.New("SSE line too long")

// An SSEReader reads server-sent events (the text/event-stream format) and
// stamps each with the arrival time of the bytes that completed it. It
// follows the WHATWG parsing rules: lines end with LF, CRLF or CR (also when
// split across reads), lines starting with ':' are comments, "data:" with or
// without a space, fields without a colon, a leading byte order mark. An
// event still pending when the stream ends is dispatched rather than dropped,
// since servers that close without a final blank line mean it.
type SSEReader struct {
	r   io.Reader
	now func() time.Time

	buf       []byte
	start     int // first unconsumed byte
	end       int // end of valid bytes
	readAt    time.Time
	lastRead  time.Time // last read that returned bytes
	skipLF    bool      // the previous line ended with CR: skip a leading LF
	eof       bool
	err       error
	maxLine   int
	begun     bool // past the byte order mark check
	bytesRead int64

	data    []byte
	hasData bool
	name    []byte
	id      []byte
	dataAt  time.Time
}

// NewSSEReader returns a reader of r that stamps arrivals with now (nil:
// time.Now) and refuses lines longer than maxLine bytes (0: 1 MiB).
func NewSSEReader(r io.Reader, now func() time.Time, maxLine int) *SSEReader {
	if now == nil {
		now = time.Now
	}
	if maxLine <= 0 {
		maxLine = 1 << 20
	}
	return &SSEReader{r: r, now: now, buf: make([]byte, 4096), maxLine: maxLine}
}

// LastRead returns when the last byte so far arrived (zero before any).
func (s *SSEReader) LastRead() time.Time { return s.lastRead }

// BytesRead returns how many bytes have been read from the stream.
func (s *SSEReader) BytesRead() int64 { return s.bytesRead }

// fill reads more bytes, keeping unconsumed ones. It returns false at the
// end of the stream or on an error (kept in s.err).
func (s *SSEReader) fill() bool {
	if s.eof || s.err != nil {
		return false
	}
	if s.start > 0 {
		n := copy(s.buf, s.buf[s.start:s.end])
		s.start, s.end = 0, n
	}
	if s.end == len(s.buf) {
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for {
		n, err := s.r.Read(s.buf[s.end:])
		if n > 0 {
			t := s.now()
			s.readAt, s.lastRead = t, t
			s.end += n
			s.bytesRead += int64(n)
		}
		if err != nil {
			if err == io.EOF {
				s.eof = true
			} else {
				s.err = err
			}
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
}

// line returns the next complete line (without its end) and the time its
// end arrived. At the end of the stream a last unterminated line is
// returned as complete. ok is false when no line is left.
func (s *SSEReader) line() (line []byte, at time.Time, ok bool) {
	for {
		if s.skipLF && s.start < s.end {
			if s.buf[s.start] == '\n' {
				s.start++
			}
			s.skipLF = false
		}
		if !s.begun && s.end-s.start >= 3 {
			if bytes.HasPrefix(s.buf[s.start:s.end], []byte("\xef\xbb\xbf")) {
				s.start += 3
			}
			s.begun = true
		}
		b := s.buf[s.start:s.end]
		if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
			if i > s.maxLine {
				s.err = fmt.Errorf("%w: a line of %d bytes (limit %d)", ErrLineTooLong, i, s.maxLine)
				return nil, time.Time{}, false
			}
			line = b[:i]
			s.begun = true // a byte order mark only counts at the very start
			s.start += i + 1
			if b[i] == '\r' {
				s.skipLF = true
			}
			return line, s.readAt, true
		}
		if s.end-s.start > s.maxLine {
			s.err = fmt.Errorf("%w: more than %d bytes without a line end", ErrLineTooLong, s.maxLine)
			return nil, time.Time{}, false
		}
		if !s.fill() {
			if s.err != nil {
				return nil, time.Time{}, false // a broken stream: its partial line is not trusted
			}
			if s.skipLF && s.start < s.end && s.buf[s.start] == '\n' {
				s.start++
			}
			s.skipLF = false
			if s.start < s.end {
				if !s.begun && bytes.HasPrefix(s.buf[s.start:s.end], []byte("\xef\xbb\xbf")) {
					s.start += 3
				}
				s.begun = true
				line = s.buf[s.start:s.end]
				s.start = s.end
				return line, s.readAt, true
			}
			return nil, time.Time{}, false
		}
	}
}

// Next returns the next event. At the end of the stream it returns io.EOF;
// a read error is returned as it is.
func (s *SSEReader) Next() (Event, error) {
	for {
		line, at, ok := s.line()
		if !ok {
			if s.err != nil {
				return Event{}, s.err
			}
			if s.hasData {
				return s.dispatch(), nil
			}
			return Event{}, io.EOF
		}
		if len(line) == 0 {
			if s.hasData {
				return s.dispatch(), nil
			}
			s.name, s.id = s.name[:0], s.id[:0]
			continue
		}
		if line[0] == ':' {
			continue // a comment, such as a keep-alive
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if s.hasData {
				s.data = append(s.data, '\n')
			} else {
				s.data = s.data[:0]
			}
			s.data = append(s.data, value...)
			s.hasData = true
			s.dataAt = at
		case "event":
			s.name = append(s.name[:0], value...)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				s.id = append(s.id[:0], value...)
			}
		}
		// "retry" and unknown fields are ignored, as the standard says.
	}
}

func (s *SSEReader) dispatch() Event {
	ev := Event{Data: s.data, At: s.dataAt}
	if len(s.name) > 0 {
		ev.Name = string(s.name)
	}
	if len(s.id) > 0 {
		ev.ID = string(s.id)
	}
	s.hasData = false
	s.name = s.name[:0]
	return ev
}
