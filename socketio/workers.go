package socketio

import (
	"sync"
	"sync/atomic"
	"time"
)

// workers runs the clients' task queues (client.drain) on reused
// goroutines. A queue runs only while it has work; starting a goroutine
// for each run made every event pay for a new goroutine and for growing its
// stack to what a handler and its writes need. A worker that finishes waits
// workerIdle for another queue, at most maxIdleWorkers of them at once, so
// idle connections still hold no goroutine; Server.Close ends the idle ones.
type workers struct {
	once     sync.Once
	stopOnce sync.Once
	work     chan func() // unbuffered: taken only by an idle worker
	quit     chan struct{}
	idle     atomic.Int32
}

const (
	maxIdleWorkers = 64
	workerIdle     = 2 * time.Second
)

func (w *workers) init() {
	w.once.Do(func() {
		w.work = make(chan func())
		w.quit = make(chan struct{})
	})
}

// do runs f on an idle worker, or a new one.
func (w *workers) do(f func()) {
	w.init()
	select {
	case w.work <- f:
	default:
		go w.run(f)
	}
}

func (w *workers) run(f func()) {
	var t *time.Timer
	for {
		f()
		if w.idle.Add(1) > maxIdleWorkers {
			w.idle.Add(-1)
			return
		}
		if t == nil {
			t = time.NewTimer(workerIdle)
		} else {
			t.Reset(workerIdle)
		}
		select {
		case f = <-w.work:
			w.idle.Add(-1)
			t.Stop()
		case <-t.C:
			w.idle.Add(-1)
			return
		case <-w.quit:
			w.idle.Add(-1)
			t.Stop()
			return
		}
	}
}

// stop ends the idle workers; busy ones end when their queue is done.
func (w *workers) stop() {
	w.init()
	w.stopOnce.Do(func() { close(w.quit) })
}
