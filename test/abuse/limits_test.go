package abuse_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

// roomsResult is what the "rooms" handler acknowledges.
type roomsResult struct {
	Joined int    `json:"joined"`
	Err    string `json:"err"`
	Micros int64  `json:"micros"`
}

// TestTenThousandRooms: one socket asks to join 10,000 rooms, one Join
// at a time (a "join" event handler as applications write them). With the
// default MaxRoomsPerSocket (1,000) the 1,001st Join fails with
// ErrTooManyRooms and joins nothing; the socket stays connected. With the
// limit raised to 20,000 all 10,000 are joined, a broadcast to one of them
// arrives, and disconnecting releases them.
func TestTenThousandRooms(t *testing.T) {
	for _, limit := range []int{0, 20_000} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			var joinErr atomic.Value
			e := newEnv(t, &socketio.Options{MaxRoomsPerSocket: limit}, func(io *socketio.Server) {
				io.OnConnection(func(s *socketio.Socket) {
					s.On("rooms", func(s *socketio.Socket, args socketio.Args, ack socketio.Ack) {
						var n int
						_ = args.Decode(0, &n)
						res := roomsResult{}
						start := time.Now()
						for i := range n {
							if err := s.Join(socketio.Room(fmt.Sprintf("room-%d", i))); err != nil {
								joinErr.Store(err)
								res.Err = err.Error()
								break
							}
							res.Joined++
						}
						res.Micros = time.Since(start).Microseconds()
						_ = ack(res)
					})
				})
			})
			ctl := e.startControl(t)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			sock, err := client.Dial(ctx, e.url, &client.DialOptions{Manager: client.ManagerOptions{
				Engine:              client.EngineOptions{Transports: []string{engineio.TransportWebSocket}},
				DisableReconnection: true,
			}})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer sock.Disconnect()
			got := make(chan string, 1)
			sock.On("hello", func(args socketio.Args, _ socketio.Ack) {
				var s string
				_ = args.Decode(0, &s)
				got <- s
			})
			h0 := heapAfterGC()
			args, err := sock.EmitWithAck(ctx, "rooms", 10_000)
			if err != nil {
				t.Fatalf("rooms: %v", err)
			}
			var res roomsResult
			if err := args.Decode(0, &res); err != nil {
				t.Fatalf("rooms reply: %v", err)
			}
			h1 := heapAfterGC()
			srvSock := e.io.Of("/").Socket(socketio.SocketID(sock.ID()))
			if srvSock == nil {
				t.Fatal("the socket is gone")
			}
			if limit == 0 {
				err, _ := joinErr.Load().(error)
				if res.Joined != socketio.DefaultMaxRoomsPerSocket || !errors.Is(err, socketio.ErrTooManyRooms) {
					t.Errorf("joined %d (%v), want %d and ErrTooManyRooms", res.Joined, err, socketio.DefaultMaxRoomsPerSocket)
				}
				if n := len(srvSock.Rooms()); n != socketio.DefaultMaxRoomsPerSocket+1 {
					t.Errorf("socket in %d rooms, want %d (its own included)", n, socketio.DefaultMaxRoomsPerSocket+1)
				}
			} else if res.Joined != 10_000 || res.Err != "" {
				t.Errorf("joined %d (%s), want 10000", res.Joined, res.Err)
			}
			if err := e.io.To(socketio.Room(fmt.Sprintf("room-%d", res.Joined-1))).Emit("hello", "last room"); err != nil {
				t.Fatalf("broadcast: %v", err)
			}
			select {
			case s := <-got:
				if s != "last room" {
					t.Errorf("got %q", s)
				}
			case <-ctx.Done():
				t.Fatal("the broadcast to the last room did not arrive")
			}
			sock.Disconnect()
			if !eventually(func() bool { return len(e.io.Of("/").Sockets()) == 1 }) {
				t.Fatal("the socket did not leave")
			}
			h2 := heapAfterGC()
			figure(t, "rooms (MaxRoomsPerSocket %d): %d joined one Join at a time in %v (%q); live heap +%s while joined (%s per room), %s after the disconnect",
				max(limit, socketio.DefaultMaxRoomsPerSocket), res.Joined, time.Duration(res.Micros)*time.Microsecond, res.Err,
				mib(int64(h1)-int64(h0)), fmt.Sprintf("%d B", (int64(h1)-int64(h0))/int64(max(res.Joined, 1))), mib(int64(h2)))
			ctl.report(t, fmt.Sprintf("10,000 rooms (limit %d)", max(limit, socketio.DefaultMaxRoomsPerSocket)))
		})
	}
}

