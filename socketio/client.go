package socketio

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/heraldio/herald/engineio"
)

// Disconnect reasons, Node's strings (socket.io docs, "disconnect" event).
const (
	ReasonTransportError            = "transport error"
	ReasonTransportClose            = "transport close"
	ReasonForcedClose               = "forced close"
	ReasonPingTimeout               = "ping timeout"
	ReasonParseError                = "parse error"
	ReasonServerShuttingDown        = "server shutting down"
	ReasonForcedServerClose         = "forced server close"
	ReasonClientNamespaceDisconnect = "client namespace disconnect"
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
)

// engineHandler connects the Engine.IO server to Socket.IO clients.
type engineHandler struct{ srv *Server }

func (h engineHandler) OnOpen(es *engineio.Session) {
	c := &client{srv: h.srv, conn: es, decoder: h.srv.opts.Parser.NewDecoder()}
	c.waiting.L = &c.mu
	if es.Protocol() == 3 {
		c.protocol = 4
	} else {
		c.protocol = 5
	}
	es.SetValue(c)
	h.srv.track(c, true)
	if c.protocol == 4 {
		// Socket.IO v2 clients are connected to "/" implicitly.
		c.run(0, func() { c.connect("/", nil) })
		return
	}
	c.mu.Lock()
	c.timer = time.AfterFunc(h.srv.opts.ConnectTimeout, c.connectTimeout)
	c.mu.Unlock()
}

func (h engineHandler) OnMessage(es *engineio.Session, data []byte, binary bool) {
	if c, ok := es.Value().(*client); ok {
		c.onMessage(data, binary)
	}
}

func (h engineHandler) OnClose(es *engineio.Session, reason engineio.Reason, err error) {
	if c, ok := es.Value().(*client); ok {
		c.onEngineClose(string(reason), err)
	}
}

// client is one Engine.IO connection and the sockets multiplexed on it.
// Packets are decoded on the engine's reader; acknowledgements are
// resolved there too, while connects and events run one at a time, in
// order, on a goroutine started when there is work (so a handler that
// waits for an acknowledgement from its own client does not block the
// reader that would receive it).
type client struct {
	srv      *Server
	conn     *engineio.Session
	protocol int                // Socket.IO protocol: 5, or 4 for Engine.IO 3 clients
	ctx      context.Context    // for middleware, made on first use (c.context)
	cancel   context.CancelFunc // nil until ctx is made
	gone     bool               // the connection closed: ctx is canceled at once

	mu      sync.Mutex
	sockets smallMap[string, *Socket] // by namespace
	timer   *time.Timer               // connect timeout, until a first namespace joins
	decoder Decoder                   // used by the engine's reader only
	closed  bool
	tasks   []func()
	running bool
	waiting sync.Cond // the reader waits on it when tasks pile up
	rate    bucket    // Options.PacketRate (limits.go)
	pending int       // bytes of the packets queued or running (limits.go)
}

// maxPendingTasks bounds the connects and events queued for one client;
// past it the reader waits, which pushes back on the client.
const maxPendingTasks = 256

// run queues task, which carries a packet of size bytes (0 for none).
func (c *client) run(size int, task func()) {
	c.mu.Lock()
	for !c.closed && (len(c.tasks) >= maxPendingTasks || c.overPendingLocked(size)) {
		c.waiting.Wait()
	}
	if c.closed {
		c.mu.Unlock()
		return
	}
	task = c.chargeLocked(size, task)
	c.tasks = append(c.tasks, task)
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		c.srv.workers.do(c.drain)
	}
}

func (c *client) drain() {
	for {
		c.mu.Lock()
		if len(c.tasks) == 0 {
			c.running = false
			c.tasks = nil
			c.mu.Unlock()
			return
		}
		task := c.tasks[0]
		c.tasks[0] = nil
		c.tasks = c.tasks[1:]
		c.waiting.Signal()
		c.mu.Unlock()
		task()
	}
}

func (c *client) connectTimeout() {
	c.mu.Lock()
	idle := c.sockets.len() == 0 && !c.closed
	c.mu.Unlock()
	if idle {
		c.conn.Close()
	}
}

