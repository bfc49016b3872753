// Package eval evaluates the accuracy of a model on a dataset of questions
// with known answers: it reads datasets (JSONL files and built-in sets),
// prompts the model deterministically, scores each answer with a
// registered Scorer, and reports the ratio of correct answers with a
// Wilson confidence interval, per-tag accuracy and one Record per case.
//
// A case that cannot be answered (the model returns an error) is an error,
// counted apart from wrong answers: the accuracy is the ratio of correct
// answers among the cases the model answered, and the number of errors is
// reported beside it, so that a flaky server is not mistaken for a wrong
// model (nor the reverse).
package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/stats"
)

// Defaults of a Config.
const (
	DefaultMaxTokens   = 32
	DefaultConcurrency = 8
)

// Config is how an evaluation prompts the model and runs the cases.
type Config struct {
	// Template renders each question; nil sends the question as it is
	// (followed by its choices, for a multiple-choice case).
	Template *Template
	// System is the system prompt; empty means none.
	System string
	// MaxTokens bounds each answer; 0 means DefaultMaxTokens.
	MaxTokens int
	// Stop sequences end an answer. They are sent to the model, and the
	// answer is also cut at the first of them before scoring, for models
	// that ignore them.
	Stop []string
	// Seed is sent with every request (decoding is greedy: temperature 0).
	Seed int64
	// Concurrency is how many cases are in flight at once: requests at a
	// time for a model that serves concurrently (model.ConcurrentInferer,
	// capped by its MaxConcurrency), the batch size for a model that
	// batches (model.BatchInferer). Other models answer one case at a
	// time. 0 means DefaultConcurrency; 1 makes every model sequential.
	Concurrency int
	// Scorers resolves scorer names; nil means the default registry.
	Scorers *Registry
	// DefaultScorer scores cases that name none; empty means contains
	// (choice for cases with choices).
	DefaultScorer string
	// Now tells the time for latencies; nil means time.Now.
	Now func() time.Time
	// OnCase, when set, receives each case's record as soon as it is
	// scored (never from two goroutines at once).
	OnCase func(Record)
	// Progress, when set, is told how many cases are done and the
	// accuracy so far (NaN before the first answer).
	Progress func(done, total int, accuracy float64)
}

func (cfg *Config) maxTokens() int {
	if cfg.MaxTokens > 0 {
		return cfg.MaxTokens
	}
	return DefaultMaxTokens
}

func (cfg *Config) now() time.Time {
	if cfg.Now != nil {
		return cfg.Now()
	}
	return time.Now()
}

// A Record is the outcome of one case.
type Record struct {
	Model    string   `json:"model,omitempty"`
	Dataset  string   `json:"dataset,omitempty"`
	ID       string   `json:"id"`
	Input    string   `json:"input"`
	Prompt   string   `json:"prompt,omitempty"` // the text sent, when it is not the input itself
	Output   string   `json:"output"`
	Expected []string `json:"expected"`
	Scorer   string   `json:"scorer"`
	// Score is 1 for a correct answer, 0 for a wrong one, and null (nil)
	// when the case errored.
	Score     *float64 `json:"score"`
	LatencyMS float64  `json:"latency_ms"`
	Error     string   `json:"error,omitempty"`
	Tags      []string `json:"tags,omitempty"`
}

// Correct reports whether the case was answered correctly.
func (r *Record) Correct() bool { return r.Score != nil && *r.Score == 1 }

// A Tally counts the outcomes of a set of cases.
type Tally struct {
	Total    int `json:"total"`   // cases
	Answered int `json:"n"`       // cases the model answered (Total - Errors)
	Correct  int `json:"correct"` // answered correctly
	Errors   int `json:"errors"`  // cases that could not be answered
}

// Wrong returns the number of answers that were wrong.
func (t Tally) Wrong() int { return t.Answered - t.Correct }

// Accuracy returns the ratio of correct answers among answered cases, NaN
// when none was answered.
func (t Tally) Accuracy() float64 {
	if t.Answered == 0 {
		return math.NaN()
	}
	return float64(t.Correct) / float64(t.Answered)
}

// Interval returns the Wilson score interval of the accuracy at the given
// confidence (0.95 for 95%); NaN when none was answered.
func (t Tally) Interval(confidence float64) (lo, hi float64) {
	return stats.Wilson(t.Correct, t.Answered, confidence)
}

func (t *Tally) add(r *Record) {
	t.Total++
	switch {
	case r.Score == nil:
		t.Errors++
	case *r.Score == 1:
		t.Answered++
		t.Correct++
	default:
		t.Answered++
	}
}

