package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/engineio"
)

// wait bounds every wait of these tests.
const wait = 5 * time.Second

// app is an echo application that reports how its sessions end. The
// message "close me" makes it close the session instead.
type app struct {
	closed chan engineio.Reason
}

func (a *app) OnOpen(*engineio.Session) {}

func (a *app) OnMessage(s *engineio.Session, data []byte, binary bool) {
	if !binary && string(data) == "close me" {
		s.Close()
		return
	}
	echo{}.OnMessage(s, data, binary)
}

func (a *app) OnClose(_ *engineio.Session, reason engineio.Reason, _ error) {
	select {
	case a.closed <- reason:
	default:
	}
}

// newServer starts an Engine.IO echo server and returns its URL.
func newServer(t testing.TB, opts *engineio.Options) (string, *app) {
	t.Helper()
	a := &app{closed: make(chan engineio.Reason, 16)}
	srv := engineio.NewServer(a, opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("server close: %v", err)
		}
		ts.Close()
	})
	return ts.URL + "/engine.io/", a
}

type message struct {
	data   string
	binary bool
}

type closeEvent struct {
	reason engineio.Reason
	err    error
}

// events records what a connection reports.
type events struct {
	msgs     chan message
	upgraded chan error
	closed   chan closeEvent
}

// dial connects with opts (nil fields are fine), records its events and
// closes the connection at cleanup.
func dial(t testing.TB, url string, opts client.EngineOptions) (*client.EngineConn, *events) {
	t.Helper()
	ev := &events{
		msgs:     make(chan message, 4096),
		upgraded: make(chan error, 1),
		closed:   make(chan closeEvent, 1),
	}
	opts.OnMessage = func(data []byte, binary bool) {
		select {
		case ev.msgs <- message{string(data), binary}:
		default:
			t.Error("message buffer full")
		}
	}
	opts.OnUpgrade = func(err error) { ev.upgraded <- err }
	opts.OnClose = func(reason engineio.Reason, err error) { ev.closed <- closeEvent{reason, err} }
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.DialEngine(ctx, url, &opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		select {
		case <-c.Done():
		case <-time.After(wait):
			t.Errorf("connection not done %v after Close", wait)
		}
	})
	return c, ev
}

func (ev *events) next(t testing.TB) message {
	t.Helper()
	select {
	case m := <-ev.msgs:
		return m
	case <-time.After(wait):
		t.Fatal("no message")
	}
	return message{}
}

