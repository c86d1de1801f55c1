package abuse_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

// dialSmall opens a raw WebSocket from ip with a 4 KiB receive buffer,
// so that a client that never reads pushes back at once instead of
// letting the kernel absorb megabytes.
func (e *env) dialSmall(t testing.TB, ip string) net.Conn {
	t.Helper()
	nd := &net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)},
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	d := ws.Dialer{NetDial: nd.DialContext, Timeout: wait}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, br, _, err := d.Dial(ctx, "ws://"+e.addr+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		t.Fatalf("websocket from %s: %v", ip, err)
	}
	if br != nil {
		ws.PutReader(br)
	}
	return conn
}

// TestNeverReadingClients: clients that connect and then never read (40
// over WebSocket with a 4 KiB receive window, 10 over polling that never
// poll again) while the server broadcasts 1 KiB events. Each is
// disconnected with "transport error" once its queue would pass
// MaxQueuedBytes (4 MiB, the default); the server's live heap stays
// bounded meanwhile and returns afterwards. The control client, which
// reads, keeps every event.
func TestNeverReadingClients(t *testing.T) {
	var mu sync.Mutex
	reasons := map[string]int{}
	e := newEnv(t, &socketio.Options{Engine: &engineio.Options{PingInterval: time.Minute}}, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			s.OnDisconnect(func(_ *socketio.Socket, reason string) {
				mu.Lock()
				reasons[reason]++
				mu.Unlock()
			})
		})
	})
	ctl := e.startControl(t)
	h0 := heapAfterGC()

	const wsN, pollN = 40, 10
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range wsN {
		c := e.dialSmall(t, "127.0.5.1")
		if err := writeText(c, "40"); err != nil {
			t.Fatalf("CONNECT: %v", err)
		}
		conns = append(conns, c)
	}
	hc := httpFrom("127.0.5.2")
	defer hc.CloseIdleConnections()
	for range pollN {
		sid := pollHandshake(t, hc, e.url)
		resp, err := hc.Post(e.url+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain", strings.NewReader("40"))
		if err != nil {
			t.Fatalf("CONNECT over polling: %v", err)
		}
		resp.Body.Close()
	}
	hc.CloseIdleConnections()
	root := e.io.Of("/")
	if !eventually(func() bool { return len(root.Sockets()) == 1+wsN+pollN }) {
		t.Fatalf("%d sockets connected, want %d", len(root.Sockets()), 1+wsN+pollN)
	}

	payload := strings.Repeat("x", 1024)
	peak := h0
	sent := 0
	disconnected := func() int {
		mu.Lock()
		defer mu.Unlock()
		return reasons["transport error"]
	}
	for disconnected() < wsN+pollN {
		if sent >= 50_000 {
			t.Fatalf("after %d broadcasts only %d of %d never-reading clients were disconnected", sent, disconnected(), wsN+pollN)
		}
		for range 250 {
			if err := e.io.Emit("tick", payload); err != nil {
				t.Fatalf("broadcast: %v", err)
			}
			sent++
		}
		// The control client reads: let it catch up, as any reader would
		// before the next burst, so that only never-readers fall behind.
		if !eventually(func() bool { return ctl.ticks.Load() == int64(sent) }) {
			t.Fatalf("the control client received %d of %d broadcasts", ctl.ticks.Load(), sent)
		}
		if sent%1000 == 0 {
			peak = max(peak, heapAfterGC())
		}
	}
	h1 := heapAfterGC()
	mu.Lock()
	got := fmt.Sprint(reasons)
	mu.Unlock()
	if disconnected() != wsN+pollN {
		t.Errorf("disconnect reasons %s, want %d transport error", got, wsN+pollN)
	}
	figure(t, "never-reading clients: %d (%d WebSocket, %d polling) disconnected with \"transport error\" (slow consumer, MaxQueuedBytes 4 MiB) after %d broadcasts of 1 KiB; live heap %s before, peak %s (%s per never-reading client; the queued events are shared), %s after",
		wsN+pollN, wsN, pollN, sent, mib(int64(h0)), mib(int64(peak)), kib((int64(peak)-int64(h0))/(wsN+pollN)), mib(int64(h1)))
	ctl.report(t, "never-reading clients")
}

