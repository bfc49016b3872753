package sim

import (
	"container/heap"
	"runtime"
	"sync"
	"time"
)

// epoch anchors the monotonic nanosecond counts kept in atomics.
var epoch = time.Now()

// A clock wakes goroutines at their deadlines. One goroutine sleeps until
// the earliest deadline of all, on an alarm with the kernel's precision,
// and releases every waiter whose deadline has come; a waiter costs no
// timer of its own. The last stretch before a deadline too short to sleep
// (spin) is spent yielding to other goroutines.
type clock struct {
	mu      sync.Mutex
	h       waitHeap
	armed   time.Time // the deadline the loop sleeps until (zero: none)
	running bool      // a loop goroutine runs (it ends when no one waits)
	closed  bool
	a       alarm
	due     []*waiter // scratch: the waiters released at once
}

// spin is the longest wait the clock yields through rather than sleeps.
const spin = 50 * time.Microsecond

// A waiter waits for its deadline on ch.
type waiter struct {
	due time.Time
	ch  chan struct{} // capacity 1
	idx int           // in the heap; -1 when not in it
}

func newClock() *clock { return &clock{a: newAlarm()} }

// add makes w wait for w.due: w.ch receives once it has come.
func (c *clock) add(w *waiter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	heap.Push(&c.h, w)
	switch {
	case c.closed:
	case !c.running:
		c.running = true
		go c.loop()
	case c.armed.IsZero() || w.due.Before(c.armed):
		c.armed = w.due
		c.a.set(w.due)
	}
}

// remove takes w out before its deadline (its owner stopped waiting).
func (c *clock) remove(w *waiter) {
	c.mu.Lock()
	if w.idx >= 0 {
		heap.Remove(&c.h, w.idx)
	}
	c.mu.Unlock()
	select {
	case <-w.ch:
	default:
	}
}

func (c *clock) loop() {
	for {
		c.mu.Lock()
		now := time.Now()
		c.due = c.due[:0]
		for len(c.h) > 0 && !c.h[0].due.After(now) {
			c.due = append(c.due, heap.Pop(&c.h).(*waiter))
		}
		// The runtime runs the goroutine woken last first and the others
		// in the order woken: wake the earliest last, so that they run in
		// the order of their deadlines, tick after tick.
		if n := len(c.due); n > 0 {
			for _, w := range c.due[1:] {
				release(w)
			}
			release(c.due[0])
			clear(c.due)
		}
		if len(c.h) == 0 || c.closed {
			c.running = false
			c.armed = time.Time{}
			c.mu.Unlock()
			return
		}
		next := c.h[0].due
		c.armed = next
		if next.Sub(now) <= spin {
			c.mu.Unlock()
			for time.Now().Before(next) {
				runtime.Gosched()
			}
			continue
		}
		c.a.set(next)
		c.mu.Unlock()
		c.a.wait()
	}
}

func release(w *waiter) {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// close stops the clock; waiters left are never released (they leave on
// the server's closing).
func (c *clock) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.a.close()
	}
}

// waitHeap orders waiters by deadline.
type waitHeap []*waiter

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *waitHeap) Push(x any) {
	w := x.(*waiter)
	w.idx = len(*h)
	*h = append(*h, w)
}
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.idx = -1
	return w
}
