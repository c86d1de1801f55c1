package redisadapter

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/heraldio/herald/adapter/redis/internal/wire"
	"github.com/heraldio/herald/socketio"
)

// onRequest answers a request from another server (or from an emitter),
// as Node's adapter does (socketio-reference §9.3).
func (a *Adapter) onRequest(m *wire.Message) {
	fromSelf := m.UID != nil && *m.UID == a.uid
	ctx := a.ctx
	switch *m.Type {
	case wire.TypeSockets:
		if a.ownRequest(m.RequestID) {
			return
		}
		ids := a.local.Sockets(socketio.BroadcastOptions{Rooms: m.Rooms})
		a.respond(m, wire.SocketsResponse(m.RequestID, ids))

	case wire.TypeAllRooms:
		if a.ownRequest(m.RequestID) {
			return
		}
		a.respond(m, wire.RoomsResponse(m.RequestID, a.localRooms()))

	case wire.TypeRemoteJoin, wire.TypeRemoteLeave, wire.TypeRemoteDisconnect:
		if m.Opts != nil {
			if fromSelf {
				return // already applied locally
			}
			opts, _ := m.Opts.Options()
			opts.Flags.Local = true
			switch *m.Type {
			case wire.TypeRemoteJoin:
				_ = a.local.AddSockets(ctx, opts, m.Rooms)
			case wire.TypeRemoteLeave:
				_ = a.local.DelSockets(ctx, opts, m.Rooms)
			default:
				_ = a.local.DisconnectSockets(ctx, opts, m.Close)
			}
			return
		}
		// The legacy form names one socket and answers.
		s := a.nsp.Socket(socketio.SocketID(m.SID))
		if s == nil {
			return
		}
		switch *m.Type {
		case wire.TypeRemoteJoin, wire.TypeRemoteLeave:
			room, ok := wire.RoomName(m.Room)
			if !ok {
				return
			}
			if *m.Type == wire.TypeRemoteJoin {
				s.Join(room)
			} else {
				s.Leave(room)
			}
		default:
			s.Disconnect(m.Close)
		}
		a.respond(m, wire.AckResponse(m.RequestID))

	case wire.TypeRemoteFetch:
		if a.ownRequest(m.RequestID) {
			return
		}
		var opts socketio.BroadcastOptions
		if m.Opts != nil {
			opts, _ = m.Opts.Options()
		}
		opts.Flags.Local = true
		infos, _ := a.local.FetchSockets(ctx, opts)
		resp, err := wire.FetchResponse(m.RequestID, infos)
		if err != nil {
			a.log.Warn("redis adapter: cannot answer fetchSockets", "err", err)
			return
		}
		a.respond(m, resp)

	case wire.TypeServerSideEmit:
		if fromSelf {
			return
		}
		p := &socketio.Packet{Type: socketio.PacketEvent, Namespace: a.nsp.Name(), ID: socketio.NoAck, Data: m.Data}
		if len(m.Attachments) > 0 {
			p.Type, p.Attachments = socketio.PacketBinaryEvent, m.Attachments
		}
		event, args, err := p.Event()
		if err != nil {
			a.errs.Add(1)
			return
		}
		var reply func(socketio.Args)
		if m.RequestID != "" {
			var once sync.Once
			reqID := m.RequestID
			reply = func(args socketio.Args) {
				once.Do(func() {
					// Node answers serverSideEmit on the shared response
					// channel whatever publishOnSpecificResponseChannel says.
					a.publish(a.responseChannel, wire.ServerSideEmitResponse(reqID, args.Raw(0)), nil)
				})
			}
		}
		a.nsp.DispatchServerSideEvent(event, args, reply)

	case wire.TypeBroadcast:
		if a.ownAckRequest(m.RequestID) || fromSelf {
			return
		}
		p, err := wire.ToPacket(m.Packet, m.Attachments)
		if err != nil {
			a.errs.Add(1)
			return
		}
		p.Namespace = a.nsp.Name()
		p.ID = a.nsp.NextAckID() // the namespace's own sequence, as Node's nsp._ids
		var opts socketio.BroadcastOptions
		var timeout int64
		if m.Opts != nil {
			opts, timeout = m.Opts.Options()
		}
		opts.Flags.Local = true
		d := a.opts.RequestsTimeout
		if timeout > 0 {
			d = time.Duration(timeout) * time.Millisecond
		}
		bctx, cancel := context.WithCancel(a.ctx)
		time.AfterFunc(d, cancel)
		reqID := m.RequestID
		_ = a.local.BroadcastWithAck(bctx, p, opts,
			func(n int) { a.respond(m, wire.ClientCountResponse(reqID, n)) },
			func(args socketio.Args) {
				var first json.RawMessage
				var atts [][]byte
				if args.Len() > 0 {
					first, atts = args.Raw(0), args.Attachments()
				}
				b, err := wire.AppendBroadcastAck(nil, reqID, first, atts)
				if err != nil {
					a.errs.Add(1)
					return
				}
				a.respond(m, b)
			})
	}
}

