package discover

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"go.yaml.in/yaml/v3"
)

// A Pos is a place in a file. Line and Col are 1-based; zero means
// unknown.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

func (p Pos) String() string {
	switch {
	case p.Line > 0 && p.Col > 0:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	case p.Line > 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return p.File
}

// An Error is one problem in a models tree, at a position.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// An ErrorList is every problem found in a models tree, in file order.
// Its Error method reports the first and counts the rest, so that it reads
// as one line.
type ErrorList []*Error

func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	return fmt.Sprintf("%s (and %d more problems; piobench validate lists them all)", l[0].Error(), len(l)-1)
}

func (l ErrorList) sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// maxFileSize bounds the configuration files read.
const maxFileSize = 1 << 20

// decoder reads one YAML file strictly, collecting every problem with its
// position.
type decoder struct {
	file string // as shown in messages
	errs *ErrorList
	env  *expander
}

func (d *decoder) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: d.file}
	}
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	*d.errs = append(*d.errs, &Error{Pos: d.pos(n), Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parse reads data as one YAML document whose top level is a mapping. A
// syntax error is reported with its line and column.
func (d *decoder) parse(data []byte) *yaml.Node {
	if len(data) > maxFileSize {
		d.errorf(nil, "file is larger than %d bytes", maxFileSize)
		return nil
	}
	// goccy's parser reports syntax errors with a column; yaml.v3 gives
	// the tree with positions on every node.
	f, err := goccyparser.ParseBytes(data, 0)
	if err == nil && f != nil && len(f.Docs) > 1 {
		line := 0
		if tk := f.Docs[1].Start; tk != nil {
			line = tk.Position.Line
		} else if tk := f.Docs[1].GetToken(); tk != nil {
			line = tk.Position.Line
		}
		*d.errs = append(*d.errs, &Error{Pos: Pos{File: d.file, Line: line}, Msg: "more than one YAML document (a file holds one)"})
		return nil
	}
	if err != nil {
		var ye goccy.Error
		if errors.As(err, &ye) && ye.GetToken() != nil {
			tk := ye.GetToken()
			*d.errs = append(*d.errs, &Error{Pos: Pos{File: d.file, Line: tk.Position.Line, Col: tk.Position.Column},
				Msg: "YAML syntax: " + oneLine(ye.GetMessage())})
			return nil
		}
		d.errorf(nil, "YAML syntax: %s", oneLine(err.Error()))
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		p := Pos{File: d.file}
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			msg = msg[len(m[0]):]
		}
		*d.errs = append(*d.errs, &Error{Pos: p, Msg: "YAML syntax: " + oneLine(strings.TrimPrefix(msg, "yaml: "))})
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		d.errorf(nil, "empty file")
		return nil
	}
	if len(doc.Content) != 1 {
		d.errorf(doc.Content[1], "more than one YAML document")
		return nil
	}
	root := doc.Content[0]
	if !d.plain(root) {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "want a mapping of keys to values at the top level, got %s", describe(root))
		return nil
	}
	return root
}

// plain rejects anchors, aliases and merge keys anywhere under n: a
// configuration means what it says where it says it.
func (d *decoder) plain(n *yaml.Node) bool {
	ok := true
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if depth > 64 {
			d.errorf(n, "nested more than 64 levels deep")
			ok = false
			return
		}
		switch {
		case n.Kind == yaml.AliasNode:
			d.errorf(n, "YAML aliases (*%s) are not supported", n.Value)
			ok = false
			return
		case n.Anchor != "":
			d.errorf(n, "YAML anchors (&%s) are not supported", n.Anchor)
			ok = false
		case n.Kind == yaml.ScalarNode && n.Tag == "!!merge":
			d.errorf(n, "YAML merge keys (<<) are not supported")
			ok = false
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	return ok
}

// A field is one key a mapping may hold.
type field struct {
	name     string
	required bool
	decode   func(key, value *yaml.Node)
}

// fields decodes mapping n by fs: each key once, no unknown key, every
// required key present. what names the mapping in messages. It returns
// false when n is not a mapping.
func (d *decoder) fields(n *yaml.Node, what string, fs ...field) bool {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: want a mapping, got %s", what, describe(n))
		return false
	}
	byName := map[string]field{}
	var names []string
	for _, f := range fs {
		byName[f.name] = f
		names = append(names, f.name)
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: keys must be plain names", what)
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.errorf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		f, ok := byName[k.Value]
		if !ok {
			d.errorf(k, "%s: unknown key %q (want %s)", what, k.Value, strings.Join(names, ", "))
			continue
		}
		f.decode(k, v)
	}
	for _, f := range fs {
		if f.required && seen[f.name] == nil {
			d.errorf(n, "%s: missing required key %q", what, f.name)
		}
	}
	return true
}

