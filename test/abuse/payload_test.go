package abuse_test

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

// pollHandshake opens a polling session from hc and returns its sid.
func pollHandshake(t testing.TB, hc *http.Client, base string) string {
	t.Helper()
	sid, status, err := tryPollHandshake(hc, base)
	if err != nil || status != http.StatusOK {
		t.Fatalf("polling handshake: status %d, %v", status, err)
	}
	return sid
}

func tryPollHandshake(hc *http.Client, base string) (sid string, status int, err error) {
	resp, err := hc.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), resp.StatusCode, nil
	}
	var open struct {
		SID string `json:"sid"`
	}
	if len(body) < 2 || body[0] != '0' {
		return "", resp.StatusCode, io.ErrUnexpectedEOF
	}
	err = json.Unmarshal(body[1:], &open)
	return open.SID, resp.StatusCode, err
}

// TestOversizedPollingBody: POST bodies over MaxHTTPBufferSize (1 MB by
// default) are answered 413, with or without a Content-Length, and are
// not buffered; the session survives, as in Node.
func TestOversizedPollingBody(t *testing.T) {
	// No heartbeat during the test: the session must survive the refusals.
	e := newEnv(t, &socketio.Options{Engine: &engineio.Options{PingInterval: time.Minute}}, nil)
	ctl := e.startControl(t)
	hc := httpFrom("127.0.1.1")
	defer hc.CloseIdleConnections()
	sid := pollHandshake(t, hc, e.url)
	post := e.url + "/socket.io/?EIO=4&transport=polling&sid=" + sid
	before := heapAfterGC()

	big := bytes.Repeat([]byte("a"), 4_000_000)
	for _, chunked := range []bool{false, true} {
		for range 5 {
			var body io.Reader = bytes.NewReader(big)
			if chunked {
				body = io.MultiReader(bytes.NewReader(big)) // hides the length: chunked encoding
			}
			req, _ := http.NewRequest(http.MethodPost, post, body)
			req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("oversized POST (chunked %v): %v", chunked, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("oversized POST (chunked %v): status %d, want 413", chunked, resp.StatusCode)
			}
		}
	}
	grown := int64(heapAfterGC()) - int64(before)
	// The session is still usable: a CONNECT goes through.
	resp, err := hc.Post(post, "text/plain;charset=UTF-8", strings.NewReader("40"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST after the refusals: %v %v", resp, err)
	}
	resp.Body.Close()
	figure(t, "oversized polling body: 10 POSTs of 4 MB answered 413 (5 with Content-Length, 5 chunked); live heap change %s", kib(grown))
	ctl.report(t, "oversized polling body")
}

// TestOversizedWebSocketFrames: a message over MaxHTTPBufferSize closes
// the connection with status 1009 whether it comes as one frame, as a
// frame announcing 1 TB, as fragments, or as a permessage-deflate bomb;
// nothing of that size is allocated.
func TestOversizedWebSocketFrames(t *testing.T) {
	e := newEnv(t, &socketio.Options{Engine: &engineio.Options{PerMessageDeflate: &engineio.CompressionOptions{}}}, nil)
	ctl := e.startControl(t)
	before := heapAfterGC()

	header := func(length int64, fin, rsv1 bool, op ws.OpCode) ws.Header {
		return ws.Header{Fin: fin, Rsv: ws.Rsv(rsv1, false, false), OpCode: op, Masked: true, Mask: ws.NewMask(), Length: length}
	}
	send := func(conn net.Conn, h ws.Header, payload []byte) {
		if err := ws.WriteHeader(conn, h); err != nil {
			return // the server may already have refused and closed
		}
		p := bytes.Clone(payload)
		ws.Cipher(p, h.Mask, 0)
		_, _ = conn.Write(p)
	}
	var bomb bytes.Buffer
	zw, _ := flate.NewWriter(&bomb, flate.BestSpeed)
	zeros := make([]byte, 1<<20)
	for range 8 {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Flush()
	compressed := bytes.TrimSuffix(bomb.Bytes(), []byte{0, 0, 0xff, 0xff})

	cases := []struct {
		name string
		run  func(conn net.Conn)
	}{
		{"one 2 MB frame", func(conn net.Conn) {
			send(conn, header(2_000_000, true, false, ws.OpText), bytes.Repeat([]byte("4"), 2_000_000))
		}},
		{"a frame announcing 1 TB", func(conn net.Conn) {
			_ = ws.WriteHeader(conn, header(1<<40, true, false, ws.OpBinary))
		}},
		{"30 fragments of 100 KB", func(conn net.Conn) {
			chunk := bytes.Repeat([]byte("a"), 100_000)
			for i := range 30 {
				op := ws.OpContinuation
				if i == 0 {
					op = ws.OpText
				}
				send(conn, header(int64(len(chunk)), i == 29, false, op), chunk)
			}
		}},
		{"a deflate bomb: 8 MiB of zeros in " + kib(int64(len(compressed))), func(conn net.Conn) {
			send(conn, header(int64(len(compressed)), true, true, ws.OpText), compressed)
		}},
	}
	for _, c := range cases {
		d := &ws.Dialer{Extensions: []httphead.Option{wsflate.DefaultParameters.Option()}}
		conn, err := e.tryRawWS("127.0.1.2", d)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		go c.run(conn)
		code, _ := readUntilClose(conn)
		conn.Close()
		if code != ws.StatusMessageTooBig {
			t.Errorf("%s: close status %d, want 1009", c.name, code)
		}
	}
	grown := int64(heapAfterGC()) - int64(before)
	figure(t, "oversized WebSocket messages: %d cases closed with 1009; live heap change %s", len(cases), kib(grown))
	ctl.report(t, "oversized WebSocket frames")
}

// TestPathologicalPackets: deeply nested JSON, attachment counts past
// the limit and placeholders pointing nowhere. Malformed packets close
// the offender's connection (reason "parse error"); well-formed but
// hostile arguments reach the handler, whose decoding fails with an
// error instead of a panic.
func TestPathologicalPackets(t *testing.T) {
	decodeErrs := make(chan error, 10)
	e := newEnv(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			s.On("bin", func(_ *socketio.Socket, args socketio.Args, ack socketio.Ack) {
				var b []byte
				err := args.Decode(0, &b)
				decodeErrs <- err
				if ack != nil {
					_ = ack(err == nil)
				}
			})
			s.On("deep", func(_ *socketio.Socket, args socketio.Args, ack socketio.Ack) {
				var v any
				err := args.Decode(0, &v)
				if ack != nil {
					_ = ack(err == nil)
				}
			})
		})
	})
	ctl := e.startControl(t)

	// connect opens a raw Socket.IO connection to "/".
	connect := func() net.Conn {
		conn := e.rawWS(t, "127.0.1.3")
		if err := writeText(conn, "40"); err != nil {
			t.Fatalf("CONNECT: %v", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		for {
			f, err := ws.ReadFrame(conn)
			if err != nil {
				t.Fatalf("waiting for the CONNECT reply: %v", err)
			}
			if f.Header.OpCode == ws.OpText && strings.HasPrefix(string(f.Payload), "40") {
				return conn
			}
		}
	}
	// reply waits for the next Socket.IO packet from the server.
	reply := func(conn net.Conn) string {
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		for {
			f, err := ws.ReadFrame(conn)
			if err != nil {
				return "error: " + err.Error()
			}
			if f.Header.OpCode == ws.OpClose {
				return "closed"
			}
			if f.Header.OpCode == ws.OpText && len(f.Payload) > 0 && f.Payload[0] == '4' {
				return string(f.Payload[1:])
			}
		}
	}

	deep := func(n int) string {
		return `2["deep",` + strings.Repeat("[", n) + strings.Repeat("]", n) + `]`
	}
	refused := []struct{ name, packet string }{
		{"JSON nested 100,000 deep (200 KB)", deep(100_000)},
		{"attachment count 9999999", `59999999-["bin",{"_placeholder":true,"num":0}]`},
		{"attachment count 11 (limit 10)", `511-["bin",{"_placeholder":true,"num":0}]`},
		{"attachment count 0", `50-["bin"]`},
		{"binary event without its attachments, then text", ""},
	}
	for _, c := range refused {
		conn := connect()
		if c.packet == "" {
			_ = writeText(conn, `451-["bin",{"_placeholder":true,"num":0}]`)
			_ = writeText(conn, `42["echo",1]`)
		} else {
			_ = writeText(conn, "4"+c.packet)
		}
		code, _ := readUntilClose(conn)
		conn.Close()
		if code == 0 {
			t.Errorf("%s: connection ended without a close frame", c.name)
		}
	}

	// Within the limits: reaches the handler, which gets an error, not a panic.
	conn := connect()
	defer conn.Close()
	_ = writeText(conn, "4"+strings.Replace(deep(5_000), `2["deep"`, `21["deep"`, 1))
	if got := reply(conn); got != "31[true]" {
		t.Errorf("JSON nested 5,000 deep: reply %q, want 31[true]", got)
	}
	_ = writeText(conn, `451-2["bin",{"_placeholder":true,"num":4294967296}]`)
	_ = ws.WriteFrame(conn, ws.MaskFrame(ws.NewBinaryFrame([]byte{1, 2, 3})))
	if got := reply(conn); got != "32[false]" {
		t.Errorf("placeholder num 2^32 of 1 attachment: reply %q, want 32[false]", got)
	}
	select {
	case err := <-decodeErrs:
		if err == nil {
			t.Errorf("placeholder num 2^32: decoded without error")
		}
	default:
		t.Errorf("placeholder num 2^32: the handler did not run")
	}
	figure(t, "pathological packets: %d malformed packets closed their connection; nesting 5,000 deep and a placeholder num of 2^32 answered without panic", len(refused))
	ctl.report(t, "pathological packets")
}
