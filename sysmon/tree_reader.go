package sysmon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
)

// A treeReader reads the RSS of a process tree again and again, keeping
// the /proc files it reads open between readings (a reading is then one
// pread per file rather than open, stat, read and close), which matters
// where system calls are dear. It is safe for concurrent use.
type treeReader struct {
	mu    sync.Mutex
	files map[string]*os.File
	seen  map[string]bool
	buf   []byte
}

func newTreeReader() *treeReader {
	return &treeReader{files: map[string]*os.File{}, seen: map[string]bool{}, buf: make([]byte, 4096)}
}

// readAt reads a /proc file from the start through a cached descriptor.
func (r *treeReader) readAt(path string) ([]byte, error) {
	f, ok := r.files[path]
	if !ok {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
		r.files[path] = f
	}
	r.seen[path] = true
	n, err := f.ReadAt(r.buf, 0)
	if n == 0 && err != nil {
		f.Close()
		delete(r.files, path)
		return nil, err
	}
	return r.buf[:n], nil
}

// tasks lists the threads of pid through a cached directory descriptor.
func (r *treeReader) tasks(pid int) ([]string, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/task"
	f, ok := r.files[path]
	if !ok {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
		r.files[path] = f
	} else if _, err := f.Seek(0, 0); err != nil {
		return nil, err
	}
	r.seen[path] = true
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		delete(r.files, path)
		return nil, err
	}
	return names, nil
}

// rss reads the tree's summed RSS.
func (r *treeReader) rss(root int) (uint64, error) {
	if runtime.GOOS != "linux" {
		return TreeRSS(root)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.seen)
	defer r.closeUnseen()
	queue := []int{root}
	var sum uint64
	for i := 0; i < len(queue); i++ {
		pid := queue[i]
		p := "/proc/" + strconv.Itoa(pid)
		b, err := r.readAt(p + "/statm")
		if err != nil {
			if i == 0 {
				return 0, fmt.Errorf("sysmon: process %d: %w", pid, errNoProcess(err))
			}
			continue
		}
		f := bytes.Fields(b)
		if len(f) < 2 {
			return 0, fmt.Errorf("sysmon: unexpected statm %q", b)
		}
		pages, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("sysmon: unexpected statm %q", b)
		}
		sum += pages * pageSize
		tids, err := r.tasks(pid)
		if err != nil {
			continue
		}
		for _, tid := range tids {
			kb, err := r.readAt(p + "/task/" + tid + "/children")
			if err != nil {
				if errors.Is(err, os.ErrNotExist) && i == 0 {
					if _, serr := os.Stat(p + "/task/" + tid); serr == nil {
						// No children files in this kernel: read the slow way.
						r.mu.Unlock()
						defer r.mu.Lock()
						return TreeRSS(root)
					}
				}
				continue
			}
			queue = appendInts(queue, kb)
		}
	}
	return sum, nil
}

// closeUnseen closes the files of processes and threads that have gone.
func (r *treeReader) closeUnseen() {
	for p, f := range r.files {
		if !r.seen[p] {
			f.Close()
			delete(r.files, p)
		}
	}
}

// close closes every cached file.
func (r *treeReader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, f := range r.files {
		f.Close()
		delete(r.files, p)
	}
}
