package socketio

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
)

// Middleware runs before a socket connects to a namespace. It may inspect
// s.Handshake(), set s.SetData, and refuse the connection by returning an
// error (a *ConnectError to send data with it). ctx ends if the client goes
// away or the server closes.
type Middleware func(ctx context.Context, s *Socket) error

// Namespace is a communication channel multiplexed over the connections:
// its own sockets, middleware, handlers, rooms and adapter.
type Namespace struct {
	name   string
	server *Server
	parent *ParentNamespace
	// adapter is set once at creation.
	adapter Adapter
	ids     atomic.Int64 // acknowledgement ids, shared by all sockets (as Node)
	rec     *recovery    // nil unless Options.ConnectionStateRecovery
	recOnce sync.Once

	mu          sync.RWMutex
	sockets     map[SocketID]*Socket
	middlewares []Middleware
	onConnect   []func(*Socket)
	serverSide  map[string]ServerSideHandler
}

func newNamespace(s *Server, name string, parent *ParentNamespace) *Namespace {
	n := &Namespace{name: name, server: s, parent: parent, sockets: make(map[SocketID]*Socket)}
	n.adapter = s.opts.Adapter(n)
	if o := s.opts.ConnectionStateRecovery; o != nil && name != "" {
		n.rec = newRecovery(o)
	}
	return n
}

// Name returns the namespace's name ("/", "/chat").
func (n *Namespace) Name() string { return n.name }

// Server returns the server the namespace belongs to.
func (n *Namespace) Server() *Server { return n.server }

// Adapter returns the namespace's adapter.
func (n *Namespace) Adapter() Adapter { return n.adapter }

// Use adds a connection middleware; middlewares run in the order added.
func (n *Namespace) Use(mw Middleware) {
	n.mu.Lock()
	n.middlewares = append(n.middlewares, mw)
	n.mu.Unlock()
}

// OnConnection registers fn to run for every socket that connects. It runs
// before any event of the socket is handled, so it is where handlers are
// registered.
func (n *Namespace) OnConnection(fn func(*Socket)) {
	n.mu.Lock()
	n.onConnect = append(n.onConnect, fn)
	n.mu.Unlock()
}

// Sockets returns the namespace's local sockets.
func (n *Namespace) Sockets() []*Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]*Socket, 0, len(n.sockets))
	for _, s := range n.sockets {
		out = append(out, s)
	}
	return out
}

func (n *Namespace) socket(id SocketID) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

// Socket returns the local socket with the given id, or nil.
func (n *Namespace) Socket(id SocketID) *Socket { return n.socket(id) }

func (n *Namespace) chain() ([]Middleware, []func(*Socket)) {
	var mws []Middleware
	var fns []func(*Socket)
	if p := n.parent; p != nil {
		mws, fns = p.Namespace.chain()
	}
	n.mu.RLock()
	mws = append(mws, n.middlewares...)
	fns = append(fns, n.onConnect...)
	n.mu.RUnlock()
	return mws, fns
}

func (n *Namespace) add(s *Socket) {
	n.mu.Lock()
	n.sockets[s.id] = s
	n.mu.Unlock()
	n.adapter.AddAll(s.id, []Room{Room(s.id)})
}

func (n *Namespace) remove(s *Socket) {
	n.mu.Lock()
	if n.sockets[s.id] == s {
		delete(n.sockets, s.id)
	}
	empty := len(n.sockets) == 0
	n.mu.Unlock()
	if empty && n.parent != nil && n.server.opts.CleanupEmptyChildNamespaces {
		n.parent.removeIfEmpty(n)
	}
}

func (n *Namespace) nextID() int64 { return n.ids.Add(1) - 1 }

// NextAckID reserves an acknowledgement id in the namespace's sequence
// (shared by all its sockets, as Node's nsp._ids). Cluster adapters use it
// for broadcasts with acknowledgements that arrive from other servers.
func (n *Namespace) NextAckID() int64 { return n.nextID() }

func (n *Namespace) operator() BroadcastOperator { return BroadcastOperator{nsp: n} }

// To selects rooms for a broadcast (their union).
func (n *Namespace) To(rooms ...Room) BroadcastOperator { return n.operator().To(rooms...) }

// In is To.
func (n *Namespace) In(rooms ...Room) BroadcastOperator { return n.operator().To(rooms...) }

// Except excludes rooms from a broadcast.
func (n *Namespace) Except(rooms ...Room) BroadcastOperator { return n.operator().Except(rooms...) }

// Local restricts a broadcast to this server.
func (n *Namespace) Local() BroadcastOperator { return n.operator().Local() }

// Volatile marks a broadcast as droppable.
func (n *Namespace) Volatile() BroadcastOperator { return n.operator().Volatile() }

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error { return n.operator().Emit(event, args...) }

// FetchSockets describes every socket of the namespace, cluster-wide.
func (n *Namespace) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	return n.operator().FetchSockets(ctx)
}

// SocketsJoin makes every socket of the namespace join rooms.
func (n *Namespace) SocketsJoin(ctx context.Context, rooms ...Room) error {
	return n.operator().SocketsJoin(ctx, rooms...)
}

// SocketsLeave makes every socket of the namespace leave rooms.
func (n *Namespace) SocketsLeave(ctx context.Context, rooms ...Room) error {
	return n.operator().SocketsLeave(ctx, rooms...)
}

// DisconnectSockets disconnects every socket of the namespace.
func (n *Namespace) DisconnectSockets(ctx context.Context, close bool) error {
	return n.operator().DisconnectSockets(ctx, close)
}

// ParentNamespace stands for the dynamic namespaces created by
// Server.OfFunc or Server.OfRegexp. Middleware and connection handlers
// registered on it apply to every child; Emit reaches every child.
type ParentNamespace struct {
	*Namespace
	server *Server
	match  func(string, json.RawMessage) bool

	mu       sync.Mutex
	children map[string]*Namespace
}

func (p *ParentNamespace) child(name string) *Namespace {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := p.children[name]; n != nil {
		return n
	}
	n := newNamespace(p.server, name, p)
	p.children[name] = n
	return n
}

func (n *Namespace) closeRecovery() {
	if n.rec != nil {
		n.recOnce.Do(n.rec.close)
	}
}

// removeIfEmpty forgets child n if it still has no socket, and closes its
// adapter. A connection that looks the name up later gets a new namespace.
func (p *ParentNamespace) removeIfEmpty(n *Namespace) {
	p.mu.Lock()
	n.mu.RLock()
	empty := len(n.sockets) == 0
	n.mu.RUnlock()
	if !empty || p.children[n.name] != n {
		p.mu.Unlock()
		return
	}
	delete(p.children, n.name)
	p.mu.Unlock()
	n.closeRecovery()
	if err := n.adapter.Close(context.Background()); err != nil {
		n.server.opts.Logger.Warn("socketio: closing the adapter of an empty namespace", "nsp", n.name, "err", err)
	}
}

// Children returns the namespaces created so far.
func (p *ParentNamespace) Children() []*Namespace {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Namespace, 0, len(p.children))
	for _, n := range p.children {
		out = append(out, n)
	}
	return out
}

// Emit sends an event to every socket of every child namespace.
func (p *ParentNamespace) Emit(event string, args ...any) error {
	for _, n := range p.Children() {
		if err := n.Emit(event, args...); err != nil {
			return err
		}
	}
	return nil
}
