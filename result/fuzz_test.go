package result

import (
	"bytes"
	"strings"
	"testing"
)

// The readers must never panic, and what they accept must survive a round
// trip through the writers.

func FuzzDecodeJSON(f *testing.F) {
	var buf bytes.Buffer
	EncodeJSON(&buf, sampleRun())
	f.Add(buf.Bytes())
	f.Add([]byte(`{"timestamp":"2023-10-15T10:30:45.123456","model_name":"m","benchmark_name":"b","value":1.5,"unit":"u","category":"c","metadata":{}}`))
	f.Add([]byte(`[{"benchmark_name":"b","value":null,"metadata":{"status":"error"}}]`))
	f.Add([]byte(`{"schema_version":1,"results":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		run, err := DecodeJSON(bytes.NewReader(data), "fuzz.json")
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := EncodeJSON(&out, run); err != nil {
			t.Fatalf("accepted input does not encode: %v", err)
		}
		if _, err := DecodeJSON(&out, "again.json"); err != nil {
			t.Fatalf("our own output does not decode: %v\n%s", err, out.String())
		}
	})
}

func FuzzDecodeCSV(f *testing.F) {
	var buf bytes.Buffer
	EncodeCSV(&buf, sampleRun())
	f.Add(buf.Bytes())
	f.Add([]byte("model_name,benchmark_name,value,unit,category,timestamp\nm,b,1e300,u,c,2023-10-15T10:30:45\n"))
	f.Add([]byte("model_name,benchmark_name,value,unit,category,timestamp\n\"a,\"\"b\",x,,u,c,2023-10-15T10:30:45Z\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		run, err := DecodeCSV(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := EncodeCSV(&out, run); err != nil {
			t.Fatalf("accepted input does not encode: %v", err)
		}
		back, err := DecodeCSV(&out, "again.csv")
		if err != nil {
			t.Fatalf("our own output does not decode: %v\n%s", err, out.String())
		}
		if len(back.Results) != len(run.Results) {
			t.Fatalf("%d results became %d", len(run.Results), len(back.Results))
		}
	})
}

func FuzzDecodeJournal(f *testing.F) {
	f.Add([]byte(`{"type":"run","run":{"schema_version":1,"run_id":"x","started_at":"2026-01-01T00:00:00Z","environment":{"os":"linux","arch":"amd64","cpu_model":"","cpu_cores":1,"gomaxprocs":1,"memory_bytes":0,"go_version":"","piobench_version":"","gpus":[]},"results":null}}` + "\n" +
		`{"type":"result","result":{"timestamp":"2026-01-01T00:00:00Z","model_name":"m","benchmark_name":"b","value":1,"unit":"u","category":"c","metadata":{}}}` + "\n"))
	f.Add([]byte("{\"type\":\"run\"}\n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		run, err := DecodeJournal(bytes.NewReader(data), "fuzz.jsonl")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.jsonl") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if run == nil {
			t.Fatal("nil run without error")
		}
	})
}
