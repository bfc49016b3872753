package openai

import (
	"encoding/json"
	"fmt"
	"strings"
)

// usage is the token accounting an OpenAI-compatible server reports.
type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// apiError is the error object of the OpenAI API ({"error": {...}}) or of
// vLLM ({"object": "error", "message": ...}).
type apiError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    any    `json:"code"`
}

// chunk is one streamed event's JSON, or a whole non-streamed answer: the
// union of the completions and chat completions shapes, keeping only what
// piobench reads.
type chunk struct {
	Object  string `json:"object"`
	Choices []struct {
		Text  string `json:"text"`
		Delta *struct {
			Content          *string `json:"content"`
			ReasoningContent *string `json:"reasoning_content"`
			Reasoning        *string `json:"reasoning"`
		} `json:"delta"`
		Message *struct {
			Content          *string `json:"content"`
			ReasoningContent *string `json:"reasoning_content"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage   *usage          `json:"usage"`
	Error   json.RawMessage `json:"error"`
	Message string          `json:"message"`
}

// content returns the text a chunk carries (content and reasoning content
// together), its finish reason, and whether it reports an error.
func (c *chunk) content() (text, finish string) {
	var b strings.Builder
	for _, ch := range c.Choices {
		b.WriteString(ch.Text)
		if d := ch.Delta; d != nil {
			for _, p := range []*string{d.ReasoningContent, d.Reasoning, d.Content} {
				if p != nil {
					b.WriteString(*p)
				}
			}
		}
		if m := ch.Message; m != nil {
			for _, p := range []*string{m.ReasoningContent, m.Content} {
				if p != nil {
					b.WriteString(*p)
				}
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			finish = *ch.FinishReason
		}
	}
	return b.String(), finish
}

// errorText returns the message of an error the chunk carries, or "".
func (c *chunk) errorText() string { return printable(c.rawErrorText()) }

func (c *chunk) rawErrorText() string {
	if len(c.Error) > 0 && string(c.Error) != "null" {
		var e apiError
		if json.Unmarshal(c.Error, &e) == nil && e.Message != "" {
			return e.Message
		}
		var s string
		if json.Unmarshal(c.Error, &s) == nil && s != "" {
			return s
		}
		return string(c.Error)
	}
	if c.Object == "error" {
		if c.Message != "" {
			return c.Message
		}
		return "error object without a message"
	}
	return ""
}

// errorBody extracts a message from an HTTP error body, falling back to the
// body's first line (cut to 200 bytes).
func errorBody(body []byte) string {
	var c chunk
	if json.Unmarshal(body, &c) == nil {
		if m := c.errorText(); m != "" {
			return m
		}
	}
	var detail struct {
		Detail any `json:"detail"`
	}
	if json.Unmarshal(body, &detail) == nil && detail.Detail != nil {
		return printable(fmt.Sprint(detail.Detail))
	}
	s := strings.TrimSpace(string(body))
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return printable(s)
}
