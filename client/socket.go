package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/socketio"
)

// Disconnect reasons given to OnDisconnect handlers: the JavaScript
// client's strings. After "io server disconnect", "io client disconnect"
// and Manager.Close the socket stays disconnected; after the others the
// manager reconnects it (unless reconnection is disabled).
const (
	// ReasonIOServerDisconnect: the server disconnected the socket from its
	// namespace (a DISCONNECT packet).
	ReasonIOServerDisconnect = "io server disconnect"
	// ReasonIOClientDisconnect: Socket.Disconnect was called.
	ReasonIOClientDisconnect = "io client disconnect"
	// ReasonForcedClose: Manager.Close was called, or the application
	// closed the manager's EngineConn (which is then reconnected).
	ReasonForcedClose = "forced close"
	// ReasonTransportClose: the server closed the connection, as Node does
	// for socket.disconnect(true) and on shutdown.
	ReasonTransportClose = "transport close"
	// ReasonTransportError: the connection failed.
	ReasonTransportError = "transport error"
	// ReasonPingTimeout: the server's heartbeat lapsed.
	ReasonPingTimeout = "ping timeout"
	// ReasonParseError: the server sent something that is not Engine.IO or
	// Socket.IO.
	ReasonParseError = "parse error"
)

// SocketOptions configures Manager.Socket. The zero value, and nil, are
// valid.
type SocketOptions struct {
	// Auth is the payload of the CONNECT packet in protocol 5, sent on every
	// connection attempt; the server sees it as socket.handshake.auth. It
	// must encode (with encoding/json, when the socket is created) as a JSON
	// object. Nil sends none. Protocol 4 has no such payload: Auth is not
	// sent there; use Query.
	Auth any
	// Query is appended to the namespace of the CONNECT packet in protocol 4
	// ("40/admin?token=x,"), where the server merges it into the socket's
	// handshake query, as socket.io-client 2 does. It is not sent for "/",
	// which protocol 4 joins implicitly (use EngineOptions.Query), nor in
	// protocol 5. Nil sends none.
	Query url.Values
}

// ConnectError is the server's refusal of a namespace connection (a
// CONNECT_ERROR packet), returned by Socket.Connect and given to
// OnConnectError handlers; find it with errors.As. The socket stays
// disconnected until Connect is called again.
type ConnectError struct {
	// Namespace is the namespace refused.
	Namespace string
	// Message is the refusal's message: the error text of the server's
	// middleware in protocol 5; in protocol 4 the string the server sent, or
	// the "message" field of the data it sent ("Invalid namespace").
	Message string
	// Data is the refusal's data as JSON (Node's err.data; in protocol 4
	// the whole payload when it is not a string), or nil.
	Data json.RawMessage
}

// Error reports the namespace and the message, or the data when there is
// no message.
func (e *ConnectError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = string(e.Data)
	}
	return "client: connection to " + e.Namespace + " refused: " + msg
}

// EventHandler handles an event from the server. args are its arguments,
// decoded on demand (socketio.Arg, Args.Decode, Args.Bytes); ack is non-nil
// when the server asked for an acknowledgement, and may be called once,
// from any goroutine.
type EventHandler func(args socketio.Args, ack socketio.Ack)

// AnyHandler sees every event from the server, before the event's own
// handler.
type AnyHandler func(event string, args socketio.Args)

// Socket is a connection to one namespace over its Manager's Engine.IO
// connection. Its methods are safe for concurrent use. Its handlers run on
// the manager's handler goroutine (see Manager).
//
// A socket is connected by Connect and stays wanted until Disconnect, a
// refusal or a server-side disconnect: while wanted, the manager
// reconnects it after losing the connection (OnDisconnect, then OnConnect
// again, with a new ID in protocol 5).
type Socket struct {
	m     *Manager
	nsp   string
	auth  json.RawMessage
	query string
	err   error // from encoding Auth

	// Guarded by m.mu.
	active    bool // wants to be connected
	connected bool
	id        string
	sess      *session // where its CONNECT went, while active
	waiters   []chan error
	acks      map[int64]chan ackResult
	nextAck   int64

	hmu            sync.Mutex
	handlers       map[string]EventHandler
	anyHandlers    []AnyHandler
	onConnect      []func()
	onConnectError []func(error)
	onDisconnect   []func(string)
}

type ackResult struct {
	args socketio.Args
	err  error
}

