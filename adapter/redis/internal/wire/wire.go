// Package wire encodes and decodes the messages of the classic
// @socket.io/redis-adapter 8.x and @socket.io/redis-emitter 5.x
// (socketio-reference §9.1-9.3, §9.5): the notepack MessagePack broadcast
// array, the JSON requests and responses, and the MessagePack
// broadcast-with-ack request and its acks. It does no I/O.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/heraldio/herald/socketio"
)

// Request types of the classic adapter (socket.io-redis-adapter RequestType).
const (
	TypeSockets          = 0
	TypeAllRooms         = 1
	TypeRemoteJoin       = 2
	TypeRemoteLeave      = 3
	TypeRemoteDisconnect = 4
	TypeRemoteFetch      = 5
	TypeServerSideEmit   = 6
	TypeBroadcast        = 7
	TypeBroadcastCount   = 8
	TypeBroadcastAck     = 9
)

// EmitterUID is the uid the Node emitter puts in its broadcasts.
const EmitterUID = "emitter"

// ErrMalformed reports a message that cannot be decoded.
var ErrMalformed = errors.New("redis adapter: malformed message")

// Flag is one entry of a broadcast's flags map, kept in order because
// Node writes them in insertion order.
type Flag struct {
	Name  string
	Value any // bool or int64
}

// Broadcast is the decoded or to-be-encoded [uid, packet, opts] message.
type Broadcast struct {
	UID    string // "" when absent
	Packet *socketio.Packet
	Opts   socketio.BroadcastOptions
	// Timeout is flags.timeout in milliseconds, 0 when absent.
	Timeout int64
}

// Order selects the key order of the opts map: the adapter writes rooms,
// except, flags; the emitter writes rooms, flags, except.
type Order int

const (
	// AdapterOrder is the key order of @socket.io/redis-adapter.
	AdapterOrder Order = iota
	// EmitterOrder is the key order of @socket.io/redis-emitter.
	EmitterOrder
)

// NodeFlags returns the flags Node's BroadcastOperator would hold for
// opts: volatile, then compress (false only), then timeout.
func NodeFlags(f socketio.BroadcastFlags, timeoutMs int64) []Flag {
	var out []Flag
	if f.Volatile {
		out = append(out, Flag{"volatile", true})
	}
	if f.NoCompress {
		out = append(out, Flag{"compress", false})
	}
	if timeoutMs > 0 {
		out = append(out, Flag{"timeout", timeoutMs})
	}
	return out
}

// AppendPacket appends the packet map {type, data, nsp} (Node's key
// order; no id, as Node publishes before it assigns one). The type is
// always 2 (EVENT), binary travelling as msgpack bin.
func AppendPacket(b []byte, p *socketio.Packet) ([]byte, error) {
	b = AppendMapHeader(b, 3)
	b = AppendInt(AppendString(b, "type"), int64(socketio.PacketEvent))
	b = AppendString(b, "data")
	var err error
	if b, err = socketio.AppendMsgpack(b, p.Data, p.Attachments); err != nil {
		return nil, fmt.Errorf("encode packet data: %w", err)
	}
	nsp := p.Namespace
	if nsp == "" {
		nsp = "/"
	}
	return AppendString(AppendString(b, "nsp"), nsp), nil
}

// AppendOpts appends the opts map {rooms, except, flags} in the given order.
func AppendOpts(b []byte, opts socketio.BroadcastOptions, flags []Flag, order Order) []byte {
	b = AppendMapHeader(b, 3)
	rooms := func(b []byte, key string, rs []socketio.Room) []byte {
		b = AppendArrayHeader(AppendString(b, key), len(rs))
		for _, r := range rs {
			b = AppendString(b, string(r))
		}
		return b
	}
	fl := func(b []byte) []byte {
		b = AppendMapHeader(AppendString(b, "flags"), len(flags))
		for _, f := range flags {
			b = AppendString(b, f.Name)
			switch v := f.Value.(type) {
			case bool:
				b = AppendBool(b, v)
			case int64:
				b = AppendInt(b, v)
			default:
				b = append(b, 0xc0)
			}
		}
		return b
	}
	// Node keeps rooms and except in Sets: each name once.
	b = rooms(b, "rooms", dedup(opts.Rooms))
	if order == EmitterOrder {
		return rooms(fl(b), "except", dedup(opts.Except))
	}
	return fl(rooms(b, "except", dedup(opts.Except)))
}

