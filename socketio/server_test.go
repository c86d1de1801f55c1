package socketio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

var transports = []string{"websocket", "polling"}

func TestConnect(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			conns := make(chan *socketio.Socket, 4)
			_, url := newServer(t, nil, func(io *socketio.Server) {
				io.OnConnection(func(s *socketio.Socket) { conns <- s })
				io.Of("/admin").OnConnection(func(s *socketio.Socket) { conns <- s })
			})
			r := dialRaw(t, url, 4, tr)
			id := r.connect(t, "/", `{"token":"123"}`)
			s := recv(t, conns)
			if string(s.ID()) != id || id == r.conn.ID() || len(id) != 20 {
				t.Fatalf("socket id %q, engine sid %q, server id %q", id, r.conn.ID(), s.ID())
			}
			if hs := s.Handshake(); string(hs.Auth) != `{"token":"123"}` || hs.Query.Get("EIO") != "4" {
				t.Fatalf("handshake auth %s query %v", hs.Auth, hs.Query)
			}
			r.connect(t, "/admin", "")
			if s := recv(t, conns); s.Namespace().Name() != "/admin" || string(s.Handshake().Auth) != "{}" {
				t.Fatalf("admin socket %s auth %s", s.Namespace().Name(), s.Handshake().Auth)
			}
			r.send(t, "0/nope,")
			r.expect(t, `4/nope,{"message":"Invalid namespace"}`)
		})
	}
}

func TestMiddleware(t *testing.T) {
	_, url := newServer(t, nil, func(io *socketio.Server) {
		io.Of("/admin").Use(func(_ context.Context, s *socketio.Socket) error {
			var auth struct{ Token string }
			_ = json.Unmarshal(s.Handshake().Auth, &auth)
			switch auth.Token {
			case "ok":
				s.SetData("admin")
				return nil
			case "":
				return errors.New("no token")
			}
			return &socketio.ConnectError{Message: "not authorized", Data: map[string]int{"code": 42}}
		})
		io.Of("/admin").OnConnection(func(s *socketio.Socket) { _ = s.Emit("data", s.Data()) })
	})
	r := dialRaw(t, url, 4, "websocket")
	r.send(t, `0/admin,{"token":"bad"}`)
	r.expect(t, `4/admin,{"message":"not authorized","data":{"code":42}}`)
	r.send(t, `0/admin,`)
	r.expect(t, `4/admin,{"message":"no token"}`)
	r.connect(t, "/admin", `{"token":"ok"}`)
	r.expect(t, `2/admin,["data","admin"]`)
}

func TestProtocol4(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			conns := make(chan *socketio.Socket, 4)
			_, url := newServer(t, nil, func(io *socketio.Server) {
				io.OnConnection(func(s *socketio.Socket) { conns <- s })
				admin := io.Of("/admin")
				admin.Use(func(_ context.Context, s *socketio.Socket) error {
					switch s.Handshake().Query.Get("token") {
					case "x":
						return nil
					case "data":
						return &socketio.ConnectError{Message: "refused", Data: map[string]int{"code": 7}}
					}
					return errors.New("refused")
				})
				admin.OnConnection(func(s *socketio.Socket) { conns <- s })
			})
			r := dialRaw(t, url, 3, tr)
			r.expect(t, "0") // implicit connection to "/"
			s := recv(t, conns)
			if string(s.ID()) != r.conn.ID() {
				t.Fatalf("v2 socket id %q, want the engine sid %q", s.ID(), r.conn.ID())
			}
			r.send(t, "0/admin?token=nope,")
			r.expect(t, `4/admin,"refused"`)
			r.send(t, "0/admin?token=data,")
			r.expect(t, `4/admin,{"code":7}`)
			r.send(t, "0/admin?token=x,")
			r.expect(t, "0/admin,")
			a := recv(t, conns)
			if string(a.ID()) != "/admin#"+r.conn.ID() || a.Handshake().Query.Get("token") != "x" {
				t.Fatalf("admin socket %q query %v", a.ID(), a.Handshake().Query)
			}
			r.send(t, `2/admin,["x"]`)
			r.send(t, "0/nope,")
			r.expect(t, `4/nope,{"message":"Invalid namespace"}`)
			// Leaving "/" ends a v2 client's connection. Over polling the
			// server may close the session before the POST is answered, so
			// the send itself can report the close.
			_ = r.conn.SendText([]byte("1"))
			r.waitClosed(t)
		})
	}
}

