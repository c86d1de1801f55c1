package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/engineio"
)

// Handshake is what a socket knows of its connection's first request and
// of its CONNECT packet, as Node's socket.handshake.
type Handshake struct {
	Header  http.Header
	Query   url.Values
	Auth    json.RawMessage // the CONNECT payload; {} when there was none
	Address string          // the client's IP address
	Time    time.Time
	URL     string
	Secure  bool
	XDomain bool // an Origin header was present
}

// EventHandler handles one event. args are the event's arguments, decoded
// on demand; ack is non-nil when the client asked for an acknowledgement.
// Handlers of a client run one at a time in arrival order; a handler may
// block (even on EmitWithAck to the same client) without stopping the
// connection's reads, but it delays that client's later events.
type EventHandler func(s *Socket, args Args, ack Ack)

// Ack sends an acknowledgement with the given arguments. It may be called
// once, from any goroutine; later calls return ErrAckSent.
type Ack func(args ...any) error

// AnyHandler sees every event: incoming ones for OnAny, outgoing ones for
// OnAnyOutgoing.
type AnyHandler func(s *Socket, event string, args Args)

// PacketMiddleware runs for each incoming event before its handler; an
// error stops the event and goes to the OnError handlers (the socket
// stays connected, as in Node).
type PacketMiddleware func(s *Socket, event string, args Args) error

// Socket is one client's connection to one namespace. Its methods are
// safe for concurrent use.
type Socket struct {
	id        SocketID
	nsp       *Namespace
	client    *client
	auth      json.RawMessage
	nspQuery  url.Values // protocol 4: the query string of the CONNECT namespace
	pid       string     // private id for connection state recovery
	recovered bool
	connected atomic.Bool

	mu       sync.RWMutex
	data     any
	handlers smallMap[string, EventHandler]
	hooks    *socketHooks // nil until one is registered
	acks     map[int64]func(Args, error)
	closing  bool

	joinMu sync.Mutex // serializes Join, so MaxRoomsPerSocket holds
}

// socketHooks are the handlers a socket may have besides its events',
// apart so that a socket without any does not carry their slots (an idle
// connection's memory counts).
type socketHooks struct {
	anyIn           []AnyHandler
	anyOut          []AnyHandler
	middlewares     []PacketMiddleware
	onError         []func(*Socket, error)
	onDisconnect    []func(*Socket, string)
	onDisconnecting []func(*Socket, string)
}

// hooksLocked returns s.hooks, allocating them; s.mu is held.
func (s *Socket) hooksLocked() *socketHooks {
	if s.hooks == nil {
		s.hooks = new(socketHooks)
	}
	return s.hooks
}

// readHooks returns what get reads from the socket's hooks, the zero value
// when there are none.
func readHooks[T any](s *Socket, get func(*socketHooks) T) T {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.hooks == nil {
		var zero T
		return zero
	}
	return get(s.hooks)
}

func newSocket(nsp *Namespace, c *client, auth json.RawMessage, nspQuery url.Values) *Socket {
	s := &Socket{nsp: nsp, client: c, auth: auth, nspQuery: nspQuery}
	switch {
	case c.protocol == 4 && nsp.name == "/":
		s.id = SocketID(c.conn.ID())
	case c.protocol == 4:
		s.id = SocketID(nsp.name + "#" + c.conn.ID())
	default:
		s.id = newSocketID()
	}
	return s
}

func newSocketID() SocketID {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return SocketID(base64.RawURLEncoding.EncodeToString(b[:]))
}

