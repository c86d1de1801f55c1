package redisadapter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/adapter/redis/internal/wire"
	"github.com/heraldio/herald/socketio"
)

// SubscriptionMode says which sharded channels a namespace subscribes to
// (createShardedAdapter's subscriptionMode).
type SubscriptionMode int

const (
	// Dynamic subscribes to the namespace's channel, its response channel
	// and one channel per public room (a room that is not a socket id)
	// with local members; a broadcast to exactly one public room goes to
	// that room's channel only. Node's default.
	Dynamic SubscriptionMode = iota
	// Static subscribes to the namespace's two channels only.
	Static
	// DynamicPrivate is Dynamic with a channel for private rooms (socket
	// ids) too, for much one-to-one traffic.
	DynamicPrivate
)

// String returns Node's name of the mode.
func (m SubscriptionMode) String() string {
	switch m {
	case Static:
		return "static"
	case DynamicPrivate:
		return "dynamic-private"
	default:
		return "dynamic"
	}
}

// ShardedOptions configures the sharded adapter. The zero value is valid:
// every field defaults to Node's value.
type ShardedOptions struct {
	// ChannelPrefix prefixes every channel. Empty means "socket.io".
	ChannelPrefix string
	// SubscriptionMode selects the channels; the zero value is Dynamic.
	SubscriptionMode SubscriptionMode
	// RequestsTimeout bounds cluster-wide requests. Zero means 5s.
	RequestsTimeout time.Duration
	// QueueSize bounds the messages waiting to be published by one
	// namespace; when it is full new ones are dropped and counted. Zero
	// means 1024.
	QueueSize int
	// HealthCheckInterval is how long the subscriber waits in silence
	// before it pings Redis. Zero means 30s.
	HealthCheckInterval time.Duration
	// Logger receives connection-state changes. Nil means slog.Default().
	Logger *slog.Logger
}

// NewSharded returns the constructor of the sharded adapter of each
// namespace, for socketio.Options.Adapter: wire-compatible with Node's
// createShardedAdapter (SPUBLISH/SSUBSCRIBE, Redis 7; socketio-reference
// §9.4), built on package cluster's ClusterAdapter engine. The server
// count is PUBSUB SHARDNUMSUB of the namespace channel, summed over the
// nodes of a Redis Cluster. opts may be nil.
//
// Tested on a standalone Redis 7 only. On a Redis Cluster, one go-redis
// PubSub holds every SSUBSCRIBE of a namespace on a single connection,
// which fails for room channels whose slots live on other nodes: use Static
// there, or the classic adapter.
func NewSharded(client redis.UniversalClient, opts *ShardedOptions) func(nsp *socketio.Namespace) socketio.Adapter {
	var o ShardedOptions
	if opts != nil {
		o = *opts
	}
	if o.ChannelPrefix == "" {
		o.ChannelPrefix = "socket.io"
	}
	if o.HealthCheckInterval <= 0 {
		o.HealthCheckInterval = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return func(nsp *socketio.Namespace) socketio.Adapter {
		if nsp.Name() == "" {
			return socketio.NewMemoryAdapter(nsp)
		}
		return newSharded(client, nsp, o)
	}
}

var _ socketio.Adapter = (*ShardedAdapter)(nil)

// ShardedAdapter is the sharded adapter of one namespace: a
// cluster.Adapter whose transport is Redis sharded pub/sub. It is safe for
// concurrent use. When Redis goes away it behaves as the classic adapter
// does (see the package doc), except that messages that cannot be
// published are counted by the cluster engine (Stats().Cluster).
type ShardedAdapter struct {
	*cluster.Adapter
	nsp    *socketio.Namespace
	client redis.UniversalClient
	opts   ShardedOptions
	log    *slog.Logger

	channel, responseChannel string

	ctx     context.Context
	cancel  context.CancelFunc
	closing chan struct{}
	ready   chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	sub     *subscriber
	kick    chan struct{} // the room channels to subscribe changed

	mu        sync.Mutex
	want      map[socketio.Room]bool // room channels wanted (rooms with local members)
	have      map[socketio.Room]bool // room channels asked of Redis
	confirmed map[string]bool        // channels Redis confirmed
	changed   chan struct{}          // closed and replaced when confirmed changes

	received, errs, reconnects atomic.Uint64
}

// ShardedStats are the counters of a ShardedAdapter.
type ShardedStats struct {
	Cluster    cluster.Stats // published, publish errors, dropped, handled
	Received   uint64        // messages received from Redis
	Errors     uint64        // lost connections, undecodable messages
	Reconnects uint64        // times the subscriptions were restored
}

// Stats returns the adapter's counters.
func (s *ShardedAdapter) Stats() ShardedStats {
	return ShardedStats{Cluster: s.Adapter.Stats(), Received: s.received.Load(), Errors: s.errs.Load(), Reconnects: s.reconnects.Load()}
}

func newSharded(client redis.UniversalClient, nsp *socketio.Namespace, o ShardedOptions) *ShardedAdapter {
	ctx, cancel := context.WithCancel(context.Background())
	s := &ShardedAdapter{
		nsp: nsp, client: client, opts: o,
		channel: o.ChannelPrefix + "#" + nsp.Name() + "#",
		ctx:     ctx, cancel: cancel,
		closing: make(chan struct{}), ready: make(chan struct{}), kick: make(chan struct{}, 1),
		want: map[socketio.Room]bool{}, have: map[socketio.Room]bool{},
		confirmed: map[string]bool{}, changed: make(chan struct{}),
	}
	s.Adapter = cluster.New(nsp, shardedTransport{s}, &cluster.Options{
		RequestsTimeout: o.RequestsTimeout,
		QueueSize:       o.QueueSize,
		Logger:          o.Logger,
		ServerCount:     s.serverCount,
	})
	s.responseChannel = s.channel + s.Adapter.UID() + "#"
	s.log = o.Logger.With("adapter", "redis-sharded", "nsp", nsp.Name(), "uid", s.Adapter.UID())
	s.sub = &subscriber{
		client:   client,
		log:      s.log,
		interval: o.HealthCheckInterval,
		subscribeAll: func(ctx context.Context, ps *redis.PubSub) error {
			chans := []string{s.channel, s.responseChannel}
			s.mu.Lock()
			for r := range s.have {
				chans = append(chans, s.roomChannel(r))
			}
			s.mu.Unlock()
			return ps.SSubscribe(ctx, chans...)
		},
		readyKey:   s.responseChannel,
		onMsg:      s.onRedisMessage,
		onSub:      s.onSub,
		onReady:    s.Adapter.Init,
		ready:      s.ready,
		closing:    s.closing,
		ps:         client.Subscribe(ctx),
		received:   &s.received,
		errs:       &s.errs,
		reconnects: &s.reconnects,
	}
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.sub.run(ctx) }()
	go func() { defer s.wg.Done(); s.roomLoop(ctx) }()
	return s
}

