package loadgen

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldio/herald/engineio"
)

// wait bounds every wait in these tests.
const wait = 60 * time.Second

// fakeServer is a minimal server of the bench protocol on package engineio,
// whose misbehaviour the tests choose: it drops or repeats chosen
// broadcasts, and counts the echoes it answers.
type fakeServer struct {
	drop   map[int64]bool // sequence numbers never broadcast
	repeat map[int64]bool // sequence numbers broadcast twice

	mu       sync.Mutex
	sessions map[*engineio.Session]bool
	echoes   atomic.Int64
}

func (f *fakeServer) OnOpen(*engineio.Session) {}

func (f *fakeServer) OnClose(s *engineio.Session, _ engineio.Reason, _ error) {
	f.mu.Lock()
	delete(f.sessions, s)
	f.mu.Unlock()
}

func (f *fakeServer) OnMessage(s *engineio.Session, data []byte, binary bool) {
	switch {
	case string(data) == "0":
		f.mu.Lock()
		f.sessions[s] = true
		f.mu.Unlock()
		_ = s.SendText([]byte(`0{"sid":"x"}`))
	case bytes.HasPrefix(data, []byte(`2["broadcast",`)):
		payload := data[len(`2["broadcast",`):]
		seq, _, _ := parseTick(payload[1:])
		if f.drop[seq] {
			return
		}
		out := append([]byte(`2["tick",`), payload...)
		f.mu.Lock()
		defer f.mu.Unlock()
		for r := range f.sessions {
			if r == s {
				continue
			}
			_ = r.SendText(out)
			if f.repeat[seq] {
				_ = r.SendText(out)
			}
		}
	case bytes.HasPrefix(data, []byte("2")):
		i := bytes.IndexByte(data, '[')
		id := data[1:i]
		f.echoes.Add(1)
		_ = s.SendText(append(append([]byte("3"), id...), `["ok"]`...))
	}
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {}

// startFake serves f and returns its URL.
func startFake(t *testing.T, f *fakeServer) string {
	t.Helper()
	f.sessions = map[*engineio.Session]bool{}
	eio := engineio.NewServer(f, nil)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", eio)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = eio.Close(ctx)
		hs.Close()
	})
	return hs.URL
}

// run performs a run in this process. Once Run has returned the worker has
// stopped: every descriptor of the epoll path must be closed, and the
// receive path must be the one asked for.
func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cfg.StatsURL = "-"
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkEpollPath(t, cfg, res)
	return res
}

func checkEpollPath(t *testing.T, cfg Config, res *Result) {
	t.Helper()
	if n := epollFDs.Load(); n != 0 {
		t.Errorf("%d descriptors of the epoll path still open after the run", n)
	}
	want := epollSupported && !cfg.NoEpoll && (cfg.Transport == "" || cfg.Transport == "websocket")
	if res != nil && res.Connected > 0 && res.Epoll != want {
		t.Errorf("result says epoll %v, want %v", res.Epoll, want)
	}
}

// bothPaths runs f as two subtests: on the epoll receive path (the
// default; package client's where epoll is not supported) and with a
// reader goroutine per client (Config.NoEpoll).
func bothPaths(t *testing.T, f func(t *testing.T, noEpoll bool)) {
	t.Run("epoll", func(t *testing.T) { f(t, false) })
	t.Run("goroutines", func(t *testing.T) { f(t, true) })
}

func TestBurstCountsEveryDelivery(t *testing.T) { bothPaths(t, testBurstCountsEveryDelivery) }

func testBurstCountsEveryDelivery(t *testing.T, noEpoll bool) {
	url := startFake(t, &fakeServer{})
	res := run(t, Config{Scenario: "burst", URL: url, Clients: 20, Count: 7, ServerPID: 0, NoEpoll: noEpoll})
	if res.Connected != 20 || res.Failed != 0 {
		t.Fatalf("connected %d, failed %d", res.Connected, res.Failed)
	}
	if res.Sent != 7 || res.Expected != 140 || res.Received != 140 || res.Ops != 140 {
		t.Errorf("sent %d expected %d received %d ops %d, want 7, 140, 140, 140", res.Sent, res.Expected, res.Received, res.Ops)
	}
	if res.Lost != 0 || res.Dup != 0 || !res.Drained {
		t.Errorf("lost %d dup %d drained %v, want 0 0 true", res.Lost, res.Dup, res.Drained)
	}
	if res.Latency == nil || res.Latency.Count != 140 {
		t.Errorf("latency %+v, want 140 samples", res.Latency)
	}
}