// pairs returns the keys and values of a free mapping (options, params),
// checking that keys are names and unique.
func (d *decoder) pairs(n *yaml.Node, what string) (keys, values []*yaml.Node) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: want a mapping, got %s", what, describe(n))
		return nil, nil
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			d.errorf(k, "%s: keys must be non-empty names", what)
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.errorf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		keys, values = append(keys, k), append(values, v)
	}
	return keys, values
}

// describe names the kind of a node for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string"
	}
	return "something else"
}

// scalar returns the text of a scalar with environment variables expanded.
// fromEnv says whether an expansion happened.
func (d *decoder) scalar(n *yaml.Node, what string) (text string, fromEnv bool, ok bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s: want a single value, got %s", what, describe(n))
		return "", false, false
	}
	if n.Tag == "!!null" {
		d.errorf(n, "%s: want a value, got null", what)
		return "", false, false
	}
	if n.Tag != "!!str" || !strings.Contains(n.Value, "$") {
		return n.Value, false, true
	}
	s, expanded, err := d.env.expand(n.Value)
	if err != nil {
		var ee *expandError
		p := d.pos(n)
		if errors.As(err, &ee) && p.Col > 0 && !strings.Contains(n.Value, "\n") {
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
				p.Col++
			}
			p.Col += ee.offset
		}
		*d.errs = append(*d.errs, &Error{Pos: p, Msg: what + ": " + err.Error()})
		return "", false, false
	}
	return s, expanded, true
}

// str decodes a string value.
func (d *decoder) str(n *yaml.Node, what string) (string, bool) {
	s, _, ok := d.scalar(n, what)
	return s, ok
}

// integer decodes an integer value of at least min.
func (d *decoder) integer(n *yaml.Node, what string, min int) (int, bool) {
	s, fromEnv, ok := d.scalar(n, what)
	if !ok {
		return 0, false
	}
	if n.Tag != "!!int" && !fromEnv {
		d.errorf(n, "%s: want an integer, got %s", what, describe(n))
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 0)
	if err != nil {
		d.errorf(n, "%s: want an integer, got %q", what, s)
		return 0, false
	}
	if v < int64(min) {
		d.errorf(n, "%s: %d: must be at least %d", what, v, min)
		return 0, false
	}
	return int(v), true
}

// number decodes an integer or decimal number.
func (d *decoder) number(n *yaml.Node, what string) (float64, bool) {
	s, fromEnv, ok := d.scalar(n, what)
	if !ok {
		return 0, false
	}
	if n.Tag != "!!int" && n.Tag != "!!float" && !fromEnv {
		d.errorf(n, "%s: want a number, got %s", what, describe(n))
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil {
		d.errorf(n, "%s: want a number, got %q", what, s)
		return 0, false
	}
	return v, true
}

// boolean decodes true or false.
func (d *decoder) boolean(n *yaml.Node, what string) (bool, bool) {
	s, fromEnv, ok := d.scalar(n, what)
	if !ok {
		return false, false
	}
	if n.Tag != "!!bool" && !fromEnv {
		d.errorf(n, "%s: want true or false, got %s", what, describe(n))
		return false, false
	}
	v, err := strconv.ParseBool(strings.ToLower(s))
	if err != nil {
		d.errorf(n, "%s: want true or false, got %q", what, s)
		return false, false
	}
	return v, true
}

// duration decodes a Go duration such as 90s or 5m.
func (d *decoder) duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, _, ok := d.scalar(n, what)
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		d.errorf(n, "%s: want a positive duration such as 90s or 5m, got %q", what, s)
		return 0, false
	}
	return v, true
}

// strings decodes a list of non-empty strings (or one string).
func (d *decoder) strs(n *yaml.Node, what string) ([]string, bool) {
	if n.Kind == yaml.ScalarNode {
		s, ok := d.str(n, what)
		if ok && s == "" {
			d.errorf(n, "%s: must not be empty", what)
			return nil, false
		}
		return []string{s}, ok
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: want a list of strings, got %s", what, describe(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for _, c := range n.Content {
		s, good := d.str(c, what)
		if good && s == "" {
			d.errorf(c, "%s: must not be empty", what)
			good = false
		}
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
