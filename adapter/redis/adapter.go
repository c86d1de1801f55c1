package redisadapter

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/redis/internal/wire"
	"github.com/heraldio/herald/socketio"
)

// Errors returned by the adapter's server-wide operations.
var (
	// ErrTimeout reports a request that not every server answered within
	// Options.RequestsTimeout.
	ErrTimeout = errors.New("redis adapter: timeout reached")
	// ErrClosed reports an operation on a closed adapter.
	ErrClosed = errors.New("redis adapter: closed")
	// ErrUnavailable reports a message that could not be published because
	// Redis is unreachable; local delivery has still happened.
	ErrUnavailable = errors.New("redis adapter: redis unavailable")
	// ErrBinaryServerSideEmit reports binary arguments to ServerSideEmit,
	// whose requests are JSON (Node would send a Buffer as
	// {"type":"Buffer","data":[...]}).
	ErrBinaryServerSideEmit = errors.New("redis adapter: binary arguments in serverSideEmit")
)

// Options configures the adapter. The zero value is valid: every field
// defaults to Node's value.
type Options struct {
	// Key prefixes every channel. Empty means "socket.io".
	Key string
	// RequestsTimeout bounds the wait for other servers' answers to
	// FetchSockets and ServerSideEmit with acks. Zero means 5s.
	RequestsTimeout time.Duration
	// PublishOnSpecificResponseChannel sends answers to the requester's own
	// channel {key}-response#{nsp}#{uid}# instead of the shared one, so
	// servers do not receive each other's responses. Every server of the
	// cluster should use the same value. False by default, as in Node.
	PublishOnSpecificResponseChannel bool
	// PublishQueueSize bounds the messages waiting to be published by one
	// namespace. While Redis is reachable a full queue makes Broadcast wait;
	// while it is not, new messages are dropped. Zero means 4096.
	PublishQueueSize int
	// HealthCheckInterval is how long the subscriber waits in silence
	// before it pings Redis; a ping unanswered for another interval makes
	// it reconnect. Zero means 30s.
	HealthCheckInterval time.Duration
	// Logger receives connection-state changes and dropped messages. Nil
	// means slog.Default().
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Key == "" {
		c.Key = "socket.io"
	}
	if c.RequestsTimeout <= 0 {
		c.RequestsTimeout = 5 * time.Second
	}
	if c.PublishQueueSize <= 0 {
		c.PublishQueueSize = 4096
	}
	if c.HealthCheckInterval <= 0 {
		c.HealthCheckInterval = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// New returns the constructor of the adapter of each namespace, for
// socketio.Options.Adapter. client is shared by all namespaces for
// publishing; each namespace opens one more connection for its
// subscriptions. opts may be nil. The parent namespaces of OfFunc and
// OfRegexp, which have no sockets, get a plain MemoryAdapter.
func New(client redis.UniversalClient, opts *Options) func(nsp *socketio.Namespace) socketio.Adapter {
	o := opts.withDefaults()
	return func(nsp *socketio.Namespace) socketio.Adapter {
		if nsp.Name() == "" {
			return socketio.NewMemoryAdapter(nsp)
		}
		return newAdapter(client, nsp, o)
	}
}

var _ socketio.Adapter = (*Adapter)(nil)

// Adapter is the adapter of one namespace. It is safe for concurrent use.
type Adapter struct {
	local  socketio.Adapter
	nsp    *socketio.Namespace
	client redis.UniversalClient
	opts   Options
	log    *slog.Logger
	uid    string

	channel, requestChannel, responseChannel, specificResponseChannel string

	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	ready   chan struct{}

	sub *subscriber

	pubq chan pubItem
	work chan func()

	mu          sync.Mutex
	requests    map[string]*pending
	ackRequests map[string]*ackPending

	published, received, errs, reconnects, dropped atomic.Uint64
	pubDown                                        atomic.Bool
}

// Stats are counters since the adapter was created.
type Stats struct {
	Published  uint64 // messages published to Redis
	Received   uint64 // messages received from Redis
	Errors     uint64 // failed publishes, lost connections, undecodable messages
	Reconnects uint64 // times the subscriptions were restored after a loss
	Dropped    uint64 // messages never published (Redis unreachable or closed)
}

// Stats returns the adapter's counters.
func (a *Adapter) Stats() Stats {
	return Stats{
		Published:  a.published.Load(),
		Received:   a.received.Load(),
		Errors:     a.errs.Load(),
		Reconnects: a.reconnects.Load(),
		Dropped:    a.dropped.Load(),
	}
}

// UID returns the adapter's 6-character cluster identifier.
func (a *Adapter) UID() string { return a.uid }

// WaitReady waits until Redis has confirmed every subscription, from when
// on other servers count this one and receive its answers.
func (a *Adapter) WaitReady(ctx context.Context) error {
	select {
	case <-a.ready:
		return nil
	case <-a.closing:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("redis adapter: waiting for subscriptions: %w", ctx.Err())
	}
}

func newAdapter(client redis.UniversalClient, nsp *socketio.Namespace, o Options) *Adapter {
	ctx, cancel := context.WithCancel(context.Background())
	a := &Adapter{
		local:       socketio.NewMemoryAdapter(nsp),
		nsp:         nsp,
		client:      client,
		opts:        o,
		uid:         newUID(6),
		ctx:         ctx,
		cancel:      cancel,
		closing:     make(chan struct{}),
		ready:       make(chan struct{}),
		pubq:        make(chan pubItem, o.PublishQueueSize),
		work:        make(chan func(), 256),
		requests:    make(map[string]*pending),
		ackRequests: make(map[string]*ackPending),
	}
	a.channel = o.Key + "#" + nsp.Name() + "#"
	a.requestChannel = o.Key + "-request#" + nsp.Name() + "#"
	a.responseChannel = o.Key + "-response#" + nsp.Name() + "#"
	a.specificResponseChannel = a.responseChannel + a.uid + "#"
	a.log = o.Logger.With("adapter", "redis", "nsp", nsp.Name(), "uid", a.uid)
	// Subscribing without channels does no I/O: the subscriber goroutine
	// connects, so creating a namespace never waits for Redis.
	a.sub = &subscriber{
		client:   client,
		log:      a.log,
		interval: o.HealthCheckInterval,
		subscribeAll: func(ctx context.Context, ps *redis.PubSub) error {
			return errors.Join(
				ps.Subscribe(ctx, a.requestChannel, a.responseChannel, a.specificResponseChannel),
				ps.PSubscribe(ctx, a.channel+"*"))
		},
		readyKey:   a.channel + "*",
		onMsg:      a.onRedisMessage,
		ready:      a.ready,
		closing:    a.closing,
		ps:         client.Subscribe(ctx),
		received:   &a.received,
		errs:       &a.errs,
		reconnects: &a.reconnects,
	}
	a.wg.Add(3)
	go func() { defer a.wg.Done(); a.sub.run(ctx) }()
	go a.publishLoop()
	go a.workLoop()
	return a
}

const uidAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newUID returns n random characters, as Node's uid2 does.
func newUID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = uidAlphabet[int(b[i])%len(uidAlphabet)]
	}
	return string(b)
}

