// Command compare runs every "herald bench" scenario against Herald
// (bench/servers/herald), Node's socket.io 4.8 (bench/peers/node) and
// zishang520/socket.io v3 (bench/peers/zishang), in one run, interleaved
// (for each case and round: herald, node, zishang, each a fresh server
// process), and writes BENCHMARKS.md with a chart per scenario under
// bench/charts/.
//
//	go run ./bench/compare              # full scale (the figures; ~40 min)
//	QUICK=1 go run ./bench/compare      # small scale, one round (~5 min)
//
// Environment (defaults in brackets; QUICK=1 lowers them): ROUNDS [3],
// WORKERS [4], SERVERS [herald,node,zishang], CASES [all: idle, burst,
// fanout-2, fanout-20, echo, connect-websocket, connect-polling], IDLE_N
// [15000], IDLE_HOLD [30s, past a heartbeat], BURST_N [10000], BURST_COUNT
// [10], FANOUT_N [10000], FANOUT_DURATION [30s], ECHO_N [1000],
// ECHO_DURATION [10s], CONNECT_N [5000], CONNECT_POLLING_N [2000], SIZE [100],
// BENCHTIME [1s, for the Go unit benchmarks; "0" skips them], OUT
// [BENCHMARKS.md], NOTE [a line added under the title, e.g. that the machine
// was shared], FEED [1: run bench/feedload/run.sh; 0 keeps its last
// RESULTS.md], CLUSTER [1: run bench/cluster/run.sh; 0 keeps its last
// RESULTS.md]. Those two sections come from their scripts' RESULTS.md files.
//
// It needs Go and Node.js with npm (it runs npm ci in bench/peers/node when
// node_modules is missing). Every process it starts is stopped when it
// returns, also on SIGINT.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heraldio/herald/internal/loadgen"
)

// settings are the scales of one comparison.
type settings struct {
	rounds, workers                        int
	servers, cases                         []string
	idleN, burstN, burstCount, fanoutN     int
	echoN, connectN, connectPollingN, size int
	idleHold, fanoutDur, echoDur           time.Duration
	benchtime, out, note                   string
	quick                                  bool
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	v, err := strconv.Atoi(env(name, strconv.Itoa(def)))
	if err != nil {
		return def
	}
	return v
}

func envDur(name string, def time.Duration) time.Duration {
	v, err := time.ParseDuration(env(name, def.String()))
	if err != nil {
		return def
	}
	return v
}

var allCases = []string{"idle", "burst", "fanout-2", "fanout-20", "echo", "connect-websocket", "connect-polling"}

func loadSettings() settings {
	q := os.Getenv("QUICK") != ""
	pick := func(full, quick int) int {
		if q {
			return quick
		}
		return full
	}
	pickD := func(full, quick time.Duration) time.Duration {
		if q {
			return quick
		}
		return full
	}
	s := settings{
		quick:           q,
		rounds:          envInt("ROUNDS", pick(3, 1)),
		workers:         envInt("WORKERS", pick(4, 2)),
		servers:         strings.Split(env("SERVERS", "herald,node,zishang"), ","),
		cases:           strings.Split(env("CASES", strings.Join(allCases, ",")), ","),
		idleN:           envInt("IDLE_N", pick(15000, 2000)),
		idleHold:        envDur("IDLE_HOLD", pickD(30*time.Second, 0)),
		burstN:          envInt("BURST_N", pick(10000, 2000)),
		burstCount:      envInt("BURST_COUNT", 10),
		fanoutN:         envInt("FANOUT_N", pick(10000, 2000)),
		fanoutDur:       envDur("FANOUT_DURATION", pickD(30*time.Second, 5*time.Second)),
		echoN:           envInt("ECHO_N", pick(1000, 200)),
		echoDur:         envDur("ECHO_DURATION", pickD(10*time.Second, 5*time.Second)),
		connectN:        envInt("CONNECT_N", pick(5000, 1000)),
		connectPollingN: envInt("CONNECT_POLLING_N", pick(2000, 500)),
		size:            envInt("SIZE", 100),
		benchtime:       env("BENCHTIME", map[bool]string{false: "1s", true: "200ms"}[q]),
		out:             env("OUT", "BENCHMARKS.md"),
		note:            os.Getenv("NOTE"),
	}
	return s
}