// A Report is the outcome of an evaluation.
type Report struct {
	Tally
	// Records holds one record per case, in the order of the cases.
	Records []Record
	// Tags holds a tally per tag.
	Tags map[string]Tally
	// Scorers counts the cases of each scorer.
	Scorers map[string]int
	// Mode says how cases ran: "sequential", "concurrent" or "batch";
	// Concurrency how many were in flight at once.
	Mode        string
	Concurrency int
	// FirstError is the first case error, in case order.
	FirstError string
}

// Outcomes returns the score of each answered case (1 or 0), in order.
func (r *Report) Outcomes() []float64 {
	out := make([]float64, 0, r.Answered)
	for i := range r.Records {
		if s := r.Records[i].Score; s != nil {
			out = append(out, *s)
		}
	}
	return out
}

// TagNames returns the tags, sorted.
func (r *Report) TagNames() []string { return sortedKeys(r.Tags) }

type concurrentModel interface{ MaxConcurrency() int }

type batchChecker interface{ TrueBatching() bool }

// Plan returns how Evaluate runs cases against m with the given
// concurrency: "concurrent" (that many requests in flight, at most the
// model's MaxConcurrency) for a model that serves concurrently, "batch"
// (batches of that size) for one that batches, else "sequential".
func Plan(m model.Model, concurrency int) (mode string, n int) {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	if concurrency == 1 {
		return "sequential", 1
	}
	if c, ok := m.(concurrentModel); ok {
		if max := c.MaxConcurrency(); max > 0 && max < concurrency {
			concurrency = max
		}
		return "concurrent", concurrency
	}
	if _, ok := m.(model.BatchInferer); ok {
		if bc, ok := m.(batchChecker); !ok || bc.TrueBatching() {
			return "batch", concurrency
		}
	}
	return "sequential", 1
}

// Evaluate asks m every case and scores the answers. A case the model
// cannot answer is recorded as an error and the evaluation goes on; an
// error is returned only for a case whose scorer is unknown or rejects it,
// or when ctx is done.
func Evaluate(ctx context.Context, m model.Model, cases []Case, cfg Config) (*Report, error) {
	reg := cfg.Scorers
	if reg == nil {
		reg = Scorers
	}
	scorers := make([]Scorer, len(cases))
	specs := make([]string, len(cases))
	for i := range cases {
		c := &cases[i]
		specs[i] = c.ScorerSpec(cfg.DefaultScorer)
		s, err := reg.New(specs[i])
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", c.ID, err)
		}
		if ch, ok := s.(Checker); ok {
			if err := ch.Check(c); err != nil {
				return nil, fmt.Errorf("case %s: %s scorer: %w", c.ID, specs[i], err)
			}
		}
		scorers[i] = s
	}
	mode, n := Plan(m, cfg.Concurrency)
	rep := &Report{
		Records:     make([]Record, len(cases)),
		Tags:        map[string]Tally{},
		Scorers:     map[string]int{},
		Mode:        mode,
		Concurrency: n,
	}
	var (
		mu   sync.Mutex
		done int
		run  Tally
	)
	finish := func(i int, rec Record) {
		if rec.Error != "" && ctx.Err() != nil {
			return // interrupted, not an error of the model
		}
		rec.Dataset = cases[i].Dataset
		rec.ID = cases[i].ID
		rec.Input = cases[i].Question()
		rec.Expected = cases[i].Expected
		rec.Scorer = specs[i]
		rec.Tags = cases[i].Tags
		if rec.Prompt == rec.Input {
			rec.Prompt = ""
		}
		if rec.Error == "" {
			rec.Output = cutStop(rec.Output, cfg.Stop)
			v := 0.0
			if scoreSafely(scorers[i], &cases[i], rec.Output, &rec) {
				v = 1
			}
			if rec.Error == "" {
				rec.Score = &v
			}
		}
		mu.Lock()
		defer mu.Unlock()
		rep.Records[i] = rec
		done++
		run.add(&rec)
		if cfg.OnCase != nil {
			cfg.OnCase(rec)
		}
		if cfg.Progress != nil {
			cfg.Progress(done, len(cases), run.Accuracy())
		}
	}
	var err error
	switch mode {
	case "concurrent":
		err = runConcurrent(ctx, m, cases, &cfg, n, finish)
	case "batch":
		err = runBatches(ctx, m.(model.BatchInferer), cases, &cfg, n, finish)
	default:
		for i := range cases {
			if err = ctx.Err(); err != nil {
				break
			}
			finish(i, askOne(ctx, m, &cases[i], &cfg))
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	for i := range rep.Records {
		r := &rep.Records[i]
		rep.Tally.add(r)
		rep.Scorers[r.Scorer]++
		for _, t := range r.Tags {
			tt := rep.Tags[t]
			tt.add(r)
			rep.Tags[t] = tt
		}
		if r.Error != "" && rep.FirstError == "" {
			rep.FirstError = fmt.Sprintf("case %s: %s", r.ID, r.Error)
		}
	}
	return rep, nil
}

// scoreSafely scores an answer; a scorer that panics makes the case an
// error rather than ending the run.
func scoreSafely(s Scorer, c *Case, answer string, rec *Record) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			rec.Error = fmt.Sprintf("scorer panicked: %v", p)
			ok = false
		}
	}()
	return s.Score(c, answer)
}

