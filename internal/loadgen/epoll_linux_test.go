package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// msg is a message an epConn passed to its onMessage.
type msg struct {
	data   string
	binary bool
}

// pair is an epConn on one end of a socket pair, and the other end, which
// plays the server.
type pair struct {
	c      *epConn
	peer   net.Conn
	msgs   chan msg
	closed chan struct{} // closed by onClose
	closes int           // onClose calls, read after closed
}

// newGroup starts a poll group that the test closes at its end, then
// checks that no descriptor of the epoll path is left open.
func newGroup(t *testing.T, n int) *pollGroup {
	t.Helper()
	before := epollFDs.Load()
	g, err := newPollGroup(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.close()
		if n := epollFDs.Load(); n != before {
			t.Errorf("%d descriptors of the epoll path open after close, want %d", n, before)
		}
	})
	return g
}

// newPair attaches one end of a new socket pair to g.
func newPair(t *testing.T, g *pollGroup) *pair {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[1]), "peer")
	peer, err := net.FileConn(f)
	f.Close()
	if err != nil {
		unix.Close(fds[0])
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	p := &pair{peer: peer, msgs: make(chan msg, 16), closed: make(chan struct{})}
	p.c = &epConn{
		fd:        fds[0],
		onMessage: func(data []byte, binary bool) { p.msgs <- msg{string(data), binary} },
		onClose:   func() { p.closes++; close(p.closed) },
		done:      make(chan struct{}),
	}
	epollFDs.Add(1)
	if err := g.attach(p.c); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pair) write(t *testing.T, b []byte) {
	t.Helper()
	_ = p.peer.SetWriteDeadline(time.Now().Add(wait))
	if _, err := p.peer.Write(b); err != nil {
		t.Fatalf("peer write: %v", err)
	}
}

// frame reads one client frame on the peer and returns it unmasked.
func (p *pair) frame(t *testing.T) (ws.OpCode, string) {
	t.Helper()
	_ = p.peer.SetReadDeadline(time.Now().Add(wait))
	h, err := ws.ReadHeader(p.peer)
	if err != nil {
		t.Fatalf("peer read: %v", err)
	}
	if !h.Fin || !h.Masked {
		t.Fatalf("client frame %+v, want final and masked", h)
	}
	b := make([]byte, h.Length)
	if _, err := io.ReadFull(p.peer, b); err != nil {
		t.Fatalf("peer read: %v", err)
	}
	ws.Cipher(b, h.Mask, 0)
	return h.OpCode, string(b)
}

func (p *pair) message(t *testing.T) msg {
	t.Helper()
	select {
	case m := <-p.msgs:
		return m
	case <-time.After(wait):
		t.Fatal("no message")
	}
	return msg{}
}

// ended waits for the connection's end and checks its bookkeeping.
func (p *pair) ended(t *testing.T) {
	t.Helper()
	select {
	case <-p.c.Done():
	case <-time.After(wait):
		t.Fatal("connection did not end")
	}
	select {
	case <-p.closed:
	default:
		t.Fatal("Done closed before onClose ran")
	}
	if p.closes != 1 {
		t.Errorf("onClose called %d times", p.closes)
	}
	if err := p.c.SendText([]byte("late")); err == nil {
		t.Error("SendText on an ended connection succeeded")
	}
}

// eof waits for the peer to read the end of the stream.
func (p *pair) eof(t *testing.T) {
	t.Helper()
	_ = p.peer.SetReadDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(p.peer)
	if err != nil {
		t.Fatalf("peer read to EOF: %v (after %q)", err, b)
	}
}

