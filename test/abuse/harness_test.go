package abuse_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

// wait bounds every wait of these tests. It is generous: the machine is
// small and shared, and no pass/fail check depends on timing.
const wait = 20 * time.Second

// quiet discards the server's diagnostics.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is a Socket.IO server on a loopback port, served by an http.Server
// configured as the package documentation recommends (ReadHeaderTimeout,
// MaxHeaderBytes). Every socket of "/" acknowledges "echo" with its
// arguments, for the control client.
type env struct {
	io   *socketio.Server
	hs   *http.Server
	addr string // host:port
	url  string // http://host:port
}

// newEnv starts a server; setup may register handlers before it serves.
// The server is closed when the test ends.
func newEnv(t testing.TB, opts *socketio.Options, setup func(io *socketio.Server)) *env {
	t.Helper()
	var o socketio.Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = quiet
	}
	eo := engineio.Options{}
	if o.Engine != nil {
		eo = *o.Engine
	}
	if eo.Logger == nil {
		eo.Logger = quiet
	}
	// Short heartbeats, so that abandoned sessions go (and Close, which
	// waits up to PingTimeout for a polling client's last GET) in seconds.
	if eo.PingInterval == 0 {
		eo.PingInterval = 2 * time.Second
	}
	if eo.PingTimeout == 0 {
		eo.PingTimeout = time.Second
	}
	o.Engine = &eo
	srv := socketio.NewServer(&o)
	srv.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(_ *socketio.Socket, args socketio.Args, ack socketio.Ack) {
			if ack != nil {
				_ = ack(args)
			}
		})
	})
	if setup != nil {
		setup(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: time.Second,
		MaxHeaderBytes:    64 << 10,
		IdleTimeout:       5 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = hs.Serve(ln) }()
	e := &env{io: srv, hs: hs, addr: ln.Addr().String()}
	e.url = "http://" + e.addr
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("server close: %v", err)
		}
		_ = hs.Close()
		<-done
	})
	return e
}

// dialerFrom returns a dial function binding the local address ip (any
// 127.0.0.0/8 address is local), so that one test can act as many hosts.
func dialerFrom(ip string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return d.DialContext
}

// httpFrom returns an HTTP client whose connections come from ip. The
// test must call CloseIdleConnections.
func httpFrom(ip string) *http.Client {
	return &http.Client{
		Transport: &http.Transport{DialContext: dialerFrom(ip), MaxIdleConnsPerHost: 64, DisableCompression: true},
		Timeout:   wait,
	}
}

// rawWS opens a raw Engine.IO 4 WebSocket from ip, for clients that
// misbehave; the open packet is left unread.
func (e *env) rawWS(t testing.TB, ip string) net.Conn {
	t.Helper()
	conn, err := e.tryRawWS(ip, nil)
	if err != nil {
		t.Fatalf("websocket from %s: %v", ip, err)
	}
	return conn
}

