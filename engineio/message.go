package engineio

import (
	"encoding/binary"
	"sync/atomic"
)

// Message is an outgoing Engine.IO packet, immutable once made. Each wire form
// (a WebSocket frame for either protocol, a polling record for either protocol)
// is encoded on first use and cached, so a broadcast encodes once and hands the
// same bytes to every recipient. A Message is safe for concurrent use.
type Message struct {
	typ        PacketType
	binary     bool
	noCompress bool
	data       []byte

	// Cached encodings, built on first use.
	frame   atomic.Pointer[[]byte] // WebSocket frame; protocol 4 binary, or text for both
	frameV3 atomic.Pointer[[]byte] // WebSocket frame; protocol 3 binary (type byte first)
	recV4   atomic.Pointer[[]byte] // protocol 4 polling record, without separator
	recV3   atomic.Pointer[[]byte] // protocol 3 string-payload record
	zFrame  atomic.Pointer[[]byte] // permessage-deflate forms of frame and frameV3
	zFrame3 atomic.Pointer[[]byte]

	// sends counts the sessions the message was queued to while they were
	// idle: from the second on it is a broadcast, whose writes are left to
	// the flushers (flusher.go).
	sends atomic.Int32
}

func (m *Message) deflated(v3 bool) *atomic.Pointer[[]byte] {
	if v3 && m.binary {
		return &m.zFrame3
	}
	return &m.zFrame
}

// NewTextMessage returns a text message packet. data must be valid UTF-8 and
// must not be changed afterwards.
func NewTextMessage(data []byte) *Message {
	return &Message{typ: PacketMessage, data: data}
}

// NewBinaryMessage returns a binary message packet. data must not be changed
// afterwards.
func NewBinaryMessage(data []byte) *Message {
	return &Message{typ: PacketMessage, binary: true, data: data}
}

func newControl(t PacketType, data string) *Message {
	return &Message{typ: t, data: []byte(data)}
}

// Control packets shared by every session.
var (
	msgPing   = newControl(PacketPing, "")
	msgPong   = newControl(PacketPong, "")
	msgClose  = newControl(PacketClose, "")
	msgNoop   = newControl(PacketNoop, "")
	msgProbe3 = newControl(PacketPong, "probe")
)

// WithoutCompression marks m to be sent uncompressed even when
// permessage-deflate is on (Socket.IO's compress(false)). Call it before
// sending m; it returns m.
func (m *Message) WithoutCompression() *Message {
	m.noCompress = true
	return m
}

// Binary reports whether m carries raw bytes.
func (m *Message) Binary() bool { return m.binary }

// Data returns the payload. The caller must not change it.
func (m *Message) Data() []byte { return m.data }

// size is what the message costs a session's queue: its payload plus a
// fixed overhead for the queue slot and framing.
func (m *Message) size() int { return len(m.data) + 16 }

func (m *Message) packet() Packet { return Packet{Type: m.typ, Binary: m.binary, Data: m.data} }

func cached(p *atomic.Pointer[[]byte], build func() []byte) []byte {
	if b := p.Load(); b != nil {
		return *b
	}
	b := build()
	p.Store(&b)
	return b
}

// wsFrame returns the unmasked WebSocket frame that carries m.
func (m *Message) wsFrame(v3 bool) []byte {
	if !m.binary {
		return cached(&m.frame, func() []byte {
			b := appendFrameHeader(make([]byte, 0, maxFrameHeader+1+len(m.data)), opText, 1+len(m.data), false)
			return AppendText(b, m.typ, m.data)
		})
	}
	if !v3 {
		return cached(&m.frame, func() []byte {
			b := appendFrameHeader(make([]byte, 0, maxFrameHeader+len(m.data)), opBinary, len(m.data), false)
			return append(b, m.data...)
		})
	}
	return cached(&m.frameV3, func() []byte {
		b := appendFrameHeader(make([]byte, 0, maxFrameHeader+1+len(m.data)), opBinary, 1+len(m.data), false)
		b = append(b, byte(m.typ))
		return append(b, m.data...)
	})
}

// pollingRecord returns m as one record of a polling string payload.
func (m *Message) pollingRecord(v3 bool) []byte {
	if v3 {
		return cached(&m.recV3, func() []byte { return AppendPayloadRecordV3(nil, m.packet()) })
	}
	return cached(&m.recV4, func() []byte { return AppendPayloadRecordV4(nil, m.packet()) })
}

// WebSocket framing (RFC 6455 §5.2). Server frames are never masked.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA

	finBit  = 0x80
	rsv1Bit = 0x40

	maxFrameHeader = 10
)

func appendFrameHeader(dst []byte, op byte, n int, compressed bool) []byte {
	b0 := finBit | op
	if compressed {
		b0 |= rsv1Bit
	}
	switch {
	case n < 126:
		return append(dst, b0, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(dst, b0, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, b0, 127), uint64(n))
	}
}
