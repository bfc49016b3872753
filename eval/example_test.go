package eval_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/inference-pio/piobench/eval"
	"github.com/inference-pio/piobench/model/fake"
)

// A model is evaluated on the guide's three questions; one case uses a
// scorer of the user's own.
func Example() {
	scorers := eval.NewRegistry()
	// "yes-no": the answer's first word is the expected one.
	scorers.Register("yes-no", func(o eval.Options) (eval.Scorer, error) {
		return eval.ScorerFunc(func(c *eval.Case, answer string) bool {
			w := strings.Fields(strings.ToLower(answer))
			return len(w) > 0 && strings.Trim(w[0], ".,!") == strings.ToLower(c.Expected[0])
		}), nil
	})
	cases := append(eval.Smoke(), eval.Case{ID: "flat", Input: "Is the Earth flat?", Expected: []string{"no"}, Scorer: "yes-no"})

	m := fake.New(fake.NewClock(), 0, 0, 0)
	m.Answers = map[string]string{
		"What is 2+2?":         "4",
		"Capital of France?":   "Lyon",
		"How many continents?": "There are seven.",
		"Is the Earth flat?":   "No, it is round.",
	}
	m.Load(context.Background())
	rep, err := eval.Evaluate(context.Background(), m, cases, eval.Config{Scorers: scorers})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Summary())
	for _, r := range rep.Records {
		fmt.Printf("%-7s %-8s %v\n", r.ID, r.Scorer, r.Correct())
	}
	fmt.Println(eval.CompareProportions(eval.Proportion{Correct: 2, N: 4}, eval.Proportion{Correct: rep.Correct, N: rep.Answered}, 0.95).Change())
	// Output:
	// 3/4 correct (0.75, 95% CI [0.301, 0.954])
	// smoke-1 contains true
	// smoke-2 contains false
	// smoke-3 contains true
	// flat    yes-no   true
	// ~
}
