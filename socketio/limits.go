package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Defaults of the abuse limits (see Options).
const (
	// DefaultMaxNamespacesPerClient is the default of
	// Options.MaxNamespacesPerClient.
	DefaultMaxNamespacesPerClient = 100
	// DefaultMaxRoomsPerSocket is the default of Options.MaxRoomsPerSocket.
	DefaultMaxRoomsPerSocket = 1000
	// DefaultPacketRate is the default of PacketRate.PerSecond.
	DefaultPacketRate = 100
	// DefaultPacketBurst is the default of PacketRate.Burst.
	DefaultPacketBurst = 1000
)

// Sentinel errors of the abuse limits; test with errors.Is.
var (
	// ErrTooManyRooms is returned by Socket.Join when joining would put the
	// socket in more than Options.MaxRoomsPerSocket rooms. No room is joined.
	ErrTooManyRooms = errors.New("socketio: too many rooms")
	// ErrTooManyNamespaces is why a CONNECT is refused when its client has
	// Options.MaxNamespacesPerClient namespaces already: the client gets a
	// CONNECT_ERROR whose message is this error's text.
	ErrTooManyNamespaces = errors.New("too many namespaces")
	// ErrRateLimited is reported to the OnError handlers of every socket of
	// a client that sent packets faster than Options.PacketRate allows,
	// just before the client is disconnected.
	ErrRateLimited = errors.New("socketio: packet rate exceeded")
)

// PacketRate is a token bucket bounding the packets one client sends: it
// holds Burst tokens, refilled at PerSecond a second, and each Engine.IO
// message from the client (a Socket.IO packet, or one binary attachment)
// takes one. The bucket counts the whole connection, every namespace
// together, so that opening more namespaces buys no more throughput.
type PacketRate struct {
	// PerSecond is the sustained rate. Zero means DefaultPacketRate (100);
	// negative means no limit.
	PerSecond float64
	// Burst is the bucket size: how many packets may arrive at once after a
	// quiet period (a reconnecting socket.io-client sends its whole offline
	// buffer at once). Zero means DefaultPacketBurst (1000).
	Burst int
}

func (r *PacketRate) withDefaults() *PacketRate {
	c := PacketRate{}
	if r != nil {
		c = *r
	}
	if c.PerSecond == 0 {
		c.PerSecond = DefaultPacketRate
	}
	if c.Burst <= 0 {
		c.Burst = DefaultPacketBurst
	}
	return &c
}

// bucket is a client's token bucket. It is used on the engine's reader of
// the client only, but guarded anyway so that a transport switch (polling
// POST, then WebSocket reader) cannot race.
type bucket struct {
	mu      sync.Mutex
	tokens  float64
	last    time.Time
	tripped bool
}

