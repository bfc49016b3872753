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
	var warm []float64 // warm reloads (model.Reloader), warmup included
	var reloadErr error
	spawned := false
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
		elapsed := env.since(start).Seconds()
		if _, ok := m.(model.ProcessOwner); ok {
			spawned = true
		}
		if r, ok := m.(model.Reloader); ok {
			// A warm reload in the same process, timed apart.
			t := env.now()
			if err := r.Reload(ctx); err != nil {
				reloadErr = err
			} else {
				warm = append(warm, env.since(t).Seconds())
			}
		}
		return elapsed, nil
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
	if spawned {
		meta["definition"] = "seconds from Load call to return, on a fresh instance: spawn the model's process, handshake and load (cold start)"
	}
	if len(warm) > 0 {
		meta["warm_reload_seconds"] = warm
		meta["warm_reload_seconds_median"] = median(warm)
		meta["warm_reload_definition"] = "unload then load again in the running process (no new process, imports done)"
	}
	if reloadErr != nil {
		meta["warm_reload_error"] = reloadErr.Error()
	}
	if dropErr != nil {
		meta["page_cache_note"] = "could not evict weights from the page cache: " + dropErr.Error()
	}
	return summarize(b, samples, env.warmup(0), meta), nil
}
