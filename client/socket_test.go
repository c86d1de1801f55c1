package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

// newSIOServer starts a Socket.IO server and returns it with its base URL.
func newSIOServer(t testing.TB, opts *socketio.Options) (*socketio.Server, string) {
	t.Helper()
	srv := socketio.NewServer(opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		// The clients closed first: let their sessions end on their own, so
		// that Close does not race a client's last packets (see
		// TestServerCloseDuringUpgrade).
		waitFor(t, "server sessions to end", func() bool { return srv.Engine().Count() == 0 })
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("server close: %v", err)
		}
		ts.Close()
	})
	return srv, ts.URL
}

// newManager returns a manager speaking protocol (Engine.IO 4 or 3) over
// md's transports; it is closed, and waited for, at cleanup.
func newManager(t testing.TB, rawURL string, protocol int, md mode, opts client.ManagerOptions) *client.Manager {
	t.Helper()
	opts.Engine.Protocol = protocol
	opts.Engine.Transports = md.transports
	m := client.NewManager(rawURL, &opts)
	t.Cleanup(func() { closeManager(t, m) })
	return m
}

func closeManager(t testing.TB, m *client.Manager) {
	t.Helper()
	if err := m.Close(); err != nil {
		t.Errorf("manager close: %v", err)
	}
	select {
	case <-m.Done():
	case <-time.After(wait):
		t.Errorf("manager not done %v after Close", wait)
	}
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func connect(t testing.TB, s *client.Socket) {
	t.Helper()
	if err := s.Connect(testContext(t)); err != nil {
		t.Fatalf("connect %s: %v", s.Namespace(), err)
	}
}

// waitFor polls cond, for state that has nothing to wait on, failing
// after wait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(wait)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Errorf("timed out waiting for %s", what)
			return
		}
	}
}

// recv waits for a value on ch.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("no %s within %v", what, wait)
	}
	var zero T
	return zero
}

// send hands v to a buffered channel, failing rather than blocking.
func send[T any](t testing.TB, ch chan<- T, v T) {
	select {
	case ch <- v:
	default:
		t.Errorf("channel full, dropping %v", v)
	}
}

// recorder collects what a socket's lifecycle handlers see.
type recorder struct {
	connects    chan string // the socket's id at OnConnect
	disconnects chan string
	connErrs    chan error
}

func record(t testing.TB, s *client.Socket) *recorder {
	r := &recorder{connects: make(chan string, 16), disconnects: make(chan string, 16), connErrs: make(chan error, 16)}
	s.OnConnect(func() { send(t, r.connects, s.ID()) })
	s.OnDisconnect(func(reason string) { send(t, r.disconnects, reason) })
	s.OnConnectError(func(err error) { send(t, r.connErrs, err) })
	return r
}

func TestSocketConnectAuth(t *testing.T) {
	forEach(t, func(t *testing.T, protocol int, md mode) {
		srv, base := newSIOServer(t, nil)
		admin := srv.Of("/admin")
		admin.Use(func(_ context.Context, s *socketio.Socket) error {
			var tok string
			if protocol == 4 {
				var auth struct{ Token string }
				_ = json.Unmarshal(s.Handshake().Auth, &auth)
				tok = auth.Token
			} else {
				tok = s.Handshake().Query.Get("token")
			}
			if tok != "secret" {
				return &socketio.ConnectError{Message: "bad token " + tok}
			}
			return nil
		})
		ids := make(chan string, 1)
		admin.OnConnection(func(s *socketio.Socket) { send(t, ids, string(s.ID())) })

		m := newManager(t, base, protocol, md, client.ManagerOptions{})
		s := m.Socket("admin", &client.SocketOptions{
			Auth:  map[string]string{"token": "secret"},
			Query: url.Values{"token": {"secret"}},
		})
		r := record(t, s)
		connect(t, s)
		serverID := recv(t, ids, "server connection")
		if s.ID() != serverID || !s.Connected() || s.Namespace() != "/admin" {
			t.Fatalf("socket %q connected %v, server id %q", s.ID(), s.Connected(), serverID)
		}
		if protocol == 3 && serverID != "/admin#"+m.Engine().ID() {
			t.Fatalf("v4 id %q, engine id %q", serverID, m.Engine().ID())
		}
		if got := recv(t, r.connects, "OnConnect"); got != serverID {
			t.Fatalf("OnConnect saw id %q, want %q", got, serverID)
		}
		if err := s.Connect(testContext(t)); err != nil {
			t.Fatalf("second Connect: %v", err)
		}
	})
}

