package loadgen

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/gobwas/ws"
)

// The WebSocket framing (RFC 6455 §5) and Engine.IO details of the epoll
// receive path: an incremental reader of server frames, which are never
// masked, and the writer of client frames, which always are. They do not
// depend on epoll, so that they are tested on every system.

var (
	errWSProtocol = errors.New("loadgen: websocket protocol error")
	errWSTooLarge = errors.New("loadgen: websocket message too large")
	errEngineIO   = errors.New("loadgen: engine.io protocol error")
)

// wsReadLimit is the largest message the epoll path accepts, as package
// client's default ReadLimit.
const wsReadLimit = 16 << 20

// pendKeep is the largest buffer a frameReader keeps for a partial frame
// smaller than it; a larger one, left from a large frame, is reallocated.
const pendKeep = 4 << 10

// frameHeader is a parsed frame header.
type frameHeader struct {
	fin    bool
	op     ws.OpCode
	length int64
}

// parseHeader parses the frame header at the start of b. n is the header's
// length, or 0 when b does not hold a whole header yet.
func parseHeader(b []byte) (h frameHeader, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	if b[0]&0x70 != 0 {
		return h, 0, fmt.Errorf("%w: reserved bits set", errWSProtocol)
	}
	if b[1]&0x80 != 0 {
		return h, 0, fmt.Errorf("%w: masked server frame", errWSProtocol)
	}
	h.fin = b[0]&0x80 != 0
	h.op = ws.OpCode(b[0] & 0x0f)
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, 0, nil
		}
		h.length, n = int64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return h, 0, nil
		}
		v := binary.BigEndian.Uint64(b[2:10])
		if v>>63 != 0 {
			return h, 0, fmt.Errorf("%w: 64-bit length with the top bit set", errWSProtocol)
		}
		h.length, n = int64(v), 10
	default:
		h.length, n = int64(l), 2
	}
	return h, n, nil
}

// frameReader reassembles the frames of one connection from the bytes read
// from it, however they are split. It holds memory only while a frame or a
// fragmented message is incomplete.
type frameReader struct {
	limit int64     // largest message; 0 means wsReadLimit
	pend  []byte    // the start of a frame not yet complete; nil when none
	msg   []byte    // the fragments so far of a fragmented message
	msgOp ws.OpCode // the opcode of the fragmented message
	inMsg bool      // a fragmented message is in progress
}

// emitFunc receives a whole message (text or binary, reassembled when
// fragmented) or a control frame. payload is only valid until it returns.
// An error stops the reading: feed returns it.
type emitFunc func(op ws.OpCode, payload []byte) error

// errPause, returned by an emitFunc, makes feed stop after that frame and
// keep the bytes after it for the next call.
var errPause = errors.New("pause")

// feed parses data, which follows what earlier calls left, and calls emit
// for each message and control frame completed. An incomplete frame at the
// end is kept. feed(nil, emit) handles what an earlier call kept.
func (r *frameReader) feed(data []byte, emit emitFunc) error {
	buf := data
	if len(r.pend) > 0 {
		r.pend = append(r.pend, data...)
		buf = r.pend
	}
	limit := r.limit
	if limit <= 0 {
		limit = wsReadLimit
	}
	off := 0
	need := 0 // size of the incomplete frame at off, once its header is known
	// Every pass consumes a whole frame of two bytes or more, or stops.
	for off < len(buf) {
		h, hl, err := parseHeader(buf[off:])
		if err != nil {
			return err
		}
		if hl == 0 {
			break
		}
		if h.length > limit {
			return fmt.Errorf("%w: %d bytes", errWSTooLarge, h.length)
		}
		end := off + hl + int(h.length)
		if end > len(buf) {
			need = hl + int(h.length)
			break
		}
		payload := buf[off+hl : end]
		off = end
		if err := r.frame(h, payload, limit, emit); err != nil {
			if errors.Is(err, errPause) {
				break
			}
			return err
		}
	}
	r.keep(buf, off, need)
	return nil
}

// keep holds buf[off:], a frame's start whose whole size is need (0 when
// its header is incomplete), for the next feed, releasing what it can.
func (r *frameReader) keep(buf []byte, off, need int) {
	rest := buf[off:]
	switch {
	case len(rest) == 0:
		r.pend = nil
	case len(r.pend) > 0 && cap(r.pend) >= need && cap(r.pend) <= max(2*need, pendKeep):
		// rest lies in pend, whose storage fits: move it to the front.
		r.pend = r.pend[:copy(r.pend, rest)]
	default:
		p := make([]byte, len(rest), max(need, len(rest)))
		copy(p, rest)
		r.pend = p
	}
}