// Local operations go to the in-memory adapter.

// AddAll implements socketio.Adapter.
func (a *Adapter) AddAll(id socketio.SocketID, rooms []socketio.Room) { a.local.AddAll(id, rooms) }

// Del implements socketio.Adapter.
func (a *Adapter) Del(id socketio.SocketID, room socketio.Room) { a.local.Del(id, room) }

// DelAll implements socketio.Adapter.
func (a *Adapter) DelAll(id socketio.SocketID) { a.local.DelAll(id) }

// SocketRooms implements socketio.Adapter.
func (a *Adapter) SocketRooms(id socketio.SocketID) []socketio.Room { return a.local.SocketRooms(id) }

// Sockets implements socketio.Adapter: this server's sockets only, as in Node.
func (a *Adapter) Sockets(opts socketio.BroadcastOptions) []socketio.SocketID {
	return a.local.Sockets(opts)
}

// Broadcast implements socketio.Adapter: it publishes the packet (unless
// opts.Flags.Local) on {key}#{nsp}#, or {key}#{nsp}#{room}# when exactly
// one room is selected, then delivers it locally. A publish that fails
// later is counted in Stats, not returned; the error reports only a packet
// that could not be encoded.
func (a *Adapter) Broadcast(p *socketio.Packet, opts socketio.BroadcastOptions) error {
	if !opts.Flags.Local {
		msg, err := wire.AppendBroadcast(nil, a.uid, p, opts, wire.NodeFlags(opts.Flags, 0), wire.AdapterOrder)
		if err != nil {
			return fmt.Errorf("redis adapter: broadcast: %w", err)
		}
		a.publish(a.broadcastChannel(opts.Rooms), msg, nil)
	}
	return a.local.Broadcast(p, opts)
}