func TestSocketConnectRefused(t *testing.T) {
	forEach(t, func(t *testing.T, protocol int, md mode) {
		srv, base := newSIOServer(t, nil)
		srv.Of("/data").Use(func(context.Context, *socketio.Socket) error {
			return &socketio.ConnectError{Message: "not authorized", Data: map[string]int{"code": 42}}
		})
		srv.Of("/plain").Use(func(context.Context, *socketio.Socket) error {
			return errors.New("go away")
		})
		m := newManager(t, base, protocol, md, client.ManagerOptions{})
		for _, tc := range []struct {
			nsp, msg, data string
		}{
			{"/data", "not authorized", `{"code":42}`},
			{"/plain", "go away", ""},
			{"/unknown", "Invalid namespace", ""},
		} {
			if protocol == 3 && tc.nsp == "/data" {
				tc.msg = "" // Node's v4 refusal carries only the data
			}
			if protocol == 3 && tc.nsp == "/unknown" {
				tc.data = `{"message":"Invalid namespace"}`
			}
			s := m.Socket(tc.nsp, nil)
			r := record(t, s)
			err := s.Connect(testContext(t))
			var ce *client.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("%s: Connect = %v, want a *ConnectError", tc.nsp, err)
			}
			if ce.Namespace != tc.nsp || ce.Message != tc.msg || string(ce.Data) != tc.data {
				t.Fatalf("%s: got %+v (data %s), want message %q data %q", tc.nsp, ce, ce.Data, tc.msg, tc.data)
			}
			if got := recv(t, r.connErrs, "OnConnectError"); got != err {
				t.Fatalf("OnConnectError got %v, want %v", got, err)
			}
			if s.Connected() || m.Engine() != nil {
				t.Fatalf("after refusal: connected %v, engine %v (want closed: no socket left)", s.Connected(), m.Engine())
			}
		}
	})
}

func TestSocketEvents(t *testing.T) {
	forEach(t, func(t *testing.T, protocol int, md mode) {
		srv, base := newSIOServer(t, nil)
		srv.OnConnection(func(s *socketio.Socket) {
			s.On("echo", func(s *socketio.Socket, args socketio.Args, _ socketio.Ack) {
				_ = s.Emit("echo", args) // the same arguments, binary included
			})
			_ = s.Emit("welcome", "hi", []byte{0xff, 0})
		})
		upgraded := make(chan error, 1)
		m := newManager(t, base, protocol, md, client.ManagerOptions{
			Engine: client.EngineOptions{OnUpgrade: func(err error) { send(t, upgraded, err) }},
		})
		s := m.Socket("/", nil)
		got := make(chan socketio.Args, 4)
		s.On("echo", func(args socketio.Args, ack socketio.Ack) {
			if ack != nil {
				t.Error("ack for an event sent without one")
			}
			send(t, got, args)
		})
		welcome := make(chan socketio.Args, 1)
		s.On("welcome", func(args socketio.Args, _ socketio.Ack) { send(t, welcome, args) })
		anys := make(chan string, 8)
		s.OnAny(func(event string, _ socketio.Args) { send(t, anys, event) })
		connect(t, s)

		w := recv(t, welcome, "welcome")
		if b, ok := w.Bytes(1); !ok || !bytes.Equal(b, []byte{0xff, 0}) || w.Raw(0) == nil || string(w.Raw(0)) != `"hi"` {
			t.Fatalf("welcome = %s", w)
		}
		if md.upgrade {
			if err := recv(t, upgraded, "upgrade"); err != nil {
				t.Fatalf("upgrade: %v", err)
			}
		}

		if err := s.Emit("echo", "text", 42, map[string]any{"a": []int{1}}); err != nil {
			t.Fatal(err)
		}
		if a := recv(t, got, "JSON echo"); a.String() != `["text",42,{"a":[1]}]` {
			t.Fatalf("JSON echo = %s", a)
		}

		type nested struct {
			B []byte `json:"b"`
			N int    `json:"n"`
		}
		if err := s.Emit("echo", []byte{1, 2, 3}, nested{B: []byte{4, 5}, N: 6}); err != nil {
			t.Fatal(err)
		}
		a := recv(t, got, "binary echo")
		b, ok := a.Bytes(0)
		n, err := socketio.Arg[nested](a, 1)
		if !ok || !bytes.Equal(b, []byte{1, 2, 3}) || err != nil || !bytes.Equal(n.B, []byte{4, 5}) || n.N != 6 {
			t.Fatalf("binary echo = %s (%v): %v %+v %v", a, a.Attachments(), b, n, err)
		}
		for _, want := range []string{"welcome", "echo", "echo"} {
			if ev := recv(t, anys, "OnAny"); ev != want {
				t.Fatalf("OnAny saw %q, want %q", ev, want)
			}
		}
		if md.upgrade && m.Engine().Transport() != "websocket" {
			t.Fatalf("transport %s after upgrade", m.Engine().Transport())
		}
	})
}

