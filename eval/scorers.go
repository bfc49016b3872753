package eval

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// The built-in scorers. Each accepts a case when any of its expected
// answers matches.
var builtinScorers = map[string]Factory{
	"contains":   func(o Options) (Scorer, error) { return noOptions(o, ScorerFunc(scoreContains)) },
	"exact":      func(o Options) (Scorer, error) { return noOptions(o, ScorerFunc(scoreExact)) },
	"normalized": func(o Options) (Scorer, error) { return noOptions(o, ScorerFunc(scoreNormalized)) },
	"regex":      func(o Options) (Scorer, error) { return noOptions(o, &regexScorer{}) },
	"numeric":    newNumeric,
	"choice":     func(o Options) (Scorer, error) { return noOptions(o, choiceScorer{}) },
}

func noOptions(o Options, s Scorer) (Scorer, error) {
	if err := o.Only(); err != nil {
		return nil, err
	}
	return s, nil
}

// Contains reports whether answer contains want, the way the contains
// scorer decides: case-insensitively, with numbers written in words read
// as digits on both sides ("There are seven" contains "7", and "7"
// contains "seven"), runs of white space counted as one space, and only
// at word boundaries: "14" does not contain "4", "Parisian" does not
// contain "Paris", "4.5" does not contain "4".
func Contains(answer, want string) bool {
	a := collapseSpace(digitsForWords(answer))
	w := collapseSpace(digitsForWords(strings.TrimSpace(want)))
	if w == "" {
		return false
	}
	for from := 0; from <= len(a); {
		i := strings.Index(a[from:], w)
		if i < 0 {
			return false
		}
		i += from
		if boundaryBefore(a, i, w) && boundaryAfter(a, i+len(w), w) {
			return true
		}
		_, size := utf8.DecodeRuneInString(a[i:])
		from = i + size
	}
	return false
}

