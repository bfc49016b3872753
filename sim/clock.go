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
//
// A waiter may also hand the clock work to do at its deadline (fire): the
// clock does it itself, in deadline order, before it releases anyone. Like
// an inference server's engine loop writing every stream's token of a
// step, this keeps the due work out of the scheduler's run queues, where
// it would wait behind whatever else is runnable.
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
// Waking from a sleep goes through the poller and a run queue, tens of
// microseconds on a busy machine; yielding keeps the clock among the
// runnable goroutines, so it is on time when streams' deadlines crowd
// together (at concurrency 64 and ITL 10 ms, one every 156 µs on average).
// On a quiet server it costs at most spin of CPU per deadline. Measured on
// two pinned cores, 200 µs rather than 50 µs took the ITL p99 error against
// the schedule from 1.0-2.4% to 0.7-1.5%.
const spin = 200 * time.Microsecond

// A waiter waits for its deadline on ch.
type waiter struct {
	due  time.Time
	ch   chan struct{} // capacity 1
	idx  int           // in the heap; -1 when not in it
	fire func()        // nil, or what the clock does at the deadline, before releasing
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

// remove takes w out before its deadline (its owner stopped waiting). If
// the clock has already taken w to fire it, remove waits until w is
// released, so that fire never runs after its owner has gone. It reports
// whether w was taken out before its deadline.
func (c *clock) remove(w *waiter) bool {
	c.mu.Lock()
	in := w.idx >= 0
	if in {
		heap.Remove(&c.h, w.idx)
	}
	c.mu.Unlock()
	if !in && w.fire != nil {
		<-w.ch // taken: it is being fired, and then released
		return false
	}
	select {
	case <-w.ch:
	default:
	}
	return in
}

func (c *clock) loop() {
	for {
		c.mu.Lock()
		now := time.Now()
		c.due = c.due[:0]
		for len(c.h) > 0 && !c.h[0].due.After(now) {
			c.due = append(c.due, heap.Pop(&c.h).(*waiter))
		}
		if n := len(c.due); n > 0 {
			// Only this goroutine touches c.due: fire without the lock, so
			// that others can queue meanwhile.
			c.mu.Unlock()
			for _, w := range c.due {
				if w.fire != nil {
					w.fire()
				}
			}
			// The runtime runs the goroutine woken last first and the
			// others in the order woken: wake the earliest last, so that
			// they run in the order of their deadlines, tick after tick.
			for _, w := range c.due[1:] {
				release(w)
			}
			release(c.due[0])
			clear(c.due)
			continue // time went by: look again
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