func newSocket(m *Manager, nsp string, opts *SocketOptions) *Socket {
	s := &Socket{m: m, nsp: nsp}
	if opts == nil {
		return s
	}
	if len(opts.Query) > 0 {
		s.query = opts.Query.Encode()
	}
	if opts.Auth != nil {
		b, err := json.Marshal(opts.Auth)
		switch {
		case err != nil:
			s.err = fmt.Errorf("client: auth: %w", err)
		case string(b) == "null":
		case b[0] != '{':
			s.err = fmt.Errorf("client: auth must encode as a JSON object, not %.20s", b)
		default:
			s.auth = b
		}
	}
	return s
}

// Namespace returns the socket's namespace ("/", "/admin").
func (s *Socket) Namespace() string { return s.nsp }

// Manager returns the socket's manager.
func (s *Socket) Manager() *Manager { return s.m }

// ID returns the id the server gave the socket (socket.id on the server),
// or "" while disconnected. In protocol 4 it is the Engine.IO session id,
// prefixed with "<namespace>#" outside "/".
func (s *Socket) ID() string {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.id
}

// Connected reports whether the socket is connected.
func (s *Socket) Connected() bool {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.connected
}

// Connect connects the socket, opening the manager's connection if needed,
// and waits until the server accepts (nil; OnConnect handlers are queued),
// refuses (a *ConnectError), the manager gives up (an error wrapping the
// last attempt's: ErrReconnectFailed, or with reconnection disabled the
// attempt's own error), Disconnect is called (socketio.ErrDisconnected) or
// the manager is closed (ErrClosed). Failed attempts are retried as
// ManagerOptions say, each reported to OnConnectError handlers.
//
// When ctx ends first, Connect returns its error (joined with the last
// attempt's error, if any) but the socket goes on connecting: call
// Disconnect to stop it. Connect on a connected socket returns nil at once.
func (s *Socket) Connect(ctx context.Context) error {
	m := s.m
	if m.err != nil {
		return m.err
	}
	if s.err != nil {
		return s.err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	if s.connected {
		m.mu.Unlock()
		return nil
	}
	s.active = true
	ch := make(chan error, 1)
	s.waiters = append(s.waiters, ch)
	var send *session
	if ss := m.sess; ss != nil && s.sess == nil {
		s.sess = ss
		switch {
		case !ss.v4 || s.nsp != "/":
			send = ss
		case ss.root == rootConnected:
			s.connectedLocked(rootID(ss))
		case ss.root == rootGone:
			send = ss
			ss.root = rootAwaiting
		}
	} else {
		m.openLocked()
	}
	m.mu.Unlock()
	if send != nil {
		_ = send.sendConnect(s) // a failure closes the connection, which reconnects
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
	}
	m.mu.Lock()
	s.waiters = slices.DeleteFunc(s.waiters, func(c chan error) bool { return c == ch })
	last := m.lastErr
	m.mu.Unlock()
	select {
	case err := <-ch: // answered meanwhile
		return err
	default:
	}
	if last != nil {
		return fmt.Errorf("client: connect: %w (last attempt: %w)", ctx.Err(), last)
	}
	return ctx.Err()
}

func rootID(ss *session) string { return ss.conn.ID() }

// Disconnect disconnects the socket: it sends a DISCONNECT packet if
// connected, fails pending acknowledgements and Connect calls with
// socketio.ErrDisconnected, queues OnDisconnect handlers with "io client
// disconnect", and stops reconnecting the socket. When no other socket of
// the manager is connected or connecting, the manager closes its Engine.IO
// connection. In protocol 4, disconnecting "/" makes the server close the
// whole connection (socket.io 2 semantics); the manager's other sockets
// then reconnect.
func (s *Socket) Disconnect() {
	m := s.m
	m.mu.Lock()
	ss := s.sess
	was := s.connected
	if was {
		s.disconnectLocked(ReasonIOClientDisconnect)
		if ss.v4 && s.nsp == "/" {
			ss.root = rootGone
		}
	}
	s.deactivateLocked(socketio.ErrDisconnected)
	idle := m.closeIfIdleLocked(ss)
	m.mu.Unlock()
	if was {
		_ = ss.send(&socketio.Packet{Type: socketio.PacketDisconnect, Namespace: s.nsp, ID: socketio.NoAck})
	}
	if idle != nil {
		_ = idle.conn.Close()
	}
}

// On registers the handler of event, replacing any previous one. Events
// without a handler are dropped (and their acknowledgements never sent).
func (s *Socket) On(event string, h EventHandler) {
	s.hmu.Lock()
	if s.handlers == nil {
		s.handlers = make(map[string]EventHandler)
	}
	s.handlers[event] = h
	s.hmu.Unlock()
}

// Off removes the handler of event.
func (s *Socket) Off(event string) {
	s.hmu.Lock()
	delete(s.handlers, event)
	s.hmu.Unlock()
}

// OnAny registers a handler for every event, run before the event's own.
func (s *Socket) OnAny(h AnyHandler) {
	s.hmu.Lock()
	s.anyHandlers = append(s.anyHandlers, h)
	s.hmu.Unlock()
}

// OnConnect registers fn to run each time the socket connects, before the
// handlers of any event received on that connection.
func (s *Socket) OnConnect(fn func()) {
	s.hmu.Lock()
	s.onConnect = append(s.onConnect, fn)
	s.hmu.Unlock()
}

// OnConnectError registers fn to run when a connection attempt fails: err
// is a *ConnectError when the server refused the namespace, otherwise the
// reason the Engine.IO connection could not be opened (wrapping
// ErrReconnectFailed on the last attempt).
func (s *Socket) OnConnectError(fn func(err error)) {
	s.hmu.Lock()
	s.onConnectError = append(s.onConnectError, fn)
	s.hmu.Unlock()
}

// OnDisconnect registers fn to run each time the socket disconnects, with
// one of the Reason constants, after the handlers of every event received
// before.
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.hmu.Lock()
	s.onDisconnect = append(s.onDisconnect, fn)
	s.hmu.Unlock()
}