// command returns the command line that reproduces s, for the report.
func (s settings) command() string {
	var parts []string
	if s.quick {
		parts = append(parts, "QUICK=1")
	}
	for _, name := range []string{"ROUNDS", "WORKERS", "SERVERS", "CASES", "IDLE_N", "IDLE_HOLD", "BURST_N", "BURST_COUNT",
		"FANOUT_N", "FANOUT_DURATION", "ECHO_N", "ECHO_DURATION", "CONNECT_N", "CONNECT_POLLING_N", "SIZE", "BENCHTIME"} {
		if v := os.Getenv(name); v != "" {
			parts = append(parts, name+"="+v)
		}
	}
	return strings.TrimSpace(strings.Join(parts, " ") + " go run ./bench/compare")
}

// benchArgs returns the herald bench arguments of a case.
func (s settings) benchArgs(c string) []string {
	size := strconv.Itoa(s.size)
	switch c {
	case "idle":
		return []string{"--scenario", "idle", "--clients", strconv.Itoa(s.idleN), "--hold", s.idleHold.String()}
	case "burst":
		return []string{"--scenario", "burst", "--clients", strconv.Itoa(s.burstN), "--count", strconv.Itoa(s.burstCount), "--size", size}
	case "echo":
		return []string{"--scenario", "echo", "--clients", strconv.Itoa(s.echoN), "--duration", s.echoDur.String(), "--size", size}
	case "connect-websocket":
		return []string{"--scenario", "connect", "--clients", strconv.Itoa(s.connectN)}
	case "connect-polling":
		return []string{"--scenario", "connect", "--transport", "polling", "--clients", strconv.Itoa(s.connectPollingN)}
	}
	if rate, ok := strings.CutPrefix(c, "fanout-"); ok {
		return []string{"--scenario", "fanout", "--clients", strconv.Itoa(s.fanoutN), "--rate", rate, "--duration", s.fanoutDur.String(), "--size", size}
	}
	return nil
}

