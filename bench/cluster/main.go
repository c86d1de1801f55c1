// Command cluster measures broadcast fan-out through the Redis adapter
// across two nodes: two Herald nodes (./herald, adapter/redis, classic form)
// side by side with two Node nodes (./node, socket.io 4.8 with
// @socket.io/redis-adapter 8.3), runs interleaved (herald, node, herald,
// node…), each pair on a Redis channel prefix of its own.
//
// In each run, --clients WebSocket clients connect, half to node 1 and half
// to node 2, plus one sender on node 1. After a warm-up (broadcasts until one
// reaches a client of node 2, so the cluster is formed), the sender emits
// "bcast" --rate times a second for --duration, each with a sequence number
// and its send time; node 1 re-broadcasts it as "tick" to every other socket
// of the cluster (socket.broadcast.emit). Each client records the latency
// (receive time - send time, one monotonic clock: sender and receivers are
// this process) and the sequence numbers it saw; a run ends when every
// client has every broadcast or --drain passes. Reported per run and node
// group: deliveries, losses, duplicates, latency p50/p99/max, deliveries per
// second, and the servers' CPU time.
//
//	bash bench/cluster/run.sh            # builds, then runs this with defaults
//	go run ./bench/cluster --herald /tmp/hcn --node-dir bench/cluster/node --out bench/cluster/RESULTS.md
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

type config struct {
	herald, nodeDir, redis, out string
	clients, runs, size         int
	rate                        float64
	duration, drain             time.Duration
	command                     string
	loadBefore, loadAfter       string
}

// loadavg is the 1, 5 and 15 minute load averages from /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return firstWords(string(b), 3)
}

