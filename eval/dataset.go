package eval

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/inference-pio/piobench/model"
)

// A Case is one question of a dataset with its acceptable answers.
type Case struct {
	// ID names the case in records; when a file gives none it is the
	// line number.
	ID string `json:"id"`
	// Input is the question, for a model that continues text. A case has
	// either Input or Messages.
	Input string `json:"input,omitempty"`
	// Messages is the question as a chat conversation, ending with the
	// user's turn.
	Messages []model.Message `json:"messages,omitempty"`
	// Expected holds the acceptable answers; any one of them is correct.
	Expected []string `json:"expected"`
	// Choices are the options of a multiple-choice question (scored by
	// letter or text; the prompt lists them as "A. ...").
	Choices []string `json:"choices,omitempty"`
	// Scorer names the scorer and its options ("numeric:tolerance=0.5");
	// empty means the evaluation's default: contains, or choice for a
	// case with choices.
	Scorer string `json:"scorer,omitempty"`
	// Tags group cases for per-tag accuracy.
	Tags []string `json:"tags,omitempty"`
	// Dataset names where the case came from; Line is its line there
	// (0 for built-in sets).
	Dataset string `json:"-"`
	Line    int    `json:"-"`
}

// Question returns the case's question as text: Input, or the content of
// the last user message.
func (c *Case) Question() string {
	if len(c.Messages) == 0 {
		return c.Input
	}
	for i := len(c.Messages) - 1; i >= 0; i-- {
		if c.Messages[i].Role == "user" {
			return c.Messages[i].Content
		}
	}
	return ""
}

// ScorerSpec returns the scorer the case is scored by: its own, else def,
// else choice for a case with choices and contains for the others.
func (c *Case) ScorerSpec(def string) string {
	switch {
	case c.Scorer != "":
		return c.Scorer
	case def != "":
		return def
	case len(c.Choices) > 0:
		return "choice"
	}
	return "contains"
}

// A DatasetError is a problem with a dataset, at a line of its file when
// Line is positive. It prints as "file:line: message".
type DatasetError struct {
	File string
	Line int
	Msg  string
}

func (e *DatasetError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// A Dataset is a named list of cases.
type Dataset struct {
	Name  string
	Cases []Case
}

// BuiltinPrefix starts the name of a built-in dataset where a file name
// could also be given: "builtin:smoke", "builtin:arithmetic:n=500,seed=2".
const BuiltinPrefix = "builtin:"

// Load returns the dataset a name gives: a built-in set after
// BuiltinPrefix, otherwise a JSONL file. Every case's scorer is checked
// against scorers (nil: the default registry); def is the scorer of cases
// that name none.
func Load(name string, scorers *Registry, def string) (*Dataset, error) {
	if rest, ok := strings.CutPrefix(name, BuiltinPrefix); ok {
		return Builtin(rest)
	}
	return ReadFile(name, scorers, def)
}

// ReadFile reads a JSONL dataset file; see Decode.
func ReadFile(path string, scorers *Registry, def string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, &DatasetError{File: path, Msg: pe.Err.Error()}
		}
		return nil, err
	}
	defer f.Close()
	return Decode(f, path, scorers, def)
}

// caseLine is a case as a JSONL line holds it.
type caseLine struct {
	ID       json.RawMessage  `json:"id"`
	Input    *string          `json:"input"`
	Messages *[]model.Message `json:"messages"`
	Expected json.RawMessage  `json:"expected"`
	Choices  json.RawMessage  `json:"choices"`
	Scorer   *string          `json:"scorer"`
	Tags     json.RawMessage  `json:"tags"`
	Meta     json.RawMessage  `json:"meta"` // free-form, ignored
}