func scoreContains(c *Case, answer string) bool {
	for _, e := range c.Expected {
		if Contains(answer, e) {
			return true
		}
	}
	return false
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// boundaryBefore reports whether the match of w at a[i:] does not continue
// a word or a number to its left.
func boundaryBefore(a string, i int, w string) bool {
	first, _ := utf8.DecodeRuneInString(w)
	if !isWordRune(first) || i == 0 {
		return true
	}
	p, size := utf8.DecodeLastRuneInString(a[:i])
	if isWordRune(p) {
		return false
	}
	if isDigit(first) && p == '.' {
		// "3.14" does not contain "14".
		pp, _ := utf8.DecodeLastRuneInString(a[:i-size])
		if isDigit(pp) {
			return false
		}
	}
	return true
}

// boundaryAfter reports whether the match of w ending at a[j:] does not
// continue a word or a number to its right.
func boundaryAfter(a string, j int, w string) bool {
	last, _ := utf8.DecodeLastRuneInString(w)
	if !isWordRune(last) || j >= len(a) {
		return true
	}
	n, size := utf8.DecodeRuneInString(a[j:])
	if isWordRune(n) {
		return false
	}
	if isDigit(last) && (n == '.' || n == ',') && j+size < len(a) {
		// "4.5" does not contain "4".
		nn, _ := utf8.DecodeRuneInString(a[j+size:])
		if isDigit(nn) {
			return false
		}
	}
	return true
}

func collapseSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

func scoreExact(c *Case, answer string) bool {
	a := strings.TrimSpace(answer)
	for _, e := range c.Expected {
		if a == strings.TrimSpace(e) {
			return true
		}
	}
	return false
}

// Normalize returns s as the normalized scorer compares it: lower case,
// punctuation and symbols replaced by spaces (except a decimal point
// between digits; thousands separators are dropped), the articles "a",
// "an" and "the" removed, and white space collapsed.
func Normalize(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for i, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		case (r == '.' || r == ',') && betweenDigits(s, i):
			if r == '.' {
				b.WriteRune(r)
			}
		case unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	words := strings.Fields(b.String())
	out := words[:0]
	for _, w := range words {
		if w != "a" && w != "an" && w != "the" {
			out = append(out, w)
		}
	}
	return strings.Join(out, " ")
}

func betweenDigits(s string, i int) bool {
	if i == 0 || i+1 >= len(s) {
		return false
	}
	return isDigit(rune(s[i-1])) && isDigit(rune(s[i+1]))
}

func scoreNormalized(c *Case, answer string) bool {
	a := Normalize(answer)
	for _, e := range c.Expected {
		if a == Normalize(e) {
			return true
		}
	}
	return false
}

// regexScorer treats each expected answer as a regular expression (RE2
// syntax, as Go's regexp) and accepts an answer in which any of them
// matches. Patterns are unanchored and case-sensitive unless they say
// otherwise (^, $, (?i)).
type regexScorer struct{ cache sync.Map }

func (s *regexScorer) compile(p string) (*regexp.Regexp, error) {
	if re, ok := s.cache.Load(p); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	s.cache.Store(p, re)
	return re, nil
}

func (s *regexScorer) Check(c *Case) error {
	for _, e := range c.Expected {
		if _, err := s.compile(e); err != nil {
			return fmt.Errorf("invalid regular expression %q: %s", e, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
	}
	return nil
}

func (s *regexScorer) Score(c *Case, answer string) bool {
	for _, e := range c.Expected {
		if re, err := s.compile(e); err == nil && re.MatchString(answer) {
			return true
		}
	}
	return false
}

// numericScorer compares a number in the answer with the expected one.
type numericScorer struct {
	abs  float64 // absolute tolerance
	rel  float64 // relative tolerance (of the expected value)
	pick string  // "first", "last" or "any"
}

func newNumeric(o Options) (Scorer, error) {
	if err := o.Only("tolerance", "pick"); err != nil {
		return nil, err
	}
	s := &numericScorer{pick: "last"}
	if t, ok := o["tolerance"]; ok {
		rel := strings.HasSuffix(t, "%")
		v, err := strconv.ParseFloat(strings.TrimSuffix(t, "%"), 64)
		if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("tolerance %q: want a number of 0 or more, or a percentage such as 1%%", t)
		}
		if rel {
			s.rel = v / 100
		} else {
			s.abs = v
		}
	}
	if p, ok := o["pick"]; ok {
		switch p {
		case "first", "last", "any":
			s.pick = p
		default:
			return nil, fmt.Errorf("pick %q: want first, last or any", p)
		}
	}
	return s, nil
}

// expectedNumber reads the one number an expected answer holds.
func expectedNumber(e string) (float64, error) {
	ns := Numbers(e)
	if len(ns) != 1 {
		return 0, fmt.Errorf("expected %q is not a number", e)
	}
	rest := strings.TrimSpace(e[:ns[0].Start] + e[ns[0].End:])
	if strings.TrimRight(rest, ".") != "" {
		return 0, fmt.Errorf("expected %q is not a number", e)
	}
	return ns[0].Value, nil
}

func (s *numericScorer) Check(c *Case) error {
	for _, e := range c.Expected {
		if _, err := expectedNumber(e); err != nil {
			return err
		}
	}
	return nil
}

func (s *numericScorer) Score(c *Case, answer string) bool {
	ns := Numbers(answer)
	if len(ns) == 0 {
		return false
	}
	var got []float64
	switch s.pick {
	case "first":
		got = []float64{ns[0].Value}
	case "last":
		got = []float64{ns[len(ns)-1].Value}
	default:
		for _, n := range ns {
			got = append(got, n.Value)
		}
	}
	for _, e := range c.Expected {
		want, err := expectedNumber(e)
		if err != nil {
			continue
		}
		tol := s.abs + s.rel*math.Abs(want)
		// Room for the rounding of decimal fractions.
		tol += 1e-9 * math.Max(1, math.Abs(want))
		for _, g := range got {
			if math.Abs(g-want) <= tol {
				return true
			}
		}
	}
	return false
}

// choiceScorer scores multiple-choice cases: the expected answers are
// choice letters ("B") or choice texts, and the answer picks a choice by
// its letter ("B", "(B)", "B. Paris", "The answer is B") or by naming
// exactly one choice's text.
type choiceScorer struct{}

var errNoChoices = errors.New(`the choice scorer needs "choices" (two or more)`)

func (choiceScorer) Check(c *Case) error {
	if len(c.Choices) < 2 {
		return errNoChoices
	}
	if len(c.Choices) > 26 {
		return fmt.Errorf("%d choices: at most 26 (A to Z)", len(c.Choices))
	}
	for i, ch := range c.Choices {
		if strings.TrimSpace(ch) == "" {
			return fmt.Errorf("choice %s is empty", letter(i))
		}
	}
	for _, e := range c.Expected {
		if choiceIndex(c.Choices, e) < 0 {
			return fmt.Errorf("expected %q is neither a choice letter (A to %s) nor one of the choices", e, letter(len(c.Choices)-1))
		}
	}
	return nil
}

func (choiceScorer) Score(c *Case, answer string) bool {
	got := Chosen(c.Choices, answer)
	if got < 0 {
		return false
	}
	for _, e := range c.Expected {
		if choiceIndex(c.Choices, e) == got {
			return true
		}
	}
	return false
}

func letter(i int) string { return string(rune('A' + i)) }

// choiceIndex returns the index of the choice an expected answer names,
// by letter or by text, or -1.
func choiceIndex(choices []string, e string) int {
	e = strings.TrimSpace(e)
	if len(e) == 1 {
		i := int(unicode.ToUpper(rune(e[0])) - 'A')
		if i >= 0 && i < len(choices) {
			return i
		}
	}
	for i, ch := range choices {
		if Normalize(ch) == Normalize(e) {
			return i
		}
	}
	return -1
}

var (
	reLetterOnly   = regexp.MustCompile(`^\(?([A-Za-z])\)?[.:)\]]?$`)
	reLetterParen  = regexp.MustCompile(`^[(\[]([A-Za-z])[)\]]`)
	reLetterMarked = regexp.MustCompile(`^([A-Z])[.):]`)
	reAnswerIs     = regexp.MustCompile(`(?i:answer)(?:\s+(?i:is)|\s*:)\s*:?\s*[(\[]?([A-Z])[)\]]?(?:[^A-Za-z0-9]|$)`)
	reAnswerIsLow  = regexp.MustCompile(`(?i:answer)(?:\s+(?i:is)|\s*:)\s*:?\s*(?:[(\[]([a-z])[)\]]|([a-z])(?:[.,:)]|\s*$))`)
	reLetterSpace  = regexp.MustCompile(`^([A-Z])\s+(.*)$`)
)

// Chosen returns the index of the choice an answer picks, or -1 when it
// picks none or more than one. An answer picks a choice by its letter:
// the whole answer ("B", "(b)", "B."), a marked letter at its start
// ("(B) ...", "B. ...", "B) ..."), "answer is B" or "Answer: B"
// anywhere, or a letter at the start followed by the choice's own text
// ("B Paris"); otherwise by naming the text of exactly one choice, as the
// contains scorer matches it (a choice whose every mention lies inside a
// longer choice's mention, such as "York" in "New York", is not named).
func Chosen(choices []string, answer string) int {
	a := strings.TrimSpace(answer)
	byLetter := func(m []string) int {
		if m == nil {
			return -1
		}
		l := m[1]
		if l == "" && len(m) > 2 {
			l = m[2]
		}
		i := int(unicode.ToUpper(rune(l[0])) - 'A')
		if i >= 0 && i < len(choices) {
			return i
		}
		return -2 // a letter, but of no choice
	}
	for _, re := range []*regexp.Regexp{reLetterOnly, reLetterParen, reLetterMarked, reAnswerIs, reAnswerIsLow} {
		if i := byLetter(re.FindStringSubmatch(a)); i != -1 {
			return max(i, -1)
		}
	}
	if m := reLetterSpace.FindStringSubmatch(a); m != nil {
		if i := byLetter(m); i >= 0 && strings.HasPrefix(Normalize(m[2]), Normalize(choices[i])) && Normalize(choices[i]) != "" {
			return i
		}
	}
	return choiceByText(choices, a)
}

type span struct{ start, end int }

func choiceByText(choices []string, answer string) int {
	a := collapseSpace(digitsForWords(answer))
	found := make([][]span, len(choices))
	for i, ch := range choices {
		w := collapseSpace(digitsForWords(strings.TrimSpace(ch)))
		if w == "" {
			continue
		}
		for from := 0; from <= len(a); {
			j := strings.Index(a[from:], w)
			if j < 0 {
				break
			}
			j += from
			if boundaryBefore(a, j, w) && boundaryAfter(a, j+len(w), w) {
				found[i] = append(found[i], span{j, j + len(w)})
			}
			_, size := utf8.DecodeRuneInString(a[j:])
			from = j + size
		}
	}
	pick := -1
	for i, spans := range found {
		named := false
		for _, s := range spans {
			inside := false
			for k, other := range found {
				if k == i {
					continue
				}
				for _, o := range other {
					if o.start <= s.start && s.end <= o.end && o.end-o.start > s.end-s.start {
						inside = true
					}
				}
			}
			if !inside {
				named = true
			}
		}
		if named {
			if pick >= 0 {
				return -1
			}
			pick = i
		}
	}
	return pick
}
