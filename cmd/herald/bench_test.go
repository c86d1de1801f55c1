package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/internal/loadgen"
	"github.com/heraldio/herald/socketio"
)

// TestMain lets this test binary stand in for herald as the load
// generator's worker processes: "herald bench" starts workers by running
// its own executable with "bench --worker", which here is the test binary.
func TestMain(m *testing.M) {
	if os.Getenv("HERALD_BENCH_TEST_WORKER") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// benchServer serves the bench protocol as bench/servers/herald does and
// returns its URL.
func benchServer(t *testing.T) string {
	t.Helper()
	io := socketio.NewServer(&socketio.Options{
		Engine:     &engineio.Options{MaxConnectionsPerIP: -1},
		PacketRate: &socketio.PacketRate{PerSecond: -1},
	})
	io.OnConnection(func(s *socketio.Socket) {
		s.On("broadcast", func(s *socketio.Socket, args socketio.Args, _ socketio.Ack) {
			_ = s.Broadcast().Emit("tick", args)
		})
		s.On("echo", func(_ *socketio.Socket, args socketio.Args, ack socketio.Ack) {
			if ack != nil {
				_ = ack(args)
			}
		})
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io)
	mux.HandleFunc("GET /bench/stats", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"clients": io.Engine().Count(), "goroutines": 1})
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = io.Close(ctx)
		hs.Close()
	})
	return hs.URL
}

func bench(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	if err := runBench(ctx, args, &out, &errb); err != nil {
		t.Fatalf("herald bench %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String()
}

func TestBenchBurstOverWorkerProcesses(t *testing.T) {
	t.Setenv("HERALD_BENCH_TEST_WORKER", "1")
	// The workers receive over epoll by default (on Linux), with a
	// goroutine per client with --epoll=false.
	for _, epoll := range []bool{true, false} {
		t.Run("epoll="+strconv.FormatBool(epoll), func(t *testing.T) { testBenchBurstOverWorkerProcesses(t, epoll) })
	}
}

func testBenchBurstOverWorkerProcesses(t *testing.T, epoll bool) {
	url := benchServer(t)
	args := []string{"--json", "--quiet", "--url", url, "--scenario", "burst", "--clients", "40", "--count", "5",
		"--workers", "2", "--source", "127.0.0.2", "--server-pid", strconv.Itoa(os.Getpid())}
	if !epoll {
		args = append(args, "--epoll=false")
	}
	out, _ := bench(t, args...)
	var res loadgen.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if want := epoll && runtime.GOOS == "linux"; res.Epoll != want {
		t.Errorf("epoll %v, want %v", res.Epoll, want)
	}
	if res.Workers != 2 || res.Connected != 40 || res.Failed != 0 {
		t.Fatalf("workers %d connected %d failed %d, want 2 40 0", res.Workers, res.Connected, res.Failed)
	}
	if res.Sent != 5 || res.Expected != 200 || res.Received != 200 || res.Lost != 0 || res.Dup != 0 || !res.Drained {
		t.Errorf("sent %d expected %d received %d lost %d dup %d drained %v, want 5 200 200 0 0 true",
			res.Sent, res.Expected, res.Received, res.Lost, res.Dup, res.Drained)
	}
	if res.Latency == nil || res.Latency.Count != 200 || res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
		t.Errorf("latency %+v, want 200 ordered samples", res.Latency)
	}
	if res.RSSIdle <= 0 || res.RSSPeak <= 0 {
		t.Errorf("no server RSS from /proc: %+v", res)
	}
}

func TestBenchEchoTable(t *testing.T) {
	url := benchServer(t)
	out, progress := bench(t, "--url", url, "--label", "inproc", "--scenario", "echo", "--clients", "5", "--duration", "1500ms")
	for _, want := range []string{"inproc", "echo (websocket)", "5/5", "acks", "latency p99", "load receive path"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(progress, "[echo inproc]") {
		t.Errorf("no progress line on stderr:\n%s", progress)
	}
}

func TestBenchIdleReportsGoroutines(t *testing.T) {
	url := benchServer(t)
	out, _ := bench(t, "--json", "--quiet", "--url", url, "--scenario", "idle", "--clients", "10", "--server-pid", strconv.Itoa(os.Getpid()))
	var res loadgen.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if res.Connected != 10 || res.GoroutinesPerConn == nil {
		t.Errorf("connected %d goroutines/conn %v, want 10 and a figure from /bench/stats", res.Connected, res.GoroutinesPerConn)
	}
}

func TestBenchPollingConnect(t *testing.T) {
	url := benchServer(t)
	out, _ := bench(t, "--json", "--quiet", "--url", url, "--scenario", "connect", "--transport", "polling", "--clients", "10")
	var res loadgen.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if res.Transport != "polling" || res.Connected != 10 || res.Ops != 10 {
		t.Errorf("transport %s connected %d ops %d, want polling 10 10", res.Transport, res.Connected, res.Ops)
	}
}

func TestBenchFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if err := runBench(context.Background(), []string{"--help"}, &out, &errb); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v, want flag.ErrHelp", err)
	}
	for _, flag := range []string{"-scenario", "-epoll", "--epoll=false"} {
		if !strings.Contains(errb.String(), flag) {
			t.Errorf("help lacks %s:\n%s", flag, errb.String())
		}
	}
	err := runBench(context.Background(), []string{"--scenario", "nope", "--quiet"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "unknown scenario") {
		t.Errorf("bad scenario: %v", err)
	}
	err = runBench(context.Background(), []string{"--transport", "carrier-pigeon", "--quiet"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "unknown transport") {
		t.Errorf("bad transport: %v", err)
	}
}
