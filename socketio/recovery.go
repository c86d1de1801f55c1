package socketio

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strconv"
	"sync"
	"time"
)

// RecoveryOptions turns on connection state recovery (Node 4.6+): a client
// that loses its connection and comes back within MaxDisconnectionDuration
// gets its socket id, rooms and data back and receives the events it
// missed, and its socket reports Recovered. Every event emitted without an
// acknowledgement and not volatile carries an offset as its last argument,
// which the official client remembers and strips.
type RecoveryOptions struct {
	// MaxDisconnectionDuration is how long a disconnected socket's state and
	// the events sent meanwhile are kept. Zero means 2 minutes.
	MaxDisconnectionDuration time.Duration
	// RunMiddlewares runs the namespace middleware again for a recovered
	// socket. False skips it, as Node does by default (skipMiddlewares).
	RunMiddlewares bool
	// MaxPackets bounds the events kept per namespace for replay; the
	// oldest go first. Zero means 10,000.
	MaxPackets int
	// MaxBytes bounds the payload bytes kept per namespace for replay.
	// Zero means 16 MiB.
	MaxBytes int
}

func (o *RecoveryOptions) withDefaults() *RecoveryOptions {
	c := *o
	if c.MaxDisconnectionDuration <= 0 {
		c.MaxDisconnectionDuration = 2 * time.Minute
	}
	if c.MaxPackets <= 0 {
		c.MaxPackets = 10_000
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 16 << 20
	}
	return &c
}

// recoverable are the disconnect reasons after which a session is kept
// (Node's list).
var recoverable = map[string]bool{
	ReasonTransportError: true, ReasonTransportClose: true, ReasonForcedClose: true,
	ReasonPingTimeout: true, ReasonServerShuttingDown: true, ReasonForcedServerClose: true,
}

// recovery keeps one namespace's packet log and disconnected sessions.
// Both are in time order, so expiry trims their heads.
type recovery struct {
	opts *RecoveryOptions

	mu       sync.Mutex
	next     uint64
	log      []logEntry
	bytes    int
	sessions map[string]*savedSession // by private id
	order    []*savedSession          // by disconnection time
	stop     chan struct{}
}

type logEntry struct {
	offset uint64
	at     time.Time
	opts   BroadcastOptions
	p      *Packet
	size   int
}

type savedSession struct {
	pid   string
	sid   SocketID
	rooms []Room
	data  any
	at    time.Time
}

func newRecovery(opts *RecoveryOptions) *recovery {
	r := &recovery{opts: opts, sessions: make(map[string]*savedSession), stop: make(chan struct{})}
	go r.sweep()
	return r
}

// sweep drops expired state even when nothing else happens, so memory is
// released when the window ends.
func (r *recovery) sweep() {
	t := time.NewTicker(min(r.opts.MaxDisconnectionDuration/4+time.Millisecond, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.mu.Lock()
			r.expireLocked(time.Now())
			r.mu.Unlock()
		case <-r.stop:
			return
		}
	}
}

func (r *recovery) close() { close(r.stop) }

func (r *recovery) expireLocked(now time.Time) {
	limit := now.Add(-r.opts.MaxDisconnectionDuration)
	i := 0
	for i < len(r.log) && (r.log[i].at.Before(limit) || len(r.log)-i > r.opts.MaxPackets || r.bytes > r.opts.MaxBytes) {
		r.bytes -= r.log[i].size
		r.log[i] = logEntry{}
		i++
	}
	r.log = r.log[i:]
	if len(r.log) == 0 {
		r.log = nil
	}
	j := 0
	for j < len(r.order) && r.order[j].at.Before(limit) {
		if s := r.order[j]; r.sessions[s.pid] == s {
			delete(r.sessions, s.pid)
		}
		r.order[j] = nil
		j++
	}
	r.order = r.order[j:]
	if len(r.order) == 0 {
		r.order = nil
	}
}

// record gives an event without acknowledgement its offset (appended as
// the last argument, in a copy of p) and keeps it for replay.
func (r *recovery) record(p *Packet, opts BroadcastOptions) *Packet {
	if p.ID >= 0 || opts.Flags.Volatile || (p.Type != PacketEvent && p.Type != PacketBinaryEvent) {
		return p
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	off := r.next
	q := *p
	q.Data = appendOffset(p.Data, formatOffset(off))
	e := logEntry{offset: off, at: time.Now(), opts: opts, p: &q, size: len(q.Data) + 64}
	for _, a := range q.Attachments {
		e.size += len(a)
	}
	r.log = append(r.log, e)
	r.bytes += e.size
	r.expireLocked(e.at)
	return &q
}

func formatOffset(n uint64) string { return strconv.FormatUint(n, 36) }

// appendOffset inserts a string as the last element of a JSON array.
func appendOffset(data []byte, off string) []byte {
	end := len(data) - 1
	for end > 0 && data[end] != ']' {
		end--
	}
	out := make([]byte, 0, len(data)+len(off)+3)
	out = append(out, data[:end]...)
	if firstByte(data[1:end]) != 0 {
		out = append(out, ',')
	}
	out = appendString(out, off)
	return append(out, data[end:]...)
}

// save keeps a disconnected socket's state for recovery.
func (r *recovery) save(s *Socket, rooms []Room) {
	if s.pid == "" {
		return
	}
	saved := &savedSession{pid: s.pid, sid: s.id, rooms: rooms, data: s.Data(), at: time.Now()}
	r.mu.Lock()
	r.sessions[s.pid] = saved
	r.order = append(r.order, saved)
	r.mu.Unlock()
}

// restore returns a saved session and the packets it missed after offset,
// and forgets the session. ok is false when either is unknown or expired.
func (r *recovery) restore(pid, offset string) (*savedSession, []*Packet, bool) {
	off, err := strconv.ParseUint(offset, 36, 64)
	if pid == "" || err != nil {
		return nil, nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireLocked(time.Now())
	saved := r.sessions[pid]
	if saved == nil {
		return nil, nil, false
	}
	i, found := slices.BinarySearchFunc(r.log, off, func(e logEntry, t uint64) int {
		switch {
		case e.offset < t:
			return -1
		case e.offset > t:
			return 1
		}
		return 0
	})
	// The offset must still be in the log (or be the newest one sent), or
	// some missed packets are gone.
	if !found && off != r.next {
		return nil, nil, false
	}
	delete(r.sessions, pid)
	var missed []*Packet
	if found {
		for _, e := range r.log[i+1:] {
			if matches(e.opts, saved.rooms) {
				missed = append(missed, e.p)
			}
		}
	}
	return saved, missed, true
}

// matches reports whether a socket in rooms was selected by opts.
func matches(opts BroadcastOptions, rooms []Room) bool {
	for _, r := range opts.Except {
		if slices.Contains(rooms, r) {
			return false
		}
	}
	if len(opts.Rooms) == 0 {
		return true
	}
	for _, r := range opts.Rooms {
		if slices.Contains(rooms, r) {
			return true
		}
	}
	return false
}

func newPrivateID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
