package abuse_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

// cyclesPerTransport is how many connect/disconnect cycles TestCycles
// runs over each transport: 1,700 (5,100 in all), or 300 under the race
// detector (as CI runs it), which makes each cycle four times slower;
// HERALD_ABUSE_CYCLES sets it (100000 for the full run in RELIABILITY.md).
func cyclesPerTransport() int {
	if n, err := strconv.Atoi(os.Getenv("HERALD_ABUSE_CYCLES")); err == nil && n > 0 {
		return n
	}
	if raceEnabled {
		return 300
	}
	return 1700
}

// TestCycles: connect, exchange one acknowledged event, disconnect, over
// polling, WebSocket and polling upgraded to WebSocket, many times from
// 64 source addresses. Afterwards the goroutine count and the live heap
// are back where they started (within a small slack for pools and
// runtime caches), and no session is left.
func TestCycles(t *testing.T) {
	// A loaded CI machine under -race can hold a pong past a 1 s timeout:
	// the cycles are about leaks, not heartbeats, so the timeout is generous.
	e := newEnv(t, &socketio.Options{Engine: &engineio.Options{UpgradeTimeout: 2 * time.Second, PingTimeout: 5 * time.Second}}, nil)
	n := cyclesPerTransport()
	if n > 5000 {
		// The full run: clients never wait for the server's heartbeat.
		t.Logf("full run: %d cycles per transport", n)
	}
	run := func(transports []string, upgrade bool, count int, srcBase int) error {
		var next atomic.Int64
		var wg sync.WaitGroup
		var mu sync.Mutex
		var first error
		workers := 8
		if upgrade {
			// An upgrade waits for the server's noop (up to 100 ms, as Node):
			// more of them at once keep the machine busy.
			workers = 32
		}
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(count) {
						return
					}
					src := fmt.Sprintf("127.0.%d.%d", srcBase+int(i%4), 1+(w*8+int(i/4))%64)
					if err := cycle(e, transports, upgrade, src, int(i)); err != nil {
						mu.Lock()
						if first == nil {
							first = fmt.Errorf("cycle %d over %v: %w", i, transports, err)
						}
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
		return first
	}
	kinds := []struct {
		name       string
		transports []string
		upgrade    bool
		src        int
	}{
		{"polling", []string{engineio.TransportPolling}, false, 10},
		{"websocket", []string{engineio.TransportWebSocket}, false, 20},
		{"upgrade", nil, true, 30},
	}
	// Warm up pools, the scheduler and the poller, then measure.
	for _, k := range kinds {
		if err := run(k.transports, k.upgrade, 50, k.src); err != nil {
			t.Fatalf("warm-up: %v", err)
		}
	}
	settle := func() (int, uint64) {
		eventually(func() bool { return e.io.Engine().Count() == 0 })
		return steadyGoroutines(), heapAfterGC()
	}
	g0, h0 := settle()
	for _, k := range kinds {
		start := time.Now()
		if err := run(k.transports, k.upgrade, n, k.src); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		if !eventually(func() bool { return e.io.Engine().Count() == 0 && steadyGoroutines() <= g0+2 }) {
			t.Errorf("after %d %s cycles: %d sessions, %d goroutines (were %d)", n, k.name, e.io.Engine().Count(), serverGoroutines(), g0)
		}
		g, h := serverGoroutines(), heapAfterGC()
		figure(t, "cycles: %d %s connect/echo/disconnect cycles in %v (%.0f/s): goroutines %d -> %d, live heap %s -> %s",
			n, k.name, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), g0, g, kib(int64(h0)), kib(int64(h)))
	}
	g1, _ := settle()
	if g1 > g0+2 {
		t.Errorf("goroutines %d after the cycles, %d before", g1, g0)
	}
	// Closed sessions stay referenced by the heartbeat scheduler until
	// their next deadline (PingInterval 2 s, UpgradeTimeout 2 s here), so
	// the heap comes back within seconds, not at once. A leak of even 100
	// bytes a cycle would be 500 KB over the CI run.
	start := time.Now()
	var h1 uint64
	if !eventually(func() bool { h1 = heapAfterGC(); return h1 <= h0+256<<10 }) {
		t.Errorf("live heap %s after the cycles, %s before", kib(int64(h1)), kib(int64(h0)))
	}
	figure(t, "cycles: %d in all; goroutines %d -> %d, live heap %s -> %s (settled %v after the last cycle)",
		3*n, g0, g1, kib(int64(h0)), kib(int64(h1)), time.Since(start).Round(10*time.Millisecond))
}

// cycle connects one socket over transports from src, exchanges an
// acknowledged echo and disconnects, waiting until the client is gone.
func cycle(e *env, transports []string, upgrade bool, src string, i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	upgraded := make(chan error, 1)
	opts := &client.DialOptions{Manager: client.ManagerOptions{
		Engine: client.EngineOptions{
			Transports: transports,
			NetDial:    dialerFrom(src),
			OnUpgrade: func(err error) {
				select {
				case upgraded <- err:
				default:
				}
			},
		},
		DisableReconnection: true,
	}}
	sock, err := client.Dial(ctx, e.url, opts)
	if err != nil {
		return err
	}
	m := sock.Manager()
	defer func() {
		_ = m.Close()
		<-m.Done()
	}()
	if upgrade {
		select {
		case err := <-upgraded:
			if err != nil {
				return fmt.Errorf("upgrade: %w", err)
			}
		case <-ctx.Done():
			return fmt.Errorf("upgrade: %w", ctx.Err())
		}
	}
	args, err := sock.EmitWithAck(ctx, "echo", i)
	if err != nil {
		return err
	}
	var got int
	if err := args.Decode(0, &got); err != nil || got != i {
		return fmt.Errorf("echo %d: got %d, %v", i, got, err)
	}
	sock.Disconnect()
	return nil
}
