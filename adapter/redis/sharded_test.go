package redisadapter_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	redisadapter "github.com/heraldio/herald/adapter/redis"
)

var (
	requestIDRe = regexp.MustCompile(`"requestId":"([0-9a-f]{16})"`)
	// The timeout flag is the time left on the caller's deadline: it may
	// read 999 for a Timeout(1s) depending on scheduling.
	timeoutRe = regexp.MustCompile(`"timeout":\d+`)
)

// TestGoldenSharded runs a sharded adapter (dynamic mode) on the real Redis
// and compares what it publishes, and on which channel, with what Node's
// sharded adapter published for the same operations
// (test/interop/redis/js/capture-sharded.mjs), Node's uid and request ids
// replaced by the Go adapter's.
func TestGoldenSharded(t *testing.T) {
	b, err := os.ReadFile("testdata/node_sharded_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var list []golden
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	rdb := newRedis(t, redisAddr())
	key := uniqueKey(t)
	const twenty = "abcdefghijklmnopqrst"
	ps := rdb.SSubscribe(ctxT(t), key+"#/#", key+"#/#room1#", key+"#/#"+twenty+"#")
	t.Cleanup(func() { _ = ps.Close() })
	for range 3 {
		if _, err := ps.Receive(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	msgs := ps.Channel()
	n := newNodeWith(t, redisadapter.NewSharded(rdb, &redisadapter.ShardedOptions{ChannelPrefix: key}), nil)
	uid := n.io.Of("/").Adapter().(*redisadapter.ShardedAdapter).UID()
	ctx := ctxT(t)
	ops := map[string]func() error{
		"sharded/emit":                func() error { return n.io.Emit("hello", "world", 1) },
		"sharded/to-room":             func() error { return n.io.To("room1").Emit("a", 1) },
		"sharded/to-socket-like-room": func() error { return n.io.To(twenty).Emit("a", 2) },
		"sharded/rooms-except-flags": func() error {
			return n.io.To("room1", "room2").Except("room3").Volatile().Compress(false).Emit("b", map[string]float64{"x": 1.5})
		},
		"sharded/binary": func() error { return n.io.Emit("bin", []byte{1, 2, 3}) },
		"sharded/fetch": func() error {
			go func() { _, _ = n.io.In("room1").FetchSockets(ctx) }() // the spy never answers
			return nil
		},
		"sharded/join":             func() error { return n.io.In("room1").SocketsJoin(ctx, "roomA") },
		"sharded/leave":            func() error { return n.io.Except("room2").SocketsLeave(ctx, "roomB") },
		"sharded/disconnect":       func() error { return n.io.In("room9").DisconnectSockets(ctx, true) },
		"sharded/server-side-emit": func() error { return n.io.ServerSideEmit(ctx, "ping", 42) },
		"sharded/server-side-emit-ack": func() error {
			go func() { _, _ = n.io.ServerSideEmitWithAck(ctx, "ping", 7) }()
			return nil
		},
		"sharded/broadcast-ack": func() error {
			go func() { _, _ = n.io.To("room1").Timeout(1000*1e6).EmitWithAck(ctx, "ack", 1) }()
			return nil
		},
	}
	for _, gd := range list {
		t.Run(gd.Name, func(t *testing.T) {
			op := ops[gd.Name]
			if op == nil {
				t.Fatalf("no operation for golden %s", gd.Name)
			}
			if err := op(); err != nil {
				t.Fatal(err)
			}
			var m *redis.Message
			select {
			case m = <-msgs:
			case <-ctx.Done():
				t.Fatal("nothing published")
			}
			want, _ := hex.DecodeString(gd.Hex)
			want = bytes.ReplaceAll(want, []byte("0123456789abcdef"), []byte(uid))
			got := []byte(m.Payload)
			if g, w := requestIDRe.FindSubmatch(got), requestIDRe.FindSubmatch(want); g != nil && w != nil {
				want = bytes.ReplaceAll(want, w[1], g[1])
			}
			got = timeoutRe.ReplaceAll(got, []byte(`"timeout":T`))
			want = timeoutRe.ReplaceAll(want, []byte(`"timeout":T`))
			wantCh := key + strings.TrimPrefix(gd.Channel, "golden")
			if m.Channel != wantCh || !bytes.Equal(got, want) {
				t.Fatalf("published on %s\n %q\nNode published on %s\n %q", m.Channel, got, wantCh, want)
			}
		})
	}
}
