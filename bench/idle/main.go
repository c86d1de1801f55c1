//go:build linux

// Command idle measures the server memory held by idle Engine.IO WebSocket
// sessions: it starts the server under test (or watches a running one by
// PID), reads its resident set size (VmRSS in /proc/PID/status) before and
// after opening N WebSocket sessions (EIO=4&transport=websocket), and writes
// one JSON line of results.
//
//	go run ./bench/idle -name herald -addr 127.0.0.1:3000 -n 10000 \
//	    -stats http://127.0.0.1:3000/debug/stats -- ./herald-eio --addr 127.0.0.1:3000
//	go run ./bench/idle -name node -addr 127.0.0.1:3001 -n 10000 -- node bench/peers/node/server.js --addr 127.0.0.1:3001
//	go run ./bench/idle -report results.jsonl -md BENCHMARKS.md -command "bash bench/compare.sh"
//
// The connections are held by -workers child processes (this same program
// run with -worker), each bound to its own 127.0.0.x source address, since a
// process may hold at most 20,000 open files here and one source address has
// about 28,000 ephemeral ports. Each connection waits for its open packet
// ("0{...}") and answers every ping ("2") with a pong ("3"), so the sessions
// stay alive; the client holds one goroutine and no buffer per connection.
//
// Two figures are taken, each once the RSS has stopped moving: right after
// all sessions are open, and after every session has been through one
// heartbeat (ping and pong), which is the steady state of an idle session.
// The server is not asked to collect garbage: Node cannot be from outside,
// so neither is Herald.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.name, "name", "server", "label of the server under test")
	flag.IntVar(&cfg.round, "round", 0, "round number, recorded in the results")
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:3000", "server address")
	flag.StringVar(&cfg.path, "path", "/engine.io/", "Engine.IO path")
	flag.IntVar(&cfg.n, "n", 10000, "number of WebSocket sessions")
	flag.IntVar(&cfg.workers, "workers", 4, "client processes holding the connections")
	flag.StringVar(&cfg.src, "src", "127.0.0.2", "source address of the first worker; worker i binds this plus i")
	flag.IntVar(&cfg.conc, "conc", 16, "dials in flight per worker")
	flag.IntVar(&cfg.pid, "pid", 0, "PID of an already running server (instead of a command after --)")
	flag.StringVar(&cfg.stats, "stats", "", "URL of the server's debug stats (Herald's bench server: http://ADDR/debug/stats)")
	flag.StringVar(&cfg.heapProfile, "heap-profile", "", "write the server's heap profile (pprof, next to -stats) here before closing")
	flag.StringVar(&cfg.goroutineProfile, "goroutine-profile", "", "write the server's goroutine profile (debug=1 text) here before closing")
	flag.BoolVar(&cfg.heartbeat, "heartbeat", true, "also wait until every session has had one ping and measure again")
	flag.DurationVar(&cfg.settle, "settle", 3*time.Second, "least time to wait after a phase before reading RSS")
	flag.DurationVar(&cfg.timeout, "timeout", 120*time.Second, "give up after this long")
	flag.DurationVar(&cfg.hold, "hold", 0, "keep the sessions open this long after measuring (to inspect the server by hand)")
	flag.StringVar(&cfg.out, "out", "", "append the JSON result line to this file (and print it)")
	worker := flag.Bool("worker", false, "internal: run as a worker holding connections")
	report := flag.String("report", "", "summarize this results file (JSON lines) instead of measuring")
	md := flag.String("md", "", "with -report: write the markdown report here")
	command := flag.String("command", "", "with -report: the command that produced the results")
	flag.Parse()

	var err error
	switch {
	case *worker:
		err = runWorker(cfg)
	case *report != "":
		err = runReport(*report, *md, *command)
	default:
		err = run(cfg, flag.Args())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
}

type config struct {
	name, addr, path, src, stats, out string
	heapProfile, goroutineProfile     string
	round, n, workers, conc, pid      int
	heartbeat                         bool
	settle, timeout, hold             time.Duration
}

