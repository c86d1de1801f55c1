package engineio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// PacketType is an Engine.IO packet type (protocol spec, "Packet encoding").
type PacketType byte

// The Engine.IO packet types, in wire order.
const (
	PacketOpen PacketType = iota
	PacketClose
	PacketPing
	PacketPong
	PacketMessage
	PacketUpgrade
	PacketNoop
)

func (t PacketType) String() string {
	switch t {
	case PacketOpen:
		return "open"
	case PacketClose:
		return "close"
	case PacketPing:
		return "ping"
	case PacketPong:
		return "pong"
	case PacketMessage:
		return "message"
	case PacketUpgrade:
		return "upgrade"
	case PacketNoop:
		return "noop"
	}
	return "packet(" + strconv.Itoa(int(t)) + ")"
}

// Packet is one decoded Engine.IO packet. Data aliases the buffer it was
// decoded from; copy it to keep it past the buffer's lifetime.
type Packet struct {
	Type PacketType
	// Binary is true for message packets whose payload is raw bytes.
	Binary bool
	Data   []byte
}

// ErrInvalidPacket reports a packet or payload that does not follow the
// Engine.IO wire format. Errors returned by the decoders wrap it.
var ErrInvalidPacket = errors.New("engineio: invalid packet")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidPacket}, args...)...)
}

// DecodeText decodes a text-encoded packet: a type digit followed by the
// payload ("4hello", "2probe").
func DecodeText(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, invalid("empty packet")
	}
	t := b[0] - '0'
	if t > byte(PacketNoop) {
		return Packet{}, invalid("unknown type %q", b[0])
	}
	return Packet{Type: PacketType(t), Data: b[1:]}, nil
}

// DecodeTextFrame decodes a WebSocket text frame. Besides text packets it
// accepts base64-encoded binary messages, which clients with forceBase64
// send on every transport: "b<base64>" in protocol 4, "b4<base64>" in 3.
func DecodeTextFrame(b []byte, v3 bool) (Packet, error) {
	if len(b) == 0 || b[0] != 'b' {
		return DecodeText(b)
	}
	if !v3 {
		return decodeV4Record(b)
	}
	if len(b) < 2 || b[1] < '0' || b[1]-'0' > byte(PacketNoop) {
		return Packet{}, invalid("bad base64 packet")
	}
	data, err := decodeBase64(b[2:])
	if err != nil {
		return Packet{}, err
	}
	return Packet{Type: PacketType(b[1] - '0'), Binary: true, Data: data}, nil
}

// DecodeBinaryFrame decodes a binary WebSocket frame. In protocol 4 the whole
// frame is a message; in protocol 3 the first byte is the packet type.
func DecodeBinaryFrame(b []byte, v3 bool) (Packet, error) {
	if !v3 {
		return Packet{Type: PacketMessage, Binary: true, Data: b}, nil
	}
	if len(b) == 0 {
		return Packet{}, invalid("empty binary frame")
	}
	if b[0] > byte(PacketNoop) {
		return Packet{}, invalid("unknown binary type %d", b[0])
	}
	return Packet{Type: PacketType(b[0]), Binary: true, Data: b[1:]}, nil
}

// AppendText appends the text encoding of a non-binary packet.
func AppendText(dst []byte, t PacketType, data []byte) []byte {
	dst = append(dst, '0'+byte(t))
	return append(dst, data...)
}

// Protocol 4 polling payloads: packets separated by the record separator,
// binary messages as "b" + standard base64 (spec §"Payload").
const recordSeparator = 0x1e

// DecodePayloadV4 splits a protocol 4 polling payload into packets and calls
// fn for each, in order. Binary packets are base64-decoded into fresh
// memory; text packets alias b. It stops at the first error, which wraps
// ErrInvalidPacket or is fn's error.
func DecodePayloadV4(b []byte, fn func(Packet) error) error {
	if len(b) == 0 {
		return invalid("empty payload")
	}
	for {
		end := bytes.IndexByte(b, recordSeparator)
		rec := b
		if end >= 0 {
			rec = b[:end]
		}
		p, err := decodeV4Record(rec)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		if end < 0 {
			return nil
		}
		b = b[end+1:]
	}
}

func decodeV4Record(rec []byte) (Packet, error) {
	if len(rec) > 0 && rec[0] == 'b' {
		data, err := decodeBase64(rec[1:])
		if err != nil {
			return Packet{}, err
		}
		return Packet{Type: PacketMessage, Binary: true, Data: data}, nil
	}
	return DecodeText(rec)
}

func decodeBase64(src []byte) ([]byte, error) {
	dst := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	n, err := base64.StdEncoding.Decode(dst, src)
	if err != nil {
		return nil, invalid("base64: %v", err)
	}
	return dst[:n], nil
}

// AppendPayloadRecordV4 appends one packet of a protocol 4 payload, preceded
// by the separator when dst already holds a record.
func AppendPayloadRecordV4(dst []byte, p Packet) []byte {
	if len(dst) > 0 {
		dst = append(dst, recordSeparator)
	}
	if p.Binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	return AppendText(dst, p.Type, p.Data)
}

