package eval

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/inference-pio/piobench/model"
)

func TestDecode(t *testing.T) {
	data := `{"id": "q1", "input": "How many continents?", "expected": ["7", "seven"], "tags": ["geo", "count"]}

{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}], "expected": 4, "scorer": "numeric"}
{"id": 17, "input": "Capital of France?", "choices": ["Lyon", "Paris"], "expected": "B", "meta": {"source": "anything", "n": [1, 2]}}
{"input": "Pattern?", "expected": "^a+$", "scorer": "regex", "tags": "one-tag"}
{"input": "Roughly pi?", "expected": 3.14, "scorer": "numeric:tolerance=0.01,pick=first"}
`
	ds, err := Decode(strings.NewReader(data), "set.jsonl", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []Case{
		{ID: "q1", Input: "How many continents?", Expected: []string{"7", "seven"}, Tags: []string{"geo", "count"}, Dataset: "set.jsonl", Line: 1},
		{ID: "3", Messages: []model.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "2+2?"}}, Expected: []string{"4"}, Scorer: "numeric", Dataset: "set.jsonl", Line: 3},
		{ID: "17", Input: "Capital of France?", Choices: []string{"Lyon", "Paris"}, Expected: []string{"B"}, Dataset: "set.jsonl", Line: 4},
		{ID: "5", Input: "Pattern?", Expected: []string{"^a+$"}, Scorer: "regex", Tags: []string{"one-tag"}, Dataset: "set.jsonl", Line: 5},
		{ID: "6", Input: "Roughly pi?", Expected: []string{"3.14"}, Scorer: "numeric:tolerance=0.01,pick=first", Dataset: "set.jsonl", Line: 6},
	}
	if !reflect.DeepEqual(ds.Cases, want) {
		t.Errorf("cases\n got %+v\nwant %+v", ds.Cases, want)
	}
	if got := ds.Cases[1].Question(); got != "2+2?" {
		t.Errorf("question of a chat case %q", got)
	}
	if got := ds.Cases[2].ScorerSpec(""); got != "choice" {
		t.Errorf("a case with choices is scored by %q, want choice", got)
	}
	if got := ds.Cases[0].ScorerSpec(""); got != "contains" {
		t.Errorf("default scorer %q, want contains", got)
	}
	if got := ds.Cases[0].ScorerSpec("exact"); got != "exact" {
		t.Errorf("evaluation default scorer not used: %q", got)
	}
}