func dedup(rs []socketio.Room) []socketio.Room {
	if len(rs) < 2 {
		return rs
	}
	seen := make(map[socketio.Room]bool, len(rs))
	out := make([]socketio.Room, 0, len(rs))
	for _, r := range rs {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// AppendBroadcast appends the notepack message [uid, packet, opts].
func AppendBroadcast(b []byte, uid string, p *socketio.Packet, opts socketio.BroadcastOptions, flags []Flag, order Order) ([]byte, error) {
	b = AppendString(AppendArrayHeader(b, 3), uid)
	b, err := AppendPacket(b, p)
	if err != nil {
		return nil, err
	}
	return AppendOpts(b, opts, flags, order), nil
}

// AppendBroadcastRequest appends the MessagePack BROADCAST (with ack)
// request {uid, requestId, type: 7, packet, opts}.
func AppendBroadcastRequest(b []byte, uid, requestID string, p *socketio.Packet, opts socketio.BroadcastOptions, flags []Flag) ([]byte, error) {
	b = AppendMapHeader(b, 5)
	b = AppendString(AppendString(b, "uid"), uid)
	b = AppendString(AppendString(b, "requestId"), requestID)
	b = AppendInt(AppendString(b, "type"), TypeBroadcast)
	b, err := AppendPacket(AppendString(b, "packet"), p)
	if err != nil {
		return nil, err
	}
	return AppendOpts(AppendString(b, "opts"), opts, flags, AdapterOrder), nil
}

// AppendBroadcastAck appends the MessagePack BROADCAST_ACK response
// {type: 9, requestId, packet: <first ack argument>}.
func AppendBroadcastAck(b []byte, requestID string, arg json.RawMessage, atts [][]byte) ([]byte, error) {
	b = AppendMapHeader(b, 3)
	b = AppendInt(AppendString(b, "type"), TypeBroadcastAck)
	b = AppendString(AppendString(b, "requestId"), requestID)
	b = AppendString(b, "packet")
	if len(arg) == 0 {
		return append(b, 0xc0), nil
	}
	return socketio.AppendMsgpack(b, arg, atts)
}

// Message is any request or response of the classic adapter, decoded from
// JSON or MessagePack. Fields absent from the message are zero.
type Message struct {
	UID         *string         `json:"uid"`
	RequestID   string          `json:"requestId"`
	Type        *int            `json:"type"`
	Rooms       Rooms           `json:"rooms"`
	Opts        *WireOpts       `json:"opts"`
	Close       bool            `json:"close"`
	SID         string          `json:"sid"`
	Room        json.RawMessage `json:"room"`
	Data        json.RawMessage `json:"data"`
	Packet      json.RawMessage `json:"packet"`
	Sockets     json.RawMessage `json:"sockets"`
	ClientCount int             `json:"clientCount"`

	// Attachments are the bin values of a MessagePack message, referred to
	// by placeholders in Packet and Data.
	Attachments [][]byte `json:"-"`
}

// UnmarshalJSON implements json.Unmarshaler with exact key matching:
// JavaScript reads obj.type, never obj.TYPE, so neither do we (encoding/json
// alone would match keys without regard to case).
func (m *Message) UnmarshalJSON(b []byte) error {
	*m = Message{}
	return decodeExact(b, map[string]any{
		"uid": &m.UID, "requestId": &m.RequestID, "type": &m.Type, "rooms": &m.Rooms,
		"opts": &m.Opts, "close": &m.Close, "sid": &m.SID, "room": &m.Room, "data": &m.Data,
		"packet": &m.Packet, "sockets": &m.Sockets, "clientCount": &m.ClientCount,
	})
}

// decodeExact decodes the JSON object b, storing the value of each key of
// fields (matched exactly, the last of repeated keys winning as in
// JSON.parse) through the pointer it maps to. Other keys are ignored.
func decodeExact(b []byte, fields map[string]any) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	for k, raw := range obj {
		dst, ok := fields[k]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// WireOpts is the opts object of requests and broadcasts.
type WireOpts struct {
	Rooms  Rooms                      `json:"rooms"`
	Except Rooms                      `json:"except"`
	Flags  map[string]json.RawMessage `json:"flags"`
}

// UnmarshalJSON implements json.Unmarshaler with exact key matching.
func (o *WireOpts) UnmarshalJSON(b []byte) error {
	*o = WireOpts{}
	return decodeExact(b, map[string]any{"rooms": &o.Rooms, "except": &o.Except, "flags": &o.Flags})
}

// Options converts o to socketio's form, ignoring unknown flags.
func (o *WireOpts) Options() (socketio.BroadcastOptions, int64) {
	var out socketio.BroadcastOptions
	if o == nil {
		return out, 0
	}
	out.Rooms, out.Except = []socketio.Room(o.Rooms), []socketio.Room(o.Except)
	var timeout int64
	for k, v := range o.Flags {
		switch k {
		case "volatile":
			out.Flags.Volatile = string(v) == "true"
		case "compress":
			out.Flags.NoCompress = string(v) == "false"
		case "timeout":
			if f, err := strconv.ParseFloat(string(v), 64); err == nil && f > 0 && f < math.MaxInt32 {
				timeout = int64(f)
			}
		}
	}
	return out, timeout
}

// Rooms decodes a list of room names in which JavaScript may have put
// numbers (io.to(42)); a number becomes its JSON text, as String(42) does.
type Rooms []socketio.Room

// UnmarshalJSON implements json.Unmarshaler.
func (r *Rooms) UnmarshalJSON(b []byte) error {
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		return err
	}
	out := make(Rooms, 0, len(raws))
	for _, raw := range raws {
		room, ok := roomName(raw)
		if ok {
			out = append(out, room)
		}
	}
	*r = out
	return nil
}

func roomName(raw json.RawMessage) (socketio.Room, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return socketio.Room(s), true
	}
	if raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9') {
		return socketio.Room(raw), true
	}
	return "", false
}

