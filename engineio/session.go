package engineio

import (
	"bufio"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"time"
)

type transportKind uint8

const (
	transportPolling transportKind = iota
	transportWebSocket
)

type sessionState uint8

const (
	stateOpen     sessionState = iota
	stateDraining              // closed to the application; a polling GET may still collect the queue
	stateClosed
)

// clientCloseWindow is how long a session closed by the client's close
// packet still answers a GET that raced with it (with a noop).
const clientCloseWindow = time.Second

// Heartbeat timer kinds.
const (
	timerPing    uint8 = iota + 1 // protocol 4: send a ping at the deadline
	timerTimeout                  // the client's heartbeat is due by the deadline
	timerDrain                    // a draining polling session is dropped at the deadline
)

// Session is one Engine.IO connection, whatever its transport. Its methods
// are safe for concurrent use.
type Session struct {
	srv      *Server
	id       string
	protocol int
	b64      bool // protocol 3 polling client that cannot take binary payloads
	hs       handshakeRecord
	slot     string // the client address counted by MaxConnectionsPerIP

	deliverMu sync.Mutex // serializes Handler calls

	mu            sync.Mutex
	state         sessionState
	transport     transportKind
	queue, spare  []*Message
	queued        int
	value         any
	dispatching   bool
	closePending  bool // OnClose waits for the running dispatch
	reason        Reason
	closeErr      error
	finalized     bool
	notified      bool // OnClose has returned
	readers       int  // WebSocket read loops running
	pollWake      chan struct{}
	getActive     bool
	postActive    bool
	ws            *wsConn
	flushing      bool
	readerFlushes bool // the WebSocket reader flushes after its dispatch
	probe         *wsConn
	probed        bool // the probe ping arrived; pending GETs get noop
	pausedAtClose bool // closed while the client paused polling for an upgrade
	timerKind     uint8
	timerAt       int64 // unix nanoseconds
	timerGen      uint64
}

func (srv *Server) newSession(r *http.Request, q url.Values, protocol int, ws bool) *Session {
	var hdr strings.Builder
	_ = r.Header.Write(&hdr)
	s := &Session{
		srv:      srv,
		id:       newID(),
		protocol: protocol,
		b64:      protocol == 3 && q.Get("b64") != "",
		hs: handshakeRecord{
			header: hdr.String(),
			url:    r.URL.RequestURI(),
			remote: remoteIP(r.RemoteAddr),
			time:   time.Now(),
			secure: r.TLS != nil,
		},
	}
	if !ws {
		s.pollWake = make(chan struct{}, 1)
	}
	return s
}

// handshakeRecord keeps the opening request compactly: the header block
// as one string and the URL, parsed again on demand. An idle session
// costs less this way than with header and query maps.
type handshakeRecord struct {
	header string
	url    string
	remote string
	time   time.Time
	secure bool
}

// ID returns the session id, as sent in the open packet.
func (s *Session) ID() string { return s.id }

// Protocol returns the Engine.IO protocol revision, 3 or 4.
func (s *Session) Protocol() int { return s.protocol }

// Handshake describes the request that opened the session. It is parsed
// anew on each call; the caller owns the result.
func (s *Session) Handshake() *Handshake {
	h := &Handshake{
		RemoteAddr: s.hs.remote,
		URL:        s.hs.url,
		Time:       s.hs.time,
		Secure:     s.hs.secure,
	}
	tp := textproto.NewReader(bufio.NewReader(strings.NewReader(s.hs.header + "\r\n")))
	if mh, err := tp.ReadMIMEHeader(); err == nil {
		h.Header = http.Header(mh)
	} else {
		h.Header = http.Header{}
	}
	if u, err := url.ParseRequestURI(s.hs.url); err == nil {
		h.Query = u.Query()
	} else {
		h.Query = url.Values{}
	}
	return h
}

// Transport returns the current transport name.
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.transport == transportWebSocket {
		return TransportWebSocket
	}
	return TransportPolling
}

