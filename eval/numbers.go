package eval

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A Number is a number found in a text, written in digits ("1,024",
// "-3.5") or in English words ("seven", "twenty-one", "one hundred and
// five"), with its byte span in the text.
type Number struct {
	Value      float64
	Start, End int // text[Start:End] is how the number was written
}

// Numbers returns the numbers written in s, in order. Digits may carry a
// sign (when the sign does not follow a letter or digit, so "2-3" is two
// numbers), thousands separators ("1,000") and a decimal part. Number
// words are read as digits: "seven" is 7, "twenty-one" 21, "a hundred"
// 100, "minus four" -4. Runs of words that do not form one number are
// separate numbers ("one two" is 1 and 2).
func Numbers(s string) []Number {
	var out []Number
	i := 0
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case isDigit(r) || (r == '-' || r == '+' || r == '.') && i+1 < len(s) && startsNumber(s, i):
			n, end := digitNumber(s, i)
			if end > i {
				out = append(out, n)
				i = end
				continue
			}
		case unicode.IsLetter(r):
			if n, end, ok := wordNumber(s, i); ok {
				out = append(out, n)
				i = end
				continue
			}
			// Skip the whole word.
			j := i
			for j < len(s) {
				r, w := utf8.DecodeRuneInString(s[j:])
				if !unicode.IsLetter(r) && !isDigit(r) {
					break
				}
				j += w
			}
			i = j
			continue
		}
		i += w
	}
	return out
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// startsNumber reports whether the sign or point at s[i] begins a number:
// it is followed by a digit (or a point and a digit) and does not follow a
// letter or a digit.
func startsNumber(s string, i int) bool {
	if i > 0 {
		p, _ := utf8.DecodeLastRuneInString(s[:i])
		if unicode.IsLetter(p) || isDigit(p) || p == '.' || p == ',' {
			return false
		}
	}
	j := i
	if s[j] == '-' || s[j] == '+' {
		j++
	}
	if j < len(s) && s[j] == '.' {
		j++
	}
	return j < len(s) && isDigit(rune(s[j]))
}

// digitNumber reads a number in digits starting at s[i].
func digitNumber(s string, i int) (Number, int) {
	j := i
	neg := false
	if s[j] == '-' || s[j] == '+' {
		neg = s[j] == '-'
		j++
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	digits := func() int {
		k := j
		for j < len(s) && isDigit(rune(s[j])) {
			b.WriteByte(s[j])
			j++
		}
		return j - k
	}
	lead := digits()
	// Thousands separators: groups of exactly three digits after a
	// leading group of one to three.
	if lead >= 1 && lead <= 3 {
		for j+4 <= len(s) && s[j] == ',' && allDigits(s[j+1:j+4]) && (j+4 == len(s) || !isDigit(rune(s[j+4]))) {
			b.WriteString(s[j+1 : j+4])
			j += 4
		}
	}
	if j+1 < len(s) && s[j] == '.' && isDigit(rune(s[j+1])) {
		b.WriteByte('.')
		j++
		digits()
	} else if lead == 0 {
		// A sign or point not followed by digits.
		return Number{}, i
	}
	// An exponent: 1e9, 2.5E-3.
	if j+1 < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '-' || s[k] == '+') {
			k++
		}
		if k < len(s) && isDigit(rune(s[k])) {
			end := k
			for end < len(s) && isDigit(rune(s[end])) {
				end++
			}
			// Not when letters follow ("3e5x" is not a number we read).
			if end == len(s) || !unicode.IsLetter(rune(s[end])) {
				b.WriteString(s[j:end])
				j = end
			}
		}
	}
	v, err := strconv.ParseFloat(b.String(), 64)
	if err != nil {
		return Number{}, i
	}
	return Number{Value: v, Start: i, End: j}, j
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(rune(s[i])) {
			return false
		}
	}
	return true
}

type wordKind int

const (
	kNone wordKind = iota
	kZero
	kUnit  // one to nine
	kTeen  // ten to nineteen
	kTens  // twenty to ninety
	kHund  // hundred
	kScale // thousand, million, ...
)

var numberWords = map[string]struct {
	kind wordKind
	val  float64
}{
	"zero": {kZero, 0}, "one": {kUnit, 1}, "two": {kUnit, 2}, "three": {kUnit, 3}, "four": {kUnit, 4},
	"five": {kUnit, 5}, "six": {kUnit, 6}, "seven": {kUnit, 7}, "eight": {kUnit, 8}, "nine": {kUnit, 9},
	"ten": {kTeen, 10}, "eleven": {kTeen, 11}, "twelve": {kTeen, 12}, "thirteen": {kTeen, 13},
	"fourteen": {kTeen, 14}, "fifteen": {kTeen, 15}, "sixteen": {kTeen, 16}, "seventeen": {kTeen, 17},
	"eighteen": {kTeen, 18}, "nineteen": {kTeen, 19},
	"twenty": {kTens, 20}, "thirty": {kTens, 30}, "forty": {kTens, 40}, "fifty": {kTens, 50},
	"sixty": {kTens, 60}, "seventy": {kTens, 70}, "eighty": {kTens, 80}, "ninety": {kTens, 90},
	"hundred":  {kHund, 100},
	"thousand": {kScale, 1e3}, "million": {kScale, 1e6}, "billion": {kScale, 1e9}, "trillion": {kScale, 1e12},
}

