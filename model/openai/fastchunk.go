package openai

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// fastChunk is what readStream and readWhole need of a chunk, read by
// scanChunk without reflection or allocation. Byte slices point into the
// chunk's data or into scratch, and are valid until the next scan.
type fastChunk struct {
	text     []byte // content and reasoning content of every choice, in chunk.content's order
	finish   []byte // the last non-empty finish reason
	hasUsage bool
	usage    usage
	scratch  []byte // unescaped strings
	parts    [6][]byte
}

// choice parts, in the order chunk.content concatenates them.
const (
	partText = iota
	partDeltaReasoningContent
	partDeltaReasoning
	partDeltaContent
	partMessageReasoningContent
	partMessageContent
)

// scanChunk reads data as encoding/json would read it into a chunk and
// reports whether it could: false means "use encoding/json" (for errors,
// error objects, case-folded or duplicate keys, invalid UTF-8, deep nesting
// and anything else unusual), never that data is malformed.
func scanChunk(data []byte, c *fastChunk) bool {
	c.text, c.finish, c.hasUsage, c.usage, c.scratch = c.text[:0], nil, false, usage{}, c.scratch[:0]
	s := scanner{b: data}
	s.space()
	if !s.is('{') {
		return false
	}
	var seen uint8
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "object":
			if seen&1 != 0 {
				return false
			}
			seen |= 1
			v, ok := s.stringOrNull(c)
			return ok && !bytes.Equal(v, []byte("error"))
		case "choices":
			if seen&2 != 0 {
				return false
			}
			seen |= 2
			return s.choices(c)
		case "usage":
			if seen&4 != 0 {
				return false
			}
			seen |= 4
			if s.null() {
				return true
			}
			c.hasUsage = true
			return s.usage(&c.usage)
		case "error":
			// Anything but null is an error object: encoding/json's way.
			return s.null()
		case "message":
			if seen&8 != 0 {
				return false
			}
			seen |= 8
			_, ok := s.stringOrNull(c)
			return ok
		}
		return !foldsTo(key, "object", "choices", "usage", "error", "message") && s.skip(0)
	})
	if !ok {
		return false
	}
	s.space()
	return s.i == len(s.b)
}

// foldsTo reports whether key is one of names in another case (which
// encoding/json would match), or not plain ASCII (whose folding is left to
// encoding/json).
func foldsTo(key []byte, names ...string) bool {
	for _, b := range key {
		if b >= utf8.RuneSelf {
			return true
		}
	}
	for _, n := range names {
		if len(n) == len(key) && bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// is skips white space and reports whether the next byte is c.
func (s *scanner) is(c byte) bool {
	s.space()
	return s.i < len(s.b) && s.b[s.i] == c
}

// null consumes a null, if that is what comes next.
func (s *scanner) null() bool {
	s.space()
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
}

// object reads an object, calling field with each key (the scanner then
// stands before the key's value, which field must consume).
func (s *scanner) object(field func(key []byte) bool) bool {
	if !s.is('{') {
		return false
	}
	s.i++
	if s.is('}') {
		s.i++
		return true
	}
	for {
		s.space()
		key, esc, ok := s.rawString()
		if !ok || esc {
			return false
		}
		if !s.is(':') {
			return false
		}
		s.i++
		if !field(key) {
			return false
		}
		if s.is(',') {
			s.i++
			continue
		}
		if s.is('}') {
			s.i++
			return true
		}
		return false
	}
}

// rawString reads a string and returns its bytes between the quotes, and
// whether it holds escapes.
func (s *scanner) rawString() (raw []byte, escaped, ok bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false, false
	}
	start := s.i + 1
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return s.b[start:i], escaped, true
		case c == '\\':
			escaped = true
			i++
			if i >= len(s.b) {
				return nil, false, false
			}
			switch s.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.b) {
					return nil, false, false
				}
				for _, h := range s.b[i+1 : i+5] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				i += 4
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		}
	}
	return nil, false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// stringOrNull reads a string (unescaped; into c.scratch when it had
// escapes) or null (nil).
func (s *scanner) stringOrNull(c *fastChunk) ([]byte, bool) {
	if s.null() {
		return nil, true
	}
	s.space()
	start := s.i
	raw, esc, ok := s.rawString()
	if !ok {
		return nil, false
	}
	ascii := true
	for _, b := range raw {
		if b >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !esc && (ascii || utf8.Valid(raw)) {
		if raw == nil {
			raw = []byte{} // "" is not null
		}
		return raw, true
	}
	// Escapes or invalid UTF-8: encoding/json decides what they mean.
	var v string
	if json.Unmarshal(s.b[start:s.i], &v) != nil {
		return nil, false
	}
	n := len(c.scratch)
	c.scratch = append(c.scratch, v...)
	return c.scratch[n:len(c.scratch):len(c.scratch)], true
}

// number reads a JSON number and returns its text.
func (s *scanner) number() ([]byte, bool) {
	s.space()
	start, i := s.i, s.i
	if i < len(s.b) && s.b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s.b) && '0' <= s.b[i] && s.b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s.b) && s.b[i] == '0' {
		i++
	} else if digits() == 0 {
		return nil, false
	}
	if i < len(s.b) && s.b[i] == '.' {
		i++
		if digits() == 0 {
			return nil, false
		}
	}
	if i < len(s.b) && (s.b[i] == 'e' || s.b[i] == 'E') {
		i++
		if i < len(s.b) && (s.b[i] == '+' || s.b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	s.i = i
	return s.b[start:i], true
}

// intOrNull reads an integer as encoding/json reads one into an int (null
// leaves *v as it is).
func (s *scanner) intOrNull(v *int) bool {
	if s.null() {
		return true
	}
	num, ok := s.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(num), 10, strconv.IntSize)
	if err != nil {
		return false
	}
	*v = int(n)
	return true
}

