package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/engineio"
)

// command is one instruction from the coordinator to a worker, a JSON line.
type command struct {
	Op          string `json:"op"` // connect, expect, report, echo, close
	URL         string `json:"url,omitempty"`
	Path        string `json:"path,omitempty"`
	Transport   string `json:"transport,omitempty"`
	Source      string `json:"source,omitempty"`
	N           int    `json:"n,omitempty"`
	Concurrency int    `json:"concurrency,omitempty"`
	K           int64  `json:"k,omitempty"`
	Size        int    `json:"size,omitempty"`
	DurationNS  int64  `json:"duration_ns,omitempty"`
	// NoEpoll turns the epoll receive path off (Config.NoEpoll).
	NoEpoll bool `json:"no_epoll,omitempty"`
}

// event is a worker's answer or progress report, a JSON line.
type event struct {
	Ev        string       `json:"ev"` // progress, connected, done, report, echoed, closed, error
	PID       int          `json:"pid,omitempty"`
	Connected int          `json:"connected,omitempty"`
	Failed    int          `json:"failed,omitempty"`
	Err       string       `json:"err,omitempty"`
	Received  int64        `json:"received,omitempty"`
	Lost      int64        `json:"lost,omitempty"`
	Dup       int64        `json:"dup,omitempty"`
	Acks      int64        `json:"acks,omitempty"`
	Closed    int64        `json:"closed,omitempty"`
	StartNS   int64        `json:"start_ns,omitempty"`
	EndNS     int64        `json:"end_ns,omitempty"`
	Hist      histSnapshot `json:"hist"`
	// Epoll reports, in a "connected" event, that the clients receive over
	// the epoll path.
	Epoll bool `json:"epoll,omitempty"`
}

// WorkerOptions configures ServeWorker. The zero value is valid.
type WorkerOptions struct {
	// Clock returns the current time in Unix nanoseconds; latencies are this
	// clock at receipt minus the source's stamp. Nil means time.Now.
	Clock func() int64
	// ProgressEvery is the interval between progress events. Zero means
	// 500ms.
	ProgressEvery time.Duration
}

// worker holds one process's share of the clients.
type worker struct {
	clock func() int64
	enc   *json.Encoder
	encMu sync.Mutex

	setup command // the connect command: URL, transport, size
	conns []*conn
	poll  *pollGroup // the epoll receive path, once a connect uses it

	hist     Histogram
	gen      atomic.Int64 // fan-out run number, to reset per-connection state lazily
	lastSeq  atomic.Int64 // the sequence number that completes the current run
	received atomic.Int64
	lost     atomic.Int64 // gaps seen so far; tails are added at report
	dup      atomic.Int64
	complete atomic.Int64 // connections that got lastSeq
	doneNS   atomic.Int64 // receipt time of the last completing message
	closed   atomic.Int64 // connections the server or network closed
	doneSent atomic.Bool
	nconns   atomic.Int64 // len(conns), for the reader goroutines
	live     atomic.Int64 // connections connected and not closed since

	echoOn      atomic.Bool
	acks        atomic.Int64
	outstanding sync.WaitGroup
	echoMsg     []byte // the echo payload, "<padding>"
}

// link is a client's Engine.IO connection as the scenarios use it: package
// client's EngineConn, with its reader goroutine, or a connection of the
// epoll receive path (epConn, on Linux). Both are safe for concurrent use.
type link interface {
	// SendText sends a text message.
	SendText(b []byte) error
	// Close closes the connection without waiting for its end.
	Close() error
	// Done is closed once the connection has ended and its close
	// bookkeeping (conn.onClose) is done.
	Done() <-chan struct{}
}

// conn is one Socket.IO client in namespace "/".
type conn struct {
	w         *worker
	link      link
	connected chan struct{}
	refused   atomic.Bool
	up        atomic.Bool // counted in live
	once      sync.Once

	gen   atomic.Int64
	last  atomic.Int64
	ackID atomic.Int64
	sent  atomic.Int64
}

// ServeWorker runs a worker: it reads commands from in, one JSON object per
// line, and writes events to out until a "close" command, the end of in or
// the end of ctx. Every client it opened is closed when it returns.
func ServeWorker(ctx context.Context, in io.Reader, out io.Writer, opts WorkerOptions) error {
	w := &worker{clock: opts.Clock, enc: json.NewEncoder(out)}
	if w.clock == nil {
		w.clock = func() int64 { return time.Now().UnixNano() }
	}
	w.lastSeq.Store(-1)
	every := opts.ProgressEvery
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer w.closeAll()

	cmds := make(chan command)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var c command
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				readErr <- fmt.Errorf("worker: bad command: %w", err)
				return
			}
			select {
			case cmds <- c:
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				w.send(event{Ev: "progress", Connected: w.countConnected(), Received: w.received.Load(), Acks: w.acks.Load(), Closed: w.closed.Load()})
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			return err
		case c := <-cmds:
			switch c.Op {
			case "connect":
				w.connect(ctx, c)
			case "expect":
				w.expect(c.K)
			case "report":
				w.report()
			case "echo":
				w.echo(ctx, time.Duration(c.DurationNS))
			case "close":
				w.closeAll()
				w.send(event{Ev: "closed"})
				return nil
			default:
				w.send(event{Ev: "error", Err: "unknown op " + strconv.Quote(c.Op)})
			}
		}
	}
}

