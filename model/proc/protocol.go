package proc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ProtocolVersion is the version of the plugin protocol this driver speaks
// (docs/plugin-protocol.md). A plugin must answer the handshake with the
// same version.
const ProtocolVersion = 1

// Capabilities a plugin may announce in its handshake.
const (
	CapStream = "stream" // infer sends token events while generating
	CapBatch  = "batch"  // infer_batch batches for real
	CapStats  = "stats"  // stats reports memory
	CapUnload = "unload" // unload frees the model, so load can run again
	CapCancel = "cancel" // cancel stops a call in progress
)

// A request is one line piobench writes to the plugin's stdin.
type request struct {
	ID     int64  `json:"id"`
	Method string `json:"method"`
	Params any    `json:"params,omitempty"`
}

// A Message is one line a plugin writes to its stdout: the final result
// of a call, its error, or an event (a token) while it runs. Exactly one
// of Result, Error and Event is set. At is when piobench read the line.
type Message struct {
	ID     int64           `json:"id"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *WireError      `json:"error,omitempty"`
	Event  string          `json:"event,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
	At     time.Time       `json:"-"`
}

// A WireError is an error a plugin reports for a call.
type WireError struct {
	Message   string `json:"message"`
	Type      string `json:"type,omitempty"`
	Traceback string `json:"traceback,omitempty"`
}

// final reports whether m ends its call.
func (m *Message) final() bool { return m.Event == "" }

// ParseMessage decodes one line of a plugin's output. The error says what
// is wrong with the line in plain words.
func ParseMessage(line []byte) (Message, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return Message{}, errors.New("empty line")
	}
	if line[0] != '{' {
		return Message{}, fmt.Errorf("not a JSON object: %s", quote(line))
	}
	var raw struct {
		ID     *int64          `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
		Event  *string         `json:"event"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) && strings.Contains(se.Error(), "after top-level value") {
			return Message{}, fmt.Errorf("more than one JSON value on a line: %s", quote(line))
		}
		return Message{}, fmt.Errorf("not valid JSON (%v): %s", err, quote(line))
	}
	if raw.ID == nil {
		return Message{}, fmt.Errorf("message without an id: %s", quote(line))
	}
	m := Message{ID: *raw.ID, Data: raw.Data}
	kinds := 0
	if len(raw.Result) > 0 && string(raw.Result) != "null" {
		m.Result = raw.Result
		kinds++
	}
	if len(raw.Error) > 0 && string(raw.Error) != "null" {
		var we WireError
		if err := json.Unmarshal(raw.Error, &we); err != nil {
			// A bare string is accepted as the message.
			var s string
			if json.Unmarshal(raw.Error, &s) != nil {
				return Message{}, fmt.Errorf("error is neither an object nor a string: %s", quote(line))
			}
			we.Message = s
		}
		if we.Message == "" {
			we.Message = "(no message)"
		}
		m.Error = &we
		kinds++
	}
	if raw.Event != nil {
		if *raw.Event == "" {
			return Message{}, fmt.Errorf("empty event name: %s", quote(line))
		}
		m.Event = *raw.Event
		kinds++
	}
	switch kinds {
	case 0:
		if string(raw.Result) == "null" {
			m.Result = json.RawMessage("null")
			return m, nil
		}
		return Message{}, fmt.Errorf("message %d has none of result, error and event: %s", m.ID, quote(line))
	case 1:
		return m, nil
	default:
		return Message{}, fmt.Errorf("message %d has more than one of result, error and event: %s", m.ID, quote(line))
	}
}

// quote shows at most 120 bytes of a bad line.
func quote(b []byte) string {
	const n = 120
	if len(b) > n {
		return fmt.Sprintf("%q...", b[:n])
	}
	return fmt.Sprintf("%q", b)
}

// hello is the plugin's answer to the handshake.
type hello struct {
	Protocol     *int           `json:"protocol"`
	Name         string         `json:"name"`
	Capabilities []string       `json:"capabilities"`
	Info         map[string]any `json:"info"`
	Notes        []string       `json:"notes"`
	PID          int            `json:"pid"`
	Runtime      string         `json:"runtime"`
}

func (h hello) has(c string) bool {
	for _, x := range h.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// inferParams is what infer carries: the core's Request fields, and whether
// to stream.
type inferParams struct {
	Prompt      string   `json:"prompt"`
	MaxTokens   int      `json:"max_tokens"`
	Temperature float64  `json:"temperature"`
	TopP        float64  `json:"top_p"`
	Seed        int64    `json:"seed"`
	Stop        []string `json:"stop,omitempty"`
	Stream      bool     `json:"stream"`
}

// inferResult is the final result of infer, and one response of
// infer_batch. Counts are pointers so that a missing count is told from 0.
type inferResult struct {
	Text         string `json:"text"`
	PromptTokens *int   `json:"prompt_tokens"`
	OutputTokens *int   `json:"output_tokens"`
	FinishReason string `json:"finish_reason"`
}

// tokenEvent is the data of a "token" event. N is how many tokens the
// chunk holds (1 when absent).
type tokenEvent struct {
	Text string `json:"text"`
	ID   *int   `json:"token_id"`
	N    *int   `json:"n"`
}

type batchResult struct {
	Responses []inferResult `json:"responses"`
}

// statsResult maps the stats answer: the known fields, and every other
// number by name.
func statsResult(raw json.RawMessage) (map[string]float64, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("stats is not a JSON object: %v", err)
	}
	out := map[string]float64{}
	for k, v := range m {
		if f, ok := v.(float64); ok {
			out[k] = f
		}
	}
	return out, nil
}

// oneLine flattens s for the first line of an error.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
