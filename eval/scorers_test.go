package eval

import (
	"errors"
	"strings"
	"testing"
)

func TestNumbers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []float64
	}{
		{"There are seven continents.", []float64{7}},
		{"Seven", []float64{7}},
		{"twenty-one", []float64{21}},
		{"twenty one", []float64{21}},
		{"one hundred and five", []float64{105}},
		{"a hundred", []float64{100}},
		{"a thousand and one", []float64{1001}},
		{"nine hundred ninety nine thousand nine hundred ninety nine", []float64{999999}},
		{"fifteen hundred", []float64{1500}},
		{"two million three hundred thousand", []float64{2300000}},
		{"minus four", []float64{-4}},
		{"negative 3", []float64{3}}, // "negative" before digits is a word, the digits a number
		{"one two three", []float64{1, 2, 3}},
		{"seventeen", []float64{17}},
		{"seventy", []float64{70}},
		{"zero", []float64{0}},
		{"zero one", []float64{0, 1}},
		{"2+2=4.", []float64{2, 2, 4}},
		{"2-3", []float64{2, 3}},
		{"it is -3.5 and 1,000 and 1,2,3", []float64{-3.5, 1000, 1, 2, 3}},
		{"1,234,567.25", []float64{1234567.25}},
		{"1,234,5678", []float64{1234, 5678}},
		{".5 or 0.25", []float64{0.5, 0.25}},
		{"1e3", []float64{1000}},
		{"3rd place", []float64{3}},
		{"someone gave everyone a tone", nil},
		{"mp3 and h264", nil},
		{"a dog", nil},
		{"and", nil},
		{"", nil},
		{"The answer is 4. Next: 5", []float64{4, 5}},
		{"Answer: (7)", []float64{7}},
		{"ten-year-old", []float64{10}},
	} {
		got := Numbers(tc.in)
		var vals []float64
		for _, n := range got {
			vals = append(vals, n.Value)
			if n.Start < 0 || n.End > len(tc.in) || n.Start >= n.End {
				t.Errorf("%q: bad span %+v", tc.in, n)
			}
		}
		if len(vals) != len(tc.want) {
			t.Errorf("Numbers(%q) = %v, want %v", tc.in, vals, tc.want)
			continue
		}
		for i := range vals {
			if vals[i] != tc.want[i] {
				t.Errorf("Numbers(%q) = %v, want %v", tc.in, vals, tc.want)
				break
			}
		}
	}
}

func TestContains(t *testing.T) {
	for _, tc := range []struct {
		answer, want string
		ok           bool
	}{
		// The guide's cases, answered in words, digits and other cases.
		{"seven", "7", true},
		{"There are seven continents.", "7", true},
		{"SEVEN", "7", true},
		{"There are 7 continents", "seven", true},
		{"There are 7 continents", "7", true},
		{"The answer is 4", "4", true},
		{"2+2 = four", "4", true},
		{"It is PARIS of course", "Paris", true},
		{"paris.", "Paris", true},
		// Whole words and whole numbers only.
		{"seventeen", "7", false},
		{"There are 17 continents", "7", false},
		{"It is 14", "4", false},
		{"4.5", "4", false},
		{"3.14", "14", false},
		{"Parisian cafés", "Paris", false},
		{"1,000", "1000", true},
		{"one thousand", "1000", true},
		{"4,", "4", true},
		{"(4)", "4", true},
		{"no answer", "4", false},
		{"", "4", false},
		// Multi-word answers, white space collapsed.
		{"It is New   York City", "new york", true},
		{"It is New\nYork", "New York", true},
		{"Newark", "new york", false},
		// Expected answers that start or end with punctuation match anywhere.
		{"use C++ here", "C++", true},
		{"answer: (b)", "(b)", true},
		// Unicode.
		{"Die Antwort ist München.", "münchen", true},
		{"Münchener", "münchen", false},
	} {
		if got := Contains(tc.answer, tc.want); got != tc.ok {
			t.Errorf("Contains(%q, %q) = %v, want %v", tc.answer, tc.want, got, tc.ok)
		}
	}
}

// score scores one answer with a scorer spec, through the default
// registry, checking the case first.
func score(t *testing.T, spec string, c Case, answer string) bool {
	t.Helper()
	s, err := Scorers.New(spec)
	if err != nil {
		t.Fatalf("%s: %v", spec, err)
	}
	if ch, ok := s.(Checker); ok {
		if err := ch.Check(&c); err != nil {
			t.Fatalf("%s: check %+v: %v", spec, c, err)
		}
	}
	return s.Score(&c, answer)
}