func TestEventsAndAcks(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			results := make(chan string, 10)
			_, url := newServer(t, nil, func(io *socketio.Server) {
				io.OnConnection(func(s *socketio.Socket) {
					s.On("echo", func(s *socketio.Socket, args socketio.Args, _ socketio.Ack) {
						_ = s.Emit("echo-back", args)
					})
					socketio.On(s, "typed", func(s *socketio.Socket, v struct{ N int }, ack socketio.Ack) {
						_ = ack(v.N*2, "é")
						results <- fmtErr(ack(1)) // a second call is refused
					})
					s.On("ask", func(s *socketio.Socket, _ socketio.Args, _ socketio.Ack) {
						// Waiting for the same client's ack inside a handler must work.
						args, err := s.Timeout(time.Second).EmitWithAck(context.Background(), "question", 1)
						if err != nil {
							results <- err.Error()
							return
						}
						n, _ := socketio.Arg[string](args, 0)
						results <- n
						_, err = s.Timeout(50*time.Millisecond).EmitWithAck(context.Background(), "ignored")
						results <- fmtErr(err)
					})
				})
			})
			r := dialRaw(t, url, 4, tr)
			r.connect(t, "/", "")
			r.send(t, `2["echo",1,"2",{"3":[true]},"<é>"]`)
			r.expect(t, `2["echo-back",1,"2",{"3":[true]},"<é>"]`)
			r.send(t, `27["typed",{"N":21}]`)
			r.expect(t, `37[42,"é"]`)
			if got := recv(t, results); got != socketio.ErrAckSent.Error() {
				t.Fatalf("second ack: %s", got)
			}
			r.send(t, `2["ask"]`)
			q := r.expectPrefix(t, "2")
			id := strings.TrimSuffix(strings.TrimPrefix(q, "2"), `["question",1]`)
			r.send(t, "3"+id+`["answer"]`)
			if got := recv(t, results); got != "answer" {
				t.Fatalf("ack reply %q", got)
			}
			r.expectPrefix(t, "2") // "ignored", never answered
			if got := recv(t, results); got != socketio.ErrAckTimeout.Error() {
				t.Fatalf("timeout error %q", got)
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestAckTimeoutAndDisconnect(t *testing.T) {
	errs := make(chan error, 2)
	started := make(chan struct{})
	_, url := newServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			go func() {
				_, err := s.Timeout(20*time.Millisecond).EmitWithAck(context.Background(), "t")
				errs <- err
				close(started)
				_, err = s.EmitWithAck(context.Background(), "d")
				errs <- err
			}()
		})
	})
	r := dialRaw(t, url, 4, "websocket")
	r.connect(t, "/", "")
	if err := recv(t, errs); !errors.Is(err, socketio.ErrAckTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
	<-started
	r.expectPrefix(t, "2")
	r.expectPrefix(t, "2")
	_ = r.conn.Close()
	if err := recv(t, errs); !errors.Is(err, socketio.ErrDisconnected) {
		t.Fatalf("disconnect: %v", err)
	}
}

