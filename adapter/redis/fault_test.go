package redisadapter_test

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	redisadapter "github.com/heraldio/herald/adapter/redis"
	"github.com/heraldio/herald/socketio"
)

// redisProc is a redis-server the test starts on its own port.
type redisProc struct {
	port string
	cmd  *exec.Cmd
	done chan struct{}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startRedis starts redis-server on port and waits until it logs that it
// accepts connections.
func startRedis(t *testing.T, port string) *redisProc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found: %v", err)
	}
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--logfile", "")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &redisProc{port: port, cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "Ready to accept connections") {
				signalled = true
				close(ready)
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("redis-server on port %s exited before it was ready", port)
	case <-time.After(wait):
		t.Fatalf("redis-server on port %s not ready within %v", port, wait)
	}
	return p
}

// stop sends SIGTERM and waits for the process to exit.
func (p *redisProc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(wait):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tickOf returns the sequence number of a "tick" event.
func tickOf(t *testing.T, e event) int {
	t.Helper()
	var n int
	if e.name != "tick" || e.args.Decode(0, &n) != nil {
		t.Fatalf("unexpected event %s %s", e.name, e.args)
	}
	return n
}

// faultStats reads the error and reconnect counters of either adapter.
func faultStats(t *testing.T, n *node) (errs, reconnects uint64, all any) {
	t.Helper()
	switch a := n.io.Of("/").Adapter().(type) {
	case *redisadapter.Adapter:
		st := a.Stats()
		return st.Errors, st.Reconnects, st
	case *redisadapter.ShardedAdapter:
		st := a.Stats()
		return st.Errors, st.Reconnects, st
	}
	t.Fatalf("adapter %T", n.io.Of("/").Adapter())
	return 0, 0, nil
}

// TestFaultRedisRestart stops redis-server in the middle of a broadcast
// stream between two nodes and restarts it on the same port, for the
// classic and the sharded adapter. Local delivery must go on throughout;
// afterwards every broadcast must again reach every node. The test logs
// how many broadcasts the gap cost.
func TestFaultRedisRestart(t *testing.T) {
	t.Run("classic", func(t *testing.T) {
		testFault(t, func(addr, key string) func(*socketio.Namespace) socketio.Adapter {
			return redisadapter.New(newRedis(t, addr), &redisadapter.Options{Key: key})
		})
	})
	t.Run("sharded", func(t *testing.T) {
		testFault(t, func(addr, key string) func(*socketio.Namespace) socketio.Adapter {
			return redisadapter.NewSharded(newRedis(t, addr), &redisadapter.ShardedOptions{ChannelPrefix: key})
		})
	})
}

func testFault(t *testing.T, mk func(addr, key string) func(*socketio.Namespace) socketio.Adapter) {
	port := freePort(t)
	proc := startRedis(t, port)
	addr := "127.0.0.1:" + port
	key := uniqueKey(t)
	A := newNodeWith(t, mk(addr, key), nil)
	B := newNodeWith(t, mk(addr, key), nil)
	a, b := dial(t, A, "/"), dial(t, B, "/")

	// Stream ticks from A, one every 2 ms, until stopped.
	stop, stopped := make(chan struct{}), make(chan int, 1)
	go func() {
		tk := time.NewTicker(2 * time.Millisecond)
		defer tk.Stop()
		i := 0
		for {
			_ = A.io.Emit("tick", i)
			i++
			select {
			case <-stop:
				stopped <- i
				return
			case <-tk.C:
			}
		}
	}()

	// Before the fault: b gets ticks 0..49 in order.
	for want := 0; want < 50; want++ {
		if got := tickOf(t, b.next(t)); got != want {
			t.Fatalf("before the fault: b got tick %d, want %d", got, want)
		}
	}
	proc.stop(t)
	t.Log("redis-server stopped")
	// While Redis is down, A's own client still receives every tick, and
	// nothing grows with the broadcasts or the reconnection attempts:
	// compare the goroutines after 100 and after 300 ticks of the outage.
	var lastA int
	for range 100 {
		lastA = tickOf(t, a.next(t))
	}
	goroutinesDown := runtime.NumGoroutine()
	for range 200 {
		lastA = tickOf(t, a.next(t))
	}
	if g := runtime.NumGoroutine(); g > goroutinesDown+2 {
		t.Errorf("goroutines grew while disconnected: %d, then %d 200 broadcasts later", goroutinesDown, g)
	}
	if errs, _, st := faultStats(t, A); errs == 0 {
		t.Errorf("no error counted while Redis was down: %+v", st)
	}
	proc = startRedis(t, port)
	t.Log("redis-server restarted")

	// After the restart: b must again get every tick, in order. Wait for
	// 200 consecutive ones (healed), stop the stream, then every tick up
	// to the last must arrive without a gap.
	received, last, run := 50, 49, 0
	for run < 200 {
		n := tickOf(t, b.next(t))
		received++
		if n == last+1 {
			run++
		} else {
			run = 1
		}
		last = n
	}
	close(stop)
	emitted := <-stopped
	for last < emitted-1 {
		n := tickOf(t, b.next(t))
		received++
		if n != last+1 {
			t.Fatalf("after healing, b skipped from tick %d to %d", last, n)
		}
		last = n
	}
	t.Logf("%d ticks emitted, b received %d: %d lost in the gap", emitted, received, emitted-received)

	// A's local client missed nothing at all.
	for {
		n := tickOf(t, a.next(t))
		if n != lastA+1 {
			t.Fatalf("local delivery skipped from tick %d to %d", lastA, n)
		}
		lastA = n
		if lastA == emitted-1 {
			break
		}
	}
	// The other direction heals too: B to a, and the server count.
	for i := range 50 {
		if err := B.io.Emit("back", i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		a.expect(t, "back", fmt.Sprintf("[%d]", i))
	}
	if n, err := A.io.Of("/").Adapter().ServerCount(ctxT(t)); err != nil || n != 2 {
		t.Fatalf("ServerCount after the restart = %d, %v", n, err)
	}
	for name, n := range map[string]*node{"A": A, "B": B} {
		_, reconnects, st := faultStats(t, n)
		t.Logf("node %s stats: %+v", name, st)
		if reconnects < 1 {
			t.Errorf("node %s: no reconnect counted: %+v", name, st)
		}
	}
}
