package postgres_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/socketio"
)

// cluster3 starts three Herald servers on one database, and a client on
// each: a on A in r1, b on B in r1 and r2, c on C in r3.
func cluster3(t *testing.T) (nodes [3]*node, a, b, c *tclient) {
	t.Helper()
	pool := newPool(t, databaseURL())
	opts := uniqueOptions(t, pool)
	for i := range nodes {
		nodes[i] = startNode(t, pool, opts)
	}
	waitCount(t, 3, nodes[:]...)
	a = connect(t, nodes[0].url, "a", "r1")
	b = connect(t, nodes[1].url, "b", "r1", "r2")
	c = connect(t, nodes[2].url, "c", "r3")
	return nodes, a, b, c
}

func TestBroadcastForms(t *testing.T) {
	t.Parallel()
	nodes, a, b, c := cluster3(t)
	A := nodes[0].srv
	big := strings.Repeat("x", 9000)
	for _, err := range []error{
		A.Emit("all", 1),
		A.To("r1").Emit("to"),
		A.To("r2", "r3").Except("r1").Emit("multi"),
		A.Except("r1").Emit("except"),
		A.Emit("bin", []byte{1, 2, 3}, map[string]any{"k": []byte{4}}),
		A.Emit("big", big),
		A.Local().Emit("local"),
		A.Except().Compress(false).Emit("nocomp"),
		A.Emit("marker"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	a.expect(t, "all", "to", "bin", "big", "local", "nocomp", "marker")
	evs := b.expect(t, "all", "to", "bin", "big", "nocomp", "marker")
	if bs, ok := evs[2].args.Bytes(0); !ok || string(bs) != "\x01\x02\x03" {
		t.Errorf("binary argument on another server: %v %q", ok, bs)
	}
	var obj struct{ K []byte }
	if err := evs[2].args.Decode(1, &obj); err != nil || string(obj.K) != "\x04" {
		t.Errorf("nested binary on another server: %v %q", err, obj.K)
	}
	var s string
	if err := evs[3].args.Decode(0, &s); err != nil || s != big {
		t.Errorf("big payload through the table: %v (%d bytes)", err, len(s))
	}
	c.expect(t, "all", "multi", "except", "bin", "big", "nocomp", "marker")
	// Volatile packets are dropped for a client busy writing; every client
	// is idle now, so it reaches all of them.
	if err := A.Volatile().Emit("vol"); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*tclient{a, b, c} {
		cl.expect(t, "vol")
	}
	st := nodes[0].ps.Stats()
	if st.Attachments < 2 || st.Published == 0 || !st.Connected {
		t.Errorf("stats of A: %+v", st)
	}
}

func TestServerWideOperations(t *testing.T) {
	t.Parallel()
	nodes, a, b, c := cluster3(t)
	A := nodes[0].srv
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	socks, err := A.FetchSockets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range socks {
		ids = append(ids, string(s.ID))
	}
	want := []string{a.s.ID(), b.s.ID(), c.s.ID()}
	sort.Strings(ids)
	sort.Strings(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("FetchSockets ids %v, want %v", ids, want)
	}
	for _, s := range socks {
		if string(s.ID) != b.s.ID() {
			continue
		}
		if !slices.Contains(s.Rooms, "r2") || !slices.Contains(s.Rooms, socketio.Room(b.s.ID())) {
			t.Errorf("remote rooms %v", s.Rooms)
		}
		if s.Handshake == nil || !strings.Contains(string(s.Handshake.Auth), `"name":"b"`) {
			t.Errorf("remote handshake %+v", s.Handshake)
		}
		if d, _ := s.Data.([]byte); d == nil && !strings.Contains(anyString(s.Data), `"name":"b"`) {
			t.Errorf("remote data %v", s.Data)
		}
		// A remote socket's methods act through the cluster.
		if err := s.Emit("direct", "hi"); err != nil {
			t.Fatal(err)
		}
	}
	r3, err := A.In("r3").FetchSockets(ctx)
	if err != nil || len(r3) != 1 || string(r3[0].ID) != c.s.ID() {
		t.Fatalf("FetchSockets in r3: %v %v", r3, err)
	}

	if err := A.In("r1").SocketsJoin(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	if err := A.To("j").Emit("inj"); err != nil {
		t.Fatal(err)
	}
	if err := A.In("j").SocketsLeave(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if err := A.To("r1").Emit("r1after"); err != nil {
		t.Fatal(err)
	}
	if err := A.Emit("marker"); err != nil {
		t.Fatal(err)
	}
	a.expect(t, "inj", "marker")
	b.expect(t, "direct", "inj", "marker")
	c.expect(t, "marker")

	if err := A.In("r3").DisconnectSockets(ctx, false); err != nil {
		t.Fatal(err)
	}
	select {
	case reason := <-c.gone:
		if reason != "io server disconnect" {
			t.Errorf("c disconnected with %q", reason)
		}
	case <-time.After(wait):
		t.Fatal("c not disconnected by a server-wide DisconnectSockets from another server")
	}
	left, err := A.FetchSockets(ctx)
	if err != nil || len(left) != 2 {
		t.Errorf("after disconnecting r3: %d sockets, %v", len(left), err)
	}
}

func anyString(v any) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	case interface{ String() string }:
		return x.String()
	}
	if raw, ok := v.(interface{ MarshalJSON() ([]byte, error) }); ok {
		b, _ := raw.MarshalJSON()
		return string(b)
	}
	return ""
}

func TestAcknowledgements(t *testing.T) {
	t.Parallel()
	nodes, _, _, _ := cluster3(t)
	A := nodes[0].srv
	got := make(chan string, 4)
	for i, n := range nodes[1:] {
		name := string(rune('B' + i))
		n.srv.OnServerSideEvent("hello", func(args socketio.Args, ack socketio.Ack) {
			v, _ := socketio.Arg[int](args, 0)
			if ack != nil {
				_ = ack(name, v*2)
				return
			}
			got <- name
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	if err := A.ServerSideEmit(ctx, "hello", 1); err != nil {
		t.Fatal(err)
	}
	var heard []string
	for range 2 {
		select {
		case n := <-got:
			heard = append(heard, n)
		case <-time.After(wait):
			t.Fatal("server-side event not received")
		}
	}
	sort.Strings(heard)
	if !slices.Equal(heard, []string{"B", "C"}) {
		t.Errorf("server-side event reached %v", heard)
	}

	replies, err := A.ServerSideEmitWithAck(ctx, "hello", 21)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range replies {
		n, _ := socketio.Arg[string](r, 0) // only the first argument travels, as in Node
		names = append(names, n)
		if r.Len() != 1 {
			t.Errorf("reply %s has %d arguments", r, r.Len())
		}
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{"B", "C"}) {
		t.Errorf("server-side replies %v", names)
	}

	for _, tc := range []struct {
		op   socketio.BroadcastOperator
		want []string
	}{
		{A.Timeout(wait), []string{"a:7", "b:7", "c:7"}},
		{A.To("r1").Timeout(wait), []string{"a:7", "b:7"}},
		{A.Except("r1").Timeout(wait), []string{"c:7"}},
	} {
		replies, err := tc.op.EmitWithAck(ctx, "ask", 7)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range replies {
			s, _ := socketio.Arg[string](r, 0)
			got = append(got, s)
		}
		sort.Strings(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("broadcast acks %v, want %v", got, tc.want)
		}
	}
}

func TestServerCountFollowsClose(t *testing.T) {
	t.Parallel()
	pool := newPool(t, databaseURL())
	opts := uniqueOptions(t, pool)
	a, b, c := startNode(t, pool, opts), startNode(t, pool, opts), startNode(t, pool, opts)
	waitCount(t, 3, a, b, c)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitCount(t, 2, a, b) // ADAPTER_CLOSE, not the heartbeat timeout
}

func TestHeartbeatTimeout(t *testing.T) {
	t.Parallel()
	pool := newPool(t, databaseURL())
	opts := uniqueOptions(t, pool)
	opts.Cluster.HeartbeatInterval = 50 * time.Millisecond
	opts.Cluster.HeartbeatTimeout = 200 * time.Millisecond
	a, b := startNode(t, pool, opts), startNode(t, pool, opts)
	waitCount(t, 2, a, b)
	// B's listener stops (as if B hung): A no longer hears it and forgets
	// it after the timeout; B keeps counting A meanwhile only until its own
	// timeout, since it hears nothing either.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := b.ps.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// B still publishes heartbeats through the pool: A keeps it.
	waitCount(t, 1, b)
	if n, _ := a.srv.Of("/").Adapter().ServerCount(ctx); n != 2 {
		t.Errorf("A counts %d servers while B still sends heartbeats", n)
	}
	if err := b.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitCount(t, 1, a)
}

// TestNamespaceAddedLater creates a namespace once the listeners run: they
// LISTEN on its channel too (the wait for notifications is interrupted for
// it) and its adapters find each other.
func TestNamespaceAddedLater(t *testing.T) {
	t.Parallel()
	pool := newPool(t, databaseURL())
	opts := uniqueOptions(t, pool)
	A, B := startNode(t, pool, opts), startNode(t, pool, opts)
	waitCount(t, 2, A, B)
	chatA, chatB := A.srv.Of("/chat"), B.srv.Of("/chat")
	waitFor(t, "2 servers on /chat", func() bool {
		na, _ := chatA.Adapter().ServerCount(context.Background())
		nb, _ := chatB.Adapter().ServerCount(context.Background())
		return na == 2 && nb == 2
	})
	got := make(chan string, 1)
	chatB.OnServerSideEvent("hi", func(args socketio.Args, _ socketio.Ack) {
		s, _ := socketio.Arg[string](args, 0)
		got <- s
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := chatA.ServerSideEmit(ctx, "hi", "chat"); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "chat" {
			t.Errorf("got %q", s)
		}
	case <-ctx.Done():
		t.Fatal("server-side event on /chat not received")
	}
	// The main namespace still works on the same listener.
	a := connect(t, A.url, "a")
	if err := B.srv.Emit("main"); err != nil {
		t.Fatal(err)
	}
	a.expect(t, "main")
}
