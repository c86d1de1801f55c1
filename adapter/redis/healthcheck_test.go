package redisadapter_test

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	redisadapter "github.com/heraldio/herald/adapter/redis"
)

// freezer is a TCP proxy to Redis whose connections can be frozen: they
// stay open but carry nothing, as behind a dead NAT entry or a cut cable.
type freezer struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	pipes  []*pipe
	wg     sync.WaitGroup
}

type pipe struct {
	a, b   net.Conn
	mu     sync.Mutex
	frozen bool
}

func (p *pipe) isFrozen() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frozen
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{l: l, target: target}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(func() {
		_ = l.Close()
		f.mu.Lock()
		for _, p := range f.pipes {
			_ = p.a.Close()
			_ = p.b.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *freezer) addr() string { return f.l.Addr().String() }

func (f *freezer) accept() {
	defer f.wg.Done()
	for {
		a, err := f.l.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", f.target)
		if err != nil {
			_ = a.Close()
			continue
		}
		p := &pipe{a: a, b: b}
		f.mu.Lock()
		f.pipes = append(f.pipes, p)
		f.mu.Unlock()
		f.wg.Add(2)
		go f.copy(p, b, a)
		go f.copy(p, a, b)
	}
}

// copy forwards src to dst until either closes, dropping bytes while the
// pipe is frozen.
func (f *freezer) copy(p *pipe, dst io.Writer, src io.Reader) {
	defer f.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.isFrozen() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// freeze freezes every connection open now; later ones work.
func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.pipes {
		p.mu.Lock()
		p.frozen = true
		p.mu.Unlock()
	}
}

// TestHealthCheckFrozenConnection freezes the subscription connection of a
// node without closing it: the health check must notice (an unanswered
// ping), reconnect and resubscribe, and broadcasts must reach the node
// again.
func TestHealthCheckFrozenConnection(t *testing.T) {
	fz := newFreezer(t, redisAddr())
	key := uniqueKey(t)
	// A reaches Redis through the freezer, with short timeouts.
	rdbA := redis.NewClient(&redis.Options{Addr: fz.addr(), ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { _ = rdbA.Close() })
	A := newNode(t, rdbA, &redisadapter.Options{Key: key, HealthCheckInterval: 100 * time.Millisecond}, nil)
	B := newNode(t, newRedis(t, redisAddr()), &redisadapter.Options{Key: key}, nil)
	a := dial(t, A, "/")
	adA := A.adapter(t, "/")
	if err := B.io.Emit("before"); err != nil {
		t.Fatal(err)
	}
	a.expect(t, "before", `[]`)

	fz.freeze()
	t.Log("connections frozen")
	// Emit from B until a receives one: the node healed.
	deadline := time.Now().Add(wait)
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("node A never received a broadcast again: %+v", adA.Stats())
		}
		if err := B.io.Emit("after", i); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-a.events:
			if e.name != "after" {
				t.Fatalf("unexpected %s %s", e.name, e.args)
			}
			st := adA.Stats()
			t.Logf("healed after %d broadcasts from B; A stats %+v", i+1, st)
			if st.Reconnects < 1 || st.Errors < 1 {
				t.Fatalf("stats %+v: want a counted loss and reconnect", st)
			}
			// And every broadcast from then on arrives.
			for j := range 20 {
				if err := B.io.Emit("steady", j); err != nil {
					t.Fatal(err)
				}
			}
			for j := range 20 {
				got := a.next(t)
				for got.name == "after" { // stragglers of the probing loop
					got = a.next(t)
				}
				if got.name != "steady" || got.args.String() != fmt.Sprintf("[%d]", j) {
					t.Fatalf("got %s %s, want steady [%d]", got.name, got.args, j)
				}
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}
