package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"time"
)

// ManagerOptions configures NewManager. The zero value, and nil, are valid:
// every zero field takes the default documented on it, which is the
// JavaScript client's (socket.io-client 4, Manager options). NewManager
// copies the options; later changes to the caller's value have no effect.
type ManagerOptions struct {
	// Engine configures each Engine.IO connection; its Protocol selects the
	// Socket.IO protocol: 4 (the zero value) speaks Socket.IO 5, 3 speaks
	// Socket.IO 4 (socket.io-client 2). OnMessage and OnClose are the
	// manager's own: values set here are ignored. OnUpgrade is called for
	// every connection.
	Engine EngineOptions
	// Path is the server's mount point. Empty means "/socket.io/".
	Path string
	// DisableReconnection stops the manager from reconnecting after a lost
	// connection or a failed attempt; the sockets are then left disconnected
	// until Socket.Connect is called again. False (the default) reconnects,
	// as the JavaScript client does.
	DisableReconnection bool
	// ReconnectionAttempts is how many reconnection attempts follow a lost
	// connection or a failed first attempt before the manager gives up.
	// Zero means unlimited, the JavaScript client's Infinity.
	ReconnectionAttempts int
	// ReconnectionDelay is the delay before the first reconnection attempt;
	// it doubles with each further attempt. Zero means 1s.
	ReconnectionDelay time.Duration
	// ReconnectionDelayMax caps the delay between attempts. Zero means 5s.
	ReconnectionDelayMax time.Duration
	// RandomizationFactor spreads each delay by up to this fraction, up or
	// down, so that clients dropped together do not return together. Zero
	// means 0.5; a negative value means no randomization.
	RandomizationFactor float64
	// Timeout bounds each connection attempt's Engine.IO handshake. Zero
	// means 20s.
	Timeout time.Duration
}

// Default values of ManagerOptions, the JavaScript client's.
const (
	defaultPath                 = "/socket.io/"
	defaultReconnectionDelay    = time.Second
	defaultReconnectionDelayMax = 5 * time.Second
	defaultRandomizationFactor  = 0.5
	defaultConnectTimeout       = 20 * time.Second
)

func (o *ManagerOptions) withDefaults() ManagerOptions {
	var c ManagerOptions
	if o != nil {
		c = *o
	}
	c.Engine.Transports = slices.Clone(c.Engine.Transports)
	c.Engine.Header = c.Engine.Header.Clone()
	if c.Engine.Query != nil {
		c.Engine.Query = cloneValues(c.Engine.Query)
	}
	c.Engine.OnMessage, c.Engine.OnClose = nil, nil
	if c.Path == "" {
		c.Path = defaultPath
	}
	if c.ReconnectionDelay <= 0 {
		c.ReconnectionDelay = defaultReconnectionDelay
	}
	if c.ReconnectionDelayMax <= 0 {
		c.ReconnectionDelayMax = defaultReconnectionDelayMax
	}
	switch {
	case c.RandomizationFactor == 0:
		c.RandomizationFactor = defaultRandomizationFactor
	case c.RandomizationFactor < 0:
		c.RandomizationFactor = 0
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultConnectTimeout
	}
	return c
}

// Manager is a Socket.IO client connection: one Engine.IO connection shared
// by the sockets of several namespaces (multiplexing), which it opens when
// a socket connects, closes when no socket wants it any more and reopens,
// with exponential backoff, after losing it. Its methods are safe for
// concurrent use.
//
// Handlers of all its sockets run one at a time, in the order their
// packets arrived, on a goroutine the manager starts when there is work
// and that exits when there is none. A handler may block, even on
// Socket.EmitWithAck or Socket.Connect, without stopping the connection's
// reads (acknowledgements and CONNECT replies are handled by the reader),
// but it delays every later handler of the manager. The queue is not
// bounded: handlers that cannot keep up make it grow.
//
// A manager costs the Engine.IO connection's goroutine, the handler
// goroutine while handlers run, and a goroutine while it dials or waits to
// redial.
type Manager struct {
	url    string // the Engine.IO endpoint
	err    error  // from parsing the URL, returned by Connect
	opts   ManagerOptions
	ctx    context.Context // cancelled by Close: ends dials and backoff waits
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	sockets   map[string]*Socket // by namespace
	sess      *session           // the open connection, or nil
	conns     []*EngineConn      // connections dialled and maybe not yet done
	dialing   bool               // connectLoop runs
	attempts  int                // reconnection attempts since the last open
	lastErr   error              // of the last failed attempt, until one succeeds
	closed    bool
	connsDone bool // every connection dialled before Close is done
	finished  bool // done is closed
	tasks     []func()
	running   bool // drain runs
}