// RoomName decodes a single room name (the legacy sid/room requests).
func RoomName(raw json.RawMessage) (socketio.Room, bool) { return roomName(raw) }

// DecodeMessage decodes a request or response: JSON when the first byte is
// '{', MessagePack otherwise (§9.3's rule).
func DecodeMessage(b []byte) (*Message, error) {
	m := new(Message)
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, m); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return m, nil
	}
	data, atts, _, err := socketio.ReadMsgpack(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	m.Attachments = atts
	return m, nil
}

// WirePacket is the packet object inside broadcasts and BROADCAST requests.
type WirePacket struct {
	Type int             `json:"type"`
	Data json.RawMessage `json:"data"`
	Nsp  *string         `json:"nsp"`
}

// UnmarshalJSON implements json.Unmarshaler with exact key matching.
func (p *WirePacket) UnmarshalJSON(b []byte) error {
	*p = WirePacket{}
	return decodeExact(b, map[string]any{"type": &p.Type, "data": &p.Data, "nsp": &p.Nsp})
}

// Packet converts a wire packet to an event packet for namespace defNsp
// when it has none. Types 2 and 5 are both accepted; the result is an
// EVENT, or a BINARY_EVENT when atts is not empty.
func ToPacket(raw json.RawMessage, atts [][]byte) (*socketio.Packet, error) {
	var wp WirePacket
	if err := json.Unmarshal(raw, &wp); err != nil {
		return nil, fmt.Errorf("%w: packet: %w", ErrMalformed, err)
	}
	if wp.Type != int(socketio.PacketEvent) && wp.Type != int(socketio.PacketBinaryEvent) {
		return nil, fmt.Errorf("%w: packet type %d", ErrMalformed, wp.Type)
	}
	if len(wp.Data) == 0 || wp.Data[0] != '[' {
		return nil, fmt.Errorf("%w: packet data is not an array", ErrMalformed)
	}
	nsp := "/"
	if wp.Nsp != nil {
		nsp = *wp.Nsp
	}
	p := &socketio.Packet{Type: socketio.PacketEvent, Namespace: nsp, ID: socketio.NoAck, Data: wp.Data}
	if len(atts) > 0 {
		// The message's bin values are numbered across all of it; the
		// packet keeps those its data holds, renumbered in order, as Node
		// sees the Buffers inside packet.data and nothing else.
		mp, err := socketio.AppendMsgpack(nil, wp.Data, atts)
		if err != nil {
			return nil, fmt.Errorf("%w: packet data: %w", ErrMalformed, err)
		}
		if p.Data, p.Attachments, _, err = socketio.ReadMsgpack(mp); err != nil {
			return nil, fmt.Errorf("%w: packet data: %w", ErrMalformed, err)
		}
		if len(p.Attachments) > 0 {
			p.Type = socketio.PacketBinaryEvent
		}
	}
	return p, nil
}