func TestSocketAcks(t *testing.T) {
	forEach(t, func(t *testing.T, protocol int, md mode) {
		srv, base := newSIOServer(t, nil)
		srv.OnConnection(func(s *socketio.Socket) {
			s.On("add", func(_ *socketio.Socket, args socketio.Args, ack socketio.Ack) {
				x, _ := socketio.Arg[int](args, 0)
				y, _ := socketio.Arg[int](args, 1)
				_ = ack(x + y)
			})
			s.On("bin", func(_ *socketio.Socket, _ socketio.Args, ack socketio.Ack) { _ = ack([]byte{9, 8}) })
			s.On("never", func(*socketio.Socket, socketio.Args, socketio.Ack) {})
			// Asks the client in turn and passes its answer back.
			s.On("relay", func(s *socketio.Socket, _ socketio.Args, ack socketio.Ack) {
				res, err := s.EmitWithAck(context.Background(), "double", 21)
				if err != nil {
					_ = ack(err.Error())
					return
				}
				_ = ack(res)
			})
		})
		m := newManager(t, base, protocol, md, client.ManagerOptions{})
		s := m.Socket("/", nil)
		s.On("double", func(args socketio.Args, ack socketio.Ack) {
			n, _ := socketio.Arg[int](args, 0)
			if err := ack(2*n, []byte{7}); err != nil {
				t.Error(err)
			}
			if err := ack(0); !errors.Is(err, socketio.ErrAckSent) {
				t.Errorf("second ack: %v", err)
			}
		})
		connect(t, s)
		ctx := testContext(t)

		res, err := s.EmitWithAck(ctx, "add", 1, 2)
		if err != nil || res.String() != "[3]" {
			t.Fatalf("add: %s, %v", res, err)
		}
		res, err = s.EmitWithAck(ctx, "bin")
		if b, ok := res.Bytes(0); err != nil || !ok || !bytes.Equal(b, []byte{9, 8}) {
			t.Fatalf("binary ack: %s, %v", res, err)
		}
		res, err = s.EmitWithAck(ctx, "relay")
		if b, ok := res.Bytes(1); err != nil || !ok || !bytes.Equal(b, []byte{7}) || string(res.Raw(0)) != "42" {
			t.Fatalf("server-requested ack: %s, %v", res, err)
		}
		_, err = s.Timeout(20*time.Millisecond).EmitWithAck(ctx, "never")
		if !errors.Is(err, socketio.ErrAckTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("timeout: %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.EmitWithAck(cctx, "never"); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled: %v", err)
		}
		// The ack ids went on counting: a late reply to a dropped one is ignored.
		if res, err := s.EmitWithAck(ctx, "add", 2, 2); err != nil || res.String() != "[4]" {
			t.Fatalf("add after timeouts: %s, %v", res, err)
		}
	})
}