func TestEpollConnGoldenFrames(t *testing.T) {
	p := newPair(t, newGroup(t, 1))

	p.write(t, frameHello)
	if m := p.message(t); m != (msg{"hello", false}) {
		t.Errorf("message %+v", m)
	}
	// An Engine.IO ping is answered by a pong in a masked text frame; a
	// WebSocket ping by a masked pong frame with its payload.
	p.write(t, framePing)
	if op, b := p.frame(t); op != ws.OpText || b != "3" {
		t.Errorf("answer to ping: opcode %d %q, want text \"3\"", op, b)
	}
	p.write(t, frameWSPing)
	if op, b := p.frame(t); op != ws.OpPong || b != "hi" {
		t.Errorf("answer to websocket ping: opcode %d %q, want pong \"hi\"", op, b)
	}
	// A frame over several writes, two frames in one write, a binary
	// frame, 16-bit and 64-bit lengths (more than the poller reads at once).
	p.write(t, frameHello[:1])
	p.write(t, frameHello[1:4])
	p.write(t, frameHello[4:])
	p.write(t, cat([]byte("\x81\x024a"), []byte("\x81\x024b"), frameBinary))
	big16 := strings.Repeat("m", 60000)
	p.write(t, cat([]byte{0x81, 126, 0xea, 0x61}, []byte("4"+big16)))
	big64 := strings.Repeat("n", 100000)
	p.write(t, cat([]byte{0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x86, 0xa1}, []byte("4"+big64)))
	for i, want := range []msg{{"hello", false}, {"a", false}, {"b", false}, {"\x01\x02\x03", true}, {big16, false}, {big64, false}} {
		if m := p.message(t); m != want {
			t.Errorf("message %d: %.40q (%d bytes), want %.40q", i, m.data, len(m.data), want.data)
		}
	}
	// Sends are Engine.IO messages in masked text frames.
	if err := p.c.SendText([]byte("0")); err != nil {
		t.Fatal(err)
	}
	if op, b := p.frame(t); op != ws.OpText || b != "40" {
		t.Errorf("sent opcode %d %q, want text \"40\"", op, b)
	}
	// A close frame is answered with the same status, then the connection
	// ends and the socket is closed.
	p.write(t, frameClose)
	if op, b := p.frame(t); op != ws.OpClose || b != "\x03\xe8" {
		t.Errorf("answer to close: opcode %d %q, want close 1000", op, b)
	}
	p.ended(t)
	p.eof(t)
	if p.c.fr.pending() != 0 {
		t.Errorf("%d bytes held after the end", p.c.fr.pending())
	}
}

func TestEpollConnEnds(t *testing.T) {
	g := newGroup(t, 2)
	for name, end := range map[string]func(t *testing.T, p *pair){
		"engine.io close": func(t *testing.T, p *pair) { p.write(t, []byte("\x81\x011")) },
		"eof":             func(t *testing.T, p *pair) { p.peer.Close() },
		"masked frame":    func(t *testing.T, p *pair) { p.write(t, []byte("\x81\x81abcdX")) },
		"bad packet":      func(t *testing.T, p *pair) { p.write(t, []byte("\x81\x01x")) },
		"empty packet":    func(t *testing.T, p *pair) { p.write(t, []byte("\x81\x00")) },
	} {
		t.Run(name, func(t *testing.T) {
			p := newPair(t, g)
			end(t, p)
			p.ended(t)
			select {
			case m := <-p.msgs:
				t.Errorf("message %+v", m)
			default:
			}
		})
	}
}

func TestEpollConnClose(t *testing.T) {
	p := newPair(t, newGroup(t, 1))
	if err := p.c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.c.Close(); err != nil {
		t.Fatal(err)
	}
	// The server gets the Engine.IO close packet, a close frame, the end.
	if op, b := p.frame(t); op != ws.OpText || b != "1" {
		t.Errorf("opcode %d %q, want text \"1\"", op, b)
	}
	if op, b := p.frame(t); op != ws.OpClose || b != "\x03\xe8" {
		t.Errorf("opcode %d %q, want close 1000", op, b)
	}
	p.eof(t)
	p.ended(t)
}

func TestEpollConcurrentSendsDoNotInterleave(t *testing.T) {
	p := newPair(t, newGroup(t, 1))
	const senders, each = 8, 200
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			// Long enough that a frame takes several writes when the
			// socket buffer is full.
			b := bytes.Repeat([]byte{byte('a' + i)}, 3000)
			for range each {
				if err := p.c.SendText(b); err != nil {
					t.Errorf("SendText: %v", err)
					return
				}
			}
		})
	}
	for range senders * each {
		op, b := p.frame(t)
		if op != ws.OpText || len(b) != 3001 || b[0] != '4' || strings.Count(b, b[1:2]) != 3000 {
			t.Fatalf("frame opcode %d of %d bytes: %.20q", op, len(b), b)
		}
	}
	wg.Wait()
}