// askOne asks the model one case.
func askOne(ctx context.Context, m model.Model, c *Case, cfg *Config) (rec Record) {
	req, err := cfg.Request(c)
	if err != nil {
		return Record{Error: err.Error()}
	}
	rec.Prompt = req.Prompt
	start := cfg.now()
	defer func() {
		if p := recover(); p != nil {
			rec.Error = fmt.Sprintf("model panicked: %v", p)
		}
		rec.LatencyMS = float64(cfg.now().Sub(start)) / float64(time.Millisecond)
	}()
	resp, err := m.Infer(ctx, req)
	if err != nil {
		rec.Error = errText(err)
		return rec
	}
	rec.Output = resp.Text
	return rec
}

func errText(err error) string {
	s := err.Error()
	if s == "" {
		return "error without a message"
	}
	return s
}

func runConcurrent(ctx context.Context, m model.Model, cases []Case, cfg *Config, n int, finish func(int, Record)) error {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				finish(i, askOne(ctx, m, &cases[i], cfg))
			}
		}()
	}
	var err error
	for i := range cases {
		select {
		case jobs <- i:
			continue
		case <-ctx.Done():
			err = ctx.Err()
		}
		break
	}
	close(jobs)
	wg.Wait()
	return err
}

func runBatches(ctx context.Context, m model.BatchInferer, cases []Case, cfg *Config, n int, finish func(int, Record)) error {
	for from := 0; from < len(cases); from += n {
		if err := ctx.Err(); err != nil {
			return err
		}
		to := min(from+n, len(cases))
		var (
			reqs []model.Request
			idx  []int
		)
		for i := from; i < to; i++ {
			req, err := cfg.Request(&cases[i])
			if err != nil {
				finish(i, Record{Error: err.Error()})
				continue
			}
			reqs = append(reqs, req)
			idx = append(idx, i)
		}
		if len(reqs) == 0 {
			continue
		}
		resps, lat, err := inferBatch(ctx, m, reqs, cfg)
		if err == nil && len(resps) != len(reqs) {
			err = fmt.Errorf("the model returned %d answers to a batch of %d", len(resps), len(reqs))
		}
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		for k, i := range idx {
			rec := Record{Prompt: reqs[k].Prompt, LatencyMS: lat}
			if err != nil {
				rec.Error = "batch: " + errText(err)
			} else {
				rec.Output = resps[k].Text
			}
			finish(i, rec)
		}
	}
	return nil
}

func inferBatch(ctx context.Context, m model.BatchInferer, reqs []model.Request, cfg *Config) (resps []model.Response, latMS float64, err error) {
	start := cfg.now()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("model panicked: %v", p)
		}
		latMS = float64(cfg.now().Sub(start)) / float64(time.Millisecond)
	}()
	resps, err = m.InferBatch(ctx, reqs)
	return resps, 0, err
}

// cutStop cuts s at the first of the stop sequences.
func cutStop(s string, stop []string) string {
	cut := len(s)
	for _, st := range stop {
		if st == "" {
			continue
		}
		if i := strings.Index(s, st); i >= 0 && i < cut {
			cut = i
		}
	}
	return s[:cut]
}

// ErrNoAnswers means that every case of an evaluation errored.
var ErrNoAnswers = errors.New("no case was answered")

// Summary returns a one-line account of the report, such as
// "41/50 correct (0.82, 95% CI [0.69, 0.90]); 2 errors".
func (r *Report) Summary() string {
	lo, hi := r.Interval(0.95)
	s := fmt.Sprintf("%d/%d correct (%.3g, 95%% CI [%.3g, %.3g])", r.Correct, r.Answered, r.Accuracy(), lo, hi)
	if r.Errors > 0 {
		s += fmt.Sprintf("; %d of %d cases errored", r.Errors, r.Total)
	}
	return s
}