func (c *client) onMessage(data []byte, binary bool) {
	if !c.admitPacket() {
		return
	}
	p, err := c.decoder.Add(data, binary)
	switch {
	case err != nil:
		c.fail(err)
	case p != nil:
		c.dispatch(p)
	}
}

// fail closes the connection after a protocol violation.
func (c *client) fail(err error) {
	c.srv.opts.Logger.Debug("socketio: closing connection", "sid", c.conn.ID(), "err", err)
	c.finish(ReasonParseError, err, true)
}

// finish disconnects every socket with reason once the tasks already queued
// (a CONNECT still running its middleware and connection handlers, events
// that arrived first) have run, and refuses tasks queued after it. With
// closeConn it then closes the connection.
func (c *client) finish(reason string, err error, closeConn bool) <-chan struct{} {
	done := make(chan struct{})
	c.mu.Lock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.waiting.Broadcast()
	c.tasks = append(c.tasks, func() {
		c.closeAll(reason, err)
		if closeConn {
			c.conn.Close()
		}
		close(done)
	})
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		c.srv.workers.do(c.drain)
	}
	return done
}

func (c *client) socketFor(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, _ := c.sockets.get(nsp)
	return s
}

func (c *client) dispatch(p *Packet) {
	name := p.Namespace
	if c.protocol == 4 {
		name, _, _ = strings.Cut(name, "?")
	}
	size := packetBytes(p)
	switch p.Type {
	case PacketConnect:
		c.run(size, func() { c.connect(p.Namespace, p.Data) })
	case PacketDisconnect:
		if c.protocol == 4 && name == "/" {
			// A v2 client leaving "/" leaves the connection.
			c.finish(ReasonClientNamespaceDisconnect, nil, true)
			return
		}
		c.run(0, func() {
			if s := c.socketFor(name); s != nil {
				s.onClose(ReasonClientNamespaceDisconnect, nil)
			}
		})
	case PacketEvent, PacketBinaryEvent:
		s := c.socketFor(name)
		if s == nil {
			// The CONNECT may still be running: check again in order.
			c.run(size, func() {
				if s := c.socketFor(name); s != nil {
					s.onEvent(p)
				} else {
					c.fail(invalid("event for namespace %q, not connected", name))
				}
			})
			return
		}
		c.run(size, func() { s.onEvent(p) })
	case PacketAck, PacketBinaryAck:
		if s := c.socketFor(name); s != nil {
			s.onAck(p)
		}
	default:
		c.fail(invalid("unexpected packet type %d from client", p.Type))
	}
}