// TestGracefulCloseOfNonReader: the server closes, gracefully, a
// WebSocket client that never reads while megabytes wait for it (a
// Disconnect(true), a rate-limit disconnect, Server.Close). The flush of
// the remaining queue is bounded by PingTimeout: the connection is cut
// then, and no goroutine waits on the stuck write.
func TestGracefulCloseOfNonReader(t *testing.T) {
	victim := make(chan *socketio.Socket, 1)
	e := newEnv(t, &socketio.Options{Engine: &engineio.Options{PingInterval: time.Minute}}, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			if strings.Contains(string(s.Handshake().Auth), "victim") {
				victim <- s
			}
		})
	})
	ctl := e.startControl(t)
	c := e.dialSmall(t, "127.0.5.3")
	defer c.Close()
	if err := writeText(c, `40{"role":"victim"}`); err != nil {
		t.Fatalf("CONNECT: %v", err)
	}
	var s *socketio.Socket
	select {
	case s = <-victim:
	case <-time.After(wait):
		t.Fatal("the victim did not connect")
	}
	payload := strings.Repeat("y", 1024)
	for range 3000 { // 3 MiB: under MaxQueuedBytes, far over the socket buffers
		if err := s.Emit("fill", payload); err != nil {
			t.Fatalf("emit: %v", err)
		}
	}
	start := time.Now()
	s.Disconnect(true)
	stuck := func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "engineio.(*Session).flush")
	}
	if !eventually(func() bool { return !stuck() && e.io.Engine().Count() == 1 }) {
		t.Fatalf("a flush to the non-reading client is still running %v after the close", wait)
	}
	elapsed := time.Since(start)
	// The server has let go of the connection: reading it now ends (after
	// what the kernel still holds) instead of waiting.
	_ = c.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.Copy(io.Discard, c); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the server still holds the connection to the non-reading client")
		}
	}
	figure(t, "graceful close of a non-reading client with 3 MiB queued: connection cut and flusher gone %v after Disconnect(true) (bound: PingTimeout = 1 s here)",
		elapsed.Round(time.Millisecond))
	ctl.report(t, "graceful close of a non-reader")
}

// TestNeverReadingPollingClient: a polling client that keeps sending GETs
// on a connection whose responses it never reads (a 4 KiB receive
// window), while events are broadcast. Once the kernel buffers are full
// the server's write blocks; it is bounded by PingInterval +
// PingTimeout, so the request's goroutine and connection go even though
// the client keeps the connection open.
func TestNeverReadingPollingClient(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctl := e.startControl(t)
	hc := httpFrom("127.0.5.4")
	defer hc.CloseIdleConnections()
	sid := pollHandshake(t, hc, e.url)
	resp, err := hc.Post(e.url+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain", strings.NewReader("40"))
	if err != nil {
		t.Fatalf("CONNECT: %v", err)
	}
	resp.Body.Close()
	nd := &net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.5.4")},
		Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
		},
	}
	conn, err := nd.Dial("tcp", e.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	// Pipelined GETs, never read.
	go func() {
		for range 200 {
			if _, err := fmt.Fprintf(conn, "GET /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", sid); err != nil {
				return
			}
		}
	}()
	payload := strings.Repeat("p", 1024)
	writing := func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "engineio.(*Session).servePoll")
	}
	sent := 0
	for sent < 8000 {
		for range 250 {
			_ = e.io.Emit("tick", payload)
			sent++
		}
		if !eventually(func() bool { return ctl.ticks.Load() == int64(sent) }) {
			t.Fatalf("the control client received %d of %d broadcasts", ctl.ticks.Load(), sent)
		}
	}
	start := time.Now()
	if !eventually(func() bool { return !writing() && e.io.Engine().Count() == 1 }) {
		t.Fatalf("a polling response to the non-reading client is still being written %v later", wait)
	}
	figure(t, "never-reading polling client: its stuck response write given up %v after the broadcasts ended (bound: PingInterval + PingTimeout = 3 s here), its session closed; before the fix the write stayed blocked for as long as the client kept the connection",
		time.Since(start).Round(10*time.Millisecond))
	ctl.report(t, "never-reading polling client")
}
