package ref

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// A pool runs the parallel parts of a forward pass on a fixed set of
// worker goroutines, started when a model loads and stopped when it
// closes. The goroutine that calls run does a share of the work too.
//
// Handing over work costs no allocation: the job is a field of the pool,
// and each worker is woken by a signal that spins for a short while before
// it sleeps, since the next job usually follows within microseconds.
type pool struct {
	workers []worker
	job     *job
	pending atomic.Int32 // workers still busy with the current job
	done    signal       // the last worker finished the current job
	stop    atomic.Bool
	exited  sync.WaitGroup
	once    sync.Once
}

type worker struct {
	start signal
	_     [64]byte // keep signals on separate cache lines
}

// newPool starts a pool for threads goroutines in all, threads-1 of them
// workers.
func newPool(threads int) *pool {
	p := &pool{workers: make([]worker, max(threads-1, 0))}
	p.done.init()
	for i := range p.workers {
		p.workers[i].start.init()
		p.exited.Add(1)
		go p.loop(&p.workers[i])
	}
	return p
}

// threads returns the number of goroutines that share a job.
func (p *pool) threads() int { return len(p.workers) + 1 }

func (p *pool) loop(w *worker) {
	defer p.exited.Done()
	for {
		w.start.wait()
		if p.stop.Load() {
			return
		}
		p.job.work()
		if p.pending.Add(-1) == 0 {
			p.done.notify()
		}
	}
}

// run does j on every goroutine of the pool and returns when it is done.
// Only one goroutine may call run at a time.
func (p *pool) run(j *job) {
	j.next.Store(0)
	if len(p.workers) == 0 {
		j.work()
		return
	}
	p.job = j
	p.pending.Store(int32(len(p.workers)))
	for i := range p.workers {
		p.workers[i].start.notify()
	}
	j.work()
	p.done.wait()
}

// close stops the workers and waits for them to exit. It is safe to call
// more than once.
func (p *pool) close() {
	p.once.Do(func() {
		p.stop.Store(true)
		for i := range p.workers {
			p.workers[i].start.notify()
		}
		p.exited.Wait()
	})
}

// A signal lets one goroutine wait for another to notify it, once per
// wait. The waiter spins for a while, then sleeps on a channel.
type signal struct {
	state atomic.Int32 // sigIdle, sigSet or sigSleeping
	ch    chan struct{}
}

const (
	sigIdle = iota
	sigSet
	sigSleeping
)

// spinRounds bounds how long a waiting goroutine spins, about tens of
// microseconds, before it sleeps.
const spinRounds = 1 << 14

func (s *signal) init() { s.ch = make(chan struct{}, 1) }

func (s *signal) notify() {
	if s.state.Swap(sigSet) == sigSleeping {
		s.ch <- struct{}{}
	}
}

func (s *signal) wait() {
	for i := 0; i < spinRounds; i++ {
		if s.state.Load() == sigSet {
			s.state.Store(sigIdle)
			return
		}
		if i&1023 == 1023 {
			runtime.Gosched()
		}
	}
	if s.state.CompareAndSwap(sigIdle, sigSleeping) {
		<-s.ch
	}
	s.state.Store(sigIdle)
}

// A job is work split into units, claimed a chunk at a time by the
// goroutines of a pool.
type job struct {
	next  atomic.Int64
	units int
	chunk int
	do    func(lo, hi int) // does units [lo, hi)
}

func (j *job) work() {
	for {
		lo := int(j.next.Add(int64(j.chunk))) - j.chunk
		if lo >= j.units {
			return
		}
		j.do(lo, min(lo+j.chunk, j.units))
	}
}