// TestSocketEmitWithAckInHandler makes a handler wait for an
// acknowledgement while later packets queue behind it.
func TestSocketEmitWithAckInHandler(t *testing.T) {
	forEach(t, func(t *testing.T, protocol int, md mode) {
		srv, base := newSIOServer(t, nil)
		results := make(chan string, 1)
		srv.OnConnection(func(s *socketio.Socket) {
			s.On("add", func(_ *socketio.Socket, args socketio.Args, ack socketio.Ack) {
				x, _ := socketio.Arg[int](args, 0)
				y, _ := socketio.Arg[int](args, 1)
				_ = ack(x + y)
			})
			// The server's handler must not wait itself, or it would hold
			// back the client's "add".
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				res, err := s.EmitWithAck(ctx, "compute")
				if err != nil {
					send(t, results, err.Error())
					return
				}
				send(t, results, res.String())
			}()
		})
		m := newManager(t, base, protocol, md, client.ManagerOptions{})
		s := m.Socket("/", nil)
		after := make(chan struct{}, 1)
		s.On("compute", func(_ socketio.Args, ack socketio.Ack) {
			res, err := s.EmitWithAck(testContext(t), "add", 2, 3)
			if err != nil {
				_ = ack(err.Error())
				return
			}
			_ = ack("sum", res)
		})
		s.OnConnect(func() {
			send(t, after, struct{}{})
		})
		connect(t, s)
		recv(t, after, "OnConnect")
		if got := recv(t, results, "server's ack"); got != `["sum",5]` {
			t.Fatalf("server got %s", got)
		}
	})
}

func TestSocketMultiplex(t *testing.T) {
	forEach(t, func(t *testing.T, protocol int, md mode) {
		srv, base := newSIOServer(t, nil)
		for _, name := range []string{"/", "/admin"} {
			srv.Of(name).OnConnection(func(s *socketio.Socket) {
				s.On("which", func(s *socketio.Socket, _ socketio.Args, ack socketio.Ack) {
					_ = ack(s.Namespace().Name())
				})
				s.On("shout", func(s *socketio.Socket, args socketio.Args, _ socketio.Ack) {
					_ = s.Namespace().Emit("heard", args)
				})
			})
		}
		m := newManager(t, base, protocol, md, client.ManagerOptions{})
		root, admin := m.Socket("/", nil), m.Socket("/admin", nil)
		if m.Socket("admin", nil) != admin {
			t.Fatal("Socket returned a second socket for one namespace")
		}
		heard := map[*client.Socket]chan string{root: make(chan string, 4), admin: make(chan string, 4)}
		for s, ch := range heard {
			s.On("heard", func(args socketio.Args, _ socketio.Ack) {
				v, _ := socketio.Arg[string](args, 0)
				send(t, ch, v)
			})
		}
		connect(t, admin)
		connect(t, root)
		if n := srv.Engine().Count(); n != 1 {
			t.Fatalf("%d Engine.IO sessions, want 1", n)
		}
		ctx := testContext(t)
		for s, want := range map[*client.Socket]string{root: `["/"]`, admin: `["/admin"]`} {
			if res, err := s.EmitWithAck(ctx, "which"); err != nil || res.String() != want {
				t.Fatalf("%s: which = %s, %v", s.Namespace(), res, err)
			}
		}
		if err := admin.Emit("shout", "to admins"); err != nil {
			t.Fatal(err)
		}
		if err := root.Emit("shout", "to all"); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, heard[admin], "admin broadcast"); got != "to admins" {
			t.Fatalf("admin heard %q", got)
		}
		if got := recv(t, heard[root], "root broadcast"); got != "to all" {
			t.Fatalf("root heard %q", got)
		}

		admin.Disconnect()
		if res, err := root.EmitWithAck(ctx, "which"); err != nil || res.String() != `["/"]` {
			t.Fatalf("root after admin left: %s, %v", res, err)
		}
		if err := admin.Emit("shout", "x"); !errors.Is(err, socketio.ErrDisconnected) {
			t.Fatalf("emit on a disconnected socket: %v", err)
		}
	})
}

