package socketio_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

const wait = 5 * time.Second

// newServer starts a Socket.IO server on httptest; setup registers the
// application before the first connection. Both close with the test.
func newServer(t testing.TB, opts *socketio.Options, setup func(io *socketio.Server)) (*socketio.Server, string) {
	t.Helper()
	if opts == nil {
		opts = &socketio.Options{}
	}
	if opts.Engine == nil {
		opts.Engine = &engineio.Options{}
	}
	io := socketio.NewServer(opts)
	if setup != nil {
		setup(io)
	}
	hs := httptest.NewServer(io)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if err := io.Close(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close: %v", err)
		}
		hs.Close()
	})
	return io, hs.URL + "/socket.io/"
}

type frame struct {
	data   string
	binary bool
}

// raw speaks Socket.IO by hand over an Engine.IO connection, to check
// exact wire strings.
type raw struct {
	conn   *client.EngineConn
	frames chan frame
	closed chan engineio.Reason
}

func dialRaw(t testing.TB, url string, protocol int, transport string) *raw {
	t.Helper()
	r := &raw{frames: make(chan frame, 1000), closed: make(chan engineio.Reason, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, err := client.DialEngine(ctx, url, &client.EngineOptions{
		Protocol:   protocol,
		Transports: []string{transport},
		OnMessage: func(data []byte, binary bool) {
			r.frames <- frame{string(data), binary}
		},
		OnClose: func(reason engineio.Reason, _ error) { r.closed <- reason },
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	r.conn = conn
	t.Cleanup(func() {
		_ = conn.Close()
		select {
		case <-conn.Done():
		case <-time.After(wait):
		}
	})
	return r
}

func (r *raw) send(t testing.TB, s string) {
	t.Helper()
	if err := r.conn.SendText([]byte(s)); err != nil {
		t.Fatalf("send %q: %v", s, err)
	}
}

func (r *raw) sendBinary(t testing.TB, b []byte) {
	t.Helper()
	if err := r.conn.SendBinary(b); err != nil {
		t.Fatalf("send binary: %v", err)
	}
}

func (r *raw) next(t testing.TB) frame {
	t.Helper()
	select {
	case f := <-r.frames:
		return f
	case <-time.After(wait):
		t.Fatal("no frame")
		return frame{}
	}
}

// expect reads the next text frame and checks it.
func (r *raw) expect(t testing.TB, want string) {
	t.Helper()
	if f := r.next(t); f.binary || f.data != want {
		t.Fatalf("got %q (binary %v), want %q", f.data, f.binary, want)
	}
}

// expectPrefix reads the next text frame, checks its prefix and returns it.
func (r *raw) expectPrefix(t testing.TB, prefix string) string {
	t.Helper()
	f := r.next(t)
	if f.binary || !strings.HasPrefix(f.data, prefix) {
		t.Fatalf("got %q, want prefix %q", f.data, prefix)
	}
	return f.data
}

func (r *raw) waitClosed(t testing.TB) {
	t.Helper()
	select {
	case <-r.closed:
	case <-time.After(wait):
		t.Fatal("connection not closed")
	}
}

// connect joins "/" (protocol 5) and returns the socket id.
func (r *raw) connect(t testing.TB, nsp, auth string) string {
	t.Helper()
	prefix := "0"
	if nsp != "/" {
		prefix = "0" + nsp + ","
	}
	r.send(t, prefix+auth)
	reply := r.expectPrefix(t, prefix+`{"sid":"`)
	return strings.TrimSuffix(strings.TrimPrefix(reply, prefix+`{"sid":"`), `"}`)
}

// recv collects values sent by server-side handlers.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatal("nothing received")
		var zero T
		return zero
	}
}

func newHTTPTest(t testing.TB, h http.Handler) string {
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}
