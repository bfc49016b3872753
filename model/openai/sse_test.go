package openai

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// scripted is a reader that returns its pieces one per Read, advancing a
// fake clock by one millisecond before each, so that arrival stamps are
// known exactly.
type scripted struct {
	pieces []string
	now    time.Time
	err    error // returned after the pieces (default io.EOF)
}

func (s *scripted) Read(p []byte) (int, error) {
	if len(s.pieces) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		return 0, io.EOF
	}
	s.now = s.now.Add(time.Millisecond)
	n := copy(p, s.pieces[0])
	if n < len(s.pieces[0]) {
		s.pieces[0] = s.pieces[0][n:]
	} else {
		s.pieces = s.pieces[1:]
	}
	return n, nil
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type gotEvent struct {
	name, data string
	ms         int // arrival, ms after t0
}

func readAll(t *testing.T, pieces []string) ([]gotEvent, error) {
	t.Helper()
	src := &scripted{pieces: pieces, now: t0}
	r := NewSSEReader(src, func() time.Time { return src.now }, 64)
	var out []gotEvent
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, gotEvent{ev.Name, string(ev.Data), int(ev.At.Sub(t0) / time.Millisecond)})
	}
}

func bytewise(s string) []string {
	out := make([]string, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = s[i : i+1]
	}
	return out
}

func TestSSEQuirks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pieces []string
		want   []gotEvent
	}{
		{"plain", []string{"data: a\n\ndata: b\n\n"}, []gotEvent{{"", "a", 1}, {"", "b", 1}}},
		{"two reads", []string{"data: a\n\n", "data: b\n\n"}, []gotEvent{{"", "a", 1}, {"", "b", 2}}},
		{"CRLF", []string{"data: a\r\n\r\ndata: b\r\n\r\n"}, []gotEvent{{"", "a", 1}, {"", "b", 1}}},
		{"CR only", []string{"data: a\r\rdata: b\r\r"}, []gotEvent{{"", "a", 1}, {"", "b", 1}}},
		{"CRLF split between CR and LF", []string{"data: a\r", "\n\r", "\n"}, []gotEvent{{"", "a", 1}}},
		{"comments", []string{": keep-alive\n\n: ping\ndata: a\n\n"}, []gotEvent{{"", "a", 1}}},
		{"no space after colon", []string{"data:a\n\ndata:  b\n\n"}, []gotEvent{{"", "a", 1}, {"", " b", 1}}},
		{"event split across reads: stamped when its line ends", []string{"da", "ta: {\"x\"", ":1}", "\n", "\n"}, []gotEvent{{"", `{"x":1}`, 4}}},
		{"multi-line data", []string{"data: a\ndata: b\n\n"}, []gotEvent{{"", "a\nb", 1}}},
		{"event name", []string{"event: error\ndata: {}\n\n"}, []gotEvent{{"error", "{}", 1}}},
		{"empty data line dispatches empty data", []string{"data\n\n"}, []gotEvent{{"", "", 1}}},
		{"blank lines alone dispatch nothing", []string{"\n\n\n"}, nil},
		{"id and retry ignored", []string{"id: 7\nretry: 10\ndata: a\n\n"}, []gotEvent{{"", "a", 1}}},
		{"unknown field ignored", []string{"foo: bar\ndata: a\n\n"}, []gotEvent{{"", "a", 1}}},
		{"byte order mark", []string{"\xef\xbb\xbfdata: a\n\n"}, []gotEvent{{"", "a", 1}}},
		{"stream ends without blank line", []string{"data: a\n\ndata: b\n"}, []gotEvent{{"", "a", 1}, {"", "b", 1}}},
		{"stream ends mid-line", []string{"data: a\n\ndata: b"}, []gotEvent{{"", "a", 1}, {"", "b", 1}}},
		{"stream ends after CR", []string{"data: a\r"}, []gotEvent{{"", "a", 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, tc.pieces)
			if err != nil {
				t.Fatal(err)
			}
			if !equalEvents(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			// Byte by byte, the same events and data come out.
			joined := strings.Join(tc.pieces, "")
			bw, err := readAll(t, bytewise(joined))
			if err != nil {
				t.Fatal(err)
			}
			if len(bw) != len(tc.want) {
				t.Fatalf("byte by byte: %d events, want %d", len(bw), len(tc.want))
			}
			for i := range bw {
				if bw[i].data != tc.want[i].data || bw[i].name != tc.want[i].name {
					t.Errorf("byte by byte event %d: %+v, want %+v", i, bw[i], tc.want[i])
				}
			}
		})
	}
}

