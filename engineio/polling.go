package engineio

import (
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// upgradeNoopDelay is how long a GET that arrives during an upgrade waits
// for the upgrade to complete before it is answered with a noop.
const upgradeNoopDelay = 100 * time.Millisecond

var (
	errHeartbeatDirection = errors.New("engineio: invalid heartbeat direction")
	errOverlap            = errors.New("engineio: overlapping polling requests")
	errPollAborted        = errors.New("engineio: poll connection closed prematurely")
)

// servePoll answers a polling GET: it waits until something is queued (or
// the session ends) and writes the whole queue as one payload.
func (s *Session) servePoll(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, true) {
		return
	}
	s.mu.Lock()
	var batch []*Message
	aborted, upgraded := false, false
	// A GET that arrives once the probe WebSocket is open is held up to
	// upgradeNoopDelay (Node repeats its noop every 100 ms): the client's
	// probe and upgrade packets usually follow at once, after which polling
	// requests are refused. A GET already waiting when the probe arrives is
	// the one the client waits for before upgrading: it gets its noop at once.
	late := s.probe != nil
	var hold <-chan time.Time
	for {
		if s.transport != transportPolling {
			if late {
				upgraded = true
			} else {
				batch = []*Message{msgNoop}
			}
			break
		}
		if s.probed && s.state == stateOpen {
			if !late {
				batch = []*Message{msgNoop}
				break
			}
			if hold == nil {
				t := time.NewTimer(upgradeNoopDelay)
				defer t.Stop()
				hold = t.C
			}
		}
		if len(s.queue) > 0 && !s.probed {
			batch = s.takeQueueLocked()
			if n := len(batch); n > 1 && batch[n-1] == msgClose && s.state != stateOpen {
				// As Node, the close packet goes in a response of its own:
				// a client handles what came before it (a Socket.IO
				// DISCONNECT, say) before it hears of the close. The next
				// GET collects it; the session drains until then.
				batch = batch[:n-1]
				s.queue = append(s.queue, msgClose)
				s.queued += msgClose.size()
				if s.state == stateClosed {
					s.state = stateDraining
					s.setTimerLocked(timerDrain, time.Now().Add(s.srv.opts.PingTimeout))
				}
			}
			break
		}
		if s.state != stateOpen && s.state != stateDraining {
			break
		}
		s.mu.Unlock()
		select {
		case <-s.pollWake:
		case <-hold:
			late = false
		case <-r.Context().Done():
			aborted = true
		}
		s.mu.Lock()
		if aborted {
			break
		}
	}
	if upgraded {
		s.getActive = false
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeBadRequest, "")
		s.release()
		return
	}
	if s.state == stateDraining && len(s.queue) == 0 {
		s.state = stateClosed
	}
	s.mu.Unlock()

	if aborted {
		s.mu.Lock()
		s.getActive = false
		s.mu.Unlock()
		s.closeWith(ReasonTransportError, errPollAborted, false)
		s.srv.remove(s)
		s.release()
		return
	}
	if len(batch) == 0 {
		// Closed without a word: answer with the close packet.
		batch = []*Message{msgClose}
	}
	body, ctype := s.encodeBatch(batch, r)
	// The GET is over once its batch is taken: boundedWrite flushes the
	// response, and a client that has read it may act on it (pause for an
	// upgrade, send the next GET) before the write returns. A close in
	// that moment must queue its close packet for the next GET, not count
	// on this one.
	s.mu.Lock()
	s.recycleLocked(batch)
	s.getActive = false
	closed := s.state == stateClosed
	s.mu.Unlock()
	s.srv.boundedWrite(w, func() { s.srv.writePayload(w, r, body, ctype) })
	putBuf(body)
	if closed {
		s.srv.remove(s)
	}
	s.release()
}

// admit checks a polling request (GET when get, else POST) against the
// session's state and marks it active, or answers it with Node's error.
// A second request of the same kind while one is active closes the session,
// as Node does: the held GET gets the close packet, this one an error. A
// draining session still serves the GET that collects its queue.
func (s *Session) admit(w http.ResponseWriter, get bool) bool {
	if !s.checkExpired() {
		writeError(w, http.StatusBadRequest, codeUnknownSID, "")
		return false
	}
	s.mu.Lock()
	active := &s.postActive
	gone := s.state != stateOpen
	if get {
		active = &s.getActive
		gone = s.state == stateClosed
	}
	switch {
	case gone:
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeUnknownSID, "")
		return false
	case s.transport != transportPolling:
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeBadRequest, "")
		return false
	case *active:
		s.mu.Unlock()
		s.closeWith(ReasonTransportError, errOverlap, false)
		writeError(w, http.StatusBadRequest, codeBadRequest, "")
		return false
	}
	*active = true
	s.mu.Unlock()
	return true
}

// encodeBatch builds a polling payload. Protocol 3 clients that accept
// binary get the XHR2 binary form when the batch holds binary packets.
func (s *Session) encodeBatch(batch []*Message, r *http.Request) ([]byte, string) {
	buf := getBuf()
	if s.protocol == 3 && !s.b64 {
		hasBinary := false
		for _, m := range batch {
			hasBinary = hasBinary || m.binary
		}
		if hasBinary {
			for _, m := range batch {
				buf = AppendBinaryRecordV3(buf, m.packet())
			}
			return buf, "application/octet-stream"
		}
	}
	for i, m := range batch {
		if s.protocol == 4 && i > 0 {
			buf = append(buf, recordSeparator)
		}
		buf = append(buf, m.pollingRecord(s.protocol == 3)...)
	}
	return buf, "text/plain; charset=UTF-8"
}

