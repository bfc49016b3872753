package discover

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// expander expands ${VAR} and ${VAR:-default} in configuration values and
// remembers the values of variables that hold secrets, so that they can be
// kept out of messages and results.
type expander struct {
	lookup  func(string) (string, bool)
	secrets map[string]bool // values to hide
}

// An expandError is a problem at a byte offset of a value.
type expandError struct {
	offset int
	msg    string
}

func (e *expandError) Error() string { return e.msg }

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// secretWords are the words of names that hold secrets.
var secretWords = map[string]bool{
	"key": true, "apikey": true, "token": true, "secret": true, "password": true, "passwd": true,
	"pass": true, "credential": true, "credentials": true, "auth": true, "authorization": true,
	"bearer": true, "cookie": true, "session": true, "pat": true,
}

var camelWords = regexp.MustCompile(`[A-Z]?[a-z0-9]+|[A-Z]+`)

// IsSecretName reports whether an option key or environment variable name
// looks like it holds a secret: one of its words (split at _, -, . and
// case changes) is key, token, secret, password, auth, cookie and the
// like, as in api_key, OPENAI_API_KEY, hfToken or DB_PASSWORD, but not
// max_tokens.
func IsSecretName(name string) bool {
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == '_' || r == '-' || r == '.' }) {
		words := []string{part}
		if strings.ToUpper(part) != part {
			words = camelWords.FindAllString(part, -1)
		}
		for _, w := range words {
			if secretWords[strings.ToLower(w)] {
				return true
			}
		}
	}
	return false
}

// expand replaces ${VAR} with the variable's value and ${VAR:-default}
// with the value or, when the variable is unset or empty, the default. $$
// is a literal $; any other $ is kept as it is. An unset variable without
// a default is an error.
func (x *expander) expand(s string) (string, bool, error) {
	var b strings.Builder
	expanded := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", false, &expandError{i, "unterminated ${ (want ${NAME})"}
		}
		body := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(body, ":-")
		if !varName.MatchString(name) {
			return "", false, &expandError{i, fmt.Sprintf("bad variable name in ${%s}", body)}
		}
		v, ok := x.lookup(name)
		switch {
		case ok && v != "":
		case hasDef:
			v = def
		case ok:
		default:
			return "", false, &expandError{i, fmt.Sprintf("environment variable %s is not set (use ${%s:-default} for a default)", name, name)}
		}
		if IsSecretName(name) && v != "" {
			x.secrets[v] = true
		}
		b.WriteString(v)
		expanded = true
		i += end
	}
	return b.String(), expanded, nil
}

// A Scrubber hides secret values in text.
type Scrubber struct {
	secrets []string // longest first
}

// newScrubber returns a scrubber for the given values. Values shorter than
// four bytes are hidden only where they are the whole text, since hiding
// them everywhere would garble messages.
func newScrubber(values map[string]bool) *Scrubber {
	s := &Scrubber{}
	for v := range values {
		s.secrets = append(s.secrets, v)
	}
	sort.Slice(s.secrets, func(i, j int) bool { return len(s.secrets[i]) > len(s.secrets[j]) })
	return s
}

// Redacted replaces secrets in text.
const Redacted = "<redacted>"

// Scrub returns text with every secret replaced by <redacted>.
func (s *Scrubber) Scrub(text string) string {
	if s == nil {
		return text
	}
	for _, v := range s.secrets {
		if len(v) < 4 {
			if text == v {
				return Redacted
			}
			continue
		}
		text = strings.ReplaceAll(text, v, Redacted)
	}
	return text
}

// Empty reports whether there is nothing to hide.
func (s *Scrubber) Empty() bool { return s == nil || len(s.secrets) == 0 }
