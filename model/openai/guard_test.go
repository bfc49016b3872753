package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/inference-pio/piobench/model"
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

// TestKeyEchoedBackIsRedacted talks to a server that repeats the
// Authorization header in everything it says: the key must not come back
// in any error or answer.
func TestKeyEchoedBackIsRedacted(t *testing.T) {
	const key = "sk-echoed-5ecret-7e57"
	t.Setenv("PIOBENCH_ECHO_KEY", key)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		switch {
		case r.URL.Path == "/v1/models":
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":{"message":"key %s is not valid"}}`, auth)
		default:
			var body struct {
				Prompt string `json:"prompt"`
			}
			json.NewDecoder(r.Body).Decode(&body)
			switch body.Prompt {
			case "http":
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprintf(w, "upstream rejected %s", auth)
			case "mid-stream":
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprintf(w, "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"error\":{\"message\":\"quota for %s\"}}\n\n", auth)
			case "text":
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprintf(w, "data: {\"choices\":[{\"text\":\"your key is %s\"}]}\n\ndata: [DONE]\n\n", auth)
			}
		}
	}))
	defer srv.Close()
	m, err := New(Options{Endpoint: srv.URL, ModelID: "m", APIKeyEnv: "PIOBENCH_ECHO_KEY"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	err = m.Load(context.Background())
	if err == nil || strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "[redacted]") || !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Load: %v (ErrUnauthorized: %v)", err, errors.Is(err, ErrUnauthorized))
	}
	for _, p := range []string{"http", "mid-stream", "text"} {
		resp, err := m.Infer(context.Background(), model.Request{Prompt: p, MaxTokens: 2})
		got := fmt.Sprintf("%v %+v %#v", err, resp, err)
		if strings.Contains(got, key) {
			t.Errorf("%s: the key came back: %s", p, got)
		}
		if !strings.Contains(got, "[redacted]") {
			t.Errorf("%s: the echo is gone altogether: %s", p, got)
		}
	}
}
