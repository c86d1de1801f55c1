package engineio

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// WebSocket close status codes (RFC 6455 §7.4.1).
const (
	closeNormal        = 1000
	closeGoingAway     = 1001
	closeProtocolError = 1002
	closeInvalidData   = 1007
	closeTooBig        = 1009
)

// wsConn is one WebSocket connection. Its reader is the session's only
// long-lived goroutine; it holds no buffer while idle: each message is read
// into a pooled buffer that is released once the handler returns.
type wsConn struct {
	conn    net.Conn
	v3      bool
	deflate int // compression threshold in bytes; 0: permessage-deflate off
	limit   int64
	head    [14]byte
	pending []byte  // bytes read but not yet parsed (past the handshake, or by onReadable)
	readBuf *[]byte // the pooled buffer pending points into, while it does
	gen     uint64  // upgrade-timeout generation, for probes
	s       *Session

	// wraw writes without blocking (flushInline); set once at accept, nil
	// when the connection has no file descriptor.
	wraw syscall.RawConn
	// carry is what flushInline could not write at once, for the flush
	// goroutine it hands over to; owned by whoever holds s.flushing.
	carry net.Buffers

	// epoll registration (epoll_linux.go); guarded by the poller's mutex.
	raw        syscall.RawConn
	pollID     uint64
	armed      bool // registered and waiting: no goroutine reads the connection
	closedPoll bool
}

var errEOF = io.EOF

// close closes the connection. If the poller was watching it, no reader
// goroutine is left to notice, so close finishes the reader's part.
func (c *wsConn) close() {
	if p := c.s.srv.poll.Load(); p != nil && p.forget(c) {
		defer c.s.readerDone()
	}
	_ = c.conn.Close()
}

var errProtocol = errors.New("engineio: websocket protocol error")

// acceptWebSocket completes the WebSocket handshake on a hijacked connection.
func (srv *Server) acceptWebSocket(w http.ResponseWriter, r *http.Request, s *Session, hdr http.Header) (*wsConn, error) {
	u := ws.HTTPUpgrader{Header: hdr, Timeout: 10 * time.Second}
	var ext *wsflate.Extension
	if d := srv.opts.PerMessageDeflate; d.enabled() {
		ext = &wsflate.Extension{Parameters: wsflate.Parameters{
			ServerNoContextTakeover: true,
			ClientNoContextTakeover: true,
		}}
		u.Negotiate = ext.Negotiate
	}
	conn, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("engineio: websocket upgrade: %w", err)
	}
	c := &wsConn{conn: conn, v3: s.protocol == 3, limit: srv.opts.MaxHTTPBufferSize, s: s}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.wraw = raw
		}
	}
	if ext != nil {
		if _, ok := ext.Accepted(); ok {
			c.deflate = srv.opts.PerMessageDeflate.threshold()
		}
	}
	if n := rw.Reader.Buffered(); n > 0 {
		c.pending = make([]byte, n)
		_, _ = io.ReadFull(rw.Reader, c.pending)
	}
	return c, nil
}

func (c *wsConn) read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		return n, nil
	}
	return c.conn.Read(p)
}

