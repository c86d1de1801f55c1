package abuse_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlowloris: clients that send half a request header, that stall in
// the middle of a POST body, that hold polling GETs, and that send
// oversized handshake headers. The http.Server's ReadHeaderTimeout (1 s
// here) drops the half-written headers; the engine bounds the stalled
// bodies by the heartbeat; held GETs are answered at the next ping and
// the sessions then reaped; every resource comes back.
func TestSlowloris(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctl := e.startControl(t)
	g0 := serverGoroutines()
	h0 := heapAfterGC()

	const halfHeaders, stalledBodies, heldGETs = 300, 50, 100
	var conns []net.Conn
	dial := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: wait}
		c, err := d.Dial("tcp", e.addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
		return c
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()

	// Half-written headers.
	for i := range halfHeaders {
		c := dial(fmt.Sprintf("127.0.2.%d", 1+i%50))
		_, _ = io.WriteString(c, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	}
	// POSTs whose body stalls after 10 of 1,000 announced bytes.
	hc := httpFrom("127.0.2.100")
	defer hc.CloseIdleConnections()
	for range stalledBodies {
		sid := pollHandshake(t, hc, e.url)
		c := dial("127.0.2.101")
		_, _ = fmt.Fprintf(c, "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n40........", sid)
	}
	// Sessions holding a GET and never polling again.
	for range heldGETs {
		sid := pollHandshake(t, hc, e.url)
		c := dial("127.0.2.102")
		_, _ = fmt.Fprintf(c, "GET /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", sid)
	}
	gPeak := serverGoroutines()
	hPeak := heapAfterGC()

	// Handshakes whose headers exceed the engine's MaxHeaderBytes (16 KiB)
	// and net/http's (64 KiB here) are refused with 431.
	for _, size := range []int{20 << 10, 100 << 10} {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/socket.io/?EIO=4&transport=polling", nil)
		req.Header.Set("X-Big", strings.Repeat("b", size))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("big header: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%d KiB header: status %d %q, want 431", size>>10, resp.StatusCode, body)
		}
		if size == 20<<10 && !strings.Contains(string(body), `"message":"request header too large"`) {
			t.Errorf("20 KiB header: body %q, want the Engine.IO error", body)
		}
	}

	// Every hostile connection is closed by the server: reads end.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var notClosed int
	var answers [3]int
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(wait))
			br := bufio.NewReader(c)
			for {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						mu.Lock()
						notClosed++
						mu.Unlock()
					}
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				switch {
				case i < halfHeaders:
					answers[0]++
				case i < halfHeaders+stalledBodies:
					answers[1]++
				default:
					answers[2]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if notClosed > 0 {
		t.Errorf("%d hostile connections still open after %v", notClosed, wait)
	}
	if answers[2] != heldGETs {
		t.Errorf("%d of %d held GETs answered", answers[2], heldGETs)
	}
	for _, c := range conns {
		c.Close()
	}
	hc.CloseIdleConnections()
	if !eventually(func() bool { return e.io.Engine().Count() == 1 && serverGoroutines() <= g0+5 }) {
		t.Errorf("after the slowloris clients: %d sessions (1: the control client), %d goroutines (were %d):\n%s", e.io.Engine().Count(), serverGoroutines(), g0, goroutineSummary())
	}
	g1, h1 := serverGoroutines(), heapAfterGC()
	figure(t, "slowloris: %d half headers, %d stalled POST bodies, %d held GETs: goroutines %d -> %d -> %d, live heap %s -> %s -> %s; every connection closed by the server (%d half headers answered before the close, %d stalled POSTs answered 400 after PingInterval+PingTimeout); 20 KiB / 100 KiB handshake headers refused with 431",
		halfHeaders, stalledBodies, heldGETs, g0, gPeak, g1, mib(int64(h0)), mib(int64(hPeak)), mib(int64(h1)), answers[0], answers[1])
	ctl.report(t, "slowloris")
}
