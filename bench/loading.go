package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/result"
)

// LoadingTime measures seconds to load the model from disk. Each iteration
// opens a fresh instance and times its Load. When the model can evict its
// files from the page cache (model.CacheDropper), it does so first, so the
// load is cold; the metadata says whether that happened.
type LoadingTime struct{}

// NewLoadingTime returns the benchmark.
func NewLoadingTime() *LoadingTime { return &LoadingTime{} }

func (*LoadingTime) Name() string     { return "loading_time" }
func (*LoadingTime) Category() string { return result.CategoryPerformance }
func (*LoadingTime) Unit() string     { return "seconds" }

func (b *LoadingTime) Run(ctx context.Context, env *Env) (result.Result, error) {
	if env.Open == nil {
		return result.Result{}, errors.New("this model cannot be reopened, so its loading time cannot be measured")
	}
	cold, warmCache := 0, 0
	var dropErr error
	path := ""
	samples, err := repeat(ctx, env, b, env.warmup(0), env.iterations(5), func(ctx context.Context) (float64, error) {
		m, err := env.Open(ctx)
		if err != nil {
			return 0, fmt.Errorf("open: %w", err)
		}
		defer m.Close()
		if d, ok := m.(model.Describer); ok {
			path = d.Info().Path
		}
		if cd, ok := m.(model.CacheDropper); ok {
			if err := cd.DropCache(); err != nil {
				dropErr = err
				warmCache++
			} else {
				cold++
			}
		} else {
			warmCache++
		}
		start := env.now()
		if err := m.Load(ctx); err != nil {
			return 0, fmt.Errorf("load: %w", err)
		}
		return env.since(start).Seconds(), nil
	})
	if err != nil {
		return result.Result{}, err
	}
	meta := map[string]any{
		"model_path":      path,
		"cold_loads":      cold,
		"page_cache_warm": warmCache,
		"definition":      "seconds from Load call to return, on a fresh instance",
	}
	if dropErr != nil {
		meta["page_cache_note"] = "could not evict weights from the page cache: " + dropErr.Error()
	}
	return summarize(b, samples, env.warmup(0), meta), nil
}
