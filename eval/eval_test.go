package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/fake"
	"github.com/inference-pio/piobench/stats"
)

func loaded(t *testing.T, m model.Model) model.Model {
	t.Helper()
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// scripted returns a fake model that answers the arithmetic set: right
// when right(i) says so (in a rotating choice of styles, words included),
// wrong otherwise.
func scripted(cases []Case, right func(i int) bool) *fake.Model {
	m := fake.New(fake.NewClock(), 0, time.Millisecond, 10*time.Millisecond)
	m.Answers = map[string]string{}
	for i, c := range cases {
		v, _ := strconv.Atoi(c.Expected[0])
		if !right(i) {
			v++
		}
		var a string
		switch i % 4 {
		case 0:
			a = strconv.Itoa(v)
		case 1:
			a = "The answer is " + strconv.Itoa(v) + "."
		case 2:
			a = strings.TrimSuffix(c.Input[len("What is "):], "?") + " = " + strconv.Itoa(v)
		default:
			a = inWords(v)
		}
		m.Answers[c.Input] = a
	}
	return m
}

// inWords writes 0 <= v < 10000 in English words.
func inWords(v int) string {
	units := strings.Fields("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen")
	tens := strings.Fields("_ _ twenty thirty forty fifty sixty seventy eighty ninety")
	var parts []string
	if v >= 1000 {
		parts = append(parts, units[v/1000], "thousand")
		v %= 1000
	}
	if v >= 100 {
		parts = append(parts, units[v/100], "hundred")
		v %= 100
	}
	switch {
	case v >= 20 && v%10 != 0:
		parts = append(parts, tens[v/10]+"-"+units[v%10])
	case v >= 20:
		parts = append(parts, tens[v/10])
	case v > 0 || len(parts) == 0:
		parts = append(parts, units[v])
	}
	return strings.Join(parts, " ")
}

// TestEvaluateKnownAccuracy evaluates a scripted model whose true accuracy
// is known exactly, and finds exactly that.
func TestEvaluateKnownAccuracy(t *testing.T) {
	cases, err := Arithmetic(ArithmeticOptions{N: 200, Seed: 11, Digits: 2, Ops: "+-*"})
	if err != nil {
		t.Fatal(err)
	}
	right := func(i int) bool { return i%5 != 3 } // 160 of 200
	var got []Record
	m := scripted(cases, right)
	rep, err := Evaluate(context.Background(), loaded(t, m), cases, Config{
		MaxTokens: 16,
		Now:       m.Clock.Now,
		OnCase:    func(r Record) { got = append(got, r) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != 200 || rep.Answered != 200 || rep.Correct != 160 || rep.Errors != 0 || rep.Accuracy() != 0.8 {
		t.Fatalf("tally %+v accuracy %v, want 160/200 = 0.8 exactly", rep.Tally, rep.Accuracy())
	}
	lo, hi := rep.Interval(0.95)
	wlo, whi := stats.Wilson(160, 200, 0.95)
	if lo != wlo || hi != whi || math.Abs(lo-0.7391) > 1e-4 || math.Abs(hi-0.8495) > 1e-4 {
		t.Errorf("interval [%v, %v], want Wilson [0.7391, 0.8495]", lo, hi)
	}
	// Per tag: count what the script made right by operation.
	want := map[string]Tally{}
	for i, c := range cases {
		for _, tag := range c.Tags {
			tt := want[tag]
			tt.Total++
			tt.Answered++
			if right(i) {
				tt.Correct++
			}
			want[tag] = tt
		}
	}
	for tag, tt := range want {
		if rep.Tags[tag] != tt {
			t.Errorf("tag %s: %+v, want %+v", tag, rep.Tags[tag], tt)
		}
	}
	if len(rep.Tags) != 4 {
		t.Errorf("tags %v", rep.TagNames())
	}
	if len(got) != 200 || rep.Scorers["numeric"] != 200 || rep.Mode != "sequential" {
		t.Errorf("%d records, scorers %v, mode %s", len(got), rep.Scorers, rep.Mode)
	}
	for i, r := range rep.Records {
		if r.Correct() != right(i) || r.ID != cases[i].ID || r.Input != cases[i].Input || r.Expected[0] != cases[i].Expected[0] || r.Error != "" {
			t.Fatalf("record %d: %+v", i, r)
		}
		// On the simulated clock the fake takes 1 ms a prompt word and
		// 10 ms a generated word.
		words := len(strings.Fields(r.Output))
		if wantMS := float64(len(strings.Fields(r.Input))) + 10*float64(words); r.LatencyMS != wantMS {
			t.Fatalf("record %d latency %v ms, want %v", i, r.LatencyMS, wantMS)
		}
	}
	if o := rep.Outcomes(); len(o) != 200 || o[3] != 0 || o[0] != 1 {
		t.Errorf("outcomes %v", o[:5])
	}
}

// failing answers from a fake model but fails on chosen prompts.
type failing struct {
	*fake.Model
	fail map[string]bool
}

func (f *failing) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	if f.fail[req.Prompt] {
		return model.Response{}, errors.New("connection reset by peer")
	}
	return f.Model.Infer(ctx, req)
}

// TestErrorAccounting checks that errors are counted apart from wrong
// answers and left out of the accuracy.
func TestErrorAccounting(t *testing.T) {
	var cases []Case
	m := fake.New(fake.NewClock(), 0, 0, time.Millisecond)
	m.Answers = map[string]string{}
	f := &failing{Model: m, fail: map[string]bool{}}
	// 10 cases: 5 right, 3 wrong, 2 errors.
	for i := 0; i < 10; i++ {
		q := fmt.Sprintf("question %d?", i)
		c := Case{ID: strconv.Itoa(i), Input: q, Expected: []string{"yes"}, Tags: []string{"t" + strconv.Itoa(i%2)}}
		switch {
		case i < 5:
			m.Answers[q] = "yes"
		case i < 8:
			m.Answers[q] = "no"
		default:
			f.fail[q] = true
		}
		cases = append(cases, c)
	}
	rep, err := Evaluate(context.Background(), loaded(t, f), cases, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != 10 || rep.Answered != 8 || rep.Correct != 5 || rep.Wrong() != 3 || rep.Errors != 2 {
		t.Fatalf("tally %+v", rep.Tally)
	}
	if rep.Accuracy() != 5.0/8 {
		t.Errorf("accuracy %v, want 5/8 (errors left out)", rep.Accuracy())
	}
	if rep.FirstError != "case 8: connection reset by peer" {
		t.Errorf("first error %q", rep.FirstError)
	}
	for i, r := range rep.Records {
		errored := i >= 8
		if (r.Score == nil) != errored || (r.Error != "") != errored {
			t.Errorf("record %d: score %v error %q", i, r.Score, r.Error)
		}
	}
	// Tag t0 holds cases 0,2,4,6,8: 3 right, 1 wrong, 1 error.
	if got := rep.Tags["t0"]; got != (Tally{Total: 5, Answered: 4, Correct: 3, Errors: 1}) {
		t.Errorf("tag t0 %+v", got)
	}
	if s := rep.Summary(); s != "5/8 correct (0.625, 95% CI [0.306, 0.863]); 2 of 10 cases errored" {
		t.Errorf("summary %q", s)
	}

	// Every case failing: nothing answered, accuracy NaN.
	m.Fail = errors.New("down")
	rep, err = Evaluate(context.Background(), loaded(t, m), cases, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 10 || rep.Answered != 0 || !math.IsNaN(rep.Accuracy()) {
		t.Errorf("all failing: %+v, accuracy %v", rep.Tally, rep.Accuracy())
	}
}

// gate is a model that serves concurrently: each call waits until its
// whole wave of n calls is in flight, so the test sees exactly how many
// run at once (without timing).
type gate struct {
	n, max   int
	mu       sync.Mutex
	cond     *sync.Cond
	started  int
	inflight int
	peak     int
	total    int
}

func newGate(n, max, total int) *gate {
	g := &gate{n: n, max: max, total: total}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gate) Load(context.Context) error { return nil }
func (g *gate) Close() error               { return nil }
func (g *gate) MaxConcurrency() int        { return g.max }

func (g *gate) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	g.mu.Lock()
	idx := g.started
	g.started++
	g.inflight++
	g.peak = max(g.peak, g.inflight)
	g.cond.Broadcast()
	wave := min(g.total, (idx/g.n+1)*g.n)
	deadline := time.Now().Add(10 * time.Second)
	for g.started < wave && time.Now().Before(deadline) {
		// Wake up now and then to notice the deadline.
		go func() { time.Sleep(10 * time.Millisecond); g.cond.Broadcast() }()
		g.cond.Wait()
	}
	g.inflight--
	g.mu.Unlock()
	return model.Response{Text: strings.TrimPrefix(req.Prompt, "echo ")}, nil
}

var _ concurrentModel = (*gate)(nil)

func echoCases(n int) []Case {
	var cases []Case
	for i := 0; i < n; i++ {
		cases = append(cases, Case{ID: strconv.Itoa(i), Input: fmt.Sprintf("echo %d", i), Expected: []string{strconv.Itoa(i)}, Scorer: "exact"})
	}
	return cases
}

func TestConcurrent(t *testing.T) {
	for _, tc := range []struct {
		concurrency, max, want int
	}{
		{4, 0, 4},
		{8, 3, 3}, // the model's own limit wins
		{1, 0, 1}, // --concurrency 1: one at a time
	} {
		cases := echoCases(24)
		g := newGate(tc.want, tc.max, len(cases))
		rep, err := Evaluate(context.Background(), g, cases, Config{Concurrency: tc.concurrency})
		if err != nil {
			t.Fatal(err)
		}
		if g.peak != tc.want || rep.Concurrency != tc.want {
			t.Errorf("concurrency %d, model max %d: %d in flight at most (report says %d), want %d", tc.concurrency, tc.max, g.peak, rep.Concurrency, tc.want)
		}
		wantMode := "concurrent"
		if tc.want == 1 {
			wantMode = "sequential"
		}
		if rep.Mode != wantMode {
			t.Errorf("mode %s, want %s", rep.Mode, wantMode)
		}
		if rep.Correct != 24 {
			t.Errorf("%d of 24 correct: answers went to the wrong cases", rep.Correct)
		}
		for i, r := range rep.Records {
			if r.ID != strconv.Itoa(i) || r.Output != strconv.Itoa(i) {
				t.Fatalf("record %d out of order: %+v", i, r)
			}
		}
	}
}

// countingBatcher records the size of every batch.
type countingBatcher struct {
	fake.Batcher
	sizes []int
}

func (b *countingBatcher) InferBatch(ctx context.Context, reqs []model.Request) ([]model.Response, error) {
	b.sizes = append(b.sizes, len(reqs))
	return b.Batcher.InferBatch(ctx, reqs)
}

func TestBatch(t *testing.T) {
	cases, _ := Arithmetic(ArithmeticOptions{N: 10, Seed: 2, Digits: 2, Ops: "+-*"})
	right := func(i int) bool { return i != 4 }
	b := &countingBatcher{Batcher: fake.Batcher{Model: scripted(cases, right)}}
	loaded(t, b)
	rep, err := Evaluate(context.Background(), b, cases, Config{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(b.sizes) != "[4 4 2]" || rep.Mode != "batch" || rep.Concurrency != 4 {
		t.Errorf("batches %v, mode %s", b.sizes, rep.Mode)
	}
	if rep.Correct != 9 || rep.Answered != 10 {
		t.Errorf("tally %+v, want 9/10", rep.Tally)
	}
	// The same answers one at a time.
	seq, err := Evaluate(context.Background(), b, cases, Config{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if seq.Mode != "sequential" || len(b.sizes) != 3 || seq.Correct != 9 {
		t.Errorf("concurrency 1: mode %s, %d batches, %d correct", seq.Mode, len(b.sizes), seq.Correct)
	}
	for i := range seq.Records {
		if seq.Records[i].Output != rep.Records[i].Output {
			t.Errorf("case %d: batch answer %q, sequential %q", i, rep.Records[i].Output, seq.Records[i].Output)
		}
	}
}

// batchFailing fails every batch holding a given prompt.
type batchFailing struct {
	fake.Batcher
	bad string
}

func (b batchFailing) InferBatch(ctx context.Context, reqs []model.Request) ([]model.Response, error) {
	for _, r := range reqs {
		if r.Prompt == b.bad {
			return nil, errors.New("out of memory")
		}
	}
	return b.Batcher.InferBatch(ctx, reqs)
}

func TestBatchErrors(t *testing.T) {
	cases := echoCases(6)
	m := fake.New(fake.NewClock(), 0, 0, 0)
	m.Answers = map[string]string{}
	for i, c := range cases {
		m.Answers[c.Input] = strconv.Itoa(i)
	}
	b := batchFailing{Batcher: fake.Batcher{Model: m}, bad: "echo 4"}
	loaded(t, b)
	rep, err := Evaluate(context.Background(), b, cases, Config{Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 3 || rep.Correct != 3 || rep.Answered != 3 {
		t.Errorf("tally %+v: want the failed batch's 3 cases as errors", rep.Tally)
	}
	if rep.Records[3].Error != "batch: out of memory" {
		t.Errorf("record 3 error %q", rep.Records[3].Error)
	}
}

// capture records the requests it gets and answers with Text.
type capture struct {
	mu   sync.Mutex
	reqs []model.Request
	text string
}

func (c *capture) Load(context.Context) error { return nil }
func (c *capture) Close() error               { return nil }
func (c *capture) Infer(_ context.Context, req model.Request) (model.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = append(c.reqs, req)
	return model.Response{Text: c.text}, nil
}

func TestPrompting(t *testing.T) {
	tmpl, err := ParseTemplate("Q: {{.Input}}\n{{if .Choices}}{{.ChoiceList}}\n{{end}}A:")
	if err != nil {
		t.Fatal(err)
	}
	cases := []Case{
		{ID: "plain", Input: "How many continents?", Expected: []string{"7"}},
		{ID: "chat", Messages: []model.Message{{Role: "system", Content: "Count."}, {Role: "user", Content: "How many?"}, {Role: "assistant", Content: "Of what?"}, {Role: "user", Content: "Continents."}}, Expected: []string{"7"}},
		{ID: "mc", Input: "Capital of France?", Choices: []string{"Lyon", "Paris"}, Expected: []string{"B"}},
	}
	m := &capture{text: "seven\nQ: next question"}
	rep, err := Evaluate(context.Background(), m, cases, Config{
		System: "You are terse.", MaxTokens: 5, Stop: []string{"\n"}, Seed: 9,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := m.reqs
	if r[0].Prompt != "You are terse.\n\nHow many continents?" || r[0].System != "You are terse." ||
		len(r[0].Messages) != 1 || r[0].Messages[0] != (model.Message{Role: "user", Content: "How many continents?"}) {
		t.Errorf("plain case request %+v", r[0])
	}
	if r[0].MaxTokens != 5 || r[0].Temperature != 0 || r[0].Seed != 9 || len(r[0].Stop) != 1 {
		t.Errorf("decoding settings %+v", r[0])
	}
	wantChat := "You are terse.\n\nCount.\n\nUser: How many?\nAssistant: Of what?\nUser: Continents.\nAssistant:"
	if r[1].Prompt != wantChat || len(r[1].Messages) != 4 || r[1].Messages[3].Content != "Continents." {
		t.Errorf("chat case prompt %q messages %+v", r[1].Prompt, r[1].Messages)
	}
	if r[2].Prompt != "You are terse.\n\nCapital of France?\nA. Lyon\nB. Paris\nAnswer:" {
		t.Errorf("multiple-choice prompt %q", r[2].Prompt)
	}
	// The answer is cut at the stop sequence before scoring.
	if rep.Records[0].Output != "seven" || !rep.Records[0].Correct() || rep.Correct != 2 {
		t.Errorf("records %+v", rep.Records)
	}
	if rep.Records[0].Prompt != r[0].Prompt || rep.Records[1].Input != "Continents." {
		t.Errorf("record prompt %q input %q", rep.Records[0].Prompt, rep.Records[1].Input)
	}

	// With a template and no system prompt.
	m = &capture{text: "B"}
	if _, err := Evaluate(context.Background(), m, cases, Config{Template: tmpl}); err != nil {
		t.Fatal(err)
	}
	if m.reqs[0].Prompt != "Q: How many continents?\nA:" || m.reqs[2].Prompt != "Q: Capital of France?\nA. Lyon\nB. Paris\nA:" {
		t.Errorf("templated prompts %q, %q", m.reqs[0].Prompt, m.reqs[2].Prompt)
	}
	if m.reqs[1].Messages[3].Content != "Q: Continents.\nA:" || m.reqs[0].MaxTokens != DefaultMaxTokens {
		t.Errorf("templated chat message %q, max tokens %d", m.reqs[1].Messages[3].Content, m.reqs[0].MaxTokens)
	}
}

func TestParseTemplateErrors(t *testing.T) {
	for text, want := range map[string]string{
		"{{.Input":          "prompt template: prompt:1: unclosed action",
		"{{.Question}}":     `can't evaluate field Question`,
		"{{index .Tags 5}}": "index out of range",
	} {
		_, err := ParseTemplate(text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTemplate(%q): %v, want %q", text, err, want)
		}
	}
}

// panicky panics on one prompt.
type panicky struct{ capture }

func (p *panicky) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	if req.Prompt == "echo 1" {
		panic("index out of range")
	}
	return model.Response{Text: strings.TrimPrefix(req.Prompt, "echo ")}, nil
}

func TestModelPanicIsACaseError(t *testing.T) {
	rep, err := Evaluate(context.Background(), &panicky{}, echoCases(3), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 1 || rep.Correct != 2 || rep.Records[1].Error != "model panicked: index out of range" {
		t.Errorf("tally %+v, record %+v", rep.Tally, rep.Records[1])
	}
}

func TestEvaluateRejectsBadCases(t *testing.T) {
	for _, tc := range []struct {
		c    Case
		want string
	}{
		{Case{ID: "x", Input: "a", Expected: []string{"b"}, Scorer: "fuzzy"}, `case x: unknown scorer "fuzzy"`},
		{Case{ID: "y", Input: "a", Expected: []string{"("}, Scorer: "regex"}, `case y: regex scorer: invalid regular expression`},
	} {
		_, err := Evaluate(context.Background(), &capture{}, []Case{tc.c}, Config{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
}

// cancelAfter cancels the evaluation on its n-th call, as Ctrl-C would.
type cancelAfter struct {
	capture
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Infer(ctx context.Context, req model.Request) (model.Response, error) {
	c.n--
	if c.n == 0 {
		c.cancel()
		return model.Response{}, ctx.Err()
	}
	return c.capture.Infer(ctx, req)
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var records int
	m := &cancelAfter{n: 3, cancel: cancel}
	_, err := Evaluate(ctx, m, echoCases(10), Config{OnCase: func(Record) { records++ }})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if records != 2 || len(m.reqs) != 2 {
		t.Errorf("%d records and %d requests after cancelling on the 3rd call, want 2", records, len(m.reqs))
	}
}

func TestPlan(t *testing.T) {
	m := fake.New(fake.NewClock(), 0, 0, 0)
	for _, tc := range []struct {
		m    model.Model
		c    int
		mode string
		n    int
	}{
		{m, 8, "sequential", 1},
		{fake.Batcher{Model: m}, 8, "batch", 8},
		{fake.Batcher{Model: m}, 0, "batch", DefaultConcurrency},
		{fake.Batcher{Model: m}, 1, "sequential", 1},
		{newGate(1, 0, 1), 16, "concurrent", 16},
		{newGate(1, 2, 1), 16, "concurrent", 2},
		{notReallyBatching{fake.Batcher{Model: m}}, 8, "sequential", 1},
	} {
		mode, n := Plan(tc.m, tc.c)
		if mode != tc.mode || n != tc.n {
			t.Errorf("Plan(%T, %d) = %s %d, want %s %d", tc.m, tc.c, mode, n, tc.mode, tc.n)
		}
	}
}

// notReallyBatching says its InferBatch answers one request after another.
type notReallyBatching struct{ fake.Batcher }

func (notReallyBatching) TrueBatching() bool { return false }