// servePost reads a polling POST and hands its packets to the application
// before answering, so that the next GET carries every reply.
func (s *Session) servePost(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, false) {
		return
	}
	defer func() {
		s.mu.Lock()
		s.postActive = false
		s.mu.Unlock()
		s.release()
	}()

	limit := s.srv.opts.MaxHTTPBufferSize
	lift := s.srv.bodyDeadline(w)
	if r.ContentLength > limit {
		tooLarge(w, r)
		return
	}
	body, err := readBody(r.Body, limit)
	defer putBuf(body)
	if err == nil {
		lift()
	}
	if errors.Is(err, ErrPayloadTooLarge) {
		tooLarge(w, r)
		return
	}
	if err != nil {
		s.closeWith(ReasonTransportError, err, false)
		writeError(w, http.StatusBadRequest, codeBadRequest, "")
		return
	}
	binaryBody := false
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		binaryBody = mt == "application/octet-stream"
	}
	var packets []Packet
	collect := func(p Packet) error { packets = append(packets, p); return nil }
	switch {
	case s.protocol == 4 && binaryBody:
		err = invalid("binary polling payload in protocol 4")
	case s.protocol == 4:
		err = DecodePayloadV4(body, collect)
	case binaryBody:
		err = DecodeBinaryPayloadV3(body, collect)
	default:
		err = DecodePayloadV3(body, collect)
	}
	if err != nil {
		s.closeWith(ReasonParseError, err, false)
		writeError(w, http.StatusBadRequest, codeBadRequest, "")
		return
	}
	for _, p := range packets {
		s.onPacket(p)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	s.srv.setCORS(w, r)
	_, _ = io.WriteString(w, "ok")
}

// tooLarge answers 413 (Node's answer; the session survives). It first
// reads and discards the rest of the body, up to a bound: a client still
// uploading when the connection closes would miss the answer.
func tooLarge(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDiscard))
	http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
}

// readBody reads at most limit bytes into a pooled buffer.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	buf := getBuf()
	for {
		if int64(len(buf)) > limit {
			return buf, ErrPayloadTooLarge
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if int64(len(buf)) > limit {
				return buf, ErrPayloadTooLarge
			}
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() []byte { return (*bufPool.Get().(*[]byte))[:0] }

func putBuf(b []byte) {
	if cap(b) > 64<<10 || cap(b) == 0 {
		return
	}
	b = b[:0]
	bufPool.Put(&b)
}

// writePayload writes a polling response body, compressed when the client
// accepts it and the body is over the threshold (Node's httpCompression).
func (srv *Server) writePayload(w http.ResponseWriter, r *http.Request, body []byte, ctype string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-store")
	srv.setCORS(w, r)
	if c := srv.opts.HTTPCompression; c.enabled() && len(body) >= c.threshold() {
		if enc := acceptedEncoding(r.Header.Get("Accept-Encoding")); enc != "" {
			h.Set("Content-Encoding", enc)
			h.Add("Vary", "Accept-Encoding")
			w.WriteHeader(http.StatusOK)
			compress(w, enc, body)
			return
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func acceptedEncoding(accept string) string {
	for part := range strings.SplitSeq(accept, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") && !strings.Contains(params, "q=0.") {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "gzip":
			return "gzip"
		case "deflate":
			return "deflate"
		}
	}
	return ""
}

var (
	gzipPool = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed); return w }}
	zlibPool = sync.Pool{New: func() any { w, _ := zlib.NewWriterLevel(io.Discard, zlib.BestSpeed); return w }}
)

func compress(w io.Writer, enc string, body []byte) {
	if enc == "gzip" {
		zw := gzipPool.Get().(*gzip.Writer)
		zw.Reset(w)
		_, _ = zw.Write(body)
		_ = zw.Close()
		gzipPool.Put(zw)
		return
	}
	// HTTP "deflate" is the zlib format (RFC 9110 §8.4.1.2), as Node's
	// zlib.createDeflate produces.
	zw := zlibPool.Get().(*zlib.Writer)
	zw.Reset(w)
	_, _ = zw.Write(body)
	_ = zw.Close()
	zlibPool.Put(zw)
}

// cors handles CORS for polling requests. It answers preflights itself and
// reports whether the request is done.
func (srv *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	c := srv.opts.CORS
	if c == nil || r.Method != http.MethodOptions {
		return false
	}
	srv.setCORS(w, r)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	if c.Headers != nil {
		h.Set("Access-Control-Allow-Headers", strings.Join(c.Headers, ", "))
	} else if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	if c.MaxAge > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(int(c.MaxAge/time.Second)))
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// setCORS adds the response headers of an allowed cross-origin request.
func (srv *Server) setCORS(w http.ResponseWriter, r *http.Request) {
	c := srv.opts.CORS
	if c == nil {
		return
	}
	origin := r.Header.Get("Origin")
	h := w.Header()
	allowAny := c.AllowOrigin == nil && len(c.Origins) == 1 && c.Origins[0] == "*"
	switch {
	case allowAny && !c.Credentials:
		h.Set("Access-Control-Allow-Origin", "*")
		return
	case origin == "":
		return
	case allowAny, c.AllowOrigin != nil && c.AllowOrigin(origin),
		c.AllowOrigin == nil && containsFold(c.Origins, origin):
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	default:
		return
	}
	if c.Credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}