func (s *ShardedAdapter) roomChannel(r socketio.Room) string { return s.channel + string(r) + "#" }

// WaitReady waits until Redis has confirmed the namespace's subscriptions
// and those of every room channel wanted so far: from then on broadcasts
// to this server's rooms reach it.
func (s *ShardedAdapter) WaitReady(ctx context.Context) error {
	for {
		s.mu.Lock()
		ok := s.confirmed[s.channel] && s.confirmed[s.responseChannel]
		for r := range s.want {
			ok = ok && s.confirmed[s.roomChannel(r)]
		}
		changed := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-s.closing:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("redis adapter: waiting for subscriptions: %w", ctx.Err())
		}
	}
}

func (s *ShardedAdapter) onSub(kind, channel string) {
	s.mu.Lock()
	switch kind {
	case "ssubscribe":
		s.confirmed[channel] = true
	case "sunsubscribe":
		delete(s.confirmed, channel)
	default:
		s.mu.Unlock()
		return
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *ShardedAdapter) onRedisMessage(m *redis.Message) {
	msg, err := cluster.Decode([]byte(m.Payload))
	if err != nil {
		s.errs.Add(1)
		s.log.Debug("redis adapter: ignoring malformed message", "channel", m.Channel, "err", err)
		return
	}
	s.Adapter.HandleMessage(msg)
}

func (s *ShardedAdapter) serverCount(ctx context.Context) (int, error) {
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		var total atomic.Int64
		err := cc.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error {
			m, err := n.PubSubShardNumSub(ctx, s.channel).Result()
			total.Add(m[s.channel])
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("redis adapter: PUBSUB SHARDNUMSUB: %w", err)
		}
		return int(total.Load()), nil
	}
	m, err := s.client.PubSubShardNumSub(ctx, s.channel).Result()
	if err != nil {
		return 0, fmt.Errorf("redis adapter: PUBSUB SHARDNUMSUB: %w", err)
	}
	return int(m[s.channel]), nil
}

// separate reports whether room r, joined by socket id, has a channel of
// its own (Node's shouldUseASeparateNamespace).
func (s *ShardedAdapter) separate(id socketio.SocketID, r socketio.Room) bool {
	switch s.opts.SubscriptionMode {
	case DynamicPrivate:
		return true
	case Dynamic:
		return r != socketio.Room(id) && s.nsp.Socket(socketio.SocketID(r)) == nil
	default:
		return false
	}
}

