package interop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/socketio"
)

// serverwideStep bounds one awaited step of the Go side.
const serverwideStep = 10 * time.Second

// startServerwide serves io on an httptest server until the test ends, and
// runs drive on its own goroutine while js/serverwide.mjs runs scenario.
// drive's ctx ends when node has exited; drive reports with t.Errorf only
// and must tell the clients to finish. The node result is returned once
// drive has returned.
func startServerwide(t *testing.T, io *socketio.Server, scenario string, drive func(ctx context.Context)) nodeRun {
	t.Helper()
	hs := httptest.NewServer(io)
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = io.Close(ctx)
	})
	ctx, cancel := context.WithCancel(context.Background())
	driven := make(chan struct{})
	go func() {
		defer close(driven)
		drive(ctx)
	}()
	defer func() {
		cancel()
		<-driven
	}()
	return runNode(t, 30*time.Second, "serverwide.mjs", hs.URL, scenario)
}

// TestBroadcastAcks: a broadcast with acknowledgements to 50 socket.io-client
// 4.8 sockets, 5 of which never answer, returns the 45 replies and a
// *BroadcastAckError{Expected: 50, Received: 45} once the timeout passes.
func TestBroadcastAcks(t *testing.T) {
	t.Parallel()
	requireNode(t, "socket.io-client")
	const n, answering = 50, 45
	io := socketio.NewServer(nil)
	var mu sync.Mutex
	connected := 0
	all := make(chan struct{})
	io.OnConnection(func(s *socketio.Socket) {
		mu.Lock()
		defer mu.Unlock()
		if connected++; connected == n {
			close(all)
		}
	})

	run := startServerwide(t, io, "acks", func(ctx context.Context) {
		defer func() { _ = io.Emit("done") }()
		select {
		case <-all:
		case <-ctx.Done():
			t.Error("node ended before all sockets connected")
			return
		case <-time.After(serverwideStep):
			t.Errorf("only %d of %d sockets connected", func() int { mu.Lock(); defer mu.Unlock(); return connected }(), n)
			return
		}
		start := time.Now()
		replies, err := io.Timeout(time.Second).EmitWithAck(context.Background(), "poll")
		if d := time.Since(start); d < time.Second || d > 5*time.Second {
			t.Errorf("EmitWithAck returned after %v, want about 1s", d)
		}
		var ackErr *socketio.BroadcastAckError
		switch {
		case !errors.As(err, &ackErr):
			t.Errorf("EmitWithAck error = %v (%T), want *socketio.BroadcastAckError", err, err)
		case ackErr.Expected != n || ackErr.Received != answering:
			t.Errorf("BroadcastAckError = %+v, want Expected %d, Received %d", *ackErr, n, answering)
		}
		if !errors.Is(err, socketio.ErrAckTimeout) {
			t.Errorf("errors.Is(%v, ErrAckTimeout) = false", err)
		}
		if len(replies) != answering {
			t.Errorf("got %d replies, want %d", len(replies), answering)
		}
		seen := make(map[int]int)
		for _, r := range replies {
			i, err := socketio.Arg[int](r, 0)
			if err != nil || r.Len() != 1 {
				t.Errorf("reply %s: %v", r, err)
				continue
			}
			seen[i]++
		}
		for i := range answering {
			if seen[i] != 1 {
				t.Errorf("socket %d answered %d times, want once", i, seen[i])
			}
			delete(seen, i)
		}
		if len(seen) > 0 {
			t.Errorf("unexpected replies: %v", seen)
		}
	})

	var res struct {
		OK     bool   `json:"ok"`
		Error  string `json:"error"`
		Polled []int  `json:"polled"`
	}
	if err := json.Unmarshal(run.Result, &res); err != nil {
		t.Fatalf("decoding result: %v", err)
	}
	if run.ExitCode != 0 || !res.OK {
		t.Fatalf("node failed (exit code %d): %s", run.ExitCode, run.Result)
	}
	if len(res.Polled) != n {
		t.Fatalf("result %s: want %d sockets", run.Result, n)
	}
	for i, c := range res.Polled {
		if c != 1 {
			t.Errorf("socket %d received poll %d times, want once", i, c)
		}
	}
}

// swGot is one event a client of the "ops" scenario reported back.
type swGot struct {
	name, event string
	arg         any
}

