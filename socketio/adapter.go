package socketio

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
)

// Room names a group of sockets in a namespace. Every socket is in the
// room named by its own id.
type Room string

// SocketID identifies a socket across the cluster.
type SocketID string

// BroadcastOptions select the recipients of a broadcast or of a
// server-wide operation: the sockets in any of Rooms (all sockets when
// Rooms is empty) that are in none of Except.
type BroadcastOptions struct {
	Rooms  []Room
	Except []Room
	Flags  BroadcastFlags
}

// BroadcastFlags modify how a broadcast is delivered.
type BroadcastFlags struct {
	// Volatile packets are dropped for a client that cannot take them at once.
	Volatile bool
	// Local broadcasts reach this server's sockets only, not the cluster's.
	Local bool
	// NoCompress disables permessage-deflate for the packet.
	NoCompress bool
}

// Adapter keeps the rooms of one namespace and delivers its broadcasts. The
// in-memory adapter (NewMemoryAdapter) serves a single server; cluster
// adapters wrap it, deliver locally through it, and forward to the other
// servers.
//
// Guarantees an implementation must keep: Broadcast delivers to each
// selected local socket at most once, in the order Broadcast was called
// for that socket; the membership methods take effect before they return;
// methods are safe for concurrent use and never call back into the
// Namespace while holding their own locks.
type Adapter interface {
	// AddAll adds socket id to rooms.
	AddAll(id SocketID, rooms []Room)
	// Del removes socket id from room.
	Del(id SocketID, room Room)
	// DelAll removes socket id from every room.
	DelAll(id SocketID)
	// SocketRooms returns the rooms of a local socket, or nil.
	SocketRooms(id SocketID) []Room
	// Sockets returns the ids of the local sockets selected by opts.
	Sockets(opts BroadcastOptions) []SocketID

	// Broadcast sends p to every socket selected by opts.
	Broadcast(p *Packet, opts BroadcastOptions) error
	// BroadcastWithAck sends p, whose ID is set, to every selected socket
	// and calls onAck with each reply until ctx ends. It returns how many
	// sockets were sent the packet (across the cluster for cluster
	// adapters: remote counts may be added later through expect).
	BroadcastWithAck(ctx context.Context, p *Packet, opts BroadcastOptions, expect func(n int), onAck func(Args)) error

	// FetchSockets describes the sockets selected by opts.
	FetchSockets(ctx context.Context, opts BroadcastOptions) ([]SocketInfo, error)
	// AddSockets makes the selected sockets join rooms.
	AddSockets(ctx context.Context, opts BroadcastOptions, rooms []Room) error
	// DelSockets makes the selected sockets leave rooms.
	DelSockets(ctx context.Context, opts BroadcastOptions, rooms []Room) error
	// DisconnectSockets disconnects the selected sockets, closing their
	// underlying connections when close is true.
	DisconnectSockets(ctx context.Context, opts BroadcastOptions, close bool) error
	// ServerSideEmit sends an event to the other servers of the cluster and,
	// when onAck is set, collects their replies until ctx ends. It returns
	// the number of servers expected to reply.
	ServerSideEmit(ctx context.Context, args []any, onAck func(Args)) (int, error)
	// ServerCount returns the number of servers in the cluster.
	ServerCount(ctx context.Context) (int, error)
	// Close releases the adapter's resources.
	Close(ctx context.Context) error
}

// SocketInfo describes a socket that may live on another server.
type SocketInfo struct {
	ID        SocketID
	Handshake *Handshake
	Rooms     []Room
	Data      any
}

// NewMemoryAdapter returns the in-memory adapter for nsp: the default.
func NewMemoryAdapter(nsp *Namespace) Adapter { return newMemoryAdapter(nsp) }

var _ Adapter = (*MemoryAdapter)(nil)

const roomShards = 32

// MemoryAdapter is the in-memory Adapter. Room membership is sharded so
// that joins and broadcasts in different rooms do not contend; a
// broadcast takes a snapshot of its recipients and writes without holding
// any lock. A socket's own room (its id) is not kept in the shards: it is
// read from the socket's entry, which spares every connection a room table
// of its own (about 250 bytes of an idle connection's memory).
type MemoryAdapter struct {
	nsp    *Namespace
	seed   maphash.Seed
	shards [roomShards]roomShard

	smu sync.RWMutex
	sid map[SocketID]*sockRooms // every local socket and its rooms
}

type roomShard struct {
	mu    sync.RWMutex
	rooms map[Room]map[SocketID]*Socket
}

type sockRooms struct {
	s     *Socket
	rooms []Room
	index map[Room]struct{} // set of rooms, once there are many (limits.go)
}

