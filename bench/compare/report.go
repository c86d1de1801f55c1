package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/heraldio/herald/internal/loadgen"
)

// machine describes where the comparison ran.
type machine struct {
	cpu, kernel, goVersion, node, socketio, zishang, commit string
	cores                                                   int
	memGiB                                                  float64
	nofile                                                  uint64
	loadStart, loadEnd                                      string
	date                                                    time.Time
	elapsed                                                 time.Duration
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

func output(ctx context.Context, name string, args ...string) string {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "unknown"
	}
	return firstLine(out)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func machineInfo(ctx context.Context) machine {
	m := machine{cores: runtime.NumCPU(), date: time.Now().UTC(), loadStart: loadavg(), cpu: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = firstLine(b)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(firstLine(b), "MemTotal:")), "%f", &kb)
		m.memGiB = kb / (1 << 20)
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		m.nofile = lim.Max
	}
	m.goVersion = output(ctx, "go", "env", "GOVERSION")
	m.node = output(ctx, "node", "--version")
	m.socketio = output(ctx, "node", "-p", `require("./bench/peers/node/node_modules/socket.io/package.json").version`)
	if b, err := os.ReadFile("bench/peers/zishang/go.mod"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
			if len(f) >= 2 && f[0] == "github.com/zishang520/socket.io/servers/socket/v3" {
				m.zishang = f[1]
			}
		}
	}
	m.commit = output(ctx, "git", "rev-parse", "--short", "HEAD")
	return m
}

// metric is one figure of a case's table.
type metric struct {
	name, unit  string
	get         func(*loadgen.Result) (float64, bool)
	lowerBetter bool
	target      string
	meets       func(float64) bool // nil: no target
	chart       bool
}

func cpuPerOp(r *loadgen.Result) (float64, bool)  { return r.ServerCPUPerOpUS, r.ServerCPUSeconds > 0 }
func loadPerOp(r *loadgen.Result) (float64, bool) { return r.LoadCPUPerOpUS, r.Ops > 0 }
func peakOverIdle(r *loadgen.Result) (float64, bool) {
	if r.RSSIdle <= 0 || r.RSSPeak <= 0 {
		return 0, false
	}
	return 100 * float64(r.RSSPeak-r.RSSIdle) / float64(r.RSSIdle), true
}
func lat(f func(*loadgen.Percentiles) float64) func(*loadgen.Result) (float64, bool) {
	return func(r *loadgen.Result) (float64, bool) {
		if r.Latency == nil {
			return 0, false
		}
		return f(r.Latency), true
	}
}

