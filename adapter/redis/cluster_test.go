package redisadapter_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"testing"
	"time"

	redisadapter "github.com/heraldio/herald/adapter/redis"
	"github.com/heraldio/herald/adapter/redis/emitter"
	"github.com/heraldio/herald/socketio"
)

// cluster is three Herald nodes on one Redis with a client on each:
// a in room1; b in room1 and room2; c in room3.
type cluster struct {
	nodes    [3]*node
	clients  [3]*testClient
	ssEvents chan string
	key      string
}

// kind is one adapter form under test: it makes the adapter constructor
// of a node for a channel prefix.
type kind struct {
	name    string
	classic bool
	make    func(t *testing.T, key string) func(*socketio.Namespace) socketio.Adapter
}

func classicKind(opts redisadapter.Options) kind {
	return kind{name: "classic", classic: true, make: func(t *testing.T, key string) func(*socketio.Namespace) socketio.Adapter {
		o := opts
		o.Key = key
		return redisadapter.New(newRedis(t, redisAddr()), &o)
	}}
}

func shardedKind(mode redisadapter.SubscriptionMode) kind {
	return kind{name: "sharded-" + mode.String(), make: func(t *testing.T, key string) func(*socketio.Namespace) socketio.Adapter {
		return redisadapter.NewSharded(newRedis(t, redisAddr()), &redisadapter.ShardedOptions{ChannelPrefix: key, SubscriptionMode: mode})
	}}
}

var kinds = []kind{
	classicKind(redisadapter.Options{}),
	shardedKind(redisadapter.Static),
	shardedKind(redisadapter.Dynamic),
	shardedKind(redisadapter.DynamicPrivate),
}

