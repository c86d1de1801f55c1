package engineio_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"

	"github.com/heraldio/herald/engineio"
)

const wait = 5 * time.Second

type closeEvent struct {
	s      *engineio.Session
	reason engineio.Reason
	err    error
}

type msgEvent struct {
	s      *engineio.Session
	data   string
	binary bool
}

// recorder is a Handler that echoes messages (unless quiet) and reports
// every event on channels.
type recorder struct {
	quiet  bool
	onMsg  func(s *engineio.Session, data []byte, binary bool)
	opens  chan *engineio.Session
	msgs   chan msgEvent
	closes chan closeEvent
}

func newRecorder() *recorder {
	return &recorder{
		opens:  make(chan *engineio.Session, 100),
		msgs:   make(chan msgEvent, 1000),
		closes: make(chan closeEvent, 100),
	}
}

func (r *recorder) OnOpen(s *engineio.Session) { r.opens <- s }

func (r *recorder) OnMessage(s *engineio.Session, data []byte, binary bool) {
	select {
	case r.msgs <- msgEvent{s, string(data), binary}:
	default:
	}
	if r.onMsg != nil {
		r.onMsg(s, data, binary)
		return
	}
	if r.quiet {
		return
	}
	b := append([]byte(nil), data...)
	if binary {
		_ = s.SendBinary(b)
	} else {
		_ = s.SendText(b)
	}
}

func (r *recorder) OnClose(s *engineio.Session, reason engineio.Reason, err error) {
	r.closes <- closeEvent{s, reason, err}
}

func (r *recorder) nextOpen(t testing.TB) *engineio.Session {
	t.Helper()
	select {
	case s := <-r.opens:
		return s
	case <-time.After(wait):
		t.Fatal("no session opened")
		return nil
	}
}

func (r *recorder) nextClose(t testing.TB) closeEvent {
	t.Helper()
	select {
	case e := <-r.closes:
		return e
	case <-time.After(wait):
		t.Fatal("no session closed")
		return closeEvent{}
	}
}

func (r *recorder) nextMsg(t testing.TB) msgEvent {
	t.Helper()
	select {
	case e := <-r.msgs:
		return e
	case <-time.After(wait):
		t.Fatal("no message")
		return msgEvent{}
	}
}

type testServer struct {
	*httptest.Server
	eio *engineio.Server
	rec *recorder
}

// newServer starts an Engine.IO server on httptest with the recorder; both
// are closed when the test ends.
func newServer(t testing.TB, rec *recorder, opts *engineio.Options) *testServer {
	t.Helper()
	if rec == nil {
		rec = newRecorder()
	}
	eio := engineio.NewServer(rec, opts)
	hs := httptest.NewServer(eio)
	t.Cleanup(func() {
		// Polling sessions that the test left without a GET wait for one to
		// collect their close packet; a short deadline cuts them. TestMain
		// still checks that nothing is left running.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := eio.Close(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close: %v", err)
		}
		hs.Close()
	})
	return &testServer{Server: hs, eio: eio, rec: rec}
}

func (ts *testServer) url(query string) string {
	return ts.URL + "/engine.io/?" + query
}

type response struct {
	status int
	body   string
	header http.Header
}

func (ts *testServer) do(t testing.TB, method, query, body string, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.url(query), rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, query, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, string(b), res.Header}
}

type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

// handshake opens a polling session and returns its id.
func (ts *testServer) handshake(t testing.TB, eio int, extra string) string {
	t.Helper()
	q := "EIO=4&transport=polling"
	if eio == 3 {
		q = "EIO=3&transport=polling"
	}
	res := ts.do(t, "GET", q+extra, "")
	if res.status != 200 {
		t.Fatalf("handshake: %d %s", res.status, res.body)
	}
	body := res.body
	if eio == 3 {
		_, body, _ = strings.Cut(body, ":")
	}
	var o openPacket
	if err := json.Unmarshal([]byte(body[1:]), &o); err != nil {
		t.Fatalf("open packet %q: %v", res.body, err)
	}
	return o.SID
}