// TestDecodeErrors checks that every bad dataset is reported in one line
// naming the file and the line.
func TestDecodeErrors(t *testing.T) {
	ok := `{"input": "a", "expected": "b"}` + "\n"
	for _, tc := range []struct {
		name, data, want string
	}{
		{"not JSON", ok + "{oops\n", `bad.jsonl:2: not valid JSON`},
		{"not an object", ok + ok + "[1, 2]\n", `bad.jsonl:3: not a JSON object`},
		{"plain text", "What is 2+2? 4\n", `bad.jsonl:1: not a JSON object`},
		{"truncated", `{"input": "a", "expected": "b"`, `bad.jsonl:1: not valid JSON`},
		{"two values", `{"input": "a", "expected": "b"} {"input": "c", "expected": "d"}`, `bad.jsonl:1: more than one JSON value`},
		{"no expected", `{"input": "a"}`, `bad.jsonl:1: no "expected" answer`},
		{"null expected", `{"input": "a", "expected": null}`, `bad.jsonl:1: no "expected" answer`},
		{"empty expected", `{"input": "a", "expected": ""}`, `bad.jsonl:1: "expected" holds an empty string`},
		{"empty expected list", `{"input": "a", "expected": []}`, `bad.jsonl:1: "expected" is an empty list`},
		{"expected object", `{"input": "a", "expected": {"x": 1}}`, `bad.jsonl:1: "expected" must be a string, a number or a list of them`},
		{"expected bool in list", `{"input": "a", "expected": ["x", true]}`, `"expected" must be a string, a number or a list of them`},
		{"no input", `{"expected": "b"}`, `bad.jsonl:1: no "input" or "messages"`},
		{"empty input", `{"input": " ", "expected": "b"}`, `bad.jsonl:1: "input" is empty`},
		{"input and messages", `{"input": "a", "messages": [{"role": "user", "content": "a"}], "expected": "b"}`, `both "input" and "messages"`},
		{"input not a string", `{"input": 5, "expected": "b"}`, `bad.jsonl:1: not a valid case: "input" has the wrong type (JSON number)`},
		{"bad role", `{"messages": [{"role": "robot", "content": "a"}], "expected": "b"}`, `bad.jsonl:1: message 1: role "robot"`},
		{"assistant last", `{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "expected": "b"}`, `the last message is the assistant's`},
		{"empty messages", `{"messages": [], "expected": "b"}`, `"messages" is empty`},
		{"message field", `{"messages": [{"role": "user", "text": "a"}], "expected": "b"}`, `unknown field "text"`},
		{"unknown field", ok + `{"input": "a", "expected": "b", "scorr": "exact"}`, `bad.jsonl:2: not a valid case: unknown field "scorr"`},
		{"unknown scorer", ok + ok + `{"input": "a", "expected": "b", "scorer": "fuzzy"}`, `bad.jsonl:3: unknown scorer "fuzzy" (known: choice, contains, exact, normalized, numeric, regex)`},
		{"bad scorer option", `{"input": "a", "expected": "1", "scorer": "numeric:tol=1"}`, `bad.jsonl:1: scorer "numeric:tol=1": unknown option "tol"`},
		{"empty scorer", `{"input": "a", "expected": "1", "scorer": ""}`, `bad.jsonl:1: "scorer" is empty`},
		{"invalid regex", ok + `{"input": "a", "expected": ["ok", "(unclosed"], "scorer": "regex"}`, `bad.jsonl:2: regex scorer: invalid regular expression "(unclosed": missing closing )`},
		{"numeric not a number", `{"input": "a", "expected": "Paris", "scorer": "numeric"}`, `bad.jsonl:1: numeric scorer: expected "Paris" is not a number`},
		{"choice without choices", `{"input": "a", "expected": "A", "scorer": "choice"}`, `bad.jsonl:1: choice scorer: the choice scorer needs "choices"`},
		{"choice not a choice", `{"input": "a", "choices": ["x", "y"], "expected": "z"}`, `bad.jsonl:1: choice scorer: expected "z" is neither`},
		{"choices not strings", `{"input": "a", "choices": [1, 2], "expected": "A"}`, `"choices" must be a string or a list of strings`},
		{"duplicate id", `{"id": "x", "input": "a", "expected": "b"}` + "\n" + `{"id": "x", "input": "c", "expected": "d"}`, `bad.jsonl:2: duplicate id "x" (first on line 1)`},
		{"empty id", `{"id": "", "input": "a", "expected": "b"}`, `"id" must be a non-empty string or a number`},
		{"empty", "", `bad.jsonl: no cases (the dataset is empty)`},
		{"blank lines only", "\n  \n\n", `bad.jsonl: no cases (the dataset is empty)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.data), "bad.jsonl", nil, "")
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is more than one line: %q", err)
			}
			if !regexp.MustCompile(`^bad\.jsonl(:\d+)?: `).MatchString(err.Error()) {
				t.Errorf("error %q does not start with the file (and line)", err)
			}
		})
	}
}

func TestDecodeWindowsFile(t *testing.T) {
	data := "\xef\xbb\xbf{\"input\": \"a\", \"expected\": \"b\"}\r\n\r\n{\"input\": \"c\", \"expected\": \"d\"}\r\n"
	ds, err := Decode(strings.NewReader(data), "win.jsonl", nil, "")
	if err != nil || len(ds.Cases) != 2 || ds.Cases[1].ID != "3" || ds.Cases[1].Expected[0] != "d" {
		t.Fatalf("byte order mark and CRLF: %+v, %v", ds, err)
	}
}

func TestDefaultScorerIsChecked(t *testing.T) {
	data := `{"input": "a", "expected": "Paris"}`
	if _, err := Decode(strings.NewReader(data), "d.jsonl", nil, "numeric"); err == nil || !strings.Contains(err.Error(), `d.jsonl:1: numeric scorer: expected "Paris" is not a number`) {
		t.Errorf("a default scorer that rejects a case: %v", err)
	}
	if _, err := Decode(strings.NewReader(data), "d.jsonl", nil, "nope"); err == nil || !strings.Contains(err.Error(), `unknown scorer "nope"`) {
		t.Errorf("unknown default scorer: %v", err)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d.jsonl")
	os.WriteFile(p, []byte(`{"input": "a", "expected": "b"}`+"\n"), 0o644)
	ds, err := ReadFile(p, nil, "")
	if err != nil || len(ds.Cases) != 1 || ds.Name != p || ds.Cases[0].ID != "1" {
		t.Fatalf("ReadFile: %+v, %v", ds, err)
	}
	_, err = ReadFile(filepath.Join(dir, "none.jsonl"), nil, "")
	if err == nil || err.Error() != filepath.Join(dir, "none.jsonl")+": no such file or directory" {
		t.Errorf("missing file: %v", err)
	}
	ds, err = Load(p, nil, "")
	if err != nil || len(ds.Cases) != 1 {
		t.Errorf("Load of a file: %v", err)
	}
}

func TestBuiltin(t *testing.T) {
	ds, err := Load("builtin:smoke", nil, "")
	if err != nil || len(ds.Cases) != 3 || ds.Cases[2].Input != "How many continents?" || ds.Cases[2].Expected[0] != "7" {
		t.Fatalf("smoke: %+v, %v", ds, err)
	}
	a, err := Load("builtin:arithmetic:n=500,seed=7", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Cases) != 500 || a.Name != "builtin:arithmetic:n=500,seed=7,digits=2,ops=+-*" {
		t.Fatalf("arithmetic: %d cases named %s", len(a.Cases), a.Name)
	}
	// Every expected answer is right, and every operation shows up.
	re := regexp.MustCompile(`^What is (\d+) ([-+*]) (\d+)\?$`)
	ops := map[string]int{}
	for _, c := range a.Cases {
		m := re.FindStringSubmatch(c.Input)
		if m == nil {
			t.Fatalf("question %q", c.Input)
		}
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[3])
		want := map[string]int{"+": x + y, "-": x - y, "*": x * y}[m[2]]
		if c.Expected[0] != strconv.Itoa(want) || want < 0 || x > 99 || y > 99 {
			t.Errorf("%s: expected %v", c.Input, c.Expected)
		}
		if c.Scorer != "numeric" || c.Tags[0] != "arithmetic" {
			t.Errorf("%s: scorer %q tags %v", c.Input, c.Scorer, c.Tags)
		}
		ops[c.Tags[1]]++
	}
	if len(ops) != 3 || ops["addition"] < 100 || ops["subtraction"] < 100 || ops["multiplication"] < 100 {
		t.Errorf("operations %v", ops)
	}
	// The same seed gives the same set, on every machine: the first cases
	// are pinned.
	b, _ := Load("builtin:arithmetic:seed=7,n=3", nil, "")
	if !reflect.DeepEqual(b.Cases[0].Input, a.Cases[0].Input) || b.Cases[2].Input != a.Cases[2].Input {
		t.Errorf("same seed, different cases: %q vs %q", b.Cases[0].Input, a.Cases[0].Input)
	}
	var firsts []string
	for _, c := range b.Cases {
		firsts = append(firsts, c.Input+" "+c.Expected[0])
	}
	if got, want := strings.Join(firsts, " | "), pinnedArithmetic; got != want {
		t.Errorf("arithmetic seed 7 begins\n %s\nwant\n %s", got, want)
	}
	c, _ := Load("builtin:arithmetic:seed=8,n=3", nil, "")
	if c.Cases[0].Input == b.Cases[0].Input && c.Cases[1].Input == b.Cases[1].Input {
		t.Error("seeds 7 and 8 give the same cases")
	}
	d, err := Load("builtin:arithmetic:n=50,digits=1,ops=+", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range d.Cases {
		if !regexp.MustCompile(`^What is \d \+ \d\?$`).MatchString(c.Input) {
			t.Errorf("digits=1 ops=+: %q", c.Input)
		}
	}
	for spec, want := range map[string]string{
		"builtin:nope":                     `builtin:nope: unknown built-in dataset "nope" (known: smoke, arithmetic)`,
		"builtin:smoke:n=3":                `builtin:smoke:n=3: unknown option "n" (this scorer takes none)`,
		"builtin:arithmetic:n=0":           `builtin:arithmetic:n=0: n=0: want 1 to 1000000 cases`,
		"builtin:arithmetic:n=ten":         `n="ten" is not a whole number`,
		"builtin:arithmetic:digits=9":      `digits=9: want 1 to 6`,
		"builtin:arithmetic:ops=/":         `ops="/": want some of +, - and *`,
		"builtin:arithmetic:size=3":        `unknown option "size" (known: n, seed, digits, ops)`,
		"builtin:arithmetic:seed=-1":       `seed="-1" is not a whole number`,
		"builtin:arithmetic:n=1,n=2":       `option "n" given twice`,
		"builtin:arithmetic:n=2000000":     `want 1 to 1000000 cases`,
		"builtin:arithmetic:digits=0,n=10": `digits=0`,
	} {
		_, err := Load(spec, nil, "")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", spec, err, want)
		}
	}
}

// pinnedArithmetic is the start of builtin:arithmetic:seed=7. It must never
// change: results name their dataset by seed.
const pinnedArithmetic = "What is 4 + 46? 50 | What is 74 + 5? 79 | What is 85 - 82? 3"

func TestSelect(t *testing.T) {
	cases, _ := Arithmetic(ArithmeticOptions{N: 100, Seed: 1, Digits: 2, Ops: "+"})
	if got := Select(cases, 0, false, 0); !reflect.DeepEqual(got, cases) {
		t.Error("no limit, no shuffle changed the cases")
	}
	if got := Select(cases, 10, false, 0); !reflect.DeepEqual(got, cases[:10]) {
		t.Error("limit 10 is not the first 10")
	}
	if got := Select(cases, 1000, false, 0); len(got) != 100 {
		t.Errorf("limit above the size: %d cases", len(got))
	}
	s1 := Select(cases, 0, true, 42)
	s2 := Select(cases, 0, true, 42)
	s3 := Select(cases, 0, true, 43)
	if !reflect.DeepEqual(s1, s2) {
		t.Error("the same seed shuffles differently")
	}
	if reflect.DeepEqual(s1, s3) || reflect.DeepEqual(s1, cases) {
		t.Error("shuffle with another seed, or shuffle at all, did nothing")
	}
	// A permutation: every case once.
	seen := map[string]int{}
	for _, c := range s1 {
		seen[c.ID]++
	}
	if len(seen) != 100 {
		t.Errorf("shuffle lost or duplicated cases: %d distinct", len(seen))
	}
	if got := Select(cases, 5, true, 42); !reflect.DeepEqual(got, s1[:5]) {
		t.Error("--limit does not apply after --shuffle")
	}
	if &cases[0] == &Select(cases, 0, false, 0)[0] {
		t.Error("Select shares the caller's slice")
	}
}

func TestFingerprint(t *testing.T) {
	a := Smoke()
	b := Smoke()
	if Fingerprint(a) != Fingerprint(b) || len(Fingerprint(a)) != 64 {
		t.Error("same cases, different fingerprints")
	}
	b[1].Expected = []string{"paris"}
	if Fingerprint(a) == Fingerprint(b) {
		t.Error("a changed expected answer keeps the fingerprint")
	}
	b = Smoke()
	b[0], b[1] = b[1], b[0]
	if Fingerprint(a) == Fingerprint(b) {
		t.Error("a changed order keeps the fingerprint")
	}
}

func TestRandIsUniformEnough(t *testing.T) {
	r := newRand(3)
	counts := make([]int, 7)
	for i := 0; i < 70000; i++ {
		counts[r.intn(7)]++
	}
	for i, c := range counts {
		// Expected 10000, standard deviation about 93: 600 is over 6 sigma.
		if c < 9400 || c > 10600 {
			t.Errorf("value %d drawn %d times of 70000", i, c)
		}
	}
}

// TestSplitMix64 pins the generator to the published SplitMix64 sequence
// (state 0: e220a8397b1dcdaf, 6e789e6aa1b965f4, 06c45d188009454f).
func TestSplitMix64(t *testing.T) {
	r := newRand(0)
	for i, want := range []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f} {
		if got := r.next(); got != want {
			t.Errorf("output %d = %x, want %x", i, got, want)
		}
	}
}

func TestArithmeticDistinct(t *testing.T) {
	for _, o := range []ArithmeticOptions{
		{N: 7000, Seed: 1, Digits: 2, Ops: "+-*"}, // distinct: up to 7500
		{N: 25, Seed: 1, Digits: 1, Ops: "+"},     // distinct: up to 25
	} {
		cases, err := Arithmetic(o)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, c := range cases {
			if seen[c.Input] {
				t.Errorf("%+v: %q twice", o, c.Input)
			}
			seen[c.Input] = true
		}
	}
	// More than there are: allowed, with repeats.
	cases, err := Arithmetic(ArithmeticOptions{N: 500, Seed: 1, Digits: 1, Ops: "+"})
	if err != nil || len(cases) != 500 {
		t.Errorf("n above the number of questions: %d cases, %v", len(cases), err)
	}
}
