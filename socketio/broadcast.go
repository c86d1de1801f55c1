package socketio

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// BroadcastOperator selects the recipients of a broadcast and how it is
// delivered. It is a value: each method returns a modified copy, so an
// operator can be kept and reused.
type BroadcastOperator struct {
	nsp     *Namespace
	opts    BroadcastOptions
	timeout time.Duration
}

// To adds rooms to the selection; the broadcast reaches their union.
func (b BroadcastOperator) To(rooms ...Room) BroadcastOperator {
	b.opts.Rooms = append(slices.Clip(b.opts.Rooms), rooms...)
	return b
}

// In is To.
func (b BroadcastOperator) In(rooms ...Room) BroadcastOperator { return b.To(rooms...) }

// Except leaves out the sockets in rooms.
func (b BroadcastOperator) Except(rooms ...Room) BroadcastOperator {
	b.opts.Except = append(slices.Clip(b.opts.Except), rooms...)
	return b
}

// Local restricts the broadcast to this server's sockets.
func (b BroadcastOperator) Local() BroadcastOperator { b.opts.Flags.Local = true; return b }

// Volatile drops the packet for clients that cannot take it at once.
func (b BroadcastOperator) Volatile() BroadcastOperator { b.opts.Flags.Volatile = true; return b }

// Compress sets whether the packet may be compressed.
func (b BroadcastOperator) Compress(on bool) BroadcastOperator {
	b.opts.Flags.NoCompress = !on
	return b
}

// Timeout bounds EmitWithAck.
func (b BroadcastOperator) Timeout(d time.Duration) BroadcastOperator { b.timeout = d; return b }

// Emit broadcasts an event. The packet is encoded once for all recipients.
func (b BroadcastOperator) Emit(event string, args ...any) error {
	if reservedEvents[event] {
		return fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	p, err := newEventPacket(b.nsp.name, event, args)
	if err != nil {
		return err
	}
	if r := b.nsp.rec; r != nil {
		p = r.record(p, b.opts)
	}
	return b.nsp.adapter.Broadcast(p, b.opts)
}

// BroadcastAckError reports a broadcast whose acknowledgements did not all
// arrive. It matches ErrAckTimeout.
type BroadcastAckError struct {
	Expected, Received int
}

func (e *BroadcastAckError) Error() string {
	return fmt.Sprintf("socketio: %d of %d clients did not acknowledge in time", e.Expected-e.Received, e.Expected)
}

// Is makes the error match ErrAckTimeout.
func (e *BroadcastAckError) Is(target error) bool { return target == ErrAckTimeout }

// EmitWithAck broadcasts an event and collects every recipient's
// acknowledgement until ctx ends (or the operator's Timeout passes). It
// returns the replies received; when some are missing the error is a
// *BroadcastAckError. Nothing waits for replies after it returns.
func (b BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	if reservedEvents[event] {
		return nil, fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	if b.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.timeout)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := newEventPacket(b.nsp.name, event, args)
	if err != nil {
		return nil, err
	}
	p.ID = b.nsp.nextID()
	var (
		mu       sync.Mutex
		expected int
		replies  []Args
		done     = make(chan struct{})
		sent     bool
	)
	check := func() {
		if sent && len(replies) >= expected {
			select {
			case <-done:
			default:
				close(done)
			}
		}
	}
	err = b.nsp.adapter.BroadcastWithAck(ctx, p, b.opts,
		func(n int) { mu.Lock(); expected += n; mu.Unlock() },
		func(a Args) { mu.Lock(); replies = append(replies, a); check(); mu.Unlock() })
	if err != nil {
		return nil, err
	}
	mu.Lock()
	sent = true
	check()
	mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
	cancel()
	mu.Lock()
	defer mu.Unlock()
	out := slices.Clone(replies)
	if len(out) < expected {
		return out, &BroadcastAckError{Expected: expected, Received: len(out)}
	}
	return out, nil
}

// FetchSockets describes the selected sockets, cluster-wide.
func (b BroadcastOperator) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	infos, err := b.nsp.adapter.FetchSockets(ctx, b.opts)
	if err != nil {
		return nil, err
	}
	out := make([]*RemoteSocket, len(infos))
	for i, info := range infos {
		out[i] = &RemoteSocket{SocketInfo: info, nsp: b.nsp}
	}
	return out, nil
}

// SocketsJoin makes the selected sockets join rooms.
func (b BroadcastOperator) SocketsJoin(ctx context.Context, rooms ...Room) error {
	return b.nsp.adapter.AddSockets(ctx, b.opts, rooms)
}

// SocketsLeave makes the selected sockets leave rooms.
func (b BroadcastOperator) SocketsLeave(ctx context.Context, rooms ...Room) error {
	return b.nsp.adapter.DelSockets(ctx, b.opts, rooms)
}

// DisconnectSockets disconnects the selected sockets (and their whole
// connections when close is true).
func (b BroadcastOperator) DisconnectSockets(ctx context.Context, close bool) error {
	return b.nsp.adapter.DisconnectSockets(ctx, b.opts, close)
}

// RemoteSocket is a socket found by FetchSockets, local or on another
// server. Its methods act through the adapter, so they work for both.
type RemoteSocket struct {
	SocketInfo
	nsp *Namespace
}

func (r *RemoteSocket) only() BroadcastOperator { return r.nsp.operator().To(Room(r.ID)) }

// Emit sends an event to the socket.
func (r *RemoteSocket) Emit(event string, args ...any) error { return r.only().Emit(event, args...) }

// Join makes the socket join rooms.
func (r *RemoteSocket) Join(ctx context.Context, rooms ...Room) error {
	return r.only().SocketsJoin(ctx, rooms...)
}

// Leave makes the socket leave rooms.
func (r *RemoteSocket) Leave(ctx context.Context, rooms ...Room) error {
	return r.only().SocketsLeave(ctx, rooms...)
}

// Disconnect disconnects the socket.
func (r *RemoteSocket) Disconnect(ctx context.Context, close bool) error {
	return r.only().DisconnectSockets(ctx, close)
}
