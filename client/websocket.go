package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldio/herald/engineio"
)

// wsReadBuffer is the read buffer of a WebSocket connection; larger
// payloads are read past it, straight into the message buffer.
const wsReadBuffer = 512

// wsConn is one client WebSocket connection.
type wsConn struct {
	conn net.Conn
	r    *bufio.Reader
	hdr  [ws.MaxHeaderSize]byte
	wmu  sync.Mutex // one frame sequence at a time: data batches and control replies
}

var errWSProtocol = errors.New("client: websocket protocol error")

// dialWS opens a WebSocket to target. A refused handshake returns an error
// wrapping *engineio.RequestError.
func (c *EngineConn) dialWS(ctx context.Context, target string) (*wsConn, error) {
	var refused *engineio.RequestError
	d := ws.Dialer{
		NetDial:   c.opts.NetDial,
		TLSConfig: c.opts.TLSConfig,
		OnStatusError: func(status int, _ []byte, resp io.Reader) {
			refused = requestError(status, nil)
			r, err := http.ReadResponse(bufio.NewReader(resp), nil)
			if err != nil {
				return
			}
			defer r.Body.Close()
			refused = refusal(r)
		},
	}
	if c.opts.Header != nil {
		d.Header = ws.HandshakeHeaderHTTP(c.opts.Header)
	}
	conn, br, _, err := d.Dial(ctx, target)
	if err != nil {
		if refused != nil {
			return nil, fmt.Errorf("websocket: %w", refused)
		}
		return nil, fmt.Errorf("websocket: %w", err)
	}
	// The server may have sent its first frames with the 101 response; the
	// dialer returns them buffered in br.
	var src io.Reader = conn
	if br != nil {
		pending := make([]byte, br.Buffered())
		_, _ = io.ReadFull(br, pending)
		ws.PutReader(br)
		src = io.MultiReader(bytes.NewReader(pending), conn)
	}
	return &wsConn{conn: conn, r: bufio.NewReaderSize(src, wsReadBuffer)}, nil
}

// handshakeWebSocket opens the session over WebSocket and reads the open
// packet, within ctx.
func (c *EngineConn) handshakeWebSocket(ctx context.Context, u *url.URL) (*wsConn, error) {
	w, err := c.dialWS(ctx, c.transportURL(u, engineio.TransportWebSocket, ""))
	if err != nil {
		return nil, fmt.Errorf("client: handshake: %w", err)
	}
	p, msg, err := c.readPacketCtx(ctx, w)
	if err == nil {
		if p.Type != engineio.PacketOpen {
			err = fmt.Errorf("%w: %s packet before open", engineio.ErrInvalidPacket, p.Type)
		} else {
			c.hs, err = parseHandshake(p.Data)
		}
	}
	putBuf(msg)
	if err != nil {
		w.conn.Close()
		return nil, fmt.Errorf("client: handshake: %w", err)
	}
	return w, nil
}

// aLongTimeAgo is a deadline in the past, to interrupt a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// readPacketCtx reads one packet from w, giving up when ctx is done. The
// payload is pooled; the caller passes msg to putBuf after using p.
func (c *EngineConn) readPacketCtx(ctx context.Context, w *wsConn) (p engineio.Packet, msg []byte, err error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = w.conn.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = w.conn.SetReadDeadline(aLongTimeAgo) })
	op, msg, err := w.next(c.opts.ReadLimit)
	if !stop() && err == nil {
		// ctx ended during the read and may have poisoned the deadline.
		err = ctx.Err()
	}
	_ = w.conn.SetReadDeadline(time.Time{})
	if err != nil {
		return p, msg, err
	}
	p, err = c.decodeFrame(op, msg)
	return p, msg, err
}

func (c *EngineConn) decodeFrame(op ws.OpCode, msg []byte) (engineio.Packet, error) {
	if op == ws.OpBinary {
		return engineio.DecodeBinaryFrame(msg, c.protocol == 3)
	}
	return engineio.DecodeText(msg)
}

