package cli

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/inference-pio/piobench/model"
	"github.com/inference-pio/piobench/model/fake"
	"github.com/inference-pio/piobench/result"
)

// TestMain lets tests run the command line as a child process (to kill it
// with SIGKILL): with PIOBENCH_TEST_MAIN=1 the test binary is piobench.
func TestMain(m *testing.M) {
	if os.Getenv("PIOBENCH_TEST_MAIN") == "1" {
		os.Exit(Exec(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestResumeAfterInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	cfg := testConfig(t, func() model.Model {
		return &cancelling{Model: fake.New(fake.NewClock(), 0, time.Millisecond, time.Millisecond), calls: &calls, n: 5, cancel: cancel}
	})
	out := t.TempDir()
	args := []string{"run", "--model", "test:m", "--benchmark", "inference_speed", "--benchmark", "comprehensive_benchmark",
		"--benchmark", "accuracy", "--iterations", "3", "--warmup", "0", "--out", out}
	var stdout, stderr bytes.Buffer
	if code := MainWith(ctx, args, &stdout, &stderr, cfg); code != ExitInterrupted {
		t.Fatalf("exit %d, want 130: %s", code, stderr.String())
	}
	journals, _ := filepath.Glob(filepath.Join(out, "*.jsonl"))
	if len(journals) != 1 {
		t.Fatalf("%d journals after an interrupt, want 1", len(journals))
	}
	first, _ := readRun(t, out)
	if !strings.Contains(stderr.String(), "--resume "+first.RunID) {
		t.Errorf("stderr does not say how to resume: %s", stderr.String())
	}

	code, so, se := runMain(t, cfg, "run", "--resume", first.RunID, "--out", out)
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s\n%s", code, so, se)
	}
	final, csvRun := readRun(t, out)
	if final.RunID != first.RunID || time.Time(final.StartedAt) != time.Time(first.StartedAt) {
		t.Errorf("resumed run is %s started %v; want %s started %v", final.RunID, final.StartedAt, first.RunID, first.StartedAt)
	}
	var names []string
	for _, r := range final.Results {
		names = append(names, r.BenchmarkName)
		if r.Failed() {
			t.Errorf("%s failed: %s", r.BenchmarkName, r.Err())
		}
	}
	if strings.Join(names, ",") != "inference_speed,comprehensive_benchmark,accuracy" || len(csvRun.Results) != 3 {
		t.Errorf("final results %v (csv %d), want all three in order", names, len(csvRun.Results))
	}
	if final.Results[0].Value != first.Results[0].Value || !final.Results[0].Timestamp.Equal(first.Results[0].Timestamp) {
		t.Errorf("the finished result changed on resume: %+v vs %+v", final.Results[0], first.Results[0])
	}
	if final.Config["interrupted"] != nil || final.Config["resumed"] != true {
		t.Errorf("config %v", final.Config)
	}
	if j, _ := filepath.Glob(filepath.Join(out, "*.jsonl")); len(j) != 0 {
		t.Errorf("journal left after the run finished: %v", j)
	}
	code, _, se = runMain(t, cfg, "run", "--resume", first.RunID, "--out", out)
	if code != ExitUsage || !strings.Contains(se, "no journal") {
		t.Errorf("resuming a finished run: exit %d, %q", code, se)
	}
}

// TestKill9LosesAtMostOneBenchmark kills a real piobench process with
// SIGKILL after its first result is journaled, then resumes it.
func TestKill9LosesAtMostOneBenchmark(t *testing.T) {
	if testing.Short() {
		t.Skip("runs piobench as a child process")
	}
	ckpt := smallCheckpoint(t)
	out := t.TempDir()
	cmd := exec.Command(os.Args[0], "run", "--model-path", ckpt, "--benchmark", "loading_time",
		"--benchmark", "inference_speed", "--benchmark", "batch_processing_4", "--iterations", "200", "--warmup", "0", "--out", out)
	cmd.Env = append(os.Environ(), "PIOBENCH_TEST_MAIN=1")
	cmd.Stdout, cmd.Stderr = new(bytes.Buffer), new(bytes.Buffer)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var journal string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if j, _ := filepath.Glob(filepath.Join(out, "*.jsonl")); len(j) == 1 && countLines(j[0]) >= 2 {
			journal = j[0]
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if journal == "" {
		t.Fatal("no journaled result within 60s")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	crashed, err := result.ReadJournal(journal)
	if err != nil {
		t.Fatal(err)
	}
	if len(crashed.Results) < 1 || crashed.Results[0].BenchmarkName != "loading_time" {
		t.Fatalf("journal after SIGKILL holds %+v", crashed.Results)
	}
	if js, _ := filepath.Glob(filepath.Join(out, "*.json")); len(js) != 0 {
		t.Errorf("final files exist after SIGKILL: %v", js)
	}
	// Resume with fewer iterations (later flags win) to keep the test short.
	res := exec.Command(os.Args[0], "run", "--resume", crashed.RunID, "--out", out, "--iterations", "2")
	res.Env = cmd.Env
	var so, se bytes.Buffer
	res.Stdout, res.Stderr = &so, &se
	if err := res.Run(); err != nil {
		t.Fatalf("resume: %v\n%s\n%s", err, so.String(), se.String())
	}
	final, _ := readRun(t, out)
	if len(final.Results) != 3 || final.RunID != crashed.RunID {
		t.Fatalf("final run %s with %d results", final.RunID, len(final.Results))
	}
	if final.Results[0].Value != crashed.Results[0].Value {
		t.Errorf("journaled loading_time %v changed to %v", crashed.Results[0].Value, final.Results[0].Value)
	}
}

// TestSignals sends SIGINT to a running piobench: it must stop, write the
// finished results and exit 130; a second SIGINT must end it at once.
func TestSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("runs piobench as a child process")
	}
	ckpt := smallCheckpoint(t)
	start := func(out string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(os.Args[0], "run", "--model-path", ckpt, "--benchmark", "accuracy",
			"--benchmark", "inference_speed", "--iterations", "100000", "--warmup", "0", "--out", out)
		cmd.Env = append(os.Environ(), "PIOBENCH_TEST_MAIN=1")
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = new(bytes.Buffer), &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if j, _ := filepath.Glob(filepath.Join(out, "*.jsonl")); len(j) == 1 && countLines(j[0]) >= 2 {
				return cmd, &stderr
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatal("no journaled result within 60s")
		return nil, nil
	}

	out := t.TempDir()
	cmd, stderr := start(out)
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if cmd.ProcessState.ExitCode() != ExitInterrupted {
			t.Fatalf("exit %v (%v), want 130\n%s", cmd.ProcessState.ExitCode(), err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30s after SIGINT")
	}
	run, _ := readRun(t, out)
	if len(run.Results) != 1 || run.Results[0].BenchmarkName != "accuracy" {
		t.Errorf("results after SIGINT: %+v", run.Results)
	}

	// Two signals: the second ends the process at once, by the signal.
	cmd, _ = start(t.TempDir())
	cmd.Process.Signal(os.Interrupt)
	time.Sleep(20 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted && code != -1 {
			t.Errorf("exit %d after two SIGINTs, want 130 or death by the signal", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after the second SIGINT")
	}
}

func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		n++
	}
	return n
}
