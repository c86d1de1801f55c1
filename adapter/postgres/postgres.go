// Package postgres is a cluster adapter over PostgreSQL LISTEN/NOTIFY,
// wire-compatible with the npm package @socket.io/postgres-adapter 0.5.0:
// Go and Node servers on one database form one Socket.IO cluster, and a
// deployment that already runs PostgreSQL needs nothing else.
//
// Start with New, which takes a pgxpool.Pool (used for NOTIFY and the
// attachment table) and opens one dedicated listening connection; pass its
// Adapter method as socketio.Options.Adapter:
//
//	ps := postgres.New(pool, nil)
//	srv := socketio.NewServer(&socketio.Options{Adapter: ps.Adapter})
//	…
//	srv.Close(ctx) // closes the namespaces' adapters (ADAPTER_CLOSE)
//	ps.Close(ctx)  // then the listener
//
// Wire format (as the Node adapter): each namespace nsp uses the channel
// "<ChannelPrefix>#<nsp>" (quoted, so "socket.io#/" by default), and every
// message is the socket.io-adapter ClusterAdapter message of package
// cluster, as JSON. A message holding binary, or whose JSON is
// PayloadThreshold bytes or more, is stored MessagePack-encoded in
// TableName (created if missing, with the columns the Node README gives:
// id bigserial, created_at timestamptz, payload bytea) and the
// notification carries {"uid","type","attachmentId"} instead. Rows older
// than CleanupInterval are deleted periodically. The server count comes
// from heartbeats.
//
// Faults: when the database goes away, local delivery goes on; messages
// wait in each adapter's bounded queue (cluster.Options.QueueSize) and
// those whose NOTIFY fails are dropped and counted (Stats, and one log line
// per outage), so memory and goroutines stay flat; the listener reconnects
// with jittered exponential backoff, LISTENs again and announces itself
// (INITIAL_HEARTBEAT), so the cluster heals. What the gap loses: the
// broadcasts and operations this server tried to publish during it, and
// every notification sent while its listener was away (NOTIFY is not
// queued for absent listeners); requests to peers made meanwhile time out.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/socketio"
)

