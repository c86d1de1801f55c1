//go:build linux && (amd64 || arm64)

package engineio

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// poller watches idle WebSocket connections with one epoll instance, so
// that a connection waiting for its next message holds no goroutine and no
// stack: a goroutine is started when data arrives and ends when the
// connection has nothing more to read (architecture.md, "an epoll backend
// for very many mostly-idle connections"). Registrations are one-shot:
// each readiness is handled by exactly one goroutine, which re-arms the
// registration when it is done.
type poller struct {
	epfd int
	// ep is epfd as a file in Go's own network poller: the loop waits there
	// for the epoll instance to have events, parked like any goroutine
	// waiting on a socket, instead of in a blocking epoll_wait. A thread
	// blocked in a system call gives up its P, and on a busy machine
	// getting one back when a message arrives took tens of milliseconds
	// (an echo's RTT p99 was 2.5 times that of goroutine readers). Nil when
	// the runtime cannot poll it: the loop then blocks in epoll_wait.
	ep    *os.File
	epRaw syscall.RawConn
	wake  [2]int // a pipe whose read end stops the loop
	mu    sync.Mutex
	conns map[uint64]*wsConn
	next  uint64
	done  chan struct{}

	// Readiness is handled by reused goroutines: a goroutine that has read
	// a message has grown its stack for the handler, and starting a fresh
	// one for every message would grow (copy) a new stack every time.
	// Workers wait workerIdle for more work, at most maxIdleWorkers at once,
	// so that idle connections still cost no goroutine.
	work    chan *wsConn // unbuffered: taken only by an idle worker
	quit    chan struct{}
	workers sync.WaitGroup
	idle    atomic.Int32
}

const (
	maxIdleWorkers = 64
	workerIdle     = 2 * time.Second
)

const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{epfd: epfd, conns: make(map[uint64]*wsConn), next: 1, done: make(chan struct{}),
		work: make(chan *wsConn), quit: make(chan struct{})}
	if err := syscall.Pipe2(p.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN} // data 0: the wake pipe
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, err
	}
	if syscall.SetNonblock(epfd, true) == nil {
		p.ep = os.NewFile(uintptr(epfd), "epoll")
		if raw, err := p.ep.SyscallConn(); err == nil {
			p.epRaw = raw
		}
	}
	go p.run()
	return p, nil
}

func (p *poller) closeFDs() {
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
	if p.ep != nil {
		p.ep.Close() // closes epfd
	} else {
		syscall.Close(p.epfd)
	}
}

// wait returns the next ready events, parked in Go's network poller when
// it can be, blocked in epoll_wait otherwise.
func (p *poller) wait(events []syscall.EpollEvent) (int, error) {
	if p.epRaw != nil {
		var n int
		var werr error
		err := p.epRaw.Read(func(fd uintptr) bool {
			for {
				n, werr = syscall.EpollWait(int(fd), events, 0)
				if werr != syscall.EINTR {
					return n > 0 || werr != nil
				}
			}
		})
		if err == nil {
			return n, werr
		}
		p.epRaw = nil // not pollable after all: block from now on
	}
	return syscall.EpollWait(p.epfd, events, -1)
}

func (p *poller) run() {
	defer close(p.done)
	defer p.closeFDs()
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := p.wait(events)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return
		}
		for i := range events[:n] {
			id := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			if id == 0 {
				return
			}
			p.mu.Lock()
			c := p.conns[id]
			if c != nil && c.armed {
				c.armed = false
			} else {
				c = nil
			}
			p.mu.Unlock()
			if c != nil {
				p.dispatch(c)
			}
		}
	}
}

// stop ends the loop; connections still registered are left to their
// owners.
func (p *poller) stop() {
	_, _ = syscall.Write(p.wake[1], []byte{0})
	<-p.done
	close(p.quit)
	p.workers.Wait()
}

// dispatch has c's readiness handled by an idle worker, or a new one.
func (p *poller) dispatch(c *wsConn) {
	select {
	case p.work <- c:
	default:
		p.workers.Add(1)
		go p.worker(c)
	}
}

// worker handles c, then waits for more readiness to handle until it has
// been idle for workerIdle, the poller stops, or enough workers are idle.
func (p *poller) worker(c *wsConn) {
	defer p.workers.Done()
	var t *time.Timer
	for {
		c.s.onReadable(c)
		if p.idle.Add(1) > maxIdleWorkers {
			p.idle.Add(-1)
			return
		}
		if t == nil {
			t = time.NewTimer(workerIdle)
		} else {
			t.Reset(workerIdle)
		}
		select {
		case c = <-p.work:
			p.idle.Add(-1)
			t.Stop()
		case <-t.C:
			p.idle.Add(-1)
			return
		case <-p.quit:
			p.idle.Add(-1)
			t.Stop()
			return
		}
	}
}

// watch registers c (or re-arms it) for its next readiness. It reports
// false when c cannot be watched (not a socket, or closed).
func (p *poller) watch(c *wsConn) bool {
	if c.raw == nil {
		sc, ok := c.conn.(syscall.Conn)
		if !ok {
			return false
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			return false
		}
		c.raw = raw
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.closedPoll {
		return false
	}
	op := syscall.EPOLL_CTL_MOD
	if c.pollID == 0 {
		op = syscall.EPOLL_CTL_ADD
		c.pollID = p.next
		p.next++
		p.conns[c.pollID] = c
	}
	ev := syscall.EpollEvent{Events: pollEvents, Fd: int32(uint32(c.pollID)), Pad: int32(uint32(c.pollID >> 32))}
	var cerr error
	err := c.raw.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if err != nil || cerr != nil {
		delete(p.conns, c.pollID)
		return false
	}
	c.armed = true
	return true
}

// forget removes c before its connection closes. It reports whether c was
// armed, that is whether no goroutine is reading it (the caller then
// finishes the reader's part).
func (p *poller) forget(c *wsConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.closedPoll = true
	if c.pollID == 0 {
		return false
	}
	armed := c.armed
	c.armed = false
	delete(p.conns, c.pollID)
	_ = c.raw.Control(func(fd uintptr) {
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
	return armed
}

// tryRead reads what is available without waiting: (0, nil) means nothing yet.
func (c *wsConn) tryRead(b []byte) (int, error) {
	if len(c.pending) > 0 || c.raw == nil {
		return c.read(b)
	}
	var n int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), b)
		return true
	})
	switch {
	case err != nil:
		return 0, err
	case rerr == syscall.EAGAIN:
		return 0, nil
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, errEOF
	}
	return n, nil
}
