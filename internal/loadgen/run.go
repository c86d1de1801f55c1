package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/client"
)

// Scenarios lists the scenarios Run knows, in the order bench/compare runs
// them.
var Scenarios = []string{"idle", "fanout", "burst", "echo", "connect"}

// Config describes one run. Zero fields take the defaults documented on
// them.
type Config struct {
	// Scenario is one of Scenarios.
	Scenario string
	// Label names the server in the output (e.g. "herald", "node"). Empty
	// means the URL.
	Label string
	// URL is the server's base URL, e.g. "http://127.0.0.1:3000".
	URL string
	// Path is the Socket.IO mount point. Empty means "/socket.io/".
	Path string
	// Transport is "websocket" (the default) or "polling"; polling never
	// upgrades.
	Transport string
	// NoEpoll turns off the epoll receive path. By default, on Linux, a
	// worker's WebSocket clients (http:// and ws:// URLs) are all read by
	// one poller goroutine calling epoll_wait, instead of one reader
	// goroutine per client (package client's EngineConn), which is what
	// NoEpoll, polling, TLS and other systems use.
	NoEpoll bool
	// Clients is the number of clients: the receivers of fanout and burst,
	// the emitters of echo, the connections of connect. Zero means 1,000.
	Clients int
	// Workers is the number of worker processes holding the clients; 0 runs
	// one worker inside this process.
	Workers int
	// Source is the source address of worker 0 (e.g. "127.0.0.10"); worker
	// i uses the i-th next address. Empty lets the system choose.
	Source string
	// Concurrency is the number of connection attempts in flight per worker.
	// Zero means 64.
	Concurrency int
	// ServerPID is the server's process id, for CPU and RSS from /proc.
	// Zero means no server-side figures.
	ServerPID int
	// StatsURL is the server's bench stats endpoint. Empty means
	// URL + "/bench/stats"; "-" means none.
	StatsURL string
	// Rate is fanout's broadcasts per second. Zero means 2.
	Rate float64
	// Duration is how long fanout broadcasts and echo emits. Zero means 10s.
	Duration time.Duration
	// Size is the payload size of broadcasts and echoes in bytes. Zero
	// means 100.
	Size int
	// Count is burst's number of broadcasts. Zero means 10.
	Count int
	// IdleHold is how long idle holds the connections, after they are open
	// and the server's RSS has settled, before measuring (e.g. past a
	// heartbeat). Zero means no hold.
	IdleHold time.Duration
	// DrainTimeout bounds the wait for the last deliveries after the last
	// broadcast. Zero means 2 minutes.
	DrainTimeout time.Duration
	// Clock stamps fan-out payloads, in Unix nanoseconds. Nil means
	// time.Now. Workers run by this process (Workers == 0) use WorkerClock.
	Clock func() int64
	// WorkerClock is the in-process worker's clock. Nil means time.Now.
	WorkerClock func() int64
	// WorkerCommand returns the command that starts worker i; its stdin and
	// stdout carry the worker protocol (ServeWorker). Nil means this
	// executable with arguments "bench --worker".
	WorkerCommand func(i int) *exec.Cmd
	// Progress receives a progress line every second. Nil means none.
	Progress io.Writer
}