func (c *wsConn) readFull(p []byte) error {
	for len(p) > 0 {
		n, err := c.read(p)
		if err != nil {
			if err == io.EOF && n < len(p) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		p = p[n:]
	}
	return nil
}

// frameHeader is a parsed client frame header.
type frameHeader struct {
	fin, rsv1 bool
	op        byte
	length    int64
	mask      [4]byte
}

// readHeader reads a frame header, of which the first have bytes (0-2)
// are already in c.head.
func (c *wsConn) readHeader(have int) (frameHeader, error) {
	var h frameHeader
	b := c.head[:2]
	if err := c.readFull(b[have:]); err != nil {
		return h, err
	}
	h.fin = b[0]&finBit != 0
	h.rsv1 = b[0]&rsv1Bit != 0
	h.op = b[0] & 0x0F
	if b[0]&0x30 != 0 || (h.rsv1 && c.deflate == 0) {
		return h, fmt.Errorf("%w: reserved bits set", errProtocol)
	}
	if b[1]&0x80 == 0 {
		return h, fmt.Errorf("%w: unmasked client frame", errProtocol)
	}
	n := int64(b[1] & 0x7F)
	extra := 4
	switch n {
	case 126:
		extra += 2
	case 127:
		extra += 8
	}
	b = c.head[2 : 2+extra]
	if err := c.readFull(b); err != nil {
		return h, err
	}
	switch n {
	case 126:
		n = int64(binary.BigEndian.Uint16(b))
		b = b[2:]
	case 127:
		u := binary.BigEndian.Uint64(b)
		if u > 1<<62 {
			return h, fmt.Errorf("%w: frame length", errProtocol)
		}
		n = int64(u)
		b = b[8:]
	}
	h.length = n
	copy(h.mask[:], b)
	if h.op >= opClose && (n > 125 || !h.fin) {
		return h, fmt.Errorf("%w: bad control frame", errProtocol)
	}
	return h, nil
}

func unmask(b []byte, key [4]byte) {
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// readMessage returns the next data message (text or binary), answering
// control frames on the way. The first have bytes (0-2) of its first frame
// header are already in c.head. The payload is pooled: pass it to putBuf
// when done.
func (c *wsConn) readMessage(have int) (op byte, payload []byte, err error) {
	var compressed bool
	msg := []byte(nil)
	for {
		h, err := c.readHeader(have)
		have = 0
		if err != nil {
			putBuf(msg)
			return 0, nil, err
		}
		switch h.op {
		case opClose, opPing, opPong:
			body := make([]byte, h.length)
			if err := c.readFull(body); err != nil {
				return 0, nil, err
			}
			unmask(body, h.mask)
			switch h.op {
			case opClose:
				putBuf(msg)
				return opClose, append([]byte(nil), body...), nil
			case opPing:
				c.s.enqueueRaw(controlFrame(opPong, body))
			}
			continue
		case opText, opBinary:
			if msg != nil {
				putBuf(msg)
				return 0, nil, fmt.Errorf("%w: new message inside fragmented message", errProtocol)
			}
			op, compressed = h.op, h.rsv1
			msg = getBuf()
		case opContinuation:
			if msg == nil {
				return 0, nil, fmt.Errorf("%w: continuation without start", errProtocol)
			}
		default:
			putBuf(msg)
			return 0, nil, fmt.Errorf("%w: unknown opcode %d", errProtocol, h.op)
		}
		if int64(len(msg))+h.length > c.limit {
			putBuf(msg)
			return 0, nil, ErrPayloadTooLarge
		}
		start := len(msg)
		msg = grow(msg, int(h.length))
		if err := c.readFull(msg[start:]); err != nil {
			putBuf(msg)
			return 0, nil, err
		}
		unmask(msg[start:], h.mask)
		if h.fin {
			break
		}
	}
	if compressed {
		out, err := inflate(msg, c.limit)
		putBuf(msg)
		if err != nil {
			return 0, nil, err
		}
		msg = out
	}
	if op == opText && !utf8.Valid(msg) {
		putBuf(msg)
		return 0, nil, fmt.Errorf("%w: invalid UTF-8 in text frame", errProtocol)
	}
	return op, msg, nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, len(b)+n+len(b)/4)
	copy(nb, b)
	putBuf(b)
	return nb
}

var (
	inflaters   sync.Pool
	deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}
)

// inflate decompresses a permessage-deflate message (RFC 7692 §7.2.2),
// refusing output beyond limit.
func inflate(in []byte, limit int64) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(in), bytes.NewReader(deflateTail))
	fr, _ := inflaters.Get().(io.ReadCloser)
	if fr == nil {
		fr = flate.NewReader(src)
	} else {
		_ = fr.(flate.Resetter).Reset(src, nil)
	}
	defer inflaters.Put(fr)
	out := getBuf()
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		n, err := fr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if int64(len(out)) > limit {
			putBuf(out)
			return nil, ErrPayloadTooLarge
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return out, nil
		}
		if err != nil {
			putBuf(out)
			return nil, fmt.Errorf("%w: inflate: %v", errProtocol, err)
		}
	}
}

var deflaters = sync.Pool{New: func() any { w, _ := flate.NewWriter(io.Discard, flate.BestSpeed); return w }}

// deflateFrame returns the compressed frame for m.
func deflateFrame(m *Message, v3 bool) []byte {
	plain := m.wsFrame(v3)
	hl := 2
	switch plain[1] {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	var zb bytes.Buffer
	zw := deflaters.Get().(*flate.Writer)
	zw.Reset(&zb)
	_, _ = zw.Write(plain[hl:])
	_ = zw.Flush()
	deflaters.Put(zw)
	z := bytes.TrimSuffix(zb.Bytes(), deflateTail[:4])
	out := appendFrameHeader(make([]byte, 0, maxFrameHeader+len(z)), plain[0]&0x0F, len(z), true)
	return append(out, z...)
}

func controlFrame(op byte, body []byte) []byte {
	return append(appendFrameHeader(make([]byte, 0, 2+len(body)), op, len(body), false), body...)
}

func closeFrame(code uint16, reason string) []byte {
	body := binary.BigEndian.AppendUint16(nil, code)
	return controlFrame(opClose, append(body, reason...))
}

// closeWithStatus writes a close frame and closes the connection.
func (c *wsConn) closeWithStatus(code uint16, reason string) {
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.conn.Write(closeFrame(code, reason))
	c.close()
}

// closeAndDrain writes a close frame, then reads and discards what the
// client is still sending (the rest of an oversized message) until it
// closes, so that the close frame is not lost to a TCP reset.
func (c *wsConn) closeAndDrain(code uint16) {
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.conn.Write(closeFrame(code, ""))
	if tc, ok := c.conn.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(c.conn, maxDiscard))
	c.close()
}