func TestEpollGroupCloseEndsEverything(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	before := epollFDs.Load()
	g, err := newPollGroup(2)
	if err != nil {
		t.Fatal(err)
	}
	var ps []*pair
	for range 5 {
		ps = append(ps, newPair(t, g))
	}
	g.close()
	g.close()
	for _, p := range ps {
		p.ended(t)
		p.eof(t)
	}
	if n := epollFDs.Load(); n != before {
		t.Errorf("%d descriptors open, want %d", n, before)
	}
	goleak.VerifyNone(t, leaks)
	// A stopped group takes no more connections, and closes what it is
	// given.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	epollFDs.Add(1)
	c := &epConn{fd: fds[0], onMessage: func([]byte, bool) {}, done: make(chan struct{})}
	if err := g.attach(c); !errors.Is(err, errPollerStopped) {
		t.Errorf("attach after close: %v", err)
	}
	if n := epollFDs.Load(); n != before {
		t.Errorf("%d descriptors open, want %d", n, before)
	}
}

// wsServer serves WebSocket upgrades at /socket.io/ and runs serve on each;
// it returns the server's URL.
func wsServer(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	var wg sync.WaitGroup
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		wg.Go(func() {
			defer c.Close()
			serve(c)
		})
	}))
	t.Cleanup(func() {
		hs.Close()
		wg.Wait()
	})
	return hs.URL
}

func TestEpollDialHandshake(t *testing.T) {
	// The open packet and a message sent with it in one write: the message
	// is handled before the poller has the connection, the connection then
	// receives what follows and answers the server's ping.
	release := make(chan struct{})
	pong := make(chan string, 1)
	url := wsServer(t, func(c net.Conn) {
		_, _ = c.Write(cat(serverText(`0{"sid":"s","pingInterval":25000,"pingTimeout":20000}`), serverText("4a")))
		<-release
		_, _ = c.Write(cat([]byte("\x81\x024b"), framePing))
		_ = c.SetReadDeadline(time.Now().Add(wait))
		h, err := ws.ReadHeader(c)
		if err != nil {
			pong <- err.Error()
			return
		}
		b := make([]byte, h.Length)
		_, _ = io.ReadFull(c, b)
		ws.Cipher(b, h.Mask, 0)
		pong <- string(b)
		_, _ = io.Copy(io.Discard, c)
	})
	target, _, err := wsTarget(url + "/socket.io/")
	if err != nil {
		t.Fatal(err)
	}
	g := newGroup(t, 1)
	msgs := make(chan string, 4)
	closed := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var d net.Dialer
	l, err := g.dial(ctx, target, d.DialContext, func(b []byte, _ bool) { msgs <- string(b) }, func() { close(closed) })
	if err != nil {
		t.Fatal(err)
	}
	if got := recv(t, msgs); got != "a" {
		t.Errorf("first message %q", got)
	}
	close(release)
	if got := recv(t, msgs); got != "b" {
		t.Errorf("second message %q", got)
	}
	if got := recv(t, pong); got != "3" {
		t.Errorf("pong %q", got)
	}
	_ = l.Close()
	recv(t, l.Done())
	recv(t, closed)
}

// recv receives from ch within the tests' bound.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatal("nothing received")
	}
	var zero T
	return zero
}

// serverText is a server's text frame holding s.
func serverText(s string) []byte {
	b, err := ws.CompileFrame(ws.NewTextFrame([]byte(s)))
	if err != nil {
		panic(err)
	}
	return b
}

func TestEpollDialRefusesBadOpen(t *testing.T) {
	for name, first := range map[string][]byte{
		"message first":   []byte("\x81\x024a"),
		"bad open packet": []byte("\x81\x030{}"),
		"masked":          []byte("\x81\x81abcdX"),
		"closed":          nil,
	} {
		t.Run(name, func(t *testing.T) {
			url := wsServer(t, func(c net.Conn) { _, _ = c.Write(first) })
			target, _, _ := wsTarget(url + "/socket.io/")
			g := newGroup(t, 1)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			var d net.Dialer
			l, err := g.dial(ctx, target, d.DialContext, func([]byte, bool) { t.Error("message") }, func() { t.Error("onClose") })
			if err == nil {
				l.Close()
				t.Fatal("dial succeeded")
			}
		})
	}
}