func TestScorers(t *testing.T) {
	continents := Case{Input: "How many continents?", Expected: []string{"7"}}
	for _, tc := range []struct {
		spec   string
		c      Case
		answer string
		ok     bool
	}{
		{"contains", continents, "seven", true},
		{"contains", continents, "Seven continents: Africa, ...", true},
		{"contains", continents, "seventeen", false},
		{"contains", Case{Expected: []string{"Paris", "City of Light"}}, "the city of light", true},

		{"exact", Case{Expected: []string{"Paris"}}, "Paris", true},
		{"exact", Case{Expected: []string{"Paris"}}, "  Paris\n", true},
		{"exact", Case{Expected: []string{"Paris"}}, "paris", false},
		{"exact", Case{Expected: []string{"Paris"}}, "Paris.", false},
		{"exact", continents, "seven", false},

		{"normalized", Case{Expected: []string{"Paris"}}, "paris.", true},
		{"normalized", Case{Expected: []string{"The Eiffel Tower"}}, "eiffel  tower!", true},
		{"normalized", Case{Expected: []string{"an apple"}}, "Apple", true},
		{"normalized", Case{Expected: []string{"3.5"}}, "3.5", true},
		{"normalized", Case{Expected: []string{"3.5"}}, "35", false},
		{"normalized", Case{Expected: []string{"1000"}}, "1,000", true},
		{"normalized", Case{Expected: []string{"Paris"}}, "It is Paris", false},
		{"normalized", Case{Expected: []string{"rock-and-roll"}}, "Rock and roll", true},

		{"regex", Case{Expected: []string{`\b7\b`}}, "There are 7.", true},
		{"regex", Case{Expected: []string{`\b7\b`}}, "There are 17.", false},
		{"regex", Case{Expected: []string{`^Paris$`}}, "Paris", true},
		{"regex", Case{Expected: []string{`^Paris$`}}, "Paris, France", false},
		{"regex", Case{Expected: []string{`paris`}}, "PARIS", false},
		{"regex", Case{Expected: []string{`(?i)paris`}}, "PARIS", true},
		{"regex", Case{Expected: []string{`x`, `(?i)seven|7`}}, "Seven", true},

		{"numeric", continents, "seven", true},
		{"numeric", continents, "There are seven continents.", true},
		{"numeric", continents, "7.0", true},
		{"numeric", continents, "7.01", false},
		{"numeric", continents, "There are 17", false},
		{"numeric", continents, "no idea", false},
		{"numeric", Case{Expected: []string{"95"}}, "37 + 58 = 95", true},
		{"numeric:pick=first", Case{Expected: []string{"95"}}, "37 + 58 = 95", false},
		{"numeric:pick=first", Case{Expected: []string{"95"}}, "95, since 37 + 58 = 95", true},
		{"numeric:pick=any", Case{Expected: []string{"58"}}, "37 + 58 = 95", true},
		{"numeric", Case{Expected: []string{"1000"}}, "one thousand", true},
		{"numeric", Case{Expected: []string{"1,000"}}, "1000", true},
		{"numeric", Case{Expected: []string{"-4"}}, "minus four", true},
		{"numeric", Case{Expected: []string{"0.1"}}, "0.1", true},
		{"numeric", Case{Expected: []string{"0.3"}}, "0.30000000000000004", true},
		{"numeric:tolerance=0.5", Case{Expected: []string{"3.14"}}, "about 3", true},
		{"numeric:tolerance=0.1", Case{Expected: []string{"3.14"}}, "about 3", false},
		{"numeric:tolerance=5%", Case{Expected: []string{"200"}}, "209", true},
		{"numeric:tolerance=5%", Case{Expected: []string{"200"}}, "211", false},
		{"numeric", Case{Expected: []string{"seven"}}, "7", true},

		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"B"}}, "B", true},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"B"}}, "(b)", true},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"B"}}, "B. Paris", true},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"B"}}, "B) because", true},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"B"}}, "The answer is (B).", true},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"B"}}, "Answer: B", true},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"B"}}, "Paris", true},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"B"}}, "It must be Paris.", true},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"Paris"}}, "B", true},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"b"}}, "paris", true},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"B"}}, "A", false},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"B"}}, "D", false},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"B"}}, "Paris or Lyon", false},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"B"}}, "A city in France", false},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"B"}}, "Parisian", false},
		{"choice", Case{Choices: []string{"Lyon", "Paris", "Nice"}, Expected: []string{"B"}}, "B Paris", true},
		{"choice", Case{Choices: []string{"York", "New York"}, Expected: []string{"B"}}, "New York", true},
		{"choice", Case{Choices: []string{"York", "New York"}, Expected: []string{"A"}}, "York", true},
		{"choice", Case{Choices: []string{"six", "seven"}, Expected: []string{"B"}}, "7", true},
	} {
		if got := score(t, tc.spec, tc.c, tc.answer); got != tc.ok {
			t.Errorf("%s: expected %q, answer %q: correct = %v, want %v", tc.spec, tc.c.Expected, tc.answer, got, tc.ok)
		}
	}
}

