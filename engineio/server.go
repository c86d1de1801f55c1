package engineio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Handler receives the events of every session of a Server. This is the
// whole seam between Engine.IO and the layer above it (Socket.IO).
//
// For one session, OnOpen comes first, OnMessage calls never overlap, and
// OnClose comes exactly once, after which no OnMessage starts. Calls for
// different sessions run concurrently. A handler may call Send, Close and
// the other Session methods from inside any of these callbacks.
type Handler interface {
	// OnOpen is called once the session exists, before any message. Packets
	// it sends follow the handshake.
	OnOpen(s *Session)
	// OnMessage is called for each message packet. data is only valid until
	// OnMessage returns; copy it to keep it.
	OnMessage(s *Session, data []byte, binary bool)
	// OnClose is called once when the session ends, with Node's reason and,
	// where there is one, the underlying error.
	OnClose(s *Session, reason Reason, err error)
}

// Server is an Engine.IO server speaking protocols 4 and 3 over HTTP
// long-polling and WebSocket. It is an http.Handler: mount it at the path
// clients use ("/engine.io/" by default, "/socket.io/" under Socket.IO).
// The query string alone selects what a request does, so the mount path is
// free. A Server is safe for concurrent use.
type Server struct {
	opts    Options
	handler Handler
	sched   *scheduler
	timers  sync.Once
	poll    atomic.Pointer[poller]
	// flushers write broadcast deliveries (flusher.go).
	flushers flushers
	polling  sync.Once
	stopped  sync.Once

	mu       sync.RWMutex
	sessions map[string]*Session
	closed   bool
	wg       sync.WaitGroup // sessions not yet finalized
	perIP    ipLimiter      // sessions per client address (limits.go)
}

// NewServer returns a Server that reports to h. opts may be nil.
func NewServer(h Handler, opts *Options) *Server {
	if h == nil {
		panic("engineio: nil Handler")
	}
	return &Server{
		opts:     opts.withDefaults(),
		handler:  h,
		sessions: make(map[string]*Session),
	}
}

// Options returns the server's options with defaults filled in.
func (srv *Server) Options() Options { return srv.opts }

// poller returns the epoll watcher, started on first use, or nil where
// there is none (or Options.DisableEpoll).
func (srv *Server) poller() *poller {
	if srv.opts.DisableEpoll {
		return nil
	}
	srv.polling.Do(func() {
		if p, err := newPoller(); err == nil {
			srv.poll.Store(p)
		} else if !errors.Is(err, errNoPoller) {
			srv.opts.Logger.Warn("engineio: epoll unavailable, one reader goroutine per connection", "err", err)
		}
	})
	return srv.poll.Load()
}

var errNoPoller = errors.New("engineio: no epoll on this system")

func (srv *Server) scheduler() *scheduler {
	srv.timers.Do(func() { srv.sched = newScheduler() })
	return srv.sched
}

// Session returns the open session with the given id, or nil.
func (srv *Server) Session(id string) *Session {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return srv.sessions[id]
}

// Count returns the number of open sessions.
func (srv *Server) Count() int {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	n := 0
	for _, s := range srv.sessions {
		s.mu.Lock()
		if s.state == stateOpen {
			n++
		}
		s.mu.Unlock()
	}
	return n
}

// Close stops accepting sessions, closes every open one with reason "server
// shutting down" (flushing what is queued to each, and a close packet where
// the transport allows) and waits until they are gone or ctx is done. When
// ctx ends first, the remaining connections are cut and ctx's error returned.
// A polling session with no GET waiting is kept up to PingTimeout for its
// client to collect the close packet. Calling Close again waits again.
func (srv *Server) Close(ctx context.Context) error {
	srv.mu.Lock()
	srv.closed = true
	all := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		all = append(all, s)
	}
	srv.mu.Unlock()
	for _, s := range all {
		s.closeWith(ReasonServerShutdown, nil, true)
		if s.noGETComing() {
			s.abort()
		}
	}
	done := make(chan struct{})
	go func() { srv.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		for _, s := range all {
			s.abort()
		}
		<-done
	}
	srv.stopped.Do(func() {
		srv.timers.Do(func() {})
		if srv.sched != nil {
			srv.sched.stop()
		}
		srv.polling.Do(func() {})
		if p := srv.poll.Load(); p != nil {
			p.stop()
		}
		srv.flushers.stop()
	})
	return err
}

func (srv *Server) remove(s *Session) {
	srv.mu.Lock()
	gone := srv.sessions[s.id] == s
	if gone {
		delete(srv.sessions, s.id)
	}
	srv.mu.Unlock()
	if gone {
		srv.releaseSlot(s.slot)
	}
}