func (ts *testServer) poll(t testing.TB, eio int, sid string) response {
	t.Helper()
	return ts.do(t, "GET", pollQuery(eio, sid), "")
}

func (ts *testServer) post(t testing.TB, eio int, sid, body string) response {
	t.Helper()
	return ts.do(t, "POST", pollQuery(eio, sid), body)
}

func pollQuery(eio int, sid string) string {
	if eio == 3 {
		return "EIO=3&transport=polling&sid=" + sid
	}
	return "EIO=4&transport=polling&sid=" + sid
}

// wsClient is a minimal WebSocket client for the tests.
type wsClient struct {
	conn net.Conn
	r    *bufio.Reader
	mu   sync.Mutex
}

func (ts *testServer) dialWS(t testing.TB, query string, exts ...httphead.Option) *wsClient {
	t.Helper()
	c, err := ts.tryDialWS(query, exts...)
	if err != nil {
		t.Fatalf("dial %s: %v", query, err)
	}
	t.Cleanup(func() { c.conn.Close() })
	return c
}

func (ts *testServer) tryDialWS(query string, exts ...httphead.Option) (*wsClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	d := ws.Dialer{Extensions: exts}
	conn, br, _, err := d.Dial(ctx, "ws"+strings.TrimPrefix(ts.url(query), "http"))
	if err != nil {
		return nil, err
	}
	if br == nil {
		br = bufio.NewReader(conn)
	}
	return &wsClient{conn: conn, r: br}, nil
}

type frame struct {
	op         ws.OpCode
	payload    []byte
	compressed bool
}

func (c *wsClient) read(t testing.TB) frame {
	t.Helper()
	f, err := c.tryRead()
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return f
}

func (c *wsClient) tryRead() (frame, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	h, err := ws.ReadHeader(c.r)
	if err != nil {
		return frame{}, err
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.r, p); err != nil {
		return frame{}, err
	}
	return frame{op: h.OpCode, payload: p, compressed: h.Rsv1()}, nil
}

// readData reads the next text or binary frame, skipping nothing else.
func (c *wsClient) readText(t testing.TB) string {
	t.Helper()
	f := c.read(t)
	if f.op != ws.OpText {
		t.Fatalf("frame op %v (%q), want text", f.op, f.payload)
	}
	return string(f.payload)
}

// readClose waits for a close frame (or the connection's end) and returns
// its status code, 0 when the connection ended without one.
func (c *wsClient) readClose(t testing.TB) int {
	t.Helper()
	for {
		f, err := c.tryRead()
		if err != nil {
			return 0
		}
		if f.op == ws.OpClose {
			if len(f.payload) >= 2 {
				return int(binary.BigEndian.Uint16(f.payload))
			}
			return 1005
		}
	}
}

func (c *wsClient) write(t testing.TB, op ws.OpCode, payload []byte) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	f := ws.NewFrame(op, true, append([]byte(nil), payload...))
	f = ws.MaskFrameInPlace(f)
	if err := ws.WriteFrame(c.conn, f); err != nil {
		t.Fatalf("write frame: %v", err)
	}
}

func (c *wsClient) send(t testing.TB, s string) { c.write(t, ws.OpText, []byte(s)) }

func mustOpen(t testing.TB, c *wsClient) openPacket {
	t.Helper()
	s := c.readText(t)
	if !strings.HasPrefix(s, "0") {
		t.Fatalf("first frame %q, want open packet", s)
	}
	var o openPacket
	if err := json.Unmarshal([]byte(s[1:]), &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// waitFor polls cond until it holds or the deadline passes. It is for state
// that has no event to wait on (a request being held by the server).
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), wait)
}

func newHTTPTest(t testing.TB, h http.Handler) *httptest.Server {
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs
}

func inflate(t testing.TB, p []byte) string {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
	b, err := io.ReadAll(r)
	if err != nil && err != io.ErrUnexpectedEOF {
		t.Fatal(err)
	}
	return string(b)
}

func deflate(t testing.TB, p []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	_, _ = w.Write(p)
	_ = w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}
