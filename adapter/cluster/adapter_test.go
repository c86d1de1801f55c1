package cluster_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
)

const wait = 5 * time.Second

// bus is an in-process Transport: every message goes, through its wire
// bytes, to every adapter (the sender's own included, as over a real
// broker), and each type seen is counted.
type bus struct {
	mu       sync.Mutex
	adapters []*cluster.Adapter
	seen     map[cluster.MessageType]int
}

func (b *bus) Publish(_ context.Context, m *cluster.Message) error {
	wire, _, err := m.Encode()
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.seen[m.Type]++
	list := slices.Clone(b.adapters)
	b.mu.Unlock()
	for _, a := range list {
		d, err := cluster.Decode(wire)
		if err != nil {
			return err
		}
		a.HandleMessage(d)
	}
	return nil
}

func (b *bus) PublishResponse(ctx context.Context, _ string, m *cluster.Message) error {
	return b.Publish(ctx, m)
}

func (b *bus) count(t cluster.MessageType) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seen[t]
}

type testServer struct {
	srv *socketio.Server
	ad  *cluster.Adapter
	url string
}

// startServers starts n servers on one bus, in the plain ClusterAdapter
// mode of the sharded Redis adapter when countMode (the count is n), with
// heartbeats otherwise.
func startServers(t *testing.T, b *bus, n int, countMode bool) []*testServer {
	t.Helper()
	var out []*testServer
	for range n {
		ts := &testServer{}
		opts := &cluster.Options{RequestsTimeout: wait}
		if countMode {
			opts.ServerCount = func(context.Context) (int, error) { return n, nil }
		}
		ts.srv = socketio.NewServer(&socketio.Options{Adapter: func(nsp *socketio.Namespace) socketio.Adapter {
			a := cluster.New(nsp, b, opts)
			if nsp.Name() == "/" {
				ts.ad = a
			}
			b.mu.Lock()
			b.adapters = append(b.adapters, a)
			b.mu.Unlock()
			return a
		}})
		ts.srv.OnConnection(func(s *socketio.Socket) { _ = s.Join("all") })
		hs := httptest.NewServer(ts.srv)
		ts.url = hs.URL + "/socket.io/"
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			_ = ts.srv.Close(ctx)
			hs.Close()
		})
		out = append(out, ts)
	}
	for _, ts := range out {
		ts.ad.Init()
	}
	return out
}

// dial connects a client that acknowledges "ask" with its name and queues
// the names of the other events it receives.
func dial(t *testing.T, url, name string) chan string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	events := make(chan string, 16)
	m := client.NewManager(url, &client.ManagerOptions{DisableReconnection: true})
	s := m.Socket("/", nil)
	s.OnAny(func(ev string, _ socketio.Args) {
		if ev != "ask" {
			events <- ev
		}
	})
	s.On("ask", func(_ socketio.Args, ack socketio.Ack) { _ = ack(name) })
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return events
}

func recv(t *testing.T, c chan string) string {
	t.Helper()
	select {
	case s := <-c:
		return s
	case <-time.After(wait):
		t.Fatal("no event")
		return ""
	}
}

func testOperations(t *testing.T, countMode bool) {
	b := &bus{seen: map[cluster.MessageType]int{}}
	servers := startServers(t, b, 2, countMode)
	A, B := servers[0], servers[1]
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if !countMode {
		for _, s := range servers {
			for {
				n, _ := s.ad.ServerCount(ctx)
				if n == 2 {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatal("servers did not count each other")
				case <-time.After(5 * time.Millisecond):
				}
			}
		}
	}
	ea := dial(t, A.url, "a")
	eb := dial(t, B.url, "b")

	if err := A.srv.To("all").Emit("hi"); err != nil {
		t.Fatal(err)
	}
	if recv(t, ea) != "hi" || recv(t, eb) != "hi" {
		t.Fatal("broadcast not delivered on both servers")
	}
	socks, err := A.srv.FetchSockets(ctx)
	if err != nil || len(socks) != 2 {
		t.Fatalf("FetchSockets: %d sockets, %v", len(socks), err)
	}
	replies, err := A.srv.Timeout(wait).EmitWithAck(ctx, "ask")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range replies {
		s, _ := socketio.Arg[string](r, 0)
		names = append(names, s)
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("acks %v", names)
	}
	B.srv.OnServerSideEvent("q", func(_ socketio.Args, ack socketio.Ack) { _ = ack("B") })
	sr, err := A.srv.ServerSideEmitWithAck(ctx, "q")
	if err != nil || len(sr) != 1 || string(sr[0].Raw(0)) != `"B"` {
		t.Fatalf("ServerSideEmitWithAck: %v %v", sr, err)
	}

	// An emitter's broadcast (uid "emitter") and a join without uid.
	for _, raw := range []string{
		`{"type":3,"data":{"packet":{"type":2,"data":["from-emitter"]},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"emitter","nsp":"/"}`,
		`{"type":4,"data":{"opts":{"rooms":[],"except":[]},"rooms":["e"]},"nsp":"/"}`,
	} {
		m, err := cluster.Decode([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		A.ad.HandleMessage(m)
	}
	if got := recv(t, ea); got != "from-emitter" {
		t.Errorf("emitter broadcast: got %q", got)
	}
	if ids := A.ad.Sockets(socketio.BroadcastOptions{Rooms: []socketio.Room{"e"}}); len(ids) != 1 {
		t.Errorf("join without uid: %v", ids)
	}
	if n, _ := A.ad.ServerCount(ctx); n != 2 {
		t.Errorf("server count %d after emitter messages", n)
	}
	if countMode && (b.count(cluster.InitialHeartbeat) != 0 || b.count(cluster.Heartbeat) != 0) {
		t.Errorf("heartbeats in count mode: %v", b.seen)
	}
	if !countMode && b.count(cluster.InitialHeartbeat) != 2 {
		t.Errorf("initial heartbeats: %v", b.seen)
	}
}

func TestHeartbeatMode(t *testing.T) { testOperations(t, false) }

// TestCountMode is the mode of the sharded Redis adapter: the count comes
// from Options.ServerCount and there are no heartbeats.
func TestCountMode(t *testing.T) { testOperations(t, true) }

// TestCloseFailsPendingFetch closes an adapter while a fetch waits for a
// peer that will never answer.
func TestCloseFailsPendingFetch(t *testing.T) {
	rec := recorder{c: make(chan *cluster.Message, 64)}
	var ad *cluster.Adapter
	srv := socketio.NewServer(&socketio.Options{Adapter: func(nsp *socketio.Namespace) socketio.Adapter {
		ad = cluster.New(nsp, rec, &cluster.Options{ServerCount: func(context.Context) (int, error) { return 2, nil }})
		return ad
	}})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := srv.FetchSockets(ctx)
		errc <- err
	}()
	if m := rec.next(t); m.Type != cluster.FetchSockets {
		t.Fatalf("published %v", m.Type)
	}
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, cluster.ErrClosed) {
		t.Errorf("pending fetch ended with %v", err)
	}
	if st := ad.Stats(); st.Published != 1 {
		t.Errorf("stats %+v", st)
	}
}
