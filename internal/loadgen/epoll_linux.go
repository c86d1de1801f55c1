package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// epollSupported reports whether this system has the epoll receive path.
const epollSupported = true

// Tuning of the epoll path.
const (
	epollBatch     = 256      // events taken per epoll_wait
	epollReadBuf   = 32 << 10 // a poller's read buffer, shared by its connections
	readsPerWake   = 4        // reads of one connection per readiness event
	openReads      = 64       // reads allowed for the open packet
	writeTimeout   = 10 * time.Second
	writeWaitSlice = 100 * time.Millisecond // a blocked writer checks for Close this often
)

var (
	errConnClosed    = errors.New("loadgen: connection closed")
	errPeerClosed    = errors.New("loadgen: closed by the server")
	errPollerStopped = errors.New("loadgen: poller stopped")
)

// epollFDs counts the file descriptors the epoll path holds open (epoll
// instances, eventfds, sockets), for the tests' leak checks.
var epollFDs atomic.Int64

func closeFD(fd int) {
	if fd >= 0 && unix.Close(fd) == nil {
		epollFDs.Add(-1)
	}
}

// epollPollers is the number of poller goroutines of a worker process. One
// did better than two on a 2-CPU machine shared with the server (fewer
// wake-ups, larger batches: 3.7 against 4.5 µs of CPU per fan-out delivery
// at 10,000 clients); more CPUs are better used by more worker processes.
func epollPollers() int { return 1 }

// pollGroup is a worker's epoll receive path: a few pollers, each with its
// own epoll instance and goroutine, over which connections are spread.
type pollGroup struct {
	pollers []*poller
	next    atomic.Uint32
	once    sync.Once
}

// newPollGroup starts n pollers.
func newPollGroup(n int) (*pollGroup, error) {
	g := &pollGroup{}
	for range max(n, 1) {
		p, err := newPoller()
		if err != nil {
			g.close()
			return nil, err
		}
		g.pollers = append(g.pollers, p)
		go p.loop()
	}
	return g, nil
}

// close stops the pollers, closing every connection they still hold, and
// waits for them to return. It is idempotent.
func (g *pollGroup) close() {
	g.once.Do(func() {
		for _, p := range g.pollers {
			p.stop()
		}
		for _, p := range g.pollers {
			<-p.done
		}
	})
}

// poller is one goroutine calling epoll_wait and handling every ready
// connection of its epoll instance.
type poller struct {
	epfd int
	evfd int // an eventfd, written to stop the loop
	done chan struct{}
	buf  []byte // the read buffer, used by the loop only

	mu      sync.Mutex
	conns   []*epConn // by file descriptor
	stopped bool
}

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("loadgen: epoll_create1: %w", err)
	}
	epollFDs.Add(1)
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		closeFD(epfd)
		return nil, fmt.Errorf("loadgen: eventfd: %w", err)
	}
	epollFDs.Add(1)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		closeFD(evfd)
		closeFD(epfd)
		return nil, fmt.Errorf("loadgen: epoll_ctl: %w", err)
	}
	return &poller{epfd: epfd, evfd: evfd, done: make(chan struct{}), buf: make([]byte, epollReadBuf)}, nil
}

// stop wakes the loop to end it, unless it has ended already (and closed
// the eventfd).
func (p *poller) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	// The eventfd counter is a native-endian uint64: any non-zero value
	// wakes. Write again on EINTR only.
	var one [8]byte
	one[0] = 1
	for range 3 {
		if _, err := unix.Write(p.evfd, one[:]); err != unix.EINTR {
			return
		}
	}
}

// add registers c, whose fd is set, with p.
func (p *poller) add(c *epConn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errPollerStopped
	}
	if c.fd >= len(p.conns) {
		p.conns = append(p.conns, make([]*epConn, c.fd+1-len(p.conns)+len(p.conns)/2)...)
	}
	p.conns[c.fd] = c
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		p.conns[c.fd] = nil
		return fmt.Errorf("loadgen: epoll_ctl: %w", err)
	}
	return nil
}

// loop waits for ready connections and handles them until stopped. It
// blocks in epoll_wait, holding a thread. Parking in the runtime's poller on
// the epoll instance instead (it is pollable) and taking the events with a
// non-blocking epoll_wait measured slower: 6.5 to 7.0 against 6.1 µs of CPU
// per fan-out delivery at 10,000 clients.
func (p *poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, epollBatch)
	ready := make([]*epConn, 0, epollBatch)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			// Nothing can be received any more: end every connection.
			p.shutdown()
			return
		}
		stop := false
		ready = ready[:0]
		p.mu.Lock()
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			switch {
			case fd == p.evfd:
				stop = true
			case fd < len(p.conns) && p.conns[fd] != nil:
				ready = append(ready, p.conns[fd])
			}
		}
		p.mu.Unlock()
		// Only this goroutine removes connections, so those looked up stay
		// registered until it drops them.
		for _, c := range ready {
			p.service(c)
		}
		clear(ready)
		if stop {
			p.shutdown()
			return
		}
	}
}

