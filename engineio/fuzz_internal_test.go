package engineio

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// fuzzConn is a net.Conn that reads from a byte slice and discards writes.
type fuzzConn struct{ r *bytes.Reader }

func (c fuzzConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c fuzzConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c fuzzConn) Close() error                     { return nil }
func (c fuzzConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c fuzzConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c fuzzConn) SetWriteDeadline(time.Time) error { return nil }

// clientFrame builds a masked client frame for the seed corpus.
func clientFrame(b0 byte, payload []byte) []byte {
	mask := [4]byte{1, 2, 3, 4}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n < 1<<16:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	out = append(out, mask[:]...)
	p := bytes.Clone(payload)
	unmask(p, mask)
	return append(out, p...)
}

// FuzzWebSocketRead feeds arbitrary bytes to the server's WebSocket frame
// reader (headers, masking, fragments, control frames, permessage-deflate,
// the size limit) and the Engine.IO frame decoder after it. It checks that
// nothing panics, that a message never exceeds the limit, and that errors
// are the reader's own.
func FuzzWebSocketRead(f *testing.F) {
	var deflated bytes.Buffer
	zw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
	_, _ = zw.Write(bytes.Repeat([]byte("4hello "), 40))
	_ = zw.Flush()
	z := bytes.TrimSuffix(deflated.Bytes(), deflateTail[:4])
	seeds := [][]byte{
		clientFrame(finBit|opText, []byte("4hello")),
		clientFrame(finBit|opBinary, []byte{1, 2, 3}),
		clientFrame(finBit|opText, []byte("2probe")),
		append(clientFrame(opText, []byte("4hel")), clientFrame(finBit|opContinuation, []byte("lo"))...),
		append(clientFrame(finBit|opPing, []byte("hi")), clientFrame(finBit|opText, []byte("5"))...),
		clientFrame(finBit|opClose, []byte{0x03, 0xe8}),
		clientFrame(finBit|rsv1Bit|opText, z),
		clientFrame(finBit|opText, bytes.Repeat([]byte("4"), 70000)),
		{0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}, // unmasked
		{0xf1, 0x80, 0, 0, 0, 0},
	}
	for _, s := range seeds {
		f.Add(s, true, false)
		f.Add(s, false, true)
	}
	f.Fuzz(func(t *testing.T, in []byte, deflate, v3 bool) {
		const limit = 1 << 16
		srv := &Server{opts: (&Options{}).withDefaults()}
		s := &Session{srv: srv, state: stateClosed}
		c := &wsConn{conn: fuzzConn{bytes.NewReader(in)}, v3: v3, limit: limit, s: s}
		if deflate {
			c.deflate = 1
		}
		for range 64 {
			op, msg, err := c.readMessage(0)
			if err != nil {
				if !errors.Is(err, errProtocol) && !errors.Is(err, ErrPayloadTooLarge) &&
					!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(msg) > limit {
				t.Fatalf("message of %d bytes over the %d limit", len(msg), limit)
			}
			if op == opClose {
				return
			}
			if _, err := c.decode(op, msg); err != nil && !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("decode error %v does not wrap ErrInvalidPacket", err)
			}
			putBuf(msg)
		}
	})
}
