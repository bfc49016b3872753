//go:build linux

package sim

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// An alarm rings at a set time. On Linux it is a timerfd read through the
// runtime's poller, so that it rings with the kernel's precision (an idle
// Go process wakes its own timers only to the millisecond), with a read
// deadline at the same time as a second bell: the runtime checks its
// timers at every scheduling point, the poller only when it runs out of
// work, so the deadline rings first while the process is busy.
type alarm struct {
	fd int
	f  *os.File // nil: no timerfd, the deadline alone rings
	r  *os.File // what wait reads: f, or a pipe that never speaks
	w  *os.File
}

func newAlarm() alarm {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err == nil {
		f := os.NewFile(uintptr(fd), "timerfd")
		return alarm{fd: fd, f: f, r: f}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return alarm{fd: -1}
	}
	return alarm{fd: -1, r: r, w: w}
}

// set makes the alarm ring at t (replacing any earlier setting). It is
// called with the clock's lock held, and never after close.
func (a *alarm) set(t time.Time) {
	if a.r == nil {
		return
	}
	if a.f != nil {
		d := time.Until(t)
		if d <= 0 {
			d = 1 // zero would disarm the timer
		}
		its := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
		unix.TimerfdSettime(a.fd, 0, &its, nil)
	}
	a.r.SetReadDeadline(t)
}

// wait blocks until the alarm rings or is closed (it may also return
// early, for a ring of an earlier setting).
func (a *alarm) wait() {
	if a.r == nil {
		time.Sleep(time.Millisecond)
		return
	}
	var buf [8]byte
	a.r.Read(buf[:])
}

func (a *alarm) close() {
	if a.r != nil {
		a.r.Close()
	}
	if a.w != nil {
		a.w.Close()
	}
}
