package discover

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the model.yaml and benchmark file
// readers: they must never panic, and every problem must be one line
// that starts with a file of the tree.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(alphaModel), []byte(alphaSpeed))
	f.Add([]byte("driver: fake\n"), []byte(alphaAccuracy))
	f.Add([]byte("driver: fake\noptions: {a: ${X}}\n"), []byte(alphaMemory))
	f.Add([]byte("driver: &a fake\n"), []byte("tests:\n  - name: t\n    check: x.y >= 1e3 ms\n"))
	f.Add([]byte("{{{"), []byte("- - -\n"))
	f.Add([]byte("driver: fake\ndefaults: {params: {max_tokens: ${N:-3}}}\n"), []byte("benchmark: batch_processing_${N:-2}\n"))
	drivers := testDrivers(f)
	f.Fuzz(func(t *testing.T, modelYAML, benchYAML []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "m/benchmarks/unit")
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "m/model.yaml"), modelYAML, 0o644)
		os.WriteFile(filepath.Join(p, "x.yaml"), benchYAML, 0o644)
		tr, err := Load(dir, Options{Models: drivers, LookupEnv: env(map[string]string{"X": "1"})})
		if err == nil {
			if tr == nil || len(tr.Models) != 1 {
				t.Fatalf("no error and no model")
			}
			return
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error %T %v", err, err)
		}
		for _, e := range list {
			if !strings.HasPrefix(e.Pos.File, dir) {
				t.Errorf("error outside the tree: %v", e)
			}
			if strings.Contains(e.Error(), "\n") {
				t.Errorf("multi-line error: %q", e.Error())
			}
		}
	})
}