// NewManager returns a manager for the Socket.IO server at rawURL, an http,
// https, ws or wss URL. Only its scheme, host and query are used: the query
// goes with every Engine.IO request, the mount point is opts.Path, and
// namespaces are chosen with Socket. Nothing is dialled until a socket
// connects. opts may be nil; an unusable URL is reported by
// Socket.Connect.
func NewManager(rawURL string, opts *ManagerOptions) *Manager {
	m := &Manager{opts: opts.withDefaults(), done: make(chan struct{}), sockets: make(map[string]*Socket)}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	u, err := url.Parse(rawURL)
	if err != nil {
		m.err = fmt.Errorf("client: %w", err)
	} else {
		u.Path, u.RawPath, u.Fragment = m.opts.Path, "", ""
		m.url = u.String()
	}
	return m
}

// Socket returns the manager's socket for namespace nsp ("/" when empty; a
// missing leading "/" is added), creating it, not connected, on first use.
// Later calls for the same namespace return the same socket and ignore
// opts. opts may be nil.
func (m *Manager) Socket(nsp string, opts *SocketOptions) *Socket {
	nsp = normalizeNamespace(nsp)
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sockets[nsp]; s != nil {
		return s
	}
	s := newSocket(m, nsp, opts)
	m.sockets[nsp] = s
	return s
}

func normalizeNamespace(nsp string) string {
	if nsp == "" || nsp[0] != '/' {
		nsp = "/" + nsp
	}
	return nsp
}

// Engine returns the open Engine.IO connection, or nil between
// connections. Closing it counts as losing the connection: the manager
// reconnects.
func (m *Manager) Engine() *EngineConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sess == nil {
		return nil
	}
	return m.sess.conn
}

// Close disconnects every socket (reason "forced close"), stops
// reconnecting and closes the Engine.IO connection, without sending
// DISCONNECT packets, as the JavaScript client's Manager does. Pending
// Connect calls return ErrClosed and pending acknowledgements
// socketio.ErrDisconnected; later Connect calls return ErrClosed. Close does
// not wait: Done is closed once everything has stopped. It is idempotent
// and returns nil.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	ss := m.sess
	m.sess = nil
	if ss != nil {
		ss.closedByUs = true
	}
	for _, s := range m.sockets {
		if s.connected {
			s.disconnectLocked(ReasonForcedClose)
		}
		s.deactivateLocked(ErrClosed)
	}
	conns := m.conns
	m.conns = nil
	m.mu.Unlock()
	m.cancel()
	if ss != nil {
		_ = ss.conn.Close()
	}
	go func() {
		for _, c := range conns {
			<-c.Done()
		}
		m.mu.Lock()
		m.connsDone = true
		m.mu.Unlock()
		m.release()
	}()
	return nil
}

// Done returns a channel that is closed after Close once nothing of the
// manager runs any more: its Engine.IO connections are done, no attempt is
// under way and every queued handler has returned.
func (m *Manager) Done() <-chan struct{} { return m.done }

// release closes done once Close was called and nothing runs.
func (m *Manager) release() {
	m.mu.Lock()
	fin := m.closed && m.connsDone && !m.finished && !m.dialing && !m.running
	if fin {
		m.finished = true
	}
	m.mu.Unlock()
	if fin {
		close(m.done)
	}
}

// runLocked queues a handler task, starting the handler goroutine if it is
// not running. m.mu is held.
func (m *Manager) runLocked(task func()) {
	m.tasks = append(m.tasks, task)
	if !m.running {
		m.running = true
		go m.drain()
	}
}

// drain runs the queued handler tasks in order until none is left.
func (m *Manager) drain() {
	for {
		m.mu.Lock()
		if len(m.tasks) == 0 {
			m.running = false
			m.tasks = nil
			m.mu.Unlock()
			m.release()
			return
		}
		task := m.tasks[0]
		m.tasks[0] = nil
		m.tasks = m.tasks[1:]
		m.mu.Unlock()
		task()
	}
}

// activeLocked reports whether a socket wants to be connected.
func (m *Manager) activeLocked() bool {
	for _, s := range m.sockets {
		if s.active {
			return true
		}
	}
	return false
}

// openLocked starts connecting unless a connection is open or being made.
func (m *Manager) openLocked() {
	if m.sess == nil && !m.dialing {
		m.dialing = true
		go m.connectLoop(0)
	}
}