// TestServerWideOperations: FetchSockets, SocketsJoin, RemoteSocket.Emit,
// SocketsLeave and DisconnectSockets on three socket.io-client 4.8 clients,
// each step checked by what the clients received before a marker broadcast
// to everyone.
func TestServerWideOperations(t *testing.T) {
	t.Parallel()
	requireNode(t, "socket.io-client")
	io := socketio.NewServer(nil)
	got := make(chan swGot, 64)
	var mu sync.Mutex
	ids := map[string]socketio.SocketID{}
	reasons := map[string]string{}
	all := make(chan struct{})
	gone := make(chan string, 3)
	io.OnConnection(func(s *socketio.Socket) {
		var auth struct{ Name string }
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		s.SetData(auth.Name)
		s.On("got", func(_ *socketio.Socket, args socketio.Args, _ socketio.Ack) {
			ev, _ := socketio.Arg[string](args, 0)
			arg, _ := socketio.Arg[any](args, 1)
			got <- swGot{auth.Name, ev, arg}
		})
		s.OnDisconnect(func(_ *socketio.Socket, reason string) {
			mu.Lock()
			reasons[auth.Name] = reason
			mu.Unlock()
			gone <- auth.Name
		})
		mu.Lock()
		defer mu.Unlock()
		ids[auth.Name] = s.ID()
		if len(ids) == 3 {
			close(all)
		}
	})

	run := startServerwide(t, io, "ops", func(ctx context.Context) {
		defer func() { _ = io.Emit("done") }()
		step := func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, serverwideStep)
		}
		// marker broadcasts marker n to everyone and returns, per client,
		// the events it reported before marker n; names must report it.
		marker := func(n int, names ...string) (map[string][]string, bool) {
			t.Helper()
			if err := io.Emit("marker", n); err != nil {
				t.Errorf("marker %d: %v", n, err)
				return nil, false
			}
			before := map[string][]string{}
			waiting := slices.Clone(names)
			timeout := time.After(serverwideStep)
			for len(waiting) > 0 {
				select {
				case g := <-got:
					if g.event == "marker" && fmt.Sprint(g.arg) == fmt.Sprint(n) {
						waiting = slices.DeleteFunc(waiting, func(s string) bool { return s == g.name })
						continue
					}
					before[g.name] = append(before[g.name], fmt.Sprintf("%s %v", g.event, g.arg))
				case <-timeout:
					t.Errorf("marker %d: no report from %v", n, waiting)
					return nil, false
				case <-ctx.Done():
					t.Errorf("marker %d: node ended, no report from %v", n, waiting)
					return nil, false
				}
			}
			return before, true
		}
		wantBefore := func(n int, before map[string][]string, want map[string][]string) {
			t.Helper()
			for _, name := range []string{"a", "b", "c"} {
				if !slices.Equal(before[name], want[name]) {
					t.Errorf("before marker %d, %s received %q, want %q", n, name, before[name], want[name])
				}
			}
		}
		fetch := func(op func(context.Context) ([]*socketio.RemoteSocket, error), what string) map[string]*socketio.RemoteSocket {
			t.Helper()
			c, cancel := step()
			defer cancel()
			socks, err := op(c)
			if err != nil {
				t.Errorf("FetchSockets %s: %v", what, err)
			}
			m := map[string]*socketio.RemoteSocket{}
			for _, rs := range socks {
				name, _ := rs.Data.(string)
				m[name] = rs
			}
			if len(m) != len(socks) {
				t.Errorf("FetchSockets %s: Data not distinct: %d sockets, names %v", what, len(socks), slices.Sorted(maps.Keys(m)))
			}
			return m
		}

		select {
		case <-all:
		case <-ctx.Done():
			t.Error("node ended before a, b and c connected")
			return
		case <-time.After(serverwideStep):
			t.Error("a, b and c did not all connect")
			return
		}
		mu.Lock()
		idA, idC := ids["a"], ids["c"]
		wantIDs := maps.Clone(ids)
		mu.Unlock()

		// FetchSockets: everyone, with Data and their own room.
		c, cancel := step()
		socks, err := io.FetchSockets(c)
		cancel()
		if err != nil || len(socks) != 3 {
			t.Errorf("FetchSockets = %d sockets, %v; want 3", len(socks), err)
		}
		byName := map[string]*socketio.RemoteSocket{}
		for _, rs := range socks {
			name, ok := rs.Data.(string)
			if !ok || wantIDs[name] != rs.ID {
				t.Errorf("FetchSockets: socket %s has Data %#v, want the name it connected with", rs.ID, rs.Data)
				continue
			}
			byName[name] = rs
			if !slices.Equal(rs.Rooms, []socketio.Room{socketio.Room(rs.ID)}) {
				t.Errorf("FetchSockets: %s has rooms %v, want [%s]", name, rs.Rooms, rs.ID)
			}
			if rs.Handshake == nil || string(rs.Handshake.Auth) != fmt.Sprintf(`{"name":%q}`, name) {
				t.Errorf("FetchSockets: %s has handshake %+v", name, rs.Handshake)
			}
		}
		if len(byName) != 3 {
			return
		}

		// SocketsJoin: only a is in "vip" and receives its news.
		c, cancel = step()
		err = io.In(socketio.Room(idA)).SocketsJoin(c, "vip")
		cancel()
		if err != nil {
			t.Errorf("SocketsJoin: %v", err)
		}
		if vip := fetch(io.In("vip").FetchSockets, `in "vip"`); len(vip) != 1 || vip["a"] == nil ||
			!slices.Contains(vip["a"].Rooms, "vip") {
			t.Errorf(`FetchSockets in "vip" after SocketsJoin = %v, want a`, slices.Sorted(maps.Keys(vip)))
		}
		if err := io.To("vip").Emit("vip-news", "x"); err != nil {
			t.Errorf("Emit to vip: %v", err)
		}
		before, ok := marker(1, "a", "b", "c")
		if !ok {
			return
		}
		wantBefore(1, before, map[string][]string{"a": {"vip-news x"}})

		// RemoteSocket.Emit reaches b only.
		if err := byName["b"].Emit("direct", "hi b"); err != nil {
			t.Errorf("RemoteSocket.Emit: %v", err)
		}
		if before, ok = marker(2, "a", "b", "c"); !ok {
			return
		}
		wantBefore(2, before, map[string][]string{"b": {"direct hi b"}})

		// SocketsLeave: "vip" is empty.
		c, cancel = step()
		err = io.In("vip").SocketsLeave(c, "vip")
		cancel()
		if err != nil {
			t.Errorf("SocketsLeave: %v", err)
		}
		if vip := fetch(io.In("vip").FetchSockets, `in "vip"`); len(vip) != 0 {
			t.Errorf(`FetchSockets in "vip" after SocketsLeave = %v, want none`, slices.Sorted(maps.Keys(vip)))
		}
		if err := io.To("vip").Emit("vip-news", "y"); err != nil {
			t.Errorf("Emit to vip: %v", err)
		}
		if before, ok = marker(3, "a", "b", "c"); !ok {
			return
		}
		wantBefore(3, before, nil)

		// DisconnectSockets: c goes, a and b stay.
		c, cancel = step()
		err = io.In(socketio.Room(idC)).DisconnectSockets(c, false)
		cancel()
		if err != nil {
			t.Errorf("DisconnectSockets: %v", err)
		}
		select {
		case name := <-gone:
			mu.Lock()
			reason := reasons[name]
			mu.Unlock()
			if name != "c" || reason != socketio.ReasonServerNamespaceDisconnect {
				t.Errorf("%s disconnected (%q), want c (%q)", name, reason, socketio.ReasonServerNamespaceDisconnect)
			}
		case <-time.After(serverwideStep):
			t.Error("c did not disconnect")
		}
		if left := fetch(io.FetchSockets, "after DisconnectSockets"); len(left) != 2 || left["a"] == nil || left["b"] == nil {
			t.Errorf("FetchSockets after DisconnectSockets = %v, want a and b", slices.Sorted(maps.Keys(left)))
		}
		if before, ok = marker(4, "a", "b"); !ok {
			return
		}
		wantBefore(4, before, nil)
	})

	type client struct {
		Got             [][]any `json:"got"`
		Reason          *string `json:"reason"`
		ConnectedAtDone *bool   `json:"connectedAtDone"`
	}
	var res struct {
		OK      bool              `json:"ok"`
		Error   string            `json:"error"`
		Clients map[string]client `json:"clients"`
	}
	if err := json.Unmarshal(run.Result, &res); err != nil {
		t.Fatalf("decoding result: %v", err)
	}
	if run.ExitCode != 0 || !res.OK {
		t.Fatalf("node failed (exit code %d): %s", run.ExitCode, run.Result)
	}
	for _, name := range []string{"a", "b"} {
		cl := res.Clients[name]
		if cl.Reason != nil || cl.ConnectedAtDone == nil || !*cl.ConnectedAtDone {
			t.Errorf("%s: disconnected (%v) or not connected at done: %s", name, cl.Reason, run.Result)
		}
	}
	cl := res.Clients["c"]
	if cl.Reason == nil || *cl.Reason != "io server disconnect" || cl.ConnectedAtDone != nil {
		t.Errorf("c: want disconnect reason %q and no done: %s", "io server disconnect", run.Result)
	}
	wantGot := map[string]string{
		"a": `[["vip-news","x"],["marker",1],["marker",2],["marker",3],["marker",4]]`,
		"b": `[["marker",1],["direct","hi b"],["marker",2],["marker",3],["marker",4]]`,
		"c": `[["marker",1],["marker",2],["marker",3]]`,
	}
	for name, want := range wantGot {
		if g, _ := json.Marshal(res.Clients[name].Got); string(g) != want {
			t.Errorf("%s received %s, want %s", name, g, want)
		}
	}
}
