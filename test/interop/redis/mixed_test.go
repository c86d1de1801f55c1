package redisinterop_test

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"
	"time"

	redisadapter "github.com/heraldio/herald/adapter/redis"
	"github.com/heraldio/herald/adapter/redis/emitter"
	"github.com/heraldio/herald/socketio"
)

// flavour is one Redis adapter form: how to build the Herald adapter and
// which mode the Node side runs.
type flavour struct {
	mode    string // js/cluster.mjs mode
	adapter func(t *testing.T, key string) func(*socketio.Namespace) socketio.Adapter
	ready   func(t *testing.T, h *herald)
	emitter bool // the classic form: emitters and allRooms exist
}

var classic = flavour{
	mode: "classic",
	adapter: func(t *testing.T, key string) func(*socketio.Namespace) socketio.Adapter {
		return redisadapter.New(newRedis(t), &redisadapter.Options{Key: key})
	},
	ready: func(t *testing.T, h *herald) {
		if err := h.io.Of("/").Adapter().(*redisadapter.Adapter).WaitReady(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	},
	emitter: true,
}

func sharded(mode redisadapter.SubscriptionMode) flavour {
	return flavour{
		mode: mode.String(),
		adapter: func(t *testing.T, key string) func(*socketio.Namespace) socketio.Adapter {
			return redisadapter.NewSharded(newRedis(t), &redisadapter.ShardedOptions{ChannelPrefix: key, SubscriptionMode: mode})
		},
		ready: func(t *testing.T, h *herald) {
			if err := h.io.Of("/").Adapter().(*redisadapter.ShardedAdapter).WaitReady(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func TestMixedClassic(t *testing.T) { runMixed(t, classic) }

// TestMixedClassicSpecificResponseChannel runs the classic cluster with
// publishOnSpecificResponseChannel on every server.
func TestMixedClassicSpecificResponseChannel(t *testing.T) {
	f := classic
	f.mode = "classic-specific"
	f.adapter = func(t *testing.T, key string) func(*socketio.Namespace) socketio.Adapter {
		return redisadapter.New(newRedis(t), &redisadapter.Options{Key: key, PublishOnSpecificResponseChannel: true})
	}
	runMixed(t, f)
}

func TestMixedSharded(t *testing.T) {
	for _, mode := range []redisadapter.SubscriptionMode{redisadapter.Static, redisadapter.Dynamic, redisadapter.DynamicPrivate} {
		t.Run(mode.String(), func(t *testing.T) { runMixed(t, sharded(mode)) })
	}
}

// mixed is one Node server (N) and two Herald servers (G1, G2) with an
// official client on each: n (room1), g1 (room1, room2), g2 (room3).
type mixed struct {
	flavour    flavour
	node       *nodeProc
	g1, g2     *herald
	key        string
	sn, s1, s2 string // socket ids
}

func newMixed(t *testing.T, f flavour) *mixed {
	key := uniqueKey()
	m := &mixed{key: key, flavour: f}
	m.node = startNode(t, key, f.mode)
	m.g1 = newHerald(t, f.adapter(t, key), "G1")
	m.g2 = newHerald(t, f.adapter(t, key), "G2")
	f.ready(t, m.g1)
	f.ready(t, m.g2)
	m.sn = m.node.connect(t, "n", m.node.url)
	m.s1 = m.node.connect(t, "g1", m.g1.url)
	m.s2 = m.node.connect(t, "g2", m.g2.url)
	m.node.call(t, map[string]any{"op": "join", "sid": m.sn, "rooms": []string{"room1"}}, nil)
	m.g1.join(t, m.s1, "room1", "room2")
	m.g2.join(t, m.s2, "room3")
	m.sync(t)
	return m
}

// sync makes sure every server has handled what was published so far and
// has subscribed the room channels it needs (dynamic sharded modes).
func (m *mixed) sync(t *testing.T) {
	t.Helper()
	m.node.call(t, map[string]any{"op": "sync"}, nil)
	for _, h := range []*herald{m.g1, m.g2} {
		if _, err := h.io.FetchSockets(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		m.flavour.ready(t, h)
	}
}

func sortedReplies(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var rs []json.RawMessage
	if err := json.Unmarshal(raw, &rs); err != nil {
		t.Fatalf("replies %s: %v", raw, err)
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	sort.Strings(out)
	return out
}

func argsStrings(as []socketio.Args) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	sort.Strings(out)
	return out
}

func runMixed(t *testing.T, f flavour) {
	m := newMixed(t, f)
	N, G1, G2 := m.node, m.g1, m.g2
	all := []string{"n", "g1", "g2"}
	nodeEmit := func(t *testing.T, cmd map[string]any) {
		t.Helper()
		cmd["op"] = "emit"
		N.call(t, cmd, nil)
	}

	t.Run("server count", func(t *testing.T) {
		var r struct{ Count int }
		N.call(t, map[string]any{"op": "serverCount"}, &r)
		if r.Count != 3 {
			t.Fatalf("Node counts %d servers", r.Count)
		}
		for _, h := range []*herald{G1, G2} {
			if n, err := h.io.Of("/").Adapter().ServerCount(ctxT(t)); err != nil || n != 3 {
				t.Fatalf("Herald counts %d servers, %v", n, err)
			}
		}
	})

	t.Run("broadcasts from Node", func(t *testing.T) {
		nodeEmit(t, map[string]any{"name": "all", "args": []any{"x", 1}})
		for _, c := range all {
			N.expect(t, c, "all", `["x",1]`)
		}
		nodeEmit(t, map[string]any{"name": "r1", "to": []string{"room1"}})
		nodeEmit(t, map[string]any{"name": "m1"})
		N.expect(t, "n", "r1", `[]`)
		N.expect(t, "g1", "r1", `[]`)
		N.marker(t, "m1", all...)
		nodeEmit(t, map[string]any{"name": "x", "to": []string{"room1", "room3"}, "except": []string{"room2"}, "compress": false, "args": []any{map[string]any{"k": 1.5}}})
		nodeEmit(t, map[string]any{"name": "m2"})
		N.expect(t, "n", "x", `[{"k":1.5}]`)
		N.expect(t, "g2", "x", `[{"k":1.5}]`)
		N.marker(t, "m2", all...)
		nodeEmit(t, map[string]any{"name": "bin", "args": []any{map[string]string{"$bin": "010203"}, map[string]any{"n": map[string]string{"$bin": "04"}}}})
		for _, c := range all {
			N.expect(t, c, "bin", `[{"$bin":"010203"},{"n":{"$bin":"04"}}]`)
		}
		nodeEmit(t, map[string]any{"name": "loc", "local": true})
		nodeEmit(t, map[string]any{"name": "m3"})
		N.expect(t, "n", "loc", `[]`)
		N.marker(t, "m3", all...)
	})

	t.Run("broadcasts from Herald", func(t *testing.T) {
		must(t, G1.io.Emit("all", "y", 2))
		for _, c := range all {
			N.expect(t, c, "all", `["y",2]`)
		}
		must(t, G1.io.To("room1").Emit("r1"))
		must(t, G1.io.Emit("m1"))
		N.expect(t, "n", "r1", `[]`)
		N.expect(t, "g1", "r1", `[]`)
		N.marker(t, "m1", all...)
		must(t, G2.io.To("room1", "room3").Except("room2").Compress(false).Emit("x", map[string]float64{"k": 1.5}))
		must(t, G2.io.Emit("m2"))
		N.expect(t, "n", "x", `[{"k":1.5}]`)
		N.expect(t, "g2", "x", `[{"k":1.5}]`)
		N.marker(t, "m2", all...)
		must(t, G2.io.Emit("bin", []byte{1, 2, 3}, struct {
			N []byte `json:"n"`
		}{[]byte{4}}))
		for _, c := range all {
			N.expect(t, c, "bin", `[{"$bin":"010203"},{"n":{"$bin":"04"}}]`)
		}
		s := G1.io.Of("/").Socket(socketio.SocketID(m.s1))
		must(t, s.Broadcast().Emit("fromG1"))
		must(t, G1.io.Emit("m3"))
		N.expect(t, "n", "fromG1", `[]`)
		N.expect(t, "g2", "fromG1", `[]`)
		N.marker(t, "m3", all...)
	})

	t.Run("fetchSockets from Node", func(t *testing.T) {
		var r struct {
			Sockets []struct {
				ID        string          `json:"id"`
				Rooms     []string        `json:"rooms"`
				Handshake json.RawMessage `json:"handshake"`
			} `json:"sockets"`
		}
		N.call(t, map[string]any{"op": "fetchSockets"}, &r)
		got := map[string][]string{}
		for _, s := range r.Sockets {
			got[s.ID] = s.Rooms
			var hs struct {
				Issued  int64  `json:"issued"`
				Address string `json:"address"`
				URL     string `json:"url"`
			}
			if json.Unmarshal(s.Handshake, &hs) != nil || hs.Issued == 0 || hs.URL == "" {
				t.Errorf("socket %s handshake %s", s.ID, s.Handshake)
			}
		}
		if len(got) != 3 || !slices.Contains(got[m.s1], "room2") || !slices.Contains(got[m.s2], "room3") || !slices.Contains(got[m.sn], "room1") {
			t.Fatalf("Node fetched %v", got)
		}
		N.call(t, map[string]any{"op": "fetchSockets", "to": []string{"room1"}}, &r)
		if len(r.Sockets) != 2 {
			t.Fatalf("Node fetched %d sockets in room1", len(r.Sockets))
		}
	})

	if f.emitter { // the classic form only
		t.Run("allRooms from Node", func(t *testing.T) {
			var r struct {
				Rooms []string `json:"rooms"`
			}
			N.call(t, map[string]any{"op": "allRooms"}, &r)
			for _, want := range []string{"room1", "room2", "room3", m.sn, m.s1, m.s2} {
				if !slices.Contains(r.Rooms, want) {
					t.Fatalf("allRooms = %v, missing %s", r.Rooms, want)
				}
			}
		})
	}

	t.Run("fetchSockets from Herald", func(t *testing.T) {
		socks, err := G2.io.FetchSockets(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]socketio.Room{}
		for _, s := range socks {
			got[string(s.ID)] = s.Rooms
			if s.Handshake == nil || s.Handshake.Time.IsZero() || s.Handshake.URL == "" {
				t.Errorf("socket %s handshake %+v", s.ID, s.Handshake)
			}
		}
		if len(got) != 3 || !slices.Contains(got[m.sn], "room1") || !slices.Contains(got[m.s1], "room2") {
			t.Fatalf("Herald fetched %v", got)
		}
		socks, err = G2.io.In("room1").Except("room2").FetchSockets(ctxT(t))
		if err != nil || len(socks) != 1 || string(socks[0].ID) != m.sn {
			t.Fatalf("In(room1).Except(room2) = %v, %v", socks, err)
		}
		// A remote socket handle reaches the Node client.
		must(t, socks[0].Emit("direct", 7))
		N.expect(t, "n", "direct", `[7]`)
	})

	t.Run("socketsJoin and socketsLeave from Node", func(t *testing.T) {
		N.call(t, map[string]any{"op": "socketsJoin", "to": []string{"room3"}, "rooms": []string{"j"}}, nil)
		m.sync(t)
		nodeEmit(t, map[string]any{"name": "j", "to": []string{"j"}})
		nodeEmit(t, map[string]any{"name": "m4"})
		N.expect(t, "g2", "j", `[]`)
		N.marker(t, "m4", all...)
		N.call(t, map[string]any{"op": "socketsLeave", "to": []string{"room3"}, "rooms": []string{"j"}}, nil)
		nodeEmit(t, map[string]any{"name": "j", "to": []string{"j"}})
		nodeEmit(t, map[string]any{"name": "m5"})
		N.marker(t, "m5", all...)
	})

	t.Run("socketsJoin and socketsLeave from Herald", func(t *testing.T) {
		must(t, G1.io.In("room1").SocketsJoin(ctxT(t), "k"))
		m.sync(t)
		must(t, G1.io.To("k").Emit("k"))
		must(t, G1.io.Emit("m6"))
		N.expect(t, "n", "k", `[]`)
		N.expect(t, "g1", "k", `[]`)
		N.marker(t, "m6", all...)
		must(t, G2.io.In("k").Except("room2").SocketsLeave(ctxT(t), "k"))
		must(t, G2.io.To("k").Emit("k2"))
		must(t, G2.io.Emit("m7"))
		N.expect(t, "g1", "k2", `[]`)
		N.marker(t, "m7", all...)
	})

	t.Run("serverSideEmit from Node", func(t *testing.T) {
		var r struct {
			Replies json.RawMessage `json:"replies"`
		}
		N.call(t, map[string]any{"op": "serverSideEmitWithAck", "name": "ping", "args": []any{1}}, &r)
		if got := sortedReplies(t, r.Replies); !slices.Equal(got, []string{`"pong-G1"`, `"pong-G2"`}) {
			t.Fatalf("Node got replies %v", got)
		}
	})

	t.Run("serverSideEmit from Herald", func(t *testing.T) {
		replies, err := G1.io.ServerSideEmitWithAck(ctxT(t), "ping", 2)
		if err != nil {
			t.Fatal(err)
		}
		if got := argsStrings(replies); !slices.Equal(got, []string{`["pong-G2"]`, `["pong-node"]`}) {
			t.Fatalf("Herald got replies %v", got)
		}
		select {
		case a := <-N.ss:
			if string(a) != `[2]` {
				t.Fatalf("Node server-side event %s", a)
			}
		case <-time.After(wait):
			t.Fatal("Node got no server-side event")
		}
		must(t, G2.io.ServerSideEmit(ctxT(t), "ping", "noack"))
		select {
		case a := <-N.ss:
			if string(a) != `["noack"]` {
				t.Fatalf("Node server-side event %s", a)
			}
		case <-time.After(wait):
			t.Fatal("Node got no server-side event")
		}
	})

	t.Run("broadcast acks from Node", func(t *testing.T) {
		var r struct {
			Replies json.RawMessage `json:"replies"`
		}
		N.call(t, map[string]any{"op": "emitWithAck", "name": "ask", "timeout": 5000, "args": []any{1}}, &r)
		if got := sortedReplies(t, r.Replies); !slices.Equal(got, []string{`"answer-g1"`, `"answer-g2"`, `"answer-n"`}) {
			t.Fatalf("Node got acks %v", got)
		}
		for _, c := range all {
			N.expect(t, c, "ask", `[1]`)
		}
	})

	t.Run("broadcast acks from Herald", func(t *testing.T) {
		replies, err := G2.io.Timeout(5*time.Second).EmitWithAck(ctxT(t), "ask", 2)
		if err != nil {
			t.Fatal(err)
		}
		if got := argsStrings(replies); !slices.Equal(got, []string{`["answer-g1"]`, `["answer-g2"]`, `["answer-n"]`}) {
			t.Fatalf("Herald got acks %v", got)
		}
		for _, c := range all {
			N.expect(t, c, "ask", `[2]`)
		}
		replies, err = G2.io.To("room1").Except("room2").Timeout(5*time.Second).EmitWithAck(ctxT(t), "ask", 3)
		if err != nil || len(replies) != 1 || replies[0].String() != `["answer-n"]` {
			t.Fatalf("Herald to room1 except room2: %v, %v", argsStrings(replies), err)
		}
		N.expect(t, "n", "ask", `[3]`)
	})

	if f.emitter {
		t.Run("Node emitter to Herald clients", func(t *testing.T) {
			N.call(t, map[string]any{"op": "emitter", "action": "emit", "name": "em", "to": []string{"room2"}, "args": []any{5, map[string]string{"$bin": "09"}}}, nil)
			N.call(t, map[string]any{"op": "emitter", "action": "emit", "name": "em-all"}, nil)
			N.expect(t, "g1", "em", `[5,{"$bin":"09"}]`)
			for _, c := range all {
				N.expect(t, c, "em-all", `[]`)
			}
			N.call(t, map[string]any{"op": "emitter", "action": "socketsJoin", "to": []string{"room3"}, "rooms": []string{"e"}}, nil)
			m.sync(t)
			N.call(t, map[string]any{"op": "emitter", "action": "emit", "name": "em-e", "to": []string{"e"}}, nil)
			N.call(t, map[string]any{"op": "emitter", "action": "emit", "name": "m8"}, nil)
			N.expect(t, "g2", "em-e", `[]`)
			N.marker(t, "m8", all...)
		})
		t.Run("Go emitter to Node clients", func(t *testing.T) {
			em := emitter.New(newRedis(t), &emitter.Options{Key: m.key})
			must(t, em.To("room1").Except("room2").Emit(ctxT(t), "gem", 1, []byte{7}))
			must(t, em.Emit(ctxT(t), "m9"))
			N.expect(t, "n", "gem", `[1,{"$bin":"07"}]`)
			N.marker(t, "m9", all...)
			must(t, em.In("room1").SocketsJoin(ctxT(t), "ge"))
			m.sync(t)
			must(t, em.To("ge").Emit(ctxT(t), "ge"))
			must(t, em.Emit(ctxT(t), "m10"))
			N.expect(t, "n", "ge", `[]`)
			N.expect(t, "g1", "ge", `[]`)
			N.marker(t, "m10", all...)
			must(t, em.ServerSideEmit(ctxT(t), "ping", "from-go-emitter"))
			select {
			case a := <-N.ss:
				if string(a) != `["from-go-emitter"]` {
					t.Fatalf("Node server-side event %s", a)
				}
			case <-time.After(wait):
				t.Fatal("Node got no server-side event from the Go emitter")
			}
		})
	}

	t.Run("disconnectSockets from Node", func(t *testing.T) {
		N.call(t, map[string]any{"op": "disconnectSockets", "to": []string{"room3"}, "close": true}, nil)
		select {
		case r := <-N.goneChan("g2"):
			if r != "transport close" && r != "io server disconnect" {
				t.Fatalf("g2 disconnected: %s", r)
			}
		case <-time.After(wait):
			t.Fatal("g2 (on Herald) was not disconnected")
		}
	})

	t.Run("disconnectSockets from Herald", func(t *testing.T) {
		must(t, G1.io.In(socketio.Room(m.sn)).DisconnectSockets(ctxT(t), false))
		select {
		case r := <-N.goneChan("n"):
			if r != "io server disconnect" {
				t.Fatalf("n disconnected: %s", r)
			}
		case <-time.After(wait):
			t.Fatal("n (on Node) was not disconnected")
		}
		socks, err := G1.io.FetchSockets(ctxT(t))
		if err != nil || len(socks) != 1 || string(socks[0].ID) != m.s1 {
			t.Fatalf("left: %d sockets, %v", len(socks), err)
		}
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