// ID returns the socket id: random for protocol 5 clients; the Engine.IO
// session id (prefixed with "<namespace>#" outside "/") for v2 clients.
func (s *Socket) ID() SocketID { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake describes the request that opened the connection and the
// CONNECT packet. It is built anew on each call (an idle socket keeps only
// a compact record); the caller owns the result.
func (s *Socket) Handshake() *Handshake {
	eh := s.client.conn.Handshake()
	for k, v := range s.nspQuery {
		eh.Query[k] = v
	}
	return &Handshake{
		Header:  eh.Header,
		Query:   eh.Query,
		Auth:    s.auth,
		Address: eh.RemoteAddr,
		Time:    eh.Time,
		URL:     eh.URL,
		Secure:  eh.Secure,
		XDomain: eh.Header.Get("Origin") != "",
	}
}

// Recovered reports whether the socket was restored by connection state
// recovery (same id, rooms and data as before its connection dropped, and
// the events it missed replayed).
func (s *Socket) Recovered() bool { return s.recovered }

// Connected reports whether the socket is connected.
func (s *Socket) Connected() bool { return s.connected.Load() }

// Transport returns the name of the connection's current transport.
func (s *Socket) Transport() string { return s.client.conn.Transport() }

// Conn returns the Engine.IO session the socket's connection runs on, as
// Node's socket.conn: closing it ends every namespace of the connection
// with "transport close" on the client, which reconnects.
func (s *Socket) Conn() *engineio.Session { return s.client.conn }

// Data returns the value SetData stored, or nil.
func (s *Socket) Data() any {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.data
}

// SetData stores application data on the socket, visible to FetchSockets.
// Cluster adapters send it to other servers as JSON.
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// On registers the handler of an event, replacing any previous one.
func (s *Socket) On(event string, h EventHandler) {
	s.mu.Lock()
	s.handlers.set(event, h)
	s.mu.Unlock()
}

// Off removes the handler of an event.
func (s *Socket) Off(event string) {
	s.mu.Lock()
	s.handlers.del(event)
	s.mu.Unlock()
}

// OnAny registers a catch-all handler for incoming events; it runs before
// the event's own handler.
func (s *Socket) OnAny(h AnyHandler) {
	s.mu.Lock()
	hk := s.hooksLocked()
	hk.anyIn = append(hk.anyIn, h)
	s.mu.Unlock()
}

// OnAnyOutgoing registers a catch-all handler for events sent to the
// socket, broadcasts included.
func (s *Socket) OnAnyOutgoing(h AnyHandler) {
	s.mu.Lock()
	hk := s.hooksLocked()
	hk.anyOut = append(hk.anyOut, h)
	s.mu.Unlock()
}

// Use adds a per-packet middleware.
func (s *Socket) Use(mw PacketMiddleware) {
	s.mu.Lock()
	hk := s.hooksLocked()
	hk.middlewares = append(hk.middlewares, mw)
	s.mu.Unlock()
}

// OnError registers a handler for errors of packet middleware.
func (s *Socket) OnError(fn func(*Socket, error)) {
	s.mu.Lock()
	hk := s.hooksLocked()
	hk.onError = append(hk.onError, fn)
	s.mu.Unlock()
}

// OnDisconnecting registers fn to run when the socket is about to
// disconnect, while its rooms are still visible.
func (s *Socket) OnDisconnecting(fn func(s *Socket, reason string)) {
	s.mu.Lock()
	hk := s.hooksLocked()
	hk.onDisconnecting = append(hk.onDisconnecting, fn)
	s.mu.Unlock()
}

// OnDisconnect registers fn to run once the socket has disconnected, with
// one of the Reason constants.
func (s *Socket) OnDisconnect(fn func(s *Socket, reason string)) {
	s.mu.Lock()
	hk := s.hooksLocked()
	hk.onDisconnect = append(hk.onDisconnect, fn)
	s.mu.Unlock()
}

// Join adds the socket to rooms. When that would put it in more than
// Options.MaxRoomsPerSocket rooms (its own room not counted), it joins
// none of them and returns an error wrapping ErrTooManyRooms.
func (s *Socket) Join(rooms ...Room) error {
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	if err := s.checkRooms(rooms); err != nil {
		return err
	}
	s.nsp.adapter.AddAll(s.id, rooms)
	return nil
}

// Leave removes the socket from room.
func (s *Socket) Leave(room Room) { s.nsp.adapter.Del(s.id, room) }

// Rooms returns the rooms the socket is in, its own included.
func (s *Socket) Rooms() []Room { return s.nsp.adapter.SocketRooms(s.id) }

// To starts a broadcast to rooms that leaves this socket out.
func (s *Socket) To(rooms ...Room) BroadcastOperator {
	return s.nsp.operator().Except(Room(s.id)).To(rooms...)
}

// In is To.
func (s *Socket) In(rooms ...Room) BroadcastOperator { return s.To(rooms...) }

// Except starts a broadcast to every socket but this one and those in rooms.
func (s *Socket) Except(rooms ...Room) BroadcastOperator {
	return s.nsp.operator().Except(Room(s.id)).Except(rooms...)
}

// Broadcast starts a broadcast to every other socket of the namespace.
func (s *Socket) Broadcast() BroadcastOperator { return s.nsp.operator().Except(Room(s.id)) }

// Emit sends an event to this socket. It does not wait for the network.
func (s *Socket) Emit(event string, args ...any) error {
	return s.emit(event, args, NoAck, false, false)
}

// Volatile returns an emitter whose events are dropped if the client
// cannot take them at once.
func (s *Socket) Volatile() SocketEmitter { return SocketEmitter{s: s, volatile: true} }

// Timeout returns an emitter whose EmitWithAck waits at most d.
func (s *Socket) Timeout(d time.Duration) SocketEmitter { return SocketEmitter{s: s, timeout: d} }

// Compress returns an emitter that compresses (or not) its packets when
// permessage-deflate is on.
func (s *Socket) Compress(on bool) SocketEmitter { return SocketEmitter{s: s, noCompress: !on} }

// EmitWithAck sends an event and waits for the client's acknowledgement,
// until ctx ends (ErrAckTimeout when ctx's deadline passed) or the socket
// disconnects (ErrDisconnected).
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (Args, error) {
	return SocketEmitter{s: s}.EmitWithAck(ctx, event, args...)
}

// SocketEmitter is a socket with emit modifiers, from Socket.Volatile,
// Timeout or Compress. It is a value: each modifier returns a copy.
type SocketEmitter struct {
	s          *Socket
	volatile   bool
	noCompress bool
	timeout    time.Duration
}

// Volatile marks the events as droppable.
func (e SocketEmitter) Volatile() SocketEmitter { e.volatile = true; return e }

// Timeout bounds EmitWithAck.
func (e SocketEmitter) Timeout(d time.Duration) SocketEmitter { e.timeout = d; return e }

// Compress sets whether packets may be compressed.
func (e SocketEmitter) Compress(on bool) SocketEmitter { e.noCompress = !on; return e }

// Emit sends an event.
func (e SocketEmitter) Emit(event string, args ...any) error {
	return e.s.emit(event, args, NoAck, e.volatile, e.noCompress)
}

// EmitWithAck sends an event and waits for its acknowledgement; see
// Socket.EmitWithAck.
func (e SocketEmitter) EmitWithAck(ctx context.Context, event string, args ...any) (Args, error) {
	if e.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.timeout)
		defer cancel()
	}
	type result struct {
		args Args
		err  error
	}
	done := make(chan result, 1)
	s := e.s
	id := s.nsp.nextID()
	if !s.addAck(id, func(a Args, err error) { done <- result{a, err} }) {
		return Args{}, ErrDisconnected
	}
	if err := s.emit(event, args, id, e.volatile, e.noCompress); err != nil {
		s.takeAck(id)
		return Args{}, err
	}
	select {
	case r := <-done:
		return r.args, r.err
	case <-ctx.Done():
		s.takeAck(id)
		if ctx.Err() == context.DeadlineExceeded {
			return Args{}, ErrAckTimeout
		}
		return Args{}, ctx.Err()
	}
}