func TestBinary(t *testing.T) {
	type payload struct {
		Name  string `json:"name"`
		Blob  []byte `json:"blob"`
		Parts [][]byte
	}
	for _, tr := range transports {
		for _, proto := range []int{4, 3} {
			t.Run(tr+"/eio"+string(rune('0'+proto)), func(t *testing.T) {
				got := make(chan payload, 1)
				_, url := newServer(t, nil, func(io *socketio.Server) {
					io.OnConnection(func(s *socketio.Socket) {
						s.On("up", func(s *socketio.Socket, args socketio.Args, ack socketio.Ack) {
							var p payload
							if err := args.Decode(0, &p); err != nil {
								t.Error(err)
							}
							got <- p
							_ = ack(map[string]any{"back": []byte{9}})
						})
						_ = s.Emit("down", payload{Name: "x", Blob: []byte{1, 2}, Parts: [][]byte{{3}, {4, 5}}})
					})
				})
				r := dialRaw(t, url, proto, tr)
				if proto == 4 {
					r.connect(t, "/", "")
				} else {
					r.expect(t, "0")
				}
				r.expect(t, `53-["down",{"name":"x","blob":{"_placeholder":true,"num":0},"Parts":[{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]}]`)
				for _, want := range [][]byte{{1, 2}, {3}, {4, 5}} {
					if f := r.next(t); !f.binary || !bytes.Equal([]byte(f.data), want) {
						t.Fatalf("attachment %v, want %v", []byte(f.data), want)
					}
				}
				r.send(t, `52-3["up",{"name":"y","blob":{"num":1,"_placeholder":true},"Parts":[{"_placeholder":true,"num":0}]}]`)
				r.sendBinary(t, []byte{7})
				r.sendBinary(t, []byte{8, 8})
				p := recv(t, got)
				if p.Name != "y" || !bytes.Equal(p.Blob, []byte{8, 8}) || len(p.Parts) != 1 || !bytes.Equal(p.Parts[0], []byte{7}) {
					t.Fatalf("decoded %+v", p)
				}
				r.expect(t, `61-3[{"back":{"_placeholder":true,"num":0}}]`)
				if f := r.next(t); !f.binary || f.data != "\x09" {
					t.Fatalf("ack attachment %q", f.data)
				}
			})
		}
	}
}

// connectedSockets starts a server and connects n WebSocket clients to
// "/", returning them and their server-side sockets in the same order.
func connectedSockets(t *testing.T, n int) (*socketio.Server, []*raw, []*socketio.Socket) {
	t.Helper()
	sockets := make(chan *socketio.Socket, n)
	io, url := newServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) { sockets <- s })
	})
	var rs []*raw
	var ss []*socketio.Socket
	for range n {
		r := dialRaw(t, url, 4, "websocket")
		r.connect(t, "/", "")
		rs = append(rs, r)
		ss = append(ss, recv(t, sockets))
	}
	return io, rs, ss
}

// TestOwnRoom: a socket's own room (its id), which the in-memory adapter
// does not keep in its room tables, behaves as any room: it can be joined
// by another socket, left, excepted, and it goes with the socket.
func TestOwnRoom(t *testing.T) {
	io, rs, ss := connectedSockets(t, 3)
	mem := io.Of("/").Adapter().(*socketio.MemoryAdapter)
	own := socketio.Room(ss[0].ID())
	expectAll := func(want string, who ...int) {
		t.Helper()
		for _, i := range who {
			rs[i].expect(t, want)
		}
	}
	if !mem.HasRoom(own) || !slices.Contains(mem.Rooms(), own) || !slices.Equal(ss[0].Rooms(), []socketio.Room{own}) {
		t.Fatalf("own room: HasRoom %v, Rooms %v, socket rooms %v", mem.HasRoom(own), mem.Rooms(), ss[0].Rooms())
	}
	_ = io.To(own).Emit("m", 1)
	expectAll(`2["m",1]`, 0)
	ss[1].Join(own) // another socket in the room named by ss[0]'s id
	_ = io.To(own).Emit("m", 2)
	expectAll(`2["m",2]`, 0, 1)
	_ = io.To(own, "nobody").Emit("m", 3) // several rooms: once each
	expectAll(`2["m",3]`, 0, 1)
	_ = io.Except(own).Emit("m", 4)
	expectAll(`2["m",4]`, 2)
	if n := len(mem.Rooms()); n != 3 {
		t.Fatalf("Rooms lists %d rooms, want 3 (each id once): %v", n, mem.Rooms())
	}
	ss[0].Leave(own)
	_ = io.To(own).Emit("m", 5)
	expectAll(`2["m",5]`, 1)
	_ = io.Except(own).Emit("m", 6)
	expectAll(`2["m",6]`, 0, 2)
	ss[1].Leave(own)
	if mem.HasRoom(own) || slices.Contains(mem.Rooms(), own) {
		t.Fatalf("room %s still listed after both left", own)
	}
	ss[0].Join(own)
	_ = io.To(own).Emit("m", 7)
	expectAll(`2["m",7]`, 0)
	gone := make(chan struct{})
	ss[0].OnDisconnect(func(*socketio.Socket, string) { close(gone) })
	ss[0].Disconnect(true)
	recv(t, gone) // the adapter forgets the socket before "disconnect"
	if mem.HasRoom(own) {
		t.Fatal("own room still there after the disconnect")
	}
	// Nothing else arrived anywhere: the next frame is this one.
	_ = io.Emit("m", 8)
	expectAll(`2["m",8]`, 1, 2)
}

