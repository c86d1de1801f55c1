package socketio

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"

	"github.com/heraldio/herald/engineio"
)

// MsgpackParser speaks the wire format of the npm socket.io-msgpack-parser:
// each packet is one binary message holding a MessagePack map {type, nsp,
// data, id}, with binary values inline (no attachments) and the types 0-4
// only. Arguments still reach handlers as Args (JSON, with []byte values as
// attachments), so handlers do not depend on the parser.
//
// JavaScript's undefined, which notepack.io 2 writes as the extension
// d4 00 00, decodes as null inside arrays and as an absent key in maps.
var MsgpackParser Parser = msgpackParser{}

type msgpackParser struct{}

func (msgpackParser) NewDecoder() Decoder { return msgpackDecoder{} }

func (msgpackParser) Encode(p *Packet) []*engineio.Message {
	t := p.Type
	switch t {
	case PacketBinaryEvent:
		t = PacketEvent
	case PacketBinaryAck:
		t = PacketAck
	}
	n := 2
	if len(p.Data) > 0 {
		n++
	}
	if p.ID >= 0 {
		n++
	}
	b := append(make([]byte, 0, 32+len(p.Data)), 0x80|byte(n))
	b = mpInt(mpString(b, "type"), int64(t))
	b = mpString(mpString(b, "nsp"), p.Namespace)
	if len(p.Data) > 0 {
		b = mpString(b, "data")
		var err error
		if b, err = jsonToMsgpack(b, p.Data, p.Attachments, 0); err != nil {
			// Data comes from this package's encoder or decoder: valid JSON.
			panic("socketio: msgpack encode: " + err.Error())
		}
	}
	if p.ID >= 0 {
		b = mpInt(mpString(b, "id"), p.ID)
	}
	return []*engineio.Message{engineio.NewBinaryMessage(b)}
}

type msgpackDecoder struct{}

// maxMsgpackDepth bounds the nesting of decoded values.
const maxMsgpackDepth = 64

func (msgpackDecoder) Add(data []byte, binary bool) (*Packet, error) {
	if !binary {
		return nil, invalid("text message with the msgpack parser")
	}
	r := mpReader{b: data}
	n, err := r.mapLen()
	if err != nil {
		return nil, err
	}
	p := &Packet{Type: 255, Namespace: "", ID: NoAck}
	hasNsp := false
	for range n {
		key, err := r.str()
		if err != nil {
			return nil, invalid("msgpack: map key: %v", err)
		}
		switch key {
		case "type":
			v, err := r.int()
			if err != nil || v < 0 || v > int64(PacketConnectError) {
				return nil, invalid("msgpack: bad type")
			}
			p.Type = PacketType(v)
		case "nsp":
			if p.Namespace, err = r.str(); err != nil {
				return nil, invalid("msgpack: bad nsp")
			}
			hasNsp = true
		case "id":
			if r.undefinedOrNil() {
				continue
			}
			v, err := r.int()
			if err != nil || v < 0 || v > 1<<53 {
				return nil, invalid("msgpack: bad id")
			}
			p.ID = v
		case "data":
			if r.undefined() {
				continue
			}
			var atts [][]byte
			js, _, err := r.json(nil, &atts, 0)
			if err != nil {
				return nil, err
			}
			p.Data, p.Attachments = js, atts
		default:
			if _, _, err := r.json(nil, new([][]byte), 0); err != nil {
				return nil, err
			}
		}
	}
	if len(r.b) != 0 {
		return nil, invalid("msgpack: trailing bytes")
	}
	if p.Type == 255 || !hasNsp {
		return nil, invalid("msgpack: type and nsp are required")
	}
	if err := validPayload(p); err != nil {
		return nil, err
	}
	return p, nil
}

// MessagePack writing (github.com/msgpack/msgpack/blob/master/spec.md).

