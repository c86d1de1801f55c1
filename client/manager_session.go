package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

// rootState is where "/" stands on a protocol 4 connection, which the
// server joins to "/" without being asked (protocol-notes §3.7).
type rootState uint8

const (
	rootAwaiting rootState = iota // the implicit CONNECT has not arrived
	rootConnected
	rootGone // refused or disconnected: a new CONNECT must be sent
)

// session is one Engine.IO connection of a manager and the Socket.IO state
// tied to it. A connection's messages find their session through the
// callbacks, so those of a connection that was replaced are recognised and
// dropped.
type session struct {
	m     *Manager
	conn  *EngineConn
	v4    bool          // Socket.IO protocol 4, over Engine.IO 3
	ready chan struct{} // closed once conn and the manager's state are set

	sendMu sync.Mutex // keeps a packet's attachments right behind it

	// Guarded by m.mu.
	closedByUs  bool // Close or idleness closed it: no reconnection
	abortReason engineio.Reason
	abortErr    error
	root        rootState

	// Used by the reader goroutine only.
	pending *socketio.Packet // binary packet waiting for attachments
	filled  int
	broken  bool
}

func (ss *session) engineOptions(base *EngineOptions) *EngineOptions {
	o := *base
	o.OnMessage = ss.onMessage
	o.OnClose = ss.onClose
	return &o
}

// send writes p and its attachments, which must follow it with nothing in
// between (socket.io-protocol, "Packet encoding").
func (ss *session) send(p *socketio.Packet) error {
	if len(p.Attachments) > socketio.MaxAttachments {
		return fmt.Errorf("client: %w: %d binary attachments, at most %d", socketio.ErrInvalidPacket, len(p.Attachments), socketio.MaxAttachments)
	}
	b := socketio.AppendText(make([]byte, 0, 8+len(p.Namespace)+len(p.Data)), p)
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	if err := ss.conn.SendText(b); err != nil {
		return err
	}
	for _, a := range p.Attachments {
		if err := ss.conn.SendBinary(a); err != nil {
			// Half a packet is out: the stream can no longer be parsed.
			ss.abort(engineio.ReasonTransportError, err)
			return err
		}
	}
	return nil
}

// sendConnect sends the CONNECT packet of s: with the auth payload in
// protocol 5, with the query in the namespace in protocol 4.
func (ss *session) sendConnect(s *Socket) error {
	p := &socketio.Packet{Type: socketio.PacketConnect, Namespace: s.nsp, ID: socketio.NoAck}
	if ss.v4 {
		if len(s.query) > 0 && s.nsp != "/" {
			p.Namespace += "?" + s.query
		}
	} else {
		p.Data = s.auth
	}
	return ss.send(p)
}

// abort closes the connection, which then reports reason to the sockets
// and reconnects.
func (ss *session) abort(reason engineio.Reason, err error) {
	ss.m.mu.Lock()
	if ss.abortReason == "" {
		ss.abortReason, ss.abortErr = reason, err
	}
	ss.m.mu.Unlock()
	_ = ss.conn.Close()
}

// fail ends a connection whose server broke the protocol, with the
// JavaScript client's reason "parse error".
func (ss *session) fail(err error) {
	ss.broken = true
	ss.pending = nil
	ss.abort(engineio.ReasonParseError, err)
}

// onMessage decodes a message, on the connection's reader goroutine.
func (ss *session) onMessage(data []byte, binary bool) {
	<-ss.ready
	if ss.broken {
		return
	}
	if p := ss.pending; p != nil {
		if !binary {
			ss.fail(fmt.Errorf("client: %w: text message while %d attachments are due", socketio.ErrInvalidPacket, len(p.Attachments)-ss.filled))
			return
		}
		p.Attachments[ss.filled] = bytes.Clone(data)
		ss.filled++
		if ss.filled < len(p.Attachments) {
			return
		}
		ss.pending = nil
		ss.onPacket(p)
		return
	}
	if binary {
		ss.fail(fmt.Errorf("client: %w: unexpected binary message", socketio.ErrInvalidPacket))
		return
	}
	p, err := socketio.Decode(bytes.Clone(data))
	if err != nil {
		ss.fail(err)
		return
	}
	if len(p.Attachments) > 0 {
		ss.pending, ss.filled = p, 0
		return
	}
	ss.onPacket(p)
}

func (ss *session) onPacket(p *socketio.Packet) {
	nsp, _, _ := strings.Cut(p.Namespace, "?")
	switch p.Type {
	case socketio.PacketConnect:
		ss.onConnect(nsp, p.Data)
	case socketio.PacketConnectError:
		ss.onConnectError(nsp, p.Data)
	case socketio.PacketDisconnect:
		ss.onDisconnect(nsp)
	case socketio.PacketEvent, socketio.PacketBinaryEvent:
		event, args, err := p.Event()
		if err != nil {
			ss.fail(err)
			return
		}
		ss.onEvent(nsp, event, args, p.ID)
	case socketio.PacketAck, socketio.PacketBinaryAck:
		ss.onAck(nsp, p)
	}
}