// Emit sends an event with args, encoded as by socketio.EventPacket: values
// are marshalled with encoding/json, []byte values anywhere become binary
// attachments, and a received socketio.Args is sent again as its
// arguments. It returns once the packet is written or queued.
//
// Unlike the JavaScript client, a disconnected socket does not buffer
// events: Emit returns socketio.ErrDisconnected. It returns
// socketio.ErrReservedEvent for a reserved event name, an error matching
// socketio.ErrInvalidPacket for more than socketio.MaxAttachments binary
// values, ErrMessageTooLarge for a packet the server would not accept (the
// connection stays open) and a *CloseError when the connection is closing.
func (s *Socket) Emit(event string, args ...any) error {
	p, err := socketio.EventPacket(s.nsp, event, args...)
	if err != nil {
		return err
	}
	ss, err := s.session()
	if err != nil {
		return err
	}
	return ss.send(p)
}

func (s *Socket) session() (*session, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if !s.connected {
		return nil, socketio.ErrDisconnected
	}
	return s.sess, nil
}

// EmitWithAck sends an event asking for an acknowledgement and waits for
// it: it returns the acknowledgement's arguments, or socketio.ErrAckTimeout
// when ctx's deadline passes first (ctx.Err() when it is cancelled),
// socketio.ErrDisconnected when the socket disconnects first, or an error
// of Emit. It may be called from a handler: acknowledgements are read
// while handlers run.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (socketio.Args, error) {
	return Emitter{s: s}.EmitWithAck(ctx, event, args...)
}

// Timeout returns an emitter whose EmitWithAck waits at most d (the
// JavaScript client's socket.timeout(d)).
func (s *Socket) Timeout(d time.Duration) Emitter { return Emitter{s: s, timeout: d} }

// Emitter is a socket with emit modifiers, from Socket.Timeout. It is a
// value: each modifier returns a copy.
type Emitter struct {
	s       *Socket
	timeout time.Duration
}

// Timeout bounds EmitWithAck by d; zero means no bound but ctx's.
func (e Emitter) Timeout(d time.Duration) Emitter { e.timeout = d; return e }

// Emit sends an event; see Socket.Emit.
func (e Emitter) Emit(event string, args ...any) error { return e.s.Emit(event, args...) }

// EmitWithAck sends an event and waits for its acknowledgement, at most
// the emitter's timeout; see Socket.EmitWithAck.
func (e Emitter) EmitWithAck(ctx context.Context, event string, args ...any) (socketio.Args, error) {
	if e.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.timeout)
		defer cancel()
	}
	s, m := e.s, e.s.m
	p, err := socketio.EventPacket(s.nsp, event, args...)
	if err != nil {
		return socketio.Args{}, err
	}
	ch := make(chan ackResult, 1)
	m.mu.Lock()
	if !s.connected {
		m.mu.Unlock()
		return socketio.Args{}, socketio.ErrDisconnected
	}
	// Ids count from 0 per socket, as the JavaScript client's.
	p.ID = s.nextAck
	s.nextAck++
	if s.acks == nil {
		s.acks = make(map[int64]chan ackResult)
	}
	s.acks[p.ID] = ch
	ss := s.sess
	m.mu.Unlock()
	if err := ss.send(p); err != nil {
		s.dropAck(p.ID)
		return socketio.Args{}, err
	}
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
	}
	s.dropAck(p.ID)
	select {
	case r := <-ch: // answered meanwhile
		return r.args, r.err
	default:
	}
	if ctx.Err() == context.DeadlineExceeded {
		return socketio.Args{}, socketio.ErrAckTimeout
	}
	return socketio.Args{}, ctx.Err()
}