func mpString(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func mpBin(b, v []byte) []byte {
	switch n := len(v); {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, v...)
}

func mpInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v < 128:
		return append(b, byte(v))
	case v < 0 && v >= -32:
		return append(b, byte(v))
	case v >= 0 && v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v >= 0 && v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v >= 0 && v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	case v >= 0:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(v))
	case v >= math.MinInt8:
		return append(b, 0xd0, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

func mpContainer(b []byte, n int, fix, b16, b32 byte) []byte {
	switch {
	case n < 16:
		return append(b, fix|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, b16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, b32), uint32(n))
}

// jsonToMsgpack appends the valid JSON value src as MessagePack, turning
// binary placeholders into bin values from atts.
func jsonToMsgpack(b, src []byte, atts [][]byte, depth int) ([]byte, error) {
	src = bytes.TrimSpace(src)
	if len(src) == 0 {
		return nil, invalid("empty JSON value")
	}
	if depth > maxMsgpackDepth {
		return nil, invalid("JSON nested too deeply")
	}
	switch c := src[0]; {
	case c == '{':
		if num, ok := placeholderNum(src); ok {
			if num >= len(atts) {
				return nil, invalid("placeholder %d of %d attachments", num, len(atts))
			}
			return mpBin(b, atts[num]), nil
		}
		var m []struct {
			k string
			v []byte
		}
		i := skipSpace(src, 1)
		for i < len(src) && src[i] != '}' {
			end, err := skipValue(src, i)
			if err != nil {
				return nil, err
			}
			var k string
			if err := json.Unmarshal(src[i:end], &k); err != nil {
				return nil, invalid("object key: %v", err)
			}
			i = skipSpace(src, end)
			i = skipSpace(src, i+1) // the colon
			vend, err := skipValue(src, i)
			if err != nil {
				return nil, err
			}
			m = append(m, struct {
				k string
				v []byte
			}{k, src[i:vend]})
			i = skipSpace(src, vend)
			if i < len(src) && src[i] == ',' {
				i = skipSpace(src, i+1)
			}
		}
		b = mpContainer(b, len(m), 0x80, 0xde, 0xdf)
		for _, kv := range m {
			b = mpString(b, kv.k)
			var err error
			if b, err = jsonToMsgpack(b, kv.v, atts, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case c == '[':
		elems, err := splitArray(src)
		if err != nil {
			return nil, err
		}
		b = mpContainer(b, len(elems), 0x90, 0xdc, 0xdd)
		for _, e := range elems {
			if b, err = jsonToMsgpack(b, e, atts, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case c == '"':
		var s string
		if err := json.Unmarshal(src, &s); err != nil {
			return nil, invalid("string: %v", err)
		}
		return mpString(b, s), nil
	case c == 't':
		return append(b, 0xc3), nil
	case c == 'f':
		return append(b, 0xc2), nil
	case c == 'n':
		return append(b, 0xc0), nil
	}
	if !bytes.ContainsAny(src, ".eE") {
		if v, err := strconv.ParseInt(string(src), 10, 64); err == nil {
			return mpInt(b, v), nil
		}
		if v, err := strconv.ParseUint(string(src), 10, 64); err == nil {
			return binary.BigEndian.AppendUint64(append(b, 0xcf), v), nil
		}
	}
	f, err := strconv.ParseFloat(string(src), 64)
	if err != nil {
		return nil, invalid("number %q", src)
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(f)), nil
}

// mpReader reads MessagePack values, bounded by the input: every length is
// checked against what remains before anything is allocated.
type mpReader struct{ b []byte }

func (r *mpReader) need(n int) ([]byte, error) {
	if n < 0 || n > len(r.b) {
		return nil, invalid("msgpack: truncated")
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v, nil
}

func (r *mpReader) byte1() (byte, error) {
	v, err := r.need(1)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

func (r *mpReader) uintN(n int) (uint64, error) {
	v, err := r.need(n)
	if err != nil {
		return 0, err
	}
	var u uint64
	for _, c := range v {
		u = u<<8 | uint64(c)
	}
	return u, nil
}

func (r *mpReader) mapLen() (int, error) {
	c, err := r.byte1()
	if err != nil {
		return 0, err
	}
	switch {
	case c&0xf0 == 0x80:
		return int(c & 0x0f), nil
	case c == 0xde:
		n, err := r.uintN(2)
		return int(n), err
	case c == 0xdf:
		n, err := r.uintN(4)
		return int(n), err
	}
	return 0, invalid("msgpack: packet is not a map")
}

func (r *mpReader) str() (string, error) {
	c, err := r.byte1()
	if err != nil {
		return "", err
	}
	var n uint64
	switch {
	case c&0xe0 == 0xa0:
		n = uint64(c & 0x1f)
	case c == 0xd9:
		n, err = r.uintN(1)
	case c == 0xda:
		n, err = r.uintN(2)
	case c == 0xdb:
		n, err = r.uintN(4)
	default:
		return "", invalid("msgpack: not a string")
	}
	if err != nil {
		return "", err
	}
	v, err := r.need(int(n))
	return string(v), err
}

func (r *mpReader) int() (int64, error) {
	c, err := r.byte1()
	if err != nil {
		return 0, err
	}
	switch {
	case c < 0x80:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c >= 0xcc && c <= 0xcf:
		u, err := r.uintN(1 << (c - 0xcc))
		if u > math.MaxInt64 {
			return 0, invalid("msgpack: integer overflow")
		}
		return int64(u), err
	case c >= 0xd0 && c <= 0xd3:
		n := 1 << (c - 0xd0)
		u, err := r.uintN(n)
		shift := 64 - 8*n
		return int64(u<<shift) >> shift, err
	case c == 0xcb: // a float that holds an integer (JavaScript numbers)
		u, err := r.uintN(8)
		f := math.Float64frombits(u)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, invalid("msgpack: not an integer")
		}
		return int64(f), nil
	}
	return 0, invalid("msgpack: not an integer")
}

// undefined consumes notepack's undefined (fixext 1, type 0) if it is next.
func (r *mpReader) undefined() bool {
	if len(r.b) >= 3 && r.b[0] == 0xd4 && r.b[1] == 0 && r.b[2] == 0 {
		r.b = r.b[3:]
		return true
	}
	return false
}

func (r *mpReader) undefinedOrNil() bool {
	if len(r.b) > 0 && r.b[0] == 0xc0 {
		r.b = r.b[1:]
		return true
	}
	return r.undefined()
}

// json appends the next value as JSON, binary values as placeholders whose
// bytes go to atts. It reports whether the value was undefined (nothing
// appended).
func (r *mpReader) json(b []byte, atts *[][]byte, depth int) ([]byte, bool, error) {
	if depth > maxMsgpackDepth {
		return nil, false, invalid("msgpack: nested too deeply")
	}
	if r.undefined() {
		return b, true, nil
	}
	if len(r.b) == 0 {
		return nil, false, invalid("msgpack: truncated")
	}
	// Integers and strings are read whole by int and str; the other kinds
	// consume their type byte here.
	switch c := r.b[0]; {
	case c < 0x80 || c >= 0xe0 || (c >= 0xcc && c <= 0xd3):
		v, err := r.int()
		return strconv.AppendInt(b, v, 10), false, err
	case c&0xe0 == 0xa0 || c >= 0xd9 && c <= 0xdb:
		s, err := r.str()
		if err != nil {
			return nil, false, err
		}
		return appendString(b, s), false, nil
	}
	c, err := r.byte1()
	if err != nil {
		return nil, false, err
	}
	switch {
	case c == 0xc0:
		return append(b, "null"...), false, nil
	case c == 0xc2:
		return append(b, "false"...), false, nil
	case c == 0xc3:
		return append(b, "true"...), false, nil
	case c == 0xca:
		u, err := r.uintN(4)
		return appendFloat(b, float64(math.Float32frombits(uint32(u)))), false, err
	case c == 0xcb:
		u, err := r.uintN(8)
		return appendFloat(b, math.Float64frombits(u)), false, err
	case c >= 0xc4 && c <= 0xc6:
		n, err := r.uintN(1 << (c - 0xc4))
		if err != nil {
			return nil, false, err
		}
		v, err := r.need(int(n))
		if err != nil {
			return nil, false, err
		}
		*atts = append(*atts, append([]byte(nil), v...))
		return appendPlaceholder(b, len(*atts)-1), false, nil
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		n := uint64(c & 0x0f)
		if c == 0xdc {
			n, err = r.uintN(2)
		} else if c == 0xdd {
			n, err = r.uintN(4)
		}
		if err != nil || n > uint64(len(r.b)) {
			return nil, false, invalid("msgpack: bad array length")
		}
		b = append(b, '[')
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			var undef bool
			if b, undef, err = r.json(b, atts, depth+1); err != nil {
				return nil, false, err
			}
			if undef {
				b = append(b, "null"...)
			}
		}
		return append(b, ']'), false, nil
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		n := uint64(c & 0x0f)
		if c == 0xde {
			n, err = r.uintN(2)
		} else if c == 0xdf {
			n, err = r.uintN(4)
		}
		if err != nil || n > uint64(len(r.b)) {
			return nil, false, invalid("msgpack: bad map length")
		}
		b = append(b, '{')
		first := true
		for range n {
			k, err := r.str()
			if err != nil {
				return nil, false, invalid("msgpack: map key: %v", err)
			}
			mark := len(b)
			if !first {
				b = append(b, ',')
			}
			b = append(appendString(b, k), ':')
			var undef bool
			if b, undef, err = r.json(b, atts, depth+1); err != nil {
				return nil, false, err
			}
			if undef {
				b = b[:mark] // JSON drops undefined properties
				continue
			}
			first = false
		}
		return append(b, '}'), false, nil
	}
	return nil, false, invalid("msgpack: unsupported type 0x%02x", c)
}

func appendFloat(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(b, "null"...) // as JSON.stringify
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// AppendMsgpack appends the JSON value data, whose binary placeholders
// refer to atts, to b as one MessagePack value, binary as bin (the
// notepack.io encoding). Cluster adapters use it to carry packet data in
// their MessagePack messages.
func AppendMsgpack(b, data []byte, atts [][]byte) ([]byte, error) {
	return jsonToMsgpack(b, data, atts, 0)
}

// ReadMsgpack reads one MessagePack value from the start of b and returns
// it as JSON whose bin values became placeholders into atts, with the bytes
// that follow the value. An undefined value (notepack's d4 00 00) reads as
// null. It is the inverse of AppendMsgpack.
func ReadMsgpack(b []byte) (data []byte, atts [][]byte, rest []byte, err error) {
	r := mpReader{b: b}
	data, undef, err := r.json(nil, &atts, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	if undef {
		data = append(data[:0], "null"...)
	}
	return data, atts, r.b, nil
}
