package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/adapter/postgres"
	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
)

const wait = 10 * time.Second

// databaseURL is the test database: HERALD_TEST_POSTGRES, or the local
// PostgreSQL of the CI machine.
func databaseURL() string {
	if u := os.Getenv("HERALD_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test"
}

// newPool opens a small pool on url; it closes with the test.
func newPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
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
		t.Fatalf("PostgreSQL at %s: %v", url, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// uniqueOptions returns options with a channel prefix and table of this
// test's own, so parallel runs never see each other; the table is dropped
// with the test.
func uniqueOptions(t testing.TB, pool *pgxpool.Pool) *postgres.Options {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := "herald_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_, _ = pool.Exec(ctx, "DROP TABLE IF EXISTS "+id+"_att")
	})
	return &postgres.Options{
		ChannelPrefix:  id,
		TableName:      id + "_att",
		ReconnectDelay: 50 * time.Millisecond,
		Cluster:        cluster.Options{RequestsTimeout: 3 * time.Second},
	}
}

// node is one Herald server of a test cluster.
type node struct {
	srv *socketio.Server
	url string
	ps  *postgres.PubSub
}

// startNode starts a Socket.IO server on its own PubSub and httptest
// server. Each socket joins the rooms listed in its auth payload
// {"rooms":[…],"name":…} and keeps the name as its data. All of it closes
// with the test.
func startNode(t testing.TB, pool *pgxpool.Pool, opts *postgres.Options) *node {
	t.Helper()
	ps := postgres.New(pool, opts)
	srv := socketio.NewServer(&socketio.Options{Adapter: ps.Adapter})
	srv.OnConnection(func(s *socketio.Socket) {
		var auth struct {
			Rooms []socketio.Room `json:"rooms"`
			Name  string          `json:"name"`
		}
		if err := json.Unmarshal(s.Handshake().Auth, &auth); err == nil {
			_ = s.Join(auth.Rooms...)
			s.SetData(map[string]string{"name": auth.Name})
		}
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("server close: %v", err)
		}
		hs.Close()
		if err := ps.Close(ctx); err != nil {
			t.Errorf("pubsub close: %v", err)
		}
	})
	return &node{srv: srv, url: hs.URL + "/socket.io/", ps: ps}
}

// waitFor waits until cond holds, checking it every few milliseconds, and
// fails t after wait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// waitCount waits until every node counts n servers.
func waitCount(t testing.TB, n int, nodes ...*node) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d servers", n), func() bool {
		for _, nd := range nodes {
			c, err := nd.srv.Of("/").Adapter().ServerCount(context.Background())
			if err != nil || c != n {
				return false
			}
		}
		return true
	})
}

type event struct {
	name string
	args socketio.Args
}

// tclient is a Go client whose received events queue up in order.
type tclient struct {
	s      *client.Socket
	name   string
	events chan event
	gone   chan string // disconnect reasons
}

// connect dials url with auth {"rooms","name"}; every event the client
// receives is queued, and "ask" is acknowledged with "<name>:<arg>".
func connect(t testing.TB, url, name string, rooms ...string) *tclient {
	t.Helper()
	if rooms == nil {
		rooms = []string{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c := &tclient{name: name, events: make(chan event, 256), gone: make(chan string, 4)}
	m := client.NewManager(url, &client.ManagerOptions{DisableReconnection: true})
	s := m.Socket("/", &client.SocketOptions{Auth: map[string]any{"rooms": rooms, "name": name}})
	s.OnAny(func(ev string, args socketio.Args) { c.events <- event{ev, args} })
	s.OnDisconnect(func(reason string) { c.gone <- reason })
	s.On("ask", func(args socketio.Args, ack socketio.Ack) {
		var v any
		_ = args.Decode(0, &v)
		if ack != nil {
			_ = ack(fmt.Sprintf("%s:%v", name, v))
		}
	})
	if err := s.Connect(ctx); err != nil {
		_ = m.Close()
		t.Fatalf("connect %s: %v", name, err)
	}
	c.s = s
	t.Cleanup(func() { _ = m.Close() })
	return c
}

// next returns the client's next event, failing t after wait.
func (c *tclient) next(t testing.TB) event {
	t.Helper()
	select {
	case e := <-c.events:
		return e
	case <-time.After(wait):
		t.Fatalf("%s: no event within %v", c.name, wait)
		return event{}
	}
}

// expect checks that the client's next events are exactly names, in order.
func (c *tclient) expect(t testing.TB, names ...string) []event {
	t.Helper()
	var got []event
	for _, n := range names {
		e := c.next(t)
		got = append(got, e)
		if e.name != n {
			t.Fatalf("%s: got event %q (%s), want %q", c.name, e.name, e.args, n)
		}
	}
	return got
}

func isTimeout(err error) bool {
	var ae *socketio.BroadcastAckError
	return errors.As(err, &ae) || errors.Is(err, cluster.ErrTimeout)
}

func joinNames(evs []event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.name + " ")
	}
	return b.String()
}

// waitHears waits until a server-side event from one node gets a reply
// from the other: both listen, and each hears the other.
func waitHears(t testing.TB, from, to *node) {
	t.Helper()
	to.srv.OnServerSideEvent("probe", func(_ socketio.Args, ack socketio.Ack) {
		if ack != nil {
			_ = ack(true)
		}
	})
	waitFor(t, "a reply through the cluster", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		replies, err := from.srv.ServerSideEmitWithAck(ctx, "probe")
		return err == nil && len(replies) > 0
	})
}