func metricsFor(c string) []metric {
	switch {
	case c == "idle":
		return []metric{
			{name: "server memory per connection", unit: "KiB", lowerBetter: true, chart: true, target: "< 4 KB (3.91 KiB)",
				get:   func(r *loadgen.Result) (float64, bool) { return r.MemPerConn / 1024, r.RSSBase > 0 },
				meets: func(v float64) bool { return v*1024 < 4000 }},
			{name: "goroutines per connection", unit: "", lowerBetter: true, chart: true,
				get: func(r *loadgen.Result) (float64, bool) {
					if r.GoroutinesPerConn == nil {
						return 0, false
					}
					return *r.GoroutinesPerConn, true
				}},
			{name: "connect time", unit: "s", lowerBetter: true, get: func(r *loadgen.Result) (float64, bool) { return r.ConnectSeconds, true }},
			{name: "load generator RSS per connection", unit: "KiB", lowerBetter: true,
				get: func(r *loadgen.Result) (float64, bool) { return r.LoadRSSPerConn / 1024, r.LoadRSSPerConn > 0 }},
		}
	case c == "burst":
		return []metric{
			{name: "server CPU per delivery", unit: "µs", lowerBetter: true, chart: true, get: cpuPerOp, target: "≤ 4.8 µs",
				meets: func(v float64) bool { return v <= 4.8 }},
			{name: "time until every client has every message", unit: "s", lowerBetter: true, chart: true,
				get: func(r *loadgen.Result) (float64, bool) { return r.WallSeconds, r.Drained }},
			{name: "server peak RSS over idle", unit: "%", lowerBetter: true, chart: true, get: peakOverIdle, target: "≤ 10%",
				meets: func(v float64) bool { return v <= 10 }},
			{name: "lost", unit: "", lowerBetter: true, get: func(r *loadgen.Result) (float64, bool) { return float64(r.Lost), true },
				target: "0", meets: func(v float64) bool { return v == 0 }},
			{name: "load generator CPU per delivery", unit: "µs", lowerBetter: true, get: loadPerOp},
		}
	case strings.HasPrefix(c, "fanout-"):
		p99 := metric{name: "latency p99", unit: "ms", lowerBetter: true, chart: true, get: lat(func(p *loadgen.Percentiles) float64 { return p.P99 })}
		ms := []metric{
			{name: "latency p50", unit: "ms", lowerBetter: true, get: lat(func(p *loadgen.Percentiles) float64 { return p.P50 })},
			p99,
			{name: "latency max", unit: "ms", lowerBetter: true, get: lat(func(p *loadgen.Percentiles) float64 { return p.Max })},
			{name: "lost", unit: "", lowerBetter: true, get: func(r *loadgen.Result) (float64, bool) { return float64(r.Lost), true }},
			{name: "last delivery after last send", unit: "s", lowerBetter: true,
				get: func(r *loadgen.Result) (float64, bool) { return r.DrainSeconds, r.Drained }},
			{name: "server CPU per delivery", unit: "µs", lowerBetter: true, chart: true, get: cpuPerOp},
			{name: "server peak RSS over idle", unit: "%", lowerBetter: true, chart: true, get: peakOverIdle},
			{name: "deliveries per second", unit: "/s", get: func(r *loadgen.Result) (float64, bool) { return r.OpsPerSec, r.Ops > 0 }},
			{name: "load generator CPU per delivery", unit: "µs", lowerBetter: true, get: loadPerOp},
		}
		switch c {
		case "fanout-2":
			ms[1].target, ms[1].meets = "≤ 21 ms", func(v float64) bool { return v <= 21 }
		case "fanout-20":
			ms[1].target, ms[1].meets = "< 100 ms", func(v float64) bool { return v < 100 }
			ms[3].target, ms[3].meets = "0", func(v float64) bool { return v == 0 }
			ms[4].target, ms[4].meets = "≤ 1 s", func(v float64) bool { return v <= 1 }
		}
		return ms
	case c == "echo":
		return []metric{
			{name: "server CPU per ack", unit: "µs", lowerBetter: true, chart: true, get: cpuPerOp, target: "≤ 7.5 µs",
				meets: func(v float64) bool { return v <= 7.5 }},
			{name: "acks per second", unit: "/s", chart: true, get: func(r *loadgen.Result) (float64, bool) { return r.OpsPerSec, r.Ops > 0 }},
			{name: "RTT p50", unit: "ms", lowerBetter: true, get: lat(func(p *loadgen.Percentiles) float64 { return p.P50 })},
			{name: "RTT p99", unit: "ms", lowerBetter: true, chart: true, get: lat(func(p *loadgen.Percentiles) float64 { return p.P99 }),
				target: "< 10 ms", meets: func(v float64) bool { return v < 10 }},
			{name: "load generator CPU per ack", unit: "µs", lowerBetter: true, get: loadPerOp},
		}
	default: // connect-*
		return []metric{
			{name: "server CPU per connection", unit: "µs", lowerBetter: true, chart: true, get: cpuPerOp, target: "≤ 95 µs",
				meets: func(v float64) bool { return v <= 95 }},
			{name: "connections per second", unit: "/s", chart: true, get: func(r *loadgen.Result) (float64, bool) { return r.OpsPerSec, r.Ops > 0 }},
			{name: "failed", unit: "", lowerBetter: true, get: func(r *loadgen.Result) (float64, bool) { return float64(r.Failed), true }},
			{name: "load generator CPU per connection", unit: "µs", lowerBetter: true, get: loadPerOp},
		}
	}
}

var caseTitles = map[string]string{
	"idle":              "idle: server memory per idle WebSocket connection",
	"burst":             "burst: back-to-back broadcasts to every client",
	"echo":              "echo: emit-with-ack loops",
	"connect-websocket": "connect: handshake through namespace connect, WebSocket",
	"connect-polling":   "connect: handshake through namespace connect, long-polling",
}

func (s settings) caseTitle(c string) string {
	if t, ok := caseTitles[c]; ok {
		return t
	}
	return "fanout: " + strings.TrimPrefix(c, "fanout-") + " broadcasts/s"
}

func (s settings) caseScale(c string) string {
	switch {
	case c == "idle":
		return fmt.Sprintf("%d clients, held %v", s.idleN, s.idleHold)
	case c == "burst":
		return fmt.Sprintf("%d clients, %d × %d B", s.burstN, s.burstCount, s.size)
	case c == "echo":
		return fmt.Sprintf("%d clients for %v, %d B", s.echoN, s.echoDur, s.size)
	case c == "connect-websocket":
		return fmt.Sprintf("%d connections, 64 in flight per worker", s.connectN)
	case c == "connect-polling":
		return fmt.Sprintf("%d connections, 64 in flight per worker", s.connectPollingN)
	}
	return fmt.Sprintf("%d clients for %v, %d B", s.fanoutN, s.fanoutDur, s.size)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func format(v float64, unit string) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	var s string
	switch a := math.Abs(v); {
	case a == 0:
		s = "0"
	case a >= 1000:
		s = fmt.Sprintf("%.0f", v)
	case a >= 100:
		s = fmt.Sprintf("%.0f", v)
	case a >= 10:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.2f", v)
	}
	if unit == "" || unit == "/s" {
		return s
	}
	if unit == "%" {
		return s + "%"
	}
	return s + " " + unit
}

