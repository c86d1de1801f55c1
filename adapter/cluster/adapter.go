package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/socketio"
)

// Transport carries the messages of one namespace's adapter to the other
// servers. The adapter calls Publish and PublishResponse from a single
// goroutine, one message at a time, in order; ctx bounds each call. An
// error is logged and counted by the adapter, which goes on with the next
// message (nothing is retried).
//
// Receiving is the transport's side: it hands every message of the
// namespace, its own included, to Adapter.HandleMessage.
type Transport interface {
	// Publish sends m to every server of the namespace.
	Publish(ctx context.Context, m *Message) error
	// PublishResponse sends the response m to the server whose uid is
	// requester (a transport without addressing may send it to all: the
	// others ignore it).
	PublishResponse(ctx context.Context, requester string, m *Message) error
}

// Options tune an Adapter. The zero value is valid: Node's defaults.
type Options struct {
	// RequestsTimeout bounds a cluster-wide request (FetchSockets, the
	// replies of ServerSideEmit, the client counts of a broadcast with
	// acknowledgements) when the caller's context has no earlier
	// deadline, and each Transport call. Zero means 5 * time.Second.
	RequestsTimeout time.Duration
	// HeartbeatInterval is how long the adapter may publish nothing before
	// it sends a HEARTBEAT. Zero means 5 * time.Second.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long a silent peer still counts as a server.
	// Zero means 10 * time.Second.
	HeartbeatTimeout time.Duration
	// ServerCount, when set, gives the number of servers (this one
	// included) and turns heartbeats off: the plain ClusterAdapter of the
	// sharded Redis adapter. Requests then wait for ServerCount()-1
	// responses. Nil means heartbeats count the servers.
	ServerCount func(ctx context.Context) (int, error)
	// QueueSize bounds the messages waiting to be published; when it is
	// full, new ones are dropped and counted. Zero means 1024.
	QueueSize int
	// Logger receives transport failures and recoveries. Nil means
	// slog.Default().
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.RequestsTimeout <= 0 {
		c.RequestsTimeout = 5 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Second
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = 10 * time.Second
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 1024
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// ErrTimeout reports a cluster request that did not get every expected
// response in time. Errors returned by FetchSockets wrap it.
var ErrTimeout = errors.New("cluster: timeout reached while waiting for responses")

// ErrClosed reports a call on a closed adapter.
var ErrClosed = errors.New("cluster: adapter closed")

// Stats are an adapter's counters since it was created.
type Stats struct {
	Published     uint64 // messages handed to the transport without error
	PublishErrors uint64 // transport calls that failed
	Dropped       uint64 // messages dropped because the queue was full or the adapter closed
	Received      uint64 // messages from other servers handled
}

// Adapter is a cluster adapter for one namespace; see the package doc. Its
// methods are safe for concurrent use.
type Adapter struct {
	nsp   *socketio.Namespace
	local socketio.Adapter
	t     Transport
	opts  Options
	uid   string
	log   *slog.Logger

	out  chan outgoing
	sent chan struct{} // closed when the sender has published everything
	base context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	nodes    map[string]time.Time // peer uid -> last message (heartbeat mode)
	requests map[string]*request
	acks     map[string]*ackRequest

	lastPublish atomic.Int64 // unix nanos of the last Publish queued
	failing     atomic.Bool
	stats       struct{ published, errors, dropped, received atomic.Uint64 }
}

type outgoing struct {
	m         *Message
	requester string // non-empty for a response
}

type request struct {
	typ      MessageType
	missing  map[string]bool // heartbeat mode: peers yet to answer
	expected int             // count mode: responses awaited
	sockets  []socketio.SocketInfo
	onReply  func(socketio.Args)
	done     chan struct{}
	closed   bool // ended by Close, not by the last response
}

type ackRequest struct {
	expect  func(int)
	onAck   func(socketio.Args)
	missing map[string]bool // heartbeat mode
	want    int             // count mode
	got     int
	done    chan struct{}
}

var _ socketio.Adapter = (*Adapter)(nil)

// New returns the cluster adapter of nsp, delivering locally through a new
// in-memory adapter and to the other servers through t. It starts one
// goroutine to publish and, in heartbeat mode, one for heartbeats; Close
// stops them. Call Init once t receives.
func New(nsp *socketio.Namespace, t Transport, opts *Options) *Adapter {
	o := opts.withDefaults()
	base, stop := context.WithCancel(context.Background())
	a := &Adapter{
		nsp:      nsp,
		local:    socketio.NewMemoryAdapter(nsp),
		t:        t,
		opts:     o,
		uid:      randomID(),
		log:      o.Logger.With("nsp", nsp.Name()),
		out:      make(chan outgoing, o.QueueSize),
		sent:     make(chan struct{}),
		base:     base,
		stop:     stop,
		nodes:    make(map[string]time.Time),
		requests: make(map[string]*request),
		acks:     make(map[string]*ackRequest),
	}
	a.log = a.log.With("uid", a.uid)
	a.wg.Add(1)
	go a.sender()
	if a.heartbeat() {
		a.wg.Add(1)
		go a.heartbeatLoop()
	}
	return a
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// UID returns the adapter's server id: 16 hex characters, as Node's.
func (a *Adapter) UID() string { return a.uid }

// Namespace returns the adapter's namespace.
func (a *Adapter) Namespace() *socketio.Namespace { return a.nsp }

// Stats returns the adapter's counters.
func (a *Adapter) Stats() Stats {
	return Stats{
		Published:     a.stats.published.Load(),
		PublishErrors: a.stats.errors.Load(),
		Dropped:       a.stats.dropped.Load(),
		Received:      a.stats.received.Load(),
	}
}

func (a *Adapter) heartbeat() bool { return a.opts.ServerCount == nil }

// Init announces the adapter to the cluster with an INITIAL_HEARTBEAT, to
// which every peer answers with a HEARTBEAT (heartbeat mode; otherwise it
// does nothing). Call it when the transport starts receiving, and again
// after it resubscribed following an outage.
func (a *Adapter) Init() {
	if a.heartbeat() {
		a.publish(&Message{Type: InitialHeartbeat})
	}
}

// publish queues m for every server; it never blocks.
func (a *Adapter) publish(m *Message) {
	m.UID, m.Nsp = a.uid, a.nsp.Name()
	a.lastPublish.Store(time.Now().UnixNano())
	a.enqueue(outgoing{m: m})
}

// respond queues the response m for the server requester.
func (a *Adapter) respond(requester string, m *Message) {
	m.UID, m.Nsp = a.uid, a.nsp.Name()
	a.enqueue(outgoing{m: m, requester: requester})
}

func (a *Adapter) enqueue(o outgoing) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		a.stats.dropped.Add(1)
		return
	}
	select {
	case a.out <- o:
	default:
		if a.stats.dropped.Add(1) == 1 || a.stats.dropped.Load()%1000 == 0 {
			a.log.Warn("cluster adapter: publish queue full, dropping messages",
				"type", o.m.Type.String(), "dropped", a.stats.dropped.Load())
		}
	}
}

func (a *Adapter) sender() {
	defer a.wg.Done()
	defer close(a.sent)
	for o := range a.out {
		ctx, cancel := context.WithTimeout(a.base, a.opts.RequestsTimeout)
		var err error
		if o.requester != "" {
			err = a.t.PublishResponse(ctx, o.requester, o.m)
		} else {
			err = a.t.Publish(ctx, o.m)
		}
		cancel()
		if err != nil {
			a.stats.errors.Add(1)
			if !a.failing.Swap(true) {
				a.log.Error("cluster adapter: publish failed; local delivery goes on", "type", o.m.Type.String(), "err", err)
			}
			continue
		}
		a.stats.published.Add(1)
		if a.failing.Swap(false) {
			a.log.Info("cluster adapter: publishing again", "failed", a.stats.errors.Load())
		}
	}
}

func (a *Adapter) heartbeatLoop() {
	defer a.wg.Done()
	tick := min(time.Second, a.opts.HeartbeatInterval/4, a.opts.HeartbeatTimeout/4)
	t := time.NewTicker(max(tick, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-a.base.Done():
			return
		case now := <-t.C:
			if now.Sub(time.Unix(0, a.lastPublish.Load())) >= a.opts.HeartbeatInterval {
				a.publish(&Message{Type: Heartbeat})
			}
			a.mu.Lock()
			var down []string
			for uid, seen := range a.nodes {
				if now.Sub(seen) > a.opts.HeartbeatTimeout {
					down = append(down, uid)
				}
			}
			for _, uid := range down {
				a.log.Info("cluster adapter: peer seems down", "peer", uid)
				a.removeNodeLocked(uid)
			}
			a.mu.Unlock()
		}
	}
}

// removeNodeLocked forgets a peer and completes the requests that waited
// for it only.
func (a *Adapter) removeNodeLocked(uid string) {
	delete(a.nodes, uid)
	for id, r := range a.requests {
		if r.missing != nil && r.missing[uid] {
			delete(r.missing, uid)
			if len(r.missing) == 0 {
				close(r.done)
				delete(a.requests, id)
			}
		}
	}
	for _, r := range a.acks {
		if r.missing != nil && r.missing[uid] {
			delete(r.missing, uid)
			if len(r.missing) == 0 {
				closeOnce(r.done)
			}
		}
	}
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// peers returns the uids of the known peers (heartbeat mode) or, in count
// mode, nil and the number of peers.
func (a *Adapter) peers(ctx context.Context) (map[string]bool, int, error) {
	if a.heartbeat() {
		a.mu.Lock()
		defer a.mu.Unlock()
		m := make(map[string]bool, len(a.nodes))
		for uid := range a.nodes {
			m[uid] = true
		}
		return m, len(m), nil
	}
	n, err := a.opts.ServerCount(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("cluster: server count: %w", err)
	}
	return nil, n - 1, nil
}

// AddAll implements socketio.Adapter.
func (a *Adapter) AddAll(id socketio.SocketID, rooms []socketio.Room) { a.local.AddAll(id, rooms) }

// Del implements socketio.Adapter.
func (a *Adapter) Del(id socketio.SocketID, room socketio.Room) { a.local.Del(id, room) }

// DelAll implements socketio.Adapter.
func (a *Adapter) DelAll(id socketio.SocketID) { a.local.DelAll(id) }

// SocketRooms implements socketio.Adapter.
func (a *Adapter) SocketRooms(id socketio.SocketID) []socketio.Room { return a.local.SocketRooms(id) }

// Sockets implements socketio.Adapter: local sockets only.
func (a *Adapter) Sockets(opts socketio.BroadcastOptions) []socketio.SocketID {
	return a.local.Sockets(opts)
}

func baseType(t socketio.PacketType) int {
	switch t {
	case socketio.PacketBinaryEvent:
		return int(socketio.PacketEvent)
	case socketio.PacketBinaryAck:
		return int(socketio.PacketAck)
	}
	return int(t)
}

func (a *Adapter) dataMessage(t MessageType, v any, atts [][]byte) (*Message, error) {
	data, err := marshalJSON(v)
	if err != nil {
		return nil, fmt.Errorf("cluster: encode %v: %w", t, err)
	}
	return &Message{Type: t, Data: data, Attachments: atts}, nil
}

// Broadcast implements socketio.Adapter: it queues the packet for the other
// servers (unless opts.Flags.Local) and delivers it locally.
func (a *Adapter) Broadcast(p *socketio.Packet, opts socketio.BroadcastOptions) error {
	if !opts.Flags.Local {
		m, err := a.dataMessage(Broadcast, broadcastData{
			Packet: wirePacket{Type: baseType(p.Type), Data: p.Data},
			Opts:   encodeOpts(opts),
		}, p.Attachments)
		if err != nil {
			return err
		}
		a.publish(m)
	}
	return a.local.Broadcast(p, opts)
}

// BroadcastWithAck implements socketio.Adapter. Unless opts.Flags.Local, it
// asks the other servers to broadcast too, and returns once each of them
// reported its client count through expect (or ctx ended, or
// Options.RequestsTimeout passed); their clients' replies reach onAck until
// ctx ends. The deadline of ctx travels as the "timeout" flag.
func (a *Adapter) BroadcastWithAck(ctx context.Context, p *socketio.Packet, opts socketio.BroadcastOptions, expect func(int), onAck func(socketio.Args)) error {
	if opts.Flags.Local {
		return a.local.BroadcastWithAck(ctx, p, opts, expect, onAck)
	}
	missing, n, err := a.peers(ctx)
	if err != nil {
		return err
	}
	var wait <-chan struct{}
	if n > 0 {
		timeout := a.opts.RequestsTimeout
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
		wo := encodeOpts(opts)
		wo.Flags.Timeout = millis(timeout)
		id := randomID()
		m, err := a.dataMessage(Broadcast, broadcastData{
			Packet:    wirePacket{Type: baseType(p.Type), Data: p.Data},
			RequestID: id,
			Opts:      wo,
		}, p.Attachments)
		if err != nil {
			return err
		}
		r := &ackRequest{expect: expect, onAck: onAck, missing: missing, want: n, done: make(chan struct{})}
		a.mu.Lock()
		a.acks[id] = r
		a.mu.Unlock()
		context.AfterFunc(ctx, func() {
			a.mu.Lock()
			delete(a.acks, id)
			a.mu.Unlock()
		})
		a.publish(m)
		wait = r.done
	}
	if err := a.local.BroadcastWithAck(ctx, p, opts, expect, onAck); err != nil {
		return err
	}
	if wait != nil {
		t := time.NewTimer(a.opts.RequestsTimeout)
		defer t.Stop()
		select {
		case <-wait:
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return nil
}

// FetchSockets implements socketio.Adapter: the local sockets plus those
// every other server reports. It fails with an error wrapping ErrTimeout
// when a server does not answer before ctx ends or Options.RequestsTimeout
// passes.
func (a *Adapter) FetchSockets(ctx context.Context, opts socketio.BroadcastOptions) ([]socketio.SocketInfo, error) {
	local, err := a.local.FetchSockets(ctx, opts)
	if err != nil || opts.Flags.Local {
		return local, err
	}
	missing, n, err := a.peers(ctx)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return local, nil
	}
	id := randomID()
	m, err := a.dataMessage(FetchSockets, fetchData{Opts: encodeOpts(opts), RequestID: id}, nil)
	if err != nil {
		return nil, err
	}
	r := &request{typ: FetchSockets, missing: missing, expected: n, sockets: local, done: make(chan struct{})}
	a.mu.Lock()
	a.requests[id] = r
	a.mu.Unlock()
	a.publish(m)
	t := time.NewTimer(a.opts.RequestsTimeout)
	defer t.Stop()
	select {
	case <-r.done:
		a.mu.Lock()
		defer a.mu.Unlock()
		if r.closed {
			return nil, fmt.Errorf("cluster: fetch sockets: %w", ErrClosed)
		}
		return r.sockets, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-r.done: // completed meanwhile
		if r.closed {
			return nil, fmt.Errorf("cluster: fetch sockets: %w", ErrClosed)
		}
		return r.sockets, nil
	default:
	}
	delete(a.requests, id)
	left := r.expected
	if r.missing != nil {
		left = len(r.missing)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: fetch sockets: %w (%d of %d servers did not answer): %w", ErrTimeout, left, n, err)
	}
	return nil, fmt.Errorf("cluster: fetch sockets: %w (%d of %d servers did not answer)", ErrTimeout, left, n)
}

// AddSockets implements socketio.Adapter.
func (a *Adapter) AddSockets(ctx context.Context, opts socketio.BroadcastOptions, rooms []socketio.Room) error {
	return a.roomsOp(ctx, SocketsJoin, opts, rooms, a.local.AddSockets)
}

// DelSockets implements socketio.Adapter.
func (a *Adapter) DelSockets(ctx context.Context, opts socketio.BroadcastOptions, rooms []socketio.Room) error {
	return a.roomsOp(ctx, SocketsLeave, opts, rooms, a.local.DelSockets)
}

func (a *Adapter) roomsOp(ctx context.Context, t MessageType, opts socketio.BroadcastOptions, rooms []socketio.Room,
	local func(context.Context, socketio.BroadcastOptions, []socketio.Room) error) error {
	if !opts.Flags.Local {
		rl := make(roomList, len(rooms))
		for i, r := range rooms {
			rl[i] = string(r)
		}
		m, err := a.dataMessage(t, roomsData{Opts: encodeOpts(opts), Rooms: rl}, nil)
		if err != nil {
			return err
		}
		a.publish(m)
	}
	return local(ctx, opts, rooms)
}

// DisconnectSockets implements socketio.Adapter.
func (a *Adapter) DisconnectSockets(ctx context.Context, opts socketio.BroadcastOptions, close bool) error {
	if !opts.Flags.Local {
		m, err := a.dataMessage(DisconnectSockets, disconnectData{Opts: encodeOpts(opts), Close: close}, nil)
		if err != nil {
			return err
		}
		a.publish(m)
	}
	return a.local.DisconnectSockets(ctx, opts, close)
}

// ServerSideEmit implements socketio.Adapter. With onAck, it returns the
// number of peers asked to reply; each reply (its first argument, as in
// Node) reaches onAck until ctx ends or Options.RequestsTimeout passes.
func (a *Adapter) ServerSideEmit(ctx context.Context, args []any, onAck func(socketio.Args)) (int, error) {
	p, err := socketio.AckPacket(a.nsp.Name(), socketio.NoAck, args...)
	if err != nil {
		return 0, fmt.Errorf("cluster: server-side emit: %w", err)
	}
	if onAck == nil {
		m, err := a.dataMessage(ServerSideEmit, serverSideData{Packet: p.Data}, p.Attachments)
		if err != nil {
			return 0, err
		}
		a.publish(m)
		return 0, nil
	}
	missing, n, err := a.peers(ctx)
	if err != nil || n <= 0 {
		return 0, err
	}
	id := randomID()
	m, err := a.dataMessage(ServerSideEmit, serverSideData{RequestID: id, Packet: p.Data}, p.Attachments)
	if err != nil {
		return 0, err
	}
	r := &request{typ: ServerSideEmit, missing: missing, expected: n, onReply: onAck, done: make(chan struct{})}
	a.mu.Lock()
	a.requests[id] = r
	a.mu.Unlock()
	// The entry goes when every peer answered, ctx ends or the timeout passes.
	ctx, cancel := context.WithTimeout(ctx, a.opts.RequestsTimeout)
	context.AfterFunc(ctx, func() {
		a.mu.Lock()
		delete(a.requests, id)
		a.mu.Unlock()
	})
	go func() {
		defer cancel()
		select {
		case <-r.done:
		case <-ctx.Done():
		case <-a.base.Done():
		}
	}()
	a.publish(m)
	return n, nil
}

// ServerCount implements socketio.Adapter: one plus the peers heard from
// within Options.HeartbeatTimeout, or Options.ServerCount().
func (a *Adapter) ServerCount(ctx context.Context) (int, error) {
	if !a.heartbeat() {
		return a.opts.ServerCount(ctx)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return 1 + len(a.nodes), nil
}

// Close implements socketio.Adapter: it tells the other servers (heartbeat
// mode), publishes what is queued until ctx ends, and stops the adapter's
// goroutines. Requests still waiting fail.
func (a *Adapter) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	if a.heartbeat() {
		m := &Message{Type: AdapterClose, UID: a.uid, Nsp: a.nsp.Name()}
		select {
		case a.out <- outgoing{m: m}:
		default:
			a.stats.dropped.Add(1)
		}
	}
	a.closed = true
	close(a.out)
	for id, r := range a.requests {
		r.closed = true
		close(r.done)
		delete(a.requests, id)
	}
	a.mu.Unlock()
	var err error
	select {
	case <-a.sent:
	case <-ctx.Done():
		err = ctx.Err()
	}
	a.stop() // ends the heartbeats, and a transport call still running
	a.wg.Wait()
	if err := a.local.Close(ctx); err != nil {
		return err
	}
	return err
}

// HandleMessage processes a message received from the transport: messages
// from this adapter itself are ignored, others acted on. The transport
// calls it from its receiving goroutine; it does not wait on the network
// (responses are queued) but runs server-side event handlers inline.
func (a *Adapter) HandleMessage(m *Message) {
	if m.UID == a.uid {
		return
	}
	a.stats.received.Add(1)
	if a.heartbeat() && m.UID != "" && m.UID != EmitterUID {
		a.mu.Lock()
		if !a.closed {
			a.nodes[m.UID] = time.Now()
		}
		a.mu.Unlock()
	}
	if err := a.handle(m); err != nil {
		a.log.Warn("cluster adapter: bad message", "type", m.Type.String(), "from", m.UID, "err", err)
	}
}

func (a *Adapter) handle(m *Message) error {
	switch m.Type {
	case InitialHeartbeat:
		if a.heartbeat() {
			a.publish(&Message{Type: Heartbeat})
		}
	case Heartbeat:
	case AdapterClose:
		if a.heartbeat() {
			a.mu.Lock()
			a.removeNodeLocked(m.UID)
			a.mu.Unlock()
		}
	case Broadcast:
		var d broadcastData
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return err
		}
		return a.onBroadcast(m, d)
	case SocketsJoin, SocketsLeave:
		var d roomsData
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return err
		}
		rooms := make([]socketio.Room, len(d.Rooms))
		for i, r := range d.Rooms {
			rooms[i] = socketio.Room(r)
		}
		if m.Type == SocketsJoin {
			return a.local.AddSockets(a.base, decodeOpts(d.Opts), rooms)
		}
		return a.local.DelSockets(a.base, decodeOpts(d.Opts), rooms)
	case DisconnectSockets:
		var d disconnectData
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return err
		}
		return a.local.DisconnectSockets(a.base, decodeOpts(d.Opts), d.Close)
	case FetchSockets:
		var d fetchData
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return err
		}
		return a.onFetch(m, d)
	case ServerSideEmit:
		var d serverSideData
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return err
		}
		return a.onServerSideEmit(m, d)
	case FetchSocketsResponse, ServerSideEmitResponse, BroadcastClientCount, BroadcastAck:
		return a.onResponse(m)
	default:
		return fmt.Errorf("unknown message type %d", m.Type)
	}
	return nil
}