// next reads the next data message into a pooled buffer, answering pings
// on the way. A close frame is answered and returns io.EOF.
func (w *wsConn) next(limit int64) (op ws.OpCode, msg []byte, err error) {
	defer func() {
		if err != nil {
			putBuf(msg)
			msg = nil
		}
	}()
	for {
		h, err := ws.ReadHeaderBuffer(w.r, w.hdr[:])
		if err != nil {
			return 0, msg, err
		}
		if h.Masked || h.Rsv != 0 {
			return 0, msg, fmt.Errorf("%w: masked or reserved bits set", errWSProtocol)
		}
		if h.OpCode.IsControl() {
			if h.Length > 125 || !h.Fin {
				return 0, msg, fmt.Errorf("%w: bad control frame", errWSProtocol)
			}
			body := make([]byte, h.Length)
			if _, err := io.ReadFull(w.r, body); err != nil {
				return 0, msg, err
			}
			switch h.OpCode {
			case ws.OpClose:
				_ = w.write(appendFrame(nil, ws.OpClose, -1, body[:min(2, len(body))]))
				return 0, msg, io.EOF
			case ws.OpPing:
				if err := w.write(appendFrame(nil, ws.OpPong, -1, body)); err != nil {
					return 0, msg, err
				}
			}
			continue
		}
		switch h.OpCode {
		case ws.OpText, ws.OpBinary:
			if msg != nil {
				return 0, msg, fmt.Errorf("%w: data frame inside a fragmented message", errWSProtocol)
			}
			op, msg = h.OpCode, getBuf()
		case ws.OpContinuation:
			if msg == nil {
				return 0, msg, fmt.Errorf("%w: continuation without a message", errWSProtocol)
			}
		default:
			return 0, msg, fmt.Errorf("%w: opcode %d", errWSProtocol, h.OpCode)
		}
		if int64(len(msg))+h.Length > limit {
			return 0, msg, errTooLarge
		}
		start := len(msg)
		msg = grow(msg, int(h.Length))
		if _, err := io.ReadFull(w.r, msg[start:]); err != nil {
			return 0, msg, err
		}
		if h.Fin {
			return op, msg, nil
		}
	}
}

// grow extends b by n bytes, reallocating outside the pool when needed.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n)
	copy(nb, b)
	putBuf(b)
	return nb
}

// write writes whole frames; frames of concurrent writers never interleave.
func (w *wsConn) write(b []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	_, err := w.conn.Write(b)
	return err
}

// closeFrameTimeout bounds the close frame written at teardown.
const closeFrameTimeout = time.Second

// close sends a close frame unless a write is blocked, then closes the
// connection.
func (w *wsConn) close() {
	if w.wmu.TryLock() {
		_ = w.conn.SetWriteDeadline(time.Now().Add(closeFrameTimeout))
		_, _ = w.conn.Write(appendFrame(nil, ws.OpClose, -1, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
		w.wmu.Unlock()
	}
	_ = w.conn.Close()
}

// appendFrame appends a masked frame (RFC 6455 §5.3) holding prefix, when
// it is not negative, followed by data.
func appendFrame(dst []byte, op ws.OpCode, prefix int, data []byte) []byte {
	n := len(data)
	if prefix >= 0 {
		n++
	}
	b0 := 0x80 | byte(op)
	switch {
	case n < 126:
		dst = append(dst, b0, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = binary.BigEndian.AppendUint16(append(dst, b0, 0x80|126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, b0, 0x80|127), uint64(n))
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

// appendPacketFrame appends the frame of an Engine.IO packet: text frames
// carry the type digit; binary frames are bare in protocol 4 and start
// with the type byte in protocol 3 (protocol-notes §3.1).
func appendPacketFrame(dst []byte, p engineio.Packet, v3 bool) []byte {
	switch {
	case !p.Binary:
		return appendFrame(dst, ws.OpText, '0'+int(p.Type), p.Data)
	case v3:
		return appendFrame(dst, ws.OpBinary, int(p.Type), p.Data)
	}
	return appendFrame(dst, ws.OpBinary, -1, p.Data)
}

// wsLoop is the reader of a WebSocket connection.
func (c *EngineConn) wsLoop(w *wsConn) {
	for {
		op, msg, err := w.next(c.opts.ReadLimit)
		if err != nil {
			c.fail(readFailure(err))
			break
		}
		p, err := c.decodeFrame(op, msg)
		if err != nil {
			putBuf(msg)
			c.fail(engineio.ReasonParseError, err)
			break
		}
		c.onPacket(p)
		putBuf(msg)
	}
	c.endReader()
}

// readFailure classifies a read error as the JavaScript client does.
func readFailure(err error) (engineio.Reason, error) {
	switch {
	case errors.Is(err, io.EOF):
		return engineio.ReasonTransportClose, nil
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return engineio.ReasonTransportClose, err
	}
	return engineio.ReasonTransportError, err
}
