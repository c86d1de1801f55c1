package engineio

import (
	"bytes"
	"testing"
)

// Codec and framing hot paths, with allocations reported: what every
// delivery and every received message costs besides the system calls.

var benchData = bytes.Repeat([]byte("x"), 100)

func BenchmarkDecodeText(b *testing.B) {
	pkt := append([]byte("4"), benchData...)
	b.ReportAllocs()
	for range b.N {
		if _, err := DecodeText(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendText(b *testing.B) {
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for range b.N {
		dst = AppendText(dst[:0], PacketMessage, benchData)
	}
}

// BenchmarkWebSocketFrame builds the server frame of a new 100-byte text
// message, as a broadcast does once for all its recipients.
func BenchmarkWebSocketFrame(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		m := NewTextMessage(benchData)
		if len(m.wsFrame(false)) == 0 {
			b.Fatal("empty frame")
		}
	}
}

// BenchmarkReadMessage parses a masked 100-byte client text frame from
// bytes already read, as onReadable does after its one read.
func BenchmarkReadMessage(b *testing.B) {
	frame := []byte{finBit | opText, 0x80 | byte(1+len(benchData)), 1, 2, 3, 4}
	payload := append([]byte("4"), benchData...)
	key := [4]byte{1, 2, 3, 4}
	for i, c := range payload {
		frame = append(frame, c^key[i&3])
	}
	c := &wsConn{limit: 1 << 20}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for range b.N {
		c.pending = frame
		op, msg, err := c.readMessage(0)
		if err != nil || op != opText || len(msg) != len(payload) {
			b.Fatal(op, len(msg), err)
		}
		putBuf(msg)
	}
}

func BenchmarkPayloadV4(b *testing.B) {
	var body []byte
	for range 10 {
		body = AppendPayloadRecordV4(body, Packet{Type: PacketMessage, Data: benchData})
	}
	b.Run("encode", func(b *testing.B) {
		dst := make([]byte, 0, 2048)
		b.ReportAllocs()
		for range b.N {
			dst = dst[:0]
			for range 10 {
				dst = AppendPayloadRecordV4(dst, Packet{Type: PacketMessage, Data: benchData})
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			n := 0
			if err := DecodePayloadV4(body, func(Packet) error { n++; return nil }); err != nil || n != 10 {
				b.Fatal(n, err)
			}
		}
	})
}

func BenchmarkPayloadV3(b *testing.B) {
	var body []byte
	for range 10 {
		body = AppendPayloadRecordV3(body, Packet{Type: PacketMessage, Data: benchData})
	}
	b.Run("encode", func(b *testing.B) {
		dst := make([]byte, 0, 2048)
		b.ReportAllocs()
		for range b.N {
			dst = dst[:0]
			for range 10 {
				dst = AppendPayloadRecordV3(dst, Packet{Type: PacketMessage, Data: benchData})
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			n := 0
			if err := DecodePayloadV3(body, func(Packet) error { n++; return nil }); err != nil || n != 10 {
				b.Fatal(n, err)
			}
		}
	})
}