// Options tune a PubSub. The zero value is valid: the Node adapter's
// defaults.
type Options struct {
	// ChannelPrefix starts the notification channel of each namespace.
	// Empty means "socket.io".
	ChannelPrefix string
	// TableName is the table of large or binary payloads, optionally
	// schema-qualified; like Node's unquoted name it is case-insensitive.
	// Empty means "socket_io_attachments".
	TableName string
	// PayloadThreshold is the JSON size in bytes from which a message goes
	// through the table (PostgreSQL refuses NOTIFY payloads of 8000 bytes
	// or more). Zero means 8000.
	PayloadThreshold int
	// CleanupInterval is how often rows older than it are deleted from the
	// table. Zero means 30 * time.Second.
	CleanupInterval time.Duration
	// ReconnectDelay is the first wait before reconnecting the listener;
	// each failed attempt doubles it, up to 15 times it, and every wait is
	// jittered to between half and one and a half of its value (as Node's
	// 2 s ± 50%). Zero means 2 * time.Second.
	ReconnectDelay time.Duration
	// Cluster tunes each namespace's cluster adapter (timeouts and
	// heartbeats). Its ServerCount must be nil: the count comes from
	// heartbeats.
	Cluster cluster.Options
	// Logger receives connection losses and recoveries. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Stats are a PubSub's counters since New.
type Stats struct {
	Published   uint64 // notifications sent
	Attachments uint64 // messages stored in the table
	Received    uint64 // notifications received (own ones included)
	Reconnects  uint64 // listener connections made after the first
	Errors      uint64 // failed publishes, fetches, cleanups and connection losses
	Connected   bool   // whether the listener is connected now
}

// PubSub connects the cluster adapters of a process's namespaces to
// PostgreSQL. Its methods are safe for concurrent use.
type PubSub struct {
	pool  *pgxpool.Pool
	opts  Options
	log   *slog.Logger
	table string // sanitized

	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	adapters map[string][]*nspAdapter // by namespace name
	listened map[string]bool          // channels LISTENed on the current connection
	wake     context.CancelFunc       // interrupts the listener's wait

	connected, wasHealthy                                     atomic.Bool
	published, attachments, received, reconnects, errorsCount atomic.Uint64
}

// New starts a PubSub on pool: a goroutine holding the listening
// connection (connecting in the background, with retries) and one for the
// periodic cleanup. Close stops them; the pool stays the caller's.
func New(pool *pgxpool.Pool, opts *Options) *PubSub {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.ChannelPrefix == "" {
		o.ChannelPrefix = "socket.io"
	}
	if o.TableName == "" {
		o.TableName = "socket_io_attachments"
	}
	if o.PayloadThreshold <= 0 {
		o.PayloadThreshold = 8000
	}
	if o.CleanupInterval <= 0 {
		o.CleanupInterval = 30 * time.Second
	}
	if o.ReconnectDelay <= 0 {
		o.ReconnectDelay = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Cluster.ServerCount = nil
	if o.Cluster.Logger == nil {
		o.Cluster.Logger = o.Logger
	}
	ctx, stop := context.WithCancel(context.Background())
	ps := &PubSub{
		pool:     pool,
		opts:     o,
		log:      o.Logger.With("adapter", "postgres"),
		table:    pgx.Identifier(strings.Split(strings.ToLower(o.TableName), ".")).Sanitize(),
		ctx:      ctx,
		stop:     stop,
		adapters: make(map[string][]*nspAdapter),
		listened: make(map[string]bool),
	}
	ps.wg.Add(2)
	go ps.listen()
	go ps.cleanup()
	return ps
}

// Channel returns the notification channel of namespace nsp.
func (ps *PubSub) Channel(nsp string) string { return ps.opts.ChannelPrefix + "#" + nsp }

// Stats returns the PubSub's counters.
func (ps *PubSub) Stats() Stats {
	return Stats{
		Published:   ps.published.Load(),
		Attachments: ps.attachments.Load(),
		Received:    ps.received.Load(),
		Reconnects:  ps.reconnects.Load(),
		Errors:      ps.errorsCount.Load(),
		Connected:   ps.connected.Load(),
	}
}

// nspAdapter is the cluster adapter of one namespace, which leaves the
// PubSub when closed.
type nspAdapter struct {
	*cluster.Adapter
	ps *PubSub
}

// Adapter returns the adapter of nsp, to use as socketio.Options.Adapter.
// Several servers of one process may share a PubSub.
func (ps *PubSub) Adapter(nsp *socketio.Namespace) socketio.Adapter {
	a := &nspAdapter{ps: ps}
	a.Adapter = cluster.New(nsp, transport{ps}, &ps.opts.Cluster)
	ps.mu.Lock()
	ps.adapters[nsp.Name()] = append(ps.adapters[nsp.Name()], a)
	listening := ps.listened[ps.Channel(nsp.Name())]
	if !listening && ps.wake != nil {
		ps.wake() // the listener LISTENs, then calls Init
	}
	ps.mu.Unlock()
	if listening {
		a.Init()
	}
	return a
}

// Close implements socketio.Adapter: it closes the cluster adapter, then
// leaves the PubSub.
func (a *nspAdapter) Close(ctx context.Context) error {
	err := a.Adapter.Close(ctx)
	ps := a.ps
	ps.mu.Lock()
	name := a.Namespace().Name()
	list := ps.adapters[name]
	for i, x := range list {
		if x == a {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(ps.adapters, name)
	} else {
		ps.adapters[name] = list
	}
	ps.mu.Unlock()
	return err
}

// Close stops the listener and the cleanup, and waits for them until ctx
// ends. Close the Socket.IO servers first, so that their adapters can say
// goodbye to the cluster.
func (ps *PubSub) Close(ctx context.Context) error {
	ps.mu.Lock()
	ps.closed = true
	ps.mu.Unlock()
	ps.stop()
	done := make(chan struct{})
	go func() {
		ps.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("postgres: close: %w", ctx.Err())
	}
}

func (ps *PubSub) fail(msg string, err error) {
	ps.errorsCount.Add(1)
	ps.log.Warn(msg, "err", err)
}

// transport publishes through the pool.
type transport struct{ ps *PubSub }

func (t transport) Publish(ctx context.Context, m *cluster.Message) error {
	return t.ps.publish(ctx, m)
}

// PublishResponse publishes on the namespace channel, as the Node adapter:
// the other servers ignore responses to requests they did not make.
func (t transport) PublishResponse(ctx context.Context, _ string, m *cluster.Message) error {
	return t.ps.publish(ctx, m)
}

func (ps *PubSub) publish(ctx context.Context, m *cluster.Message) error {
	err := ps.doPublish(ctx, m)
	if err != nil {
		ps.errorsCount.Add(1) // logged by the cluster adapter, once per outage
	}
	return err
}

func (ps *PubSub) doPublish(ctx context.Context, m *cluster.Message) error {
	channel := ps.Channel(m.Nsp)
	var payload []byte
	if !m.HasBinary() {
		payload = m.AppendJSON(nil)
	}
	if payload == nil || len(payload) >= ps.opts.PayloadThreshold {
		b, err := m.AppendMsgpack(nil)
		if err != nil {
			return err
		}
		var id int64
		if err := ps.pool.QueryRow(ctx, "INSERT INTO "+ps.table+" (payload) VALUES ($1) RETURNING id", b).Scan(&id); err != nil {
			return fmt.Errorf("postgres: store attachment: %w", err)
		}
		ps.attachments.Add(1)
		payload = fmt.Appendf(nil, `{"uid":%s,"type":%d,"attachmentId":"%d"}`, strconv.Quote(m.UID), m.Type, id)
	}
	if _, err := ps.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(payload)); err != nil {
		return fmt.Errorf("postgres: notify %s: %w", channel, err)
	}
	ps.published.Add(1)
	return nil
}

// header is what a notification tells before any attachment is read.
type header struct {
	UID          string          `json:"uid"`
	AttachmentID json.RawMessage `json:"attachmentId"`
}

// deliver handles one notification.
func (ps *PubSub) deliver(payload string) {
	ps.received.Add(1)
	var h header
	if err := json.Unmarshal([]byte(payload), &h); err != nil {
		ps.fail("postgres adapter: bad notification", err)
		return
	}
	var m *cluster.Message
	var err error
	if len(h.AttachmentID) > 0 && string(h.AttachmentID) != "null" {
		if ps.ownOnly(h.UID) {
			return
		}
		id, perr := strconv.ParseInt(strings.Trim(string(h.AttachmentID), `"`), 10, 64)
		if perr != nil {
			ps.fail("postgres adapter: bad attachment id", perr)
			return
		}
		var b []byte
		ctx, cancel := context.WithTimeout(ps.ctx, 5*time.Second)
		err = ps.pool.QueryRow(ctx, "SELECT payload FROM "+ps.table+" WHERE id = $1", id).Scan(&b)
		cancel()
		if err != nil {
			ps.fail("postgres adapter: read attachment", err)
			return
		}
		m, err = cluster.Decode(b)
	} else {
		m, err = cluster.Decode([]byte(payload))
	}
	if err != nil {
		ps.fail("postgres adapter: bad message", err)
		return
	}
	ps.mu.Lock()
	list := ps.adapters[m.Nsp]
	ps.mu.Unlock()
	for _, a := range list {
		a.HandleMessage(m)
	}
}

// ownOnly reports whether uid is the adapter of a namespace that has no
// other adapter in this process: its attachments need not be read.
func (ps *PubSub) ownOnly(uid string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, list := range ps.adapters {
		for _, a := range list {
			if a.UID() == uid {
				return len(list) == 1
			}
		}
	}
	return false
}

// listen holds the listening connection, reconnecting until Close.
func (ps *PubSub) listen() {
	defer ps.wg.Done()
	delay := ps.opts.ReconnectDelay
	first := true
	for ps.ctx.Err() == nil {
		err := ps.session(&first)
		ps.connected.Store(false)
		if ps.ctx.Err() != nil {
			return
		}
		if err != nil {
			ps.fail("postgres adapter: listener connection lost; reconnecting", err)
		}
		if ps.wasHealthy.Swap(false) {
			delay = ps.opts.ReconnectDelay
		}
		wait := time.Duration(float64(delay) * (0.5 + rand.Float64()))
		delay = min(2*delay, 15*ps.opts.ReconnectDelay)
		t := time.NewTimer(wait)
		select {
		case <-ps.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// session runs one listening connection until it fails or Close.
func (ps *PubSub) session(first *bool) error {
	ctx := ps.ctx
	cfg := ps.pool.Config().ConnConfig.Copy()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err == nil {
		_, err = conn.Exec(cctx, "CREATE TABLE IF NOT EXISTS "+ps.table+
			" (id bigserial UNIQUE, created_at timestamptz DEFAULT NOW(), payload bytea)")
		if err != nil {
			var pgErr interface{ SQLState() string }
			// Concurrent creation by another server is fine.
			if errors.As(err, &pgErr) && (pgErr.SQLState() == "23505" || pgErr.SQLState() == "42P07") {
				err = nil
			}
		}
	}
	cancel()
	if err != nil {
		if conn != nil {
			closeConn(conn)
		}
		return fmt.Errorf("postgres: connect listener: %w", err)
	}
	defer closeConn(conn)
	if !*first {
		ps.reconnects.Add(1)
		ps.log.Info("postgres adapter: listener reconnected")
	}
	*first = false
	ps.mu.Lock()
	clear(ps.listened)
	ps.mu.Unlock()
	for {
		// LISTEN on every channel not yet listened to, then announce the
		// adapters of those namespaces.
		ps.mu.Lock()
		var todo []string
		for name := range ps.adapters {
			if ch := ps.Channel(name); !ps.listened[ch] {
				todo = append(todo, name)
			}
		}
		ps.mu.Unlock()
		for _, name := range todo {
			ch := ps.Channel(name)
			if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
				return fmt.Errorf("postgres: listen %s: %w", ch, err)
			}
			ps.mu.Lock()
			ps.listened[ch] = true
			list := append([]*nspAdapter(nil), ps.adapters[name]...)
			ps.mu.Unlock()
			for _, a := range list {
				a.Init()
			}
		}
		ps.wasHealthy.Store(true)
		ps.connected.Store(true) // once LISTENing on every channel
		wctx, wake := context.WithCancel(ctx)
		ps.mu.Lock()
		pending := false
		for name := range ps.adapters {
			if !ps.listened[ps.Channel(name)] {
				pending = true
			}
		}
		ps.wake = wake
		ps.mu.Unlock()
		if pending {
			wake()
		}
		n, err := conn.WaitForNotification(wctx)
		ps.mu.Lock()
		ps.wake = nil
		ps.mu.Unlock()
		wake()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if wctx.Err() != nil && !conn.IsClosed() {
				continue // woken to LISTEN
			}
			return err
		}
		ps.deliver(n.Payload)
	}
}

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx) // the connection is being dropped either way
}

// cleanup deletes old attachments periodically.
func (ps *PubSub) cleanup() {
	defer ps.wg.Done()
	t := time.NewTicker(ps.opts.CleanupInterval)
	defer t.Stop()
	q := fmt.Sprintf("DELETE FROM %s WHERE created_at < now() - interval '%d milliseconds'",
		ps.table, ps.opts.CleanupInterval.Milliseconds())
	for {
		select {
		case <-ps.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(ps.ctx, ps.opts.CleanupInterval)
			_, err := ps.pool.Exec(ctx, q)
			cancel()
			if err != nil && ps.ctx.Err() == nil {
				ps.fail("postgres adapter: cleanup", err)
			}
		}
	}
}