// maxDiscard bounds what is read and thrown away after refusing an
// oversized message or body.
const maxDiscard = 16 << 20

// decode turns a data message into an Engine.IO packet.
func (c *wsConn) decode(op byte, payload []byte) (Packet, error) {
	if op == opBinary {
		return DecodeBinaryFrame(payload, c.v3)
	}
	return DecodeTextFrame(payload, c.v3)
}

// startReading starts reading a session's WebSocket; the session counts
// one reader for it. Where epoll is available the connection is watched
// and a goroutine runs only while there is something to read; elsewhere a
// reader goroutine waits for each frame.
func (s *Session) startReading(c *wsConn) {
	if len(c.pending) > 0 {
		go s.onReadable(c)
		return
	}
	if p := s.srv.poller(); p != nil && p.watch(c) {
		return
	}
	go s.readLoop(c)
}

// onReadable reads and handles the messages available on c, then goes
// back to the poller. It reads what the socket holds with one system call
// into a pooled buffer and parses frames from there, so that a small
// message costs one read, not one per header field; a read that did not
// fill the buffer drained the socket, so the connection is re-armed at
// once (the registration is level-triggered: data that arrived meanwhile
// reports it ready again) instead of reading again to meet EAGAIN.
func (s *Session) onReadable(c *wsConn) {
	for {
		drained := false
		if len(c.pending) == 0 {
			bp := readBufPool.Get().(*[]byte)
			n, err := c.tryRead(*bp)
			if err != nil || n == 0 {
				readBufPool.Put(bp)
			}
			if err != nil {
				s.wsFailed(c, err)
				s.readerDone()
				return
			}
			if n == 0 {
				s.rearm(c)
				return
			}
			c.pending, c.readBuf = (*bp)[:n], bp
			drained = n < len(*bp)
		}
		if !s.onFrame(c, 0) {
			c.releaseReadBuf()
			s.readerDone()
			return
		}
		if len(c.pending) == 0 {
			c.releaseReadBuf()
			if drained {
				s.rearm(c)
				return
			}
		}
	}
}

// rearm hands c back to the poller, or reads it the plain way when it
// cannot be watched (or is closing).
func (s *Session) rearm(c *wsConn) {
	if p := s.srv.poll.Load(); p != nil && p.watch(c) {
		return
	}
	s.readLoop(c)
}

// releaseReadBuf returns onReadable's buffer once nothing points into it.
func (c *wsConn) releaseReadBuf() {
	if c.readBuf != nil && len(c.pending) == 0 {
		readBufPool.Put(c.readBuf)
		c.readBuf = nil
	}
}

// readBufPool holds onReadable's read buffers.
var readBufPool = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// readLoop reads the session's WebSocket until it fails or closes. It
// waits for each frame in a shallow frame of its own (readLoop, read,
// net.Conn.Read), so that the goroutine of an idle connection keeps the
// smallest stack; the work happens in onFrame, deeper, only while a
// message is being read.
func (s *Session) readLoop(c *wsConn) {
	var mark byte
	base := uintptr(unsafe.Pointer(&mark))
	for {
		n, err := c.read(c.head[:2])
		if err != nil {
			s.wsFailed(c, err)
			s.readerDone()
			return
		}
		if !s.onFrame(c, n) {
			s.readerDone()
			return
		}
		if uintptr(unsafe.Pointer(&mark)) != base {
			// Handling the message grew the stack, which then never
			// shrinks back below 4 KB: hand the connection to a fresh
			// goroutine so that idle connections keep 2 KB stacks.
			go s.readLoop(c)
			return
		}
	}
}

func (s *Session) readerDone() {
	s.mu.Lock()
	s.readers--
	s.mu.Unlock()
	s.release()
}