func (w *worker) send(e event) {
	e.PID = os.Getpid()
	w.encMu.Lock()
	defer w.encMu.Unlock()
	_ = w.enc.Encode(e)
}

func (w *worker) countConnected() int { return int(w.live.Load()) }

// connect opens c.N clients, c.Concurrency at a time, and answers with a
// "connected" event: how many made it, how many failed (with the first
// error) and when the first dial started and the last connect finished.
func (w *worker) connect(ctx context.Context, c command) {
	w.setup = c
	w.echoMsg = []byte(strings.Repeat("x", max(c.Size, 1)))
	var dialer net.Dialer
	if c.Source != "" {
		ip := net.ParseIP(c.Source)
		if ip == nil {
			w.send(event{Ev: "connected", Failed: c.N, Err: "bad source address " + c.Source})
			return
		}
		dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	path := c.Path
	if path == "" {
		path = "/socket.io/"
	}
	u := strings.TrimSuffix(c.URL, "/") + path
	transports := []string{c.Transport}
	if c.Transport == "" {
		transports = []string{"websocket"}
	}
	// The epoll path takes plain WebSocket clients; TLS and polling stay on
	// package client.
	var target string
	if epollSupported && !c.NoEpoll && transports[0] == "websocket" {
		t, tls, err := wsTarget(u)
		if err != nil {
			w.send(event{Ev: "connected", Failed: c.N, Err: err.Error()})
			return
		}
		if !tls {
			target = t
		}
	}
	if target != "" && w.poll == nil {
		g, err := newPollGroup(epollPollers())
		if err != nil {
			w.send(event{Ev: "connected", Failed: c.N, Err: err.Error()})
			return
		}
		w.poll = g
	}
	conc := max(c.Concurrency, 1)
	start := w.clock()
	sem := make(chan struct{}, conc)
	var (
		mu       sync.Mutex
		failed   int
		firstErr error
		wg       sync.WaitGroup
	)
	conns := make([]*conn, c.N)
	for i := range c.N {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cn, err := w.dial(ctx, u, target, transports, dialer.DialContext)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			conns[i] = cn
		}()
	}
	wg.Wait()
	end := w.clock()
	ok := 0
	for _, cn := range conns {
		if cn != nil {
			w.conns = append(w.conns, cn)
			ok++
		}
	}
	w.nconns.Store(int64(len(w.conns)))
	e := event{Ev: "connected", Connected: ok, Failed: failed + (c.N - ok - failed), StartNS: start, EndNS: end, Epoll: target != ""}
	if firstErr != nil {
		e.Err = firstErr.Error()
	}
	w.send(e)
}

// dial opens one client and connects it to namespace "/": over the epoll
// path to target when it is not empty, else with client.DialEngine to u.
func (w *worker) dial(ctx context.Context, u, target string, transports []string, netDial func(context.Context, string, string) (net.Conn, error)) (*conn, error) {
	cn := &conn{w: w, connected: make(chan struct{})}
	cn.last.Store(-1)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var (
		l   link
		err error
	)
	if target != "" {
		l, err = w.poll.dial(ctx, target, netDial, cn.onMessage, cn.onClose)
	} else {
		l, err = client.DialEngine(ctx, u, &client.EngineOptions{
			Transports: transports,
			NetDial:    netDial,
			OnMessage:  cn.onMessage,
			OnClose:    func(engineio.Reason, error) { cn.onClose() },
		})
	}
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	cn.link = l
	if err := l.SendText([]byte("0")); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	select {
	case <-cn.connected:
		if cn.refused.Load() {
			_ = l.Close()
			return nil, errors.New("connect: refused or closed")
		}
		cn.up.Store(true)
		w.live.Add(1)
		return cn, nil
	case <-ctx.Done():
		_ = l.Close()
		return nil, fmt.Errorf("connect: %w", ctx.Err())
	}
}

// onClose is the bookkeeping of a connection's end, on either path: on its
// reader goroutine or its poller's.
func (c *conn) onClose() {
	w := c.w
	w.closed.Add(1)
	if c.up.CompareAndSwap(true, false) {
		w.live.Add(-1)
	}
	c.once.Do(func() { c.refused.Store(true); close(c.connected) })
}

// tickPrefix starts a fan-out event as the Engine.IO message carries it
// (Socket.IO EVENT, type 2, namespace "/").
var tickPrefix = []byte(`2["tick","`)

// onMessage handles a Socket.IO packet (the Engine.IO message's data) on
// the connection's reader goroutine or its poller's.
func (c *conn) onMessage(data []byte, binary bool) {
	if binary || len(data) == 0 {
		return
	}
	switch data[0] {
	case '2': // EVENT
		if bytes.HasPrefix(data, tickPrefix) {
			c.onTick(data[len(tickPrefix):])
		}
	case '3': // ACK
		c.onAck(data[1:])
	case '0': // CONNECT
		c.once.Do(func() { close(c.connected) })
	case '4': // CONNECT_ERROR
		c.once.Do(func() { c.refused.Store(true); close(c.connected) })
	}
}