// Decode reads a dataset of one JSON object per line:
//
//	{"id": "q1", "input": "How many continents?", "expected": ["7", "seven"], "tags": ["geo"]}
//	{"messages": [{"role": "user", "content": "2+2?"}], "expected": 4, "scorer": "numeric"}
//	{"input": "Capital of France?", "choices": ["Lyon", "Paris"], "expected": "B"}
//
// "expected" is a string, a number or a list of them; "choices" and "tags"
// are lists of strings; "scorer" names a registered scorer with optional
// options; "meta" may hold anything and is ignored. Other keys are errors,
// so that a misspelt key is not silently dropped. Blank lines are skipped,
// and so are CR line ends and a byte order mark at the start.
// name is used in errors, which carry the line number. A dataset without
// cases is an error.
func Decode(r io.Reader, name string, scorers *Registry, def string) (*Dataset, error) {
	if scorers == nil {
		scorers = Scorers
	}
	if def != "" {
		if _, err := scorers.New(def); err != nil {
			return nil, err
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	ds := &Dataset{Name: name}
	seen := map[string]int{}
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		bad := func(format string, args ...any) error {
			return &DatasetError{File: name, Line: line, Msg: fmt.Sprintf(format, args...)}
		}
		if b[0] != '{' {
			return nil, bad("not a JSON object")
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var cl caseLine
		if err := dec.Decode(&cl); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, bad("not valid JSON: %s", jsonMessage(err))
			}
			return nil, bad("not a valid case: %s", jsonMessage(err))
		}
		if dec.More() {
			return nil, bad("more than one JSON value on the line")
		}
		c, err := decodeCase(&cl, line)
		if err != nil {
			return nil, bad("%s", err)
		}
		c.Dataset, c.Line = name, line
		if prev, dup := seen[c.ID]; dup {
			return nil, bad("duplicate id %q (first on line %d)", c.ID, prev)
		}
		seen[c.ID] = line
		if err := checkScorer(&c, scorers, def); err != nil {
			return nil, bad("%s", err)
		}
		ds.Cases = append(ds.Cases, c)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = errors.New("a line is longer than 16 MiB")
		}
		return nil, &DatasetError{File: name, Msg: err.Error()}
	}
	if len(ds.Cases) == 0 {
		return nil, &DatasetError{File: name, Msg: "no cases (the dataset is empty)"}
	}
	return ds, nil
}

func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%q has the wrong type (JSON %s)", te.Field, te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// checkScorer resolves the case's scorer and lets it check the case.
func checkScorer(c *Case, scorers *Registry, def string) error {
	s, err := scorers.New(c.ScorerSpec(def))
	if err != nil {
		return err
	}
	if ch, ok := s.(Checker); ok {
		if err := ch.Check(c); err != nil {
			name, _, _ := ParseSpec(c.ScorerSpec(def))
			return fmt.Errorf("%s scorer: %w", name, err)
		}
	}
	return nil
}

func decodeCase(cl *caseLine, line int) (Case, error) {
	var c Case
	switch id := bytes.TrimSpace(cl.ID); {
	case len(id) == 0 || string(id) == "null":
		c.ID = strconv.Itoa(line)
	case id[0] == '"':
		if err := json.Unmarshal(id, &c.ID); err != nil || c.ID == "" {
			return c, errors.New(`"id" must be a non-empty string or a number`)
		}
	default:
		var n json.Number
		if err := json.Unmarshal(id, &n); err != nil {
			return c, errors.New(`"id" must be a non-empty string or a number`)
		}
		c.ID = n.String()
	}
	switch {
	case cl.Input != nil && cl.Messages != nil:
		return c, errors.New(`both "input" and "messages": give one`)
	case cl.Input != nil:
		if strings.TrimSpace(*cl.Input) == "" {
			return c, errors.New(`"input" is empty`)
		}
		c.Input = *cl.Input
	case cl.Messages != nil:
		msgs := *cl.Messages
		if len(msgs) == 0 {
			return c, errors.New(`"messages" is empty`)
		}
		for i, m := range msgs {
			switch m.Role {
			case "system", "user", "assistant":
			default:
				return c, fmt.Errorf("message %d: role %q: want system, user or assistant", i+1, m.Role)
			}
			if strings.TrimSpace(m.Content) == "" {
				return c, fmt.Errorf("message %d: empty content", i+1)
			}
		}
		if msgs[len(msgs)-1].Role != "user" {
			return c, fmt.Errorf("the last message is the %s's: it must be the user's", msgs[len(msgs)-1].Role)
		}
		c.Messages = msgs
	default:
		return c, errors.New(`no "input" or "messages"`)
	}
	if len(bytes.TrimSpace(cl.Expected)) == 0 || string(bytes.TrimSpace(cl.Expected)) == "null" {
		return c, errors.New(`no "expected" answer`)
	}
	exp, err := stringList(cl.Expected, "expected", true)
	if err != nil {
		return c, err
	}
	if len(exp) == 0 {
		return c, errors.New(`"expected" is an empty list`)
	}
	c.Expected = exp
	if c.Choices, err = stringList(cl.Choices, "choices", false); err != nil {
		return c, err
	}
	if c.Tags, err = stringList(cl.Tags, "tags", false); err != nil {
		return c, err
	}
	if cl.Scorer != nil {
		if strings.TrimSpace(*cl.Scorer) == "" {
			return c, errors.New(`"scorer" is empty`)
		}
		c.Scorer = strings.TrimSpace(*cl.Scorer)
	}
	return c, nil
}