// onFrame reads the rest of a message whose first n header bytes are in
// c.head and hands it on. It reports whether to go on reading.
//
//go:noinline
func (s *Session) onFrame(c *wsConn, n int) bool {
	op, payload, err := c.readMessage(n)
	if err != nil {
		s.wsFailed(c, err)
		return false
	}
	if op == opClose {
		c.closeWithStatus(closeNormal, "")
		s.closeWith(ReasonTransportClose, nil, false)
		return false
	}
	p, err := c.decode(op, payload)
	if err != nil {
		putBuf(payload)
		c.closeWithStatus(closeProtocolError, "")
		s.closeWith(ReasonParseError, err, false)
		return false
	}
	s.mu.Lock()
	s.readerFlushes = true
	s.mu.Unlock()
	s.onPacket(p)
	putBuf(payload)
	s.mu.Lock()
	s.readerFlushes = false
	flush := len(s.queue) > 0 && !s.flushing && s.ws == c && s.state == stateOpen
	if flush {
		s.flushing = true
	}
	s.mu.Unlock()
	if flush {
		s.flush(c)
	}
	return true
}

// wsFailed closes the session after a read error.
func (s *Session) wsFailed(c *wsConn, err error) {
	switch {
	case errors.Is(err, ErrPayloadTooLarge):
		c.closeAndDrain(closeTooBig)
		s.closeWith(ReasonTransportError, err, false)
	case errors.Is(err, errProtocol):
		c.closeWithStatus(closeProtocolError, "")
		s.closeWith(ReasonTransportError, err, false)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		c.close()
		s.closeWith(ReasonTransportClose, nil, false)
	default:
		c.close()
		s.closeWith(ReasonTransportError, err, false)
	}
}

// enqueueRaw queues a pre-built WebSocket frame (a pong for a client's
// WebSocket ping).
func (s *Session) enqueueRaw(frame []byte) {
	m := &Message{typ: PacketNoop, data: frame}
	m.frame.Store(&frame)
	m.frameV3.Store(&frame)
	_ = s.enqueue(m, false)
}

// flush writes the queue to c with one vectored write per batch until the
// queue is empty. Exactly one flush runs at a time (s.flushing). When the
// session closed gracefully, it ends with a close frame.
func (s *Session) flush(c *wsConn) {
	bp := buffersPool.Get().(*net.Buffers)
	defer func() {
		clear((*bp)[:cap(*bp)])
		*bp = (*bp)[:0]
		buffersPool.Put(bp)
	}()
	for {
		s.mu.Lock()
		if len(c.carry) > 0 && len(s.queue) == 0 {
			s.mu.Unlock()
			if _, err := c.carry.WriteTo(c.conn); err != nil {
				c.close()
				s.closeWith(ReasonTransportError, err, false)
			}
			c.carry = nil
			s.mu.Lock()
		}
		if len(s.queue) == 0 || s.ws != c && s.state == stateOpen {
			s.flushing = false
			closing := s.state != stateOpen
			s.mu.Unlock()
			if closing {
				c.closeWithStatus(closeNormal, "")
			}
			s.release()
			return
		}
		batch := s.takeQueueLocked()
		s.mu.Unlock()
		bufs := append((*bp)[:0], c.carry...)
		c.carry = nil
		bufs = c.frames(bufs, batch)
		*bp = bufs // keep the grown backing array; WriteTo consumes bufs
		_, err := bufs.WriteTo(c.conn)
		s.mu.Lock()
		s.recycleLocked(batch)
		s.mu.Unlock()
		if err != nil {
			c.close()
			s.closeWith(ReasonTransportError, err, false)
			s.mu.Lock()
			s.flushing = false
			s.mu.Unlock()
			s.release()
			return
		}
	}
}

// frames appends the WebSocket frames of batch to bufs.
func (c *wsConn) frames(bufs net.Buffers, batch []*Message) net.Buffers {
	for _, m := range batch {
		if c.deflate > 0 && len(m.data) >= c.deflate && m.typ == PacketMessage && !m.noCompress {
			bufs = append(bufs, cached(m.deflated(c.v3), func() []byte { return deflateFrame(m, c.v3) }))
		} else {
			bufs = append(bufs, m.wsFrame(c.v3))
		}
	}
	return bufs
}