func (a *Adapter) broadcastChannel(rooms []socketio.Room) string {
	if len(rooms) == 0 {
		return a.channel
	}
	for _, r := range rooms[1:] {
		if r != rooms[0] {
			return a.channel
		}
	}
	return a.channel + string(rooms[0]) + "#"
}

// BroadcastWithAck implements socketio.Adapter: the packet goes to the
// other servers as a BROADCAST request, and their client counts and acks
// come back as responses. It returns once every other server (counted by
// NUMSUB) has reported its client count, or when ctx ends; acks keep
// arriving through onAck until ctx ends. The remaining time of ctx is sent
// as flags.timeout.
func (a *Adapter) BroadcastWithAck(ctx context.Context, p *socketio.Packet, opts socketio.BroadcastOptions, expect func(int), onAck func(socketio.Args)) error {
	if opts.Flags.Local {
		return a.local.BroadcastWithAck(ctx, p, opts, expect, onAck)
	}
	n, err := a.ServerCount(ctx)
	if err != nil {
		a.log.Warn("redis adapter: broadcast with ack reaches local sockets only", "err", err)
		n = 1
	}
	var timeoutMs int64
	if dl, ok := ctx.Deadline(); ok {
		// Rounded up: a Timeout(1s) operator reads 1000, as in Node.
		timeoutMs = max(1, int64((time.Until(dl)+time.Millisecond-1)/time.Millisecond))
	}
	id := newUID(6)
	msg, err := wire.AppendBroadcastRequest(nil, a.uid, id, p, opts, wire.NodeFlags(opts.Flags, timeoutMs))
	if err != nil {
		return fmt.Errorf("redis adapter: broadcast with ack: %w", err)
	}
	ar := &ackPending{expect: expect, onAck: onAck, left: n - 1, counted: make(chan struct{})}
	if ar.left <= 0 {
		close(ar.counted)
	} else {
		a.mu.Lock()
		a.ackRequests[id] = ar
		a.mu.Unlock()
		context.AfterFunc(ctx, func() {
			a.mu.Lock()
			delete(a.ackRequests, id)
			a.mu.Unlock()
		})
		if err := a.publishWait(ctx, a.requestChannel, msg); err != nil {
			a.mu.Lock()
			delete(a.ackRequests, id)
			a.mu.Unlock()
			ar.finish()
		}
	}
	if err := a.local.BroadcastWithAck(ctx, p, opts, expect, onAck); err != nil {
		return err
	}
	select {
	case <-ar.counted:
	case <-ctx.Done():
	case <-a.closing:
	}
	return nil
}

