//go:build !linux

package sim

import "time"

// An alarm rings at a set time; elsewhere than Linux it is a Go timer.
type alarm struct {
	t    *time.Timer
	done chan struct{}
}

func newAlarm() alarm {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return alarm{t: t, done: make(chan struct{})}
}

func (a *alarm) set(t time.Time) { a.t.Reset(time.Until(t)) }

func (a *alarm) wait() {
	select {
	case <-a.t.C:
	case <-a.done:
	}
}

func (a *alarm) close() { close(a.done) }