// flushInline is flush for a sender that must not wait (an emit, each
// recipient of a broadcast): it writes the queue with one non-blocking
// vectored write on the caller's goroutine, and only when the socket does
// not take everything at once (or more was queued meanwhile, or the session
// is closing) hands the rest to a flush goroutine. A delivery to a client
// that keeps up thus costs one system call and no goroutine. The caller has
// set s.flushing.
func (s *Session) flushInline(c *wsConn) {
	s.mu.Lock()
	batch := s.takeQueueLocked()
	s.mu.Unlock()
	bp := buffersPool.Get().(*net.Buffers)
	bufs := c.frames((*bp)[:0], batch)
	*bp = bufs
	rest, err := writeNow(c.wraw, bufs)
	if len(rest) > 0 {
		c.carry = append(net.Buffers(nil), rest...) // bufs goes back to the pool
	}
	clear((*bp)[:cap(*bp)])
	*bp = (*bp)[:0]
	buffersPool.Put(bp)
	s.mu.Lock()
	s.recycleLocked(batch)
	if err == nil && len(c.carry) == 0 && len(s.queue) == 0 && s.state == stateOpen && s.ws == c {
		s.flushing = false
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if err != nil {
		c.carry = nil
		c.close()
		s.closeWith(ReasonTransportError, err, false)
		s.mu.Lock()
		s.flushing = false
		s.mu.Unlock()
		s.release()
		return
	}
	go s.flush(c)
}

// buffersPool recycles the vectors of flush, so that an idle connection
// holds none.
var buffersPool = sync.Pool{New: func() any { return new(net.Buffers) }}

// serveUpgrade handles a WebSocket request for an existing polling session:
// the probe of the polling to WebSocket upgrade (protocol spec, "Upgrade").
func (s *Session) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	if s.srv.opts.DisableUpgrades {
		writeError(w, http.StatusBadRequest, codeBadRequest, "")
		return
	}
	s.mu.Lock()
	busy := s.state != stateOpen || s.transport != transportPolling || s.probe != nil
	s.mu.Unlock()
	c, err := s.srv.acceptWebSocket(w, r, s, nil)
	if err != nil {
		return
	}
	if busy {
		// Node accepts a second WebSocket for an upgraded session and closes it.
		c.closeWithStatus(closeNormal, "")
		return
	}
	s.mu.Lock()
	if s.state != stateOpen || s.transport != transportPolling || s.probe != nil {
		s.mu.Unlock()
		c.closeWithStatus(closeNormal, "")
		return
	}
	s.probe = c
	s.readers++
	c.gen = s.timerGen + 1<<32 // distinct from heartbeat generations
	s.mu.Unlock()
	s.srv.scheduler().at(time.Now().Add(s.srv.opts.UpgradeTimeout), c, c.gen)
	go s.probeLoop(c)
}

// fire is the upgrade timeout of a probe.
func (c *wsConn) fire(gen uint64) {
	s := c.s
	s.mu.Lock()
	expired := s.probe == c && c.gen == gen
	if expired {
		s.probe = nil
		s.probed = false
	}
	s.mu.Unlock()
	if expired {
		c.closeWithStatus(closeNormal, "upgrade timeout")
	}
}

// probeLoop runs the upgrade handshake on a probe connection: "2probe" is
// answered with "3probe", pending GETs then get noop, and "5" moves the
// session to this connection, whose reader it then becomes.
func (s *Session) probeLoop(c *wsConn) {
	fail := func() {
		s.mu.Lock()
		if s.probe == c {
			s.probe = nil
			s.probed = false
		}
		s.readers--
		s.mu.Unlock()
		c.close()
		s.release()
	}
	for {
		op, payload, err := c.readMessage(0)
		if err != nil || op == opClose {
			fail()
			return
		}
		p, err := c.decode(op, payload)
		isProbe := err == nil && p.Type == PacketPing && string(p.Data) == "probe"
		putBuf(payload) // p.Data aliases it: only p.Type is used below
		if err != nil {
			fail()
			return
		}
		switch {
		case isProbe:
			if _, err := c.conn.Write(msgProbe3.wsFrame(c.v3)); err != nil {
				fail()
				return
			}
			s.mu.Lock()
			if s.probe == c {
				s.probed = true
				if s.getActive {
					select {
					case s.pollWake <- struct{}{}:
					default:
					}
				}
			}
			s.mu.Unlock()
		case p.Type == PacketUpgrade:
			s.mu.Lock()
			if s.probe != c || s.state != stateOpen {
				s.mu.Unlock()
				fail()
				return
			}
			s.probe = nil
			s.probed = false
			s.transport = transportWebSocket
			s.ws = c
			if s.getActive {
				// The held GET ends with a noop; polling is over.
				select {
				case s.pollWake <- struct{}{}:
				default:
				}
			}
			if len(s.queue) > 0 && !s.flushing {
				s.flushing = true
				go s.flush(c)
			}
			s.mu.Unlock()
			s.startReading(c) // takes over the probe's reader count
			return
		default:
			// Anything else before the upgrade packet ends the probe (Node).
			fail()
			return
		}
	}
}