func TestSocketServerDisconnect(t *testing.T) {
	forEach(t, func(t *testing.T, protocol int, md mode) {
		srv, base := newSIOServer(t, nil)
		serverReasons := make(chan string, 4)
		waiting := make(chan struct{}, 1)
		srv.OnConnection(func(s *socketio.Socket) {
			s.OnDisconnect(func(_ *socketio.Socket, reason string) { send(t, serverReasons, reason) })
			s.On("kick", func(s *socketio.Socket, _ socketio.Args, _ socketio.Ack) { s.Disconnect(false) })
			// Never acknowledged.
			s.On("wait", func(*socketio.Socket, socketio.Args, socketio.Ack) { send(t, waiting, struct{}{}) })
		})
		m := newManager(t, base, protocol, md, client.ManagerOptions{ReconnectionDelay: time.Millisecond})
		s := m.Socket("/", nil)
		r := record(t, s)
		connect(t, s)
		recv(t, r.connects, "OnConnect")
		pending := make(chan error, 1)
		go func() {
			_, err := s.EmitWithAck(context.Background(), "wait")
			pending <- err
		}()
		recv(t, waiting, "server handler")
		if err := s.Emit("kick"); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, r.disconnects, "OnDisconnect"); got != client.ReasonIOServerDisconnect {
			t.Fatalf("client reason %q", got)
		}
		if got := recv(t, serverReasons, "server OnDisconnect"); got != socketio.ReasonServerNamespaceDisconnect {
			t.Fatalf("server reason %q", got)
		}
		if err := recv(t, pending, "pending ack"); !errors.Is(err, socketio.ErrDisconnected) {
			t.Fatalf("pending ack: %v", err)
		}
		// Not reconnected: the manager dropped its idle connection.
		if s.Connected() || s.ID() != "" || m.Engine() != nil {
			t.Fatalf("after io server disconnect: connected %v, id %q, engine %v", s.Connected(), s.ID(), m.Engine())
		}
		connect(t, s)
		recv(t, r.connects, "OnConnect after Connect")
	})
}

func TestSocketClientDisconnect(t *testing.T) {
	forEach(t, func(t *testing.T, protocol int, md mode) {
		srv, base := newSIOServer(t, nil)
		serverReasons := make(chan string, 4)
		srv.Of("/admin").OnConnection(func(s *socketio.Socket) {
			s.OnDisconnect(func(_ *socketio.Socket, reason string) { send(t, serverReasons, reason) })
		})
		m := newManager(t, base, protocol, md, client.ManagerOptions{})
		root, admin := m.Socket("/", nil), m.Socket("/admin", nil)
		rr, ra := record(t, root), record(t, admin)
		connect(t, root)
		connect(t, admin)
		engine := m.Engine()

		admin.Disconnect()
		if got := recv(t, ra.disconnects, "OnDisconnect"); got != client.ReasonIOClientDisconnect {
			t.Fatalf("client reason %q", got)
		}
		if got := recv(t, serverReasons, "server OnDisconnect"); got != socketio.ReasonClientNamespaceDisconnect {
			t.Fatalf("server reason %q", got)
		}
		if admin.Connected() || !root.Connected() || m.Engine() != engine {
			t.Fatal("disconnecting one namespace affected the other")
		}
		admin.Disconnect() // no-op

		// The last socket leaving closes the connection.
		root.Disconnect()
		if got := recv(t, rr.disconnects, "OnDisconnect"); got != client.ReasonIOClientDisconnect {
			t.Fatalf("client reason %q", got)
		}
		if root.Connected() || m.Engine() != nil {
			t.Fatal("connection kept with no socket")
		}
		select {
		case <-engine.Done():
		case <-time.After(wait):
			t.Fatal("idle connection not closed")
		}
	})
}