// connect runs the connection of a socket to namespace name: lookup,
// middleware, registration, reply, then the connection handlers.
func (c *client) connect(name string, auth json.RawMessage) {
	query := url.Values(nil)
	if c.protocol == 4 {
		var q string
		name, q, _ = strings.Cut(name, "?")
		if q != "" {
			query, _ = url.ParseQuery(q)
		}
	}
	if c.socketFor(name) != nil {
		if c.protocol == 5 {
			c.fail(invalid("already connected to %q", name))
		}
		return
	}
	if refusal := c.namespaceLimitError(); refusal != nil {
		c.send(&Packet{Type: PacketConnectError, Namespace: name, ID: NoAck, Data: refusal})
		return
	}
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	nsp := c.srv.lookup(name, auth)
	if nsp == nil {
		c.send(&Packet{Type: PacketConnectError, Namespace: name, ID: NoAck, Data: json.RawMessage(`{"message":"Invalid namespace"}`)})
		return
	}
	s := newSocket(nsp, c, auth, query)
	var saved *savedSession
	var missed []*Packet
	if nsp.rec != nil && c.protocol == 5 {
		var creds struct {
			PID    string `json:"pid"`
			Offset string `json:"offset"`
		}
		_ = json.Unmarshal(auth, &creds)
		if sv, pkts, ok := nsp.rec.restore(creds.PID, creds.Offset); ok {
			saved, missed = sv, pkts
			s.id, s.pid, s.recovered = sv.sid, sv.pid, true
			s.SetData(sv.data)
		} else {
			s.pid = newPrivateID()
		}
	}
	mws, handlers := nsp.chain()
	if saved != nil && !nsp.rec.opts.RunMiddlewares {
		mws = nil
	}
	var ctx context.Context
	if len(mws) > 0 {
		ctx = c.context()
	}
	for _, mw := range mws {
		if err := mw(ctx, s); err != nil {
			c.send(&Packet{Type: PacketConnectError, Namespace: name, ID: NoAck, Data: c.connectErrorData(err)})
			return
		}
	}
	// Missed events go first, before the socket can receive a live
	// broadcast (nsp.add below): a live one sent between them would arrive
	// ahead of older missed ones. The client buffers them until the CONNECT
	// reply, as with Node.
	for _, p := range missed {
		c.send(p)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.sockets.set(name, s)
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.mu.Unlock()
	nsp.add(s)
	if saved != nil {
		nsp.adapter.AddAll(s.id, saved.rooms)
	}
	s.connected.Store(true)
	reply := &Packet{Type: PacketConnect, Namespace: name, ID: NoAck}
	if c.protocol == 5 {
		reply.Data, _ = json.Marshal(struct {
			SID string `json:"sid"`
			PID string `json:"pid,omitempty"`
		}{string(s.id), s.pid})
	}
	c.send(reply)
	for _, fn := range handlers {
		fn(s)
	}
}

// connectErrorData is the payload of a CONNECT_ERROR for a middleware
// error: {"message","data"} in protocol 5; in protocol 4, as Node 4.8,
// the data when there is some, else the message as a JSON string.
func (c *client) connectErrorData(err error) json.RawMessage {
	msg := err.Error()
	var data any
	if ce, ok := err.(*ConnectError); ok {
		msg, data = ce.Message, ce.Data
	}
	if c.protocol == 4 {
		if data != nil {
			if b, err := appendJSON(nil, data); err == nil {
				return b
			}
		}
		b, _ := appendJSON(nil, msg)
		return b
	}
	v := struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}{msg, data}
	b, _ := appendJSON(nil, v)
	return b
}

// send writes one packet to this client.
func (c *client) send(p *Packet) {
	c.write(c.srv.encode(p, false), false)
}

func (c *client) write(msgs []*engineio.Message, volatile bool) bool {
	if volatile {
		// All parts of a volatile packet go, or none.
		if !c.conn.TrySend(msgs[0]) {
			return false
		}
		msgs = msgs[1:]
	}
	for _, m := range msgs {
		if c.conn.Send(m) != nil {
			return false
		}
	}
	return true
}

func (c *client) remove(s *Socket) {
	c.mu.Lock()
	if cur, _ := c.sockets.get(s.nsp.name); cur == s {
		c.sockets.del(s.nsp.name)
	}
	c.mu.Unlock()
}

// socketList returns the client's sockets.
func (c *client) socketList() []*Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	socks := make([]*Socket, 0, c.sockets.len())
	for _, s := range c.sockets.all {
		socks = append(socks, s)
	}
	return socks
}

// closeAll disconnects every socket of the client with reason.
func (c *client) closeAll(reason string, err error) {
	for _, s := range c.socketList() {
		s.onClose(reason, err)
	}
}

// context returns the client's context, which ends when its connection
// closes. It is made on first use: most connections never need one.
func (c *client) context() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		c.ctx, c.cancel = context.WithCancel(context.Background())
		if c.gone {
			c.cancel()
		}
	}
	return c.ctx
}

func (c *client) onEngineClose(reason string, err error) {
	c.mu.Lock()
	c.gone = true
	if c.cancel != nil {
		c.cancel() // middleware waiting on the client gives up now
	}
	c.mu.Unlock()
	c.finish(reason, err, false)
	c.srv.track(c, false)
}

// encode turns p into the Engine.IO messages that carry it, with the
// server's parser. The result is shared by every recipient of a broadcast.
func (s *Server) encode(p *Packet, noCompress bool) []*engineio.Message {
	msgs := s.opts.Parser.Encode(p)
	if noCompress {
		for _, m := range msgs {
			m.WithoutCompression()
		}
	}
	return msgs
}