// Result is one measurement, one JSON line.
type Result struct {
	Name    string `json:"name"`
	Round   int    `json:"round"`
	N       int    `json:"n"`
	Workers int    `json:"workers"`

	RSSBaseKB   int64 `json:"rss_base_kb"`
	RSSOpenKB   int64 `json:"rss_open_kb"`
	RSSSteadyKB int64 `json:"rss_steady_kb,omitempty"`
	// KB (1024 bytes) per session: the RSS growth divided by N.
	KBPerConnOpen   float64 `json:"kb_per_conn_open"`
	KBPerConnSteady float64 `json:"kb_per_conn_steady,omitempty"`

	ConnectSeconds float64 `json:"connect_seconds"`
	// ClientKBPerConn is the workers' RSS divided by N.
	ClientKBPerConn float64 `json:"client_kb_per_conn"`

	// From the server's debug stats, when it has them (Herald).
	GoroutinesBase      int     `json:"goroutines_base,omitempty"`
	Goroutines          int     `json:"goroutines,omitempty"`
	GoroutinesPerConn   float64 `json:"goroutines_per_conn,omitempty"`
	HeapInuseKBPerConn  float64 `json:"heap_inuse_kb_per_conn,omitempty"`
	StackInuseKBPerConn float64 `json:"stack_inuse_kb_per_conn,omitempty"`
	HeapObjectsPerConn  float64 `json:"heap_objects_per_conn,omitempty"`
	// After the measurement, the server is asked to collect garbage
	// (Herald only): the live heap per session.
	HeapLiveKBPerConn    float64 `json:"heap_live_kb_per_conn,omitempty"`
	SessionsReportedOpen int     `json:"sessions,omitempty"`
}

// ---------------------------------------------------------------- coordinator

type stats struct {
	Goroutines  int    `json:"goroutines"`
	Sessions    int    `json:"sessions"`
	HeapInuse   uint64 `json:"heap_inuse"`
	HeapAlloc   uint64 `json:"heap_alloc"`
	HeapObjects uint64 `json:"heap_objects"`
	StackInuse  uint64 `json:"stack_inuse"`
}

