package postgres_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"sync"
	"testing"
	"time"
)

// proxy is a TCP relay to PostgreSQL that a test can cut, as if the
// database went away, and restore on the same address.
type proxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	p := &proxy{t: t, target: target, conns: make(map[net.Conn]bool)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() {
		p.Cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			p.wg.Add(2)
			go p.pipe(c, up)
			go p.pipe(up, c)
		}
	}()
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// Cut closes the listening socket and every relayed connection: new
// connections are refused until Restore.
func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// Restore listens again on the same address.
func (p *proxy) Restore() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy restore: %v", err)
	}
	p.serve(ln)
}

// TestDatabaseOutage cuts server B off PostgreSQL in the middle of a
// broadcast stream, checks that its local delivery goes on without
// goroutine growth, then restores the database and checks that the cluster
// heals. It reports how many broadcasts the gap lost.
//
// It is not parallel, so that the goroutine count is this test's own.
func TestDatabaseOutage(t *testing.T) {
	direct := newPool(t, databaseURL())
	u, err := url.Parse(databaseURL())
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, u.Host)
	u.Host = px.addr
	viaProxy := newPool(t, u.String())
	opts := uniqueOptions(t, direct)
	opts.Cluster.HeartbeatInterval = 100 * time.Millisecond
	opts.Cluster.HeartbeatTimeout = 400 * time.Millisecond
	A := startNode(t, direct, opts)
	B := startNode(t, viaProxy, opts)
	waitCount(t, 2, A, B)
	a := connect(t, A.url, "a")
	b := connect(t, B.url, "b")

	for i := range 5 {
		if err := B.srv.Emit("before", i); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		a.expect(t, "before")
		b.expect(t, "before")
	}

	px.Cut()
	waitFor(t, "B to notice the outage", func() bool { return !B.ps.Stats().Connected })
	waitCount(t, 1, A) // B's heartbeats stopped
	goroutines := runtime.NumGoroutine()
	const during = 200
	for i := range during {
		if err := B.srv.Emit("during", i); err != nil {
			t.Fatal(err)
		}
	}
	for range during {
		b.expect(t, "during") // local delivery goes on
	}
	waitFor(t, "B's publishes to fail", func() bool { return B.ps.Stats().Errors > 0 })
	// Transient goroutines (a pool dial in flight) may come and go; none
	// may stay per message or per failed publish.
	waitFor(t, fmt.Sprintf("goroutines back to %d after %d broadcasts while disconnected", goroutines, during), func() bool {
		return runtime.NumGoroutine() <= goroutines+2
	})
	t.Logf("goroutines: %d when the outage began, %d after %d broadcasts during it", goroutines, runtime.NumGoroutine(), during)

	px.Restore()
	waitFor(t, "B to reconnect", func() bool { return B.ps.Stats().Connected })
	waitCount(t, 2, A, B)
	waitHears(t, A, B)
	waitHears(t, B, A)
	// After healing, every broadcast reaches every server again.
	if err := B.srv.Emit("after", "b"); err != nil {
		t.Fatal(err)
	}
	if err := A.srv.Emit("after", "a"); err != nil {
		t.Fatal(err)
	}
	reached := 0 // "during" broadcasts that reached A after all
	for _, c := range []*tclient{a, b} {
		seen := 0
		for seen < 2 {
			e := c.next(t)
			switch e.name {
			case "after":
				seen++
			case "during":
				if c == a {
					reached++ // published before the cut was noticed
					continue
				}
				t.Fatalf("unexpected %s on %s", e.name, c.name)
			default:
				t.Fatalf("unexpected %s on %s", e.name, c.name)
			}
		}
	}
	st := B.ps.Stats()
	if st.Reconnects == 0 {
		t.Errorf("stats after the outage: %+v", st)
	}
	t.Logf("outage: %d of %d broadcasts from B lost by A in the gap; B stats %+v", during-reached, during, st)
}

// TestListenerKilled terminates the listening backends: both servers
// reconnect, LISTEN again and hear each other.
func TestListenerKilled(t *testing.T) {
	t.Parallel()
	pool := newPool(t, databaseURL())
	opts := uniqueOptions(t, pool)
	A := startNode(t, pool, opts)
	B := startNode(t, pool, opts)
	waitCount(t, 2, A, B)
	a := connect(t, A.url, "a")
	b := connect(t, B.url, "b")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	tag, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`,
		`LISTEN "`+opts.ChannelPrefix+`#/"`)
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != 2 {
		t.Fatalf("terminated %d listeners, want 2", tag.RowsAffected())
	}
	waitFor(t, "both to reconnect", func() bool {
		return A.ps.Stats().Reconnects > 0 && B.ps.Stats().Reconnects > 0 &&
			A.ps.Stats().Connected && B.ps.Stats().Connected
	})
	// The listeners may have LISTENed again before the other one was back,
	// and the server counts may not have dropped meanwhile: wait until each
	// hears the other, then broadcast.
	waitHears(t, A, B)
	waitHears(t, B, A)
	for _, n := range []*node{A, B} {
		if err := n.srv.Emit("healed"); err != nil {
			t.Fatal(err)
		}
	}
	a.expect(t, "healed", "healed")
	b.expect(t, "healed", "healed")
}
