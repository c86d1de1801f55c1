package socketio_test

import (
	"context"
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/socketio"
)

// lastString returns the last element of an event frame's array, the
// recovery offset.
func lastString(t testing.TB, frame, prefix string) string {
	t.Helper()
	var arr []json.RawMessage
	if err := json.Unmarshal([]byte(strings.TrimPrefix(frame, prefix)), &arr); err != nil || len(arr) == 0 {
		t.Fatalf("frame %q: %v", frame, err)
	}
	var s string
	if err := json.Unmarshal(arr[len(arr)-1], &s); err != nil {
		t.Fatalf("frame %q has no offset", frame)
	}
	return s
}

func TestConnectionStateRecovery(t *testing.T) {
	sockets := make(chan *socketio.Socket, 4)
	gone := make(chan string, 4)
	io, url := newServer(t, &socketio.Options{
		ConnectionStateRecovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: time.Minute},
	}, func(io *socketio.Server) {
		io.Use(func(_ context.Context, s *socketio.Socket) error {
			s.SetData("from middleware")
			return nil
		})
		io.OnConnection(func(s *socketio.Socket) {
			if !s.Recovered() {
				s.Join("room")
			}
			s.OnDisconnect(func(_ *socketio.Socket, reason string) { gone <- reason })
			sockets <- s
		})
	})
	r := dialRaw(t, url, 4, "websocket")
	r.send(t, "0")
	reply := r.expectPrefix(t, `0{"sid":"`)
	var ids struct{ SID, PID string }
	_ = json.Unmarshal([]byte(reply[1:]), &ids)
	if ids.PID == "" {
		t.Fatalf("no pid in %q", reply)
	}
	s := recv(t, sockets)

	_ = io.Emit("tick", 1)
	offset := lastString(t, r.expectPrefix(t, `2["tick",1,`), "2")
	// Acknowledged and volatile events carry no offset and are not replayed.
	go func() { _, _ = s.Timeout(time.Second).EmitWithAck(context.Background(), "ask") }()
	if f := r.expectPrefix(t, "2"); strings.Count(f, ",") != 0 {
		t.Fatalf("ack event with an offset: %q", f)
	}
	// A volatile event may be dropped on the wire; it is never logged.
	_, logged := socketio.RecoveryState(io.Of("/"))
	_ = s.Volatile().Emit("v")
	if _, n := socketio.RecoveryState(io.Of("/")); n != logged {
		t.Fatalf("volatile event logged: %d packets, was %d", n, logged)
	}

	_ = r.conn.Close() // the transport drops
	if reason := recv(t, gone); reason != socketio.ReasonTransportClose {
		t.Fatalf("reason %q", reason)
	}
	if n, _ := socketio.RecoveryState(io.Of("/")); n != 1 {
		t.Fatalf("%d saved sessions", n)
	}
	_ = io.To("room").Emit("tick", 2)
	_ = io.Except("room").Emit("tick", 99) // not for it
	_ = io.Emit("tick", 3)

	r2 := dialRaw(t, url, 4, "websocket")
	r2.send(t, `0{"pid":"`+ids.PID+`","offset":"`+offset+`"}`)
	r2.expectPrefix(t, `2["tick",2,`)
	r2.expectPrefix(t, `2["tick",3,`)
	r2.expect(t, `0{"sid":"`+ids.SID+`","pid":"`+ids.PID+`"}`)
	s2 := recv(t, sockets)
	if !s2.Recovered() || s2.ID() != s.ID() || s2.Data() != "from middleware" || !slices.Contains(s2.Rooms(), "room") {
		t.Fatalf("recovered=%v id=%s data=%v rooms=%v", s2.Recovered(), s2.ID(), s2.Data(), s2.Rooms())
	}
	// The session is used up: the same pid again gets a fresh socket.
	_ = r2.conn.Close()
	recv(t, gone)
	r3 := dialRaw(t, url, 4, "websocket")
	r3.send(t, `0{"pid":"unknown","offset":"1"}`)
	r3.expectPrefix(t, `0{"sid":"`)
	if s3 := recv(t, sockets); s3.Recovered() || s3.ID() == s.ID() {
		t.Fatalf("unknown pid recovered %v", s3.ID())
	}
}

func TestRecoveryWindowAndBounds(t *testing.T) {
	sockets := make(chan *socketio.Socket, 2)
	io, url := newServer(t, &socketio.Options{
		ConnectionStateRecovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: 50 * time.Millisecond, MaxPackets: 5},
	}, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) { sockets <- s })
	})
	r := dialRaw(t, url, 4, "websocket")
	r.send(t, "0")
	r.expectPrefix(t, `0{"sid":"`)
	recv(t, sockets)
	for i := range 20 {
		_ = io.Emit("tick", i)
	}
	if _, n := socketio.RecoveryState(io.Of("/")); n > 5 {
		t.Fatalf("%d packets kept, bound 5", n)
	}
	_ = r.conn.Close()
	// Everything is released once the window has passed, with no traffic.
	deadline := time.Now().Add(wait)
	for {
		sessions, packets := socketio.RecoveryState(io.Of("/"))
		if sessions == 0 && packets == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d sessions, %d packets after the window", sessions, packets)
		}
		time.Sleep(5 * time.Millisecond) // state with no event to wait on
	}
}

// TestRecoveryMemoryBound: 1,000 sockets away for the whole window while
// 10,000 events are broadcast. What recovery keeps is bounded by the packet
// log (MaxPackets, MaxBytes) plus one small record per away socket, and all
// of it is released when the window ends.
func TestRecoveryMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	const (
		away   = 1000
		events = 10_000
		// Long enough that no session expires while 1,000 clients leave
		// and 10,000 events are sent on a loaded machine under -race.
		window = 10 * time.Second
	)
	connected := make(chan struct{}, away)
	left := make(chan struct{}, away)
	io, url := newServer(t, &socketio.Options{
		ConnectionStateRecovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: window, MaxBytes: 4 << 20},
	}, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			s.OnDisconnect(func(*socketio.Socket, string) { left <- struct{}{} })
			connected <- struct{}{}
		})
	})
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var clients []*raw
	for range away {
		r := dialRaw(t, url, 4, "websocket")
		r.send(t, "0")
		clients = append(clients, r)
	}
	for range away {
		recv(t, connected)
	}
	for _, r := range clients {
		_ = r.conn.Close()
	}
	for range away {
		recv(t, left)
	}
	base := heap()
	payload := strings.Repeat("x", 200)
	for i := range events {
		_ = io.Emit("tick", i, payload)
	}
	sessions, packets := socketio.RecoveryState(io.Of("/"))
	held := heap() - min(base, heap())
	// 4 MiB of log (MaxBytes) and a few hundred bytes per away socket.
	const bound = 4<<20 + away*1024 + 2<<20
	t.Logf("away sockets %d, logged packets %d, heap held %d KiB (bound %d KiB)", sessions, packets, held>>10, bound>>10)
	if sessions != away {
		t.Fatalf("%d sessions saved, want %d", sessions, away)
	}
	if held > bound {
		t.Fatalf("recovery holds %d bytes, bound %d", held, bound)
	}
	deadline := time.Now().Add(window + wait)
	for {
		if s, p := socketio.RecoveryState(io.Of("/")); s == 0 && p == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("recovery state not released after the window")
		}
		time.Sleep(20 * time.Millisecond) // state with no event to wait on
	}
	if after := heap(); after > base+(1<<20) {
		t.Fatalf("heap %d KiB after the window, %d KiB before the events", after>>10, base>>10)
	}
}
