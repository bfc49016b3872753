//go:build !unix

package sysmon

// Alive reports whether a process with this pid exists.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	_, err := Tree(pid)
	return err == nil
}

// Zombie reports whether pid has exited but not been reaped (never, here).
func Zombie(pid int) bool { return false }
