package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/heraldio/herald/engineio"
)

// Options configures a Server. The zero value is valid; each field documents
// its default, which is Node's where Node has one. NewServer copies them.
type Options struct {
	// Engine configures the Engine.IO layer (heartbeats, payload limits,
	// transports, CORS...). Nil means engineio's defaults.
	Engine *engineio.Options
	// ConnectTimeout closes a connection that has joined no namespace in
	// this time. Zero means 45s.
	ConnectTimeout time.Duration
	// Adapter makes the adapter of each namespace. Nil means
	// NewMemoryAdapter.
	Adapter func(nsp *Namespace) Adapter
	// ConnectionStateRecovery, when set, lets clients that lose their
	// connection recover their socket and missed events. Nil turns it off,
	// as in Node.
	ConnectionStateRecovery *RecoveryOptions
	// Parser encodes and decodes packets; every client must use the same.
	// Nil means JSONParser; MsgpackParser matches socket.io-msgpack-parser.
	Parser Parser
	// CleanupEmptyChildNamespaces removes a namespace created by a
	// ParentNamespace (OfFunc, OfRegexp) when its last socket leaves, and
	// closes its adapter (Node's cleanupEmptyChildNamespaces). False keeps
	// them, as Node does by default.
	CleanupEmptyChildNamespaces bool
	// MaxNamespacesPerClient bounds the namespaces one connection may join
	// at once. A CONNECT past it is refused with a CONNECT_ERROR whose
	// message is "too many namespaces" (ErrTooManyNamespaces); the
	// connection stays. Zero means DefaultMaxNamespacesPerClient (100);
	// negative means no limit.
	MaxNamespacesPerClient int
	// MaxRoomsPerSocket bounds the rooms a socket is in, not counting the
	// room of its own id. A Socket.Join past it joins nothing and returns
	// ErrTooManyRooms. Zero means DefaultMaxRoomsPerSocket (1000); negative
	// means no limit.
	MaxRoomsPerSocket int
	// PacketRate bounds the packets a client sends with a token bucket.
	// The first packet over it disconnects the client: each of its sockets
	// gets ErrRateLimited in its OnError handlers and then disconnects with
	// reason "forced server close"; the client receives a DISCONNECT for
	// each namespace ("io server disconnect", so it does not reconnect by
	// itself) and its connection closes. Nil means 100 packets a second
	// with bursts of 1000 (see PacketRate); PerSecond < 0 turns it off.
	PacketRate *PacketRate
	// Logger receives diagnostics. Nil means slog.Default().
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 45 * time.Second
	}
	if c.Adapter == nil {
		c.Adapter = NewMemoryAdapter
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Parser == nil {
		c.Parser = JSONParser
	}
	if c.ConnectionStateRecovery != nil {
		c.ConnectionStateRecovery = c.ConnectionStateRecovery.withDefaults()
	}
	if c.MaxNamespacesPerClient == 0 {
		c.MaxNamespacesPerClient = DefaultMaxNamespacesPerClient
	}
	if c.MaxRoomsPerSocket == 0 {
		c.MaxRoomsPerSocket = DefaultMaxRoomsPerSocket
	}
	c.PacketRate = c.PacketRate.withDefaults()
	return c
}

// Server is a Socket.IO server speaking protocol 5 (socket.io-client 3 and
// 4, Engine.IO 4) and protocol 4 (socket.io-client 2, Engine.IO 3) at once.
// It is an http.Handler: mount it at "/socket.io/". Its methods on the
// main namespace ("/") are shortcuts for Of("/"). A Server is safe for
// concurrent use.
type Server struct {
	opts   Options
	engine *engineio.Server

	mu      sync.RWMutex
	nsps    map[string]*Namespace
	parents []*ParentNamespace
	closed  bool
	root    *Namespace
	clients map[*client]struct{}

	workers workers // run the clients' task queues (workers.go)
}

func (s *Server) track(c *client, open bool) {
	s.mu.Lock()
	if open {
		s.clients[c] = struct{}{}
	} else {
		delete(s.clients, c)
	}
	s.mu.Unlock()
}

// NewServer returns a Server; opts may be nil.
func NewServer(opts *Options) *Server {
	s := &Server{opts: opts.withDefaults(), nsps: make(map[string]*Namespace), clients: make(map[*client]struct{})}
	s.engine = engineio.NewServer(engineHandler{s}, s.opts.Engine)
	s.root = s.Of("/")
	return s
}

