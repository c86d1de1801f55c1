package engineio

import (
	"runtime"
	"sync"
)

// flushers write the queues of WebSocket sessions on behalf of broadcasts.
//
// A message sent to one session is written by the sender at once
// (flushInline). A message that is sent to many (the same *Message enqueued
// to a second session and more: a broadcast) is only queued, and the
// session handed to these few long-lived goroutines, which write each queue
// with one non-blocking writev. Broadcasts that follow each other (a burst)
// queue up behind the flushers, so each recipient gets several frames in one
// write: on loopback TCP a write costs far more than the bytes it carries,
// and one write per frame per recipient is what made a burst expensive.
type flushers struct {
	once sync.Once
	q    chan flushJob
	quit chan struct{}
	wg   sync.WaitGroup
}

type flushJob struct {
	s *Session
	c *wsConn
}

// flushQueueLen bounds the sessions waiting for a flusher; past it a
// session gets a flush goroutine of its own, as before flushers existed.
const flushQueueLen = 1 << 16

// deferFlush has a flusher write s's queue to c. The caller has set
// s.flushing.
func (srv *Server) deferFlush(s *Session, c *wsConn) {
	f := &srv.flushers
	f.once.Do(func() {
		f.q = make(chan flushJob, flushQueueLen)
		f.quit = make(chan struct{})
		n := runtime.GOMAXPROCS(0)
		f.wg.Add(n)
		for range n {
			go f.run()
		}
	})
	select {
	case f.q <- flushJob{s, c}:
	default:
		go s.flush(c)
	}
}

func (f *flushers) run() {
	defer f.wg.Done()
	for {
		select {
		case j := <-f.q:
			j.s.flushInline(j.c)
		case <-f.quit:
			return
		}
	}
}

// stop ends the flushers. It runs once every session has ended, so none is
// waiting for them.
func (f *flushers) stop() {
	f.once.Do(func() {})
	if f.quit != nil {
		close(f.quit)
		f.wg.Wait()
	}
}