// parseTick reads "<seq>:<unix ns>:" from the start of a fan-out payload.
func parseTick(p []byte) (seq, stamp int64, ok bool) {
	i := bytes.IndexByte(p, ':')
	if i <= 0 {
		return 0, 0, false
	}
	j := bytes.IndexByte(p[i+1:], ':')
	if j <= 0 {
		return 0, 0, false
	}
	seq, ok = atoi(p[:i])
	if !ok {
		return 0, 0, false
	}
	stamp, ok = atoi(p[i+1 : i+1+j])
	return seq, stamp, ok
}

func atoi(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func (c *conn) onTick(p []byte) {
	now := c.w.clock()
	seq, stamp, ok := parseTick(p)
	if !ok {
		return
	}
	w := c.w
	if g := w.gen.Load(); c.gen.Load() != g {
		c.last.Store(-1)
		c.gen.Store(g)
	}
	w.received.Add(1)
	w.hist.Record(time.Duration(now - stamp))
	last := c.last.Load()
	if seq <= last {
		w.dup.Add(1)
		return
	}
	if seq > last+1 {
		w.lost.Add(seq - last - 1)
	}
	c.last.Store(seq)
	if seq == w.lastSeq.Load() {
		for {
			d := w.doneNS.Load()
			if now <= d || w.doneNS.CompareAndSwap(d, now) {
				break
			}
		}
		if w.complete.Add(1) == w.nconns.Load() && w.doneSent.CompareAndSwap(false, true) {
			w.send(event{Ev: "done", EndNS: w.doneNS.Load(), Received: w.received.Load()})
		}
	}
}

// expect starts a fan-out run whose sequence numbers are 0 to k-1.
func (w *worker) expect(k int64) {
	w.hist.Reset()
	w.received.Store(0)
	w.lost.Store(0)
	w.dup.Store(0)
	w.complete.Store(0)
	w.doneNS.Store(0)
	w.doneSent.Store(false)
	w.lastSeq.Store(k - 1)
	w.gen.Add(1)
	w.send(event{Ev: "expecting"})
}

// report answers with the current run's accounting; messages not received
// by the end of the run (after each connection's last one) count as lost.
func (w *worker) report() {
	lost := w.lost.Load()
	g := w.gen.Load()
	k := w.lastSeq.Load() + 1
	for _, c := range w.conns {
		last := int64(-1)
		if c.gen.Load() == g {
			last = c.last.Load()
		}
		lost += k - 1 - last
	}
	w.send(event{Ev: "report", Received: w.received.Load(), Lost: lost, Dup: w.dup.Load(), EndNS: w.doneNS.Load(), Hist: w.hist.snapshot(), Closed: w.closed.Load()})
}

// echo runs every connection's emit-with-ack loop for d: each connection
// sends "echo" with an ack id and sends the next one when the ack arrives.
func (w *worker) echo(ctx context.Context, d time.Duration) {
	w.hist.Reset()
	w.acks.Store(0)
	w.echoOn.Store(true)
	start := w.clock()
	for _, c := range w.conns {
		w.outstanding.Add(1)
		if !c.emitEcho() {
			w.outstanding.Done()
		}
	}
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	w.echoOn.Store(false)
	end := w.clock()
	acks := w.acks.Load()
	drained := make(chan struct{})
	go func() { w.outstanding.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
	}
	w.send(event{Ev: "echoed", Acks: acks, StartNS: start, EndNS: end, Hist: w.hist.snapshot(), Closed: w.closed.Load()})
}

// emitEcho sends the next echo; false when the connection has closed.
func (c *conn) emitEcho() bool {
	id := c.ackID.Add(1)
	b := make([]byte, 0, 16+len(c.w.echoMsg))
	b = append(b, '2')
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `["echo","`...)
	b = append(b, c.w.echoMsg...)
	b = append(b, `"]`...)
	c.sent.Store(c.w.clock())
	return c.link.SendText(b) == nil
}

func (c *conn) onAck(p []byte) {
	now := c.w.clock()
	i := bytes.IndexByte(p, '[')
	if i <= 0 {
		return
	}
	id, ok := atoi(p[:i])
	if !ok || id != c.ackID.Load() {
		return
	}
	w := c.w
	w.hist.Record(time.Duration(now - c.sent.Load()))
	if w.echoOn.Load() {
		w.acks.Add(1)
		if c.emitEcho() {
			return
		}
	}
	w.outstanding.Done()
}

// closeAll closes every client and waits, bounded, for them to end, then
// stops the epoll pollers, which end whatever connection they still hold.
func (w *worker) closeAll() {
	for _, c := range w.conns {
		_ = c.link.Close()
	}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
wait:
	for _, c := range w.conns {
		select {
		case <-c.link.Done():
		case <-deadline.C:
			break wait
		}
	}
	w.conns = nil
	if w.poll != nil {
		w.poll.close()
		w.poll = nil
	}
}
