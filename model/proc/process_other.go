//go:build !unix

package proc

import (
	"os"
	"os/exec"
)

func setProcessGroup(*exec.Cmd) {}

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}

func termGroup(pid int) { killGroup(pid) }

func groupMembers(pgid, skip int) []int { return nil }
