//go:build unix

package proc

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
)

// setProcessGroup makes the plugin the leader of a new process group, so
// that it and everything it starts can be signalled together.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) { signalGroup(pid, syscall.SIGKILL) }

// termGroup sends SIGTERM to the process group led by pid.
func termGroup(pid int) { signalGroup(pid, syscall.SIGTERM) }

func signalGroup(pid int, sig syscall.Signal) {
	if pid <= 0 {
		return
	}
	if err := syscall.Kill(-pid, sig); err != nil {
		// No group (it never formed, or is gone): the leader alone.
		syscall.Kill(pid, sig)
	}
}

// groupMembers lists the live (not zombie) processes of process group
// pgid, other than skip. Only Linux can tell; elsewhere it returns nil.
func groupMembers(pgid, skip int) []int {
	if runtime.GOOS != "linux" {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == skip {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 3 || string(f[0]) == "Z" {
			continue
		}
		if g, err := strconv.Atoi(string(f[2])); err == nil && g == pgid {
			out = append(out, pid)
		}
	}
	return out
}