func TestFanoutCountsLostAndDuplicated(t *testing.T) { bothPaths(t, testFanoutCountsLostAndDuplicated) }

func testFanoutCountsLostAndDuplicated(t *testing.T, noEpoll bool) {
	// Broadcast 2 never reaches anyone, 3 reaches everyone twice, and the
	// last one (4) is dropped too: a tail loss that only the final report
	// can see, since no client ever gets the last message.
	f := &fakeServer{drop: map[int64]bool{2: true, 4: true}, repeat: map[int64]bool{3: true}}
	url := startFake(t, f)
	res := run(t, Config{Scenario: "burst", URL: url, Clients: 10, Count: 5, DrainTimeout: 2 * time.Second, NoEpoll: noEpoll})
	if res.Drained {
		t.Errorf("drained with the last broadcast dropped")
	}
	if res.Lost != 20 {
		t.Errorf("lost %d, want 20 (2 broadcasts × 10 clients)", res.Lost)
	}
	if res.Dup != 10 {
		t.Errorf("dup %d, want 10", res.Dup)
	}
	if res.Received != 40 { // 0, 1, 3, 3 again
		t.Errorf("received %d, want 40", res.Received)
	}
}

func TestFanoutLatencyIsReceiverClockMinusSenderStamp(t *testing.T) {
	bothPaths(t, testFanoutLatencyIsReceiverClockMinusSenderStamp)
}

func testFanoutLatencyIsReceiverClockMinusSenderStamp(t *testing.T, noEpoll bool) {
	// The source stamps 1,000 s; every receiver reads 1,000 s + 7 ms. The
	// latency must be exactly 7 ms whatever the real delays are.
	const stamp, lag = int64(1_000_000_000_000), int64(7 * time.Millisecond)
	url := startFake(t, &fakeServer{})
	res := run(t, Config{Scenario: "fanout", URL: url, Clients: 5, Rate: 50, Duration: 200 * time.Millisecond, NoEpoll: noEpoll,
		Clock:       func() int64 { return stamp },
		WorkerClock: func() int64 { return stamp + lag }})
	if res.Sent != 10 || res.Received != 50 || res.Lost != 0 {
		t.Fatalf("sent %d received %d lost %d, want 10 50 0", res.Sent, res.Received, res.Lost)
	}
	p := res.Latency
	if p == nil || p.Count != 50 {
		t.Fatalf("latency %+v, want 50 samples", p)
	}
	if p.Max != 7 {
		t.Errorf("max %v ms, want exactly 7", p.Max)
	}
	for name, v := range map[string]float64{"p50": p.P50, "p99": p.P99} {
		if v < 7*0.984 || v > 7 {
			t.Errorf("%s %v ms, want 7 within the histogram's 1.6%%", name, v)
		}
	}
}

func TestEchoCountsAcks(t *testing.T) { bothPaths(t, testEchoCountsAcks) }

func testEchoCountsAcks(t *testing.T, noEpoll bool) {
	f := &fakeServer{}
	url := startFake(t, f)
	res := run(t, Config{Scenario: "echo", URL: url, Clients: 4, Duration: 300 * time.Millisecond, NoEpoll: noEpoll})
	answered := f.echoes.Load()
	// Every answered echo was acknowledged; those answered after the end
	// (at most one per client) are drained but not counted.
	if res.Ops <= 0 || res.Ops > answered || answered > res.Ops+4 {
		t.Errorf("acks %d, server answered %d: want acks within 4 below", res.Ops, answered)
	}
	if res.Latency == nil || res.Latency.Count != uint64(answered) {
		t.Errorf("RTT samples %+v, want %d", res.Latency, answered)
	}
}

func TestConnectCountsConnections(t *testing.T) { bothPaths(t, testConnectCountsConnections) }

func testConnectCountsConnections(t *testing.T, noEpoll bool) {
	url := startFake(t, &fakeServer{})
	for _, tr := range []string{"websocket", "polling"} {
		res := run(t, Config{Scenario: "connect", URL: url, Clients: 30, Transport: tr, Concurrency: 8, NoEpoll: noEpoll})
		if res.Connected != 30 || res.Ops != 30 || res.Failed != 0 {
			t.Errorf("%s: connected %d ops %d failed %d, want 30 30 0", tr, res.Connected, res.Ops, res.Failed)
		}
		if res.OpsPerSec <= 0 {
			t.Errorf("%s: %v connections/s", tr, res.OpsPerSec)
		}
	}
}

