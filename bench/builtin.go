package bench

import "github.com/inference-pio/piobench/sysmon"

// Suites of the standard benchmarks, as in the guide's
// run_standardized_benchmarks(benchmark_suite=...).
var (
	SuitePerformance = []string{"inference_speed", "batch_processing_1", "batch_processing_4", "batch_processing_16", "loading_time", "comprehensive_benchmark", "scalability"}
	SuiteMemory      = []string{"memory_usage"}
	SuiteAccuracy    = []string{"accuracy"}
	SuiteFull        = concat(SuitePerformance, SuiteMemory, SuiteAccuracy)
)

// RegisterBuiltins adds the standard benchmarks and suites to r.
func RegisterBuiltins(r *Registry) error {
	for _, f := range []Factory{
		func() Benchmark { return NewInferenceSpeed() },
		func() Benchmark { return NewMemoryUsage() },
		func() Benchmark { return NewLoadingTime() },
		func() Benchmark { return NewAccuracy() },
		func() Benchmark { return NewComprehensive() },
		func() Benchmark { return NewScalability() }, // runs only on models that serve concurrently
		func() Benchmark { return NewGPUMemory() },   // in the suites only where a GPU is present
	} {
		if err := r.Register(f); err != nil {
			return err
		}
	}
	if err := r.RegisterFamily("batch_processing_", func(n int) Benchmark { return NewBatchProcessing(n) }); err != nil {
		return err
	}
	memory, full := SuiteMemory, SuiteFull
	if sysmon.GPUPresent() {
		memory = concat(memory, []string{"gpu_memory"})
		full = concat(full, []string{"gpu_memory"})
	}
	for _, s := range []struct {
		name string
		list []string
	}{{"performance", SuitePerformance}, {"memory", memory}, {"accuracy", SuiteAccuracy}, {"full", full}} {
		if err := r.RegisterSuite(s.name, s.list); err != nil {
			return err
		}
	}
	return nil
}

func init() {
	if err := RegisterBuiltins(Default); err != nil {
		panic(err)
	}
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
