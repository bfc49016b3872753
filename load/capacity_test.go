package load_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/inference-pio/piobench/load"
	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/openai"
	"github.com/inference-pio/piobench/sim"
)

// TestMain doubles as a sim server in a child process (for measuring the
// client's own CPU time and memory, apart from the server's).
func TestMain(m *testing.M) {
	if itl := os.Getenv("PIOBENCH_SIM_CHILD_ITL"); itl != "" {
		d, _ := time.ParseDuration(itl)
		l, err := sim.Listen("127.0.0.1:0", sim.Config{ITL: d, DefaultMaxTokens: 16})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(l.URL)
		// Serve until the parent goes away (stdin closes).
		bufio.NewReader(os.Stdin).ReadString('\n')
		l.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childSim starts a sim with the given ITL in a child process.
func childSim(tb testing.TB, itl time.Duration) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PIOBENCH_SIM_CHILD_ITL="+itl.String())
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://") {
		tb.Fatalf("child sim: %q %v", line, err)
	}
	return strings.TrimSpace(line)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func newClient(tb testing.TB, url string, stream bool) *openai.Model {
	m, err := openai.New(openai.Options{Endpoint: url, ModelID: "sim", NoStream: !stream})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// BenchmarkCapacity measures requests and streamed tokens per second with
// client and sim in this one process over loopback, at concurrency 256
// with zero delays (targets: 20,000 requests/s not streamed, 200,000
// tokens/s streamed), and the CPU time of both together per request.
func BenchmarkCapacity(b *testing.B) {
	for _, tc := range []struct {
		name   string
		stream bool
		tokens int
	}{{"nonstream", false, 16}, {"stream", true, 256}} {
		b.Run(tc.name, func(b *testing.B) {
			l, err := sim.Listen("127.0.0.1:0", sim.Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			m := newClient(b, l.URL, tc.stream)
			opts := load.Options{Requests: max(b.N, 256), Warmup: 256, Prompts: load.Synthetic{Words: 16, Seed: 1}, MaxTokens: tc.tokens}
			b.ReportAllocs()
			b.ResetTimer()
			c0 := cpuTime()
			rep, err := load.Run(context.Background(), m, load.Closed(256), opts)
			cpu := cpuTime() - c0
			b.StopTimer()
			if err != nil || rep.Failed > 0 {
				b.Fatalf("%v, %d failed: %v", err, rep.Failed, rep.Errors)
			}
			secs := rep.Elapsed.Seconds()
			b.ReportMetric(float64(rep.Completed)/secs, "requests/s")
			b.ReportMetric(float64(rep.OutputTokens)/secs, "tokens/s")
			// Warmup included: the CPU time of client and sim together.
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(rep.Completed+opts.Warmup), "cpu-µs/request")
		})
	}
}

// BenchmarkClientCost measures the client's own CPU time per request and
// per streamed token, with the sim in a child process so that its CPU time
// is not counted (concurrency 256, zero delays).
func BenchmarkClientCost(b *testing.B) {
	for _, tc := range []struct {
		name   string
		stream bool
		tokens int
	}{{"nonstream", false, 16}, {"stream", true, 256}} {
		b.Run(tc.name, func(b *testing.B) {
			url := childSim(b, 0)
			m := newClient(b, url, tc.stream)
			opts := load.Options{Requests: max(b.N, 256), Warmup: 256, Prompts: load.Synthetic{Words: 16, Seed: 1}, MaxTokens: tc.tokens}
			// Warm the pool first.
			if _, err := load.Run(context.Background(), m, load.Closed(256), load.Options{Requests: 256, Prompts: opts.Prompts, MaxTokens: tc.tokens}); err != nil {
				b.Fatal(err)
			}
			opts.Warmup = 0
			b.ResetTimer()
			c0 := cpuTime()
			rep, err := load.Run(context.Background(), m, load.Closed(256), opts)
			cpu := cpuTime() - c0
			b.StopTimer()
			if err != nil || rep.Failed > 0 {
				b.Fatalf("%v, %d failed: %v", err, rep.Failed, rep.Errors)
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(rep.Completed), "client-cpu-µs/request")
			if tc.stream {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(rep.OutputTokens)/1e3, "client-cpu-µs/token")
			}
			b.ReportMetric(float64(rep.Completed)/rep.Elapsed.Seconds(), "requests/s")
			b.ReportMetric(float64(rep.OutputTokens)/rep.Elapsed.Seconds(), "tokens/s")
		})
	}
}

// BenchmarkStreamMemory measures the client's memory per stream in flight:
// 256 streams held open (the sim, in a child process, sends one token and
// then waits) against none.
func BenchmarkStreamMemory(b *testing.B) {
	url := childSim(b, time.Hour)
	m := newClient(b, url, true)
	m.SetConcurrency(256)
	const n = 256
	var perStream float64
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ctx, cancel := context.WithCancel(context.Background())
		var started sync.WaitGroup
		var wg sync.WaitGroup
		var first atomic.Int64
		started.Add(n)
		for j := 0; j < n; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				once := false
				m.InferStream(ctx, model.Request{Prompt: "hold this stream open", MaxTokens: 4}, func(model.Token) error {
					if !once {
						once = true
						first.Add(1)
						started.Done()
					}
					return nil
				})
			}()
		}
		started.Wait()
		runtime.GC()
		runtime.ReadMemStats(&after)
		cancel()
		wg.Wait()
		used := float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
		perStream = used / n
	}
	b.ReportMetric(perStream/1024, "KiB/stream")
}