func TestConnectFailuresAreCounted(t *testing.T) { bothPaths(t, testConnectFailuresAreCounted) }

func testConnectFailuresAreCounted(t *testing.T, noEpoll bool) {
	hs := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cfg := Config{Scenario: "connect", URL: hs.URL, Clients: 3, StatsURL: "-", NoEpoll: noEpoll}
	res, err := Run(ctx, cfg)
	if err == nil {
		t.Fatal("Run succeeded against a server that refuses every client")
	}
	if res == nil || res.Failed != 3 || res.FirstErr == "" {
		t.Errorf("result %+v, want 3 failures with an error", res)
	}
	checkEpollPath(t, cfg, res)
}

func TestIdleMeasuresOwnProcess(t *testing.T) { bothPaths(t, testIdleMeasuresOwnProcess) }

func testIdleMeasuresOwnProcess(t *testing.T, noEpoll bool) {
	// Against a server in this process, the server figures are this
	// process's: present and positive.
	url := startFake(t, &fakeServer{})
	res := run(t, Config{Scenario: "idle", URL: url, Clients: 50, ServerPID: pid(), NoEpoll: noEpoll})
	if res.Connected != 50 || res.RSSIdle <= 0 || res.RSSBase <= 0 || res.LoadRSSPerConn <= 0 {
		t.Errorf("result %+v", res)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	// 1..1000 µs: the nearest-rank p50 is 500 µs, p99 990 µs, max 1000 µs.
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	check := func(name string, got, want time.Duration) {
		t.Helper()
		if d := float64(got-want) / float64(want); d < -1.0/histSub || d > 1.0/histSub {
			t.Errorf("%s = %v, want %v within 1/%d", name, got, want, histSub)
		}
	}
	check("p50", h.Quantile(0.5), 500*time.Microsecond)
	check("p99", h.Quantile(0.99), 990*time.Microsecond)
	check("p100", h.Quantile(1), 1000*time.Microsecond)
	if h.Max() != time.Millisecond || h.Count() != 1000 {
		t.Errorf("max %v count %d", h.Max(), h.Count())
	}
	// Exact below 64 ns; merging two halves equals recording everything.
	var a, b, all Histogram
	for i := range int64(200) {
		v := time.Duration(i * i * 37)
		all.Record(v)
		if i%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	var m Histogram
	m.merge(a.snapshot())
	m.merge(b.snapshot())
	for _, q := range []float64{0.01, 0.25, 0.5, 0.9, 0.99, 1} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged q%v = %v, want %v", q, m.Quantile(q), all.Quantile(q))
		}
	}
	var small Histogram
	small.Record(3)
	small.Record(5)
	if small.Quantile(0.5) != 3 || small.Quantile(1) != 5 {
		t.Errorf("small quantiles %v %v, want 3 5", small.Quantile(0.5), small.Quantile(1))
	}
}

func TestTickPacketRoundTrip(t *testing.T) {
	for _, size := range []int{1, 30, 100, 1000} {
		b := tickPacket(nil, 42, 1_700_000_000_123_456_789, size)
		payload := b[len(`2["broadcast","`) : len(b)-2]
		if len(payload) < size || (size >= 40 && len(payload) != size) {
			t.Errorf("size %d: payload %d bytes", size, len(payload))
		}
		seq, stamp, ok := parseTick(payload)
		if !ok || seq != 42 || stamp != 1_700_000_000_123_456_789 {
			t.Errorf("size %d: parse = %d %d %v", size, seq, stamp, ok)
		}
	}
	for _, bad := range []string{"", ":", "1:", "1:2", "a:2:", "1:b:", "-1:2:"} {
		if _, _, ok := parseTick([]byte(bad)); ok {
			t.Errorf("parseTick(%q) ok", bad)
		}
	}
}

func TestSourceFor(t *testing.T) {
	for i, want := range map[int]string{0: "127.0.0.10", 1: "127.0.0.11", 246: "127.0.1.0"} {
		if got := sourceFor("127.0.0.10", i); got != want {
			t.Errorf("sourceFor(127.0.0.10, %d) = %s, want %s", i, got, want)
		}
	}
	if sourceFor("", 3) != "" {
		t.Error("empty base gave an address")
	}
	_ = strconv.Itoa
}