func TestRoomsAndBroadcasts(t *testing.T) {
	io, rs, ss := connectedSockets(t, 3)
	ss[0].Join("a")
	ss[1].Join("a", "b")
	ss[2].Join("b")
	if got := ss[1].Rooms(); !slices.Contains(got, "a") || !slices.Contains(got, "b") || !slices.Contains(got, socketio.Room(ss[1].ID())) {
		t.Fatalf("rooms %v", got)
	}
	expectAll := func(want string, who ...int) {
		t.Helper()
		for _, i := range who {
			rs[i].expect(t, want)
		}
	}
	_ = io.To("a").Emit("m", 1)
	expectAll(`2["m",1]`, 0, 1)
	_ = io.To("a", "b").Emit("m", 2) // union: once each
	expectAll(`2["m",2]`, 0, 1, 2)
	_ = io.To("a").Except("b").Emit("m", 3)
	expectAll(`2["m",3]`, 0)
	_ = ss[1].To("a").Emit("m", 4) // the sender is left out
	expectAll(`2["m",4]`, 0)
	_ = ss[0].Broadcast().Emit("m", 5)
	expectAll(`2["m",5]`, 1, 2)
	ss[1].Leave("a")
	_ = io.Emit("m", 6)
	expectAll(`2["m",6]`, 0, 1, 2)
	_ = io.In("a").Emit("m", 7)
	expectAll(`2["m",7]`, 0)
	// Nothing else arrived anywhere: the next frame everywhere is this one.
	_ = io.Emit("m", 8)
	expectAll(`2["m",8]`, 0, 1, 2)
}

func TestDisconnectReasons(t *testing.T) {
	reasons := make(chan string, 10)
	sockets := make(chan *socketio.Socket, 10)
	_, url := newServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			s.Join("room")
			s.OnDisconnecting(func(s *socketio.Socket, reason string) {
				if !slices.Contains(s.Rooms(), "room") {
					t.Error("rooms gone in disconnecting")
				}
			})
			s.OnDisconnect(func(s *socketio.Socket, reason string) {
				if len(s.Rooms()) != 0 {
					t.Errorf("rooms left after disconnect: %v", s.Rooms())
				}
				reasons <- reason
			})
			sockets <- s
		})
	})
	cases := []struct {
		name   string
		act    func(r *raw, s *socketio.Socket)
		reason string
	}{
		{"client namespace disconnect", func(r *raw, _ *socketio.Socket) { r.send(t, "1") }, socketio.ReasonClientNamespaceDisconnect},
		{"server namespace disconnect", func(r *raw, s *socketio.Socket) {
			s.Disconnect(false)
			r.expect(t, "1")
		}, socketio.ReasonServerNamespaceDisconnect},
		{"forced server close", func(r *raw, s *socketio.Socket) {
			s.Disconnect(true)
			r.waitClosed(t)
		}, socketio.ReasonForcedServerClose},
		{"transport close", func(r *raw, _ *socketio.Socket) { _ = r.conn.Close() }, socketio.ReasonTransportClose},
		{"parse error", func(r *raw, _ *socketio.Socket) { r.send(t, "2{}") }, socketio.ReasonParseError},
		{"parse error on binary", func(r *raw, _ *socketio.Socket) { r.sendBinary(t, []byte{1}) }, socketio.ReasonParseError},
		{"parse error on reserved name", func(r *raw, _ *socketio.Socket) { r.send(t, `2["disconnect"]`) }, socketio.ReasonParseError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := dialRaw(t, url, 4, "websocket")
			r.connect(t, "/", "")
			c.act(r, recv(t, sockets))
			if got := recv(t, reasons); got != c.reason {
				t.Fatalf("reason %q, want %q", got, c.reason)
			}
		})
	}
}