// allow takes one token and reports whether there was one. The first
// refusal also reports first = true.
func (b *bucket) allow(r *PacketRate, now time.Time) (ok, first bool) {
	if r.PerSecond < 0 {
		return true, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tripped {
		return false, false
	}
	if b.last.IsZero() {
		b.tokens = float64(r.Burst)
	} else {
		b.tokens = min(float64(r.Burst), b.tokens+now.Sub(b.last).Seconds()*r.PerSecond)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, false
	}
	b.tripped = true
	return false, true
}

// admitPacket applies the packet rate to one message from the client. The
// first message over the rate disconnects the client: every socket hears
// ErrRateLimited in OnError and the client a DISCONNECT for each
// namespace (so socket.io-client reports "io server disconnect" and does
// not reconnect by itself); then the connection closes. Messages after
// that are dropped.
func (c *client) admitPacket() bool {
	ok, first := c.rate.allow(c.srv.opts.PacketRate, time.Now())
	if ok {
		return true
	}
	if first {
		c.srv.opts.Logger.Warn("socketio: packet rate exceeded, disconnecting",
			"sid", c.conn.ID(), "address", c.conn.Handshake().RemoteAddr)
		// After what the client queued before: its handlers see the events
		// that were within the rate.
		c.run(0, func() {
			socks := c.socketList()
			for _, s := range socks {
				s.reportError(fmt.Errorf("%w (client %s)", ErrRateLimited, c.conn.ID()))
				c.send(&Packet{Type: PacketDisconnect, Namespace: s.nsp.name, ID: NoAck})
			}
		})
		c.finish(ReasonForcedServerClose, ErrRateLimited, true)
	}
	return false
}

// namespaceLimitError returns the CONNECT_ERROR payload refusing a new
// namespace when the client has MaxNamespacesPerClient already, or nil.
func (c *client) namespaceLimitError() json.RawMessage {
	max := c.srv.opts.MaxNamespacesPerClient
	if max < 0 {
		return nil
	}
	c.mu.Lock()
	n := c.sockets.len()
	c.mu.Unlock()
	if n < max {
		return nil
	}
	return c.connectErrorData(&ConnectError{Message: ErrTooManyNamespaces.Error()})
}

// roomCounter is implemented by adapters that count a socket's rooms
// without copying them (the memory adapter, and adapters embedding it).
type roomCounter interface {
	countRooms(id SocketID, rooms []Room) (have, add int)
}

// countRooms returns how many rooms socket id is in, its own room not
// counted, and how many of rooms it is not in yet.
func (a *MemoryAdapter) countRooms(id SocketID, rooms []Room) (have, add int) {
	a.smu.RLock()
	defer a.smu.RUnlock()
	sr := a.sid[id]
	if sr == nil {
		return countRooms(id, nil, rooms)
	}
	if len(rooms) == 1 {
		// The common case, one Join at a time: no copy, no scan.
		have = len(sr.rooms)
		if sr.has(Room(id)) {
			have--
		}
		if rooms[0] != Room(id) && !sr.has(rooms[0]) {
			add = 1
		}
		return have, add
	}
	return countRooms(id, sr.rooms, rooms)
}

// roomIndexMin is the room count from which a socket's rooms are also
// kept in a set: joining n rooms one at a time would otherwise scan the
// list each time, O(n²) (10,000 rooms: 50 million comparisons).
const roomIndexMin = 32

// has reports whether the socket is in room r.
func (sr *sockRooms) has(r Room) bool {
	if sr.index != nil {
		_, ok := sr.index[r]
		return ok
	}
	return slices.Contains(sr.rooms, r)
}

// find returns the position of r in sr.rooms, or -1.
func (sr *sockRooms) find(r Room) int {
	if sr.index != nil {
		if _, ok := sr.index[r]; !ok {
			return -1
		}
	}
	return slices.Index(sr.rooms, r)
}

// indexAdd records r, just appended to sr.rooms, in the set, building
// the set once the list is long enough.
func (sr *sockRooms) indexAdd(r Room) {
	switch {
	case sr.index != nil:
		sr.index[r] = struct{}{}
	case len(sr.rooms) >= roomIndexMin:
		sr.index = make(map[Room]struct{}, 2*len(sr.rooms))
		for _, x := range sr.rooms {
			sr.index[x] = struct{}{}
		}
	}
}

func countRooms(id SocketID, cur, rooms []Room) (have, add int) {
	have = len(cur)
	if slices.Contains(cur, Room(id)) {
		have--
	}
	if len(rooms) == 1 {
		if rooms[0] != Room(id) && !slices.Contains(cur, rooms[0]) {
			add = 1
		}
		return have, add
	}
	// Many rooms at once: sets, not a quadratic scan.
	in := make(map[Room]bool, len(cur)+len(rooms))
	for _, r := range cur {
		in[r] = true
	}
	in[Room(id)] = true
	for _, r := range rooms {
		if !in[r] {
			in[r] = true
			add++
		}
	}
	return have, add
}

// checkRooms returns ErrTooManyRooms when joining rooms would put s in
// more than MaxRoomsPerSocket rooms. The caller holds s.joinMu.
func (s *Socket) checkRooms(rooms []Room) error {
	max := s.nsp.server.opts.MaxRoomsPerSocket
	if max < 0 {
		return nil
	}
	var have, add int
	if rc, ok := s.nsp.adapter.(roomCounter); ok {
		have, add = rc.countRooms(s.id, rooms)
	} else {
		have, add = countRooms(s.id, s.nsp.adapter.SocketRooms(s.id), rooms)
	}
	if add > 0 && have+add > max {
		return fmt.Errorf("%w: socket %s is in %d rooms, joining %d more would pass the limit of %d",
			ErrTooManyRooms, s.id, have, add, max)
	}
	return nil
}

// maxPendingBytes bounds the packet bytes waiting for (or in) one
// client's handlers, as maxPendingTasks bounds their number: past it the
// reader waits, so that TCP (or the held polling POST) pushes back on a
// client whose handlers are slower than its sending, instead of the
// server buffering up to 256 packets of MaxHTTPBufferSize each. A packet
// is always taken when nothing is pending, however large.
const maxPendingBytes = 4 << 20

// packetBytes is what a decoded packet holds in memory.
func packetBytes(p *Packet) int {
	n := 64 + len(p.Data) + len(p.Namespace)
	for _, a := range p.Attachments {
		n += len(a)
	}
	return n
}

// overPendingLocked reports whether a packet of size bytes must wait.
func (c *client) overPendingLocked(size int) bool {
	return c.pending > 0 && c.pending+size > maxPendingBytes
}

// chargeLocked counts size bytes as pending until task has run.
func (c *client) chargeLocked(size int, task func()) func() {
	if size == 0 {
		return task
	}
	c.pending += size
	return func() {
		task()
		c.mu.Lock()
		c.pending -= size
		c.waiting.Signal()
		c.mu.Unlock()
	}
}
