package redisadapter_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	redisadapter "github.com/heraldio/herald/adapter/redis"
	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
)

const wait = 10 * time.Second

// redisAddr is the shared Redis of the machine; REDIS_ADDR overrides it.
func redisAddr() string {
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// uniqueKey returns a channel prefix no other test run uses.
func uniqueKey(t testing.TB) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "herald-test-" + hex.EncodeToString(b)
}

// newRedis returns a client of the Redis at addr, closed with the test. It
// fails the test when Redis does not answer.
func newRedis(t testing.TB, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// node is one Herald server of a test cluster.
type node struct {
	io  *socketio.Server
	url string
}

// adapter returns the classic Redis adapter of namespace name, waiting
// until its subscriptions are confirmed.
func (n *node) adapter(t testing.TB, name string) *redisadapter.Adapter {
	t.Helper()
	a, ok := n.io.Of(name).Adapter().(*redisadapter.Adapter)
	if !ok {
		t.Fatalf("namespace %s has adapter %T", name, n.io.Of(name).Adapter())
	}
	n.waitReady(t, name)
	return a
}

// waitReady waits until the adapter of namespace name has every
// subscription it wants confirmed by Redis.
func (n *node) waitReady(t testing.TB, name string) {
	t.Helper()
	a, ok := n.io.Of(name).Adapter().(interface{ WaitReady(context.Context) error })
	if !ok {
		t.Fatalf("namespace %s has adapter %T", name, n.io.Of(name).Adapter())
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := a.WaitReady(ctx); err != nil {
		t.Fatalf("adapter of %s: %v", name, err)
	}
}

// newNode starts a Herald server on the classic Redis adapter; setup runs
// before the first connection. The server closes with the test.
func newNode(t testing.TB, rdb redis.UniversalClient, opts *redisadapter.Options, setup func(io *socketio.Server)) *node {
	t.Helper()
	return newNodeWith(t, redisadapter.New(rdb, opts), setup)
}

// newNodeWith starts a Herald server on the given adapter.
func newNodeWith(t testing.TB, adapter func(*socketio.Namespace) socketio.Adapter, setup func(io *socketio.Server)) *node {
	t.Helper()
	io := socketio.NewServer(&socketio.Options{Adapter: adapter})
	if setup != nil {
		setup(io)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := io.Close(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close: %v", err)
		}
		hs.Close()
	})
	n := &node{io: io, url: hs.URL}
	n.waitReady(t, "/")
	return n
}

// event is one event a test client received.
type event struct {
	name string
	args socketio.Args
}

// testClient is a Go Socket.IO client that records every event.
type testClient struct {
	*client.Socket
	events chan event
}

// dial connects a client to namespace nsp of n, closed with the test.
func dial(t testing.TB, n *node, nsp string) *testClient {
	t.Helper()
	c := &testClient{events: make(chan event, 1000)}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	m := client.NewManager(n.url, &client.ManagerOptions{DisableReconnection: true})
	s := m.Socket(nsp, nil)
	s.OnAny(func(name string, args socketio.Args) { c.events <- event{name, args} })
	if err := s.Connect(ctx); err != nil {
		t.Fatalf("connect to %s%s: %v", n.url, nsp, err)
	}
	t.Cleanup(func() { _ = m.Close() })
	c.Socket = s
	return c
}

// next returns the client's next event, failing after wait.
func (c *testClient) next(t testing.TB) event {
	t.Helper()
	select {
	case e := <-c.events:
		return e
	case <-time.After(wait):
		t.Fatalf("client %s: no event within %v", c.ID(), wait)
		return event{}
	}
}

// expect reads the next event and checks its name and JSON arguments.
func (c *testClient) expect(t testing.TB, name, args string) {
	t.Helper()
	e := c.next(t)
	if e.name != name || e.args.String() != args {
		t.Fatalf("client %s got %s %s, want %s %s", c.ID(), e.name, e.args.String(), name, args)
	}
}

// expectNone checks, after a marker broadcast that every client receives,
// that nothing arrived before the marker.
func (c *testClient) expectMarker(t testing.TB, marker string) {
	t.Helper()
	e := c.next(t)
	if e.name != marker {
		t.Fatalf("client %s got %s %s before marker %s", c.ID(), e.name, e.args.String(), marker)
	}
}

func socketIDOf(c *testClient) socketio.SocketID { return socketio.SocketID(c.ID()) }