func TestProtocolViolationsClose(t *testing.T) {
	_, url := newServer(t, nil, func(io *socketio.Server) { io.Of("/other") })
	for name, seq := range map[string][]string{
		"event before connect":  {`2["x"]`},
		"event on unjoined nsp": {"0", `2/other,["x"]`},
		"duplicate connect":     {"0", "0"},
		"connect error":         {`4{"message":"x"}`},
		"invalid ack id":        {"0", `2abc["x"]`},
		"text while binary due": {"0", `51-["x",{"_placeholder":true,"num":0}]`, `2["y"]`},
		"too many attachments":  {"0", `511-["x"]`},
	} {
		t.Run(name, func(t *testing.T) {
			r := dialRaw(t, url, 4, "websocket")
			for _, s := range seq {
				r.send(t, s)
			}
			r.waitClosed(t)
		})
	}
}

func TestConnectTimeout(t *testing.T) {
	_, url := newServer(t, &socketio.Options{ConnectTimeout: 50 * time.Millisecond}, nil)
	r := dialRaw(t, url, 4, "websocket")
	r.waitClosed(t)
}

func TestServerWideOperations(t *testing.T) {
	sockets := make(chan *socketio.Socket, 3)
	io, url := newServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			s.SetData(map[string]int{"n": len(sockets)})
			sockets <- s
		})
	})
	var rs []*raw
	for range 3 {
		r := dialRaw(t, url, 4, "websocket")
		r.connect(t, "/", "")
		rs = append(rs, r)
	}
	ss := []*socketio.Socket{recv(t, sockets), recv(t, sockets), recv(t, sockets)}
	ss[0].Join("x")
	ctx := context.Background()
	all, err := io.Of("/").FetchSockets(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("FetchSockets: %d, %v", len(all), err)
	}
	inX, _ := io.In("x").FetchSockets(ctx)
	if len(inX) != 1 || inX[0].ID != ss[0].ID() || !slices.Contains(inX[0].Rooms, "x") || inX[0].Handshake == nil {
		t.Fatalf("in x: %+v", inX)
	}
	if err := inX[0].Emit("hi"); err != nil {
		t.Fatal(err)
	}
	rs[0].expect(t, `2["hi"]`)
	if err := io.Except("x").SocketsJoin(ctx, "y"); err != nil {
		t.Fatal(err)
	}
	_ = io.To("y").Emit("y")
	rs[1].expect(t, `2["y"]`)
	rs[2].expect(t, `2["y"]`)
	_ = io.In("y").SocketsLeave(ctx, "y")
	if err := io.In("x").DisconnectSockets(ctx, false); err != nil {
		t.Fatal(err)
	}
	rs[0].expect(t, "1")
	_ = io.Emit("after")
	rs[1].expect(t, `2["after"]`)
	rs[2].expect(t, `2["after"]`)
	if n, _ := io.Of("/").FetchSockets(ctx); len(n) != 2 {
		t.Fatalf("%d sockets after disconnect", len(n))
	}
}