func (a *Adapter) ownRequest(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.requests[id]
	return ok
}

func (a *Adapter) ownAckRequest(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.ackRequests[id]
	return ok
}

// respond publishes a response where the requester listens.
func (a *Adapter) respond(m *wire.Message, payload []byte) {
	channel := a.responseChannel
	if a.opts.PublishOnSpecificResponseChannel {
		uid := "undefined" // what Node writes for a request without uid
		if m.UID != nil {
			uid = *m.UID
		}
		channel += uid + "#"
	}
	a.publish(channel, payload, nil)
}

// hasRoom reports whether room has local members. The in-memory adapter's
// HasRoom, when it has one, avoids listing them.
func (a *Adapter) hasRoom(room socketio.Room) bool {
	if rc, ok := a.local.(interface{ HasRoom(socketio.Room) bool }); ok {
		return rc.HasRoom(room)
	}
	return len(a.local.Sockets(socketio.BroadcastOptions{Rooms: []socketio.Room{room}})) > 0
}

// localRooms lists the rooms that have local members (Node's rooms map).
func (a *Adapter) localRooms() []socketio.Room {
	if rl, ok := a.local.(interface{ Rooms() []socketio.Room }); ok {
		return rl.Rooms()
	}
	seen := make(map[socketio.Room]bool)
	var out []socketio.Room
	for _, id := range a.local.Sockets(socketio.BroadcastOptions{}) {
		for _, r := range a.local.SocketRooms(id) {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// onResponse routes a response to the request waiting for it.
func (a *Adapter) onResponse(payload []byte) {
	m, err := wire.DecodeMessage(payload)
	if err != nil {
		a.errs.Add(1)
		return
	}
	a.mu.Lock()
	if ar := a.ackRequests[m.RequestID]; ar != nil {
		a.mu.Unlock()
		if m.Type == nil {
			return
		}
		switch *m.Type {
		case wire.TypeBroadcastCount:
			ar.count(m.ClientCount)
		case wire.TypeBroadcastAck:
			ar.onAck(argsOf(m.Packet, m.Attachments))
		}
		return
	}
	pr := a.requests[m.RequestID]
	if pr == nil || m.RequestID == "" {
		a.mu.Unlock()
		return
	}
	switch pr.typ {
	case wire.TypeRemoteFetch:
		pr.got++
		var socks []wire.RemoteSocket
		if len(m.Sockets) > 0 && json.Unmarshal(m.Sockets, &socks) == nil {
			for _, s := range socks {
				info := socketio.SocketInfo{ID: s.ID, Handshake: s.Handshake, Rooms: []socketio.Room(s.Rooms)}
				if len(s.Data) > 0 && string(s.Data) != "null" {
					info.Data = s.Data
				}
				pr.infos = append(pr.infos, info)
			}
		}
		if pr.got == pr.want {
			close(pr.done)
			delete(a.requests, m.RequestID)
		}
		a.mu.Unlock()
	case wire.TypeServerSideEmit:
		pr.got++
		if pr.got == pr.want {
			delete(a.requests, m.RequestID)
			pr.release()
		}
		a.mu.Unlock()
		pr.onAck(argsOf(m.Data, m.Attachments))
	default:
		a.mu.Unlock()
	}
}