func (s *Socket) emit(event string, args []any, id int64, volatile, noCompress bool) error {
	if reservedEvents[event] {
		return fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	if !s.connected.Load() {
		return ErrDisconnected
	}
	p, err := newEventPacket(s.nsp.name, event, args)
	if err != nil {
		return err
	}
	p.ID = id
	if r := s.nsp.rec; r != nil && !volatile {
		p = r.record(p, BroadcastOptions{Rooms: []Room{Room(s.id)}})
	}
	s.deliver(p, s.nsp.server.encode(p, noCompress), volatile)
	return nil
}

// newEventPacket encodes an event with its arguments.
func newEventPacket(nsp, event string, args []any) (*Packet, error) {
	var atts [][]byte
	data, err := appendArgs(make([]byte, 0, argsSize(event, args)), event, args, &atts)
	if err != nil {
		return nil, err
	}
	p := &Packet{Type: PacketEvent, Namespace: nsp, ID: NoAck, Data: data, Attachments: atts}
	if len(atts) > 0 {
		p.Type = PacketBinaryEvent
	}
	return p, nil
}

// deliver writes an encoded packet to the socket's connection and tells
// the outgoing catch-all handlers.
func (s *Socket) deliver(p *Packet, msgs []*engineio.Message, volatile bool) {
	if !s.connected.Load() {
		return
	}
	out := readHooks(s, func(h *socketHooks) []AnyHandler { return h.anyOut })
	if len(out) > 0 && (p.Type == PacketEvent || p.Type == PacketBinaryEvent) {
		if event, args, err := splitEvent(p); err == nil {
			for _, h := range out {
				h(s, event, args)
			}
		}
	}
	s.client.write(msgs, volatile)
}

func splitEvent(p *Packet) (string, Args, error) {
	elems, err := splitArray(p.Data)
	if err != nil || len(elems) == 0 {
		return "", Args{}, invalid("bad event payload")
	}
	if name, ok := plainString(elems[0]); ok {
		return name, Args{raw: elems[1:], attachments: p.Attachments}, nil
	}
	var event string
	if err := json.Unmarshal(elems[0], &event); err != nil {
		event = string(elems[0])
	}
	return event, Args{raw: elems[1:], attachments: p.Attachments}, nil
}

// onEvent runs an incoming event: packet middleware, catch-alls, handler.
func (s *Socket) onEvent(p *Packet) {
	if !s.connected.Load() {
		return // dropped silently after disconnect, as Node does
	}
	event, args, err := splitEvent(p)
	if err != nil {
		s.client.fail(err)
		return
	}
	s.mu.RLock()
	h, _ := s.handlers.get(event)
	var mws []PacketMiddleware
	var anyIn []AnyHandler
	if hk := s.hooks; hk != nil {
		mws, anyIn = hk.middlewares, hk.anyIn
	}
	s.mu.RUnlock()
	for _, mw := range mws {
		if err := mw(s, event, args); err != nil {
			s.reportError(err)
			return
		}
	}
	for _, fn := range anyIn {
		fn(s, event, args)
	}
	if h == nil {
		return
	}
	var ack Ack
	if p.ID >= 0 {
		ack = s.ackFunc(p.ID)
	}
	h(s, args, ack)
}

func (s *Socket) ackFunc(id int64) Ack {
	var sent atomic.Bool
	return func(args ...any) error {
		if !sent.CompareAndSwap(false, true) {
			return ErrAckSent
		}
		p, err := AckPacket(s.nsp.name, id, args...)
		if err != nil {
			return err
		}
		if !s.connected.Load() {
			return ErrDisconnected
		}
		s.client.write(s.nsp.server.encode(p, false), false)
		return nil
	}
}

func (s *Socket) addAck(id int64, fn func(Args, error)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if s.acks == nil {
		s.acks = make(map[int64]func(Args, error))
	}
	s.acks[id] = fn
	return true
}

func (s *Socket) takeAck(id int64) func(Args, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn := s.acks[id]
	delete(s.acks, id)
	return fn
}

// registerAck expects one reply to a broadcast with acknowledgement. The
// broadcaster removes the entry with takeAck when its context ends.
func (s *Socket) registerAck(id int64, onAck func(Args)) bool {
	return s.addAck(id, func(a Args, err error) {
		if err == nil {
			onAck(a)
		}
	})
}

func (s *Socket) onAck(p *Packet) {
	fn := s.takeAck(p.ID)
	if fn == nil {
		return // late or unknown: dropped
	}
	args, err := p.Args()
	if err != nil {
		s.client.fail(err)
		return
	}
	fn(args, nil)
}

// Disconnect disconnects the socket from its namespace, telling the client
// (reason "server namespace disconnect"). With close, it closes the whole
// connection instead, and every socket on it gets "forced server close".
func (s *Socket) Disconnect(close bool) {
	if !s.connected.Load() {
		return
	}
	if close {
		// As Node's client._disconnect: each socket of the connection is
		// told (DISCONNECT) before the connection closes, so clients see
		// "io server disconnect", not "transport close".
		socks := s.client.socketList()
		for _, x := range socks {
			s.client.send(&Packet{Type: PacketDisconnect, Namespace: x.nsp.name, ID: NoAck})
		}
		s.client.closeAll(ReasonForcedServerClose, nil)
		s.client.conn.Close()
		return
	}
	s.client.send(&Packet{Type: PacketDisconnect, Namespace: s.nsp.name, ID: NoAck})
	s.onClose(ReasonServerNamespaceDisconnect, nil)
}

// onClose runs the disconnection: "disconnecting" handlers with the rooms
// still there, then leaving rooms, failing pending acknowledgements, and
// the "disconnect" handlers.
func (s *Socket) onClose(reason string, _ error) {
	if !s.connected.CompareAndSwap(true, false) {
		return
	}
	s.mu.Lock()
	s.closing = true
	var before, after []func(*Socket, string)
	if h := s.hooks; h != nil {
		before = h.onDisconnecting
	}
	s.mu.Unlock()
	for _, fn := range before {
		fn(s, reason)
	}
	if r := s.nsp.rec; r != nil && recoverable[reason] {
		r.save(s, s.Rooms())
	}
	s.nsp.adapter.DelAll(s.id)
	s.nsp.remove(s)
	s.client.remove(s)
	s.mu.Lock()
	acks := s.acks
	s.acks = nil
	if h := s.hooks; h != nil {
		after = h.onDisconnect
	}
	s.mu.Unlock()
	for _, fn := range acks {
		fn(Args{}, ErrDisconnected)
	}
	for _, fn := range after {
		fn(s, reason)
	}
}

func (s *Socket) info() SocketInfo {
	return SocketInfo{ID: s.id, Handshake: s.Handshake(), Rooms: s.Rooms(), Data: s.Data()}
}

func (s *Socket) reportError(err error) {
	fns := readHooks(s, func(h *socketHooks) []func(*Socket, error) { return h.onError })
	for _, fn := range fns {
		fn(s, err)
	}
}