// service reads what c has to read and handles it.
func (p *poller) service(c *epConn) {
	if c.closing.Load() {
		p.drop(c)
		return
	}
	for range readsPerWake {
		n, err := unix.Read(c.fd, p.buf)
		switch {
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR:
			continue
		case err != nil || n <= 0: // an error, or the end of the stream
			p.drop(c)
			return
		}
		if err := c.fr.feed(p.buf[:n], c.onFrame); err != nil {
			p.drop(c)
			return
		}
		if n < len(p.buf) || c.closing.Load() {
			// Drained for now; level-triggered epoll reports the rest.
			return
		}
	}
}

// drop ends c: it leaves the epoll set, its descriptor is closed and its
// owner told. Only the loop calls it.
func (p *poller) drop(c *epConn) {
	c.closing.Store(true)
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	p.mu.Lock()
	p.conns[c.fd] = nil
	p.mu.Unlock()
	// Only this goroutine closes the descriptor, so it is still c's: the
	// shutdown wakes a writer waiting for room, which then lets go of mu.
	_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
	c.mu.Lock()
	c.closed = true
	closeFD(c.fd)
	c.mu.Unlock()
	c.fr.release()
	if c.onClose != nil {
		c.onClose()
	}
	close(c.done)
}

// shutdown ends every connection and closes the poller's descriptors. No
// connection can be added afterwards.
func (p *poller) shutdown() {
	p.mu.Lock()
	p.stopped = true
	var left []*epConn
	for _, c := range p.conns {
		if c != nil {
			left = append(left, c)
		}
	}
	p.mu.Unlock()
	for _, c := range left {
		p.drop(c)
	}
	closeFD(p.evfd)
	closeFD(p.epfd)
}

// epConn is one client WebSocket connection on the epoll path. The poller
// reads it; any goroutine may send on it or close it.
type epConn struct {
	fd        int // set before the connection is registered, then fixed
	onMessage func(data []byte, binary bool)
	onClose   func()
	done      chan struct{}
	closing   atomic.Bool // Close was called or the poller is dropping it
	fr        frameReader // the reader's state: the dialer's, then the poller's

	mu     sync.Mutex // one frame at a time; guards closed
	closed bool       // fd is closed (by the poller, under mu)
}

// dial opens a WebSocket to target (see wsTarget), reads the Engine.IO open
// packet, and hands the socket to one of the pollers. onMessage receives
// every Engine.IO message on the poller's goroutine; onClose is called
// there once, when the connection has ended.
func (g *pollGroup) dial(ctx context.Context, target string, netDial func(context.Context, string, string) (net.Conn, error),
	onMessage func([]byte, bool), onClose func()) (link, error) {
	d := ws.Dialer{NetDial: netDial}
	nc, br, _, err := d.Dial(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("websocket: %w", err)
	}
	c := &epConn{fd: -1, onMessage: onMessage, onClose: onClose, done: make(chan struct{})}
	err = c.readOpen(ctx, nc, br)
	if br != nil {
		ws.PutReader(br)
	}
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	fd, err := detach(nc)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	c.fd = fd
	if err := g.attach(c); err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	return c, nil
}

// attach hands c, whose descriptor is set and past the open packet, to a
// poller, or closes the descriptor.
func (g *pollGroup) attach(c *epConn) error {
	// Frames that came with the open packet: handled here, since no poller
	// knows the connection yet.
	if c.fr.pending() > 0 {
		if err := c.fr.feed(nil, c.onFrame); err != nil {
			closeFD(c.fd)
			return err
		}
	}
	p := g.pollers[int(g.next.Add(1))%len(g.pollers)]
	if err := p.add(c); err != nil {
		closeFD(c.fd)
		return err
	}
	return nil
}

// aLongTimeAgo is a deadline in the past, to interrupt a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// readOpen reads frames from nc (after what the dialer buffered in br)
// until the open packet, within ctx. What follows it stays in c.fr.
func (c *epConn) readOpen(ctx context.Context, nc net.Conn, br *bufio.Reader) error {
	opened := false
	emit := func(op ws.OpCode, p []byte) error {
		if op != ws.OpText || len(p) == 0 || p[0] != '0' {
			return fmt.Errorf("%w: a frame of opcode %d before the open packet", errEngineIO, op)
		}
		if _, err := parseOpen(p[1:]); err != nil {
			return err
		}
		opened = true
		return errPause
	}
	if br != nil && br.Buffered() > 0 {
		b, _ := br.Peek(br.Buffered())
		if err := c.fr.feed(b, emit); err != nil {
			return err
		}
	}
	if opened {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetReadDeadline(aLongTimeAgo) })
	defer stop()
	var buf [512]byte
	for range openReads {
		n, err := nc.Read(buf[:])
		if n > 0 {
			if err := c.fr.feed(buf[:n], emit); err != nil {
				return err
			}
			if opened {
				return nc.SetReadDeadline(time.Time{})
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read open packet: %w", err)
		}
	}
	return fmt.Errorf("%w: no open packet in %d reads", errEngineIO, openReads)
}