func TestScorerChecks(t *testing.T) {
	for _, tc := range []struct {
		spec string
		c    Case
		want string
	}{
		{"regex", Case{Expected: []string{"("}}, `invalid regular expression "("`},
		{"regex", Case{Expected: []string{"ok", "a[b"}}, `invalid regular expression "a[b"`},
		{"numeric", Case{Expected: []string{"Paris"}}, `expected "Paris" is not a number`},
		{"numeric", Case{Expected: []string{"7 or 8"}}, `expected "7 or 8" is not a number`},
		{"numeric", Case{Expected: []string{"7 continents"}}, `is not a number`},
		{"choice", Case{Expected: []string{"A"}}, `needs "choices"`},
		{"choice", Case{Choices: []string{"x", "y"}, Expected: []string{"C"}}, `expected "C" is neither a choice letter (A to B) nor one of the choices`},
		{"choice", Case{Choices: []string{"x", " "}, Expected: []string{"A"}}, `choice B is empty`},
	} {
		s, err := Scorers.New(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		err = s.(Checker).Check(&tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: error %v, want %q", tc.spec, tc.c, err, tc.want)
		}
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	if got := strings.Join(r.Names(), ","); got != "choice,contains,exact,normalized,numeric,regex" {
		t.Errorf("built-in scorers %s", got)
	}
	// A user's scorer: the answer's length in words must be at most the
	// option "max".
	err := r.Register("short", func(o Options) (Scorer, error) {
		if err := o.Only("max"); err != nil {
			return nil, err
		}
		max := 3
		if o["max"] == "1" {
			max = 1
		}
		return ScorerFunc(func(c *Case, answer string) bool { return len(strings.Fields(answer)) <= max }), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.New("short:max=1")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Score(&Case{}, "yes") || s.Score(&Case{}, "yes indeed") {
		t.Error("custom scorer with options scores wrongly")
	}
	for _, tc := range []struct {
		spec, want string
	}{
		{"nope", `unknown scorer "nope" (known: choice, contains, exact, normalized, numeric, regex, short)`},
		{"short:min=2", `scorer "short:min=2": unknown option "min" (known: max)`},
		{"contains:x=1", `unknown option "x" (this scorer takes none)`},
		{"numeric:tolerance=abc", `tolerance "abc"`},
		{"numeric:tolerance=-1", `tolerance "-1"`},
		{"numeric:pick=middle", `pick "middle": want first, last or any`},
		{"numeric:pick=first,pick=last", `option "pick" given twice`},
		{":x", `empty name`},
	} {
		_, err := r.New(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q): %v, want %q", tc.spec, err, tc.want)
		}
	}
	if _, err := r.New("nope"); !errors.Is(err, ErrUnknownScorer) {
		t.Errorf("unknown scorer error does not wrap ErrUnknownScorer: %v", err)
	}
	if err := r.Register("contains", func(Options) (Scorer, error) { return nil, nil }); err == nil {
		t.Error("registering a name twice succeeded")
	}
	if err := r.Register("Bad Name", func(Options) (Scorer, error) { return nil, nil }); err == nil {
		t.Error("registering a bad name succeeded")
	}
	if _, err := Scorers.New("short"); err == nil {
		t.Error("a scorer registered in one registry shows in the default one")
	}
}

func TestChosen(t *testing.T) {
	choices := []string{"red", "green", "blue", "dark blue"}
	for _, tc := range []struct {
		answer string
		want   int
	}{
		{"C", 2}, {"c", 2}, {"(C)", 2}, {"[C]", 2}, {"C.", 2}, {"C:", 2},
		{"C. blue", 2}, {"(C) blue, surely", 2}, {"The answer is C", 2}, {"answer: c", 2},
		{"blue", 2}, {"dark blue", 3}, {"blue, not dark blue", -1}, {"Red or green?", -1},
		{"E", -1}, {"The answer is E", -1}, {"", -1}, {"I don't know", -1},
		{"A shade of green", 1}, // "A" followed by text that is not choice A's is the article
		{"A red one", 0},
		{"D dark blue", 3},
	} {
		if got := Chosen(choices, tc.answer); got != tc.want {
			t.Errorf("Chosen(%q) = %d, want %d", tc.answer, got, tc.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"The  Eiffel Tower!":   "eiffel tower",
		"An apple, a day":      "apple day",
		"3.5 and 1,000,000.":   "3.5 and 1000000",
		"rock-and-roll":        "rock and roll",
		"  Théâtre  ":          "théâtre",
		"U.S.A.":               "u s",
		"\"quoted\" (answer)?": "quoted answer",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}
