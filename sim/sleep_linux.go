//go:build linux

package sim

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// A fineTimer sleeps with the kernel's resolution (tens of microseconds)
// instead of the Go runtime's: an idle Go process polls for timers in whole
// milliseconds, so a plain timer can fire up to a millisecond late. It is a
// timerfd read through the runtime's poller, so a sleeping goroutine holds
// no thread.
type fineTimer struct {
	fd int
	f  *os.File
}

func newFineTimer() *fineTimer {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return &fineTimer{fd: -1}
	}
	return &fineTimer{fd: fd, f: os.NewFile(uintptr(fd), "timerfd")}
}

// sleep waits for d (at most a few milliseconds: it cannot be cancelled).
func (t *fineTimer) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	if t.f == nil {
		time.Sleep(d)
		return
	}
	its := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := unix.TimerfdSettime(t.fd, 0, &its, nil); err != nil {
		time.Sleep(d)
		return
	}
	var buf [8]byte
	if _, err := t.f.Read(buf[:]); err != nil {
		time.Sleep(d)
	}
}

func (t *fineTimer) close() {
	if t != nil && t.f != nil {
		t.f.Close()
	}
}