// AddAll implements socketio.Adapter; in the dynamic modes a room that
// gets its first local member gets its channel subscribed.
func (s *ShardedAdapter) AddAll(id socketio.SocketID, rooms []socketio.Room) {
	s.Adapter.AddAll(id, rooms)
	if s.opts.SubscriptionMode == Static {
		return
	}
	// separate looks into the namespace: never under s.mu.
	var sep []socketio.Room
	for _, r := range rooms {
		if s.separate(id, r) {
			sep = append(sep, r)
		}
	}
	if len(sep) == 0 {
		return
	}
	s.mu.Lock()
	kick := false
	for _, r := range sep {
		if !s.want[r] {
			s.want[r] = true
			kick = true
		}
	}
	s.mu.Unlock()
	if kick {
		s.wake()
	}
}

// Del implements socketio.Adapter; a room left empty loses its channel.
func (s *ShardedAdapter) Del(id socketio.SocketID, room socketio.Room) {
	s.Adapter.Del(id, room)
	s.dropEmpty([]socketio.Room{room})
}

// DelAll implements socketio.Adapter.
func (s *ShardedAdapter) DelAll(id socketio.SocketID) {
	rooms := s.Adapter.SocketRooms(id)
	s.Adapter.DelAll(id)
	s.dropEmpty(rooms)
}

func (s *ShardedAdapter) dropEmpty(rooms []socketio.Room) {
	if s.opts.SubscriptionMode == Static {
		return
	}
	s.mu.Lock()
	kick := false
	for _, r := range rooms {
		if s.want[r] && len(s.Adapter.Sockets(socketio.BroadcastOptions{Rooms: []socketio.Room{r}})) == 0 {
			delete(s.want, r)
			kick = true
		}
	}
	s.mu.Unlock()
	if kick {
		s.wake()
	}
}

func (s *ShardedAdapter) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// roomLoop brings the room channels asked of Redis in line with those
// wanted, off the callers of Join and Leave (which never wait on Redis).
func (s *ShardedAdapter) roomLoop(ctx context.Context) {
	for {
		select {
		case <-s.kick:
		case <-s.closing:
			return
		}
		s.mu.Lock()
		var add, del []string
		for r := range s.want {
			if !s.have[r] {
				s.have[r] = true
				add = append(add, s.roomChannel(r))
			}
		}
		for r := range s.have {
			if !s.want[r] {
				delete(s.have, r)
				del = append(del, s.roomChannel(r))
			}
		}
		s.mu.Unlock()
		ps := s.sub.pubsub()
		slices.Sort(add)
		if len(add) > 0 {
			_ = ps.SSubscribe(ctx, add...) // kept by go-redis even on error
		}
		if len(del) > 0 {
			_ = ps.SUnsubscribe(ctx, del...)
		}
	}
}

// Close implements socketio.Adapter: it closes the cluster engine (which
// publishes what is queued), then the subscription connection.
func (s *ShardedAdapter) Close(ctx context.Context) error {
	err := s.Adapter.Close(ctx)
	s.once.Do(func() {
		close(s.closing)
		s.sub.close()
		s.cancel()
	})
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("redis adapter: close: %w", ctx.Err())
	}
}

// shardedTransport publishes cluster messages with SPUBLISH on Node's
// channels.
type shardedTransport struct{ s *ShardedAdapter }

func (t shardedTransport) Publish(ctx context.Context, m *cluster.Message) error {
	b, _, err := m.Encode()
	if err != nil {
		return fmt.Errorf("redis adapter: encode: %w", err)
	}
	if err := t.s.client.SPublish(ctx, t.channelOf(m), b).Err(); err != nil {
		return fmt.Errorf("redis adapter: SPUBLISH: %w", err)
	}
	return nil
}

func (t shardedTransport) PublishResponse(ctx context.Context, requester string, m *cluster.Message) error {
	b, _, err := m.Encode()
	if err != nil {
		return fmt.Errorf("redis adapter: encode: %w", err)
	}
	if err := t.s.client.SPublish(ctx, t.s.channel+requester+"#", b).Err(); err != nil {
		return fmt.Errorf("redis adapter: SPUBLISH: %w", err)
	}
	return nil
}

// channelOf is Node's computeChannel: a broadcast without ack to exactly
// one room goes to the room's channel in the dynamic modes (for a public
// room, one whose name is not 20 characters long, in Dynamic).
func (t shardedTransport) channelOf(m *cluster.Message) string {
	s := t.s
	if m.Type != cluster.Broadcast || s.opts.SubscriptionMode == Static {
		return s.channel
	}
	var d struct {
		RequestID json.RawMessage `json:"requestId"`
		Opts      struct {
			Rooms wire.Rooms `json:"rooms"`
		} `json:"opts"`
	}
	if json.Unmarshal(m.Data, &d) != nil || d.RequestID != nil || len(d.Opts.Rooms) != 1 {
		return s.channel
	}
	r := d.Opts.Rooms[0]
	if s.opts.SubscriptionMode == Dynamic && len(r) == 20 {
		return s.channel
	}
	return s.roomChannel(r)
}