func TestBroadcastWithAck(t *testing.T) {
	sockets := make(chan *socketio.Socket, 5)
	io, url := newServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) { sockets <- s })
	})
	var rs []*raw
	for range 5 {
		r := dialRaw(t, url, 4, "websocket")
		r.connect(t, "/", "")
		rs = append(rs, r)
		recv(t, sockets)
	}
	type result struct {
		replies []socketio.Args
		err     error
	}
	done := make(chan result, 1)
	go func() {
		replies, err := io.Timeout(200*time.Millisecond).EmitWithAck(context.Background(), "q", 1)
		done <- result{replies, err}
	}()
	for i, r := range rs {
		msg := r.expectPrefix(t, "2")
		if i < 3 { // two clients never answer
			id := strings.TrimSuffix(strings.TrimPrefix(msg, "2"), `["q",1]`)
			r.send(t, "3"+id+`[`+string(rune('0'+i))+`]`)
		}
	}
	res := recv(t, done)
	var ae *socketio.BroadcastAckError
	if !errors.As(res.err, &ae) || ae.Expected != 5 || ae.Received != 3 || !errors.Is(res.err, socketio.ErrAckTimeout) {
		t.Fatalf("err = %v", res.err)
	}
	if len(res.replies) != 3 {
		t.Fatalf("%d replies", len(res.replies))
	}
	// All answer: no error.
	go func() {
		replies, err := io.Timeout(time.Second).EmitWithAck(context.Background(), "q", 2)
		done <- result{replies, err}
	}()
	for _, r := range rs {
		msg := r.expectPrefix(t, "2")
		id := strings.TrimSuffix(strings.TrimPrefix(msg, "2"), `["q",2]`)
		r.send(t, "3"+id+`["ok"]`)
	}
	if res := recv(t, done); res.err != nil || len(res.replies) != 5 {
		t.Fatalf("all answered: %d, %v", len(res.replies), res.err)
	}
}