// detach takes nc's socket out of the Go runtime: it returns a duplicate of
// its descriptor (non-blocking, close-on-exec) and closes nc, so that the
// runtime's poller no longer watches it.
func detach(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		_ = nc.Close()
		return -1, fmt.Errorf("loadgen: %T has no descriptor", nc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		_ = nc.Close()
		return -1, fmt.Errorf("loadgen: %w", err)
	}
	fd, derr := -1, error(nil)
	err = raw.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	})
	_ = nc.Close()
	switch {
	case err != nil:
		return -1, fmt.Errorf("loadgen: %w", err)
	case derr != nil:
		return -1, fmt.Errorf("loadgen: dup: %w", derr)
	}
	epollFDs.Add(1)
	return fd, nil
}

// onFrame handles a message or control frame from the server, on the
// poller's goroutine (or the dialer's, before the poller has it).
func (c *epConn) onFrame(op ws.OpCode, p []byte) error {
	var small [128]byte
	switch op {
	case ws.OpText:
		if len(p) == 0 {
			return fmt.Errorf("%w: empty packet", errEngineIO)
		}
		switch p[0] {
		case '4': // message
			if !c.closing.Load() {
				c.onMessage(p[1:], false)
			}
		case '2': // ping: pong with the same data
			return c.write(appendClientFrame(small[:0], ws.OpText, '3', p[1:]))
		case '1': // close
			return errPeerClosed
		case '0', '3', '5', '6': // open, pong, upgrade, noop: nothing to do
		default:
			return fmt.Errorf("%w: packet type %q", errEngineIO, p[0])
		}
	case ws.OpBinary:
		if !c.closing.Load() {
			c.onMessage(p, true)
		}
	case ws.OpPing:
		return c.write(appendClientFrame(small[:0], ws.OpPong, -1, p))
	case ws.OpClose:
		_ = c.write(appendClientFrame(small[:0], ws.OpClose, -1, p[:min(2, len(p))]))
		return errPeerClosed
	}
	return nil
}

// SendText sends an Engine.IO message; see write.
func (c *epConn) SendText(b []byte) error {
	var small [256]byte
	return c.write(appendClientFrame(small[:0], ws.OpText, '4', b))
}

// write writes a whole frame, waiting for room in the socket's buffer at
// most writeTimeout. Frames of concurrent writers never interleave.
func (c *epConn) write(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.closing.Load() {
		return errConnClosed
	}
	var deadline time.Time
	for len(b) > 0 {
		n, err := unix.Write(c.fd, b)
		if err == nil && n > 0 {
			b = b[n:]
			continue
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(writeTimeout)
		}
		switch {
		case err == unix.EAGAIN:
			if err := c.waitWritable(deadline); err != nil {
				return err
			}
		case err == unix.EINTR:
			if time.Now().After(deadline) {
				return fmt.Errorf("loadgen: write: %w", os.ErrDeadlineExceeded)
			}
		case err != nil:
			return fmt.Errorf("loadgen: write: %w", err)
		default:
			return fmt.Errorf("loadgen: write: %w", io.ErrShortWrite)
		}
	}
	return nil
}

// waitWritable waits until c's socket takes more bytes, it fails, the
// deadline passes or c is closing. c.mu is held.
func (c *epConn) waitWritable(deadline time.Time) error {
	for {
		if c.closing.Load() {
			return errConnClosed
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("loadgen: write: %w", os.ErrDeadlineExceeded)
		}
		ms := int(min(left, writeWaitSlice)/time.Millisecond) + 1
		fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(fds, ms)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("loadgen: poll: %w", err)
		}
		if n > 0 {
			return nil // writable, or failed: the next write says which
		}
	}
}

// Close sends the Engine.IO close packet and a WebSocket close frame if
// the socket has room for them, and shuts the socket down; the poller then
// ends the connection. It does not wait; Done does. Close is idempotent.
func (c *epConn) Close() error {
	if !c.closing.CompareAndSwap(false, true) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	var small [32]byte
	f := appendClientFrame(small[:0], ws.OpText, '1', nil)
	f = appendClientFrame(f, ws.OpClose, -1, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	_, _ = unix.Write(c.fd, f) // never waits: the socket is non-blocking
	_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
	return nil
}

// Done is closed once the poller has ended the connection and onClose has
// returned.
func (c *epConn) Done() <-chan struct{} { return c.done }
