package bench

import (
	"context"
	"fmt"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
)

// InferenceSpeed measures generated tokens per second, counting the tokens
// the model reports (never assuming one token per call). Each iteration is
// one request; its sample is output tokens divided by its end-to-end time.
// Prefill and decode rates are reported apart in metadata.
type InferenceSpeed struct {
	Prompt    string
	MaxTokens int
}

// NewInferenceSpeed returns the benchmark with the guide's prompt.
func NewInferenceSpeed() *InferenceSpeed {
	return &InferenceSpeed{Prompt: "test input for speed measurement", MaxTokens: 64}
}

func (*InferenceSpeed) Name() string     { return "inference_speed" }
func (*InferenceSpeed) Category() string { return result.CategoryPerformance }
func (*InferenceSpeed) Unit() string     { return "tokens/sec" }

func (b *InferenceSpeed) Run(ctx context.Context, env *Env) (result.Result, error) {
	req := model.Request{Prompt: b.Prompt, MaxTokens: b.MaxTokens}
	var decode, prefill, ttft []float64
	promptTokens, outputTokens := 0, 0
	measuring := false
	warmup := env.warmup(2)
	n := 0
	samples, err := repeat(ctx, env, b, warmup, env.iterations(10), func(ctx context.Context) (float64, error) {
		n++
		measuring = n > warmup
		start := env.now()
		resp, err := env.Model.Infer(ctx, req)
		elapsed := env.since(start)
		if err != nil {
			return 0, err
		}
		if resp.OutputTokens <= 0 {
			return 0, fmt.Errorf("model generated no tokens (output_tokens = %d)", resp.OutputTokens)
		}
		if elapsed <= 0 {
			return 0, fmt.Errorf("request took no measurable time")
		}
		if measuring {
			promptTokens += resp.PromptTokens
			outputTokens += resp.OutputTokens
			if r, ok := resp.DecodeRate(); ok {
				decode = append(decode, r)
			}
			if r, ok := resp.PrefillRate(); ok {
				prefill = append(prefill, r)
			}
			if resp.FirstToken > 0 {
				ttft = append(ttft, resp.FirstToken.Seconds()*1000)
			}
		}
		return float64(resp.OutputTokens) / elapsed.Seconds(), nil
	})
	if err != nil {
		return result.Result{}, err
	}
	return summarize(b, samples, warmup, map[string]any{
		"prompt":                    b.Prompt,
		"max_tokens":                b.MaxTokens,
		"prompt_tokens_total":       promptTokens,
		"output_tokens_total":       outputTokens,
		"decode_tokens_per_second":  median(decode),
		"prefill_tokens_per_second": median(prefill),
		"ttft_ms_median":            median(ttft),
		"definition":                "per request: output_tokens / end-to-end seconds; decode: (output_tokens-1)/(e2e-ttft); prefill: prompt_tokens/ttft",
		"notes":                     modelNotes(env.Model),
	}), nil
}