// TestSocketReconnect drops the transport from the server side: every
// socket of the manager disconnects with "transport close" and comes back.
func TestSocketReconnect(t *testing.T) {
	forEach(t, func(t *testing.T, protocol int, md mode) {
		srv, base := newSIOServer(t, nil)
		for _, name := range []string{"/", "/admin"} {
			srv.Of(name).OnConnection(func(s *socketio.Socket) {
				s.On("drop", func(s *socketio.Socket, _ socketio.Args, _ socketio.Ack) { s.Conn().Close() })
				s.On("which", func(s *socketio.Socket, _ socketio.Args, ack socketio.Ack) {
					_ = ack(s.Namespace().Name())
				})
			})
		}
		upgraded := make(chan error, 4)
		m := newManager(t, base, protocol, md, client.ManagerOptions{
			ReconnectionDelay:    time.Millisecond,
			ReconnectionDelayMax: 10 * time.Millisecond,
			Engine:               client.EngineOptions{OnUpgrade: func(err error) { send(t, upgraded, err) }},
		})
		root, admin := m.Socket("/", nil), m.Socket("/admin", nil)
		rr, ra := record(t, root), record(t, admin)
		connect(t, root)
		connect(t, admin)
		firstRoot := recv(t, rr.connects, "root OnConnect")
		recv(t, ra.connects, "admin OnConnect")
		firstEngine := m.Engine()
		if md.upgrade {
			// Dropping mid-upgrade hits TestServerDisconnectDuringUpgrade.
			if err := recv(t, upgraded, "upgrade"); err != nil {
				t.Fatalf("upgrade: %v", err)
			}
		}

		// Over polling the close may end the connection before the POST
		// that carried "drop" is answered.
		if err := root.Emit("drop"); err != nil && !errors.Is(err, client.ErrClosed) {
			t.Fatal(err)
		}
		for _, r := range []*recorder{rr, ra} {
			if got := recv(t, r.disconnects, "OnDisconnect"); got != client.ReasonTransportClose {
				t.Fatalf("reason %q", got)
			}
		}
		secondRoot := recv(t, rr.connects, "root OnConnect after reconnection")
		recv(t, ra.connects, "admin OnConnect after reconnection")
		if secondRoot == firstRoot || m.Engine() == firstEngine {
			t.Fatalf("same id %q or engine after reconnection", secondRoot)
		}
		ctx := testContext(t)
		for s, want := range map[*client.Socket]string{root: `["/"]`, admin: `["/admin"]`} {
			if res, err := s.EmitWithAck(ctx, "which"); err != nil || res.String() != want {
				t.Fatalf("%s after reconnection: %s, %v", s.Namespace(), res, err)
			}
		}
	})
}

// TestSocketNoReconnection: with reconnection disabled the socket stays
// disconnected until Connect is called.
func TestSocketNoReconnection(t *testing.T) {
	srv, base := newSIOServer(t, nil)
	srv.OnConnection(func(s *socketio.Socket) {
		s.On("drop", func(s *socketio.Socket, _ socketio.Args, _ socketio.Ack) { s.Conn().Close() })
	})
	m := newManager(t, base, 4, modes[1], client.ManagerOptions{DisableReconnection: true})
	s := m.Socket("/", nil)
	r := record(t, s)
	connect(t, s)
	if err := s.Emit("drop"); err != nil && !errors.Is(err, client.ErrClosed) {
		t.Fatal(err)
	}
	if got := recv(t, r.disconnects, "OnDisconnect"); got != client.ReasonTransportClose {
		t.Fatalf("reason %q", got)
	}
	connect(t, s)
	recv(t, r.connects, "first OnConnect")
	recv(t, r.connects, "second OnConnect")
}