func fetchStats(url string) (stats, error) {
	var s stats
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return s, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

func fetchTo(url, file string) error {
	c := http.Client{Timeout: 60 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// rssKB returns VmRSS of pid in KB.
func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// stableRSS samples the RSS every 500ms, for at least min, until the last
// six samples (3s) lie within 0.5% (or 256 KB) of each other, and returns
// their median. It gives up after max and returns the median of the last six.
func stableRSS(pid int, min, max time.Duration) (int64, error) {
	start := time.Now()
	var win []int64
	for {
		v, err := rssKB(pid)
		if err != nil {
			return 0, err
		}
		win = append(win, v)
		if len(win) > 6 {
			win = win[1:]
		}
		if len(win) == 6 && time.Since(start) >= min {
			lo, hi := win[0], win[0]
			for _, x := range win {
				lo, hi = minI(lo, x), maxI(hi, x)
			}
			if hi-lo <= maxI(256, hi/200) || time.Since(start) >= max {
				s := append([]int64(nil), win...)
				sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
				return (s[2] + s[3]) / 2, nil
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func minI(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

func maxI(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// server is the process under test when this program started it.
type server struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{}
}

func startServer(args []string) (*server, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			line := sc.Text()
			if p, found := strings.CutPrefix(line, "pid "); found && !ok {
				if n, err := strconv.Atoi(strings.TrimSpace(p)); err == nil {
					s.pid = n
				}
			} else if line == "ready" && !ok {
				ok = true
				ready <- nil
			} else {
				fmt.Fprintln(os.Stderr, "server:", line)
			}
		}
		if !ok {
			ready <- errors.New("server exited before printing ready")
		}
	}()
	go func() { _ = cmd.Wait(); close(s.done) }()
	select {
	case err := <-ready:
		if err != nil {
			s.stop()
			return nil, err
		}
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, errors.New("server not ready after 30s")
	}
	return s, nil
}

// stop ends the server's process group: SIGTERM, then SIGKILL after 5s.
func (s *server) stop() {
	pg := -s.cmd.Process.Pid
	_ = syscall.Kill(pg, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(pg, syscall.SIGKILL)
		<-s.done
	}
	_ = syscall.Kill(pg, syscall.SIGKILL) // anything left in the group
}

// workerProc is one client process.
type workerProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	n     int

	mu                             sync.Mutex
	opened, failed, pinged, closed int
	dialed                         bool
	exited                         bool
	err                            string
}

func (w *workerProc) snapshot() (opened, failed, pinged, closed int, dialed, exited bool, err string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.opened, w.failed, w.pinged, w.closed, w.dialed, w.exited, w.err
}

func startWorker(cfg config, i, n int, src net.IP) (*workerProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-worker", "-addr", cfg.addr, "-path", cfg.path,
		"-src", src.String(), "-n", strconv.Itoa(n), "-conc", strconv.Itoa(cfg.conc))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &workerProc{cmd: cmd, stdin: stdin, n: n}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			w.mu.Lock()
			switch {
			case len(f) == 5 && f[0] == "status":
				w.opened, _ = strconv.Atoi(f[1])
				w.failed, _ = strconv.Atoi(f[2])
				w.pinged, _ = strconv.Atoi(f[3])
				w.closed, _ = strconv.Atoi(f[4])
			case len(f) == 1 && f[0] == "dialed":
				w.dialed = true
			case len(f) > 0 && f[0] == "error":
				w.err = strings.Join(f[1:], " ")
			}
			w.mu.Unlock()
		}
		_ = cmd.Wait()
		w.mu.Lock()
		w.exited = true
		w.mu.Unlock()
	}()
	return w, nil
}

func nextIP(ip net.IP, k int) net.IP {
	v := ip.To4()
	x := uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
	x += uint32(k)
	return net.IPv4(byte(x>>24), byte(x>>16), byte(x>>8), byte(x))
}

func run(cfg config, args []string) (err error) {
	if cfg.pid == 0 && len(args) == 0 {
		return errors.New("give the server command after -- or -pid")
	}
	src := net.ParseIP(cfg.src)
	if src == nil || src.To4() == nil {
		return fmt.Errorf("bad -src %q", cfg.src)
	}
	deadline := time.Now().Add(cfg.timeout)

	pid := cfg.pid
	if len(args) > 0 {
		srv, err := startServer(args)
		if err != nil {
			return err
		}
		defer srv.stop()
		pid = srv.pid
	}
	// Interrupts end the workers and the server through the defers.
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	interrupted := func() error {
		select {
		case s := <-sigc:
			return fmt.Errorf("interrupted by %v", s)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timeout after %v", cfg.timeout)
		}
		return nil
	}

	res := Result{Name: cfg.name, Round: cfg.round, N: cfg.n, Workers: cfg.workers}
	time.Sleep(time.Second)
	if res.RSSBaseKB, err = stableRSS(pid, time.Second, 10*time.Second); err != nil {
		return err
	}
	var base stats
	if cfg.stats != "" {
		if base, err = fetchStats(cfg.stats); err != nil {
			return err
		}
		res.GoroutinesBase = base.Goroutines
	}
	fmt.Fprintf(os.Stderr, "[%s #%d] pid %d, base RSS %d KB; opening %d sessions from %d workers\n",
		cfg.name, cfg.round, pid, res.RSSBaseKB, cfg.n, cfg.workers)

	start := time.Now()
	var workers []*workerProc
	defer func() {
		for _, w := range workers {
			_ = w.stdin.Close() // a worker closes its connections and exits on EOF
		}
		t := time.Now().Add(10 * time.Second)
		for _, w := range workers {
			for {
				_, _, _, _, _, exited, _ := w.snapshot()
				if exited {
					break
				}
				if time.Now().After(t) {
					_ = w.cmd.Process.Kill()
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()
	for i := 0; i < cfg.workers; i++ {
		n := cfg.n / cfg.workers
		if i < cfg.n%cfg.workers {
			n++
		}
		w, err := startWorker(cfg, i, n, nextIP(src, i))
		if err != nil {
			return err
		}
		workers = append(workers, w)
	}

	// totals sums the workers' reports; it fails on any failed or lost session.
	totals := func() (opened, pinged int, allDialed bool, err error) {
		allDialed = true
		for i, w := range workers {
			o, f, p, c, d, exited, e := w.snapshot()
			switch {
			case e != "":
				return 0, 0, false, fmt.Errorf("worker %d: %s", i, e)
			case f > 0:
				return 0, 0, false, fmt.Errorf("worker %d: %d sessions failed to open", i, f)
			case c > 0:
				return 0, 0, false, fmt.Errorf("worker %d: %d sessions closed by the server", i, c)
			case exited:
				return 0, 0, false, fmt.Errorf("worker %d exited", i)
			}
			opened += o
			pinged += p
			allDialed = allDialed && d
		}
		return opened, pinged, allDialed, nil
	}
	for {
		if err := interrupted(); err != nil {
			return err
		}
		opened, _, dialed, err := totals()
		if err != nil {
			return err
		}
		if dialed && opened == cfg.n {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.ConnectSeconds = time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "[%s #%d] %d sessions open in %.1fs\n", cfg.name, cfg.round, cfg.n, res.ConnectSeconds)

	if res.RSSOpenKB, err = stableRSS(pid, cfg.settle, 30*time.Second); err != nil {
		return err
	}
	res.KBPerConnOpen = float64(res.RSSOpenKB-res.RSSBaseKB) / float64(cfg.n)
	fmt.Fprintf(os.Stderr, "[%s #%d] RSS %d KB after open: %.2f KB/session\n", cfg.name, cfg.round, res.RSSOpenKB, res.KBPerConnOpen)

	if cfg.heartbeat {
		for {
			if err := interrupted(); err != nil {
				return err
			}
			_, pinged, _, err := totals()
			if err != nil {
				return err
			}
			if pinged == cfg.n {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if res.RSSSteadyKB, err = stableRSS(pid, cfg.settle, 30*time.Second); err != nil {
			return err
		}
		if _, _, _, err := totals(); err != nil {
			return err
		}
		res.KBPerConnSteady = float64(res.RSSSteadyKB-res.RSSBaseKB) / float64(cfg.n)
		fmt.Fprintf(os.Stderr, "[%s #%d] RSS %d KB after one heartbeat: %.2f KB/session\n", cfg.name, cfg.round, res.RSSSteadyKB, res.KBPerConnSteady)
	}

	var client int64
	for _, w := range workers {
		if v, err := rssKB(w.cmd.Process.Pid); err == nil {
			client += v
		}
	}
	res.ClientKBPerConn = float64(client) / float64(cfg.n)

	if cfg.stats != "" {
		st, err := fetchStats(cfg.stats)
		if err != nil {
			return err
		}
		n := float64(cfg.n)
		res.Goroutines = st.Goroutines
		res.SessionsReportedOpen = st.Sessions
		res.GoroutinesPerConn = float64(st.Goroutines-base.Goroutines) / n
		res.HeapInuseKBPerConn = (float64(st.HeapInuse) - float64(base.HeapInuse)) / 1024 / n
		res.StackInuseKBPerConn = (float64(st.StackInuse) - float64(base.StackInuse)) / 1024 / n
		res.HeapObjectsPerConn = (float64(st.HeapObjects) - float64(base.HeapObjects)) / n
		// Only now, with the RSS figures taken: the live heap after a GC.
		sep := "?"
		if strings.Contains(cfg.stats, "?") {
			sep = "&"
		}
		if gc, err := fetchStats(cfg.stats + sep + "gc=1"); err == nil {
			res.HeapLiveKBPerConn = (float64(gc.HeapAlloc) - float64(base.HeapAlloc)) / 1024 / n
		}
		prefix := strings.TrimSuffix(cfg.stats, "/debug/stats")
		if cfg.goroutineProfile != "" {
			if err := fetchTo(prefix+"/debug/pprof/goroutine?debug=1", cfg.goroutineProfile); err != nil {
				return err
			}
		}
		if cfg.heapProfile != "" {
			if err := fetchTo(prefix+"/debug/pprof/heap", cfg.heapProfile); err != nil {
				return err
			}
		}
	}

	line, _ := json.Marshal(res)
	fmt.Println(string(line))
	if cfg.out != "" {
		f, err := os.OpenFile(cfg.out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		_, err = f.Write(append(line, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if cfg.hold > 0 {
		fmt.Fprintf(os.Stderr, "[%s #%d] holding the sessions for %v\n", cfg.name, cfg.round, cfg.hold)
		select {
		case <-time.After(cfg.hold):
		case <-sigc:
		}
	}
	return nil
}

// --------------------------------------------------------------------- worker

// pongFrame is the client's masked text frame "3" (a pong); the mask key is
// fixed, which servers do not check.
var pongFrame = func() []byte {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	return []byte{0x81, 0x80 | 1, key[0], key[1], key[2], key[3], '3' ^ key[0]}
}()

// frame reads one frame and returns its opcode and, for payloads of up to
// len(buf) bytes, the payload in buf; larger payloads are discarded.
func readFrame(r io.Reader, buf []byte) (ws.OpCode, []byte, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return 0, nil, err
	}
	if h.Length > int64(len(buf)) {
		_, err := io.CopyN(io.Discard, r, h.Length)
		return h.OpCode, nil, err
	}
	p := buf[:h.Length]
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	return h.OpCode, p, nil
}

type workerState struct {
	opened, failed, pinged, closed atomic.Int64
	closing                        atomic.Bool
	mu                             sync.Mutex
	conns                          []net.Conn
}

// hold answers the server's pings on one open connection until it ends.
func (st *workerState) hold(c net.Conn, r io.Reader) {
	var buf [64]byte
	pinged := false
loop:
	for {
		op, p, err := readFrame(r, buf[:])
		if err != nil {
			break
		}
		switch op {
		case ws.OpText:
			if len(p) == 1 && p[0] == '2' {
				if _, err := c.Write(pongFrame); err != nil {
					break loop
				}
				if !pinged {
					pinged = true
					st.pinged.Add(1)
				}
			}
		case ws.OpPing:
			f := ws.NewPongFrame(p)
			f = ws.MaskFrameInPlace(f)
			_ = ws.WriteFrame(c, f)
		case ws.OpClose:
			break loop
		}
	}
	if !st.closing.Load() {
		st.closed.Add(1)
	}
	_ = c.Close()
}

func (st *workerState) open(d *ws.Dialer, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, br, _, err := d.Dial(ctx, url)
	if err != nil {
		return err
	}
	var r io.Reader = c
	if br != nil {
		r = br
	}
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	var buf [256]byte
	op, p, err := readFrame(r, buf[:])
	if err == nil && (op != ws.OpText || len(p) < 2 || p[0] != '0' || p[1] != '{') {
		err = fmt.Errorf("first frame is not an open packet: %q", p)
	}
	if err != nil {
		c.Close()
		return err
	}
	_ = c.SetReadDeadline(time.Time{})
	if br != nil && br.Buffered() == 0 {
		ws.PutReader(br)
		r = c
	}
	st.mu.Lock()
	st.conns = append(st.conns, c)
	st.mu.Unlock()
	st.opened.Add(1)
	go st.hold(c, r)
	return nil
}

func runWorker(cfg config) error {
	src := net.ParseIP(cfg.src)
	if src == nil {
		return fmt.Errorf("bad -src %q", cfg.src)
	}
	nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}
	d := &ws.Dialer{
		ReadBufferSize:  512,
		WriteBufferSize: 512,
		NetDial:         nd.DialContext,
	}
	url := "ws://" + cfg.addr + cfg.path + "?EIO=4&transport=websocket"
	st := &workerState{conns: make([]net.Conn, 0, cfg.n)}
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	say := func(format string, a ...any) {
		outMu.Lock()
		fmt.Fprintf(out, format+"\n", a...)
		out.Flush()
		outMu.Unlock()
	}
	status := func() {
		say("status %d %d %d %d", st.opened.Load(), st.failed.Load(), st.pinged.Load(), st.closed.Load())
	}
	go func() {
		for {
			time.Sleep(200 * time.Millisecond)
			status()
		}
	}()

	var next atomic.Int64
	var wg sync.WaitGroup
	for range cfg.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(cfg.n) {
				var err error
				for try := 0; try < 3; try++ {
					if err = st.open(d, url); err == nil {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil {
					st.failed.Add(1)
					say("error dial: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	status()
	say("dialed")

	// Hold until the coordinator closes stdin.
	_, _ = io.Copy(io.Discard, os.Stdin)
	st.closing.Store(true)
	st.mu.Lock()
	for _, c := range st.conns {
		_ = c.Close()
	}
	st.mu.Unlock()
	return nil
}

// --------------------------------------------------------------------- report

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func runReport(file, mdFile, command string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	byName := map[string][]Result{}
	var order []string
	var all []Result
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		all = append(all, r)
		if _, ok := byName[r.Name]; !ok {
			order = append(order, r.Name)
		}
		byName[r.Name] = append(byName[r.Name], r)
	}
	type row struct {
		name                                       string
		rounds, n                                  int
		open, steady, min, max, g, heap, stk, live float64
		client                                     float64
		hasStats                                   bool
	}
	var rows []row
	for _, name := range order {
		rs := byName[name]
		var open, steady, g, heap, stk, live, client []float64
		r := row{name: name, rounds: len(rs), n: rs[0].N, min: 1e18}
		for _, x := range rs {
			open = append(open, x.KBPerConnOpen)
			steady = append(steady, x.KBPerConnSteady)
			r.min = min(r.min, x.KBPerConnSteady)
			r.max = max(r.max, x.KBPerConnSteady)
			client = append(client, x.ClientKBPerConn)
			if x.Goroutines > 0 {
				r.hasStats = true
				g = append(g, x.GoroutinesPerConn)
				heap = append(heap, x.HeapInuseKBPerConn)
				stk = append(stk, x.StackInuseKBPerConn)
				live = append(live, x.HeapLiveKBPerConn)
			}
		}
		r.open, r.steady, r.client = median(open), median(steady), median(client)
		r.g, r.heap, r.stk, r.live = median(g), median(heap), median(stk), median(live)
		rows = append(rows, r)
	}

	var t strings.Builder
	t.WriteString("| server | KB/session after open | KB/session after a heartbeat (min-max) | goroutines/session | Go stacks KB/session | Go heap in use KB/session | Go live heap KB/session | rounds × N |\n")
	t.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		g, h, s, l := "n/a", "n/a", "n/a", "n/a"
		if r.hasStats {
			g = fmt.Sprintf("%.2f", r.g)
			h = fmt.Sprintf("%.2f", r.heap)
			s = fmt.Sprintf("%.2f", r.stk)
			l = fmt.Sprintf("%.2f", r.live)
		}
		fmt.Fprintf(&t, "| %s | %.2f | %.2f (%.2f-%.2f) | %s | %s | %s | %s | %d × %d |\n",
			r.name, r.open, r.steady, r.min, r.max, g, s, h, l, r.rounds, r.n)
	}
	var ratio string
	var herald, node *row
	for i := range rows {
		switch rows[i].name {
		case "herald":
			herald = &rows[i]
		case "node":
			node = &rows[i]
		}
	}
	if herald != nil && node != nil && herald.steady > 0 && herald.open > 0 {
		ratio = fmt.Sprintf("Ratio Node/Herald (medians): %.2f× after a heartbeat, %.2f× right after open.\n",
			node.steady/herald.steady, node.open/herald.open)
	}
	var cl strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&cl, "%s %.2f KB, ", r.name, r.client)
	}
	nw, n := 0, 0
	if len(all) > 0 {
		nw, n = all[0].Workers, all[0].N
	}
	clientLine := fmt.Sprintf("Load client RSS per session (%d worker processes, median): ", nw) + strings.TrimSuffix(cl.String(), ", ") + ".\n"

	fmt.Print(t.String())
	fmt.Print(ratio)
	fmt.Print(clientLine)
	if mdFile == "" {
		return nil
	}

	var m strings.Builder
	m.WriteString(idleHeading + "\n\n")
	fmt.Fprintf(&m, "Measured %s. Server RSS (VmRSS from /proc/PID/status) growth divided by the number of sessions, ", time.Now().UTC().Format("2006-01-02"))
	m.WriteString("KB = 1024 bytes, medians across rounds; both servers in one run, interleaved (herald, node, herald, node, ...), ")
	m.WriteString("each round a fresh server process.\n\n")
	m.WriteString(t.String())
	m.WriteString("\n")
	m.WriteString(ratio)
	m.WriteString("\n")
	m.WriteString(clientLine)
	m.WriteString("\nPer round, in the order run:\n\n")
	m.WriteString("| round | server | base RSS MB | KB/session after open | KB/session after a heartbeat | goroutines/session | live heap KB/session (after a forced GC, taken last) | connect s |\n")
	m.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, x := range all {
		g, live := "n/a", "n/a"
		if x.Goroutines > 0 {
			g = fmt.Sprintf("%.4f", x.GoroutinesPerConn)
			live = fmt.Sprintf("%.2f", x.HeapLiveKBPerConn)
		}
		fmt.Fprintf(&m, "| %d | %s | %.1f | %.2f | %.2f | %s | %s | %.1f |\n",
			x.Round, x.Name, float64(x.RSSBaseKB)/1024, x.KBPerConnOpen, x.KBPerConnSteady, g, live, x.ConnectSeconds)
	}
	m.WriteString("\n### How\n\n")
	fmt.Fprintf(&m, "```\n%s\n```\n\n", command)
	m.WriteString("- Servers: `bench/servers/herald-eio` (Herald `engineio`, defaults: pingInterval 25s, pingTimeout 20s) and ")
	m.WriteString("`bench/peers/node/server.js` (engine.io " + nodePkgVersion("engine.io") + " with ws " + nodePkgVersion("ws") + ", same defaults); both echo every message.\n")
	fmt.Fprintf(&m, "- Client: `bench/idle`, %d worker processes holding %d WebSocket connections between them (`EIO=4&transport=websocket`), ", nw, n)
	m.WriteString("each bound to its own 127.0.x.y source address; every session waits for its open packet and answers pings.\n")
	m.WriteString("- \"After open\": RSS once stable (six samples 500 ms apart within 0.5%) after all sessions are open. ")
	m.WriteString("\"After a heartbeat\": RSS once stable after every session has received a ping and answered it (the steady idle state). ")
	m.WriteString("No garbage collection is forced in either server. Goroutines and Go heap/stack figures come from the Herald bench server's `/debug/stats` (runtime.NumGoroutine, runtime.MemStats).\n\n")
	m.WriteString("### Machine\n\n")
	m.WriteString(machine())
	return os.WriteFile(mdFile, []byte(spliceSection(mdFile, m.String())), 0o644)
}

const idleHeading = "## Memory per idle WebSocket session (Engine.IO)"

// spliceSection replaces this report's section of the Markdown file (from
// its heading to the next "## " heading) and keeps the other sections.
func spliceSection(mdFile, section string) string {
	old, err := os.ReadFile(mdFile)
	doc := string(old)
	if err != nil || !strings.HasPrefix(doc, "# ") {
		return "# Benchmarks\n\n" + section
	}
	start := strings.Index(doc, idleHeading)
	if start < 0 {
		return strings.TrimRight(doc, "\n") + "\n\n" + section
	}
	end := len(doc)
	if i := strings.Index(doc[start+len(idleHeading):], "\n## "); i >= 0 {
		end = start + len(idleHeading) + i + 1
	}
	rest := doc[end:]
	if rest != "" {
		section = strings.TrimRight(section, "\n") + "\n\n"
	}
	return doc[:start] + section + rest
}

func nodePkgVersion(pkg string) string {
	b, err := os.ReadFile("bench/peers/node/node_modules/" + pkg + "/package.json")
	if err != nil {
		return "?"
	}
	var v struct {
		Version string `json:"version"`
	}
	_ = json.Unmarshal(b, &v)
	return v.Version
}

func machine() string {
	var m strings.Builder
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(v)
				if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
					mem = fmt.Sprintf("%.1f GiB", kb/1024/1024)
				}
			}
		}
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	cmdOut := func(name string, args ...string) string {
		b, err := exec.Command(name, args...).Output()
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(string(b))
	}
	fmt.Fprintf(&m, "- CPU: %s, nproc %s\n", cpu, cmdOut("nproc"))
	fmt.Fprintf(&m, "- Memory: %s\n", mem)
	fmt.Fprintf(&m, "- Kernel: Linux %s\n", kernel)
	fmt.Fprintf(&m, "- Go: %s\n", cmdOut("go", "env", "GOVERSION"))
	fmt.Fprintf(&m, "- Node: %s\n", cmdOut("node", "--version"))
	herald := cmdOut("git", "rev-parse", "--short", "HEAD")
	if dirty := cmdOut("git", "status", "--porcelain", "--", "engineio"); dirty != "" && dirty != "?" {
		herald += " with uncommitted changes in engineio/"
	}
	fmt.Fprintf(&m, "- Herald: commit %s\n", herald)
	fmt.Fprintf(&m, "- Open files per process: %s (cannot be raised here)\n", cmdOut("sh", "-c", "ulimit -Hn"))
	return m.String()
}
