package engineio

import (
	"errors"
	"net/http"
	"sync"
	"time"
)

// Defaults of the abuse limits (see Options).
const (
	// DefaultMaxConnectionsPerIP is the default of Options.MaxConnectionsPerIP.
	DefaultMaxConnectionsPerIP = 1000
	// DefaultMaxHeaderBytes is the default of Options.MaxHeaderBytes:
	// Node's --max-http-header-size.
	DefaultMaxHeaderBytes = 16 << 10
)

// Sentinel errors of the abuse limits. Refused requests carry them in
// the message of their Engine.IO error body; they are exported so that
// applications and tests can name the condition.
var (
	// ErrTooManyConnections: a handshake was refused because its client
	// address already holds Options.MaxConnectionsPerIP sessions. The
	// answer is 429 with {"code":4,"message":"too many connections"}.
	ErrTooManyConnections = errors.New("too many connections")
	// ErrHeaderTooLarge: a handshake was refused because its request URI
	// and header block exceed Options.MaxHeaderBytes. The answer is 431
	// with {"code":3,"message":"request header too large"}.
	ErrHeaderTooLarge = errors.New("request header too large")
)

// ipLimiter counts the sessions of each client address. Every session in
// the server's map holds one slot of its address; the slot is taken
// before the handshake (so a WebSocket is not even hijacked when refused)
// and given back when the session leaves the map.
type ipLimiter struct {
	mu sync.Mutex
	n  map[string]int
}

// acquire takes a slot for key unless it already holds max (max < 0: no
// limit, nothing counted).
func (l *ipLimiter) acquire(key string, max int) bool {
	if max < 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.n = make(map[string]int)
	}
	if l.n[key] >= max {
		return false
	}
	l.n[key]++
	return true
}

// release gives back a slot taken by acquire.
func (l *ipLimiter) release(key string, max int) {
	if max < 0 {
		return
	}
	l.mu.Lock()
	if c := l.n[key]; c <= 1 {
		delete(l.n, key)
	} else {
		l.n[key] = c - 1
	}
	l.mu.Unlock()
}

// count returns the slots key holds.
func (l *ipLimiter) count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[key]
}

// clientKey is the address a request is counted against.
func (srv *Server) clientKey(r *http.Request) string {
	if f := srv.opts.ClientIP; f != nil {
		return f(r)
	}
	return remoteIP(r.RemoteAddr)
}

// ConnectionsFrom returns how many sessions the client address ip holds
// against Options.MaxConnectionsPerIP (0 when the limit is disabled).
func (srv *Server) ConnectionsFrom(ip string) int { return srv.perIP.count(ip) }

// admitHandshake applies the handshake limits to r. On success it returns
// the key of the slot taken for the new session (to give back with
// releaseSlot); otherwise it has answered the request.
func (srv *Server) admitHandshake(w http.ResponseWriter, r *http.Request) (string, bool) {
	if headerSize(r) > srv.opts.MaxHeaderBytes {
		writeError(w, http.StatusRequestHeaderFieldsTooLarge, codeBadRequest, ErrHeaderTooLarge.Error())
		return "", false
	}
	key := srv.clientKey(r)
	if !srv.perIP.acquire(key, srv.opts.MaxConnectionsPerIP) {
		srv.opts.Logger.Debug("engineio: handshake refused", "client", key, "err", ErrTooManyConnections)
		writeError(w, http.StatusTooManyRequests, codeForbidden, ErrTooManyConnections.Error())
		return "", false
	}
	return key, true
}

// releaseSlot gives back the per-address slot of a session.
func (srv *Server) releaseSlot(key string) {
	srv.perIP.release(key, srv.opts.MaxConnectionsPerIP)
}

// headerSize is what a session would keep of its handshake request: the
// request URI plus each header line ("Name: value\r\n").
func headerSize(r *http.Request) int {
	n := len(r.URL.RequestURI())
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// bodyDeadline bounds the reading of a polling POST body by
// PingInterval + PingTimeout and returns the function that lifts the
// bound once the body is read. net/http bounds only the header
// (ReadHeaderTimeout); without this a client that stalls in the middle of
// its body would hold the request, and its goroutine, for as long as it
// keeps the connection open. A body that misses the deadline fails the
// read, which closes the session with "transport error"; the deadline is
// then left in place, so that net/http's own draining of the unread body
// fails too and the connection closes. A read body lifts it, so that the
// connection's next request is not affected.
func (srv *Server) bodyDeadline(w http.ResponseWriter) (lift func()) {
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(srv.opts.PingInterval+srv.opts.PingTimeout)) != nil {
		return func() {}
	}
	return func() { _ = rc.SetReadDeadline(time.Time{}) }
}

// boundedWrite runs write, the writing of a polling response, within a
// deadline of PingInterval + PingTimeout. A client that sends GETs but
// never reads the responses would otherwise block the write, and keep
// its goroutine, connection and payload, for as long as it keeps the
// connection open, even after its session has closed and given its
// MaxConnectionsPerIP slot back. The response is flushed within the
// deadline, which is then lifted for the connection's next request; a
// write that misses it fails and net/http closes the connection.
func (srv *Server) boundedWrite(w http.ResponseWriter, write func()) {
	rc := http.NewResponseController(w)
	if rc.SetWriteDeadline(time.Now().Add(srv.opts.PingInterval+srv.opts.PingTimeout)) != nil {
		write()
		return
	}
	write()
	if rc.Flush() == nil {
		_ = rc.SetWriteDeadline(time.Time{})
	}
}