// stringList reads a string (or, when numbers is set, a number) or a list
// of them. Every string must be non-empty.
func stringList(raw json.RawMessage, key string, numbers bool) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	what := "a string or a list of strings"
	if numbers {
		what = "a string, a number or a list of them"
	}
	one := func(v json.RawMessage) (string, error) {
		v = bytes.TrimSpace(v)
		var s string
		switch {
		case len(v) > 0 && v[0] == '"':
			if err := json.Unmarshal(v, &s); err != nil {
				return "", err
			}
		case numbers && len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9'):
			var n json.Number
			if err := json.Unmarshal(v, &n); err != nil {
				return "", err
			}
			s = n.String()
		default:
			return "", fmt.Errorf("%q must be %s", key, what)
		}
		if strings.TrimSpace(s) == "" {
			return "", fmt.Errorf("%q holds an empty string", key)
		}
		return s, nil
	}
	if raw[0] != '[' {
		s, err := one(raw)
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("%q must be %s", key, what)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, err := one(it)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Select returns the cases to evaluate: all of them in order, or shuffled
// with seed when shuffle is set, then the first limit of those when limit
// is positive. The same seed gives the same order on every machine.
func Select(cases []Case, limit int, shuffle bool, seed uint64) []Case {
	out := append([]Case(nil), cases...)
	if shuffle {
		rng := newRand(seed)
		for i := len(out) - 1; i > 0; i-- {
			j := rng.intn(i + 1)
			out[i], out[j] = out[j], out[i]
		}
	}
	if limit > 0 && limit < len(out) {
		out = out[:limit]
	}
	return out
}

// Fingerprint returns a SHA-256 (hex) of the cases in order (their
// questions, choices, expected answers, scorers and tags), so that results
// can tell whether they were measured on the same cases.
func Fingerprint(cases []Case) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for i := range cases {
		c := cases[i]
		enc.Encode(struct {
			ID       string          `json:"id"`
			Input    string          `json:"input,omitempty"`
			Messages []model.Message `json:"messages,omitempty"`
			Expected []string        `json:"expected"`
			Choices  []string        `json:"choices,omitempty"`
			Scorer   string          `json:"scorer,omitempty"`
			Tags     []string        `json:"tags,omitempty"`
		}{c.ID, c.Input, c.Messages, c.Expected, c.Choices, c.Scorer, c.Tags})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// rng is SplitMix64: small, fast, and the same everywhere, so that a seed
// names the same shuffle and the same generated set forever.
type rng struct{ s uint64 }

func newRand(seed uint64) *rng { return &rng{s: seed} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a uniform integer in [0, n) (rejection sampling, no modulo
// bias).
func (r *rng) intn(n int) int {
	if n <= 0 {
		panic("eval: intn of a non-positive number")
	}
	bound := uint64(n)
	limit := ^uint64(0) - (^uint64(0) % bound)
	for {
		v := r.next()
		if v < limit {
			return int(v % bound)
		}
	}
}
