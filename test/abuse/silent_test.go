package abuse_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

// silentCount is the number of silent connections of TestSilentConnections:
// 5,000 (4,000 WebSocket and 1,000 polling); HERALD_ABUSE_SILENT changes it.
func silentCount() int {
	if n, err := strconv.Atoi(os.Getenv("HERALD_ABUSE_SILENT")); err == nil && n > 0 {
		return n
	}
	return 5000
}

// TestSilentConnections: 5,000 clients from ten source addresses complete
// the Engine.IO handshake and then say nothing, not even a pong. The ping
// timeout closes every one of them; their goroutines and memory are
// released.
func TestSilentConnections(t *testing.T) {
	// The heartbeat outlasts the handshakes (2-4 s; under the race
	// detector they take longer, and the first sessions time out before the
	// last are open: the figures in RELIABILITY.md are from a run without).
	e := newEnv(t, &socketio.Options{Engine: &engineio.Options{PingInterval: 4 * time.Second, PingTimeout: time.Second}}, nil)
	ctl := e.startControl(t)
	g0, h0 := serverGoroutines(), heapAfterGC()

	total := silentCount()
	polling := total / 5
	wsN := total - polling
	addrs := make([]string, 10)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.3.%d", i+1)
	}
	conns := make([]net.Conn, wsN)
	var failed atomic.Int32
	var wg sync.WaitGroup
	start := time.Now()
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < wsN; i += 8 {
				c, err := e.tryRawWS(addrs[i%len(addrs)], nil)
				if err != nil {
					failed.Add(1)
					continue
				}
				conns[i] = c
			}
		}()
	}
	var pollClients []*http.Client
	for i := range addrs {
		pollClients = append(pollClients, httpFrom(addrs[i]))
	}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < polling; i += 4 {
				if _, status, err := tryPollHandshake(pollClients[i%len(addrs)], e.url); err != nil || status != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for _, hc := range pollClients {
		hc.CloseIdleConnections()
	}
	dialTime := time.Since(start)
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d handshakes failed", n, total)
	}
	open := e.io.Engine().Count() - 1 // the control client is not silent
	gPeak, hPeak := serverGoroutines(), heapAfterGC()

	// Every WebSocket is closed by the server: the open packet, a ping,
	// then the end of the connection.
	var notClosed atomic.Int32
	var sawPing atomic.Int32
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < wsN; i += 16 {
				c := conns[i]
				_ = c.SetReadDeadline(time.Now().Add(wait))
				for {
					f, err := ws.ReadFrame(c)
					if err != nil {
						if ne, ok := err.(net.Error); ok && ne.Timeout() {
							notClosed.Add(1)
						} else if err != io.EOF && !strings.Contains(err.Error(), "reset") && err != io.ErrUnexpectedEOF {
							notClosed.Add(1)
						}
						break
					}
					if f.Header.OpCode == ws.OpText && string(f.Payload) == "2" {
						sawPing.Add(1)
					}
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	if n := notClosed.Load(); n > 0 {
		t.Errorf("%d silent WebSocket connections were not closed by the server", n)
	}
	if !eventually(func() bool { return e.io.Engine().Count() == 1 && serverGoroutines() <= g0+5 }) {
		t.Errorf("after the ping timeout: %d sessions open (1: the control client), %d goroutines (were %d):\n%s", e.io.Engine().Count(), serverGoroutines(), g0, goroutineSummary())
	}
	for _, a := range addrs {
		if n := e.io.Engine().ConnectionsFrom(a); n != 0 {
			t.Errorf("%s still counts %d connections", a, n)
		}
	}
	g1, h1 := serverGoroutines(), heapAfterGC()
	if h1 > h0+8<<20 {
		t.Errorf("live heap %s after the silent connections closed, %s before", mib(int64(h1)), mib(int64(h0)))
	}
	figure(t, "silent connections: %d (%d WebSocket, %d polling) from %d addresses opened in %v; %d open at once; all closed by the ping timeout (%d WebSockets had been pinged); goroutines %d -> %d -> %d; live heap %s -> %s -> %s (%s per silent connection, client side included)",
		total, wsN, polling, len(addrs), dialTime.Round(time.Millisecond), open, sawPing.Load(), g0, gPeak, g1,
		mib(int64(h0)), mib(int64(hPeak)), mib(int64(h1)), kib((int64(hPeak)-int64(h0))/int64(total)))
	ctl.report(t, "5,000 silent connections")
}

// TestConnectionFlood: handshakes from many source addresses, more than
// MaxConnectionsPerIP (1,000 by default) from each. The excess is refused
// with 429 and the Engine.IO error body, before any WebSocket is
// hijacked; the slots come back when the sessions close.
func TestConnectionFlood(t *testing.T) {
	e := newEnv(t, &socketio.Options{Engine: &engineio.Options{PingInterval: time.Minute}}, nil)
	ctl := e.startControl(t)
	addrs, perAddr := 3, 1100
	if raceEnabled {
		addrs = 2 // handshakes are ten times slower under the race detector
	}
	var sidsMu sync.Mutex
	var sids []string // the sessions of 127.0.4.1
	var ok, refused, other atomic.Int32
	var badBody atomic.Value
	var wg sync.WaitGroup
	clients := make([]*http.Client, addrs)
	start := time.Now()
	for a := range addrs {
		clients[a] = httpFrom(fmt.Sprintf("127.0.4.%d", a+1))
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < perAddr; i += 4 {
					body, status, err := tryPollHandshake(clients[a], e.url)
					switch {
					case err == nil && status == http.StatusOK:
						ok.Add(1)
						if a == 0 {
							sidsMu.Lock()
							sids = append(sids, body)
							sidsMu.Unlock()
						}
					case err == nil && status == http.StatusTooManyRequests:
						refused.Add(1)
						if body != `{"code":4,"message":"too many connections"}` {
							badBody.Store(body)
						}
					default:
						other.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, hc := range clients {
		hc.CloseIdleConnections()
	}
	wantOK, wantRefused := int32(addrs*engineio.DefaultMaxConnectionsPerIP), int32(addrs*(perAddr-engineio.DefaultMaxConnectionsPerIP))
	if ok.Load() != wantOK || refused.Load() != wantRefused || other.Load() != 0 {
		t.Errorf("accepted %d, refused %d, other %d; want %d, %d, 0", ok.Load(), refused.Load(), other.Load(),
			addrs*engineio.DefaultMaxConnectionsPerIP, addrs*(perAddr-engineio.DefaultMaxConnectionsPerIP))
	}
	if b := badBody.Load(); b != nil {
		t.Errorf("refusal body %q", b)
	}
	// A WebSocket from a full address is refused before the upgrade.
	if _, err := e.tryRawWS("127.0.4.1", nil); err == nil || !strings.Contains(err.Error(), "429") {
		t.Errorf("WebSocket from a full address: %v, want a 429 refusal", err)
	}
	// The client closes its sessions (close packet); the slots come back.
	closer := httpFrom("127.0.4.1")
	defer closer.CloseIdleConnections()
	var closeErr atomic.Value
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(sids); i += 8 {
				resp, err := closer.Post(e.url+"/socket.io/?EIO=4&transport=polling&sid="+sids[i], "text/plain;charset=UTF-8", strings.NewReader("1"))
				if err != nil {
					closeErr.Store(err)
					return
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if err, _ := closeErr.Load().(error); err != nil {
		t.Fatalf("close packet: %v", err)
	}
	if !eventually(func() bool { return e.io.Engine().ConnectionsFrom("127.0.4.1") == 0 }) {
		t.Fatalf("127.0.4.1 still holds %d slots", e.io.Engine().ConnectionsFrom("127.0.4.1"))
	}
	c, err := e.tryRawWS("127.0.4.1", nil)
	if err != nil {
		t.Fatalf("WebSocket after the sessions closed: %v", err)
	}
	c.Close()
	figure(t, "connection flood: %d handshakes from %d addresses in %v: %d accepted, %d refused with 429 {\"code\":4,\"message\":\"too many connections\"}; slots given back on close",
		addrs*perAddr, addrs, elapsed.Round(time.Millisecond), ok.Load(), refused.Load())
	ctl.report(t, "connection flood")
}