func newMemoryAdapter(nsp *Namespace) *MemoryAdapter {
	a := &MemoryAdapter{nsp: nsp, seed: maphash.MakeSeed(), sid: make(map[SocketID]*sockRooms)}
	for i := range a.shards {
		a.shards[i].rooms = make(map[Room]map[SocketID]*Socket)
	}
	return a
}

func (a *MemoryAdapter) shard(r Room) *roomShard {
	return &a.shards[maphash.String(a.seed, string(r))%roomShards]
}

// AddAll implements Adapter.
func (a *MemoryAdapter) AddAll(id SocketID, rooms []Room) {
	a.smu.Lock()
	sr := a.sid[id]
	if sr == nil {
		s := a.nsp.socket(id)
		if s == nil {
			a.smu.Unlock()
			return
		}
		sr = &sockRooms{s: s}
		a.sid[id] = sr
	}
	var added []Room
	for _, r := range rooms {
		if !sr.has(r) {
			sr.rooms = append(sr.rooms, r)
			sr.indexAdd(r)
			if r != Room(id) {
				added = append(added, r)
			}
		}
	}
	s := sr.s
	a.smu.Unlock()
	for _, r := range added {
		sh := a.shard(r)
		sh.mu.Lock()
		m := sh.rooms[r]
		if m == nil {
			m = make(map[SocketID]*Socket)
			sh.rooms[r] = m
		}
		m[id] = s
		sh.mu.Unlock()
	}
}

// Del implements Adapter.
func (a *MemoryAdapter) Del(id SocketID, room Room) {
	a.smu.Lock()
	sr := a.sid[id]
	found := false
	if sr != nil {
		if i := sr.find(room); i >= 0 {
			sr.rooms = slices.Delete(sr.rooms, i, i+1)
			delete(sr.index, room)
			found = true
		}
	}
	a.smu.Unlock()
	if found && room != Room(id) {
		a.delFromRoom(id, room)
	}
}

func (a *MemoryAdapter) delFromRoom(id SocketID, r Room) {
	sh := a.shard(r)
	sh.mu.Lock()
	if m := sh.rooms[r]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(sh.rooms, r)
		}
	}
	sh.mu.Unlock()
}

// DelAll implements Adapter.
func (a *MemoryAdapter) DelAll(id SocketID) {
	a.smu.Lock()
	sr := a.sid[id]
	delete(a.sid, id)
	a.smu.Unlock()
	if sr == nil {
		return
	}
	for _, r := range sr.rooms {
		if r != Room(id) {
			a.delFromRoom(id, r)
		}
	}
}

// self returns the local socket whose own room is r, if it is still in
// it (a socket may leave its own room).
func (a *MemoryAdapter) self(r Room) *Socket {
	a.smu.RLock()
	defer a.smu.RUnlock()
	if sr := a.sid[SocketID(r)]; sr != nil && sr.has(r) {
		return sr.s
	}
	return nil
}

// HasRoom reports whether room has local members, without copying them:
// cluster adapters check it before decoding a message published to one
// room.
func (a *MemoryAdapter) HasRoom(room Room) bool {
	sh := a.shard(room)
	sh.mu.RLock()
	n := len(sh.rooms[room])
	sh.mu.RUnlock()
	return n > 0 || a.self(room) != nil
}

// Rooms returns every room with local members (Node's adapter.rooms keys),
// for the cluster requests that list them.
func (a *MemoryAdapter) Rooms() []Room {
	var out []Room
	shared := make(map[Room]bool)
	for i := range a.shards {
		sh := &a.shards[i]
		sh.mu.RLock()
		for r := range sh.rooms {
			out = append(out, r)
			shared[r] = true
		}
		sh.mu.RUnlock()
	}
	a.smu.RLock()
	for id, sr := range a.sid {
		if r := Room(id); !shared[r] && sr.has(r) {
			out = append(out, r)
		}
	}
	a.smu.RUnlock()
	return out
}

// SocketRooms implements Adapter.
func (a *MemoryAdapter) SocketRooms(id SocketID) []Room {
	a.smu.RLock()
	defer a.smu.RUnlock()
	if sr := a.sid[id]; sr != nil {
		return slices.Clone(sr.rooms)
	}
	return nil
}

// Sockets implements Adapter.
func (a *MemoryAdapter) Sockets(opts BroadcastOptions) []SocketID {
	var ids []SocketID
	a.apply(opts, func(s *Socket) { ids = append(ids, s.id) })
	return ids
}

// apply calls fn for each selected local socket, outside every lock.
func (a *MemoryAdapter) apply(opts BroadcastOptions, fn func(*Socket)) {
	for _, s := range a.selectSockets(opts) {
		fn(s)
	}
}