// ServeHTTP serves the Engine.IO endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.engine.ServeHTTP(w, r)
}

// Engine returns the underlying Engine.IO server.
func (s *Server) Engine() *engineio.Server { return s.engine }

// Of returns the namespace with the given name, creating it if needed. A
// name without a leading "/" gets one.
func (s *Server) Of(name string) *Namespace {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nsps[name]; n != nil {
		return n
	}
	n := newNamespace(s, name, nil)
	s.nsps[name] = n
	return n
}

// OfFunc returns a parent namespace whose children are created on demand
// for every namespace name that match accepts (Node's function
// namespaces). match sees the name and the auth payload of the CONNECT.
func (s *Server) OfFunc(match func(name string, auth json.RawMessage) bool) *ParentNamespace {
	p := &ParentNamespace{server: s, match: match, children: make(map[string]*Namespace)}
	p.Namespace = newNamespace(s, "", nil)
	s.mu.Lock()
	s.parents = append(s.parents, p)
	s.mu.Unlock()
	return p
}

// OfRegexp returns a parent namespace for the names re matches (Node's
// regular-expression namespaces).
func (s *Server) OfRegexp(re *regexp.Regexp) *ParentNamespace {
	return s.OfFunc(func(name string, _ json.RawMessage) bool { return re.MatchString(name) })
}

// lookup finds or, through a parent, creates the namespace for a CONNECT.
func (s *Server) lookup(name string, auth json.RawMessage) *Namespace {
	s.mu.RLock()
	n := s.nsps[name]
	parents := s.parents
	closed := s.closed
	s.mu.RUnlock()
	if n != nil || closed {
		return n
	}
	for _, p := range parents {
		if p.match(name, auth) {
			return p.child(name)
		}
	}
	return nil
}

// Use adds middleware to the main namespace.
func (s *Server) Use(mw Middleware) { s.root.Use(mw) }

// OnConnection registers a connection handler on the main namespace.
func (s *Server) OnConnection(fn func(*Socket)) { s.root.OnConnection(fn) }

// Emit sends an event to every socket of the main namespace.
func (s *Server) Emit(event string, args ...any) error { return s.root.Emit(event, args...) }

// To selects rooms of the main namespace for a broadcast.
func (s *Server) To(rooms ...Room) BroadcastOperator { return s.root.To(rooms...) }

// In is To.
func (s *Server) In(rooms ...Room) BroadcastOperator { return s.root.To(rooms...) }

// Except excludes rooms of the main namespace from a broadcast.
func (s *Server) Except(rooms ...Room) BroadcastOperator { return s.root.Except(rooms...) }

// Volatile marks a broadcast to the main namespace as droppable.
func (s *Server) Volatile() BroadcastOperator { return s.root.Volatile() }

// Local restricts a broadcast to the main namespace to this server.
func (s *Server) Local() BroadcastOperator { return s.root.Local() }

// Timeout bounds a broadcast with acknowledgements on the main namespace.
func (s *Server) Timeout(d time.Duration) BroadcastOperator { return s.root.operator().Timeout(d) }

// FetchSockets describes the sockets of the main namespace, cluster-wide.
func (s *Server) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	return s.root.FetchSockets(ctx)
}

// Close shuts the server down in Node's order: every socket is
// disconnected with reason "server shutting down", every adapter closed,
// then the engine closed (which flushes and closes the connections). It
// waits until ctx is done at most.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	var nsps []*Namespace
	for _, n := range s.nsps {
		nsps = append(nsps, n)
	}
	for _, p := range s.parents {
		p.mu.Lock()
		for _, n := range p.children {
			nsps = append(nsps, n)
		}
		p.mu.Unlock()
	}
	clients := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	// Each client disconnects its sockets after the work it has queued (a
	// CONNECT running its handlers), so every handler sees the reason.
	var errs []error
	for _, c := range clients {
		select {
		case <-c.finish(ReasonServerShuttingDown, nil, false):
		case <-ctx.Done():
		}
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	for _, n := range nsps {
		if err := n.adapter.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		n.closeRecovery()
	}
	if err := s.engine.Close(ctx); err != nil && !errors.Is(err, ctx.Err()) {
		errs = append(errs, err)
	}
	s.workers.stop()
	return errors.Join(errs...)
}