// TestSocketReconnectionAttempts dials a server that refuses every
// handshake.
func TestSocketReconnectionAttempts(t *testing.T) {
	_, base := newSIOServer(t, &socketio.Options{Engine: &engineio.Options{
		AllowRequest: func(*http.Request) error { return errors.New("closed for maintenance") },
	}})
	for _, tc := range []struct {
		name     string
		opts     client.ManagerOptions
		attempts int
	}{
		{"disabled", client.ManagerOptions{DisableReconnection: true}, 1},
		{"two", client.ManagerOptions{ReconnectionAttempts: 2, ReconnectionDelay: time.Millisecond}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newManager(t, base, 4, modes[0], tc.opts)
			s := m.Socket("/", nil)
			r := record(t, s)
			err := s.Connect(testContext(t))
			var re *engineio.RequestError
			if !errors.As(err, &re) || re.Message != "closed for maintenance" {
				t.Fatalf("Connect = %v", err)
			}
			if errors.Is(err, client.ErrReconnectFailed) != (tc.attempts > 1) {
				t.Fatalf("Connect = %v: ErrReconnectFailed is %v", err, !(tc.attempts > 1))
			}
			for i := range tc.attempts {
				got := recv(t, r.connErrs, "OnConnectError")
				if last := i == tc.attempts-1; last && got != err || !errors.As(got, &re) {
					t.Fatalf("OnConnectError %d: %v", i, got)
				}
			}
		})
	}
}

// TestSocketParseError: a server that sends garbage loses the connection,
// which is reopened.
func TestSocketParseError(t *testing.T) {
	h := &garbageApp{}
	srv := engineio.NewServer(h, nil)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = srv.Close(ctx)
		ts.Close()
	})
	m := newManager(t, ts.URL, 4, modes[1], client.ManagerOptions{ReconnectionDelay: time.Millisecond})
	s := m.Socket("/", nil)
	r := record(t, s)
	connect(t, s)
	// The handler may run after the socket dropped: ID is then "".
	if id := recv(t, r.connects, "OnConnect"); id != "one" && id != "" {
		t.Fatalf("id %q", id)
	}
	if got := recv(t, r.disconnects, "OnDisconnect"); got != client.ReasonParseError {
		t.Fatalf("reason %q", got)
	}
	if id := recv(t, r.connects, "OnConnect after reconnection"); id != "two" {
		t.Fatalf("id %q", id)
	}
}

// garbageApp accepts CONNECT packets; on the first connection it then sends
// a packet of an unknown type.
type garbageApp struct{ sessions atomic.Int32 }

func (g *garbageApp) OnOpen(*engineio.Session) {}

func (g *garbageApp) OnMessage(s *engineio.Session, data []byte, _ bool) {
	if string(data) != "0" {
		return
	}
	if g.sessions.Add(1) == 1 {
		_ = s.SendText([]byte(`0{"sid":"one"}`))
		_ = s.SendText([]byte(`9oops`))
		return
	}
	_ = s.SendText([]byte(`0{"sid":"two"}`))
}

func (g *garbageApp) OnClose(*engineio.Session, engineio.Reason, error) {}