func main() {
	var c config
	flag.StringVar(&c.herald, "herald", "", "binary of ./herald (go build -o X ./bench/cluster/herald)")
	flag.StringVar(&c.nodeDir, "node-dir", "bench/cluster/node", "folder of server.js, with node_modules")
	flag.StringVar(&c.redis, "redis", "127.0.0.1:6379", "Redis address")
	flag.StringVar(&c.out, "out", "", "write the Markdown report here (default: stdout only)")
	clientList := flag.String("clients", "2000,500", "receiving clients, split over the two nodes; a comma-separated list runs each size (a table each)")
	flag.IntVar(&c.runs, "runs", 2, "runs per implementation, interleaved")
	flag.IntVar(&c.size, "size", 100, "padding bytes in each broadcast")
	flag.Float64Var(&c.rate, "rate", 10, "broadcasts per second")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "how long to broadcast")
	flag.DurationVar(&c.drain, "drain", 15*time.Second, "wait at most this long for the last deliveries")
	flag.StringVar(&c.command, "command", "", "the command line to show in the report (default: this one)")
	flag.Parse()
	if c.command == "" {
		c.command = strings.Join(os.Args, " ")
	}
	if c.herald == "" {
		fmt.Fprintln(os.Stderr, "--herald is required (see run.sh)")
		os.Exit(2)
	}
	var sizes []int
	for _, f := range strings.Split(*clientList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			fmt.Fprintf(os.Stderr, "--clients: %q is not a number of clients (2 or more)\n", f)
			os.Exit(2)
		}
		sizes = append(sizes, n)
	}
	c.loadBefore = loadavg()
	var results [][]*result
	for _, size := range sizes {
		c.clients = size
		var rs []*result
		for i := range c.runs {
			for _, impl := range []string{"herald", "node"} {
				fmt.Fprintf(os.Stderr, "%d clients, run %d/%d: %s\n", size, i+1, c.runs, impl)
				r, err := runOnce(c, impl)
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s run %d: %v\n", impl, i+1, err)
					os.Exit(1)
				}
				fmt.Fprintln(os.Stderr, "  "+r.line())
				rs = append(rs, r)
			}
		}
		results = append(results, rs)
	}
	c.loadAfter = loadavg()
	report := markdown(c, sizes, results)
	fmt.Print(report)
	if c.out != "" {
		if err := os.WriteFile(c.out, []byte(report), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// server is one running node.
type server struct {
	cmd  *exec.Cmd
	addr string
	done chan error
}

func startServer(c config, impl, key string) (*server, error) {
	var cmd *exec.Cmd
	if impl == "herald" {
		cmd = exec.Command(c.herald, "--addr", "127.0.0.1:0", "--redis", c.redis, "--key", key)
	} else {
		cmd = exec.Command("node", "server.js", "--addr", "127.0.0.1:0", "--redis", c.redis, "--key", key)
		cmd.Dir = c.nodeDir
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- a
			}
		}
		s.done <- cmd.Wait()
	}()
	select {
	case s.addr = <-ready:
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("%s node exited before ready: %v", impl, err)
	case <-time.After(60 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s node not ready within 60s", impl)
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// cpu returns the process's user+system CPU time from /proc.
func (s *server) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
}

// conn is one Socket.IO client over a raw WebSocket (Engine.IO 4).
type conn struct {
	nc    net.Conn
	wmu   sync.Mutex
	lat   []int32 // µs, of measured broadcasts
	seen  []bool
	dups  int
	got   atomic.Int64
	warm  atomic.Bool
	group int // 0: node 1, 1: node 2
}

var base = time.Now()

func now() int64 { return int64(time.Since(base) / time.Microsecond) }

func dial(ctx context.Context, addr string) (*conn, error) {
	nc, br, _, err := ws.Dial(ctx, "ws://"+addr+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		return nil, err
	}
	if br != nil { // the server's first frames came with the handshake
		nc = bufferedConn{nc, io.MultiReader(br, nc)}
	}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	b, err := wsutil.ReadServerText(nc)
	if err != nil || len(b) == 0 || b[0] != '0' {
		nc.Close()
		return nil, fmt.Errorf("engine.io open: %q %v", b, err)
	}
	if err := wsutil.WriteClientText(nc, []byte("40")); err != nil {
		nc.Close()
		return nil, err
	}
	b, err = wsutil.ReadServerText(nc)
	if err != nil || !strings.HasPrefix(string(b), "40") {
		nc.Close()
		return nil, fmt.Errorf("socket.io connect: %q %v", b, err)
	}
	_ = nc.SetDeadline(time.Time{})
	return &conn{nc: nc}, nil
}

// bufferedConn reads what ws.Dial buffered before the connection.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *conn) send(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return wsutil.WriteClientText(c.nc, b)
}

type tick struct {
	Seq int   `json:"s"`
	T   int64 `json:"t"`
}

// parseTick reads {"s":N,"t":N,…} as the sender wrote it (both servers
// re-encode it unchanged: integers, same key order), without a JSON
// decoder, so that the load generator spends its CPU on the sockets.
func parseTick(b []byte) (tick, bool) {
	num := func(key string) (int64, bool) {
		i := bytes.Index(b, []byte(key))
		if i < 0 {
			return 0, false
		}
		j := i + len(key)
		k := j
		if k < len(b) && b[k] == '-' {
			k++
		}
		for k < len(b) && b[k] >= '0' && b[k] <= '9' {
			k++
		}
		v, err := strconv.ParseInt(string(b[j:k]), 10, 64)
		return v, err == nil
	}
	s, ok1 := num(`"s":`)
	t, ok2 := num(`"t":`)
	return tick{Seq: int(s), T: t}, ok1 && ok2
}

// read handles the client's frames until the connection closes.
func (c *conn) read(n int, onTick func()) {
	c.seen = make([]bool, n)
	c.lat = make([]int32, 0, n)
	for {
		b, err := wsutil.ReadServerText(c.nc)
		if err != nil {
			return
		}
		switch {
		case len(b) == 1 && b[0] == '2':
			_ = c.send([]byte("3"))
		case strings.HasPrefix(string(b), `42["tick",`):
			at := now()
			tk, ok := parseTick(b[len(`42["tick",`):])
			if !ok {
				continue
			}
			if tk.Seq < 0 {
				c.warm.Store(true)
				continue
			}
			if tk.Seq >= n {
				continue
			}
			if c.seen[tk.Seq] {
				c.dups++
				continue
			}
			c.seen[tk.Seq] = true
			c.lat = append(c.lat, int32(at-tk.T))
			c.got.Add(1)
			onTick()
		}
	}
}

type group struct {
	Delivered, Expected, Lost, Dups int
	P50, P99, Max                   time.Duration
}

type result struct {
	Impl      string
	Clients   int
	Sent      int
	Groups    [2]group
	PerSec    float64 // deliveries per second, both nodes
	Span      time.Duration
	CPU       [2]time.Duration
	Connect   time.Duration
	Incomplet bool
}

func (r *result) line() string {
	return fmt.Sprintf("%s: %d deliveries/s; node1 p50 %v p99 %v max %v lost %d; node2 p50 %v p99 %v max %v lost %d; CPU %v + %v",
		r.Impl, int(r.PerSec), r.Groups[0].P50, r.Groups[0].P99, r.Groups[0].Max, r.Groups[0].Lost,
		r.Groups[1].P50, r.Groups[1].P99, r.Groups[1].Max, r.Groups[1].Lost, r.CPU[0].Round(10*time.Millisecond), r.CPU[1].Round(10*time.Millisecond))
}

func runOnce(c config, impl string) (*result, error) {
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	key := "herald-bench-cluster-" + hex.EncodeToString(rb[:])
	s1, err := startServer(c, impl, key)
	if err != nil {
		return nil, err
	}
	defer s1.stop()
	s2, err := startServer(c, impl, key)
	if err != nil {
		return nil, err
	}
	defer s2.stop()

	n := int(c.rate * c.duration.Seconds())
	total := int64(c.clients) * int64(n)
	var delivered atomic.Int64
	allDone := make(chan struct{})
	onTick := func() {
		if delivered.Add(1) == total {
			close(allDone)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	clients := make([]*conn, c.clients)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var dialErr atomic.Value
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			addr := s1.addr
			if i%2 == 1 {
				addr = s2.addr
			}
			cl, err := dial(ctx, addr)
			if err != nil {
				dialErr.Store(err)
				return
			}
			cl.group = i % 2
			clients[i] = cl
		}()
	}
	wg.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		closeAll(clients)
		return nil, fmt.Errorf("connect: %w", err)
	}
	connectTime := time.Since(start)
	var readers sync.WaitGroup
	for _, cl := range clients {
		readers.Add(1)
		go func() { defer readers.Done(); cl.read(n, onTick) }()
	}
	defer func() {
		closeAll(clients)
		readers.Wait()
	}()
	sender, err := dial(ctx, s1.addr)
	if err != nil {
		return nil, fmt.Errorf("sender: %w", err)
	}
	defer sender.nc.Close()
	go func() { _, _ = io.Copy(io.Discard, sender.nc) }() // pings are not answered: the run is shorter than pingInterval+pingTimeout

	pad := strings.Repeat("x", c.size)
	emit := func(seq int) error {
		return sender.send(fmt.Appendf(nil, `42["bcast",{"s":%d,"t":%d,"p":%q}]`, seq, now(), pad))
	}
	// Warm-up: until every client saw a warm-up broadcast (so both nodes
	// deliver, and node 2 is subscribed).
	warmDeadline := time.Now().Add(30 * time.Second)
	for {
		if err := emit(-1); err != nil {
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
		all := true
		for _, cl := range clients {
			if !cl.warm.Load() {
				all = false
				break
			}
		}
		if all {
			break
		}
		if time.Now().After(warmDeadline) {
			return nil, errors.New("warm-up: not every client got a broadcast within 30s")
		}
	}

	cpu0 := [2]time.Duration{s1.cpu(), s2.cpu()}
	interval := time.Duration(float64(time.Second) / c.rate)
	t0 := time.Now()
	for seq := range n {
		if d := time.Until(t0.Add(time.Duration(seq) * interval)); d > 0 {
			time.Sleep(d)
		}
		if err := emit(seq); err != nil {
			return nil, err
		}
	}
	incomplete := false
	select {
	case <-allDone:
	case <-time.After(c.drain):
		incomplete = true
	}
	span := time.Since(t0)
	cpu1 := [2]time.Duration{s1.cpu(), s2.cpu()}

	r := &result{Impl: impl, Clients: c.clients, Sent: n, Span: span, Connect: connectTime, Incomplet: incomplete}
	r.CPU = [2]time.Duration{cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]}
	closeAll(clients) // stops the readers before their slices are read
	readers.Wait()
	var lats [2][]int32
	for _, cl := range clients {
		g := &r.Groups[cl.group]
		g.Delivered += len(cl.lat)
		g.Expected += n
		g.Dups += cl.dups
		lats[cl.group] = append(lats[cl.group], cl.lat...)
	}
	for i := range r.Groups {
		g := &r.Groups[i]
		g.Lost = g.Expected - g.Delivered
		l := lats[i]
		slices.Sort(l)
		if len(l) > 0 {
			q := func(p float64) time.Duration {
				return time.Duration(l[min(len(l)-1, int(p*float64(len(l))))]) * time.Microsecond
			}
			g.P50, g.P99, g.Max = q(0.50), q(0.99), time.Duration(l[len(l)-1])*time.Microsecond
		}
	}
	r.PerSec = float64(r.Groups[0].Delivered+r.Groups[1].Delivered) / span.Seconds()
	return r, nil
}