// Result is what a run measured. Durations are in seconds, memory in bytes,
// CPU per operation in microseconds. Server figures are zero (and omitted
// from JSON) when Config.ServerPID was not given.
type Result struct {
	Scenario  string `json:"scenario"`
	Label     string `json:"label"`
	URL       string `json:"url"`
	Transport string `json:"transport"`
	Clients   int    `json:"clients"`
	Workers   int    `json:"workers"`
	// Epoll reports that every worker received over the epoll path
	// (Config.NoEpoll) rather than with a goroutine per client.
	Epoll bool `json:"epoll"`
	// Connected and Failed count the clients opened and not opened.
	Connected int    `json:"connected"`
	Failed    int    `json:"failed"`
	FirstErr  string `json:"first_error,omitempty"`
	// ConnectSeconds is the time taken to open every client.
	ConnectSeconds float64 `json:"connect_s"`

	// Ops counts the scenario's operations: deliveries (fanout, burst),
	// acknowledgements (echo), connections (connect).
	Ops         int64   `json:"ops"`
	OpName      string  `json:"op_name"`
	WallSeconds float64 `json:"wall_s"`
	OpsPerSec   float64 `json:"ops_per_s"`

	ServerCPUSeconds float64 `json:"server_cpu_s,omitempty"`
	ServerCPUPerOpUS float64 `json:"server_cpu_per_op_us,omitempty"`
	LoadCPUSeconds   float64 `json:"load_cpu_s"`
	LoadCPUPerOpUS   float64 `json:"load_cpu_per_op_us"`

	// RSSBase is the server's RSS before the clients connected, RSSIdle
	// with every client connected and idle, RSSPeak the largest sample
	// during the measured phase, RSSEnd at its end.
	RSSBase int64 `json:"rss_base,omitempty"`
	RSSIdle int64 `json:"rss_idle,omitempty"`
	RSSPeak int64 `json:"rss_peak,omitempty"`
	RSSEnd  int64 `json:"rss_end,omitempty"`
	// MemPerConn is (RSSIdle - RSSBase) / Connected.
	MemPerConn float64 `json:"mem_per_conn,omitempty"`
	// GoroutinesPerConn comes from the stats endpoint; nil when the
	// server has no goroutines to report.
	GoroutinesPerConn *float64 `json:"goroutines_per_conn,omitempty"`
	// LoadRSSPerConn is the workers' RSS per client.
	LoadRSSPerConn float64 `json:"load_rss_per_conn,omitempty"`

	// Fan-out accounting: broadcasts sent, deliveries expected (sent ×
	// receivers), received, lost (by sequence number) and duplicated.
	Sent     int64 `json:"sent,omitempty"`
	Expected int64 `json:"expected,omitempty"`
	Received int64 `json:"received,omitempty"`
	Lost     int64 `json:"lost"`
	Dup      int64 `json:"dup,omitempty"`
	// Drained reports whether every client got the last broadcast within
	// DrainTimeout; DrainSeconds is the time from the last send to it.
	Drained      bool    `json:"drained"`
	DrainSeconds float64 `json:"drain_s,omitempty"`
	// Latency is fan-out latency (send stamp to receipt) or echo RTT.
	Latency *Percentiles `json:"latency,omitempty"`
	// Closed counts clients the server or network closed during the run.
	Closed int64 `json:"closed,omitempty"`
}

// workerHandle is the coordinator's side of one worker.
type workerHandle struct {
	pid      int
	enc      *json.Encoder
	encMu    sync.Mutex
	events   chan event
	done     chan event
	progress atomic.Pointer[event]
	exited   chan struct{}
	cmd      *exec.Cmd
	stdin    io.Closer
}

func (h *workerHandle) send(c command) error {
	h.encMu.Lock()
	defer h.encMu.Unlock()
	if err := h.enc.Encode(c); err != nil {
		return fmt.Errorf("worker %d: %w", h.pid, err)
	}
	return nil
}

// await returns the worker's next event named ev.
func (h *workerHandle) await(ctx context.Context, ev string, timeout time.Duration) (event, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case e := <-h.events:
			if e.Ev == "error" {
				return e, fmt.Errorf("worker %d: %s", h.pid, e.Err)
			}
			if e.Ev == ev {
				return e, nil
			}
		case <-h.exited:
			return event{}, fmt.Errorf("worker %d exited while waiting for %q", h.pid, ev)
		case <-t.C:
			return event{}, fmt.Errorf("worker %d: no %q within %v", h.pid, ev, timeout)
		case <-ctx.Done():
			return event{}, ctx.Err()
		}
	}
}

func (h *workerHandle) read(r io.Reader) {
	defer close(h.exited)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue
		}
		switch e.Ev {
		case "progress":
			h.progress.Store(&e)
		case "done":
			select {
			case h.done <- e:
			default:
			}
		default:
			h.events <- e
		}
	}
}