// sync makes sure every node has processed what was published so far (a
// cluster-wide FetchSockets answers after the messages before it) and has
// subscribed the room channels it wants (the dynamic sharded modes).
func (cl *cluster) sync(t *testing.T) {
	t.Helper()
	for _, n := range cl.nodes {
		if _, err := n.io.FetchSockets(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range cl.nodes {
		n.waitReady(t, "/")
	}
}

func newCluster(t *testing.T, k kind) *cluster {
	t.Helper()
	key := uniqueKey(t)
	cl := &cluster{ssEvents: make(chan string, 100), key: key}
	names := []string{"A", "B", "C"}
	rooms := [][]socketio.Room{{"room1"}, {"room1", "room2"}, {"room3"}}
	for i := range cl.nodes {
		name := names[i]
		cl.nodes[i] = newNodeWith(t, k.make(t, key), func(io *socketio.Server) {
			io.OnServerSideEvent("ping", func(args socketio.Args, ack socketio.Ack) {
				cl.ssEvents <- name + ":" + args.String()
				if ack != nil {
					_ = ack("pong-" + name)
				}
			})
		})
	}
	for i, n := range cl.nodes {
		c := dial(t, n, "/")
		c.On("ask", func(args socketio.Args, ack socketio.Ack) {
			if ack != nil {
				_ = ack("answer-" + names[i])
			}
		})
		n.io.Of("/").Socket(socketio.SocketID(c.ID())).Join(rooms[i]...)
		cl.clients[i] = c
	}
	cl.sync(t)
	return cl
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// TestCluster runs every broadcast form and server-wide operation across
// three Herald nodes on the real Redis, with real Go clients, for the
// classic adapter and each mode of the sharded one.
func TestCluster(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { testCluster(t, k) })
	}
}

func testCluster(t *testing.T, k kind) {
	cl := newCluster(t, k)
	A, B, C := cl.nodes[0], cl.nodes[1], cl.nodes[2]
	a, b, c := cl.clients[0], cl.clients[1], cl.clients[2]
	all := []*testClient{a, b, c}
	marker := func(n *node, name string) {
		t.Helper()
		if err := n.io.Emit(name); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("server count", func(t *testing.T) {
		for _, n := range cl.nodes {
			got, err := n.io.Of("/").Adapter().ServerCount(ctxT(t))
			if err != nil || got != 3 {
				t.Fatalf("ServerCount = %d, %v; want 3", got, err)
			}
		}
	})

	t.Run("emit to all", func(t *testing.T) {
		if err := A.io.Emit("all", "x", 1); err != nil {
			t.Fatal(err)
		}
		for _, cli := range all {
			cli.expect(t, "all", `["x",1]`)
		}
	})

	t.Run("one room", func(t *testing.T) {
		if err := C.io.To("room1").Emit("r1", map[string]int{"n": 1}); err != nil {
			t.Fatal(err)
		}
		marker(C, "m1")
		a.expect(t, "r1", `[{"n":1}]`)
		b.expect(t, "r1", `[{"n":1}]`)
		for _, cli := range all {
			cli.expectMarker(t, "m1")
		}
	})

	// Volatile is left out of delivery checks: a volatile packet may be
	// dropped by design; its wire form is checked by the golden tests.
	t.Run("rooms except compress", func(t *testing.T) {
		if err := B.io.To("room1", "room3").Except("room2").Compress(false).Emit("x"); err != nil {
			t.Fatal(err)
		}
		marker(B, "m2")
		a.expect(t, "x", `[]`)
		c.expect(t, "x", `[]`)
		for _, cli := range all {
			cli.expectMarker(t, "m2")
		}
	})

	t.Run("binary", func(t *testing.T) {
		if err := C.io.Emit("bin", []byte{1, 2, 3}, struct {
			B []byte `json:"b"`
		}{[]byte{4}}); err != nil {
			t.Fatal(err)
		}
		for _, cli := range all {
			e := cli.next(t)
			got, ok := e.args.Bytes(0)
			var nested struct {
				B []byte `json:"b"`
			}
			if err := e.args.Decode(1, &nested); err != nil || e.name != "bin" || !ok || string(got) != "\x01\x02\x03" || string(nested.B) != "\x04" {
				t.Fatalf("got %s %s (%v %q %q)", e.name, e.args, err, got, nested.B)
			}
		}
	})

	t.Run("local", func(t *testing.T) {
		if err := A.io.Local().Emit("loc"); err != nil {
			t.Fatal(err)
		}
		marker(A, "m3")
		a.expect(t, "loc", `[]`)
		for _, cli := range all {
			cli.expectMarker(t, "m3")
		}
	})

	t.Run("socket broadcast", func(t *testing.T) {
		s := A.io.Of("/").Socket(socketio.SocketID(a.ID()))
		if err := s.Broadcast().Emit("fromA"); err != nil {
			t.Fatal(err)
		}
		marker(A, "m4")
		b.expect(t, "fromA", `[]`)
		c.expect(t, "fromA", `[]`)
		for _, cli := range all {
			cli.expectMarker(t, "m4")
		}
	})

	t.Run("fetch sockets", func(t *testing.T) {
		socks, err := B.io.FetchSockets(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]socketio.Room{}
		for _, s := range socks {
			rooms := slices.Clone(s.Rooms)
			sort.Slice(rooms, func(i, j int) bool { return rooms[i] < rooms[j] })
			got[string(s.ID)] = rooms
			if s.Handshake == nil || s.Handshake.Time.IsZero() {
				t.Errorf("socket %s: handshake %+v", s.ID, s.Handshake)
			}
		}
		if len(got) != 3 || !slices.Contains(got[c.ID()], "room3") || !slices.Contains(got[b.ID()], "room2") {
			t.Fatalf("FetchSockets = %v", got)
		}
		socks, err = C.io.In("room1").FetchSockets(ctxT(t))
		if err != nil || len(socks) != 2 {
			t.Fatalf("In(room1).FetchSockets = %d sockets, %v; want 2", len(socks), err)
		}
	})

	t.Run("sockets join and leave", func(t *testing.T) {
		if err := A.io.In("room3").SocketsJoin(ctxT(t), "joined"); err != nil {
			t.Fatal(err)
		}
		cl.sync(t)
		if err := A.io.To("joined").Emit("j"); err != nil {
			t.Fatal(err)
		}
		marker(A, "m5")
		c.expect(t, "j", `[]`)
		for _, cli := range all {
			cli.expectMarker(t, "m5")
		}
		if err := B.io.In("room1").SocketsLeave(ctxT(t), "room1"); err != nil {
			t.Fatal(err)
		}
		if err := B.io.To("room1").Emit("gone"); err != nil {
			t.Fatal(err)
		}
		marker(B, "m6")
		for _, cli := range all {
			cli.expectMarker(t, "m6")
		}
		if err := B.io.In("room1").SocketsJoin(ctxT(t), "room1"); err != nil { // no one: room1 is empty
			t.Fatal(err)
		}
		// Rejoin through a remote socket handle.
		socks, err := C.io.In(socketio.Room(a.ID())).FetchSockets(ctxT(t))
		if err != nil || len(socks) != 1 {
			t.Fatalf("FetchSockets(a) = %d, %v", len(socks), err)
		}
		if err := socks[0].Join(ctxT(t), "room1"); err != nil {
			t.Fatal(err)
		}
		cl.sync(t)
		if err := C.io.To("room1").Emit("back"); err != nil {
			t.Fatal(err)
		}
		marker(C, "m7")
		a.expect(t, "back", `[]`)
		for _, cli := range all {
			cli.expectMarker(t, "m7")
		}
	})

	t.Run("server side emit", func(t *testing.T) {
		if err := A.io.ServerSideEmit(ctxT(t), "ping", 1); err != nil {
			t.Fatal(err)
		}
		got := []string{<-cl.ssEvents, <-cl.ssEvents}
		sort.Strings(got)
		if got[0] != "B:[1]" || got[1] != "C:[1]" {
			t.Fatalf("server-side events %v", got)
		}
		replies, err := A.io.ServerSideEmitWithAck(ctxT(t), "ping", 2)
		if err != nil || len(replies) != 2 {
			t.Fatalf("ServerSideEmitWithAck = %v, %v", replies, err)
		}
		var rs []string
		for _, r := range replies {
			rs = append(rs, r.String())
		}
		sort.Strings(rs)
		if rs[0] != `["pong-B"]` || rs[1] != `["pong-C"]` {
			t.Fatalf("replies %v", rs)
		}
		<-cl.ssEvents
		<-cl.ssEvents
	})

	t.Run("broadcast with acks", func(t *testing.T) {
		replies, err := B.io.Timeout(wait).EmitWithAck(ctxT(t), "ask", 1)
		if err != nil {
			t.Fatal(err)
		}
		var rs []string
		for _, r := range replies {
			rs = append(rs, r.String())
		}
		sort.Strings(rs)
		if !slices.Equal(rs, []string{`["answer-A"]`, `["answer-B"]`, `["answer-C"]`}) {
			t.Fatalf("replies %v", rs)
		}
		for _, cli := range all {
			cli.expect(t, "ask", `[1]`)
		}
		// A room on another node only.
		replies, err = A.io.To("room3").Timeout(wait).EmitWithAck(ctxT(t), "ask", 2)
		if err != nil || len(replies) != 1 || replies[0].String() != `["answer-C"]` {
			t.Fatalf("room3 replies %v, %v", replies, err)
		}
		c.expect(t, "ask", `[2]`)
		// A client that never acks makes it time out with what arrived.
		replies, err = A.io.To("nobody").Timeout(200*time.Millisecond).EmitWithAck(ctxT(t), "ask", 3)
		if err != nil || len(replies) != 0 {
			t.Fatalf("empty room: %v, %v", replies, err)
		}
	})

	if k.classic { // the emitter speaks the classic format only
		t.Run("emitter", func(t *testing.T) {
			rdb := newRedis(t, redisAddr())
			em := emitter.New(rdb, &emitter.Options{Key: cl.key})
			if err := em.To("room2").Emit(ctxT(t), "em", 5, []byte{9}); err != nil {
				t.Fatal(err)
			}
			if err := em.Emit(ctxT(t), "em-all"); err != nil {
				t.Fatal(err)
			}
			e := b.next(t)
			if bs, ok := e.args.Bytes(1); e.name != "em" || e.args.Raw(0) == nil || string(e.args.Raw(0)) != "5" || !ok || string(bs) != "\x09" {
				t.Fatalf("b got %s %s", e.name, e.args)
			}
			for _, cli := range all {
				cli.expect(t, "em-all", `[]`)
			}
			if err := em.In("room2").SocketsJoin(ctxT(t), "viaEmitter"); err != nil {
				t.Fatal(err)
			}
			if err := em.To("viaEmitter").Except("room3").Emit(ctxT(t), "ve"); err != nil {
				t.Fatal(err)
			}
			if err := em.Emit(ctxT(t), "m8"); err != nil {
				t.Fatal(err)
			}
			b.expect(t, "ve", `[]`)
			for _, cli := range all {
				cli.expectMarker(t, "m8")
			}
			if err := em.ServerSideEmit(ctxT(t), "ping", "em"); err != nil {
				t.Fatal(err)
			}
			got := []string{<-cl.ssEvents, <-cl.ssEvents, <-cl.ssEvents}
			sort.Strings(got)
			if !slices.Equal(got, []string{`A:["em"]`, `B:["em"]`, `C:["em"]`}) {
				t.Fatalf("server-side events from the emitter %v", got)
			}
		})
	}

	t.Run("disconnect sockets", func(t *testing.T) {
		gone := make(chan string, 1)
		c.OnDisconnect(func(reason string) { gone <- reason })
		if err := A.io.In("room3").DisconnectSockets(ctxT(t), true); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-gone:
			if r != "io server disconnect" && r != "transport close" {
				t.Fatalf("reason %q", r)
			}
		case <-time.After(wait):
			t.Fatal("c was not disconnected")
		}
		n, err := B.io.FetchSockets(ctxT(t))
		if err != nil || len(n) != 2 {
			t.Fatalf("after disconnect: %d sockets, %v", len(n), err)
		}
	})

	t.Run("stats", func(t *testing.T) {
		switch a := A.io.Of("/").Adapter().(type) {
		case *redisadapter.Adapter:
			if st := a.Stats(); st.Published == 0 || st.Received == 0 || st.Dropped != 0 {
				t.Fatalf("stats %+v", st)
			}
		case *redisadapter.ShardedAdapter:
			if st := a.Stats(); st.Cluster.Published == 0 || st.Received == 0 || st.Cluster.Dropped != 0 {
				t.Fatalf("stats %+v", st)
			}
		}
	})
}

// TestRequestTimeout checks that FetchSockets fails with ErrTimeout when a
// subscriber of the request channel never answers.
func TestRequestTimeout(t *testing.T) {
	rdb := newRedis(t, redisAddr())
	key := uniqueKey(t)
	n := newNode(t, rdb, &redisadapter.Options{Key: key, RequestsTimeout: 200 * time.Millisecond}, nil)
	mute := rdb.Subscribe(ctxT(t), key+"-request#/#")
	t.Cleanup(func() { _ = mute.Close() })
	if _, err := mute.Receive(ctxT(t)); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	_, err := n.io.FetchSockets(ctxT(t))
	if !errors.Is(err, redisadapter.ErrTimeout) {
		t.Fatalf("FetchSockets error %v, want ErrTimeout", err)
	}
}

// TestSpecificResponseChannel runs requests with
// PublishOnSpecificResponseChannel on every node.
func TestSpecificResponseChannel(t *testing.T) {
	cl := newCluster(t, classicKind(redisadapter.Options{PublishOnSpecificResponseChannel: true}))
	socks, err := cl.nodes[0].io.FetchSockets(ctxT(t))
	if err != nil || len(socks) != 3 {
		t.Fatalf("FetchSockets = %d, %v", len(socks), err)
	}
	replies, err := cl.nodes[1].io.Timeout(wait).EmitWithAck(ctxT(t), "ask")
	if err != nil || len(replies) != 3 {
		t.Fatalf("EmitWithAck = %v, %v", replies, err)
	}
	replies, err = cl.nodes[2].io.ServerSideEmitWithAck(ctxT(t), "ping")
	if err != nil || len(replies) != 2 {
		t.Fatalf("ServerSideEmitWithAck = %v, %v", replies, err)
	}
}