// onConnect handles the server's CONNECT: the reply to ours, or in
// protocol 4 the implicit one for "/".
func (ss *session) onConnect(nsp string, data json.RawMessage) {
	m := ss.m
	var id string
	if ss.v4 {
		// Node uses the Engine.IO id, prefixed outside "/" (socketio-reference §3).
		id = ss.conn.ID()
		if nsp != "/" {
			id = nsp + "#" + id
		}
	} else {
		var v struct {
			SID string `json:"sid"`
		}
		if json.Unmarshal(data, &v) != nil || v.SID == "" {
			ss.fail(fmt.Errorf("client: %w: CONNECT without sid: %s", socketio.ErrInvalidPacket, data))
			return
		}
		id = v.SID
	}
	m.mu.Lock()
	if ss.v4 && nsp == "/" {
		ss.root = rootConnected
	}
	s := m.sockets[nsp]
	unwanted := (s == nil || !s.active) && m.sess == ss && !(ss.v4 && nsp == "/")
	if s != nil && s.active && s.sess == ss && !s.connected {
		s.connectedLocked(id)
	}
	m.mu.Unlock()
	if unwanted {
		// Disconnect was called while the CONNECT was on its way.
		_ = ss.send(&socketio.Packet{Type: socketio.PacketDisconnect, Namespace: nsp, ID: socketio.NoAck})
	}
}

// onConnectError handles a refusal: the socket gives up until Connect is
// called again, as the JavaScript client's does.
func (ss *session) onConnectError(nsp string, data json.RawMessage) {
	m := ss.m
	ce := parseConnectError(nsp, data, ss.v4)
	m.mu.Lock()
	if ss.v4 && nsp == "/" {
		ss.root = rootGone
	}
	s := m.sockets[nsp]
	if s == nil || !s.active || s.sess != ss || s.connected {
		m.mu.Unlock()
		return
	}
	s.connectErrorLocked(ce)
	s.deactivateLocked(ce)
	idle := m.closeIfIdleLocked(ss)
	m.mu.Unlock()
	if idle != nil {
		_ = idle.conn.Close()
	}
}

// parseConnectError reads a CONNECT_ERROR payload: {"message","data"} in
// protocol 5; in protocol 4 a message string or the refusal's data (whose
// "message" field, if any, also fills Message).
func parseConnectError(nsp string, data json.RawMessage, v4 bool) *ConnectError {
	ce := &ConnectError{Namespace: nsp}
	if json.Unmarshal(data, &ce.Message) == nil {
		return ce
	}
	var v struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(data, &v)
	ce.Message = v.Message
	if v4 {
		ce.Data = data
	} else if len(v.Data) > 0 {
		ce.Data = v.Data
	}
	return ce
}

// onDisconnect handles the server's DISCONNECT: the socket is disconnected
// with "io server disconnect" and does not reconnect.
func (ss *session) onDisconnect(nsp string) {
	m := ss.m
	m.mu.Lock()
	if ss.v4 && nsp == "/" {
		ss.root = rootGone
	}
	s := m.sockets[nsp]
	if s == nil || s.sess != ss || !s.connected {
		m.mu.Unlock()
		return
	}
	s.disconnectLocked(ReasonIOServerDisconnect)
	s.deactivateLocked(nil)
	idle := m.closeIfIdleLocked(ss)
	m.mu.Unlock()
	if idle != nil {
		_ = idle.conn.Close()
	}
}

// onEvent queues the handlers of an event for a connected socket.
func (ss *session) onEvent(nsp, event string, args socketio.Args, id int64) {
	m := ss.m
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sockets[nsp]
	if s == nil || s.sess != ss || !s.connected {
		return // dropped, as the server drops packets after a disconnect
	}
	var ack socketio.Ack
	if id >= 0 {
		ack = s.ackFunc(ss, id)
	}
	m.runLocked(func() { s.handleEvent(event, args, ack) })
}

// onAck resolves an acknowledgement on the reader goroutine, so a handler
// waiting in EmitWithAck gets its reply.
func (ss *session) onAck(nsp string, p *socketio.Packet) {
	m := ss.m
	m.mu.Lock()
	var ch chan ackResult
	if s := m.sockets[nsp]; s != nil && s.sess == ss {
		ch = s.acks[p.ID]
		delete(s.acks, p.ID)
	}
	m.mu.Unlock()
	if ch == nil {
		return // late or unknown: dropped
	}
	args, err := p.Args()
	if err != nil {
		ch <- ackResult{err: err}
		ss.fail(err)
		return
	}
	ch <- ackResult{args: args}
}

// onClose handles the end of the connection: its sockets disconnect with
// the reason, and unless the manager closed it on purpose it reconnects.
func (ss *session) onClose(reason engineio.Reason, err error) {
	<-ss.ready
	m := ss.m
	m.mu.Lock()
	defer m.mu.Unlock()
	current := m.sess == ss
	if current {
		m.sess = nil
	}
	if ss.abortReason != "" {
		reason, err = ss.abortReason, ss.abortErr
	}
	for _, s := range m.sockets {
		if s.sess != ss {
			continue
		}
		s.sess = nil
		if s.connected {
			s.disconnectLocked(string(reason))
		}
	}
	if !current || ss.closedByUs || m.closed || !m.activeLocked() {
		return
	}
	if m.opts.DisableReconnection {
		cerr := &CloseError{Reason: reason, Err: err}
		for _, s := range m.sockets {
			s.deactivateLocked(cerr)
		}
		return
	}
	if !m.dialing {
		m.dialing = true
		d := m.nextDelayLocked()
		m.attempts++
		go m.connectLoop(d)
	}
}
