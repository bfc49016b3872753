package sim

import (
	"sync"
	"testing"
	"time"
)

func TestClockReleasesAtDeadlines(t *testing.T) {
	c := newClock()
	defer c.close()
	const n, rounds = 16, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	var late []time.Duration
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &waiter{idx: -1, ch: make(chan struct{}, 1)}
			due := time.Now().Add(time.Duration(i) * 100 * time.Microsecond)
			for range rounds {
				due = due.Add(2 * time.Millisecond)
				w.due = due
				c.add(w)
				<-w.ch
				l := time.Since(due)
				mu.Lock()
				late = append(late, l)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(late) != n*rounds {
		t.Fatalf("%d releases, want %d", len(late), n*rounds)
	}
	for _, l := range late {
		if l < 0 {
			t.Fatalf("a waiter released %v before its deadline", -l)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.h) != 0 {
		t.Errorf("%d waiters left", len(c.h))
	}
}

func TestClockRemove(t *testing.T) {
	c := newClock()
	defer c.close()
	far := &waiter{idx: -1, ch: make(chan struct{}, 1), due: time.Now().Add(time.Hour)}
	near := &waiter{idx: -1, ch: make(chan struct{}, 1), due: time.Now().Add(5 * time.Millisecond)}
	c.add(far)
	c.add(near)
	c.remove(far)
	select {
	case <-near.ch:
	case <-time.After(5 * time.Second):
		t.Fatal("the near waiter was not released")
	}
	// With no one waiting, the loop ends.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		running := c.running
		c.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the clock's loop still runs with no one waiting")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-far.ch:
		t.Error("a removed waiter was released")
	default:
	}
}

func TestClockFiresBeforeRelease(t *testing.T) {
	c := newClock()
	defer c.close()
	var fired time.Time
	w := &waiter{idx: -1, ch: make(chan struct{}, 1), due: time.Now().Add(3 * time.Millisecond)}
	w.fire = func() { fired = time.Now() }
	c.add(w)
	<-w.ch
	if fired.IsZero() {
		t.Fatal("released without firing")
	}
	if fired.Before(w.due) {
		t.Errorf("fired %v before the deadline", w.due.Sub(fired))
	}
}

func TestClockRemoveWaitsForFire(t *testing.T) {
	c := newClock()
	defer c.close()
	started, unblock := make(chan struct{}), make(chan struct{})
	var done bool
	w := &waiter{idx: -1, ch: make(chan struct{}, 1), due: time.Now()}
	w.fire = func() {
		close(started)
		<-unblock
		done = true
	}
	c.add(w)
	<-started // the clock has taken w and is firing it
	removed := make(chan bool)
	go func() { removed <- c.remove(w) }()
	select {
	case <-removed:
		t.Fatal("remove returned while the clock was still firing")
	case <-time.After(20 * time.Millisecond):
	}
	close(unblock)
	if before := <-removed; before || !done {
		t.Errorf("remove = %v with fire done %v; want false after the fire", before, done)
	}
}