// closeIfIdleLocked detaches the open connection when no socket wants it
// any more, and returns it for the caller to close once m.mu is released
// (the JavaScript Manager closes its engine when its last socket leaves).
func (m *Manager) closeIfIdleLocked(ss *session) *session {
	if ss == nil || m.sess != ss || m.activeLocked() {
		return nil
	}
	m.sess = nil
	ss.closedByUs = true
	return ss
}

// nextDelayLocked returns the backoff before the next attempt, as the
// JavaScript client's Backoff does: delay * 2^attempts, moved up or down by
// a random fraction, capped.
func (m *Manager) nextDelayLocked() time.Duration {
	return backoff(m.attempts, m.opts.ReconnectionDelay, m.opts.ReconnectionDelayMax, m.opts.RandomizationFactor, rand.Float64())
}

func backoff(attempt int, base, maxDelay time.Duration, jitter, r float64) time.Duration {
	ms := float64(base) * math.Pow(2, float64(attempt))
	if jitter > 0 {
		dev := math.Floor(r * jitter * ms)
		if int(math.Floor(r*10))&1 == 0 {
			ms -= dev
		} else {
			ms += dev
		}
	}
	if ms > float64(maxDelay) {
		return maxDelay
	}
	return time.Duration(ms)
}

// exhaustedLocked reports whether ReconnectionAttempts are used up.
func (m *Manager) exhaustedLocked() bool {
	return m.opts.ReconnectionAttempts > 0 && m.attempts >= m.opts.ReconnectionAttempts
}

// connectLoop dials until a connection opens, the attempts run out or
// nobody wants one, waiting delay first.
func (m *Manager) connectLoop(delay time.Duration) {
	for {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-m.ctx.Done():
				t.Stop()
			}
		}
		m.mu.Lock()
		if m.closed || !m.activeLocked() {
			m.dialing = false
			m.mu.Unlock()
			m.release()
			return
		}
		m.mu.Unlock()

		ss := &session{m: m, ready: make(chan struct{})}
		ctx, cancel := context.WithTimeout(m.ctx, m.opts.Timeout)
		conn, err := DialEngine(ctx, m.url, ss.engineOptions(&m.opts.Engine))
		cancel()
		if err != nil {
			close(ss.ready)
			d, retry := m.attemptFailed(err)
			if !retry {
				m.release()
				return
			}
			delay = d
			continue
		}
		ss.conn, ss.v4 = conn, conn.Protocol() == 3

		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			ss.closedByUs = true
			close(ss.ready)
			_ = conn.Close()
			<-conn.Done()
			m.mu.Lock()
			m.dialing = false
			m.mu.Unlock()
			m.release()
			return
		}
		m.conns = append(slices.DeleteFunc(m.conns, isDone), conn)
		m.dialing = false
		if !m.activeLocked() {
			m.mu.Unlock()
			ss.closedByUs = true
			close(ss.ready)
			_ = conn.Close()
			return
		}
		m.sess = ss
		m.attempts = 0
		m.lastErr = nil
		var connects []*Socket
		for _, s := range m.sockets {
			if s.active && s.sess == nil {
				s.sess = ss
				if !(ss.v4 && s.nsp == "/") { // "/" is joined implicitly in v4
					connects = append(connects, s)
				}
			}
		}
		m.mu.Unlock()
		close(ss.ready)
		for _, s := range connects {
			_ = ss.sendConnect(s) // a failure closes the connection, which reconnects
		}
		return
	}
}

// attemptFailed records a failed dial: it tells the sockets waiting to
// connect and returns the delay before the next attempt, or false when the
// manager gives up (or was closed), in which case dialing is over.
func (m *Manager) attemptFailed(err error) (time.Duration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		m.dialing = false
		return 0, false
	}
	m.lastErr = err
	giveUp := m.opts.DisableReconnection || m.exhaustedLocked()
	final := err
	if giveUp && !m.opts.DisableReconnection {
		final = fmt.Errorf("%w: %w", ErrReconnectFailed, err)
	}
	for _, s := range m.sockets {
		if !s.active {
			continue
		}
		s.connectErrorLocked(final)
		if giveUp {
			s.deactivateLocked(final)
		}
	}
	if giveUp {
		m.attempts = 0
		m.dialing = false
		return 0, false
	}
	d := m.nextDelayLocked()
	m.attempts++
	return d, true
}

func isDone(c *EngineConn) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// ErrReconnectFailed is wrapped, with the last attempt's error, by the error
// Connect returns and OnConnectError handlers receive when
// ManagerOptions.ReconnectionAttempts are used up.
var ErrReconnectFailed = errors.New("client: reconnection attempts exhausted")
