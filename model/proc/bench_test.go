package proc

import (
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/inference-pio/piobench/model"
)

// benchRoundTrip measures no-op infer calls through m (a plugin that
// answers at once and does not stream) and reports the median round trip.
func benchRoundTrip(b *testing.B, m *Model) {
	ctx := context.Background()
	if err := m.Load(ctx); err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	req := model.Request{Prompt: "x", MaxTokens: 1}
	for i := 0; i < 100; i++ { // warm up
		if _, err := m.Infer(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	times := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := m.Infer(ctx, req); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1000, "µs-median")
	b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds())/1000, "µs-p99")
}

// BenchmarkRoundTripGo: a no-op infer through the Go test plugin
// (target: median <= 30 µs).
func BenchmarkRoundTripGo(b *testing.B) {
	benchRoundTrip(b, newGo(b, "noop", marker(b), nil))
}

// BenchmarkRoundTripPython: a no-op infer through the Python helper
// (target: median <= 100 µs).
func BenchmarkRoundTripPython(b *testing.B) {
	benchRoundTrip(b, newPython(b, "no_stream", marker(b), nil))
}

// BenchmarkPipeFloor: a line to the Go test plugin in echo mode and the
// same line back, through the same kind of pipes and reads, with no
// protocol: the floor under the two round trips above on this machine.
func BenchmarkPipeFloor(b *testing.B) {
	p, err := spawn("echo", spawnOptions{argv: []string{goPlugin, "-mode=echo"}, env: []string{marker(b)}, logPath: filepath.Join(b.TempDir(), "log")})
	if err != nil {
		b.Fatal(err)
	}
	defer p.kill()
	line := []byte(`{"id":1,"method":"infer","params":{"prompt":"x","max_tokens":1,"temperature":0,"top_p":0,"seed":0,"stream":false}}` + "\n")
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := p.stdin.Write(line); err != nil {
			b.Fatal(err)
		}
		if _, err := p.readLine(); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1000, "µs-median")
}