// runner holds one run's state.
type runner struct {
	cfg     Config
	clock   func() int64
	workers []*workerHandle
	res     *Result
	start   time.Time
	phase   atomic.Value // string
	rssPeak atomic.Int64
	rssLast atomic.Int64
}

// Run performs one scenario run and returns what it measured. It returns
// an error when the scenario could not be run at all; clients that failed
// to connect are counted in the Result instead.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := fillDefaults(&cfg); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, clock: cfg.Clock, start: time.Now()}
	r.phase.Store("starting")
	r.res = &Result{Scenario: cfg.Scenario, Label: cfg.Label, URL: cfg.URL, Transport: cfg.Transport, Clients: cfg.Clients, Workers: cfg.Workers}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := r.startWorkers(ctx); err != nil {
		r.stopWorkers()
		return nil, err
	}
	defer r.stopWorkers()
	go r.sample(ctx)

	var err error
	switch cfg.Scenario {
	case "idle":
		err = r.idle(ctx)
	case "fanout", "burst":
		err = r.fanout(ctx)
	case "echo":
		err = r.echo(ctx)
	case "connect":
		err = r.connectScenario(ctx)
	}
	if err != nil {
		return r.res, err
	}
	return r.res, nil
}

func fillDefaults(c *Config) error {
	ok := false
	for _, s := range Scenarios {
		ok = ok || s == c.Scenario
	}
	if !ok {
		return fmt.Errorf("unknown scenario %q (want one of %s)", c.Scenario, strings.Join(Scenarios, ", "))
	}
	if c.URL == "" {
		return errors.New("no server URL")
	}
	c.URL = strings.TrimSuffix(c.URL, "/")
	if c.Label == "" {
		c.Label = c.URL
	}
	switch c.Transport {
	case "":
		c.Transport = "websocket"
	case "websocket", "polling":
	default:
		return fmt.Errorf("unknown transport %q (want websocket or polling)", c.Transport)
	}
	if c.Clients <= 0 {
		c.Clients = 1000
	}
	if c.Workers < 0 {
		c.Workers = 0
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.StatsURL == "" {
		c.StatsURL = c.URL + "/bench/stats"
	}
	if c.Rate <= 0 {
		c.Rate = 2
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Size <= 0 {
		c.Size = 100
	}
	if c.Count <= 0 {
		c.Count = 10
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 2 * time.Minute
	}
	if c.Clock == nil {
		c.Clock = func() int64 { return time.Now().UnixNano() }
	}
	if c.Source != "" && net.ParseIP(c.Source).To4() == nil {
		return fmt.Errorf("source address %q is not IPv4", c.Source)
	}
	return nil
}

// sourceFor returns worker i's source address.
func sourceFor(base string, i int) string {
	if base == "" {
		return ""
	}
	ip := net.ParseIP(base).To4()
	v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	v += uint32(i)
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).String()
}

func (r *runner) startWorkers(ctx context.Context) error {
	n := max(r.cfg.Workers, 1)
	for i := range n {
		h := &workerHandle{events: make(chan event, 64), done: make(chan event, 1), exited: make(chan struct{})}
		if r.cfg.Workers == 0 {
			inR, inW := io.Pipe()
			outR, outW := io.Pipe()
			go func() {
				err := ServeWorker(ctx, inR, outW, WorkerOptions{Clock: r.cfg.WorkerClock})
				outW.CloseWithError(err)
				inR.Close()
			}()
			h.pid = os.Getpid()
			h.enc = json.NewEncoder(inW)
			h.stdin = inW
			go h.read(outR)
		} else {
			var cmd *exec.Cmd
			if r.cfg.WorkerCommand != nil {
				cmd = r.cfg.WorkerCommand(i)
			} else {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("start worker: %w", err)
				}
				cmd = exec.Command(exe, "bench", "--worker")
			}
			cmd.Stderr = os.Stderr
			in, err := cmd.StdinPipe()
			if err != nil {
				return fmt.Errorf("start worker: %w", err)
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				return fmt.Errorf("start worker: %w", err)
			}
			if err := cmd.Start(); err != nil {
				return fmt.Errorf("start worker: %w", err)
			}
			h.cmd, h.pid, h.enc, h.stdin = cmd, cmd.Process.Pid, json.NewEncoder(in), in
			go h.read(out)
		}
		r.workers = append(r.workers, h)
	}
	return nil
}

