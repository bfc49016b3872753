package result

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleRun() *Run {
	ts := time.Date(2026, 11, 27, 11, 0, 23, 123456000, time.UTC)
	return &Run{
		SchemaVersion: SchemaVersion,
		RunID:         "1f3a9c2e",
		StartedAt:     Time(ts),
		Environment:   Environment{OS: "linux", Arch: "amd64", CPUModel: "Test CPU", CPUCores: 2, GoVersion: "go1.26", PiobenchVersion: "devel", GPUs: []GPU{}},
		Results: []Result{
			{Timestamp: ts, ModelName: "ref:15m", BenchmarkName: "inference_speed", Value: 321.5, Unit: "tokens/sec", Category: "performance",
				Metadata: map[string]any{"n": 10, "samples": []float64{1.5, 2.25}, "statistic": "median", "nested": map[string]any{"a": 1.5}}},
			Fail("ref:15m", "loading_time", "seconds", "performance", errors.New("disk on fire"), nil),
		},
	}
}

func TestJSONRoundTrip(t *testing.T) {
	run := sampleRun()
	var first bytes.Buffer
	if err := EncodeJSON(&first, run); err != nil {
		t.Fatal(err)
	}
	back, err := DecodeJSON(bytes.NewReader(first.Bytes()), "run.json")
	if err != nil {
		t.Fatal(err)
	}
	var second bytes.Buffer
	if err := EncodeJSON(&second, back); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Errorf("round trip changed the file:\n%s\n---\n%s", first.String(), second.String())
	}
	if !back.Results[1].Failed() || !math.IsNaN(back.Results[1].Value) || back.Results[1].Err() != "disk on fire" {
		t.Errorf("failed result read back as %+v", back.Results[1])
	}
	if back.Results[0].Value != 321.5 || back.RunID != "1f3a9c2e" || time.Time(back.StartedAt) != time.Time(run.StartedAt) {
		t.Errorf("read back %+v", back)
	}
}

func TestJSONKeysAreTheGuides(t *testing.T) {
	var buf bytes.Buffer
	if err := EncodeJSON(&buf, sampleRun()); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Results []map[string]json.RawMessage `json:"results"`
	}
	var top map[string]json.RawMessage
	json.Unmarshal(buf.Bytes(), &top)
	json.Unmarshal(buf.Bytes(), &raw)
	for _, k := range []string{"schema_version", "run_id", "started_at", "environment", "results"} {
		if _, ok := top[k]; !ok {
			t.Errorf("run has no %q", k)
		}
	}
	want := []string{"category", "benchmark_name", "metadata", "model_name", "timestamp", "unit", "value"}
	for _, r := range raw.Results {
		if len(r) != len(want) {
			t.Errorf("result keys %v, want exactly %v", keys(r), want)
		}
		for _, k := range want {
			if _, ok := r[k]; !ok {
				t.Errorf("result has no %q", k)
			}
		}
	}
	if string(raw.Results[1]["value"]) != "null" {
		t.Errorf("failed result value %s, want null", raw.Results[1]["value"])
	}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestCSVRoundTrip(t *testing.T) {
	run := sampleRun()
	var buf bytes.Buffer
	if err := EncodeCSV(&buf, run); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if lines[0] != "model_name,benchmark_name,value,unit,category,timestamp" {
		t.Errorf("header %q", lines[0])
	}
	if lines[1] != "ref:15m,inference_speed,321.5,tokens/sec,performance,2026-11-27T11:00:23.123456Z" {
		t.Errorf("row %q", lines[1])
	}
	back, err := DecodeCSV(bytes.NewReader(buf.Bytes()), "run.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != 2 {
		t.Fatalf("%d results", len(back.Results))
	}
	for i, r := range back.Results {
		w := run.Results[i]
		if r.ModelName != w.ModelName || r.BenchmarkName != w.BenchmarkName || r.Unit != w.Unit || r.Category != w.Category || r.Failed() != w.Failed() {
			t.Errorf("row %d: %+v, want %+v", i, r, w)
		}
		if !w.Failed() && r.Value != w.Value {
			t.Errorf("row %d value %v, want %v", i, r.Value, w.Value)
		}
	}
}

