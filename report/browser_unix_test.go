//go:build unix

package report

import (
	"os/exec"
	"syscall"
)

// ownGroup starts cmd in a process group of its own, so that stop ends the
// browser and every helper process it started.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

func stopGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