func closeAll(cs []*conn) {
	for _, c := range cs {
		if c != nil {
			c.nc.Close()
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

func markdown(c config, sizes []int, all [][]*result) string {
	var b strings.Builder
	host, _ := os.Hostname()
	cpuModel := "unknown"
	if f, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(f), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpuModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	nodeV, _ := exec.Command("node", "--version").Output()
	redisV, _ := exec.Command("redis-server", "--version").Output()
	fmt.Fprintf(&b, "# Redis adapter fan-out: two Herald nodes vs two Node nodes\n\n")
	fmt.Fprintf(&b, "Generated by `bench/cluster/run.sh` on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "- Machine: %s, %d CPUs (%s), %s/%s, Go %s, Node %s, %s\n", host, runtime.NumCPU(), cpuModel,
		runtime.GOOS, runtime.GOARCH, runtime.Version(), strings.TrimSpace(string(nodeV)), firstWords(string(redisV), 3))
	fmt.Fprintf(&b, "- **The machine was shared** with other jobs (builds and tests of other helpers) during the run, and the load generator, both servers of a pair and Redis all ran on it: absolute figures are pessimistic and noisy; the ratio of interleaved runs is the figure to read. Load average (1, 5, 15 min) before the runs: %s; after: %s.\n", c.loadBefore, c.loadAfter)
	fmt.Fprintf(&b, "- Command: `%s`\n", c.command)
	fmt.Fprintf(&b, "- Setup per run: a fresh Redis channel prefix; two nodes of one implementation (Herald: bench/cluster/herald, adapter/redis classic form; Node: bench/cluster/node, socket.io 4.8 + @socket.io/redis-adapter 8.3 + ioredis); N WebSocket clients, half on each node; one sender on node 1 emits `bcast` %g times/s for %v (%d broadcasts, %d bytes of padding each), which node 1 re-broadcasts as `tick` to every other socket of the cluster (`socket.broadcast.emit`), so half the deliveries cross Redis. Latency = receive time - send time on one monotonic clock (sender and receivers are one process). Runs interleaved: %s, for each N.\n",
		c.rate, c.duration, int(c.rate*c.duration.Seconds()), c.size, order(all[0]))
	for i, rs := range all {
		c.clients = sizes[i]
		table(&b, c, rs)
	}
	b.WriteString("\nHow to read it: the offered load is clients x rate deliveries/s (in each heading). ")
	b.WriteString("A server that keeps up delivers about that many per second with latencies near the network's; " +
		"one that falls behind queues, so its latency grows through the run and deliveries/s drop below the offered load. " +
		"\"lost\" counts the deliveries still missing when the drain time (--drain after the last broadcast) ran out: " +
		"late, not necessarily dropped (the Redis adapters publish at most once, and nothing was disconnected). " +
		"Server CPU is user+system time of the two server processes from the first measured broadcast to the end of the drain; " +
		"the load generator's and Redis's CPU are not counted. " +
		"On a machine shared with other jobs, a single-threaded Node process gets one thread's share of the CPUs while Herald's threads get several, " +
		"so the latencies and losses favour Herald more than they would on an idle machine; CPU per 1,000 deliveries is the figure least affected.\n")
	return b.String()
}

func table(b *strings.Builder, c config, rs []*result) {
	fmt.Fprintf(b, "\n## %d clients (offered load %.0f deliveries/s)\n\n", c.clients, float64(c.clients)*c.rate)
	b.WriteString("| run | server | deliveries/s | node 1 p50 / p99 / max (ms) | node 2 (via Redis) p50 / p99 / max (ms) | lost (missing after drain) | dup | server CPU node 1 + node 2 (s) | server CPU per 1,000 deliveries (ms) |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for i, r := range rs {
		g1, g2 := r.Groups[0], r.Groups[1]
		fmt.Fprintf(b, "| %d | %s | %.0f | %s / %s / %s | %s / %s / %s | %d | %d | %.2f + %.2f | %.1f |\n", i+1, r.Impl, r.PerSec,
			ms(g1.P50), ms(g1.P99), ms(g1.Max), ms(g2.P50), ms(g2.P99), ms(g2.Max), g1.Lost+g2.Lost, g1.Dups+g2.Dups,
			r.CPU[0].Seconds(), r.CPU[1].Seconds(), cpuPer1000(r))
	}
	// Medians over the runs of each implementation.
	agg := func(impl string, f func(*result) float64) float64 {
		var v []float64
		for _, r := range rs {
			if r.Impl == impl {
				v = append(v, f(r))
			}
		}
		slices.Sort(v)
		if len(v) == 0 {
			return 0
		}
		if len(v)%2 == 0 {
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		return v[len(v)/2]
	}
	p99 := func(g int) func(*result) float64 {
		return func(r *result) float64 { return float64(r.Groups[g].P99) / float64(time.Millisecond) }
	}
	cpu := func(r *result) float64 { return (r.CPU[0] + r.CPU[1]).Seconds() }
	lost := func(r *result) float64 { return float64(r.Groups[0].Lost + r.Groups[1].Lost) }
	perSec := func(r *result) float64 { return r.PerSec }
	b.WriteString("\nMedian over the runs of each server, and Herald / Node:\n\n")
	b.WriteString("| figure | Herald | Node | Herald / Node |\n| --- | ---: | ---: | ---: |\n")
	for _, row := range []struct {
		name string
		f    func(*result) float64
		fmt  string
	}{
		{"deliveries/s", perSec, "%.0f"},
		{"p99 latency, node 1 (ms)", p99(0), "%.1f"},
		{"p99 latency, node 2 via Redis (ms)", p99(1), "%.1f"},
		{"server CPU, both nodes (s)", cpu, "%.2f"},
		{"server CPU per 1,000 deliveries (ms)", cpuPer1000, "%.1f"},
		{"lost deliveries", lost, "%.0f"},
	} {
		h, nd := agg("herald", row.f), agg("node", row.f)
		ratio := "-"
		if nd != 0 {
			ratio = fmt.Sprintf("%.2f", h/nd)
		}
		fmt.Fprintf(b, "| %s | "+row.fmt+" | "+row.fmt+" | %s |\n", row.name, h, nd, ratio)
	}
}

// cpuPer1000 is the servers' CPU time per 1,000 deliveries, in ms: the
// figure least distorted by a busy machine.
func cpuPer1000(r *result) float64 {
	d := r.Groups[0].Delivered + r.Groups[1].Delivered
	if d == 0 {
		return 0
	}
	return (r.CPU[0] + r.CPU[1]).Seconds() * 1e6 / float64(d)
}

func order(rs []*result) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Impl)
	}
	return strings.Join(s, ", ")
}

func firstWords(s string, n int) string {
	f := strings.Fields(s)
	return strings.Join(f[:min(n, len(f))], " ")
}