func TestDynamicNamespaces(t *testing.T) {
	conns := make(chan *socketio.Socket, 2)
	var parent *socketio.ParentNamespace
	_, url := newServer(t, nil, func(io *socketio.Server) {
		parent = io.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`))
		parent.Use(func(_ context.Context, s *socketio.Socket) error {
			if s.Namespace().Name() == "/dyn-0" {
				return errors.New("no zero")
			}
			return nil
		})
		parent.OnConnection(func(s *socketio.Socket) { conns <- s })
	})
	r := dialRaw(t, url, 4, "websocket")
	r.connect(t, "/dyn-1", "")
	if s := recv(t, conns); s.Namespace().Name() != "/dyn-1" {
		t.Fatalf("namespace %s", s.Namespace().Name())
	}
	r.send(t, "0/dyn-0,")
	r.expect(t, `4/dyn-0,{"message":"no zero"}`)
	r.send(t, "0/dyn-x,")
	r.expect(t, `4/dyn-x,{"message":"Invalid namespace"}`)
	_ = parent.Emit("all")
	r.expect(t, `2/dyn-1,["all"]`)
}

func TestCatchAllAndPacketMiddleware(t *testing.T) {
	type seen struct{ dir, event, args string }
	events := make(chan seen, 10)
	errs := make(chan error, 1)
	io, url := newServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			s.OnAny(func(_ *socketio.Socket, event string, args socketio.Args) { events <- seen{"in", event, args.String()} })
			s.OnAnyOutgoing(func(_ *socketio.Socket, event string, args socketio.Args) {
				events <- seen{"out", event, args.String()}
			})
			s.Use(func(_ *socketio.Socket, event string, _ socketio.Args) error {
				if event == "forbidden" {
					return errors.New("nope")
				}
				return nil
			})
			s.OnError(func(_ *socketio.Socket, err error) { errs <- err })
			s.On("hello", func(s *socketio.Socket, _ socketio.Args, _ socketio.Ack) { _ = s.Emit("world", 1) })
		})
	})
	r := dialRaw(t, url, 4, "websocket")
	r.connect(t, "/", "")
	r.send(t, `2["hello","x"]`)
	if got := recv(t, events); got != (seen{"in", "hello", `["x"]`}) {
		t.Fatalf("%+v", got)
	}
	if got := recv(t, events); got != (seen{"out", "world", `[1]`}) {
		t.Fatalf("%+v", got)
	}
	r.expect(t, `2["world",1]`)
	_ = io.Emit("broadcast")
	if got := recv(t, events); got != (seen{"out", "broadcast", `[]`}) {
		t.Fatalf("%+v", got)
	}
	r.expect(t, `2["broadcast"]`)
	r.send(t, `2["forbidden"]`)
	if err := recv(t, errs); err.Error() != "nope" {
		t.Fatal(err)
	}
	r.send(t, `2["hello"]`) // still connected
	recv(t, events)
	recv(t, events)
	r.expect(t, `2["world",1]`)
}

func TestReservedEmit(t *testing.T) {
	sockets := make(chan *socketio.Socket, 1)
	io, url := newServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) { sockets <- s })
	})
	r := dialRaw(t, url, 4, "websocket")
	r.connect(t, "/", "")
	s := recv(t, sockets)
	for _, name := range []string{"connect", "disconnect", "connect_error", "disconnecting", "newListener", "removeListener"} {
		if err := s.Emit(name); !errors.Is(err, socketio.ErrReservedEvent) {
			t.Errorf("Emit(%q) = %v", name, err)
		}
		if err := io.Emit(name); !errors.Is(err, socketio.ErrReservedEvent) {
			t.Errorf("io.Emit(%q) = %v", name, err)
		}
	}
}

func TestVolatile(t *testing.T) {
	sockets := make(chan *socketio.Socket, 1)
	io, url := newServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) { sockets <- s })
	})
	r := dialRaw(t, url, 4, "websocket")
	r.connect(t, "/", "")
	s := recv(t, sockets)
	_ = s.Volatile().Emit("v", 1)
	_ = io.Volatile().Emit("v", 2)
	_ = io.Emit("v", 3)
	// A WebSocket client that keeps up takes volatile packets; what matters
	// is that nothing is reordered or duplicated.
	var got []string
	for f := r.next(t); ; f = r.next(t) {
		got = append(got, f.data)
		if f.data == `2["v",3]` {
			break
		}
	}
	if len(got) > 3 || !slices.IsSorted(got) {
		t.Fatalf("frames %q", got)
	}
}

func TestServerClose(t *testing.T) {
	reasons := make(chan string, 2)
	io := socketio.NewServer(&socketio.Options{Engine: &engineio.Options{}})
	io.OnConnection(func(s *socketio.Socket) {
		s.OnDisconnect(func(_ *socketio.Socket, reason string) { reasons <- reason })
	})
	hs := newHTTPTest(t, io)
	r := dialRaw(t, hs+"/socket.io/", 4, "websocket")
	r.connect(t, "/", "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := io.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, reasons); got != socketio.ReasonServerShuttingDown {
		t.Fatalf("reason %q", got)
	}
	r.waitClosed(t)
}

func TestManyConnectionsNoLeak(t *testing.T) {
	var mu sync.Mutex
	connected := 0
	disconnected := make(chan struct{}, 200)
	io, url := newServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			mu.Lock()
			connected++
			mu.Unlock()
			s.Join("r")
			s.OnDisconnect(func(*socketio.Socket, string) { disconnected <- struct{}{} })
		})
	})
	for i := range 100 {
		tr := transports[i%2]
		r := dialRaw(t, url, 4, tr)
		r.connect(t, "/", "")
		_ = r.conn.Close()
		<-r.conn.Done()
		select {
		case <-disconnected:
		case <-time.After(wait):
			t.Fatalf("connection %d (%s): no disconnect", i, tr)
		}
	}
	if n, _ := io.Of("/").FetchSockets(context.Background()); len(n) != 0 {
		t.Fatalf("%d sockets left", len(n))
	}
	if ids := io.Of("/").Adapter().Sockets(socketio.BroadcastOptions{Rooms: []socketio.Room{"r"}}); len(ids) != 0 {
		t.Fatalf("room r still has %d sockets", len(ids))
	}
	// TestMain checks that no goroutine outlives the server.
}

func TestCleanupEmptyChildNamespaces(t *testing.T) {
	for _, cleanup := range []bool{false, true} {
		t.Run(map[bool]string{false: "kept", true: "cleaned"}[cleanup], func(t *testing.T) {
			gone := make(chan struct{}, 1)
			var parent *socketio.ParentNamespace
			_, url := newServer(t, &socketio.Options{CleanupEmptyChildNamespaces: cleanup}, func(io *socketio.Server) {
				parent = io.OfRegexp(regexp.MustCompile(`^/room-\d+$`))
				parent.OnConnection(func(s *socketio.Socket) {
					s.OnDisconnect(func(*socketio.Socket, string) { gone <- struct{}{} })
				})
			})
			r := dialRaw(t, url, 4, "websocket")
			r.connect(t, "/room-1", "")
			if n := len(parent.Children()); n != 1 {
				t.Fatalf("%d children", n)
			}
			r.send(t, "1/room-1,")
			recv(t, gone)
			want := 1
			if cleanup {
				want = 0
			}
			if n := len(parent.Children()); n != want {
				t.Fatalf("%d children after the last socket left, want %d", n, want)
			}
			r.connect(t, "/room-1", "") // a new namespace when it was cleaned
			if n := len(parent.Children()); n != 1 {
				t.Fatalf("%d children after reconnecting", n)
			}
		})
	}
}

func TestServerSideEmit(t *testing.T) {
	io, _ := newServer(t, nil, nil)
	ctx := context.Background()
	// A single server has no peers: nothing to send, no replies to wait for.
	if err := io.ServerSideEmit(ctx, "hello", 1); err != nil {
		t.Fatal(err)
	}
	if replies, err := io.ServerSideEmitWithAck(ctx, "hello", 1); err != nil || len(replies) != 0 {
		t.Fatalf("with ack: %v, %v", replies, err)
	}
	for _, name := range []string{"connect", "connection", "new_namespace"} {
		if err := io.ServerSideEmit(ctx, name); !errors.Is(err, socketio.ErrReservedEvent) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// What a cluster adapter does with an event from another server.
	got := make(chan string, 1)
	io.OnServerSideEvent("hello", func(args socketio.Args, ack socketio.Ack) {
		n, _ := socketio.Arg[int](args, 0)
		got <- strconv.Itoa(n)
		_ = ack("pong", []byte{1})
	})
	p, _ := socketio.EventPacket("/", "hello", 41)
	_, args, _ := p.Event()
	var reply socketio.Args
	if !io.Of("/").DispatchServerSideEvent("hello", args, func(a socketio.Args) { reply = a }) {
		t.Fatal("no handler ran")
	}
	if n := recv(t, got); n != "41" {
		t.Fatalf("handler got %s", n)
	}
	if s, _ := socketio.Arg[string](reply, 0); s != "pong" {
		t.Fatalf("reply %v", reply)
	}
	if b, ok := reply.Bytes(1); !ok || !bytes.Equal(b, []byte{1}) {
		t.Fatalf("binary reply %v", reply)
	}
	if io.Of("/").DispatchServerSideEvent("unknown", args, nil) {
		t.Fatal("a handler ran for an unknown event")
	}
}

// TestMiddlewareContextEndsWithConnection: a namespace middleware that
// waits on its context is released when the client's connection closes,
// and one that starts after the close gets an ended context.
func TestMiddlewareContextEndsWithConnection(t *testing.T) {
	started := make(chan struct{}, 1)
	ended := make(chan error, 2)
	_, url := newServer(t, nil, func(io *socketio.Server) {
		io.Use(func(ctx context.Context, s *socketio.Socket) error {
			started <- struct{}{}
			select {
			case <-ctx.Done():
				ended <- ctx.Err()
			case <-time.After(wait):
				ended <- errors.New("context not canceled")
			}
			return ctx.Err()
		})
	})
	r := dialRaw(t, url, 4, "websocket")
	r.send(t, "0")
	recv(t, started)
	_ = r.conn.Close()
	if err := recv(t, ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("middleware: %v, want context.Canceled", err)
	}
}