// TestNamespaceHoarding: one connection asks for 150 dynamic namespaces.
// The first MaxNamespacesPerClient (100) connect; each further CONNECT
// gets CONNECT_ERROR {"message":"too many namespaces"} and the connection
// stays usable.
func TestNamespaceHoarding(t *testing.T) {
	e := newEnv(t, &socketio.Options{Engine: &engineio.Options{PingInterval: time.Minute}}, func(io *socketio.Server) {
		io.OfRegexp(regexp.MustCompile(`^/n\d+$`)).OnConnection(func(s *socketio.Socket) {
			s.On("echo", func(_ *socketio.Socket, args socketio.Args, ack socketio.Ack) { _ = ack(args) })
		})
	})
	ctl := e.startControl(t)
	conn := e.rawWS(t, "127.0.7.1")
	defer conn.Close()
	const asked = 150
	for i := range asked {
		if err := writeText(conn, fmt.Sprintf("40/n%d,", i)); err != nil {
			t.Fatalf("CONNECT: %v", err)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	connected, refused := 0, 0
	for connected+refused < asked {
		f, err := ws.ReadFrame(conn)
		if err != nil {
			t.Fatalf("after %d connected and %d refused: %v", connected, refused, err)
		}
		p := string(f.Payload)
		switch {
		case strings.HasPrefix(p, "40/n"):
			connected++
		case strings.HasPrefix(p, "44/n"):
			if !strings.HasSuffix(p, `,{"message":"too many namespaces"}`) {
				t.Errorf("refusal %q", p)
			}
			refused++
		}
	}
	if connected != socketio.DefaultMaxNamespacesPerClient || refused != asked-socketio.DefaultMaxNamespacesPerClient {
		t.Errorf("%d connected, %d refused; want %d and %d", connected, refused, socketio.DefaultMaxNamespacesPerClient, asked-socketio.DefaultMaxNamespacesPerClient)
	}
	// Still usable: an event on a joined namespace is acknowledged.
	_ = writeText(conn, `42/n0,7["echo","still here"]`)
	for {
		f, err := ws.ReadFrame(conn)
		if err != nil {
			t.Fatalf("waiting for the ack: %v", err)
		}
		if string(f.Payload) == `43/n0,7[["still here"]]` || string(f.Payload) == `43/n0,7["still here"]` {
			break
		}
	}
	figure(t, "namespace hoarding: %d CONNECTs on one connection: %d connected, %d refused with CONNECT_ERROR \"too many namespaces\"; the connection stayed usable", asked, connected, refused)
	ctl.report(t, "namespace hoarding")
}

// TestPacketFlood: a client emits 5,000 events as fast as it can. The
// default PacketRate (100/s, bursts of 1,000) lets about the burst
// through, then disconnects it: its socket's OnError hears
// ErrRateLimited, the client gets "io server disconnect" (and does not
// reconnect).
func TestPacketFlood(t *testing.T) {
	var handled atomic.Int64
	var limited atomic.Int32
	reasons := make(chan string, 4)
	e := newEnv(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			s.On("spam", func(*socketio.Socket, socketio.Args, socketio.Ack) { handled.Add(1) })
			s.OnError(func(_ *socketio.Socket, err error) {
				if errors.Is(err, socketio.ErrRateLimited) {
					limited.Add(1)
				}
			})
			s.OnDisconnect(func(_ *socketio.Socket, reason string) { reasons <- reason })
		})
	})
	ctl := e.startControl(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sock, err := client.Dial(ctx, e.url, &client.DialOptions{Manager: client.ManagerOptions{
		Engine:              client.EngineOptions{Transports: []string{engineio.TransportWebSocket}, NetDial: dialerFrom("127.0.7.2")},
		DisableReconnection: true,
	}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer sock.Disconnect()
	var once sync.Once
	clientReason := make(chan string, 1)
	sock.OnDisconnect(func(reason string) { once.Do(func() { clientReason <- reason }) })
	start := time.Now()
	sent := 0
	for range 5000 {
		if sock.Emit("spam", sent) != nil {
			break
		}
		sent++
	}
	var cr, sr string
	select {
	case cr = <-clientReason:
	case <-ctx.Done():
		t.Fatal("the flooding client was not disconnected")
	}
	select {
	case sr = <-reasons:
	case <-ctx.Done():
		t.Fatal("no server-side disconnect")
	}
	elapsed := time.Since(start)
	// The server sends a DISCONNECT for each namespace, then closes. A
	// client still flooding when the close comes may get a TCP reset
	// instead (the server closes with the flood unread), which discards
	// what it had not read yet: it then sees "transport error".
	if cr != client.ReasonIOServerDisconnect && cr != string(engineio.ReasonTransportError) {
		t.Errorf("client reason %q, want %q (or %q)", cr, client.ReasonIOServerDisconnect, string(engineio.ReasonTransportError))
	}
	if sr != socketio.ReasonForcedServerClose || limited.Load() != 1 {
		t.Errorf("server reason %q, %d ErrRateLimited; want %q, 1", sr, limited.Load(), socketio.ReasonForcedServerClose)
	}
	maxAllowed := int64(socketio.DefaultPacketBurst) + int64(elapsed.Seconds()*socketio.DefaultPacketRate) + 2
	if h := handled.Load(); h > maxAllowed || h < socketio.DefaultPacketBurst-1 {
		t.Errorf("%d events handled, want about the burst (%d, at most %d)", h, socketio.DefaultPacketBurst, maxAllowed)
	}
	figure(t, "packet flood: %d events emitted at full speed; %d handled, then the client was disconnected (client: %q, server: %q, ErrRateLimited in OnError) after %v",
		sent, handled.Load(), cr, sr, elapsed.Round(time.Millisecond))
	ctl.report(t, "packet flood")
}

// TestSlowHandlerFlood: a client sends 1 MB events (the largest allowed)
// to a handler that is stuck. Each client's events wait in order for its
// handler; what waits is bounded (256 packets and 4 MiB), past which the
// server stops reading from the client, so TCP pushes back on it instead
// of the server buffering its packets.
func TestSlowHandlerFlood(t *testing.T) {
	release := make(chan struct{})
	var handled atomic.Int32
	e := newEnv(t, &socketio.Options{Engine: &engineio.Options{PingInterval: time.Minute}}, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			s.On("slow", func(*socketio.Socket, socketio.Args, socketio.Ack) {
				<-release
				handled.Add(1)
			})
		})
	})
	ctl := e.startControl(t)
	conn := e.rawWS(t, "127.0.7.3")
	defer conn.Close()
	_ = writeText(conn, "40")
	h0 := heapAfterGC()
	big := `42["slow","` + strings.Repeat("z", 999_000) + `"]`
	frame := ws.MaskFrame(ws.NewTextFrame([]byte(big)))
	const events = 300
	sent := 0
	// Write until the server stops reading: a write that cannot finish
	// within 2 s means the pushback has reached the client.
	for range events {
		_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if err := ws.WriteFrame(conn, frame); err != nil {
			break
		}
		sent++
	}
	held := int64(heapAfterGC()) - int64(h0)
	close(release)
	if sent == events {
		t.Errorf("all %d events of 1 MB were taken while the handler was stuck", events)
	}
	if held > 64<<20 {
		t.Errorf("the server holds %s of events for one stuck client", mib(held))
	}
	figure(t, "slow handler flood: a client with a stuck handler got %d events of 1 MB through before the server stopped reading; live heap held %s", sent, mib(held))
	ctl.report(t, "slow handler flood")
}