// DecodeBroadcast decodes the notepack message [uid, packet, opts]. A
// missing uid reads as "", a missing packet.nsp as "/"; unknown flags and
// any key order are accepted.
func DecodeBroadcast(b []byte) (*Broadcast, error) {
	data, atts, _, err := socketio.ReadMsgpack(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil || len(parts) < 2 {
		return nil, fmt.Errorf("%w: not a [uid, packet, opts] array", ErrMalformed)
	}
	var m Broadcast
	var uid any
	if json.Unmarshal(parts[0], &uid) == nil {
		if s, ok := uid.(string); ok {
			m.UID = s
		}
	}
	if m.Packet, err = ToPacket(parts[1], atts); err != nil {
		return nil, err
	}
	if len(parts) > 2 && string(parts[2]) != "null" {
		var o WireOpts
		if err := json.Unmarshal(parts[2], &o); err != nil {
			return nil, fmt.Errorf("%w: opts: %w", ErrMalformed, err)
		}
		m.Opts, m.Timeout = o.Options()
	}
	return &m, nil
}

// Request encodings (JSON, Node's key order).

type optsJSON struct {
	Rooms  []socketio.Room `json:"rooms"`
	Except []socketio.Room `json:"except"`
}

func toOptsJSON(o socketio.BroadcastOptions) optsJSON {
	j := optsJSON{Rooms: dedup(o.Rooms), Except: dedup(o.Except)}
	if j.Rooms == nil {
		j.Rooms = []socketio.Room{}
	}
	if j.Except == nil {
		j.Except = []socketio.Room{}
	}
	return j
}

func nonNil(rs []socketio.Room) []socketio.Room {
	if rs == nil {
		return []socketio.Room{}
	}
	return rs
}

// FetchRequest encodes {uid, requestId, type: 5, opts}.
func FetchRequest(uid, requestID string, o socketio.BroadcastOptions) []byte {
	b, _ := json.Marshal(struct {
		UID       string   `json:"uid"`
		RequestID string   `json:"requestId"`
		Type      int      `json:"type"`
		Opts      optsJSON `json:"opts"`
	}{uid, requestID, TypeRemoteFetch, toOptsJSON(o)})
	return b
}

// RoomsRequest encodes REMOTE_JOIN or REMOTE_LEAVE: {uid, type, opts,
// rooms}; an empty uid is left out, as the emitter does.
func RoomsRequest(uid string, typ int, o socketio.BroadcastOptions, rooms []socketio.Room) []byte {
	b, _ := json.Marshal(struct {
		UID   string          `json:"uid,omitempty"`
		Type  int             `json:"type"`
		Opts  optsJSON        `json:"opts"`
		Rooms []socketio.Room `json:"rooms"`
	}{uid, typ, toOptsJSON(o), nonNil(rooms)})
	return b
}

// DisconnectRequest encodes {uid, type: 4, opts, close}; an empty uid is
// left out, as the emitter does.
func DisconnectRequest(uid string, o socketio.BroadcastOptions, close bool) []byte {
	b, _ := json.Marshal(struct {
		UID   string   `json:"uid,omitempty"`
		Type  int      `json:"type"`
		Opts  optsJSON `json:"opts"`
		Close bool     `json:"close"`
	}{uid, TypeRemoteDisconnect, toOptsJSON(o), close})
	return b
}

// ServerSideEmitRequest encodes {uid, [requestId,] type: 6, data}.
func ServerSideEmitRequest(uid, requestID string, data json.RawMessage) []byte {
	b, _ := json.Marshal(struct {
		UID       string          `json:"uid"`
		RequestID string          `json:"requestId,omitempty"`
		Type      int             `json:"type"`
		Data      json.RawMessage `json:"data"`
	}{uid, requestID, TypeServerSideEmit, data})
	return b
}

// SocketsResponse encodes {requestId, sockets: [ids]}.
func SocketsResponse(requestID string, ids []socketio.SocketID) []byte {
	if ids == nil {
		ids = []socketio.SocketID{}
	}
	b, _ := json.Marshal(struct {
		RequestID string              `json:"requestId"`
		Sockets   []socketio.SocketID `json:"sockets"`
	}{requestID, ids})
	return b
}

// RoomsResponse encodes {requestId, rooms: [...]}.
func RoomsResponse(requestID string, rooms []socketio.Room) []byte {
	b, _ := json.Marshal(struct {
		RequestID string          `json:"requestId"`
		Rooms     []socketio.Room `json:"rooms"`
	}{requestID, nonNil(rooms)})
	return b
}

// AckResponse encodes {requestId}, the answer to legacy sid requests.
func AckResponse(requestID string) []byte {
	b, _ := json.Marshal(struct {
		RequestID string `json:"requestId"`
	}{requestID})
	return b
}

// RemoteSocket is one socket of a REMOTE_FETCH response.
type RemoteSocket struct {
	ID        socketio.SocketID   `json:"id"`
	Handshake *socketio.Handshake `json:"handshake"`
	Rooms     Rooms               `json:"rooms"`
	Data      json.RawMessage     `json:"data"`
}

// FetchResponse encodes {requestId, sockets: [{id, handshake, rooms, data}]}.
func FetchResponse(requestID string, infos []socketio.SocketInfo) ([]byte, error) {
	type sock struct {
		ID        socketio.SocketID   `json:"id"`
		Handshake *socketio.Handshake `json:"handshake"`
		Rooms     []socketio.Room     `json:"rooms"`
		Data      any                 `json:"data"`
	}
	socks := make([]sock, len(infos))
	for i, in := range infos {
		socks[i] = sock{in.ID, in.Handshake, nonNil(in.Rooms), in.Data}
	}
	b, err := json.Marshal(struct {
		RequestID string `json:"requestId"`
		Sockets   []sock `json:"sockets"`
	}{requestID, socks})
	if err != nil {
		return nil, fmt.Errorf("encode fetchSockets response: %w", err)
	}
	return b, nil
}

// ServerSideEmitResponse encodes {type: 6, requestId, data}.
func ServerSideEmitResponse(requestID string, data json.RawMessage) []byte {
	if len(data) == 0 {
		data = nil
	}
	b, _ := json.Marshal(struct {
		Type      int             `json:"type"`
		RequestID string          `json:"requestId"`
		Data      json.RawMessage `json:"data,omitempty"`
	}{TypeServerSideEmit, requestID, data})
	return b
}

// ClientCountResponse encodes {type: 8, requestId, clientCount}.
func ClientCountResponse(requestID string, n int) []byte {
	b, _ := json.Marshal(struct {
		Type        int    `json:"type"`
		RequestID   string `json:"requestId"`
		ClientCount int    `json:"clientCount"`
	}{TypeBroadcastCount, requestID, n})
	return b
}
