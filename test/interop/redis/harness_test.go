package redisinterop_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/socketio"
)

const wait = 30 * time.Second // generous: node starts slowly on a loaded 2-core CI machine

func redisAddr() string {
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// requireNode skips the test when node is absent outside CI, and fails it
// in CI (CI=true) or when the npm packages are not installed.
func requireNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("node not found on PATH (%v); set CI=true to make this a failure", err)
		}
		t.Fatalf("node not found on PATH: %v", err)
	}
	for _, p := range []string{"socket.io", "@socket.io/redis-adapter", "@socket.io/redis-emitter", "socket.io-client", "ioredis"} {
		if _, err := os.Stat(filepath.Join("node_modules", p, "package.json")); err != nil {
			t.Fatalf("npm package %s is not installed: run `npm ci` in test/interop/redis (%v)", p, err)
		}
	}
}

func uniqueKey() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "herald-interop-" + hex.EncodeToString(b)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func newRedis(t testing.TB) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr()})
	if err := rdb.Ping(ctxT(t)).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// recv is an event an official client received.
type recv struct {
	Client string          `json:"client"`
	Name   string          `json:"name"`
	Args   json.RawMessage `json:"args"`
}

// nodeProc is the Node side of a mixed cluster (js/cluster.mjs): one
// socket.io server and every official client.
type nodeProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	url    string
	stderr *syncBuffer

	mu      sync.Mutex
	nextID  int
	replies map[int]chan json.RawMessage
	clients map[string]chan recv
	gone    map[string]chan string
	ss      chan json.RawMessage
	done    chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// startNode starts js/cluster.mjs and waits for its server to be ready.
func startNode(t *testing.T, key, mode string) *nodeProc {
	t.Helper()
	requireNode(t)
	cmd := exec.Command("node", "js/cluster.mjs", key, mode, "redis://"+redisAddr())
	p := &nodeProc{t: t, cmd: cmd, stderr: &syncBuffer{}, replies: map[int]chan json.RawMessage{},
		clients: map[string]chan recv{}, gone: map[string]chan string{}, ss: make(chan json.RawMessage, 100), done: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go p.read(stdout, ready)
	t.Cleanup(func() {
		_, _ = p.stdin.Write([]byte(`{"id":0,"op":"quit"}` + "\n"))
		_ = p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(wait):
			_ = cmd.Process.Kill()
			<-p.done
		}
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("node stderr:\n%s", p.stderr.String())
		}
	})
	select {
	case p.url = <-ready:
	case <-p.done:
		t.Fatalf("node exited before it was ready:\n%s", p.stderr.String())
	case <-time.After(wait):
		t.Fatalf("node not ready within %v:\n%s", wait, p.stderr.String())
	}
	return p
}

func (p *nodeProc) read(r io.Reader, ready chan<- string) {
	defer close(p.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		var ev struct {
			Event  string `json:"event"`
			ID     int    `json:"id"`
			URL    string `json:"url"`
			Client string `json:"client"`
			Reason string `json:"reason"`
			Args   json.RawMessage
		}
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		switch ev.Event {
		case "ready":
			ready <- ev.URL
		case "reply":
			p.mu.Lock()
			ch := p.replies[ev.ID]
			delete(p.replies, ev.ID)
			p.mu.Unlock()
			if ch != nil {
				ch <- line
			}
		case "recv":
			var r recv
			_ = json.Unmarshal(line, &r)
			p.clientChan(r.Client) <- r
		case "disconnected":
			p.goneChan(ev.Client) <- ev.Reason
		case "ss":
			p.ss <- ev.Args
		}
	}
}

func (p *nodeProc) clientChan(name string) chan recv {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.clients[name]
	if ch == nil {
		ch = make(chan recv, 1000)
		p.clients[name] = ch
	}
	return ch
}

func (p *nodeProc) goneChan(name string) chan string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.gone[name]
	if ch == nil {
		ch = make(chan string, 1)
		p.gone[name] = ch
	}
	return ch
}

// call sends a command and decodes its reply into out (may be nil). A
// reply with an "error" field fails the test.
func (p *nodeProc) call(t testing.TB, cmd map[string]any, out any) {
	t.Helper()
	p.mu.Lock()
	p.nextID++
	id := p.nextID
	ch := make(chan json.RawMessage, 1)
	p.replies[id] = ch
	p.mu.Unlock()
	cmd["id"] = id
	b, _ := json.Marshal(cmd)
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("node stdin: %v", err)
	}
	select {
	case line := <-ch:
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(line, &e)
		if e.Error != "" {
			t.Fatalf("node %v: %s", cmd["op"], e.Error)
		}
		if out != nil {
			if err := json.Unmarshal(line, out); err != nil {
				t.Fatalf("node reply %s: %v", line, err)
			}
		}
	case <-p.done:
		t.Fatalf("node exited during %v:\n%s", cmd["op"], p.stderr.String())
	case <-time.After(wait):
		t.Fatalf("node did not answer %v within %v", cmd["op"], wait)
	}
}

// connect opens an official client named name to the server at url.
func (p *nodeProc) connect(t testing.TB, name, url string) string {
	t.Helper()
	var r struct {
		SID string `json:"sid"`
	}
	p.clientChan(name)
	p.call(t, map[string]any{"op": "connect", "client": name, "url": url}, &r)
	return r.SID
}

// next returns the next event client name received.
func (p *nodeProc) next(t testing.TB, name string) recv {
	t.Helper()
	select {
	case r := <-p.clientChan(name):
		return r
	case <-time.After(wait):
		t.Fatalf("client %s: no event within %v", name, wait)
		return recv{}
	}
}

// expect checks the next event of client name (args as compact JSON).
func (p *nodeProc) expect(t testing.TB, name, event, args string) {
	t.Helper()
	r := p.next(t, name)
	if r.Name != event || string(r.Args) != args {
		t.Fatalf("client %s got %s %s, want %s %s", name, r.Name, r.Args, event, args)
	}
}

// marker checks that the next event of every named client is event.
func (p *nodeProc) marker(t testing.TB, event string, names ...string) {
	t.Helper()
	for _, n := range names {
		r := p.next(t, n)
		if r.Name != event {
			t.Fatalf("client %s got %s %s before marker %s", n, r.Name, r.Args, event)
		}
	}
}

// herald is a Herald server of the mixed cluster.
type herald struct {
	io  *socketio.Server
	url string
}

func newHerald(t *testing.T, adapter func(*socketio.Namespace) socketio.Adapter, name string) *herald {
	t.Helper()
	io := socketio.NewServer(&socketio.Options{Adapter: adapter})
	io.OnServerSideEvent("ping", func(args socketio.Args, ack socketio.Ack) {
		if ack != nil {
			_ = ack("pong-" + name)
		}
	})
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
	return &herald{io: io, url: hs.URL}
}

func (h *herald) join(t testing.TB, sid string, rooms ...socketio.Room) {
	t.Helper()
	s := h.io.Of("/").Socket(socketio.SocketID(sid))
	if s == nil {
		t.Fatalf("no socket %s", sid)
	}
	s.Join(rooms...)
}