// frame handles one whole frame.
func (r *frameReader) frame(h frameHeader, p []byte, limit int64, emit emitFunc) error {
	switch {
	case h.op.IsControl():
		if !h.fin || h.length > 125 {
			return fmt.Errorf("%w: fragmented or long control frame", errWSProtocol)
		}
		if h.op != ws.OpClose && h.op != ws.OpPing && h.op != ws.OpPong {
			return fmt.Errorf("%w: opcode %d", errWSProtocol, h.op)
		}
		return emit(h.op, p)
	case h.op == ws.OpText || h.op == ws.OpBinary:
		if r.inMsg {
			return fmt.Errorf("%w: data frame inside a fragmented message", errWSProtocol)
		}
		if h.fin {
			return emit(h.op, p)
		}
		r.inMsg, r.msgOp = true, h.op
		r.msg = append([]byte(nil), p...)
		return nil
	case h.op == ws.OpContinuation:
		if !r.inMsg {
			return fmt.Errorf("%w: continuation without a message", errWSProtocol)
		}
		if int64(len(r.msg))+h.length > limit {
			return fmt.Errorf("%w: %d bytes and more", errWSTooLarge, len(r.msg))
		}
		r.msg = append(r.msg, p...)
		if !h.fin {
			return nil
		}
		msg, op := r.msg, r.msgOp
		r.msg, r.inMsg = nil, false
		return emit(op, msg)
	}
	return fmt.Errorf("%w: opcode %d", errWSProtocol, h.op)
}

// pending reports how many bytes the reader holds.
func (r *frameReader) pending() int { return len(r.pend) + len(r.msg) }

// release drops whatever the reader holds.
func (r *frameReader) release() {
	r.pend, r.msg, r.inMsg = nil, nil, false
}

// appendClientFrame appends a final, masked frame of op (RFC 6455 §5.3)
// whose payload is the byte prefix, when it is not negative, then data.
func appendClientFrame(dst []byte, op ws.OpCode, prefix int, data []byte) []byte {
	n := len(data)
	if prefix >= 0 {
		n++
	}
	b0 := 0x80 | byte(op)
	switch {
	case n <= 125:
		dst = append(dst, b0, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, b0, 0x80|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, b0, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	mask := ws.NewMask()
	dst = append(dst, mask[:]...)
	start := len(dst)
	if prefix >= 0 {
		dst = append(dst, byte(prefix))
	}
	dst = append(dst, data...)
	ws.Cipher(dst[start:], mask, 0)
	return dst
}

// openPacket is the Engine.IO open packet's data (protocol 4).
type openPacket struct {
	SID          string `json:"sid"`
	PingInterval int64  `json:"pingInterval"`
	PingTimeout  int64  `json:"pingTimeout"`
}

// parseOpen parses an open packet's JSON, after the type '0'.
func parseOpen(data []byte) (openPacket, error) {
	var o openPacket
	if err := json.Unmarshal(data, &o); err != nil {
		return o, fmt.Errorf("%w: open packet: %w", errEngineIO, err)
	}
	if o.SID == "" || o.PingInterval < 0 || o.PingTimeout < 0 {
		return o, fmt.Errorf("%w: open packet %.100q", errEngineIO, data)
	}
	return o, nil
}

// wsTarget returns the WebSocket URL of the Engine.IO endpoint at rawURL,
// the mount point as the worker builds it for client.DialEngine, with the
// query client.DialEngine would send: the URL's own parameters, EIO=4 and
// transport=websocket. tls reports a wss URL, which the epoll path does not
// speak.
func wsTarget(rawURL string) (target string, tls bool, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", false, fmt.Errorf("loadgen: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme, tls = "wss", true
	default:
		return "", false, fmt.Errorf("loadgen: unsupported URL scheme %q", u.Scheme)
	}
	if u.Path == "" {
		u.Path = "/engine.io/"
	}
	q := u.Query()
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	u.RawQuery = q.Encode()
	u.Fragment = ""
	return u.String(), tls, nil
}