func (a *MemoryAdapter) selectSockets(opts BroadcastOptions) []*Socket {
	var except map[SocketID]bool
	if len(opts.Except) > 0 {
		except = make(map[SocketID]bool)
		for _, r := range opts.Except {
			sh := a.shard(r)
			sh.mu.RLock()
			for id := range sh.rooms[r] {
				except[id] = true
			}
			sh.mu.RUnlock()
			if s := a.self(r); s != nil {
				except[s.id] = true
			}
		}
	}
	var out []*Socket
	if len(opts.Rooms) == 0 {
		a.smu.RLock()
		out = make([]*Socket, 0, len(a.sid))
		for id, sr := range a.sid {
			if !except[id] {
				out = append(out, sr.s)
			}
		}
		a.smu.RUnlock()
		return out
	}
	if len(opts.Rooms) == 1 {
		sh := a.shard(opts.Rooms[0])
		sh.mu.RLock()
		m := sh.rooms[opts.Rooms[0]]
		out = make([]*Socket, 0, len(m))
		for id, s := range m {
			if !except[id] {
				out = append(out, s)
			}
		}
		sh.mu.RUnlock()
		// Its own socket is never in the shard's table: no duplicate.
		if s := a.self(opts.Rooms[0]); s != nil && !except[s.id] {
			out = append(out, s)
		}
		return out
	}
	seen := make(map[SocketID]bool)
	for _, r := range opts.Rooms {
		sh := a.shard(r)
		sh.mu.RLock()
		for id, s := range sh.rooms[r] {
			if !except[id] && !seen[id] {
				seen[id] = true
				out = append(out, s)
			}
		}
		sh.mu.RUnlock()
		if s := a.self(r); s != nil && !except[s.id] && !seen[s.id] {
			seen[s.id] = true
			out = append(out, s)
		}
	}
	return out
}

// Broadcast implements Adapter. The packet is encoded once; every
// recipient is handed the same bytes.
func (a *MemoryAdapter) Broadcast(p *Packet, opts BroadcastOptions) error {
	enc := a.nsp.server.encode(p, opts.Flags.NoCompress)
	for _, s := range a.selectSockets(opts) {
		s.deliver(p, enc, opts.Flags.Volatile)
	}
	return nil
}

// BroadcastWithAck implements Adapter.
func (a *MemoryAdapter) BroadcastWithAck(ctx context.Context, p *Packet, opts BroadcastOptions, expect func(int), onAck func(Args)) error {
	enc := a.nsp.server.encode(p, opts.Flags.NoCompress)
	targets := a.selectSockets(opts)
	expect(len(targets))
	for _, s := range targets {
		if s.registerAck(p.ID, onAck) {
			s.deliver(p, enc, opts.Flags.Volatile)
		}
	}
	// No waiter outlives the broadcast (unlike Node, socket.io#4984).
	context.AfterFunc(ctx, func() {
		for _, s := range targets {
			s.takeAck(p.ID)
		}
	})
	return nil
}

// FetchSockets implements Adapter.
func (a *MemoryAdapter) FetchSockets(_ context.Context, opts BroadcastOptions) ([]SocketInfo, error) {
	var out []SocketInfo
	a.apply(opts, func(s *Socket) { out = append(out, s.info()) })
	return out, nil
}

// AddSockets implements Adapter. Sockets that would pass
// Options.MaxRoomsPerSocket join nothing; the first such error (wrapping
// ErrTooManyRooms) is returned once the others have joined.
func (a *MemoryAdapter) AddSockets(_ context.Context, opts BroadcastOptions, rooms []Room) error {
	var first error
	a.apply(opts, func(s *Socket) {
		if err := s.Join(rooms...); err != nil && first == nil {
			first = err
		}
	})
	return first
}

// DelSockets implements Adapter.
func (a *MemoryAdapter) DelSockets(_ context.Context, opts BroadcastOptions, rooms []Room) error {
	a.apply(opts, func(s *Socket) {
		for _, r := range rooms {
			s.Leave(r)
		}
	})
	return nil
}

// DisconnectSockets implements Adapter.
func (a *MemoryAdapter) DisconnectSockets(_ context.Context, opts BroadcastOptions, close bool) error {
	a.apply(opts, func(s *Socket) { s.Disconnect(close) })
	return nil
}

// ServerSideEmit implements Adapter: a single server has no peers.
func (a *MemoryAdapter) ServerSideEmit(context.Context, []any, func(Args)) (int, error) {
	return 0, nil
}

// ServerCount implements Adapter.
func (a *MemoryAdapter) ServerCount(context.Context) (int, error) { return 1, nil }

// Close implements Adapter.
func (a *MemoryAdapter) Close(context.Context) error { return nil }