const maxDepth = 512 // deeper values are left to encoding/json

// skip reads and checks any value.
func (s *scanner) skip(depth int) bool {
	if depth > maxDepth {
		return false
	}
	s.space()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(func([]byte) bool { return s.skip(depth + 1) })
	case c == '[':
		return s.array(func() bool { return s.skip(depth + 1) })
	case c == '"':
		_, _, ok := s.rawString()
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		_, ok := s.number()
		return ok
	}
}

func (s *scanner) literal(word string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.i += len(word)
		return true
	}
	return false
}

// array reads an array, calling elem before each element (which it must
// consume).
func (s *scanner) array(elem func() bool) bool {
	if !s.is('[') {
		return false
	}
	s.i++
	if s.is(']') {
		s.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.is(',') {
			s.i++
			continue
		}
		if s.is(']') {
			s.i++
			return true
		}
		return false
	}
}

func (s *scanner) usage(u *usage) bool {
	var seen uint8
	return s.object(func(key []byte) bool {
		var bit uint8
		var v *int
		switch string(key) {
		case "prompt_tokens":
			bit, v = 1, &u.PromptTokens
		case "completion_tokens":
			bit, v = 2, &u.CompletionTokens
		case "total_tokens":
			bit, v = 4, &u.TotalTokens
		default:
			return !foldsTo(key, "prompt_tokens", "completion_tokens", "total_tokens") && s.skip(1)
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return s.intOrNull(v)
	})
}

func (s *scanner) choices(c *fastChunk) bool {
	if s.null() {
		return true
	}
	return s.array(func() bool {
		if s.null() {
			return true
		}
		c.parts = [6][]byte{}
		var seen uint8
		var finish []byte
		ok := s.object(func(key []byte) bool {
			switch string(key) {
			case "text":
				if seen&1 != 0 {
					return false
				}
				seen |= 1
				v, ok := s.stringOrNull(c)
				c.parts[partText] = v
				return ok
			case "delta":
				if seen&2 != 0 {
					return false
				}
				seen |= 2
				return s.message(c, partDeltaContent, partDeltaReasoningContent, partDeltaReasoning)
			case "message":
				if seen&4 != 0 {
					return false
				}
				seen |= 4
				return s.message(c, partMessageContent, partMessageReasoningContent, -1)
			case "finish_reason":
				if seen&8 != 0 {
					return false
				}
				seen |= 8
				v, ok := s.stringOrNull(c)
				finish = v
				return ok
			}
			return !foldsTo(key, "text", "delta", "message", "finish_reason") && s.skip(2)
		})
		if !ok {
			return false
		}
		for _, p := range c.parts {
			if len(c.text) == 0 {
				// Usually the only part: no copy (appending to it copies).
				c.text = p[:len(p):len(p)]
			} else {
				c.text = append(c.text, p...)
			}
		}
		if len(finish) > 0 {
			c.finish = finish
		}
		return true
	})
}

// message reads a delta or message object (or null) into the parts given
// (reasoning < 0: the object has no "reasoning" field).
func (s *scanner) message(c *fastChunk, content, reasoningContent, reasoning int) bool {
	if s.null() {
		return true
	}
	var seen uint8
	return s.object(func(key []byte) bool {
		var bit uint8
		part := -1
		switch string(key) {
		case "content":
			bit, part = 1, content
		case "reasoning_content":
			bit, part = 2, reasoningContent
		case "reasoning":
			if reasoning >= 0 {
				bit, part = 4, reasoning
			}
		}
		if part < 0 {
			names := []string{"content", "reasoning_content", "reasoning"}
			if reasoning < 0 {
				names = names[:2]
			}
			return !foldsTo(key, names...) && s.skip(3)
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		v, ok := s.stringOrNull(c)
		c.parts[part] = v
		return ok
	})
}

// finishReason returns the finish reason as a string, without allocating
// for the usual ones.
func finishReason(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "length":
		return "length"
	case "stop":
		return "stop"
	case "tool_calls":
		return "tool_calls"
	case "content_filter":
		return "content_filter"
	}
	return string(b)
}
