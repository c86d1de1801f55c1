package pginterop_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/adapter/postgres"
	"github.com/heraldio/herald/socketio"
)

const wait = 15 * time.Second

func databaseURL() string {
	if u := os.Getenv("HERALD_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test"
}

// requireNode skips t when node is absent outside CI, and fails it under
// CI=true or when the npm packages are not installed.
func requireNode(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("node not found on PATH (%v); CI is unset", err)
		}
		t.Fatalf("node not found on PATH (%v): the interop tests need Node.js 20+", err)
	}
	for _, p := range []string{"socket.io", "socket.io-client", "@socket.io/postgres-adapter", "pg"} {
		if _, err := os.Stat(filepath.Join("node_modules", p, "package.json")); err != nil {
			t.Fatalf("npm package %s is not installed: run `npm ci` in test/interop/postgres (or `make npm`): %v", p, err)
		}
	}
}

// msg is one JSON line of js/cluster-node.mjs.
type msg struct {
	Event  string          `json:"event"`
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
	Port   int             `json:"port"`
	Client string          `json:"client"`
	Name   string          `json:"name"`
	Args   json.RawMessage `json:"args"`
	Reason string          `json:"reason"`
}

// nodeServer is a running js/cluster-node.mjs: a Node socket.io server on
// the official PostgreSQL adapter, and the official clients it hosts.
type nodeServer struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	url    string
	ready  chan int
	done   chan struct{}
	stderr strings.Builder

	mu      sync.Mutex
	nextID  int
	replies map[int]chan msg
	events  map[string]chan msg // by client name; "gone" events too
	sse     chan msg
}

func startNodeServer(t testing.TB, prefix, table string) *nodeServer {
	t.Helper()
	requireNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", filepath.Join("js", "cluster-node.mjs"), databaseURL(), prefix, table)
	n := &nodeServer{t: t, cmd: cmd, ready: make(chan int, 1), done: make(chan struct{}),
		replies: make(map[int]chan msg), events: make(map[string]chan msg), sse: make(chan msg, 16)}
	cmd.Stderr = &lockedWriter{b: &n.stderr, mu: &n.mu}
	cmd.WaitDelay = 2 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if n.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go n.read(stdout)
	t.Cleanup(func() {
		n.call(t, "close", nil)
		_ = n.stdin.Close()
		select {
		case <-n.done:
		case <-time.After(wait):
			t.Errorf("node server did not exit")
		}
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			n.mu.Lock()
			t.Logf("node stderr:\n%s", n.stderr.String())
			n.mu.Unlock()
		}
	})
	select {
	case port := <-n.ready:
		n.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	case <-n.done:
		t.Fatalf("node server exited before it was ready:\n%s", n.stderr.String())
	case <-time.After(wait):
		t.Fatal("node server not ready")
	}
	return n
}

type lockedWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (n *nodeServer) read(r io.Reader) {
	defer close(n.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m msg
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		switch m.Event {
		case "ready":
			n.ready <- m.Port
		case "reply":
			n.mu.Lock()
			c := n.replies[m.ID]
			delete(n.replies, m.ID)
			n.mu.Unlock()
			if c != nil {
				c <- m
			}
		case "client", "gone":
			n.clientChan(m.Client) <- m
		case "sse":
			n.sse <- m
		}
	}
}

func (n *nodeServer) clientChan(name string) chan msg {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.events[name]
	if c == nil {
		c = make(chan msg, 256)
		n.events[name] = c
	}
	return c
}

// call runs one command and returns its result, failing t on an error.
func (n *nodeServer) call(t testing.TB, op string, fields map[string]any) json.RawMessage {
	t.Helper()
	res, errText := n.try(t, op, fields)
	if errText != "" {
		t.Fatalf("node %s: %s", op, errText)
	}
	return res
}

func (n *nodeServer) try(t testing.TB, op string, fields map[string]any) (json.RawMessage, string) {
	t.Helper()
	n.mu.Lock()
	n.nextID++
	id := n.nextID
	c := make(chan msg, 1)
	n.replies[id] = c
	n.mu.Unlock()
	cmd := map[string]any{"id": id, "op": op}
	for k, v := range fields {
		cmd[k] = v
	}
	b, _ := json.Marshal(cmd)
	if _, err := n.stdin.Write(append(b, '\n')); err != nil {
		return nil, "write: " + err.Error()
	}
	select {
	case m := <-c:
		return m.Result, m.Error
	case <-n.done:
		return nil, "node exited"
	case <-time.After(wait):
		t.Fatalf("node %s: no reply within %v", op, wait)
		return nil, ""
	}
}

// jsClient is an official socket.io-client hosted by the Node process.
type jsClient struct {
	name string
	id   string
	n    *nodeServer
}

