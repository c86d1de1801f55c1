package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/heraldio/herald/socketio"
)

// MessageType is the "type" of a cluster message (socket.io-adapter's
// MessageType enum).
type MessageType int

// The message types, with the values Node uses on the wire.
const (
	InitialHeartbeat MessageType = iota + 1
	Heartbeat
	Broadcast
	SocketsJoin
	SocketsLeave
	DisconnectSockets
	FetchSockets
	FetchSocketsResponse
	ServerSideEmit
	ServerSideEmitResponse
	BroadcastClientCount
	BroadcastAck
	AdapterClose
)

var typeNames = [...]string{"", "INITIAL_HEARTBEAT", "HEARTBEAT", "BROADCAST", "SOCKETS_JOIN",
	"SOCKETS_LEAVE", "DISCONNECT_SOCKETS", "FETCH_SOCKETS", "FETCH_SOCKETS_RESPONSE",
	"SERVER_SIDE_EMIT", "SERVER_SIDE_EMIT_RESPONSE", "BROADCAST_CLIENT_COUNT", "BROADCAST_ACK",
	"ADAPTER_CLOSE"}

// String returns Node's name of the type.
func (t MessageType) String() string {
	if t > 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// IsResponse reports whether messages of type t answer a request of one
// server (so a transport may send them to that server only).
func (t MessageType) IsResponse() bool {
	switch t {
	case FetchSocketsResponse, ServerSideEmitResponse, BroadcastClientCount, BroadcastAck:
		return true
	}
	return false
}

// EmitterUID is the uid of messages sent by emitters, which are not
// servers and are never counted as such.
const EmitterUID = "emitter"

// Message is one cluster message. Data is the "data" member as JSON (nil
// when absent), with binary values replaced by socketio's placeholders
// {"_placeholder":true,"num":N} whose bytes are Attachments[N].
type Message struct {
	Type        MessageType
	UID         string // the sender; empty when absent (emitters may omit it)
	Nsp         string
	Data        json.RawMessage
	Attachments [][]byte
}

// ErrInvalidMessage reports bytes that are not a cluster message. Decode
// errors wrap it.
var ErrInvalidMessage = errors.New("cluster: invalid message")

// HasBinary reports whether the message carries binary values, and so
// must travel as MessagePack.
func (m *Message) HasBinary() bool {
	return len(m.Attachments) > 0 && bytes.Contains(m.Data, []byte(`"_placeholder"`))
}

// Encode returns the wire form of m: JSON, or MessagePack when it holds
// binary (then isMsgpack is true).
func (m *Message) Encode() (b []byte, isMsgpack bool, err error) {
	if m.HasBinary() {
		b, err = m.AppendMsgpack(nil)
		return b, true, err
	}
	return m.AppendJSON(nil), false, nil
}

// AppendJSON appends m as JSON, keys in Node's order: type, data, uid, nsp.
// Binary values, if any, stay placeholders.
func (m *Message) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = strconv.AppendInt(b, int64(m.Type), 10)
	if len(m.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, m.Data...)
	}
	if m.UID != "" {
		b = append(b, `,"uid":`...)
		b = appendJSONString(b, m.UID)
	}
	b = append(b, `,"nsp":`...)
	b = appendJSONString(b, m.Nsp)
	return append(b, '}')
}

// AppendMsgpack appends m as one MessagePack map, keys in Node's order,
// binary values as bin.
func (m *Message) AppendMsgpack(b []byte) ([]byte, error) {
	n := 2
	if len(m.Data) > 0 {
		n++
	}
	if m.UID != "" {
		n++
	}
	b = append(b, 0x80|byte(n))
	b = mpInt(mpStr(b, "type"), int64(m.Type))
	if len(m.Data) > 0 {
		var err error
		b, err = socketio.AppendMsgpack(mpStr(b, "data"), m.Data, m.Attachments)
		if err != nil {
			return nil, fmt.Errorf("cluster: encode data: %w", err)
		}
	}
	if m.UID != "" {
		b = mpStr(mpStr(b, "uid"), m.UID)
	}
	return mpStr(mpStr(b, "nsp"), m.Nsp), nil
}

// Decode reads a message in either wire form: JSON when the first byte is
// '{', MessagePack otherwise (§9.3's rule). Unknown members are ignored.
func Decode(b []byte) (*Message, error) {
	var atts [][]byte
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrInvalidMessage)
	}
	if b[0] != '{' {
		data, a, _, err := socketio.ReadMsgpack(b)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
		}
		b, atts = data, a
	}
	var w struct {
		Type json.Number     `json:"type"`
		UID  json.RawMessage `json:"uid"`
		Nsp  *string         `json:"nsp"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	t, err := strconv.Atoi(string(w.Type))
	if err != nil {
		return nil, fmt.Errorf("%w: type %q", ErrInvalidMessage, w.Type)
	}
	m := &Message{Type: MessageType(t), Nsp: "/", Attachments: atts}
	if w.Nsp != nil {
		m.Nsp = *w.Nsp
	}
	m.UID = jsonText(w.UID)
	if len(w.Data) > 0 && string(w.Data) != "null" {
		m.Data = w.Data
	}
	return m, nil
}

// jsonText returns a JSON string's value, a number's text, or "".
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' {
		return string(raw)
	}
	return ""
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// marshalJSON is json.Marshal without HTML escaping, as JSON.stringify.
func marshalJSON(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

func mpStr(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, s...)
}

func mpInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v < 128:
		return append(b, byte(v))
	case v >= -32 && v < 0:
		return append(b, byte(v))
	case v >= 0 && v < 1<<8:
		return append(b, 0xcc, byte(v))
	case v >= 0 && v < 1<<16:
		return append(b, 0xcd, byte(v>>8), byte(v))
	case v >= 0 && v < 1<<32:
		return append(b, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	b = append(b, 0xd3)
	for i := 56; i >= 0; i -= 8 {
		b = append(b, byte(v>>i))
	}
	return b
}

// BroadcastRooms returns the rooms a BROADCAST message selects and whether
// it asks for acknowledgements (ok is false for other types, or data that
// does not parse). Transports that route by room, as the sharded Redis
// adapter's dynamic subscription mode, use it to pick a channel.
func (m *Message) BroadcastRooms() (rooms []string, withAck, ok bool) {
	if m.Type != Broadcast {
		return nil, false, false
	}
	var d broadcastData
	if err := json.Unmarshal(m.Data, &d); err != nil {
		return nil, false, false
	}
	return d.Opts.Rooms, d.RequestID != "", true
}