// report renders BENCHMARKS.md and writes the charts.
func report(s settings, m machine, runs []run, unit string) (string, error) {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Benchmarks\n\n")
	w("Herald (`bench/servers/herald`), Node's socket.io %s (`bench/peers/node`) and zishang520/socket.io %s (`bench/peers/zishang`, the Go port) measured by `herald bench` in one run, interleaved: for each case and round, herald, node, zishang, each a fresh server process. Generated %s by:\n\n",
		m.socketio, m.zishang, m.date.Format("2006-01-02 15:04 UTC"))
	w("```\n%s\n```\n\n", s.command())
	if s.note != "" {
		w("**%s**\n\n", s.note)
	}
	w("The primary figures are the server's **CPU per operation** (utime+stime from /proc/PID/stat over the measured phase, divided by the operations) and its **memory** (VmRSS); wall-clock figures are beside them. Client and servers share the machine's cores, so wall-clock ratios are bounded by the load generator's own cost, reported as \"load generator CPU\" (all its processes). Figures are medians of %d round(s); per-run figures are in `bench/results.json`.\n\n", s.rounds)
	w("## Machine\n\n")
	w("- CPU: %s, %d cores; memory %.1f GiB\n", m.cpu, m.cores, m.memGiB)
	w("- Kernel: Linux %s\n- Go: %s; Node: %s (socket.io %s); zishang520/socket.io %s\n", m.kernel, m.goVersion, m.node, m.socketio, m.zishang)
	w("- Herald commit: %s (plus the working tree at the time of the run)\n", m.commit)
	w("- Open files per process: %d; load generator: %d worker processes, each on its own 127.x.y.z source address\n", m.nofile, s.workers)
	w("- Load average at start %s, at end %s; the run took %s\n\n", m.loadStart, m.loadEnd, m.elapsed.Round(time.Second))

	w("## Summary against the targets (issue 6)\n\n| case | figure | target | herald | node | zishang | met |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	med := func(c, srv string, mt metric) float64 {
		var vs []float64
		for _, r := range runs {
			if r.Case == c && r.Server == srv && r.Result != nil && r.Err == "" {
				if v, ok := mt.get(r.Result); ok {
					vs = append(vs, v)
				}
			}
		}
		return median(vs)
	}
	for _, c := range s.cases {
		for _, mt := range metricsFor(c) {
			if mt.meets == nil {
				continue
			}
			h := med(c, "herald", mt)
			met := "no"
			if !math.IsNaN(h) && mt.meets(h) {
				met = "yes"
			}
			w("| %s | %s | %s | %s | %s | %s | %s |\n", c, mt.name, mt.target, format(h, mt.unit),
				format(med(c, "node", mt), mt.unit), format(med(c, "zishang", mt), mt.unit), met)
		}
	}
	w("\nWhere a target is missed, [bench/PROFILES.md](bench/PROFILES.md) has the CPU and heap profiles that say why (written by hand, not by this command).\n\n")

	if err := os.MkdirAll("bench/charts", 0o755); err != nil {
		return "", fmt.Errorf("charts: %w", err)
	}
	for _, c := range s.cases {
		w("## %s\n\n%s; %d worker processes.\n\n", s.caseTitle(c), s.caseScale(c), s.workers)
		w("| figure | %s | herald vs node |\n| --- |%s --- |\n", strings.Join(s.servers, " | "), strings.Repeat(" --- |", len(s.servers)))
		var panels []panel
		for _, mt := range metricsFor(c) {
			vals := make([]float64, len(s.servers))
			cells := make([]string, len(s.servers))
			for i, srv := range s.servers {
				vals[i] = med(c, srv, mt)
				cells[i] = format(vals[i], mt.unit)
			}
			ratio := "n/a"
			h, n := med(c, "herald", mt), med(c, "node", mt)
			if !math.IsNaN(h) && !math.IsNaN(n) && h > 0 && n > 0 {
				if mt.lowerBetter {
					ratio = fmt.Sprintf("%.2f× less", n/h)
				} else {
					ratio = fmt.Sprintf("%.2f× more", h/n)
				}
			}
			w("| %s | %s | %s |\n", mt.name, strings.Join(cells, " | "), ratio)
			if mt.chart {
				panels = append(panels, panel{title: mt.name, unit: unitLabel(mt), labels: s.servers, values: vals})
			}
		}
		var failures []string
		for _, r := range runs {
			if r.Case == c && r.Err != "" {
				failures = append(failures, fmt.Sprintf("round %d %s: %s", r.Round, r.Server, r.Err))
			}
			if r.Case == c && r.Result != nil && r.Result.FirstErr != "" {
				failures = append(failures, fmt.Sprintf("round %d %s: %d clients failed to connect (%s)", r.Round, r.Server, r.Result.Failed, r.Result.FirstErr))
			}
		}
		if len(failures) > 0 {
			w("\nFailures: %s.\n", strings.Join(failures, "; "))
		}
		chart := filepath.Join("bench", "charts", c+".png")
		if err := writeChart(chart, s.caseTitle(c)+" ("+s.caseScale(c)+")", panels); err != nil {
			return "", err
		}
		w("\n![%s](%s)\n\n", c, chart)
	}

	// The feed service and the cluster adapter have scripts of their own;
	// main runs them first unless FEED=0 or CLUSTER=0.
	for _, x := range extraSections {
		if md, err := os.ReadFile(x.results); err == nil {
			// Their own headings go one level down, under this section's.
			body := strings.ReplaceAll("\n"+strings.TrimSpace(string(md)), "\n#", "\n##")
			w("## %s\n%s\n\n", x.title, body)
		}
	}

	w("## Per run\n\n| case | round | server | ops | wall s | server CPU µs/op | load CPU µs/op | RSS idle MiB | RSS peak MiB | p99 ms | lost | connected |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range runs {
		if r.Result == nil {
			w("| %s | %d | %s | failed: %s |||||||||\n", r.Case, r.Round, r.Server, strings.ReplaceAll(r.Err, "|", "/"))
			continue
		}
		x := r.Result
		p99 := "-"
		if x.Latency != nil {
			p99 = fmt.Sprintf("%.1f", x.Latency.P99)
		}
		w("| %s | %d | %s | %d | %.2f | %.2f | %.2f | %.1f | %.1f | %s | %d | %d/%d |\n", r.Case, r.Round, r.Server, x.Ops, x.WallSeconds,
			x.ServerCPUPerOpUS, x.LoadCPUPerOpUS, float64(x.RSSIdle)/(1<<20), float64(x.RSSPeak)/(1<<20), p99, x.Lost, x.Connected, x.Clients)
	}
	w("\n## How each scenario is measured\n\n")
	w("- **idle**: the server's RSS before the clients connect and once it is stable (five samples 200 ms apart within 0.5%%) after they have, after holding them %v (past a heartbeat at the default 25 s pingInterval); divided by the clients. Goroutines per connection from the server's `/bench/stats` (Go servers only).\n", s.idleHold)
	w("- **burst** and **fanout**: a broadcast source (its own client, in the coordinating process) emits `broadcast` with a string payload `<seq>:<unix ns>:<padding>`; the server broadcasts it as `tick` to every other socket (`socket.broadcast.emit`). Each receiver computes latency as its clock at receipt minus the stamp (same machine, one CLOCK_REALTIME), and counts gaps in the sequence as lost and repeats as duplicated. Server CPU is taken from the first send until every client has the last message (or the drain timeout). Peak RSS is sampled every 20 ms.\n")
	w("- **echo**: every client emits `echo` with an ack id and emits the next one as soon as the ack arrives; the server acknowledges with the same arguments. RTT is measured on the client's own clock.\n")
	w("- **connect**: the clients open as fast as 64 attempts in flight per worker allow; a connection counts once the namespace CONNECT is answered. Server CPU over that phase.\n\n")
	w("The three servers implement the same bench protocol (`broadcast`, `echo`, `GET /bench/stats`) with their libraries' defaults; Herald's bench server turns off its per-address connection limit and packet rate limit, which Node does not have.\n\n")
	if unit != "" {
		w("## Hot paths (Go benchmarks)\n\n```\ngo test -run '^$' -bench . -benchmem -benchtime %s ./engineio ./socketio\n```\n\n```\n%s```\n", s.benchtime, unit)
	}
	return b.String(), nil
}

func unitLabel(m metric) string {
	if m.unit == "" {
		return "lower is better"
	}
	if m.lowerBetter {
		return m.unit + ", lower is better"
	}
	return m.unit + ", higher is better"
}

// extraSections are measured by their own scripts (run by main) and
// included in BENCHMARKS.md as they wrote them.
var extraSections = []struct{ env, title, script, results string }{
	{"FEED", "Feed service: REST API and live events (bench/feedload)", "bench/feedload/run.sh", "bench/feedload/RESULTS.md"},
	{"CLUSTER", "Cluster: fan-out through the Redis adapter, two nodes (bench/cluster)", "bench/cluster/run.sh", "bench/cluster/RESULTS.md"},
}
