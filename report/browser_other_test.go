//go:build !unix

package report

import "os/exec"

func ownGroup(cmd *exec.Cmd) {}

func stopGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		cmd.Process.Kill()
	}
}
