package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/socketio"
)

// capture is one NOTIFY payload of a Node socket.io 4.8 server on
// @socket.io/postgres-adapter 0.5.0, with the attachment row it points to
// (testdata/node-postgres-capture.jsonl, made by
// test/interop/postgres/js/capture.mjs).
type capture struct {
	Payload    string  `json:"payload"`
	Attachment *string `json:"attachment"`
}

func loadCapture(t testing.TB) []capture {
	t.Helper()
	f, err := os.Open("testdata/node-postgres-capture.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []capture
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c capture
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wire returns the bytes of the message a capture stands for.
func (c capture) wire(t testing.TB) []byte {
	if c.Attachment == nil {
		return []byte(c.Payload)
	}
	b, err := hex.DecodeString(*c.Attachment)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNodeMessagesRoundTrip decodes every message Node produced and encodes
// it again: the bytes must be Node's exactly, JSON and MessagePack alike.
func TestNodeMessagesRoundTrip(t *testing.T) {
	caps := loadCapture(t)
	if len(caps) < 15 {
		t.Fatalf("capture has %d messages", len(caps))
	}
	types := map[cluster.MessageType]bool{}
	for i, c := range caps {
		in := c.wire(t)
		m, err := cluster.Decode(in)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		types[m.Type] = true
		var out []byte
		if c.Attachment != nil {
			if out, err = m.AppendMsgpack(nil); err != nil {
				t.Fatal(err)
			}
		} else {
			out = m.AppendJSON(nil)
		}
		if !bytes.Equal(in, out) {
			t.Errorf("message %d (%v): re-encoded differs\nnode: %q\ngo:   %q", i, m.Type, in, out)
		}
	}
	for _, mt := range []cluster.MessageType{cluster.InitialHeartbeat, cluster.Heartbeat, cluster.Broadcast,
		cluster.SocketsJoin, cluster.SocketsLeave, cluster.DisconnectSockets, cluster.FetchSockets,
		cluster.ServerSideEmit, cluster.AdapterClose} {
		if !types[mt] {
			t.Errorf("capture has no %v message", mt)
		}
	}
}

func TestDecodeBinary(t *testing.T) {
	for _, c := range loadCapture(t) {
		if c.Attachment == nil || !bytes.Contains([]byte(*c.Attachment), []byte(hex.EncodeToString([]byte("bin")))) {
			continue
		}
		m, err := cluster.Decode(c.wire(t))
		if err != nil {
			t.Fatal(err)
		}
		want := `{"packet":{"type":2,"data":["bin",{"_placeholder":true,"num":0},{"a":{"_placeholder":true,"num":1}}]},"opts":{"rooms":[],"except":[],"flags":{}}}`
		if string(m.Data) != want {
			t.Errorf("data\n got %s\nwant %s", m.Data, want)
		}
		if len(m.Attachments) != 2 || !bytes.Equal(m.Attachments[0], []byte{1, 2, 3}) || !bytes.Equal(m.Attachments[1], []byte{4}) {
			t.Errorf("attachments %v", m.Attachments)
		}
		if !m.HasBinary() || m.Type != cluster.Broadcast || m.UID == "" || m.Nsp != "/" {
			t.Errorf("decoded %+v", m)
		}
		return
	}
	t.Fatal("no binary message in the capture")
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     cluster.Message
	}{
		{"no uid (emitter)", `{"type":4,"data":{"opts":{"rooms":[],"except":[]},"rooms":["r2"]},"nsp":"/"}`,
			cluster.Message{Type: cluster.SocketsJoin, Nsp: "/", Data: json.RawMessage(`{"opts":{"rooms":[],"except":[]},"rooms":["r2"]}`)}},
		{"no nsp", `{"type":2,"uid":"emitter"}`, cluster.Message{Type: cluster.Heartbeat, UID: "emitter", Nsp: "/"}},
		{"null data", `{"type":2,"data":null,"uid":"a","nsp":"/x"}`, cluster.Message{Type: cluster.Heartbeat, UID: "a", Nsp: "/x"}},
		{"unknown members", `{"nodeId":"n","type":13,"uid":"a","nsp":"/"}`, cluster.Message{Type: cluster.AdapterClose, UID: "a", Nsp: "/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := cluster.Decode([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if m.Type != tc.want.Type || m.UID != tc.want.UID || m.Nsp != tc.want.Nsp || string(m.Data) != string(tc.want.Data) {
				t.Errorf("got %+v (data %s), want %+v", m, m.Data, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "{", `{"type":"x"}`, "\xc1", "[1]"} {
		if _, err := cluster.Decode([]byte(bad)); !errors.Is(err, cluster.ErrInvalidMessage) {
			t.Errorf("Decode(%q) = %v, want ErrInvalidMessage", bad, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, c := range loadCapture(f) {
		f.Add(c.wire(f))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := cluster.Decode(b)
		if err != nil {
			return
		}
		out, binary, err := m.Encode()
		if err != nil {
			return // a placeholder that points nowhere, for example
		}
		m2, err := cluster.Decode(out)
		if err != nil {
			t.Fatalf("re-decode of %q (binary %v): %v", out, binary, err)
		}
		if m2.Type != m.Type || m2.UID != m.UID || m2.Nsp != m.Nsp {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
	})
}

// recorder is a Transport that keeps what it is given.
type recorder struct{ c chan *cluster.Message }

func (r recorder) Publish(_ context.Context, m *cluster.Message) error { r.c <- m; return nil }
func (r recorder) PublishResponse(_ context.Context, _ string, m *cluster.Message) error {
	r.c <- m
	return nil
}

func (r recorder) next(t *testing.T) *cluster.Message {
	t.Helper()
	select {
	case m := <-r.c:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message published")
		return nil
	}
}

var (
	uidRe     = regexp.MustCompile(`"(uid|requestId)":"[0-9a-f]{16}"`)
	timeoutRe = regexp.MustCompile(`"timeout":\d+`)
)

func normalize(b []byte) string {
	s := uidRe.ReplaceAllString(string(b), `"$1":"X"`)
	return timeoutRe.ReplaceAllString(s, `"timeout":T`)
}

// TestEncodeLikeNode performs, on a Go server, the operations the Node
// capture was made of, and compares the messages (uids and request ids
// aside).
func TestEncodeLikeNode(t *testing.T) {
	caps := loadCapture(t)
	rec := recorder{c: make(chan *cluster.Message, 64)}
	var ad *cluster.Adapter
	srv := socketio.NewServer(&socketio.Options{Adapter: func(nsp *socketio.Namespace) socketio.Adapter {
		ad = cluster.New(nsp, rec, &cluster.Options{HeartbeatInterval: time.Hour, RequestsTimeout: 50 * time.Millisecond})
		return ad
	}})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	ad.Init()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ops := []func() error{
		func() error { return srv.Emit("hello", "world", 1) },
		func() error { return srv.To("room1").Emit("hello", "world", 1) },
		func() error { return srv.To("room1", "room2").Except("room3").Emit("hello", "world", 1) },
		func() error { return srv.Volatile().Compress(false).Emit("hello", "world", 1) },
		func() error { return srv.Emit("bin", []byte{1, 2, 3}, map[string]any{"a": []byte{4}}) },
		func() error { return srv.Emit("big", string(bytes.Repeat([]byte("x"), 9000))) },
		func() error { return srv.In("room1").SocketsJoin(ctx, "roomA", "roomB") },
		func() error { return srv.In("room1").SocketsLeave(ctx, "roomA") },
		func() error { return srv.In("room1").DisconnectSockets(ctx, true) },
		func() error { return srv.ServerSideEmit(ctx, "ping", 42) },
	}
	// Node's capture starts with INITIAL_HEARTBEAT.
	i := 0
	check := func(m *cluster.Message) {
		t.Helper()
		c := caps[i]
		i++
		var got, want []byte
		if c.Attachment != nil {
			var err error
			if got, err = m.AppendMsgpack(nil); err != nil {
				t.Fatal(err)
			}
			want = c.wire(t)
			nodeMsg, err := cluster.Decode(want)
			if err != nil {
				t.Fatal(err)
			}
			got = bytes.ReplaceAll(got, []byte(m.UID), []byte(nodeMsg.UID))
			if !bytes.Equal(got, want) {
				t.Errorf("message %d (%v):\nnode: %x\ngo:   %x", i-1, m.Type, want, got)
			}
			return
		}
		got, want = m.AppendJSON(nil), []byte(c.Payload)
		if normalize(got) != normalize(want) {
			t.Errorf("message %d (%v):\nnode: %s\ngo:   %s", i-1, m.Type, want, got)
		}
	}
	check(rec.next(t))
	for _, op := range ops {
		if err := op(); err != nil {
			t.Fatal(err)
		}
		check(rec.next(t))
	}
	// A peer announces itself (capture line: its HEARTBEAT), then the
	// requests that need one.
	peer := caps[i]
	i++
	pm, err := cluster.Decode([]byte(peer.Payload))
	if err != nil {
		t.Fatal(err)
	}
	ad.HandleMessage(pm)
	if n, _ := srv.Of("/").Adapter().ServerCount(ctx); n != 2 {
		t.Fatalf("server count %d after a peer's heartbeat", n)
	}
	if _, err := srv.FetchSockets(ctx); !errors.Is(err, cluster.ErrTimeout) {
		t.Errorf("FetchSockets without an answer: %v", err)
	}
	check(rec.next(t))
	actx, acancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, _ = srv.Timeout(time.Second).EmitWithAck(actx, "ask", 1)
	acancel()
	check(rec.next(t))
	sctx, scancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = srv.ServerSideEmitWithAck(sctx, "ask", 7)
	scancel()
	var ackErr *socketio.BroadcastAckError
	if !errors.As(err, &ackErr) || ackErr.Expected != 1 {
		t.Errorf("ServerSideEmitWithAck without an answer: %v", err)
	}
	check(rec.next(t))
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	check(rec.next(t)) // ADAPTER_CLOSE
	if i != len(caps) {
		t.Errorf("compared %d of %d captured messages", i, len(caps))
	}
}

func TestBroadcastRooms(t *testing.T) {
	for _, tc := range []struct {
		in        string
		rooms     []string
		ack, isOK bool
	}{
		{`{"type":3,"data":{"packet":{"type":2,"data":["x"]},"opts":{"rooms":["roomA"],"except":[],"flags":{}}},"uid":"u","nsp":"/"}`, []string{"roomA"}, false, true},
		{`{"type":3,"data":{"packet":{"type":2,"data":["x"]},"requestId":"r","opts":{"rooms":[],"except":[],"flags":{"timeout":5}}},"uid":"u","nsp":"/"}`, []string{}, true, true},
		{`{"type":9,"data":{"packet":["ping",1]},"uid":"u","nsp":"/"}`, nil, false, false},
	} {
		m, err := cluster.Decode([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		rooms, ack, ok := m.BroadcastRooms()
		if ok != tc.isOK || ack != tc.ack || len(rooms) != len(tc.rooms) || (len(rooms) > 0 && rooms[0] != tc.rooms[0]) {
			t.Errorf("%s: got %v %v %v", tc.in, rooms, ack, ok)
		}
	}
}