// Protocol 3 string payloads: "<length>:<packet>" repeated, where length
// counts UTF-16 code units of the packet as JavaScript does, and binary
// packets are "b" + type digit + base64.

// maxLengthDigits bounds the length prefix so that a hostile payload cannot
// overflow the counter.
const maxLengthDigits = 10

// DecodePayloadV3 decodes a protocol 3 string payload ("6:4hello1:2") and
// calls fn for each packet in order. "0:" alone is an empty payload (no packets).
func DecodePayloadV3(b []byte, fn func(Packet) error) error {
	if len(b) == 0 {
		return invalid("empty payload")
	}
	for len(b) > 0 {
		colon := bytes.IndexByte(b, ':')
		if colon <= 0 || colon > maxLengthDigits {
			return invalid("bad length prefix")
		}
		n, err := strconv.Atoi(string(b[:colon]))
		if err != nil || n < 0 {
			return invalid("bad length prefix")
		}
		b = b[colon+1:]
		size, ok := utf16Prefix(b, n)
		if !ok {
			return invalid("length %d exceeds payload", n)
		}
		if n == 0 {
			// "0:" is the empty payload of protocol 3; it carries no packet.
			continue
		}
		rec := b[:size]
		b = b[size:]
		var p Packet
		if rec[0] == 'b' {
			if len(rec) < 2 || rec[1]-'0' > byte(PacketNoop) {
				return invalid("bad base64 packet")
			}
			data, err := decodeBase64(rec[2:])
			if err != nil {
				return err
			}
			p = Packet{Type: PacketType(rec[1] - '0'), Binary: true, Data: data}
		} else if p, err = DecodeText(rec); err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// utf16Prefix returns the byte length of the first n UTF-16 code units of b.
// Invalid UTF-8 bytes count as one unit each (JavaScript decodes them as
// U+FFFD). It fails when b is shorter or n splits a surrogate pair.
func utf16Prefix(b []byte, n int) (int, bool) {
	i := 0
	for n > 0 {
		if i >= len(b) {
			return 0, false
		}
		if c := b[i]; c < utf8.RuneSelf {
			i++
			n--
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		units := 1
		if r >= 0x10000 {
			units = 2
		}
		if units > n {
			return 0, false
		}
		i += size
		n -= units
	}
	return i, true
}

// UTF16Len returns the length of b in UTF-16 code units, as JavaScript's
// String.prototype.length would count the decoded string.
func UTF16Len(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
		i += size
	}
	return n
}

// AppendPayloadRecordV3 appends one packet of a protocol 3 string payload.
func AppendPayloadRecordV3(dst []byte, p Packet) []byte {
	if p.Binary {
		n := 2 + base64.StdEncoding.EncodedLen(len(p.Data))
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, ':', 'b', '0'+byte(p.Type))
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	dst = strconv.AppendInt(dst, int64(1+UTF16Len(p.Data)), 10)
	dst = append(dst, ':')
	return AppendText(dst, p.Type, p.Data)
}

// Protocol 3 binary (XHR2) payloads: for each packet a kind byte (0 string,
// 1 binary), the decimal digits of its byte length as byte values 0-9, 0xFF,
// then the packet (text form, or type byte + raw bytes).

// AppendBinaryRecordV3 appends one packet of a protocol 3 binary payload.
func AppendBinaryRecordV3(dst []byte, p Packet) []byte {
	kind, n := byte(0), 1+len(p.Data)
	if p.Binary {
		kind = 1
	}
	dst = append(dst, kind)
	var digits [20]byte
	for _, d := range strconv.AppendInt(digits[:0], int64(n), 10) {
		dst = append(dst, d-'0')
	}
	dst = append(dst, 0xFF)
	if p.Binary {
		dst = append(dst, byte(p.Type))
		return append(dst, p.Data...)
	}
	return AppendText(dst, p.Type, p.Data)
}

// DecodeBinaryPayloadV3 decodes a protocol 3 binary (XHR2) payload, as sent
// by engine.io-client 3.x in POST bodies of type application/octet-stream.
func DecodeBinaryPayloadV3(b []byte, fn func(Packet) error) error {
	if len(b) == 0 {
		return invalid("empty payload")
	}
	for len(b) > 0 {
		kind := b[0]
		if kind > 1 {
			return invalid("bad binary payload kind %d", kind)
		}
		n, i := 0, 1
		for ; i < len(b) && b[i] != 0xFF; i++ {
			if b[i] > 9 || i > maxLengthDigits {
				return invalid("bad binary payload length")
			}
			n = n*10 + int(b[i])
		}
		if i == 1 || i >= len(b) || n == 0 || n > len(b)-i-1 {
			return invalid("bad binary payload length")
		}
		rec := b[i+1 : i+1+n]
		b = b[i+1+n:]
		var p Packet
		var err error
		if kind == 1 {
			p, err = DecodeBinaryFrame(rec, true)
		} else {
			p, err = DecodeText(rec)
		}
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}