// TestSocketConnectContext: a Connect whose ctx ends fails alone; the
// socket goes on connecting.
func TestSocketConnectContext(t *testing.T) {
	srv, base := newSIOServer(t, nil)
	release := make(chan struct{})
	srv.Use(func(ctx context.Context, _ *socketio.Socket) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	m := newManager(t, base, 4, modes[1], client.ManagerOptions{})
	s := m.Socket("/", nil)
	r := record(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := s.Connect(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect = %v", err)
	}
	close(release)
	recv(t, r.connects, "OnConnect")
	if !s.Connected() {
		t.Fatal("not connected")
	}
}

func TestManagerClose(t *testing.T) {
	srv, base := newSIOServer(t, nil)
	serverReasons := make(chan string, 1)
	srv.OnConnection(func(s *socketio.Socket) {
		s.OnDisconnect(func(_ *socketio.Socket, reason string) { send(t, serverReasons, reason) })
	})
	m := client.NewManager(base, nil)
	s := m.Socket("/", nil)
	r := record(t, s)
	connect(t, s)
	closeManager(t, m)
	if got := recv(t, r.disconnects, "OnDisconnect"); got != client.ReasonForcedClose {
		t.Fatalf("reason %q", got)
	}
	if got := recv(t, serverReasons, "server OnDisconnect"); got != socketio.ReasonTransportClose {
		t.Fatalf("server reason %q", got)
	}
	if err := s.Connect(testContext(t)); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Connect after Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSocketEmitErrors(t *testing.T) {
	_, base := newSIOServer(t, nil)
	m := newManager(t, base, 4, modes[1], client.ManagerOptions{})
	s := m.Socket("/", nil)
	if err := s.Emit("x"); !errors.Is(err, socketio.ErrDisconnected) {
		t.Fatalf("emit before Connect: %v", err)
	}
	if _, err := s.EmitWithAck(testContext(t), "x"); !errors.Is(err, socketio.ErrDisconnected) {
		t.Fatalf("emit with ack before Connect: %v", err)
	}
	connect(t, s)
	if err := s.Emit("disconnect"); !errors.Is(err, socketio.ErrReservedEvent) {
		t.Fatalf("reserved name: %v", err)
	}
	many := make([]any, socketio.MaxAttachments+1)
	for i := range many {
		many[i] = []byte{byte(i)}
	}
	if err := s.Emit("x", many...); !errors.Is(err, socketio.ErrInvalidPacket) {
		t.Fatalf("%d attachments: %v", len(many), err)
	}
	if !s.Connected() {
		t.Fatal("an emit error disconnected the socket")
	}
	bad := m.Socket("/bad", &client.SocketOptions{Auth: []int{1}})
	if err := bad.Connect(testContext(t)); err == nil {
		t.Fatal("Connect with a non-object auth succeeded")
	}
	if err := client.NewManager("http://%zz", nil).Socket("/", nil).Connect(testContext(t)); err == nil {
		t.Fatal("Connect with a bad URL succeeded")
	}
}

func TestDial(t *testing.T) {
	srv, base := newSIOServer(t, nil)
	srv.Of("/admin").OnConnection(func(s *socketio.Socket) {
		s.On("auth", func(s *socketio.Socket, _ socketio.Args, ack socketio.Ack) { _ = ack(s.Handshake().Auth) })
	})
	srv.Of("/closed").Use(func(context.Context, *socketio.Socket) error { return errors.New("no") })
	s, err := client.Dial(testContext(t), base+"/admin", &client.DialOptions{Socket: client.SocketOptions{Auth: map[string]int{"n": 1}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeManager(t, s.Manager()) })
	if s.Namespace() != "/admin" || !s.Connected() {
		t.Fatalf("namespace %q connected %v", s.Namespace(), s.Connected())
	}
	if res, err := s.EmitWithAck(testContext(t), "auth"); err != nil || res.String() != `[{"n":1}]` {
		t.Fatalf("auth: %s, %v", res, err)
	}
	var ce *client.ConnectError
	if _, err := client.Dial(testContext(t), base+"/closed", nil); !errors.As(err, &ce) || ce.Message != "no" {
		t.Fatalf("Dial refused: %v", err)
	}
}

// TestSocketServerDisconnectClose: Disconnect(true) on the server tells
// every namespace of the connection first, as Node's client._disconnect,
// so each client socket sees "io server disconnect" (which the JavaScript
// client does not reconnect from).
func TestSocketServerDisconnectClose(t *testing.T) {
	srv, base := newSIOServer(t, nil)
	for _, name := range []string{"/", "/admin"} {
		srv.Of(name).OnConnection(func(s *socketio.Socket) {
			s.On("kick", func(s *socketio.Socket, _ socketio.Args, _ socketio.Ack) { s.Disconnect(true) })
		})
	}
	m := newManager(t, base, 4, modes[1], client.ManagerOptions{ReconnectionDelay: time.Millisecond})
	root, admin := m.Socket("/", nil), m.Socket("/admin", nil)
	rr, ra := record(t, root), record(t, admin)
	connect(t, root)
	connect(t, admin)
	recv(t, rr.connects, "root OnConnect")
	recv(t, ra.connects, "admin OnConnect")
	if err := root.Emit("kick"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*recorder{rr, ra} {
		if got := recv(t, r.disconnects, "OnDisconnect"); got != client.ReasonIOServerDisconnect {
			t.Fatalf("reason %q, want %q", got, client.ReasonIOServerDisconnect)
		}
	}
	if root.Connected() || admin.Connected() {
		t.Fatal("a socket is still connected")
	}
}
