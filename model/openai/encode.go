package openai

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/inference-pio/piobench/model"
)

// appendBody appends a request's JSON body: the same object encoding/json
// makes of a body value, written field by field.
func (m *Model) appendBody(b []byte, req model.Request, stream bool) ([]byte, error) {
	if math.IsNaN(req.Temperature) || math.IsInf(req.Temperature, 0) {
		return b, errors.New("temperature must be a finite number")
	}
	b = append(b, `{"model":`...)
	b = appendString(b, m.opts.ModelID)
	if m.opts.API == Chat {
		b = appendMessages(b, req)
	} else {
		b = append(b, `,"prompt":`...)
		b = appendString(b, req.Prompt)
	}
	if req.MaxTokens != 0 {
		b = append(b, `,"max_tokens":`...)
		b = strconv.AppendInt(b, int64(req.MaxTokens), 10)
	}
	b = append(b, `,"temperature":`...)
	b = appendFloat(b, req.Temperature)
	if req.TopP > 0 && req.TopP < 1 {
		b = append(b, `,"top_p":`...)
		b = appendFloat(b, req.TopP)
	}
	if req.Seed != 0 {
		b = append(b, `,"seed":`...)
		b = strconv.AppendInt(b, req.Seed, 10)
	}
	if len(req.Stop) > 0 {
		b = append(b, `,"stop":[`...)
		for i, s := range req.Stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, ']')
	}
	if stream {
		b = append(b, `,"stream":true`...)
		if !m.opts.NoUsage {
			b = append(b, `,"stream_options":{"include_usage":true}`...)
		}
	} else {
		b = append(b, `,"stream":false`...)
	}
	if req.IgnoreEOS {
		b = append(b, `,"ignore_eos":true`...)
	}
	return append(b, '}'), nil
}

// appendMessages writes a chat request's messages: the system prompt when
// set, then the request's messages, or its prompt as one user message.
func appendMessages(b []byte, req model.Request) []byte {
	b = append(b, `,"messages":[`...)
	msg := func(role, content string) {
		if b[len(b)-1] != '[' {
			b = append(b, ',')
		}
		b = append(b, `{"role":`...)
		b = appendString(b, role)
		b = append(b, `,"content":`...)
		b = appendString(b, content)
		b = append(b, '}')
	}
	if req.System != "" {
		msg("system", req.System)
	}
	if len(req.Messages) > 0 {
		for _, x := range req.Messages {
			msg(x.Role, x.Content)
		}
	} else {
		msg("user", req.Prompt)
	}
	return append(b, ']')
}

// appendFloat writes f as encoding/json does.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// with encoding/json; unlike it, <, > and & are left as they are.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