func (n *nodeServer) client(t testing.TB, name, url string, rooms ...string) *jsClient {
	t.Helper()
	if rooms == nil {
		rooms = []string{}
	}
	var id string
	if err := json.Unmarshal(n.call(t, "client", map[string]any{"name": name, "url": url, "rooms": rooms}), &id); err != nil {
		t.Fatal(err)
	}
	return &jsClient{name: name, id: id, n: n}
}

// expect checks that the client's next events are exactly names, in order,
// and returns them.
func (c *jsClient) expect(t testing.TB, names ...string) []msg {
	t.Helper()
	var got []msg
	ch := c.n.clientChan(c.name)
	for _, name := range names {
		select {
		case m := <-ch:
			if m.Event != "client" || m.Name != name {
				t.Fatalf("client %s: got %s %q %s (%s), want event %q", c.name, m.Event, m.Name, m.Args, m.Reason, name)
			}
			got = append(got, m)
		case <-time.After(wait):
			t.Fatalf("client %s: no %q within %v", c.name, name, wait)
		}
	}
	return got
}

// expectAnyOrder checks that the client's next len(names) events are
// names in any order: a Node server publishes each broadcast with its own
// database round trips, so neither its local delivery nor the NOTIFY
// order follows the order of the emits.
func (c *jsClient) expectAnyOrder(t testing.TB, names ...string) []msg {
	t.Helper()
	var got []msg
	var gotNames []string
	ch := c.n.clientChan(c.name)
	for range names {
		select {
		case m := <-ch:
			if m.Event != "client" {
				t.Fatalf("client %s: got %s %q, want one of %v", c.name, m.Event, m.Reason, names)
			}
			got = append(got, m)
			gotNames = append(gotNames, m.Name)
		case <-time.After(wait):
			t.Fatalf("client %s: got %v, want %v", c.name, gotNames, names)
		}
	}
	want := slices.Clone(names)
	sort.Strings(want)
	sort.Strings(gotNames)
	if !slices.Equal(want, gotNames) {
		t.Fatalf("client %s: got %v, want %v", c.name, gotNames, want)
	}
	return got
}

func (c *jsClient) expectGone(t testing.TB) string {
	t.Helper()
	select {
	case m := <-c.n.clientChan(c.name):
		if m.Event != "gone" {
			t.Fatalf("client %s: got %s %q, want a disconnection", c.name, m.Event, m.Name)
		}
		return m.Reason
	case <-time.After(wait):
		t.Fatalf("client %s not disconnected within %v", c.name, wait)
		return ""
	}
}

// heraldNode is a Herald server on the PostgreSQL adapter.
type heraldNode struct {
	name string
	srv  *socketio.Server
	url  string
	ps   *postgres.PubSub
	sse  chan string
}

func startHerald(t testing.TB, name string, pool *pgxpool.Pool, prefix, table string) *heraldNode {
	t.Helper()
	ps := postgres.New(pool, &postgres.Options{ChannelPrefix: prefix, TableName: table,
		Cluster: cluster.Options{RequestsTimeout: 5 * time.Second}})
	srv := socketio.NewServer(&socketio.Options{Adapter: ps.Adapter})
	h := &heraldNode{name: name, srv: srv, ps: ps, sse: make(chan string, 16)}
	srv.OnConnection(func(s *socketio.Socket) {
		var auth struct {
			Rooms []socketio.Room `json:"rooms"`
			Name  string          `json:"name"`
		}
		if json.Unmarshal(s.Handshake().Auth, &auth) == nil {
			_ = s.Join(auth.Rooms...)
			s.SetData(map[string]string{"name": auth.Name})
		}
	})
	srv.OnServerSideEvent("hello", func(args socketio.Args, ack socketio.Ack) {
		v, _ := socketio.Arg[int](args, 0)
		if ack != nil {
			_ = ack(name, v*2)
			return
		}
		h.sse <- fmt.Sprint(v)
	})
	hs := httptest.NewServer(srv)
	h.url = hs.URL
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("herald close: %v", err)
		}
		hs.Close()
		if err := ps.Close(ctx); err != nil {
			t.Errorf("pubsub close: %v", err)
		}
	})
	return h
}

func uniqueNames(t testing.TB, pool *pgxpool.Pool) (prefix, table string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := "herald_interop_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_, _ = pool.Exec(ctx, "DROP TABLE IF EXISTS "+id+"_att")
	})
	return id, id + "_att"
}

// waitFor waits until cond holds, checking it every few milliseconds, and
// fails t after wait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// newPool opens a small pool on the test database; it closes with the test.
func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(databaseURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		t.Fatalf("PostgreSQL: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}
