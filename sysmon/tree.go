package sysmon

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"sync"

	"github.com/shirou/gopsutil/v4/process"
)

// Tree returns pid followed by all of its descendants (children,
// grandchildren, ...), in breadth-first order. It fails only when pid
// itself does not exist; descendants that exit while the tree is read are
// left out.
//
// On Linux it follows /proc/PID/task/TID/children, which costs a few reads
// per process in the tree, not a scan of every process on the machine; it
// scans /proc only when the kernel lacks those files.
func Tree(pid int) ([]int, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("sysmon: no process (pid %d)", pid)
	}
	if runtime.GOOS != "linux" {
		return treeGopsutil(pid)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
		return nil, fmt.Errorf("sysmon: process %d: %w", pid, errNoProcess(err))
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		kids, err := childrenOf(out[i])
		if errors.Is(err, errNoChildrenFile) {
			return treeScan(pid)
		}
		out = append(out, kids...)
	}
	return out, nil
}

var errNoChildrenFile = errors.New("no /proc/PID/task/TID/children")

func errNoProcess(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("no such process")
	}
	return err
}

// childrenOf reads the children of every thread of pid. A process that has
// gone away has no children.
func childrenOf(pid int) ([]int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil
	}
	var kids []int
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/children")
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if _, serr := os.Stat(dir + "/" + t.Name()); serr == nil {
					return nil, errNoChildrenFile
				}
			}
			continue
		}
		kids = appendInts(kids, b)
	}
	return kids, nil
}

func appendInts(dst []int, b []byte) []int {
	for _, f := range bytes.Fields(b) {
		if n, err := strconv.Atoi(string(f)); err == nil {
			dst = append(dst, n)
		}
	}
	return dst
}

// treeScan builds the tree from the parent of every process in /proc.
func treeScan(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	kids := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if pp, ok := parentFromStat(b); ok {
			kids[pp] = append(kids[pp], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, kids[out[i]]...)
	}
	return out, nil
}

// parentFromStat reads the parent pid from /proc/PID/stat, whose second
// field (the command name, in parentheses) may itself hold spaces and
// parentheses.
func parentFromStat(b []byte) (int, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(string(f[1]))
	return pp, err == nil
}

func treeGopsutil(pid int) ([]int, error) {
	root, err := process.NewProcess(int32(pid))
	if err != nil {
		return nil, fmt.Errorf("sysmon: process %d: %w", pid, err)
	}
	out := []int{pid}
	queue := []*process.Process{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		kids, _ := p.Children()
		for _, k := range kids {
			out = append(out, int(k.Pid))
			queue = append(queue, k)
		}
	}
	return out, nil
}

// TreeRSS returns the summed resident set size of pid and its descendants.
// Pages shared between processes of the tree (after a fork, say) count once
// for each process that maps them, as every RSS figure does.
func TreeRSS(pid int) (uint64, error) {
	pids, err := Tree(pid)
	if err != nil {
		return 0, err
	}
	var sum uint64
	for i, p := range pids {
		v, err := ProcessRSS(p)
		if err != nil {
			if i == 0 {
				return 0, fmt.Errorf("sysmon: process %d: %w", p, errNoProcess(err))
			}
			continue // a descendant exited meanwhile
		}
		sum += v
	}
	return sum, nil
}

// TreeProbe returns a Probe of the process tree rooted at whatever pid()
// returns when it is read, so it can follow a process that is started (or
// restarted) after the probe is made. A pid of 0 is an error: nothing to
// measure. The probe keeps the /proc files of the tree open between
// readings (so that a reading is cheap); they are closed when the tree's
// processes go, and all of them when the root changes.
func TreeProbe(pid func() int) Probe {
	var (
		mu   sync.Mutex
		r    *treeReader
		last int
	)
	return func() (uint64, error) {
		p := pid()
		mu.Lock()
		if p != last && r != nil {
			r.close()
			r = nil
		}
		if r == nil {
			r = newTreeReader()
			last = p
		}
		rd := r
		mu.Unlock()
		if p <= 0 {
			return 0, errors.New("sysmon: the process to measure is not running")
		}
		v, err := rd.rss(p)
		if err != nil {
			rd.close()
		}
		return v, err
	}
}