func (ev *events) waitUpgrade(t testing.TB) {
	t.Helper()
	select {
	case err := <-ev.upgraded:
		if err != nil {
			t.Fatalf("upgrade: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("no upgrade")
	}
}

func (ev *events) waitClose(t testing.TB) closeEvent {
	t.Helper()
	select {
	case e := <-ev.closed:
		return e
	case <-time.After(wait):
		t.Fatal("not closed")
	}
	return closeEvent{}
}

func waitDone(t testing.TB, c *client.EngineConn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("Done not closed")
	}
}

// mode is a way of connecting.
type mode struct {
	name       string
	transports []string
	upgrade    bool // ends on WebSocket after starting on polling
}

var modes = []mode{
	{"polling", []string{"polling"}, false},
	{"websocket", []string{"websocket"}, false},
	{"upgrade", nil, true},
}

// forEach runs f for every protocol and mode.
func forEach(t *testing.T, f func(t *testing.T, protocol int, m mode)) {
	for _, protocol := range []int{4, 3} {
		for _, m := range modes {
			t.Run(fmt.Sprintf("v%d/%s", protocol, m.name), func(t *testing.T) {
				f(t, protocol, m)
			})
		}
	}
}

func wantTransport(m mode) string {
	if m.name == "polling" {
		return "polling"
	}
	return "websocket"
}

func expect(t testing.TB, ev *events, want message) {
	t.Helper()
	if got := ev.next(t); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestEcho(t *testing.T) {
	forEach(t, func(t *testing.T, protocol int, m mode) {
		url, _ := newServer(t, nil)
		c, ev := dial(t, url, client.EngineOptions{Transports: m.transports, Protocol: protocol})
		if c.ID() == "" || c.Protocol() != protocol || c.Handshake().PingInterval != 25*time.Second {
			t.Fatalf("handshake: id %q protocol %d %+v", c.ID(), c.Protocol(), c.Handshake())
		}
		check := func() {
			t.Helper()
			bin := string([]byte{0, 1, 2, 0xff})
			for _, msg := range []message{{"hello", false}, {bin, true}, {"", false}, {"€😀", false}, {"", true}} {
				var err error
				if msg.binary {
					err = c.SendBinary([]byte(msg.data))
				} else {
					err = c.SendText([]byte(msg.data))
				}
				if err != nil {
					t.Fatal(err)
				}
				expect(t, ev, msg)
			}
		}
		check()
		if m.upgrade {
			ev.waitUpgrade(t)
			check()
		}
		if got := c.Transport(); got != wantTransport(m) {
			t.Errorf("transport %q, want %q", got, wantTransport(m))
		}
		if err := c.Err(); err != nil {
			t.Errorf("Err on an open connection: %v", err)
		}
	})
}

// TestUpgradeOrder sends messages until the connection has upgraded, and
// at least 500: each echo must arrive exactly once and in order.
func TestUpgradeOrder(t *testing.T) {
	const n = 500
	for _, protocol := range []int{4, 3} {
		t.Run(fmt.Sprintf("v%d", protocol), func(t *testing.T) {
			url, _ := newServer(t, nil)
			c, ev := dial(t, url, client.EngineOptions{Protocol: protocol})
			switched := -1
			sent := 0
			upgradeSeen := false
			for ; sent < n || switched < 0; sent++ {
				if switched < 0 && c.Transport() == "websocket" {
					switched = sent
				}
				if switched < 0 && sent == 3000 && !upgradeSeen {
					// On a loaded machine the upgrade can outlast thousands
					// of sends: wait for it rather than overflow the
					// recorder (its buffer holds 4,096 messages).
					ev.waitUpgrade(t)
					upgradeSeen = true
				}
				var err error
				if sent%3 == 0 {
					err = c.SendBinary([]byte(strconv.Itoa(sent)))
				} else {
					err = c.SendText([]byte(strconv.Itoa(sent)))
				}
				if err != nil {
					t.Fatalf("send %d: %v", sent, err)
				}
			}
			for i := range sent {
				expect(t, ev, message{strconv.Itoa(i), i%3 == 0})
			}
			if !upgradeSeen {
				ev.waitUpgrade(t)
			}
			if err := c.SendText([]byte("last")); err != nil {
				t.Fatal(err)
			}
			expect(t, ev, message{"last", false})
			t.Logf("switched to websocket after %d of %d messages", switched, sent)
		})
	}
}

// TestConcurrentSend batches packets from several goroutines into POSTs
// that must stay under the server's maxPayload (a larger one gets 413 and
// closes the connection).
func TestConcurrentSend(t *testing.T) {
	forEach(t, func(t *testing.T, protocol int, m mode) {
		url, _ := newServer(t, &engineio.Options{MaxHTTPBufferSize: 1000})
		c, ev := dial(t, url, client.EngineOptions{Transports: m.transports, Protocol: protocol})
		if err := c.SendText(bytes.Repeat([]byte("x"), 1000)); !errors.Is(err, client.ErrMessageTooLarge) {
			t.Fatalf("oversized send: %v, want ErrMessageTooLarge", err)
		}
		const senders, each = 4, 50
		pad := string(bytes.Repeat([]byte("."), 90))
		var wg sync.WaitGroup
		for g := range senders {
			wg.Go(func() {
				for i := range each {
					if err := c.SendText(fmt.Appendf(nil, "%d %d %s", g, i, pad)); err != nil {
						t.Errorf("send: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		next := make([]int, senders)
		for range senders * each {
			var g, i int
			msg := ev.next(t)
			if _, err := fmt.Sscanf(msg.data, "%d %d", &g, &i); err != nil || next[g] != i {
				t.Fatalf("got %q, want sender %d message %d", msg.data, g, next[g])
			}
			next[g]++
		}
		if err := c.Err(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestServerClose(t *testing.T) {
	forEach(t, func(t *testing.T, protocol int, m mode) {
		url, _ := newServer(t, nil)
		c, ev := dial(t, url, client.EngineOptions{Transports: m.transports, Protocol: protocol})
		if m.upgrade {
			ev.waitUpgrade(t)
		}
		// Over polling the server may close before it answers the POST.
		if err := c.SendText([]byte("close me")); err != nil && !errors.Is(err, client.ErrClosed) {
			t.Fatal(err)
		}
		e := ev.waitClose(t)
		if e.reason != engineio.ReasonTransportClose {
			t.Errorf("OnClose reason %q (%v), want %q", e.reason, e.err, engineio.ReasonTransportClose)
		}
		waitDone(t, c)
		if r := client.CloseReason(c.Err()); r != engineio.ReasonTransportClose {
			t.Errorf("Err reason %q", r)
		}
		if err := c.SendText([]byte("x")); !errors.Is(err, client.ErrClosed) {
			t.Errorf("send after close: %v, want ErrClosed", err)
		}
	})
}

func TestClientClose(t *testing.T) {
	forEach(t, func(t *testing.T, protocol int, m mode) {
		url, a := newServer(t, nil)
		c, ev := dial(t, url, client.EngineOptions{Transports: m.transports, Protocol: protocol})
		if m.upgrade {
			ev.waitUpgrade(t)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if e := ev.waitClose(t); e.reason != "forced close" || e.err != nil {
			t.Errorf("OnClose(%q, %v), want forced close", e.reason, e.err)
		}
		waitDone(t, c)
		select {
		case r := <-a.closed:
			if r != engineio.ReasonTransportClose {
				t.Errorf("server saw %q, want %q", r, engineio.ReasonTransportClose)
			}
		case <-time.After(wait):
			t.Fatal("server saw no close")
		}
		if err := c.SendText([]byte("x")); client.CloseReason(err) != "forced close" {
			t.Errorf("send after Close: %v", err)
		}
	})
}

// TestCloseDuringUpgrade closes as soon as the dial returns, racing the
// upgrade: the connection must still end cleanly.
func TestCloseDuringUpgrade(t *testing.T) {
	for _, protocol := range []int{4, 3} {
		t.Run(fmt.Sprintf("v%d", protocol), func(t *testing.T) {
			url, a := newServer(t, nil)
			c, ev := dial(t, url, client.EngineOptions{Protocol: protocol})
			_ = c.SendText([]byte("x"))
			c.Close()
			if e := ev.waitClose(t); e.reason != "forced close" {
				t.Errorf("OnClose(%q, %v), want forced close", e.reason, e.err)
			}
			waitDone(t, c)
			select {
			case <-a.closed:
			case <-time.After(wait):
				t.Fatal("server saw no close")
			}
		})
	}
}

func TestHandshakeRefused(t *testing.T) {
	url, _ := newServer(t, &engineio.Options{
		AllowRequest: func(*http.Request) error { return errors.New("go away") },
	})
	for _, m := range modes[:2] {
		t.Run(m.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			c, err := client.DialEngine(ctx, url, &client.EngineOptions{Transports: m.transports})
			var re *engineio.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("dial: %v, %v; want a RequestError", c, err)
			}
			if *re != (engineio.RequestError{Status: 403, Code: 4, Message: "go away"}) {
				t.Errorf("got %+v", *re)
			}
		})
	}
}

func TestTransportUnknown(t *testing.T) {
	url, _ := newServer(t, &engineio.Options{Transports: []string{"polling"}})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := client.DialEngine(ctx, url, &client.EngineOptions{Transports: []string{"websocket"}})
	var re *engineio.RequestError
	if !errors.As(err, &re) || re.Status != 400 || re.Code != 0 {
		t.Fatalf("dial: %v; want a 400 RequestError with code 0", err)
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, o := range []client.EngineOptions{
		{Protocol: 5},
		{Transports: []string{}},
		{Transports: []string{"flashsocket"}},
	} {
		if _, err := client.DialEngine(context.Background(), "http://127.0.0.1:1/", &o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// TestHeartbeat keeps connections open across many short ping intervals,
// longer than pingInterval+pingTimeout: the server closes a protocol 4
// session whose client does not answer pings, and a protocol 3 session
// whose client does not ping. The timeout leaves room for a slow runner.
func TestHeartbeat(t *testing.T) {
	const interval = 20 * time.Millisecond
	forEach(t, func(t *testing.T, protocol int, m mode) {
		url, a := newServer(t, &engineio.Options{PingInterval: interval, PingTimeout: 10 * interval})
		c, ev := dial(t, url, client.EngineOptions{Transports: m.transports, Protocol: protocol})
		if m.upgrade {
			ev.waitUpgrade(t)
		}
		select {
		case e := <-ev.closed:
			t.Fatalf("closed: %q %v", e.reason, e.err)
		case r := <-a.closed:
			t.Fatalf("server closed: %q", r)
		case <-time.After(20 * interval):
		}
		if err := c.SendText([]byte("alive")); err != nil {
			t.Fatal(err)
		}
		expect(t, ev, message{"alive", false})
	})
}