// A word is one token of letters (hyphens inside a word split it: each
// part is a word of its own, so "twenty-one" is "twenty", "one").
type word struct {
	text       string // lower case
	start, end int
}

// nextWord returns the word starting at or after i, skipping spaces and
// hyphens only; ok is false when something else comes first.
func nextWord(s string, i int, first bool) (word, bool) {
	j := i
	if !first {
		for j < len(s) {
			r, w := utf8.DecodeRuneInString(s[j:])
			if r == ' ' || r == '-' || r == '\t' || r == '\n' || r == '\r' {
				j += w
				continue
			}
			break
		}
	}
	k := j
	for k < len(s) {
		r, w := utf8.DecodeRuneInString(s[k:])
		if !unicode.IsLetter(r) {
			break
		}
		k += w
	}
	if k == j {
		return word{}, false
	}
	// A word must end at a non-letter, non-digit boundary.
	if k < len(s) {
		r, _ := utf8.DecodeRuneInString(s[k:])
		if isDigit(r) {
			return word{}, false
		}
	}
	return word{strings.ToLower(s[j:k]), j, k}, true
}

// wordNumber reads a number written in words starting at the word at s[i].
func wordNumber(s string, i int) (Number, int, bool) {
	if i > 0 {
		p, _ := utf8.DecodeLastRuneInString(s[:i])
		if unicode.IsLetter(p) || isDigit(p) {
			return Number{}, i, false
		}
	}
	w, ok := nextWord(s, i, true)
	if !ok {
		return Number{}, i, false
	}
	sign := 1.0
	pos := i
	if w.text == "minus" || w.text == "negative" {
		nw, ok := nextWord(s, w.end, false)
		if !ok || !isNumberWord(nw.text) {
			return Number{}, i, false
		}
		sign = -1
		pos = nw.start
	}
	var (
		total, current float64
		last           = kNone
		lastScale      = 0.0
		end            = -1
		any            bool
	)
	at := pos
	first := true
	for {
		nw, ok := nextWord(s, at, first)
		first = false
		if !ok {
			break
		}
		t := nw.text
		// "a hundred", "a thousand": "a" only before those, at the start.
		if t == "a" && !any {
			nx, ok := nextWord(s, nw.end, false)
			if ok && (numberWords[nx.text].kind == kHund || numberWords[nx.text].kind == kScale) && nx.text != "" {
				current = 1
				last = kUnit
				any = true
				at = nw.end
				continue
			}
			break
		}
		// "and" joins "one hundred and five".
		if t == "and" && (last == kHund || last == kScale) {
			nx, ok := nextWord(s, nw.end, false)
			if ok {
				k := numberWords[nx.text].kind
				if k == kUnit || k == kTeen || k == kTens {
					at = nw.end
					continue
				}
			}
			break
		}
		nwd, isNum := numberWords[t]
		if !isNum {
			break
		}
		okNext := false
		switch nwd.kind {
		case kZero:
			okNext = last == kNone
		case kUnit:
			okNext = last == kNone || last == kTens || last == kHund || last == kScale
		case kTeen, kTens:
			okNext = last == kNone || last == kHund || last == kScale
		case kHund:
			okNext = (last == kUnit || last == kTeen || last == kTens) && current < 100
		case kScale:
			okNext = (last == kUnit || last == kTeen || last == kTens || last == kHund) &&
				(lastScale == 0 || nwd.val < lastScale)
		}
		if !okNext {
			break
		}
		switch nwd.kind {
		case kZero, kUnit, kTeen, kTens:
			current += nwd.val
		case kHund:
			current *= 100
		case kScale:
			total += current * nwd.val
			current = 0
			lastScale = nwd.val
		}
		last = nwd.kind
		any = true
		end = nw.end
		at = nw.end
		if last == kZero {
			break
		}
	}
	if !any || end < 0 {
		return Number{}, i, false
	}
	return Number{Value: sign * (total + current), Start: i, End: end}, end, true
}

func isNumberWord(t string) bool {
	_, ok := numberWords[t]
	return ok || t == "a"
}

// formatNumber writes v in plain digits: integers without a point, others
// with the fewest digits that read back as v.
func formatNumber(v float64) string {
	if v == float64(int64(v)) && v < 1e18 && v > -1e18 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// digitsForWords rewrites s in lower case with every number written in
// words replaced by its digits and thousands separators dropped ("Seven
// thousand, 1,000" becomes "7000, 1000"). Numbers written in digits keep
// their form otherwise.
func digitsForWords(s string) string {
	nums := Numbers(s)
	if len(nums) == 0 {
		return strings.ToLower(s)
	}
	var b strings.Builder
	prev := 0
	for _, n := range nums {
		b.WriteString(strings.ToLower(s[prev:n.Start]))
		written := s[n.Start:n.End]
		if startsWithLetter(written) || strings.Contains(written, ",") {
			b.WriteString(formatNumber(n.Value))
		} else {
			b.WriteString(strings.ToLower(written))
		}
		prev = n.End
	}
	b.WriteString(strings.ToLower(s[prev:]))
	return b.String()
}

func startsWithLetter(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r)
}
