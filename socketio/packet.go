package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// PacketType is a Socket.IO packet type (socket.io-protocol, "Packet types").
type PacketType byte

// The Socket.IO packet types.
const (
	PacketConnect PacketType = iota
	PacketDisconnect
	PacketEvent
	PacketAck
	PacketConnectError
	PacketBinaryEvent
	PacketBinaryAck
)

// NoAck is the Packet.ID of a packet that carries no acknowledgement id.
const NoAck = -1

// Packet is one Socket.IO packet. Data is the JSON payload as sent, binary
// attachments replaced by {"_placeholder":true,"num":N} objects whose
// bytes are in Attachments.
type Packet struct {
	Type        PacketType
	Namespace   string // "/" when absent on the wire
	ID          int64  // acknowledgement id, or NoAck
	Data        json.RawMessage
	Attachments [][]byte
}

// ErrInvalidPacket reports a packet that does not follow the Socket.IO
// format. Decoding errors wrap it.
var ErrInvalidPacket = errors.New("socketio: invalid packet")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidPacket}, args...)...)
}

// MaxAttachments is the largest attachment count a packet may announce, as
// Node's decoder enforces by default.
const MaxAttachments = 10

// maxIDDigits keeps ack ids within JavaScript's safe integers.
const maxIDDigits = 15

// AppendHeader appends the text form of p without its payload:
// <type>[<attachments>-][<namespace>,][<id>].
func AppendHeader(dst []byte, p *Packet) []byte {
	dst = append(dst, '0'+byte(p.Type))
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		dst = strconv.AppendInt(dst, int64(len(p.Attachments)), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.ID >= 0 {
		dst = strconv.AppendInt(dst, p.ID, 10)
	}
	return dst
}

// AppendText appends the text form of p, payload included.
func AppendText(dst []byte, p *Packet) []byte {
	return append(AppendHeader(dst, p), p.Data...)
}

// Decode parses the text form of a packet. The returned packet's Data
// aliases b. A binary packet (BINARY_EVENT, BINARY_ACK) comes back with
// Attachments of the announced length, all nil: the caller fills them from
// the binary messages that follow, in order.
func Decode(b []byte) (*Packet, error) {
	if len(b) == 0 {
		return nil, invalid("empty packet")
	}
	p := &Packet{Type: PacketType(b[0] - '0'), Namespace: "/", ID: NoAck}
	if b[0] < '0' || p.Type > PacketBinaryAck {
		return nil, invalid("unknown type %q", b[0])
	}
	i := 1
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start || i >= len(b) || b[i] != '-' || i-start > 3 {
			return nil, invalid("bad attachment count")
		}
		n, _ := strconv.Atoi(string(b[start:i]))
		if n < 1 || n > MaxAttachments {
			return nil, invalid("attachment count %d", n)
		}
		p.Attachments = make([][]byte, n)
		i++
	}
	if i < len(b) && b[i] == '/' {
		start := i
		for i < len(b) && b[i] != ',' {
			i++
		}
		p.Namespace = string(b[start:i])
		if i < len(b) {
			i++ // the comma, optional at the end of the packet
		}
	}
	if i < len(b) && b[i] >= '0' && b[i] <= '9' {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i-start > maxIDDigits {
			return nil, invalid("ack id too long")
		}
		p.ID, _ = strconv.ParseInt(string(b[start:i]), 10, 64)
	}
	if i < len(b) {
		p.Data = b[i:]
	}
	if err := validPayload(p); err != nil {
		return nil, err
	}
	return p, nil
}

// reservedEvents cannot be emitted by either side (socket.io-parser).
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// validPayload applies the reference decoder's payload rules.
func validPayload(p *Packet) error {
	d := p.Data
	first := byte(0)
	if len(d) > 0 {
		if !json.Valid(d) {
			return invalid("payload is not JSON")
		}
		first = firstByte(d)
	}
	switch p.Type {
	case PacketConnect:
		if len(d) > 0 && first != '{' {
			return invalid("CONNECT payload must be an object")
		}
	case PacketDisconnect:
		if len(d) > 0 {
			return invalid("DISCONNECT takes no payload")
		}
	case PacketConnectError:
		if first != '{' && first != '"' {
			return invalid("CONNECT_ERROR payload must be a string or an object")
		}
	case PacketEvent, PacketBinaryEvent:
		if first != '[' {
			return invalid("EVENT payload must be an array")
		}
		name, ok := eventName(d)
		if !ok {
			return invalid("EVENT needs a name")
		}
		if reservedEvents[name] {
			return invalid("reserved event name %q", name)
		}
	case PacketAck, PacketBinaryAck:
		if first != '[' {
			return invalid("ACK payload must be an array")
		}
		if p.ID < 0 {
			return invalid("ACK without id")
		}
	}
	return nil
}