func (a *Adapter) onBroadcast(m *Message, d broadcastData) error {
	pt := socketio.PacketEvent
	switch d.Packet.Type {
	case 2, 5:
	case 3, 6:
		pt = socketio.PacketAck
	default:
		return fmt.Errorf("broadcast of packet type %d", d.Packet.Type)
	}
	var atts [][]byte
	if bytesContainsPlaceholder(d.Packet.Data) {
		atts = m.Attachments
		pt += socketio.PacketBinaryEvent - socketio.PacketEvent
	}
	p := &socketio.Packet{Type: pt, Namespace: a.nsp.Name(), ID: socketio.NoAck, Data: d.Packet.Data, Attachments: atts}
	opts := decodeOpts(d.Opts)
	if d.RequestID == "" {
		return a.local.Broadcast(p, opts)
	}
	timeout := a.opts.RequestsTimeout
	if d.Opts.Flags.Timeout > 0 {
		timeout = time.Duration(d.Opts.Flags.Timeout) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(a.base, timeout)
	context.AfterFunc(ctx, cancel)
	p.ID = a.nsp.NextAckID() // the namespace's own sequence, as Node's nsp._ids
	requester, id := m.UID, d.RequestID
	return a.local.BroadcastWithAck(ctx, p, opts,
		func(n int) {
			if r, err := a.dataMessage(BroadcastClientCount, responseData{RequestID: id, ClientCount: &n}, nil); err == nil {
				a.respond(requester, r)
			}
		},
		func(args socketio.Args) {
			v, atts := firstArg(args)
			if r, err := a.dataMessage(BroadcastAck, responseData{RequestID: id, Packet: v}, atts); err == nil {
				a.respond(requester, r)
			}
		})
}

func bytesContainsPlaceholder(b []byte) bool {
	return len(b) > 0 && (&Message{Data: b, Attachments: [][]byte{nil}}).HasBinary()
}

func (a *Adapter) onFetch(m *Message, d fetchData) error {
	infos, err := a.local.FetchSockets(a.base, decodeOpts(d.Opts))
	if err != nil {
		return err
	}
	socks := make([]wireSocket, len(infos))
	for i, s := range infos {
		ws := wireSocket{ID: string(s.ID), Handshake: s.Handshake, Rooms: make(roomList, len(s.Rooms))}
		for j, r := range s.Rooms {
			ws.Rooms[j] = string(r)
		}
		if ws.Data, err = marshalJSON(s.Data); err != nil {
			ws.Data = json.RawMessage("null")
		}
		socks[i] = ws
	}
	r, err := a.dataMessage(FetchSocketsResponse, fetchResponseData{RequestID: d.RequestID, Sockets: socks}, nil)
	if err != nil {
		return err
	}
	a.respond(m.UID, r)
	return nil
}

func (a *Adapter) onServerSideEmit(m *Message, d serverSideData) error {
	args, err := (&socketio.Packet{Data: d.Packet, Attachments: m.Attachments}).Args()
	if err != nil {
		return err
	}
	var event string
	if err := args.Decode(0, &event); err != nil {
		return fmt.Errorf("server-side event name: %w", err)
	}
	rest, err := argsTail(d.Packet, m.Attachments)
	if err != nil {
		return err
	}
	var reply func(socketio.Args)
	if d.RequestID != "" {
		var once sync.Once
		requester, id := m.UID, d.RequestID
		reply = func(args socketio.Args) {
			once.Do(func() {
				v, atts := firstArg(args)
				if r, err := a.dataMessage(ServerSideEmitResponse, responseData{RequestID: id, Packet: v}, atts); err == nil {
					a.respond(requester, r)
				}
			})
		}
	}
	a.nsp.DispatchServerSideEvent(event, rest, reply)
	return nil
}

// argsTail returns the elements of the JSON array data after the first.
func argsTail(data json.RawMessage, atts [][]byte) (socketio.Args, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(data, &elems); err != nil {
		return socketio.Args{}, err
	}
	if len(elems) == 0 {
		return socketio.Args{}, errors.New("empty server-side packet")
	}
	b := []byte{'['}
	for i, e := range elems[1:] {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	b = append(b, ']')
	return (&socketio.Packet{Data: b, Attachments: atts}).Args()
}

func (a *Adapter) onResponse(m *Message) error {
	if m.Type == FetchSocketsResponse {
		var d fetchResponseData
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return err
		}
		infos := make([]socketio.SocketInfo, len(d.Sockets))
		for i, s := range d.Sockets {
			info := socketio.SocketInfo{ID: socketio.SocketID(s.ID), Handshake: s.Handshake, Rooms: make([]socketio.Room, len(s.Rooms))}
			for j, r := range s.Rooms {
				info.Rooms[j] = socketio.Room(r)
			}
			if len(s.Data) > 0 && string(s.Data) != "null" {
				info.Data = s.Data
			}
			infos[i] = info
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		r := a.requests[d.RequestID]
		if r == nil || r.typ != FetchSockets {
			return nil
		}
		r.sockets = append(r.sockets, infos...)
		a.answeredLocked(d.RequestID, r, m.UID)
		return nil
	}
	var d responseData
	if err := json.Unmarshal(m.Data, &d); err != nil {
		return err
	}
	switch m.Type {
	case ServerSideEmitResponse:
		a.mu.Lock()
		r := a.requests[d.RequestID]
		if r == nil || r.typ != ServerSideEmit {
			a.mu.Unlock()
			return nil
		}
		a.answeredLocked(d.RequestID, r, m.UID)
		a.mu.Unlock()
		args, err := argsOf(d.Packet, m.Attachments)
		if err != nil {
			return err
		}
		r.onReply(args)
	case BroadcastClientCount:
		a.mu.Lock()
		r := a.acks[d.RequestID]
		a.mu.Unlock()
		if r == nil {
			return nil
		}
		// The count reaches the caller before BroadcastWithAck may return.
		if d.ClientCount != nil {
			r.expect(*d.ClientCount)
		}
		a.mu.Lock()
		r.got++
		if r.missing != nil {
			delete(r.missing, m.UID)
			if len(r.missing) == 0 {
				closeOnce(r.done)
			}
		} else if r.got >= r.want {
			closeOnce(r.done)
		}
		a.mu.Unlock()
	case BroadcastAck:
		a.mu.Lock()
		r := a.acks[d.RequestID]
		a.mu.Unlock()
		if r == nil {
			return nil
		}
		args, err := argsOf(d.Packet, m.Attachments)
		if err != nil {
			return err
		}
		r.onAck(args)
	}
	return nil
}

// answeredLocked records that peer uid answered request id, completing it
// when nobody else is awaited.
func (a *Adapter) answeredLocked(id string, r *request, uid string) {
	complete := false
	if r.missing != nil {
		delete(r.missing, uid)
		complete = len(r.missing) == 0
	} else {
		r.expected--
		complete = r.expected <= 0
	}
	if complete {
		close(r.done)
		delete(a.requests, id)
	}
}