// stopWorkers closes every worker's clients and waits for the workers to
// end, killing those that do not within 15s.
func (r *runner) stopWorkers() {
	for _, h := range r.workers {
		_ = h.send(command{Op: "close"})
	}
	deadline := time.After(15 * time.Second)
	for _, h := range r.workers {
		select {
		case <-h.exited:
		case <-deadline:
		}
		_ = h.stdin.Close()
		if h.cmd != nil {
			if h.cmd.ProcessState == nil {
				select {
				case <-h.exited:
				default:
					_ = h.cmd.Process.Kill()
				}
			}
			_ = h.cmd.Wait()
		}
	}
	r.workers = nil
}

func (r *runner) pids() []int {
	var p []int
	seen := map[int]bool{os.Getpid(): true}
	p = append(p, os.Getpid())
	for _, h := range r.workers {
		if !seen[h.pid] {
			seen[h.pid] = true
			p = append(p, h.pid)
		}
	}
	return p
}

// sample reads the server's RSS every 20ms (keeping the peak) and prints
// a progress line every second.
func (r *runner) sample(ctx context.Context) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	lastLine := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r.cfg.ServerPID > 0 {
			if v, err := procRSS(r.cfg.ServerPID); err == nil {
				r.rssLast.Store(v)
				for {
					p := r.rssPeak.Load()
					if v <= p || r.rssPeak.CompareAndSwap(p, v) {
						break
					}
				}
			}
		}
		if r.cfg.Progress != nil && time.Since(lastLine) >= time.Second {
			lastLine = time.Now()
			var conn, recv, acks, closed int64
			for _, h := range r.workers {
				if e := h.progress.Load(); e != nil {
					conn += int64(e.Connected)
					recv += e.Received
					acks += e.Acks
					closed += e.Closed
				}
			}
			line := fmt.Sprintf("[%s %s] %5.1fs %-9s clients %d/%d received %d acks %d closed %d",
				r.cfg.Scenario, r.cfg.Label, time.Since(r.start).Seconds(), r.phase.Load(), conn, r.cfg.Clients, recv, acks, closed)
			if v := r.rssLast.Load(); v > 0 {
				line += fmt.Sprintf(" server rss %.1f MiB", float64(v)/(1<<20))
			}
			fmt.Fprintln(r.cfg.Progress, line)
		}
	}
}

// resetPeak starts a new peak RSS window.
func (r *runner) resetPeak() {
	if r.cfg.ServerPID > 0 {
		if v, err := procRSS(r.cfg.ServerPID); err == nil {
			r.rssPeak.Store(v)
			r.rssLast.Store(v)
		}
	}
}

func (r *runner) rss() int64 {
	if r.cfg.ServerPID <= 0 {
		return 0
	}
	v, _ := procRSS(r.cfg.ServerPID)
	return v
}

func (r *runner) serverCPU() time.Duration {
	if r.cfg.ServerPID <= 0 {
		return 0
	}
	c, _ := procCPU(r.cfg.ServerPID)
	return c
}