func firstByte(d []byte) byte {
	for _, c := range d {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// eventName returns the first element of an event array: a string, or a
// number as the reference decoder also allows.
func eventName(d []byte) (string, bool) {
	elems, err := splitArray(d)
	if err != nil || len(elems) == 0 {
		return "", false
	}
	if name, ok := plainString(elems[0]); ok {
		return name, true
	}
	var name string
	if json.Unmarshal(elems[0], &name) == nil {
		return name, true
	}
	var n json.Number
	if json.Unmarshal(elems[0], &n) == nil {
		return n.String(), true
	}
	return "", false
}

// plainString decodes a JSON string without escapes (nearly every event
// name) by slicing it out of its quotes; ok is false for anything else,
// which encoding/json must decode. encoding/json costs more than the rest of
// an event's dispatch, and grows the stack of the goroutine running it.
func plainString(raw []byte) (s string, ok bool) {
	n := len(raw)
	if n < 2 || raw[0] != '"' || raw[n-1] != '"' {
		return "", false
	}
	for _, c := range raw[1 : n-1] {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	return string(raw[1 : n-1]), true
}

// splitArray splits a valid JSON array into its top-level elements,
// aliasing d.
func splitArray(d []byte) ([]json.RawMessage, error) {
	i := skipSpace(d, 0)
	if i >= len(d) || d[i] != '[' {
		return nil, invalid("not an array")
	}
	i++
	var out []json.RawMessage
	for {
		i = skipSpace(d, i)
		if i >= len(d) {
			return nil, invalid("unterminated array")
		}
		if d[i] == ']' && len(out) == 0 {
			return out, nil
		}
		end, err := skipValue(d, i)
		if err != nil {
			return nil, err
		}
		out = append(out, json.RawMessage(d[i:end]))
		i = skipSpace(d, end)
		if i >= len(d) {
			return nil, invalid("unterminated array")
		}
		switch d[i] {
		case ',':
			i++
		case ']':
			return out, nil
		default:
			return nil, invalid("bad array")
		}
	}
}

func skipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at d[i]. d is known
// to be valid JSON, so it only tracks nesting and strings.
func skipValue(d []byte, i int) (int, error) {
	depth := 0
	for i < len(d) {
		switch c := d[i]; c {
		case '"':
			i++
			for i < len(d) && d[i] != '"' {
				if d[i] == '\\' {
					i++
				}
				i++
			}
			i++
			if depth == 0 {
				return i, nil
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return i, nil
			}
			if depth == 0 {
				return i + 1, nil
			}
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return i, nil
			}
		}
		i++
	}
	if depth != 0 {
		return 0, invalid("unterminated value")
	}
	return i, nil
}

// EventPacket encodes an EVENT (or BINARY_EVENT, when args hold binary
// values) for namespace nsp. Its ID is NoAck; set it to ask for an
// acknowledgement. Argument encoding is that of Socket.Emit.
func EventPacket(nsp, event string, args ...any) (*Packet, error) {
	if reservedEvents[event] {
		return nil, fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	return newEventPacket(nsp, event, args)
}

// AckPacket encodes the ACK (or BINARY_ACK) with the given id.
func AckPacket(nsp string, id int64, args ...any) (*Packet, error) {
	var atts [][]byte
	data, err := appendArgs(make([]byte, 0, argsSize("", args)), "", args, &atts)
	if err != nil {
		return nil, err
	}
	p := &Packet{Type: PacketAck, Namespace: nsp, ID: id, Data: data, Attachments: atts}
	if len(atts) > 0 {
		p.Type = PacketBinaryAck
	}
	return p, nil
}

// Event returns the name and arguments of an EVENT or BINARY_EVENT packet
// whose attachments are filled in.
func (p *Packet) Event() (string, Args, error) { return splitEvent(p) }

// Args returns the arguments of an ACK or BINARY_ACK packet (or, for any
// packet, its payload array as arguments).
func (p *Packet) Args() (Args, error) {
	elems, err := splitArray(p.Data)
	if err != nil {
		return Args{}, err
	}
	return Args{raw: elems, attachments: p.Attachments}, nil
}
