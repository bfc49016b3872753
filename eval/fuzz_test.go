package eval

import (
	"strings"
	"testing"
)

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"input": "a", "expected": "b"}`,
		`{"id": 3, "messages": [{"role": "user", "content": "x"}], "expected": [1, "two"], "tags": "t"}`,
		`{"input": "q", "choices": ["a", "b"], "expected": "B", "scorer": "choice"}`,
		`{"input": "q", "expected": "(", "scorer": "regex"}`,
		`{"input": "q", "expected": "1e400", "scorer": "numeric:tolerance=1%"}`,
		"{oops\n\n[]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		ds, err := Decode(strings.NewReader(data), "f.jsonl", nil, "")
		if err != nil {
			if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "f.jsonl") {
				t.Fatalf("error %q is not one line naming the file", err)
			}
			return
		}
		for i := range ds.Cases {
			c := &ds.Cases[i]
			if len(c.Expected) == 0 || c.ID == "" || c.Question() == "" && len(c.Messages) == 0 {
				t.Fatalf("accepted a case without what it needs: %+v", c)
			}
			// Every accepted case can be scored without a panic.
			s, err := Scorers.New(c.ScorerSpec(""))
			if err != nil {
				t.Fatalf("accepted case has scorer error %v", err)
			}
			s.Score(c, c.Expected[0])
			s.Score(c, data)
		}
	})
}

func FuzzNumbers(f *testing.F) {
	for _, s := range []string{"seven", "1,000.5", "-3e5", "one hundred and five", "a thousand", "minus twenty-one", "2+2=4.", ".5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		prev := 0
		for _, n := range Numbers(s) {
			if n.Start < prev || n.End <= n.Start || n.End > len(s) {
				t.Fatalf("Numbers(%q): span %+v after %d", s, n, prev)
			}
			prev = n.End
		}
		Contains(s, s)
		Normalize(s)
		digitsForWords(s)
		Chosen([]string{"a", "b b", "7"}, s)
	})
}