// FetchSockets implements socketio.Adapter. Remote sockets carry their
// handshake and their data as json.RawMessage. It fails with ErrTimeout
// when some server has not answered within RequestsTimeout.
func (a *Adapter) FetchSockets(ctx context.Context, opts socketio.BroadcastOptions) ([]socketio.SocketInfo, error) {
	local, err := a.local.FetchSockets(ctx, opts)
	if err != nil || opts.Flags.Local {
		return local, err
	}
	n, err := a.ServerCount(ctx)
	if err != nil {
		return nil, fmt.Errorf("redis adapter: fetchSockets: %w", err)
	}
	if n <= 1 {
		return local, nil
	}
	id := newUID(6)
	pr := &pending{typ: wire.TypeRemoteFetch, want: n - 1, infos: local, done: make(chan struct{})}
	a.mu.Lock()
	a.requests[id] = pr
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.requests, id)
		a.mu.Unlock()
	}()
	if err := a.publishWait(ctx, a.requestChannel, wire.FetchRequest(a.uid, id, opts)); err != nil {
		return nil, fmt.Errorf("redis adapter: fetchSockets: %w", err)
	}
	t := time.NewTimer(a.opts.RequestsTimeout)
	defer t.Stop()
	select {
	case <-pr.done:
		a.mu.Lock()
		defer a.mu.Unlock()
		return pr.infos, nil
	case <-t.C:
		return nil, fmt.Errorf("%w while waiting for fetchSockets response", ErrTimeout)
	case <-ctx.Done():
		return nil, fmt.Errorf("redis adapter: fetchSockets: %w", ctx.Err())
	case <-a.closing:
		return nil, ErrClosed
	}
}

// AddSockets implements socketio.Adapter: local sockets join at once; the
// request to the other servers is fire-and-forget, as in Node.
func (a *Adapter) AddSockets(ctx context.Context, opts socketio.BroadcastOptions, rooms []socketio.Room) error {
	if err := a.local.AddSockets(ctx, opts, rooms); err != nil || opts.Flags.Local {
		return err
	}
	return a.publishWait(ctx, a.requestChannel, wire.RoomsRequest(a.uid, wire.TypeRemoteJoin, opts, rooms))
}

// DelSockets implements socketio.Adapter, as AddSockets.
func (a *Adapter) DelSockets(ctx context.Context, opts socketio.BroadcastOptions, rooms []socketio.Room) error {
	if err := a.local.DelSockets(ctx, opts, rooms); err != nil || opts.Flags.Local {
		return err
	}
	return a.publishWait(ctx, a.requestChannel, wire.RoomsRequest(a.uid, wire.TypeRemoteLeave, opts, rooms))
}

// DisconnectSockets implements socketio.Adapter, as AddSockets.
func (a *Adapter) DisconnectSockets(ctx context.Context, opts socketio.BroadcastOptions, close bool) error {
	if err := a.local.DisconnectSockets(ctx, opts, close); err != nil || opts.Flags.Local {
		return err
	}
	return a.publishWait(ctx, a.requestChannel, wire.DisconnectRequest(a.uid, opts, close))
}

// ServerSideEmit implements socketio.Adapter. With onAck, it expects one
// reply from each other server (NUMSUB - 1); replies are taken until ctx
// ends or RequestsTimeout passes. Each reply is the first argument the
// other server's handler acknowledged with, as in Node.
func (a *Adapter) ServerSideEmit(ctx context.Context, args []any, onAck func(socketio.Args)) (int, error) {
	p, err := socketio.AckPacket(a.nsp.Name(), 0, args...)
	if err != nil {
		return 0, fmt.Errorf("redis adapter: serverSideEmit: %w", err)
	}
	if len(p.Attachments) > 0 {
		return 0, ErrBinaryServerSideEmit
	}
	if onAck == nil {
		return 0, a.publishWait(ctx, a.requestChannel, wire.ServerSideEmitRequest(a.uid, "", p.Data))
	}
	n, err := a.ServerCount(ctx)
	if err != nil {
		return 0, fmt.Errorf("redis adapter: serverSideEmit: %w", err)
	}
	n--
	if n <= 0 {
		return 0, nil
	}
	id := newUID(6)
	pr := &pending{typ: wire.TypeServerSideEmit, want: n, onAck: onAck}
	remove := func() {
		a.mu.Lock()
		delete(a.requests, id)
		a.mu.Unlock()
	}
	t := time.AfterFunc(a.opts.RequestsTimeout, remove)
	stop := context.AfterFunc(ctx, remove)
	pr.release = func() { t.Stop(); stop() }
	a.mu.Lock()
	a.requests[id] = pr
	a.mu.Unlock()
	if err := a.publishWait(ctx, a.requestChannel, wire.ServerSideEmitRequest(a.uid, id, p.Data)); err != nil {
		remove()
		pr.release()
		return 0, err
	}
	return n, nil
}

