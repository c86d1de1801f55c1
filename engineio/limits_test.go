package engineio_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/heraldio/herald/engineio"
)

// TestMaxConnectionsPerIP: handshakes past the limit get 429 with the
// Engine.IO error body; ClientIP chooses the address counted; a closed
// session gives its slot back; a negative limit counts nothing.
func TestMaxConnectionsPerIP(t *testing.T) {
	ts := newServer(t, nil, &engineio.Options{
		MaxConnectionsPerIP: 2,
		ClientIP:            func(r *http.Request) string { return r.Header.Get("X-Client") },
	})
	open := func(client string) response {
		return ts.do(t, http.MethodGet, "EIO=4&transport=polling", "", "X-Client", client)
	}
	for _, c := range []string{"a", "a", "b"} {
		if r := open(c); r.status != http.StatusOK {
			t.Fatalf("handshake from %s: %d %s", c, r.status, r.body)
		}
	}
	r := open("a")
	if r.status != http.StatusTooManyRequests || r.body != `{"code":4,"message":"too many connections"}` {
		t.Fatalf("third handshake from a: %d %s", r.status, r.body)
	}
	if n := ts.eio.ConnectionsFrom("a"); n != 2 {
		t.Fatalf("a holds %d slots, want 2", n)
	}
	// A closed session gives its slot back once gone (here when the
	// client's GET has collected the close packet).
	s := <-ts.rec.opens
	if s.Handshake().Header.Get("X-Client") != "a" {
		t.Fatalf("first session from %q", s.Handshake().Header.Get("X-Client"))
	}
	s.Close()
	if r := ts.do(t, http.MethodGet, "EIO=4&transport=polling&sid="+s.ID(), "", "X-Client", "a"); r.body != "1" {
		t.Fatalf("GET after the close: %d %q", r.status, r.body)
	}
	waitFor(t, func() bool { return ts.eio.ConnectionsFrom("a") == 1 })
	if r := open("a"); r.status != http.StatusOK {
		t.Fatalf("handshake after the close: %d %s", r.status, r.body)
	}

	unlimited := newServer(t, nil, &engineio.Options{MaxConnectionsPerIP: -1})
	for range 5 {
		if r := unlimited.do(t, http.MethodGet, "EIO=4&transport=polling", ""); r.status != http.StatusOK {
			t.Fatalf("unlimited: %d %s", r.status, r.body)
		}
	}
	if n := unlimited.eio.ConnectionsFrom("127.0.0.1"); n != 0 {
		t.Fatalf("a disabled limit counts %d", n)
	}
}

// TestMaxHeaderBytes: a handshake whose URI and headers exceed the limit
// is refused with 431 before a session exists.
func TestMaxHeaderBytes(t *testing.T) {
	ts := newServer(t, nil, &engineio.Options{MaxHeaderBytes: 1024})
	r := ts.do(t, http.MethodGet, "EIO=4&transport=polling", "", "X-Big", strings.Repeat("x", 2000))
	if r.status != http.StatusRequestHeaderFieldsTooLarge || r.body != `{"code":3,"message":"request header too large"}` {
		t.Fatalf("big header: %d %s", r.status, r.body)
	}
	if n := ts.eio.Count(); n != 0 {
		t.Fatalf("%d sessions after a refused handshake", n)
	}
	if r := ts.do(t, http.MethodGet, "EIO=4&transport=polling", "", "X-Small", "x"); r.status != http.StatusOK {
		t.Fatalf("small header: %d %s", r.status, r.body)
	}
}