func TestReadsTheGuidesFormats(t *testing.T) {
	csvText := "model_name,benchmark_name,value,unit,category,timestamp\nqwen3_vl_2b,inference_speed,150.5,tokens/sec,performance,2023-10-15T10:30:45.123456\n"
	run, err := DecodeCSV(strings.NewReader(csvText), "spec.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2023, 10, 15, 10, 30, 45, 123456000, time.UTC)
	if r := run.Results[0]; r.Value != 150.5 || !r.Timestamp.Equal(want) {
		t.Errorf("got %+v", r)
	}
	jsonText := `{"timestamp": "2023-10-15T10:30:45.123456", "model_name": "qwen3_vl_2b", "benchmark_name": "inference_speed",
  "value": 150.5, "unit": "tokens/sec", "category": "performance", "metadata": {"iterations": 100, "total_time": 0.664, "warmup_iterations": 5}}`
	run, err = DecodeJSON(strings.NewReader(jsonText), "spec.json")
	if err != nil {
		t.Fatal(err)
	}
	if r := run.Results[0]; r.Value != 150.5 || r.Metadata["iterations"] != 100.0 || !r.Timestamp.Equal(want) {
		t.Errorf("got %+v", r)
	}
}

func TestBadFiles(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"empty.json", "", "empty.json: empty file"},
		{"garbage.json", "hello", "garbage.json:1: not JSON"},
		{"broken.json", "{\n\"results\": [\n{,}]}", "broken.json:3: "},
		{"future.json", `{"schema_version": 99, "results": []}`, "newer than this piobench reads"},
		{"unknown.json", `{"schema_version": 1, "results": [], "bogus": 1}`, "unknown field"},
		{"empty.csv", "", "empty.csv: empty file"},
		{"header.csv", "a,b,c,d,e,f\n", "header.csv:1: header is"},
		{"value.csv", "model_name,benchmark_name,value,unit,category,timestamp\nm,b,fast,u,c,2023-10-15T10:30:45Z\n", "value.csv:2: value \"fast\""},
		{"time.csv", "model_name,benchmark_name,value,unit,category,timestamp\nm,b,1,u,c,yesterday\n", "time.csv:2: bad timestamp"},
		{"fields.csv", "model_name,benchmark_name,value,unit,category,timestamp\nm,b,1\n", "fields.csv:2: wrong number of fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name)
			os.WriteFile(path, []byte(tc.body), 0o644)
			_, err := ReadFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	run := sampleRun()
	jp, cp, err := WriteFiles(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(jp) != "20261127T110023Z_1f3a9c2e.json" || filepath.Base(cp) != "20261127T110023Z_1f3a9c2e.csv" {
		t.Errorf("names %s %s", jp, cp)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want 2 (no temp files left)", len(entries))
	}
	for _, p := range []string{jp, cp} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, %v; want 0644 like any file a user writes", p, st.Mode().Perm(), err)
		}
		back, err := ReadFile(p)
		if err != nil || len(back.Results) != 2 {
			t.Errorf("%s: %v", p, err)
		}
	}
	// A directory that cannot be created is an error and writes nothing.
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o644)
	if _, _, err := WriteFiles(filepath.Join(blocker, "sub"), run); err == nil {
		t.Error("writing under a file succeeded")
	}
}

func TestParseNvidiaSMI(t *testing.T) {
	g := parseNvidiaSMI("NVIDIA H100 80GB HBM3, 550.54.15, 81559\n\n")
	if len(g) != 1 || g[0].Name != "NVIDIA H100 80GB HBM3" || g[0].Driver != "550.54.15" || g[0].MemoryBytes != 81559<<20 {
		t.Errorf("got %+v", g)
	}
}

func TestCaptureEnvironment(t *testing.T) {
	env := CaptureEnvironment(t.Context())
	if env.OS == "" || env.CPUCores < 1 || env.GoVersion == "" || env.PiobenchVersion == "" || env.MemoryBytes == 0 {
		t.Errorf("environment %+v", env)
	}
	if len(env.GPUs) == 0 && env.GPUNote == "" {
		t.Error("no GPU and no note saying so")
	}
}