func equalEvents(a, b []gotEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSSEStampIsLastDataLine(t *testing.T) {
	// The data line completes at read 2; the blank line arrives at read 3.
	// The event is stamped when its content was known.
	got, err := readAll(t, []string{"data: a", "\n", "\n"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ms != 2 {
		t.Errorf("got %+v, want one event stamped at 2 ms", got)
	}
}

func TestSSELineTooLong(t *testing.T) {
	_, err := readAll(t, []string{"data: " + strings.Repeat("x", 200) + "\n\n"})
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err = %v, want ErrLineTooLong", err)
	}
	// A long line within the limit grows the buffer.
	src := strings.NewReader("data: " + strings.Repeat("y", 10000) + "\n\n")
	r := NewSSEReader(src, nil, 0)
	ev, err := r.Next()
	if err != nil || len(ev.Data) != 10000 {
		t.Fatalf("long line: %d bytes, %v", len(ev.Data), err)
	}
}

func TestSSEReadError(t *testing.T) {
	boom := errors.New("connection reset")
	src := &scripted{pieces: []string{"data: a\n\n", "data: b"}, now: t0, err: boom}
	r := NewSSEReader(src, func() time.Time { return src.now }, 0)
	if ev, err := r.Next(); err != nil || string(ev.Data) != "a" {
		t.Fatalf("first event: %q %v", ev.Data, err)
	}
	// The unterminated "data: b" of a broken stream is not trusted: the
	// error surfaces.
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the read error", err)
	}
}

func TestSSELastRead(t *testing.T) {
	src := &scripted{pieces: []string{"data: a\n\n", ": trailing comment\n"}, now: t0}
	r := NewSSEReader(src, func() time.Time { return src.now }, 0)
	for {
		if _, err := r.Next(); err != nil {
			break
		}
	}
	if got := r.LastRead().Sub(t0); got != 2*time.Millisecond {
		t.Errorf("LastRead = %v after start, want 2ms (the last read that returned bytes)", got)
	}
	if r.BytesRead() != int64(len("data: a\n\n: trailing comment\n")) {
		t.Errorf("BytesRead = %d", r.BytesRead())
	}
}

// FuzzSSE checks that the reader never panics, never returns more data
// than it read, and gives the same events whether bytes come at once or
// one by one.
func FuzzSSE(f *testing.F) {
	for _, s := range []string{
		"data: a\n\n", "data:a\r\n\r\n", ": c\ndata: x\ndata: y\n\n", "\xef\xbb\xbfdata: z\r\r",
		"event: error\ndata: {\"error\":{\"message\":\"m\"}}\n\n", "data: [DONE]\n\n", "data", "\r\n\r",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		collect := func(r io.Reader) []string {
			sr := NewSSEReader(r, nil, 1<<12)
			var out []string
			total := 0
			for i := 0; i < 10000; i++ {
				ev, err := sr.Next()
				if err != nil {
					break
				}
				total += len(ev.Data)
				if total > 2*len(in)+16 {
					t.Fatalf("more data out (%d) than in (%d)", total, len(in))
				}
				out = append(out, ev.Name+"\x00"+string(ev.Data))
			}
			return out
		}
		a := collect(bytes.NewReader(in))
		src := &scripted{pieces: bytewise(string(in)), now: t0}
		b := collect(src)
		if len(a) != len(b) {
			t.Fatalf("at once: %d events, byte by byte: %d", len(a), len(b))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("event %d: at once %q, byte by byte %q", i, a[i], b[i])
			}
		}
	})
}