// SetValue attaches an application value to the session.
func (s *Session) SetValue(v any) {
	s.mu.Lock()
	s.value = v
	s.mu.Unlock()
}

// Value returns what SetValue attached, or nil.
func (s *Session) Value() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.value
}

// Send queues m for the client. It never blocks on the network. It returns
// ErrClosed once the session is closed; when the queue would exceed
// Options.MaxQueuedBytes the session is closed as a slow consumer and
// ErrSlowConsumer is returned.
func (s *Session) Send(m *Message) error {
	return s.enqueue(m, false)
}

// SendText queues a text message.
func (s *Session) SendText(data []byte) error { return s.Send(NewTextMessage(data)) }

// SendBinary queues a binary message.
func (s *Session) SendBinary(data []byte) error { return s.Send(NewBinaryMessage(data)) }

// TrySend queues m only if the client can take it now: nothing is waiting
// in the queue and no upgrade is under way. It reports whether m was
// queued. Use it for volatile messages, which may be lost.
func (s *Session) TrySend(m *Message) bool {
	return s.enqueue(m, true) == nil
}

// Close ends the session with reason "forced close", after sending what is
// already queued. It does not wait.
func (s *Session) Close() {
	s.closeWith(ReasonForcedClose, nil, true)
}

// errDropped is returned by enqueue for a volatile message that was dropped.
var errDropped = ErrSlowConsumer

func (s *Session) enqueue(m *Message, volatile bool) error {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return ErrClosed
	}
	if volatile && (len(s.queue) > 0 || s.flushing || s.probe != nil ||
		(s.transport == transportPolling && !s.getActive)) {
		s.mu.Unlock()
		return errDropped
	}
	size := m.size()
	if len(s.queue) > 0 && s.queued+size > s.srv.opts.MaxQueuedBytes {
		s.mu.Unlock()
		s.closeWith(ReasonTransportError, ErrSlowConsumer, false)
		return ErrSlowConsumer
	}
	s.queue = append(s.queue, m)
	s.queued += size
	if s.transport == transportWebSocket && !s.flushing && !s.readerFlushes && s.ws != nil &&
		s.ws.wraw != nil && s.probe == nil {
		s.flushing = true
		c := s.ws
		s.mu.Unlock()
		if m.sends.Add(1) > 1 {
			s.srv.deferFlush(s, c) // a broadcast: coalesce with what follows
		} else {
			s.flushInline(c)
		}
		return nil
	}
	s.kickLocked()
	s.mu.Unlock()
	return nil
}

// kickLocked gets the queue moving: it wakes a waiting GET, or starts a
// WebSocket flush unless one runs or the reader will flush after its dispatch.
func (s *Session) kickLocked() {
	switch {
	case s.transport == transportPolling:
		if s.getActive {
			select {
			case s.pollWake <- struct{}{}:
			default:
			}
		}
	case !s.flushing && !s.readerFlushes && s.ws != nil:
		s.flushing = true
		go s.flush(s.ws)
	}
}

// takeQueueLocked removes and returns everything queued.
func (s *Session) takeQueueLocked() []*Message {
	batch := s.queue
	s.queue, s.spare = s.spare, nil
	s.queued = 0
	return batch
}

func (s *Session) recycleLocked(batch []*Message) {
	clear(batch)
	if s.spare == nil && cap(batch) <= 1024 {
		s.spare = batch[:0]
	}
}

// start arms the heartbeat: the first ping (protocol 4) or the deadline for
// the client's first ping (protocol 3), counted from the handshake.
func (s *Session) start() {
	s.mu.Lock()
	s.armLocked()
	s.mu.Unlock()
	s.srv.handler.OnOpen(s)
}

func (s *Session) armLocked() {
	o := &s.srv.opts
	if s.protocol == 3 {
		s.setTimerLocked(timerTimeout, time.Now().Add(o.PingInterval+o.PingTimeout))
	} else {
		s.setTimerLocked(timerPing, time.Now().Add(o.PingInterval))
	}
}

