// Package emitter publishes events and server-wide operations into a
// cluster of Socket.IO servers that use the classic Redis adapter (Herald's
// adapter/redis or Node's @socket.io/redis-adapter), from any Go process
// that is not itself a Socket.IO server. It is wire-compatible with
// @socket.io/redis-emitter 5.1 (socketio-reference §9.5): broadcasts are the
// notepack array [uid, packet, opts] with uid "emitter", join, leave and
// disconnect are JSON requests without a uid.
//
// An Emitter is an immutable value: To, Except, Volatile and the others
// return modified copies, so one can be kept and reused from several
// goroutines. Nothing waits for acknowledgements: the emitter is not a
// member of the cluster.
package emitter

import (
	"context"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/redis/internal/wire"
	"github.com/heraldio/herald/socketio"
)

// Options configures an Emitter. The zero value is valid.
type Options struct {
	// Key prefixes every channel; it must match the servers' adapter key.
	// Empty means "socket.io".
	Key string
}

// Emitter publishes to one namespace of the cluster, with a selection of
// rooms and flags.
type Emitter struct {
	client redis.UniversalClient
	key    string
	nsp    string
	rooms  []socketio.Room
	except []socketio.Room
	flags  []wire.Flag
}

// New returns an Emitter for the main namespace "/". opts may be nil.
func New(client redis.UniversalClient, opts *Options) *Emitter {
	key := "socket.io"
	if opts != nil && opts.Key != "" {
		key = opts.Key
	}
	return &Emitter{client: client, key: key, nsp: "/"}
}

// Of returns an Emitter for namespace nsp ("/" is prepended when missing),
// with no rooms or flags selected.
func (e *Emitter) Of(nsp string) *Emitter {
	if len(nsp) == 0 || nsp[0] != '/' {
		nsp = "/" + nsp
	}
	return &Emitter{client: e.client, key: e.key, nsp: nsp}
}

func (e *Emitter) clone() *Emitter {
	c := *e
	c.rooms, c.except, c.flags = slices.Clip(e.rooms), slices.Clip(e.except), slices.Clip(e.flags)
	return &c
}

func addRooms(list, rooms []socketio.Room) []socketio.Room {
	for _, r := range rooms {
		if !slices.Contains(list, r) {
			list = append(list, r)
		}
	}
	return list
}

// To adds rooms to the selection; the broadcast reaches their union.
func (e *Emitter) To(rooms ...socketio.Room) *Emitter {
	c := e.clone()
	c.rooms = addRooms(c.rooms, rooms)
	return c
}

// In is To.
func (e *Emitter) In(rooms ...socketio.Room) *Emitter { return e.To(rooms...) }

// Except leaves out the sockets in rooms.
func (e *Emitter) Except(rooms ...socketio.Room) *Emitter {
	c := e.clone()
	c.except = addRooms(c.except, rooms)
	return c
}

func (e *Emitter) withFlag(name string, v bool) *Emitter {
	c := e.clone()
	for i, f := range c.flags {
		if f.Name == name {
			c.flags = slices.Clone(c.flags)
			c.flags[i].Value = v
			return c
		}
	}
	c.flags = append(c.flags, wire.Flag{Name: name, Value: v})
	return c
}

// Volatile lets servers drop the event for clients that cannot take it at
// once.
func (e *Emitter) Volatile() *Emitter { return e.withFlag("volatile", true) }

// Compress sets whether the event may be compressed.
func (e *Emitter) Compress(on bool) *Emitter { return e.withFlag("compress", on) }

// reserved are the event names the Node emitter refuses.
var reserved = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// Emit publishes an event to the selected sockets of every server. []byte
// arguments (at any depth) travel as MessagePack bin and reach clients as
// binary. ctx bounds the PUBLISH.
func (e *Emitter) Emit(ctx context.Context, event string, args ...any) error {
	if reserved[event] {
		return fmt.Errorf("%w: %q", socketio.ErrReservedEvent, event)
	}
	p, err := socketio.AckPacket(e.nsp, socketio.NoAck, append([]any{event}, args...)...)
	if err != nil {
		return fmt.Errorf("emitter: %w", err)
	}
	p.Type = socketio.PacketEvent
	opts := socketio.BroadcastOptions{Rooms: e.rooms, Except: e.except}
	msg, err := wire.AppendBroadcast(nil, wire.EmitterUID, p, opts, e.flags, wire.EmitterOrder)
	if err != nil {
		return fmt.Errorf("emitter: %w", err)
	}
	channel := e.key + "#" + e.nsp + "#"
	if len(e.rooms) == 1 {
		channel += string(e.rooms[0]) + "#"
	}
	return e.publish(ctx, channel, msg)
}

func (e *Emitter) publish(ctx context.Context, channel string, msg []byte) error {
	if err := e.client.Publish(ctx, channel, msg).Err(); err != nil {
		return fmt.Errorf("emitter: publish: %w", err)
	}
	return nil
}

func (e *Emitter) requestChannel() string { return e.key + "-request#" + e.nsp + "#" }

func (e *Emitter) opts() socketio.BroadcastOptions {
	return socketio.BroadcastOptions{Rooms: e.rooms, Except: e.except}
}

// SocketsJoin makes the selected sockets of every server join rooms.
func (e *Emitter) SocketsJoin(ctx context.Context, rooms ...socketio.Room) error {
	return e.publish(ctx, e.requestChannel(), wire.RoomsRequest("", wire.TypeRemoteJoin, e.opts(), rooms))
}

// SocketsLeave makes the selected sockets of every server leave rooms.
func (e *Emitter) SocketsLeave(ctx context.Context, rooms ...socketio.Room) error {
	return e.publish(ctx, e.requestChannel(), wire.RoomsRequest("", wire.TypeRemoteLeave, e.opts(), rooms))
}

// DisconnectSockets disconnects the selected sockets of every server, and
// their whole connections when close is true.
func (e *Emitter) DisconnectSockets(ctx context.Context, close bool) error {
	return e.publish(ctx, e.requestChannel(), wire.DisconnectRequest("", e.opts(), close))
}

// ServerSideEmit sends an event to the servers' server-side handlers
// (Namespace.OnServerSideEvent). There are no acknowledgements. Arguments
// are JSON; binary ones are refused.
func (e *Emitter) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	p, err := socketio.AckPacket(e.nsp, socketio.NoAck, append([]any{event}, args...)...)
	if err != nil {
		return fmt.Errorf("emitter: %w", err)
	}
	if len(p.Attachments) > 0 {
		return fmt.Errorf("emitter: serverSideEmit: binary arguments are not supported")
	}
	return e.publish(ctx, e.requestChannel(), wire.ServerSideEmitRequest(wire.EmitterUID, "", p.Data))
}
