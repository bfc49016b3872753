package bench

import (
	"context"
	"fmt"
	"strconv"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
)

// BatchProcessing measures requests per second when Size requests are
// processed together. Models with model.BatchInferer answer them in one
// call (true batching); others answer them one after another, and the
// metadata says which happened. Each iteration is one batch; its sample is
// Size divided by the batch's time.
type BatchProcessing struct {
	Size      int
	MaxTokens int
}

// NewBatchProcessing returns the benchmark batch_processing_<size>.
func NewBatchProcessing(size int) *BatchProcessing {
	return &BatchProcessing{Size: size, MaxTokens: 16}
}

func (b *BatchProcessing) Name() string   { return "batch_processing_" + strconv.Itoa(b.Size) }
func (*BatchProcessing) Category() string { return result.CategoryPerformance }
func (*BatchProcessing) Unit() string     { return "requests/sec" }

func (b *BatchProcessing) Run(ctx context.Context, env *Env) (result.Result, error) {
	if b.Size <= 0 {
		return result.Result{}, fmt.Errorf("batch size %d: must be positive", b.Size)
	}
	reqs := make([]model.Request, b.Size)
	for i := range reqs {
		reqs[i] = model.Request{Prompt: fmt.Sprintf("test input %d", i), MaxTokens: b.MaxTokens}
	}
	batcher, batched := env.Model.(model.BatchInferer)
	if bc, ok := env.Model.(model.BatchChecker); ok && !bc.TrueBatching() {
		batched = false // it would answer one by one anyway: say so
	}
	mode := "sequential"
	if batched {
		mode = "batched"
	}
	var tokenRates []float64
	warmup := env.warmup(1)
	calls := 0
	samples, err := repeat(ctx, env, b, warmup, env.iterations(10), func(ctx context.Context) (float64, error) {
		calls++
		start := env.now()
		var resps []model.Response
		if batched {
			var err error
			resps, err = batcher.InferBatch(ctx, reqs)
			if err != nil {
				return 0, err
			}
			if len(resps) != len(reqs) {
				return 0, fmt.Errorf("batch of %d requests got %d responses", len(reqs), len(resps))
			}
		} else {
			resps = make([]model.Response, 0, len(reqs))
			for _, r := range reqs {
				resp, err := env.Model.Infer(ctx, r)
				if err != nil {
					return 0, err
				}
				resps = append(resps, resp)
			}
		}
		elapsed := env.since(start)
		if elapsed <= 0 {
			return 0, fmt.Errorf("batch took no measurable time")
		}
		if calls > warmup {
			tokens := 0
			for _, r := range resps {
				tokens += r.OutputTokens
			}
			tokenRates = append(tokenRates, float64(tokens)/elapsed.Seconds())
		}
		return float64(len(reqs)) / elapsed.Seconds(), nil
	})
	if err != nil {
		return result.Result{}, err
	}
	return summarize(b, samples, warmup, map[string]any{
		"batch_size":              b.Size,
		"mode":                    mode,
		"max_tokens":              b.MaxTokens,
		"total_requests":          b.Size * len(samples),
		"output_tokens_per_sec":   median(tokenRates),
		"definition":              "per iteration: batch_size / seconds for the whole batch",
		"true_batching_supported": batched,
	}), nil
}