// run is one measurement: a case, a round, a server.
type run struct {
	Case   string          `json:"case"`
	Round  int             `json:"round"`
	Server string          `json:"server"`
	Result *loadgen.Result `json:"result,omitempty"`
	Err    string          `json:"error,omitempty"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := compare(ctx, log); err != nil {
		log.Error("compare", "err", err)
		os.Exit(1)
	}
}

func compare(ctx context.Context, log *slog.Logger) error {
	s := loadSettings()
	for _, c := range s.cases {
		if s.benchArgs(c) == nil {
			return fmt.Errorf("unknown case %q", c)
		}
	}
	tmp, err := os.MkdirTemp("", "herald-compare-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := build(ctx, tmp, s.servers, log); err != nil {
		return err
	}
	m := machineInfo(ctx)
	started := time.Now()
	var runs []run
	n := 0
	for _, c := range s.cases {
		for round := 1; round <= s.rounds; round++ {
			for _, srv := range s.servers {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				log.Info("run", "case", c, "round", round, "server", srv)
				res, err := measure(ctx, tmp, s, c, srv, n)
				r := run{Case: c, Round: round, Server: srv, Result: res}
				if err != nil {
					r.Err = err.Error()
					log.Warn("run failed", "case", c, "server", srv, "err", err)
				}
				runs = append(runs, r)
				n++
			}
		}
	}
	m.loadEnd = loadavg()
	m.elapsed = time.Since(started)
	raw, _ := json.MarshalIndent(runs, "", "  ")
	if err := os.WriteFile("bench/results.json", append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	unit := ""
	if s.benchtime != "0" {
		log.Info("unit benchmarks", "benchtime", s.benchtime)
		unit, err = unitBenchmarks(ctx, s.benchtime)
		if err != nil {
			log.Warn("unit benchmarks", "err", err)
		}
	}
	for _, x := range extraSections {
		if os.Getenv(x.env) == "0" {
			continue
		}
		if _, err := os.Stat(x.script); err != nil {
			continue
		}
		log.Info("running", "script", x.script)
		cmd := exec.CommandContext(ctx, "bash", x.script)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if s.quick {
			cmd.Env = append(os.Environ(), "QUICK=1")
		}
		if err := cmd.Run(); err != nil {
			log.Warn("script failed; its previous results stay", "script", x.script, "err", err)
		}
	}
	md, err := report(s, m, runs, unit)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.out, []byte(md), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	log.Info("wrote", "file", s.out, "results", "bench/results.json")
	return nil
}

// build compiles herald, the Herald and zishang bench servers, and
// installs the Node peer's packages when missing.
func build(ctx context.Context, tmp string, servers []string, log *slog.Logger) error {
	steps := [][]string{
		{"go", "build", "-o", filepath.Join(tmp, "herald"), "./cmd/herald"},
		{"go", "build", "-o", filepath.Join(tmp, "herald-server"), "./bench/servers/herald"},
	}
	for _, srv := range servers {
		switch srv {
		case "zishang":
			steps = append(steps, []string{"go", "build", "-C", "bench/peers/zishang", "-o", filepath.Join(tmp, "zishang-server"), "."})
		case "node":
			if _, err := os.Stat("bench/peers/node/node_modules/socket.io"); err != nil {
				steps = append(steps, []string{"npm", "ci", "--prefix", "bench/peers/node", "--no-audit", "--no-fund"})
			}
		}
	}
	for _, st := range steps {
		log.Info("build", "cmd", strings.Join(st, " "))
		cmd := exec.CommandContext(ctx, st[0], st[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(st, " "), err)
		}
	}
	return nil
}

// server is a bench server process.
type server struct {
	cmd *exec.Cmd
	pid int
}

// startServer starts srv on addr and waits for its "ready" line.
func startServer(ctx context.Context, tmp, srv, addr string) (*server, error) {
	var cmd *exec.Cmd
	switch srv {
	case "herald":
		cmd = exec.Command(filepath.Join(tmp, "herald-server"), "--addr", addr)
	case "zishang":
		cmd = exec.Command(filepath.Join(tmp, "zishang-server"), "--addr", addr)
	case "node":
		// Node keeps the soft open-file limit (Go raises its own): raise
		// it to the hard limit (20,000 here) first.
		cmd = exec.Command("sh", "-c", `ulimit -n "$(ulimit -Hn)" && exec node bench/peers/node/server.js --addr "$0"`, addr)
	default:
		return nil, fmt.Errorf("unknown server %q", srv)
	}
	logf, err := os.Create(filepath.Join(tmp, srv+".log"))
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	defer logf.Close()
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", srv, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", srv, err)
	}
	s := &server{cmd: cmd, pid: cmd.Process.Pid}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if pid, ok := strings.CutPrefix(sc.Text(), "pid "); ok {
				if p, err := strconv.Atoi(pid); err == nil {
					s.pid = p
				}
			}
			if sc.Text() == "ready" {
				ready <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		ready <- errors.New("exited before ready")
	}()
	select {
	case err = <-ready:
	case <-time.After(30 * time.Second):
		err = errors.New("not ready within 30s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("start %s: %w", srv, err)
	}
	return s, nil
}

// stop sends SIGTERM, and SIGKILL after 10s.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// measure runs case c against a fresh srv. n numbers the run: each run
// gets its own port and source addresses, so that no run meets the
// previous one's sockets in TIME_WAIT.
func measure(ctx context.Context, tmp string, s settings, c, srv string, n int) (*loadgen.Result, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", 3400+n)
	sv, err := startServer(ctx, tmp, srv, addr)
	if err != nil {
		return nil, err
	}
	defer sv.stop()
	args := append([]string{"bench", "--json", "--label", srv, "--url", "http://" + addr,
		"--server-pid", strconv.Itoa(sv.pid), "--workers", strconv.Itoa(s.workers),
		"--source", fmt.Sprintf("127.%d.%d.1", 1+n/250, n%250)}, s.benchArgs(c)...)
	cmd := exec.CommandContext(ctx, filepath.Join(tmp, "herald"), args...)
	cmd.Stderr = os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("herald %s: %w", strings.Join(args, " "), err)
	}
	var res loadgen.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("herald bench output: %w", err)
	}
	return &res, nil
}

// unitBenchmarks runs the Go benchmarks of the codec and broadcast hot
// paths and returns their result lines.
func unitBenchmarks(ctx context.Context, benchtime string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", benchtime, "./engineio", "./socketio")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var b strings.Builder
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "pkg:") || strings.HasPrefix(line, "cpu:") {
			b.WriteString(line + "\n")
		}
	}
	if err != nil {
		return b.String(), fmt.Errorf("go test -bench: %w", err)
	}
	return b.String(), nil
}