// ServerCount implements socketio.Adapter: the number of subscribers of
// the request channel (PUBSUB NUMSUB), summed over the nodes of a Redis
// Cluster.
func (a *Adapter) ServerCount(ctx context.Context) (int, error) {
	return numSub(ctx, a.client, a.requestChannel)
}

func numSub(ctx context.Context, c redis.UniversalClient, channel string) (int, error) {
	if cc, ok := c.(*redis.ClusterClient); ok {
		var total atomic.Int64
		err := cc.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error {
			m, err := n.PubSubNumSub(ctx, channel).Result()
			total.Add(m[channel])
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("redis adapter: PUBSUB NUMSUB: %w", err)
		}
		return int(total.Load()), nil
	}
	m, err := c.PubSubNumSub(ctx, channel).Result()
	if err != nil {
		return 0, fmt.Errorf("redis adapter: PUBSUB NUMSUB: %w", err)
	}
	return int(m[channel]), nil
}

// Close implements socketio.Adapter: it stops the adapter's goroutines,
// closes its subscription connection (so other servers stop counting this
// one) and publishes what was already queued, waiting until ctx ends at
// most. The Redis client is the caller's to close.
func (a *Adapter) Close(ctx context.Context) error {
	a.once.Do(func() {
		close(a.closing)
		a.sub.close()
		a.cancel()
	})
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
		return a.local.Close(ctx)
	case <-ctx.Done():
		return fmt.Errorf("redis adapter: close: %w", ctx.Err())
	}
}

// pending is a FetchSockets or ServerSideEmit request waiting for answers.
type pending struct {
	typ     int
	want    int
	got     int
	infos   []socketio.SocketInfo
	done    chan struct{}
	onAck   func(socketio.Args)
	release func()
}

// ackPending is a broadcast with acks waiting for client counts and acks.
type ackPending struct {
	expect  func(int)
	onAck   func(socketio.Args)
	mu      sync.Mutex
	left    int
	counted chan struct{}
}

func (ar *ackPending) count(n int) {
	ar.expect(n)
	ar.mu.Lock()
	ar.left--
	if ar.left == 0 {
		close(ar.counted)
	}
	ar.mu.Unlock()
}

func (ar *ackPending) finish() {
	ar.mu.Lock()
	if ar.left > 0 {
		ar.left = 0
		close(ar.counted)
	}
	ar.mu.Unlock()
}

// argsOf wraps one JSON value (a missing one reads as null) as Args.
func argsOf(raw json.RawMessage, atts [][]byte) socketio.Args {
	if len(raw) == 0 {
		raw = json.RawMessage("null")
	}
	data := make([]byte, 0, len(raw)+2)
	data = append(append(append(data, '['), raw...), ']')
	typ := socketio.PacketAck
	if len(atts) > 0 {
		typ = socketio.PacketBinaryAck
	}
	args, err := (&socketio.Packet{Type: typ, ID: 0, Data: data, Attachments: atts}).Args()
	if err != nil {
		args, _ = (&socketio.Packet{Type: socketio.PacketAck, Data: json.RawMessage("[null]")}).Args()
	}
	return args
}

// Key returns the channel prefix (Options.Key).
func (a *Adapter) Key() string { return a.opts.Key }