// stats reads the server's /bench/stats; ok is false when there is none.
func (r *runner) stats(ctx context.Context) (clients int, goroutines *int, ok bool) {
	if r.cfg.StatsURL == "-" {
		return 0, nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.StatsURL, nil)
	if err != nil {
		return 0, nil, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, false
	}
	defer resp.Body.Close()
	var s struct {
		Clients    int  `json:"clients"`
		Goroutines *int `json:"goroutines"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&s) != nil {
		return 0, nil, false
	}
	return s.Clients, s.Goroutines, true
}

// connectAll opens the clients over the workers and fills the connection
// figures of the result.
func (r *runner) connectAll(ctx context.Context) error {
	r.phase.Store("connect")
	n := len(r.workers)
	for i, h := range r.workers {
		share := r.cfg.Clients / n
		if i < r.cfg.Clients%n {
			share++
		}
		err := h.send(command{Op: "connect", URL: r.cfg.URL, Path: r.cfg.Path, Transport: r.cfg.Transport,
			Source: sourceFor(r.cfg.Source, i), N: share, Concurrency: r.cfg.Concurrency, Size: r.cfg.Size, NoEpoll: r.cfg.NoEpoll})
		if err != nil {
			return err
		}
	}
	var first, last int64
	r.res.Epoll = true
	for _, h := range r.workers {
		e, err := h.await(ctx, "connected", 10*time.Minute)
		if err != nil {
			return err
		}
		r.res.Epoll = r.res.Epoll && e.Epoll
		r.res.Connected += e.Connected
		r.res.Failed += e.Failed
		if e.Err != "" && r.res.FirstErr == "" {
			r.res.FirstErr = e.Err
		}
		if first == 0 || e.StartNS < first {
			first = e.StartNS
		}
		last = max(last, e.EndNS)
	}
	r.res.ConnectSeconds = float64(last-first) / 1e9
	if r.res.Connected == 0 {
		return fmt.Errorf("no client connected: %s", r.res.FirstErr)
	}
	return nil
}

// settle waits until the server's RSS is stable: five samples 200ms apart
// within 0.5% of each other, at most 20s.
func (r *runner) settle(ctx context.Context) {
	if r.cfg.ServerPID <= 0 {
		return
	}
	r.phase.Store("settle")
	deadline := time.Now().Add(20 * time.Second)
	var win []int64
	for time.Now().Before(deadline) {
		win = append(win, r.rss())
		if len(win) > 5 {
			win = win[1:]
		}
		if len(win) == 5 {
			lo, hi := win[0], win[0]
			for _, v := range win {
				lo, hi = min(lo, v), max(hi, v)
			}
			if float64(hi-lo) <= 0.005*float64(hi) {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (r *runner) loadRSS() int64 {
	var t int64
	for _, p := range r.pids() {
		if v, err := procRSS(p); err == nil {
			t += v
		}
	}
	return t
}

// idle measures memory per connection.
func (r *runner) idle(ctx context.Context) error {
	r.res.OpName = "connections"
	r.settle(ctx)
	r.res.RSSBase = r.rss()
	_, g0, hasStats := r.stats(ctx)
	if err := r.connectAll(ctx); err != nil {
		return err
	}
	r.settle(ctx)
	if r.cfg.IdleHold > 0 {
		r.phase.Store("hold")
		select {
		case <-time.After(r.cfg.IdleHold):
		case <-ctx.Done():
			return ctx.Err()
		}
		r.settle(ctx)
	}
	r.res.RSSIdle = r.rss()
	r.res.RSSEnd = r.res.RSSIdle
	n := float64(r.res.Connected)
	if r.res.RSSBase > 0 {
		r.res.MemPerConn = float64(r.res.RSSIdle-r.res.RSSBase) / n
	}
	if _, g1, ok := r.stats(ctx); ok && hasStats && g0 != nil && g1 != nil {
		v := float64(*g1-*g0) / n
		r.res.GoroutinesPerConn = &v
	}
	r.res.LoadRSSPerConn = float64(r.loadRSS()) / n
	r.res.Ops = int64(r.res.Connected)
	r.res.WallSeconds = r.res.ConnectSeconds
	return nil
}

// source opens the broadcast source's own client, not counted as a
// receiver (the server broadcasts to every other socket).
func (r *runner) source(ctx context.Context) (*client.EngineConn, error) {
	connected := make(chan bool, 1)
	path := r.cfg.Path
	if path == "" {
		path = "/socket.io/"
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ec, err := client.DialEngine(dctx, r.cfg.URL+path, &client.EngineOptions{
		Transports: []string{"websocket"},
		OnMessage: func(data []byte, _ bool) {
			if len(data) >= 1 && (data[0] == '0' || data[0] == '4') {
				select {
				case connected <- data[0] == '0':
				default:
				}
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("broadcast source: %w", err)
	}
	if err := ec.SendText([]byte("0")); err != nil {
		_ = ec.Close()
		return nil, fmt.Errorf("broadcast source: %w", err)
	}
	select {
	case ok := <-connected:
		if !ok {
			_ = ec.Close()
			return nil, errors.New("broadcast source: namespace refused")
		}
	case <-dctx.Done():
		_ = ec.Close()
		return nil, fmt.Errorf("broadcast source: %w", dctx.Err())
	}
	return ec, nil
}

// tickPacket returns broadcast number seq, `2["broadcast","<seq>:<ns>:xx…"]`
// (a Socket.IO EVENT as an Engine.IO message carries it),
// with the payload string size bytes long (longer if the stamp needs it).
func tickPacket(dst []byte, seq, stamp int64, size int) []byte {
	dst = append(dst[:0], `2["broadcast","`...)
	n0 := len(dst)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, stamp, 10)
	dst = append(dst, ':')
	for len(dst)-n0 < size {
		dst = append(dst, 'x')
	}
	return append(dst, `"]`...)
}

// fanout runs fanout (paced at Rate for Duration) and burst (Count
// broadcasts back to back).
func (r *runner) fanout(ctx context.Context) error {
	r.res.OpName = "deliveries"
	r.settle(ctx)
	r.res.RSSBase = r.rss()
	if err := r.connectAll(ctx); err != nil {
		return err
	}
	src, err := r.source(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	r.settle(ctx)
	r.res.RSSIdle = r.rss()
	if r.res.RSSBase > 0 {
		r.res.MemPerConn = float64(r.res.RSSIdle-r.res.RSSBase) / float64(r.res.Connected)
	}

	var k int64
	var interval time.Duration
	if r.cfg.Scenario == "burst" {
		k = int64(r.cfg.Count)
	} else {
		k = max(int64(r.cfg.Rate*r.cfg.Duration.Seconds()), 1)
		interval = time.Duration(float64(time.Second) / r.cfg.Rate)
	}
	for _, h := range r.workers {
		if err := h.send(command{Op: "expect", K: k}); err != nil {
			return err
		}
	}
	for _, h := range r.workers {
		if _, err := h.await(ctx, "expecting", time.Minute); err != nil {
			return err
		}
	}

	r.phase.Store("send")
	r.resetPeak()
	cpu0, load0 := r.serverCPU(), cpuOf(r.pids())
	t0 := r.clock()
	begin := time.Now()
	var lastSend int64
	buf := make([]byte, 0, r.cfg.Size+64)
	for i := range k {
		if interval > 0 {
			if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		lastSend = r.clock()
		buf = tickPacket(buf, i, lastSend, r.cfg.Size)
		if err := src.SendText(buf); err != nil {
			return fmt.Errorf("broadcast source: %w", err)
		}
	}
	r.res.Sent = k

	r.phase.Store("drain")
	r.res.Drained = true
	var doneNS int64
	deadline := time.NewTimer(r.cfg.DrainTimeout)
	defer deadline.Stop()
	for _, h := range r.workers {
		select {
		case e := <-h.done:
			doneNS = max(doneNS, e.EndNS)
		case <-deadline.C:
			r.res.Drained = false
		case <-h.exited:
			return fmt.Errorf("worker %d exited", h.pid)
		case <-ctx.Done():
			return ctx.Err()
		}
		if !r.res.Drained {
			break
		}
	}
	cpu1, load1 := r.serverCPU(), cpuOf(r.pids())
	r.res.RSSPeak = r.rssPeak.Load()
	r.res.RSSEnd = r.rss()
	end := r.clock()

	r.phase.Store("report")
	var hist Histogram
	for _, h := range r.workers {
		if err := h.send(command{Op: "report"}); err != nil {
			return err
		}
	}
	for _, h := range r.workers {
		e, err := h.await(ctx, "report", time.Minute)
		if err != nil {
			return err
		}
		r.res.Received += e.Received
		r.res.Lost += e.Lost
		r.res.Dup += e.Dup
		r.res.Closed += e.Closed
		hist.merge(e.Hist)
		doneNS = max(doneNS, e.EndNS)
	}
	r.res.Expected = k * int64(r.res.Connected)
	r.res.Latency = hist.percentiles()
	if r.res.Drained {
		end = doneNS
		r.res.DrainSeconds = max(float64(doneNS-lastSend)/1e9, 0)
	}
	r.res.Ops = r.res.Received
	r.finish(float64(end-t0)/1e9, cpu1-cpu0, load1-load0)
	return nil
}

// finish fills the per-operation figures.
func (r *runner) finish(wall float64, server, load time.Duration) {
	r.res.WallSeconds = wall
	if wall > 0 {
		r.res.OpsPerSec = float64(r.res.Ops) / wall
	}
	if r.cfg.ServerPID > 0 {
		r.res.ServerCPUSeconds = server.Seconds()
		if r.res.Ops > 0 {
			r.res.ServerCPUPerOpUS = float64(server.Microseconds()) / float64(r.res.Ops)
		}
	}
	r.res.LoadCPUSeconds = load.Seconds()
	if r.res.Ops > 0 {
		r.res.LoadCPUPerOpUS = float64(load.Microseconds()) / float64(r.res.Ops)
	}
}

// echo runs every client's emit-with-ack loop for Duration.
func (r *runner) echo(ctx context.Context) error {
	r.res.OpName = "acks"
	r.settle(ctx)
	r.res.RSSBase = r.rss()
	if err := r.connectAll(ctx); err != nil {
		return err
	}
	r.settle(ctx)
	r.res.RSSIdle = r.rss()
	r.phase.Store("echo")
	r.resetPeak()
	cpu0, load0 := r.serverCPU(), cpuOf(r.pids())
	for _, h := range r.workers {
		if err := h.send(command{Op: "echo", DurationNS: int64(r.cfg.Duration)}); err != nil {
			return err
		}
	}
	var hist Histogram
	var first, last int64
	for _, h := range r.workers {
		e, err := h.await(ctx, "echoed", r.cfg.Duration+time.Minute)
		if err != nil {
			return err
		}
		r.res.Ops += e.Acks
		r.res.Closed += e.Closed
		hist.merge(e.Hist)
		if first == 0 || e.StartNS < first {
			first = e.StartNS
		}
		last = max(last, e.EndNS)
	}
	cpu1, load1 := r.serverCPU(), cpuOf(r.pids())
	r.res.RSSPeak = r.rssPeak.Load()
	r.res.RSSEnd = r.rss()
	r.res.Latency = hist.percentiles()
	// The CPU window includes the drain of the last round trips (at most
	// one per client), which is not counted in Ops: a slight overestimate.
	r.finish(float64(last-first)/1e9, cpu1-cpu0, load1-load0)
	return nil
}

// connectScenario measures how fast clients connect.
func (r *runner) connectScenario(ctx context.Context) error {
	r.res.OpName = "connections"
	r.settle(ctx)
	r.res.RSSBase = r.rss()
	r.resetPeak()
	cpu0, load0 := r.serverCPU(), cpuOf(r.pids())
	if err := r.connectAll(ctx); err != nil {
		return err
	}
	cpu1, load1 := r.serverCPU(), cpuOf(r.pids())
	r.res.RSSPeak = r.rssPeak.Load()
	r.res.RSSEnd = r.rss()
	r.res.Ops = int64(r.res.Connected)
	r.finish(r.res.ConnectSeconds, cpu1-cpu0, load1-load0)
	return nil
}
