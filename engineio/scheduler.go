package engineio

import (
	"container/heap"
	"sync"
	"time"
)

// timerTarget is notified by the scheduler when one of its deadlines passes.
// gen is the generation it was scheduled with; the target ignores stale ones.
type timerTarget interface {
	fire(gen uint64)
}

type timerEntry struct {
	at     int64 // unix nanoseconds
	target timerTarget
	gen    uint64
}

type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = timerEntry{}
	*h = old[:len(old)-1]
	return e
}

// scheduler runs every heartbeat and upgrade deadline of a server on one
// goroutine and one runtime timer, instead of a timer per session
// (architecture.md, "Performance design"). Rescheduling pushes a new entry
// with a higher generation; stale entries are skipped when they come due, so
// each session has at most a few entries in the heap at any time.
type scheduler struct {
	mu    sync.Mutex
	h     timerHeap
	wake  chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup
	fires []timerEntry // reused between ticks
}

func newScheduler() *scheduler {
	s := &scheduler{wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.wg.Add(1)
	go s.run()
	return s
}

// at schedules target.fire(gen) at t.
func (s *scheduler) at(t time.Time, target timerTarget, gen uint64) {
	e := timerEntry{at: t.UnixNano(), target: target, gen: gen}
	s.mu.Lock()
	heap.Push(&s.h, e)
	first := s.h[0].gen == gen && s.h[0].target == target
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *scheduler) stop() {
	close(s.done)
	s.wg.Wait()
}

func (s *scheduler) run() {
	defer s.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := time.Now().UnixNano()
		s.mu.Lock()
		due := s.fires[:0]
		for len(s.h) > 0 && s.h[0].at <= now {
			due = append(due, heap.Pop(&s.h).(timerEntry))
		}
		next := time.Hour
		if len(s.h) > 0 {
			next = time.Duration(s.h[0].at - now)
		}
		s.mu.Unlock()
		for i := range due {
			due[i].target.fire(due[i].gen)
			due[i] = timerEntry{}
		}
		s.fires = due[:0]
		t.Reset(next)
		select {
		case <-t.C:
		case <-s.wake:
		case <-s.done:
			return
		}
	}
}