func (e *env) tryRawWS(ip string, d *ws.Dialer) (net.Conn, error) {
	if d == nil {
		d = &ws.Dialer{}
	}
	d.NetDial = dialerFrom(ip)
	d.Timeout = wait
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, br, _, err := d.Dial(ctx, "ws://"+e.addr+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if br != nil {
		ws.PutReader(br)
	}
	return conn, nil
}

// writeText sends one masked text frame.
func writeText(conn net.Conn, s string) error {
	return ws.WriteFrame(conn, ws.MaskFrame(ws.NewTextFrame([]byte(s))))
}

// readUntilClose reads server frames until a close frame or the end of
// the connection, and returns the close code (0 when there was none).
func readUntilClose(conn net.Conn) (ws.StatusCode, []string) {
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	var texts []string
	for {
		f, err := ws.ReadFrame(conn)
		if err != nil {
			return 0, texts
		}
		switch f.Header.OpCode {
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(f.Payload)
			return code, texts
		case ws.OpText:
			texts = append(texts, string(f.Payload))
		}
	}
}

// control is a well-behaved Socket.IO client over WebSocket that sends
// "echo" with an acknowledgement every 20 ms while an abuse test runs. It
// must keep working; its round-trip latencies are reported.
type control struct {
	sock    *client.Socket
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	samples []time.Duration
	err     error
	ticks   atomic.Int64 // "tick" events received
}

func (e *env) startControl(t testing.TB) *control {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sock, err := client.Dial(ctx, e.url, &client.DialOptions{Manager: client.ManagerOptions{
		Engine:              client.EngineOptions{Transports: []string{engineio.TransportWebSocket}},
		DisableReconnection: true,
	}})
	if err != nil {
		t.Fatalf("control client: %v", err)
	}
	c := &control{sock: sock, stop: make(chan struct{}), done: make(chan struct{})}
	sock.On("tick", func(socketio.Args, socketio.Ack) { c.ticks.Add(1) })
	go c.loop()
	t.Cleanup(func() { c.halt(); sock.Disconnect() })
	return c
}

func (c *control) loop() {
	defer close(c.done)
	tick := time.NewTicker(20 * time.Millisecond) // pacing, not waiting
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		start := time.Now()
		args, err := c.sock.EmitWithAck(ctx, "echo", i)
		rtt := time.Since(start)
		cancel()
		var got int
		if err == nil {
			err = args.Decode(0, &got)
			if err == nil && got != i {
				err = fmt.Errorf("echo %d came back as %d", i, got)
			}
		}
		c.mu.Lock()
		if err != nil {
			c.err = fmt.Errorf("control echo %d: %w", i, err)
			c.mu.Unlock()
			return
		}
		c.samples = append(c.samples, rtt)
		c.mu.Unlock()
	}
}

func (c *control) halt() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

// report stops the control client, fails the test if any of its echoes
// failed, and logs its latency under label.
func (c *control) report(t testing.TB, label string) {
	t.Helper()
	c.halt()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		t.Errorf("%s: the control client failed: %v", label, c.err)
	}
	if len(c.samples) == 0 {
		// At least one echo must complete; wait for it rather than fail a
		// short abuse that ended before the first tick.
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		start := time.Now()
		if _, err := c.sock.EmitWithAck(ctx, "echo", 0); err != nil {
			t.Errorf("%s: the control client failed: %v", label, err)
			return
		}
		c.samples = append(c.samples, time.Since(start))
	}
	s := slices.Clone(c.samples)
	slices.Sort(s)
	pct := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	figure(t, "%s: control echo p50 %v p99 %v max %v (%d echoes)", label,
		pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), s[len(s)-1].Round(10*time.Microsecond), len(s))
	if !c.sock.Connected() {
		t.Errorf("%s: the control client was disconnected", label)
	}
}

// figure logs a measured figure; RELIABILITY.md records them.
func figure(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Logf("figure: "+format, args...)
}

// heapAfterGC returns the live heap in bytes.
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// eventually waits until cond holds, checking it every few milliseconds
// (goroutine counts and session counts have no event to wait on), at most
// wait; it reports whether cond held.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// mib formats a byte count.
func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

// kib formats a byte count.
func kib(n int64) string { return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10)) }

// steadyGoroutines returns the goroutine count once it has not changed
// for 100 ms (connections closed by a peer end their goroutines a moment
// later), or after wait.
func steadyGoroutines() int {
	n, same := serverGoroutines(), 0
	eventually(func() bool {
		m := serverGoroutines()
		if m == n {
			same++
		} else {
			n, same = m, 0
		}
		return same >= 20
	})
	return n
}

// goroutineSummary counts the running goroutines by the function that
// created them, for failure messages.
func goroutineSummary() string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	counts := map[string]int{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		key := "?"
		if i := strings.LastIndex(g, "created by "); i >= 0 {
			key = strings.SplitN(g[i+len("created by "):], "\n", 2)[0]
		}
		lines := strings.SplitN(g, "\n", 3)
		if len(lines) > 1 {
			key = lines[1] + " <- " + key
		}
		counts[key]++
	}
	var out []string
	for k, n := range counts {
		out = append(out, fmt.Sprintf("%4d %s", n, k))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// serverGoroutines counts the goroutines that are not part of a bounded
// pool: the socketio worker pool keeps up to 64 idle workers (each leaves
// after 2 s without work, which a control client sending every 20 ms
// never gives them) and the engineio flushers one per CPU.
func serverGoroutines() int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "socketio.(*workers).run") || strings.Contains(g, "engineio.(*flushers).run") {
			continue
		}
		n++
	}
	return n
}