func (s *Session) setTimerLocked(kind uint8, at time.Time) {
	s.timerGen++
	s.timerKind = kind
	s.timerAt = at.UnixNano()
	s.srv.scheduler().at(at, s, s.timerGen)
}

// fire is called by the scheduler.
func (s *Session) fire(gen uint64) {
	s.mu.Lock()
	if gen != s.timerGen || s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	switch s.timerKind {
	case timerPing:
		if s.state != stateOpen {
			s.mu.Unlock()
			return
		}
		// The ping counts as sent once queued (protocol-notes §2.6).
		s.setTimerLocked(timerTimeout, time.Now().Add(s.srv.opts.PingTimeout))
		s.queue = append(s.queue, msgPing)
		s.queued += msgPing.size()
		s.kickLocked()
		s.mu.Unlock()
	case timerTimeout:
		s.mu.Unlock()
		s.closeWith(ReasonPingTimeout, nil, false)
	case timerDrain:
		s.mu.Unlock()
		s.abort()
	default:
		s.mu.Unlock()
	}
}

// expiredLocked reports whether the heartbeat deadline has passed even if
// the scheduler has not run yet, so that requests racing the deadline see
// the same outcome as the timer.
func (s *Session) expiredLocked(now int64) bool {
	switch s.timerKind {
	case timerTimeout:
		return now >= s.timerAt
	case timerPing:
		return now >= s.timerAt+int64(s.srv.opts.PingTimeout)
	}
	return false
}

// checkExpired closes the session if its heartbeat deadline has passed and
// reports whether it is still usable.
func (s *Session) checkExpired() bool {
	s.mu.Lock()
	expired := s.state == stateOpen && s.expiredLocked(time.Now().UnixNano())
	s.mu.Unlock()
	if expired {
		s.closeWith(ReasonPingTimeout, nil, false)
	}
	return !expired
}

// onPacket handles one packet from the client, on any transport.
func (s *Session) onPacket(p Packet) {
	switch p.Type {
	case PacketMessage:
		s.dispatch(p.Data, p.Binary)
	case PacketPing:
		if s.protocol != 3 {
			s.closeWith(ReasonTransportError, errHeartbeatDirection, false)
			return
		}
		s.mu.Lock()
		if s.state == stateOpen {
			o := &s.srv.opts
			s.setTimerLocked(timerTimeout, time.Now().Add(o.PingInterval+o.PingTimeout))
		}
		s.mu.Unlock()
		pong := msgPong
		if len(p.Data) > 0 {
			pong = &Message{typ: PacketPong, data: append([]byte(nil), p.Data...)}
		}
		_ = s.enqueue(pong, false)
	case PacketPong:
		if s.protocol == 3 {
			s.closeWith(ReasonTransportError, errHeartbeatDirection, false)
			return
		}
		s.mu.Lock()
		if s.state == stateOpen && s.timerKind == timerTimeout {
			s.setTimerLocked(timerPing, time.Now().Add(s.srv.opts.PingInterval))
		}
		s.mu.Unlock()
	case PacketClose:
		s.closeWith(ReasonTransportClose, nil, false)
	case PacketNoop, PacketUpgrade:
		// Harmless out of place; Node ignores them too.
	default:
		s.closeWith(ReasonParseError, invalid("unexpected %s packet", p.Type), false)
	}
}

// dispatch hands a message to the application, one at a time per session.
func (s *Session) dispatch(data []byte, binary bool) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return
	}
	s.dispatching = true
	s.mu.Unlock()
	s.srv.handler.OnMessage(s, data, binary)
	s.mu.Lock()
	s.dispatching = false
	notify := s.closePending
	s.closePending = false
	s.mu.Unlock()
	if notify {
		s.notifyClose()
	}
}