func (s *Socket) dropAck(id int64) {
	s.m.mu.Lock()
	delete(s.acks, id)
	s.m.mu.Unlock()
}

// ackFunc returns the function that answers the server's event id, on the
// connection the event came from.
func (s *Socket) ackFunc(ss *session, id int64) socketio.Ack {
	var sent atomic.Bool
	return func(args ...any) error {
		if !sent.CompareAndSwap(false, true) {
			return socketio.ErrAckSent
		}
		p, err := socketio.AckPacket(s.nsp, id, args...)
		if err != nil {
			return err
		}
		s.m.mu.Lock()
		ok := s.connected && s.sess == ss
		s.m.mu.Unlock()
		if !ok {
			return socketio.ErrDisconnected
		}
		return ss.send(p)
	}
}

// connectedLocked marks the socket connected, releases Connect calls and
// queues the OnConnect handlers. m.mu is held.
func (s *Socket) connectedLocked(id string) {
	s.connected = true
	s.id = id
	for _, w := range s.waiters {
		w <- nil
	}
	s.waiters = nil
	s.m.runLocked(func() {
		s.hmu.Lock()
		fns := s.onConnect
		s.hmu.Unlock()
		for _, fn := range fns {
			fn()
		}
	})
}

// disconnectLocked marks the socket disconnected, fails its pending
// acknowledgements and queues the OnDisconnect handlers. m.mu is held.
func (s *Socket) disconnectLocked(reason string) {
	s.connected = false
	s.id = ""
	for _, ch := range s.acks {
		ch <- ackResult{err: socketio.ErrDisconnected}
	}
	s.acks = nil
	s.m.runLocked(func() {
		s.hmu.Lock()
		fns := s.onDisconnect
		s.hmu.Unlock()
		for _, fn := range fns {
			fn(reason)
		}
	})
}

// connectErrorLocked queues the OnConnectError handlers. m.mu is held.
func (s *Socket) connectErrorLocked(err error) {
	s.m.runLocked(func() {
		s.hmu.Lock()
		fns := s.onConnectError
		s.hmu.Unlock()
		for _, fn := range fns {
			fn(err)
		}
	})
}

// deactivateLocked stops the socket from wanting a connection and answers
// pending Connect calls with err. m.mu is held.
func (s *Socket) deactivateLocked(err error) {
	s.active = false
	s.sess = nil
	for _, w := range s.waiters {
		w <- err
	}
	s.waiters = nil
}

// handleEvent runs the handlers of an event, on the handler goroutine.
func (s *Socket) handleEvent(event string, args socketio.Args, ack socketio.Ack) {
	s.hmu.Lock()
	anys, h := s.anyHandlers, s.handlers[event]
	s.hmu.Unlock()
	for _, fn := range anys {
		fn(event, args)
	}
	if h != nil {
		h(args, ack)
	}
}

// DialOptions configures Dial. The zero value, and nil, are valid.
type DialOptions struct {
	// Manager configures the socket's own manager.
	Manager ManagerOptions
	// Socket configures the socket.
	Socket SocketOptions
}

// Dial connects to the namespace named by rawURL's path ("/" when empty)
// of the Socket.IO server at rawURL, over a manager of its own, and returns
// the connected socket; see NewManager for the URL and Socket.Connect for
// the errors. On failure the manager is closed. Close the socket's Manager
// when done with it. opts may be nil.
//
// Events the server sends as the socket connects may arrive before the
// caller's handlers are registered; to catch those, register handlers on
// Manager.Socket before calling Connect.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Socket, error) {
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	m := NewManager(rawURL, &o.Manager)
	s := m.Socket(u.Path, &o.Socket)
	if err := s.Connect(ctx); err != nil {
		_ = m.Close()
		<-m.Done()
		return nil, err
	}
	return s, nil
}
