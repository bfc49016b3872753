package sim

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// stuckWriter is a response whose client stops reading after some writes:
// later writes block until the write deadline, or for good without one.
type stuckWriter struct {
	h        http.Header
	mu       sync.Mutex
	writes   int
	after    int
	deadline time.Time
}

func (w *stuckWriter) Header() http.Header { return w.h }
func (w *stuckWriter) WriteHeader(int)     {}
func (w *stuckWriter) FlushError() error   { return nil }
func (w *stuckWriter) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = t
	return nil
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	n, d := w.writes, w.deadline
	w.mu.Unlock()
	if n <= w.after {
		return len(p), nil
	}
	if d.IsZero() {
		select {} // a write without a deadline blocks for good
	}
	time.Sleep(time.Until(d))
	return 0, os.ErrDeadlineExceeded
}

func TestClockWriteToAClientThatStopsReading(t *testing.T) {
	done := make(chan Log, 1)
	s := New(Config{TTFT: time.Millisecond, ITL: time.Millisecond, OnDone: func(l Log) { done <- l }})
	defer s.Stop()
	w := &stuckWriter{h: http.Header{}, after: 3}
	body := `{"model":"sim","prompt":"x","max_tokens":50,"stream":true}`
	go s.ServeHTTP(w, httptest.NewRequest("POST", "/v1/completions", strings.NewReader(body)))
	select {
	case l := <-done:
		if l.Failure != "write_timeout" {
			t.Errorf("failure %q after %d tokens, want write_timeout", l.Failure, len(l.Written))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream to a client that stopped reading never ended")
	}
}
