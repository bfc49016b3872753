package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadInput feeds arbitrary bytes to the results-file reader under each
// extension: it must return runs or an error, never panic, and every run it
// returns must have an id and results.
func FuzzReadInput(f *testing.F) {
	f.Add([]byte(guideCSV), ".csv")
	f.Add([]byte("model_name,benchmark_name,value,unit,category,timestamp\nm,b,,ms,x,2026-01-01T00:00:00Z\n"), ".csv")
	f.Add([]byte(`{"schema_version":1,"run_id":"x","started_at":"2026-01-01T00:00:00Z","environment":{},"results":[{"timestamp":"2026-01-01T00:00:00Z","model_name":"m","benchmark_name":"b","value":1,"unit":"ms","category":"c","metadata":{"samples":[1,2]}}]}`), ".json")
	f.Add([]byte(`[{"model_name":"m","benchmark_name":"b","value":null,"unit":"ms","category":"c","timestamp":"2026-01-01T00:00:00","metadata":{}}]`), ".json")
	f.Add([]byte("goos: linux\npkg: p\nBenchmarkX-2 10 100 ns/op 3 B/op\nBenchmarkX-2 10 110 ns/op 3 B/op\n"), ".txt")
	f.Add([]byte("Benchmarkspeed/model=m-2 1 5 tokens/sec\nUnit tokens/sec better=higher\n"), ".txt")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, ext string) {
		switch ext {
		case ".csv", ".json", ".txt", "":
		default:
			ext = ".txt"
		}
		p := filepath.Join(dir, "in"+ext)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		runs, err := readInput(p)
		if err != nil {
			return
		}
		for _, r := range runs {
			if r.run.RunID == "" || len(r.run.Results) == 0 || len(r.origin) != len(r.run.Results) {
				t.Fatalf("run %+v with %d origins", r.run, len(r.origin))
			}
		}
	})
}