// closeWith ends the session. graceful sessions first deliver what is
// queued (with a close packet on polling); others drop it. The pending
// polling GET, if any, is answered: with a noop when the client itself
// closed, else with the close packet.
func (s *Session) closeWith(reason Reason, err error, graceful bool) {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return
	}
	s.reason, s.closeErr = reason, err
	s.timerGen++ // cancel heartbeats
	probe := s.probe
	// A client that answered the probe has paused polling until its
	// upgrade completes: Server.Close does not wait for its GET.
	s.pausedAtClose = s.probed && !s.getActive
	s.probe = nil
	s.probed = false // a held GET now gets the close packet, not a noop
	ws := s.ws
	drain := false
	switch {
	case s.transport == transportPolling:
		if reason == ReasonTransportClose {
			s.queue = append(s.takeQueueLocked()[:0], msgNoop)
		} else {
			if !graceful {
				s.takeQueueLocked()
			}
			s.queue = append(s.queue, msgClose)
		}
		if s.getActive && len(s.queue) > 1 && graceful {
			// The held GET takes the messages, and the next GET the close
			// packet, in a response of its own (servePoll): the session
			// drains until then.
			s.state = stateDraining
			drain = true
			s.setTimerLocked(timerDrain, time.Now().Add(s.srv.opts.PingTimeout))
			select {
			case s.pollWake <- struct{}{}:
			default:
			}
		} else if s.getActive {
			s.state = stateClosed
			select {
			case s.pollWake <- struct{}{}:
			default:
			}
		} else if graceful || reason == ReasonTransportClose {
			// Keep the session until a GET collects the queue (or, when the
			// client closed, until the GET it raced with gets its noop).
			s.state = stateDraining
			drain = true
			window := s.srv.opts.PingTimeout
			if !graceful {
				window = min(window, clientCloseWindow)
			}
			s.setTimerLocked(timerDrain, time.Now().Add(window))
		} else {
			s.state = stateClosed
		}
	case graceful:
		s.state = stateClosed
		// A client that does not read would hold the flusher (blocked in
		// its write) and the connection forever: what is left to flush
		// gets PingTimeout, then the write fails and the flusher closes.
		if ws != nil {
			_ = ws.conn.SetWriteDeadline(time.Now().Add(s.srv.opts.PingTimeout))
		}
		if !s.flushing {
			s.flushing = true
			go s.flush(ws)
		}
		ws = nil // the flusher closes it
	default:
		s.state = stateClosed
		s.takeQueueLocked()
	}
	notify := !s.dispatching
	s.closePending = s.dispatching
	s.mu.Unlock()

	if probe != nil {
		probe.close()
	}
	if ws != nil {
		ws.close()
	}
	if !drain {
		s.srv.remove(s)
	}
	if notify {
		s.notifyClose()
	}
}

// noGETComing reports whether the session is draining for a GET that no
// live client will send: its client sent the close packet, or had paused
// polling for an upgrade when the session closed.
func (s *Session) noGETComing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateDraining && (s.reason == ReasonTransportClose || s.pausedAtClose)
}

// abort cuts whatever connection remains and forgets the session.
func (s *Session) abort() {
	s.closeWith(ReasonForcedClose, nil, false)
	s.mu.Lock()
	s.state = stateClosed
	ws, probe := s.ws, s.probe
	if s.getActive {
		select {
		case s.pollWake <- struct{}{}: // the held GET answers and lets go
		default:
		}
	}
	s.mu.Unlock()
	if ws != nil {
		ws.close()
	}
	if probe != nil {
		probe.close()
	}
	s.srv.remove(s)
	s.release()
}

func (s *Session) notifyClose() {
	s.mu.Lock()
	reason, err := s.reason, s.closeErr
	s.mu.Unlock()
	s.srv.handler.OnClose(s, reason, err)
	s.mu.Lock()
	s.notified = true
	s.mu.Unlock()
	s.release()
}

// release tells Server.Close that the session is gone once nothing touches
// it any more: closed, OnClose returned, no request, reader or flush running.
func (s *Session) release() {
	s.mu.Lock()
	done := !s.finalized && s.notified && s.state == stateClosed && !s.getActive &&
		!s.postActive && !s.flushing && s.readers == 0
	if done {
		s.finalized = true
	}
	s.mu.Unlock()
	if done {
		s.srv.wg.Done()
	}
}
