package redisadapter_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	redisadapter "github.com/heraldio/herald/adapter/redis"
	"github.com/heraldio/herald/adapter/redis/emitter"
	"github.com/heraldio/herald/adapter/redis/internal/wire"
	"github.com/heraldio/herald/socketio"
)

// golden is one message published by Node's adapter (uid NODEID, key
// "golden") or emitter, captured from the real packages on a real Redis by
// test/interop/redis/js/capture.mjs (and capture-sharded.mjs for the
// sharded adapter). To regenerate, in test/interop/redis after `npm ci`:
//
//	node js/capture.mjs golden > ../../../adapter/redis/testdata/node_golden.json
//	node js/capture-sharded.mjs golden > ../../../adapter/redis/testdata/node_sharded_golden.json
type golden struct {
	Name    string `json:"name"`
	Channel string `json:"channel"`
	Hex     string `json:"hex"`
}

func loadGolden(t *testing.T) map[string]golden {
	t.Helper()
	b, err := os.ReadFile("testdata/node_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var list []golden
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	m := make(map[string]golden, len(list))
	for _, g := range list {
		m[g.Name] = g
	}
	return m
}

func (g golden) bytes(t *testing.T) []byte {
	b, err := hex.DecodeString(g.Hex)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func evPacket(t *testing.T, name string, args ...any) *socketio.Packet {
	t.Helper()
	p, err := socketio.EventPacket("/", name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// requestID reads the requestId Node chose, to encode the same request.
func requestID(t *testing.T, b []byte) string {
	m, err := wire.DecodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	return m.RequestID
}

type payload struct {
	X float64 `json:"x"`
	Y int     `json:"y"`
	Z *int    `json:"z"`
	S string  `json:"s"`
}

type nested struct {
	Nested []byte `json:"nested"`
}

// TestGoldenAdapterEncoding encodes each operation as the adapter does and
// compares with the bytes Node's adapter published for it.
func TestGoldenAdapterEncoding(t *testing.T) {
	g := loadGolden(t)
	const uid = "NODEID"
	cases := []struct {
		name string
		enc  func(want []byte) []byte
	}{
		{"adapter/emit", func([]byte) []byte {
			b, _ := wire.AppendBroadcast(nil, uid, evPacket(t, "hello", "world", 1), socketio.BroadcastOptions{}, nil, wire.AdapterOrder)
			return b
		}},
		{"adapter/to-room", func([]byte) []byte {
			b, _ := wire.AppendBroadcast(nil, uid, evPacket(t, "a", 1), socketio.BroadcastOptions{Rooms: []socketio.Room{"room1"}}, nil, wire.AdapterOrder)
			return b
		}},
		{"adapter/rooms-except-flags", func([]byte) []byte {
			o := socketio.BroadcastOptions{Rooms: []socketio.Room{"room1", "room2"}, Except: []socketio.Room{"room3"},
				Flags: socketio.BroadcastFlags{Volatile: true, NoCompress: true}}
			b, _ := wire.AppendBroadcast(nil, uid, evPacket(t, "b", payload{1.5, -200, nil, "é"}), o, wire.NodeFlags(o.Flags, 0), wire.AdapterOrder)
			return b
		}},
		{"adapter/binary", func([]byte) []byte {
			b, _ := wire.AppendBroadcast(nil, uid, evPacket(t, "bin", []byte{1, 2, 3}, nested{[]byte{4}}), socketio.BroadcastOptions{}, nil, wire.AdapterOrder)
			return b
		}},
		{"adapter/fetch", func(want []byte) []byte {
			return wire.FetchRequest(uid, requestID(t, want), socketio.BroadcastOptions{Rooms: []socketio.Room{"room1"}, Except: []socketio.Room{"room3"}})
		}},
		{"adapter/join", func([]byte) []byte {
			return wire.RoomsRequest(uid, wire.TypeRemoteJoin, socketio.BroadcastOptions{Rooms: []socketio.Room{"room1"}}, []socketio.Room{"roomA", "roomB"})
		}},
		{"adapter/leave", func([]byte) []byte {
			return wire.RoomsRequest(uid, wire.TypeRemoteLeave, socketio.BroadcastOptions{Except: []socketio.Room{"room2"}}, []socketio.Room{"roomB"})
		}},
		{"adapter/disconnect", func([]byte) []byte {
			return wire.DisconnectRequest(uid, socketio.BroadcastOptions{Rooms: []socketio.Room{"room9"}}, true)
		}},
		{"adapter/server-side-emit", func([]byte) []byte {
			p, _ := socketio.AckPacket("/", 0, "ping", 42, map[string][]int{"a": {1, 2}})
			return wire.ServerSideEmitRequest(uid, "", p.Data)
		}},
		{"adapter/server-side-emit-ack", func(want []byte) []byte {
			p, _ := socketio.AckPacket("/", 0, "ping", 7)
			return wire.ServerSideEmitRequest(uid, requestID(t, want), p.Data)
		}},
		{"adapter/broadcast-ack", func(want []byte) []byte {
			o := socketio.BroadcastOptions{Rooms: []socketio.Room{"room1"}}
			b, _ := wire.AppendBroadcastRequest(nil, uid, requestID(t, want), evPacket(t, "ack", 1), o, wire.NodeFlags(o.Flags, 1000))
			return b
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gd, ok := g[tc.name]
			if !ok {
				t.Fatalf("no golden %s", tc.name)
			}
			want := gd.bytes(t)
			if got := tc.enc(want); !bytes.Equal(got, want) {
				t.Fatalf("encoding differs from Node's\n got %x\nwant %x", got, want)
			}
		})
	}
}

// TestGoldenDecoding decodes every message Node's adapter and emitter
// published.
func TestGoldenDecoding(t *testing.T) {
	g := loadGolden(t)
	t.Run("broadcast with flags", func(t *testing.T) {
		m, err := wire.DecodeBroadcast(g["adapter/rooms-except-flags"].bytes(t))
		if err != nil {
			t.Fatal(err)
		}
		if m.UID != "NODEID" || m.Packet.Namespace != "/" || len(m.Opts.Rooms) != 2 || m.Opts.Except[0] != "room3" ||
			!m.Opts.Flags.Volatile || !m.Opts.Flags.NoCompress || string(m.Packet.Data) != `["b",{"x":1.5,"y":-200,"z":null,"s":"é"}]` {
			t.Fatalf("%+v %s", m, m.Packet.Data)
		}
	})
	t.Run("binary", func(t *testing.T) {
		m, err := wire.DecodeBroadcast(g["adapter/binary"].bytes(t))
		if err != nil {
			t.Fatal(err)
		}
		if m.Packet.Type != socketio.PacketBinaryEvent || len(m.Packet.Attachments) != 2 || !bytes.Equal(m.Packet.Attachments[0], []byte{1, 2, 3}) {
			t.Fatalf("%+v", m.Packet)
		}
	})
	t.Run("emitter key order", func(t *testing.T) {
		m, err := wire.DecodeBroadcast(g["emitter/rooms-except-flags"].bytes(t))
		if err != nil {
			t.Fatal(err)
		}
		if m.UID != "emitter" || !m.Opts.Flags.Volatile || !m.Opts.Flags.NoCompress || m.Opts.Except[0] != "room3" {
			t.Fatalf("%+v", m)
		}
	})
	t.Run("emitter namespace", func(t *testing.T) {
		gd := g["emitter/nsp"]
		m, err := wire.DecodeBroadcast(gd.bytes(t))
		if err != nil || m.Packet.Namespace != "/chat" || gd.Channel != "golden#/chat#r#" {
			t.Fatalf("%+v %v %s", m, err, gd.Channel)
		}
	})
	t.Run("broadcast request", func(t *testing.T) {
		m, err := wire.DecodeMessage(g["adapter/broadcast-ack"].bytes(t))
		if err != nil || *m.Type != wire.TypeBroadcast || m.Opts == nil {
			t.Fatalf("%+v %v", m, err)
		}
		opts, timeout := m.Opts.Options()
		if timeout != 1000 || opts.Rooms[0] != "room1" {
			t.Fatalf("opts %+v timeout %d", opts, timeout)
		}
	})
	t.Run("variants", func(t *testing.T) {
		// No uid, no nsp, packet type 5, numeric room, unknown flag, keys
		// in another order.
		var b []byte
		b = wire.AppendArrayHeader(b, 2)
		b = append(b, 0xd4, 0, 0) // undefined
		b = wire.AppendMapHeader(b, 2)
		b = wire.AppendString(b, "data")
		b = wire.AppendArrayHeader(b, 1)
		b = wire.AppendString(b, "e")
		b = wire.AppendInt(wire.AppendString(b, "type"), 5)
		m, err := wire.DecodeBroadcast(b)
		if err != nil || m.UID != "" || m.Packet.Namespace != "/" {
			t.Fatalf("%+v %v", m, err)
		}
		var o []byte
		o = wire.AppendArrayHeader(o, 3)
		o = append(o, 0xc0)
		o = wire.AppendMapHeader(o, 2)
		o = wire.AppendInt(wire.AppendString(o, "type"), 2)
		o = wire.AppendString(o, "data")
		o = wire.AppendArrayHeader(o, 1)
		o = wire.AppendString(o, "e")
		o = wire.AppendMapHeader(o, 2)
		o = wire.AppendString(o, "flags")
		o = wire.AppendMapHeader(o, 1)
		o = wire.AppendBool(wire.AppendString(o, "expectSingleResponse"), true)
		o = wire.AppendString(o, "rooms")
		o = wire.AppendArrayHeader(o, 1)
		o = wire.AppendInt(o, 42)
		m, err = wire.DecodeBroadcast(o)
		if err != nil || len(m.Opts.Rooms) != 1 || m.Opts.Rooms[0] != "42" {
			t.Fatalf("%+v %v", m, err)
		}
	})
}

// spy subscribes to every channel of key and returns the messages.
func spy(t *testing.T, rdb *redis.Client, key string) <-chan *redis.Message {
	t.Helper()
	ps := rdb.PSubscribe(ctxT(t), key+"*")
	if _, err := ps.Receive(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ps.Close() })
	return ps.Channel()
}

func nextMsg(t *testing.T, ch <-chan *redis.Message) *redis.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-ctxT(t).Done():
		t.Fatal("nothing published")
		return nil
	}
}

// TestGoldenEmitter publishes with the Go emitter on the real Redis and
// compares each message with the Node emitter's.
func TestGoldenEmitter(t *testing.T) {
	g := loadGolden(t)
	rdb := newRedis(t, redisAddr())
	key := uniqueKey(t)
	msgs := spy(t, rdb, key)
	em := emitter.New(rdb, &emitter.Options{Key: key})
	ctx := context.Background()
	cases := []struct {
		name string
		do   func() error
	}{
		{"emitter/emit", func() error { return em.Emit(ctx, "hello", "world", 1) }},
		{"emitter/to-room", func() error { return em.To("room1").Emit(ctx, "a", 1) }},
		{"emitter/rooms-except-flags", func() error {
			return em.To("room1", "room2").Except("room3").Volatile().Compress(false).Emit(ctx, "b", map[string]float64{"x": 1.5})
		}},
		{"emitter/binary", func() error { return em.Emit(ctx, "bin", []byte{1, 2, 3}) }},
		{"emitter/nsp", func() error { return em.Of("chat").To("r").Emit(ctx, "c") }},
		{"emitter/join", func() error { return em.In("room1").SocketsJoin(ctx, "r2") }},
		{"emitter/leave", func() error { return em.Except("room1").SocketsLeave(ctx, "r2", "r3") }},
		{"emitter/disconnect", func() error { return em.To("room1").DisconnectSockets(ctx, true) }},
		{"emitter/server-side-emit", func() error { return em.ServerSideEmit(ctx, "hello", map[string]int{"a": 1}) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err != nil {
				t.Fatal(err)
			}
			m := nextMsg(t, msgs)
			gd := g[tc.name]
			wantCh := key + strings.TrimPrefix(gd.Channel, "golden")
			if m.Channel != wantCh || !bytes.Equal([]byte(m.Payload), gd.bytes(t)) {
				t.Fatalf("published on %s\n %x\nNode published on %s\n %s", m.Channel, m.Payload, wantCh, gd.Hex)
			}
		})
	}
}

// TestGoldenAdapterPublish runs a real adapter on Redis and compares what
// it publishes with Node's bytes, its own uid replacing NODEID.
func TestGoldenAdapterPublish(t *testing.T) {
	g := loadGolden(t)
	rdb := newRedis(t, redisAddr())
	key := uniqueKey(t)
	n := newNode(t, rdb, &redisadapter.Options{Key: key}, nil)
	uid := n.adapter(t, "/").UID()
	msgs := spy(t, rdb, key)
	ctx := ctxT(t)
	cases := []struct {
		name string
		do   func() error
	}{
		{"adapter/emit", func() error { return n.io.Emit("hello", "world", 1) }},
		{"adapter/to-room", func() error { return n.io.To("room1").Emit("a", 1) }},
		{"adapter/rooms-except-flags", func() error {
			return n.io.To("room1", "room2").Except("room3").Volatile().Compress(false).Emit("b", payload{1.5, -200, nil, "é"})
		}},
		{"adapter/binary", func() error { return n.io.Emit("bin", []byte{1, 2, 3}, nested{[]byte{4}}) }},
		{"adapter/join", func() error { return n.io.In("room1").SocketsJoin(ctx, "roomA", "roomB") }},
		{"adapter/leave", func() error { return n.io.Except("room2").SocketsLeave(ctx, "roomB") }},
		{"adapter/disconnect", func() error { return n.io.In("room9").DisconnectSockets(ctx, true) }},
		{"adapter/server-side-emit", func() error {
			return n.io.ServerSideEmit(ctx, "ping", 42, map[string][]int{"a": {1, 2}})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err != nil {
				t.Fatal(err)
			}
			m := nextMsg(t, msgs)
			gd := g[tc.name]
			want := bytes.ReplaceAll(gd.bytes(t), []byte("NODEID"), []byte(uid))
			wantCh := key + strings.TrimPrefix(gd.Channel, "golden")
			if m.Channel != wantCh || !bytes.Equal([]byte(m.Payload), want) {
				t.Fatalf("published on %s\n %x\nNode published on %s\n %x", m.Channel, m.Payload, wantCh, want)
			}
		})
	}
}