// ServeHTTP answers Engine.IO requests: handshakes, polling GETs and POSTs,
// and WebSocket connections and upgrades.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	transport := q.Get("transport")
	isWS := transport == TransportWebSocket
	if !isWS {
		if srv.cors(w, r) {
			return
		}
	}
	if !srv.opts.allows(transport) {
		writeError(w, http.StatusBadRequest, codeUnknownTransport, "")
		return
	}
	if isWS && !isUpgradeRequest(r) {
		writeError(w, http.StatusBadRequest, codeBadRequest, "")
		return
	}
	if sid := q.Get("sid"); sid != "" {
		s := srv.Session(sid)
		if s == nil {
			writeError(w, http.StatusBadRequest, codeUnknownSID, "")
			return
		}
		if isWS {
			s.serveUpgrade(w, r)
			return
		}
		switch r.Method {
		case http.MethodGet:
			s.servePoll(w, r)
		case http.MethodPost:
			s.servePost(w, r)
		default:
			writeError(w, http.StatusBadRequest, codeBadRequest, "")
		}
		return
	}
	var protocol int
	switch q.Get("EIO") {
	case "4":
		protocol = 4
	case "3":
		protocol = 3
	default:
		writeError(w, http.StatusBadRequest, codeBadProtocol, "")
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusBadRequest, codeBadHandshake, "")
		return
	}
	if srv.opts.AllowRequest != nil {
		if err := srv.opts.AllowRequest(r); err != nil {
			writeError(w, http.StatusForbidden, codeForbidden, err.Error())
			return
		}
	}
	slot, ok := srv.admitHandshake(w, r)
	if !ok {
		return
	}
	s := srv.newSession(r, q, protocol, isWS)
	s.slot = slot
	if isWS {
		srv.handshakeWebSocket(w, r, s)
	} else {
		srv.handshakePolling(w, r, s)
	}
}

var errServerClosed = errors.New("engineio: server closed")

// register makes s visible to requests. It fails once Close has begun.
func (srv *Server) register(s *Session) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closed {
		return false
	}
	srv.sessions[s.id] = s
	srv.wg.Add(1)
	return true
}

func (srv *Server) handshakePolling(w http.ResponseWriter, r *http.Request, s *Session) {
	if !srv.register(s) {
		srv.releaseSlot(s.slot)
		writeError(w, http.StatusServiceUnavailable, codeBadRequest, errServerClosed.Error())
		return
	}
	open := s.openPacket(!srv.opts.DisableUpgrades && srv.opts.allows(TransportWebSocket))
	s.start()
	if srv.opts.Cookie != nil {
		setCookie(w, srv.opts.Cookie, s.id)
	}
	var body []byte
	if s.protocol == 3 {
		body = AppendPayloadRecordV3(nil, Packet{Type: PacketOpen, Data: open})
	} else {
		body = AppendText(nil, PacketOpen, open)
	}
	srv.writePayload(w, r, body, "text/plain; charset=UTF-8")
}

func (srv *Server) handshakeWebSocket(w http.ResponseWriter, r *http.Request, s *Session) {
	var hdr http.Header
	if srv.opts.Cookie != nil {
		rec := http.Header{}
		c := *srv.opts.Cookie
		c.Value = s.id
		rec.Set("Set-Cookie", c.String())
		hdr = rec
	}
	c, err := srv.acceptWebSocket(w, r, s, hdr)
	if err != nil {
		srv.releaseSlot(s.slot)
		srv.opts.Logger.Debug("engineio: websocket handshake", "err", err)
		return
	}
	if !srv.register(s) {
		srv.releaseSlot(s.slot)
		c.closeWithStatus(closeGoingAway, "server shutting down")
		return
	}
	s.transport = transportWebSocket
	s.ws = c
	s.readers = 1
	// Hold the queue (as if a flush ran) so that the open packet, and what
	// OnOpen sends after it, leave a moment after the 101 response.
	s.flushing = true
	s.enqueue(&Message{typ: PacketOpen, data: s.openPacket(false)}, false)
	s.start()
	s.startReading(c)
	time.Sleep(wsOpenDelay)
	s.flush(c)
}

// wsOpenDelay separates the open packet from the 101 response of a
// WebSocket handshake. Node's engine.io writes the open packet after its
// own handshake work, so the two rarely reach the client in one read;
// clients that attach their message listener when the WebSocket opens
// (the official conformance suites do) lose a packet that arrives with
// the 101. A millisecond restores Node's timing at no cost worth counting.
const wsOpenDelay = time.Millisecond

// openPacket returns the JSON of the open packet (protocol spec, "Handshake").
func (s *Session) openPacket(upgrades bool) []byte {
	o := &s.srv.opts
	var up []string
	if upgrades {
		up = []string{TransportWebSocket}
	} else {
		up = []string{}
	}
	b, _ := json.Marshal(struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int64    `json:"maxPayload"`
	}{s.id, up, o.PingInterval.Milliseconds(), o.PingTimeout.Milliseconds(), o.MaxHTTPBufferSize})
	return b
}

func setCookie(w http.ResponseWriter, c *http.Cookie, sid string) {
	cc := *c
	cc.Value = sid
	http.SetCookie(w, &cc)
}

// newID returns a 20-character URL-safe session id from 15 random bytes.
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Handshake is what a session remembers of the request that opened it.
type Handshake struct {
	Header     http.Header
	Query      url.Values
	RemoteAddr string
	URL        string
	Time       time.Time
	Secure     bool
}

func remoteIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	if msg == "" && code >= 0 && code < len(codeMessages) {
		msg = codeMessages[code]
	}
	b, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func isUpgradeRequest(r *http.Request) bool {
	return r.Method == http.MethodGet && headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket")
}
