package sysmon

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startTree starts sh with two sleeping children and returns it.
func startTree(t *testing.T) *exec.Cmd {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & sleep 30 & wait")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start /bin/sh: %v", err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// waitTree waits until the tree of pid has n processes and every child
// has become sleep (a forked child is a copy of sh until it execs, and its
// memory changes then), or 5 s have passed.
func waitTree(t *testing.T, pid, n int) []int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := Tree(pid)
		if err != nil {
			t.Fatal(err)
		}
		if (len(pids) >= n && allSleep(pids[1:])) || time.Now().After(deadline) {
			return pids
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle waits until the tree's RSS reads the same twice 20 ms apart (just
// after exec, sleep is still faulting in its libraries), or 5 s have
// passed.
func settle(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	prev, _ := TreeRSS(pid)
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		cur, err := TreeRSS(pid)
		if err != nil {
			t.Fatal(err)
		}
		if cur == prev {
			return
		}
		prev = cur
	}
}

func allSleep(pids []int) bool {
	for _, p := range pids {
		comm, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "sleep" {
			return false
		}
	}
	return true
}

func TestTreeFindsChildren(t *testing.T) {
	cmd := startTree(t)
	pids := waitTree(t, cmd.Process.Pid, 3)
	if len(pids) != 3 || pids[0] != cmd.Process.Pid {
		t.Fatalf("Tree = %v, want sh and its two sleeps", pids)
	}
	scan, err := treeScan(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(scan) != 3 {
		t.Errorf("scan of /proc found %v", scan)
	}
	sum, err := TreeRSS(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := ProcessRSS(cmd.Process.Pid)
	if sum <= root {
		t.Errorf("tree RSS %d not above the root's %d", sum, root)
	}
	mine, err := Tree(os.Getpid())
	if err != nil || mine[0] != os.Getpid() {
		t.Errorf("Tree(self) = %v, %v", mine, err)
	}
}

func TestTreeProbeFollowsRoot(t *testing.T) {
	a := startTree(t)
	b := startTree(t)
	waitTree(t, a.Process.Pid, 3)
	waitTree(t, b.Process.Pid, 3)
	settle(t, a.Process.Pid)
	settle(t, b.Process.Pid)
	root := a.Process.Pid
	probe := TreeProbe(func() int { return root })
	for _, c := range []*exec.Cmd{a, b, a} {
		root = c.Process.Pid
		got, err := probe()
		if err != nil {
			t.Fatal(err)
		}
		want, err := TreeRSS(root)
		if err != nil {
			t.Fatal(err)
		}
		// The two readings are moments apart; sleeping shells hardly move.
		if diff := int64(got) - int64(want); diff < -1<<20 || diff > 1<<20 {
			t.Errorf("probe %d bytes, TreeRSS %d", got, want)
		}
	}
	a.Process.Kill()
	a.Wait()
	root = a.Process.Pid
	if _, err := probe(); err == nil {
		t.Error("probe of a killed root succeeded")
	}
}

func TestTreeOfNothing(t *testing.T) {
	if _, err := Tree(0); err == nil {
		t.Error("Tree(0) succeeded")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	if _, err := TreeRSS(cmd.Process.Pid); err == nil {
		t.Error("TreeRSS of a process that has gone succeeded")
	}
	if Alive(cmd.Process.Pid) {
		t.Error("Alive after exit and wait")
	}
	probe := TreeProbe(func() int { return 0 })
	if _, err := probe(); err == nil {
		t.Error("probe of no process succeeded")
	}
}

func TestParentFromStat(t *testing.T) {
	for in, want := range map[string]int{
		"1234 (python3) S 77 1234 1234 0 -1": 77,
		"1234 (a) b (c) R 9 1 1":             9,
		"1234 (tricky) 5 6) S 42 1 1 0":      42,
	} {
		got, ok := parentFromStat([]byte(in))
		if !ok || got != want {
			t.Errorf("parentFromStat(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	if _, ok := parentFromStat([]byte("garbage")); ok {
		t.Error("garbage parsed")
	}
}

// BenchmarkTreeRSS measures one reading of a three-process tree and
// reports what sampling it at 10 Hz costs as a share of one core.
func BenchmarkTreeRSS(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("needs /proc")
	}
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & sleep 30 & wait")
	if err := cmd.Start(); err != nil {
		b.Skip(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	time.Sleep(100 * time.Millisecond)
	probe := TreeProbe(func() int { return cmd.Process.Pid })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := probe(); err != nil {
			b.Fatal(err)
		}
	}
	perRead := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(perRead*10*100, "%core@10Hz")
}

// BenchmarkSamplerCPU10Hz runs the tree sampler at 10 Hz for one second
// per iteration and reports the CPU time this process used meanwhile, as a
// share of one core: net of the same time without the sampler, and gross.
func BenchmarkSamplerCPU10Hz(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("needs getrusage and /proc")
	}
	cmd := exec.Command("/bin/sh", "-c", "sleep 60 & sleep 60 & wait")
	if err := cmd.Start(); err != nil {
		b.Skip(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	time.Sleep(100 * time.Millisecond)
	var cpu, idle, wall time.Duration
	for i := 0; i < b.N; i++ {
		// The same second without the sampler, for the baseline of the
		// Go runtime's own background work.
		before := cpuTime()
		time.Sleep(time.Second)
		idle += cpuTime() - before
		before = cpuTime()
		start := time.Now()
		s, err := Start(TreeProbe(func() int { return cmd.Process.Pid }), 100*time.Millisecond, false)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Second)
		rep := s.Stop()
		wall += time.Since(start)
		cpu += cpuTime() - before
		if rep.Count < 9 {
			b.Fatalf("%d readings in a second at 10 Hz", rep.Count)
		}
	}
	b.ReportMetric(100*(cpu-idle).Seconds()/wall.Seconds(), "%core")
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "%core-gross")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
