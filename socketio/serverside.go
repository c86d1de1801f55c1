package socketio

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// reservedServerSide are the names serverSideEmit refuses (Node's list).
var reservedServerSide = map[string]bool{"connect": true, "connection": true, "new_namespace": true}

// ServerSideHandler handles an event sent by another server of the cluster
// with ServerSideEmit; ack is non-nil when the sender waits for a reply.
type ServerSideHandler func(args Args, ack Ack)

// ServerSideEmit sends an event to the other servers of the cluster (their
// OnServerSideEvent handlers on this namespace). With the in-memory adapter
// there are no other servers and it does nothing.
func (n *Namespace) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	if reservedServerSide[event] {
		return fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	_, err := n.adapter.ServerSideEmit(ctx, append([]any{event}, args...), nil)
	return err
}

// ServerSideEmitWithAck sends an event to the other servers and collects
// one reply from each until ctx ends. When some are missing the error is a
// *BroadcastAckError. With the in-memory adapter it returns no replies.
func (n *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	if reservedServerSide[event] {
		return nil, fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	var (
		mu      sync.Mutex
		replies []Args
		done    = make(chan struct{})
		want    = -1
	)
	check := func() {
		if want >= 0 && len(replies) >= want {
			select {
			case <-done:
			default:
				close(done)
			}
		}
	}
	expected, err := n.adapter.ServerSideEmit(ctx, append([]any{event}, args...), func(a Args) {
		mu.Lock()
		replies = append(replies, a)
		check()
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	mu.Lock()
	want = expected
	check()
	mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	out := slices.Clone(replies)
	if len(out) < expected {
		return out, &BroadcastAckError{Expected: expected, Received: len(out)}
	}
	return out, nil
}

// OnServerSideEvent registers the handler of an event sent by other
// servers with ServerSideEmit, replacing any previous one.
func (n *Namespace) OnServerSideEvent(event string, h ServerSideHandler) {
	n.mu.Lock()
	if n.serverSide == nil {
		n.serverSide = make(map[string]ServerSideHandler)
	}
	n.serverSide[event] = h
	n.mu.Unlock()
}

// DispatchServerSideEvent runs the handler registered for an event that
// arrived from another server; cluster adapters call it. reply, when not
// nil, sends the handler's acknowledgement back. It reports whether a
// handler ran.
func (n *Namespace) DispatchServerSideEvent(event string, args Args, reply func(Args)) bool {
	n.mu.RLock()
	h := n.serverSide[event]
	n.mu.RUnlock()
	if h == nil {
		return false
	}
	var ack Ack
	if reply != nil {
		ack = func(a ...any) error {
			p, err := AckPacket(n.name, 0, a...)
			if err != nil {
				return err
			}
			args, err := p.Args()
			if err != nil {
				return err
			}
			reply(args)
			return nil
		}
	}
	h(args, ack)
	return true
}

// ServerSideEmit sends an event to the other servers on the main namespace.
func (s *Server) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	return s.root.ServerSideEmit(ctx, event, args...)
}

// ServerSideEmitWithAck sends an event to the other servers on the main
// namespace and collects their replies.
func (s *Server) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	return s.root.ServerSideEmitWithAck(ctx, event, args...)
}

// OnServerSideEvent registers a handler for events from other servers on
// the main namespace.
func (s *Server) OnServerSideEvent(event string, h ServerSideHandler) {
	s.root.OnServerSideEvent(event, h)
}
