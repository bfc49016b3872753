//go:build !linux

package sim

import "time"

// A fineTimer sleeps; elsewhere than Linux it is a plain Go timer.
type fineTimer struct{}

func newFineTimer() *fineTimer { return &fineTimer{} }

func (t *fineTimer) sleep(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

func (t *fineTimer) close() {}
