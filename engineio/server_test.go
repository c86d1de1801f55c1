package engineio_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/heraldio/herald/engineio"
)

func TestHandshakePolling(t *testing.T) {
	ts := newServer(t, nil, nil)
	res := ts.do(t, "GET", "EIO=4&transport=polling", "")
	if res.status != 200 || !strings.HasPrefix(res.body, "0{") {
		t.Fatalf("handshake = %d %q", res.status, res.body)
	}
	var keys map[string]any
	if err := json.Unmarshal([]byte(res.body[1:]), &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 {
		t.Fatalf("open packet keys = %v, want exactly sid, upgrades, pingInterval, pingTimeout, maxPayload", keys)
	}
	var o openPacket
	_ = json.Unmarshal([]byte(res.body[1:]), &o)
	if len(o.SID) != 20 || o.PingInterval != 25000 || o.PingTimeout != 20000 || o.MaxPayload != 1_000_000 ||
		len(o.Upgrades) != 1 || o.Upgrades[0] != "websocket" {
		t.Fatalf("open packet = %+v", o)
	}
	s := ts.rec.nextOpen(t)
	if s.ID() != o.SID || s.Protocol() != 4 || s.Transport() != "polling" {
		t.Fatalf("session = %s %d %s", s.ID(), s.Protocol(), s.Transport())
	}
	hs := s.Handshake()
	if hs.Query.Get("EIO") != "4" || hs.Header.Get("User-Agent") == "" || hs.RemoteAddr != "127.0.0.1" ||
		hs.URL != "/engine.io/?EIO=4&transport=polling" || hs.Time.IsZero() {
		t.Fatalf("handshake = %+v", hs)
	}
	// Protocol 3: the same packet, length-prefixed.
	res = ts.do(t, "GET", "EIO=3&transport=polling", "")
	n, body, _ := strings.Cut(res.body, ":")
	if res.status != 200 || n != strconv.Itoa(len(body)) || body[0] != '0' {
		t.Fatalf("v3 handshake = %d %q", res.status, res.body)
	}
}

func TestRequestErrors(t *testing.T) {
	ts := newServer(t, nil, &engineio.Options{
		AllowRequest: func(r *http.Request) error {
			if r.Header.Get("X-Deny") != "" {
				return errors.New("go away")
			}
			return nil
		},
	})
	sid := ts.handshake(t, 4, "")
	cases := []struct {
		name, method, query string
		hdr                 []string
		status, code        int
		message             string
	}{
		{"no EIO", "GET", "transport=polling", nil, 400, 5, "Unsupported protocol version"},
		{"EIO abc", "GET", "EIO=abc&transport=polling", nil, 400, 5, "Unsupported protocol version"},
		{"EIO 5", "GET", "EIO=5&transport=polling", nil, 400, 5, "Unsupported protocol version"},
		{"no transport", "GET", "EIO=4", nil, 400, 0, "Transport unknown"},
		{"bad transport", "GET", "EIO=4&transport=abc", nil, 400, 0, "Transport unknown"},
		{"POST handshake", "POST", "EIO=4&transport=polling", nil, 400, 2, "Bad handshake method"},
		{"PUT handshake", "PUT", "EIO=4&transport=polling", nil, 400, 2, "Bad handshake method"},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=nope", nil, 400, 1, "Session ID unknown"},
		{"PUT on session", "PUT", "EIO=4&transport=polling&sid=" + sid, nil, 400, 3, "Bad request"},
		{"websocket without upgrade", "GET", "EIO=4&transport=websocket", nil, 400, 3, "Bad request"},
		{"refused", "GET", "EIO=4&transport=polling", []string{"X-Deny", "1"}, 403, 4, "go away"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := ts.do(t, c.method, c.query, "", c.hdr...)
			var body struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal([]byte(res.body), &body); err != nil {
				t.Fatalf("body %q: %v", res.body, err)
			}
			if res.status != c.status || body.Code != c.code || body.Message != c.message {
				t.Fatalf("got %d %+v, want %d code %d %q", res.status, body, c.status, c.code, c.message)
			}
		})
	}
	// The refused requests disturbed nothing: the session still works.
	if res := ts.post(t, 4, sid, "4still here"); res.status != 200 {
		t.Fatalf("POST after errors = %d", res.status)
	}
	if res := ts.poll(t, 4, sid); res.body != "4still here" {
		t.Fatalf("GET after errors = %q", res.body)
	}
}

func TestPollingEcho(t *testing.T) {
	cases := []struct {
		name     string
		eio      int
		extra    string
		post     string
		want     string
		wantType string
	}{
		{"v4 one", 4, "", "4hello", "4hello", "text/plain; charset=UTF-8"},
		{"v4 several", 4, "", "4test1\x1e4test2\x1e4test3", "4test1\x1e4test2\x1e4test3", "text/plain; charset=UTF-8"},
		{"v4 binary", 4, "", "4hello\x1ebAQIDBA==", "4hello\x1ebAQIDBA==", "text/plain; charset=UTF-8"},
		{"v4 utf-8", 4, "", "4€😀", "4€😀", "text/plain; charset=UTF-8"},
		{"v3 one", 3, "&b64=1", "6:4hello", "6:4hello", "text/plain; charset=UTF-8"},
		{"v3 several", 3, "&b64=1", "6:4test16:4test26:4test3", "6:4test16:4test26:4test3", "text/plain; charset=UTF-8"},
		{"v3 base64", 3, "&b64=1", "6:4hello10:b4AQIDBA==", "6:4hello10:b4AQIDBA==", "text/plain; charset=UTF-8"},
		{"v3 emoji", 3, "&b64=1", "3:4😀2:4€", "3:4😀2:4€", "text/plain; charset=UTF-8"},
		{"v3 xhr2", 3, "", "6:4hello10:b4AQIDBA==", "\x00\x06\xff4hello\x01\x05\xff\x04\x01\x02\x03\x04", "application/octet-stream"},
		{"v3 xhr2 text only", 3, "", "6:4hello", "6:4hello", "text/plain; charset=UTF-8"},
	}
	ts := newServer(t, nil, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sid := ts.handshake(t, c.eio, c.extra)
			if res := ts.post(t, c.eio, sid, c.post); res.status != 200 || res.body != "ok" {
				t.Fatalf("POST = %d %q", res.status, res.body)
			}
			res := ts.poll(t, c.eio, sid)
			if res.status != 200 || res.body != c.want || res.header.Get("Content-Type") != c.wantType {
				t.Fatalf("GET = %d %q (%s), want %q (%s)", res.status, res.body, res.header.Get("Content-Type"), c.want, c.wantType)
			}
		})
	}
}

func TestPollingBinaryPostV3(t *testing.T) {
	ts := newServer(t, nil, nil)
	sid := ts.handshake(t, 3, "")
	body := "\x00\x06\xff4hello\x01\x05\xff\x04\x01\x02\x03\x04"
	res := ts.do(t, "POST", pollQuery(3, sid), body, "Content-Type", "application/octet-stream")
	if res.status != 200 {
		t.Fatalf("POST = %d %q", res.status, res.body)
	}
	if res := ts.poll(t, 3, sid); res.body != body {
		t.Fatalf("GET = %q, want %q", res.body, body)
	}
	// Protocol 4 has no binary payloads: Node answers 400 and so do we.
	sid4 := ts.handshake(t, 4, "")
	if res := ts.do(t, "POST", pollQuery(4, sid4), "4x", "Content-Type", "application/octet-stream"); res.status != 400 {
		t.Fatalf("v4 binary POST = %d", res.status)
	}
}

func TestPollingInvalidPacketClosesSession(t *testing.T) {
	ts := newServer(t, nil, nil)
	for _, body := range []string{"abc", "9", "b!!", "4a\x1e"} {
		sid := ts.handshake(t, 4, "")
		ts.rec.nextOpen(t)
		if res := ts.post(t, 4, sid, body); res.status != 400 {
			t.Fatalf("POST %q = %d", body, res.status)
		}
		if e := ts.rec.nextClose(t); e.reason != engineio.ReasonParseError || !errors.Is(e.err, engineio.ErrInvalidPacket) {
			t.Fatalf("close = %s %v", e.reason, e.err)
		}
		if res := ts.poll(t, 4, sid); res.status != 400 {
			t.Fatalf("GET after invalid POST = %d", res.status)
		}
	}
}

func TestDuplicateGet(t *testing.T) {
	ts := newServer(t, nil, nil)
	sid := ts.handshake(t, 4, "")
	s := ts.rec.nextOpen(t)
	first := make(chan response, 1)
	go func() { first <- ts.poll(t, 4, sid) }()
	// Wait until the first GET is held by the server before the second.
	waitFor(t, func() bool { return engineio.PollPending(s) })
	if res := ts.poll(t, 4, sid); res.status != 400 {
		t.Fatalf("second GET = %d", res.status)
	}
	if res := <-first; res.status != 200 || res.body != "1" {
		t.Fatalf("first GET = %d %q, want the close packet", res.status, res.body)
	}
	if e := ts.rec.nextClose(t); e.reason != engineio.ReasonTransportError {
		t.Fatalf("reason = %s", e.reason)
	}
	if res := ts.poll(t, 4, sid); res.status != 400 {
		t.Fatalf("later GET = %d", res.status)
	}
}

func TestPostOverLimit(t *testing.T) {
	ts := newServer(t, nil, &engineio.Options{MaxHTTPBufferSize: 100})
	sid := ts.handshake(t, 4, "")
	if res := ts.post(t, 4, sid, "4"+strings.Repeat("x", 100)); res.status != 413 {
		t.Fatalf("POST over limit = %d", res.status)
	}
	// Chunked (no Content-Length) is bounded while reading.
	req, _ := http.NewRequest("POST", ts.url(pollQuery(4, sid)), io.MultiReader(strings.NewReader("4"), strings.NewReader(strings.Repeat("y", 200))))
	req.ContentLength = -1
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Fatalf("chunked POST over limit = %d", res.StatusCode)
	}
	// The session survives, as in Node.
	if res := ts.post(t, 4, sid, "4ok"); res.status != 200 {
		t.Fatalf("POST after 413 = %d", res.status)
	}
	if res := ts.poll(t, 4, sid); res.body != "4ok" {
		t.Fatalf("GET = %q", res.body)
	}
}

func TestClientCloseOverPolling(t *testing.T) {
	ts := newServer(t, nil, nil)
	sid := ts.handshake(t, 4, "")
	s := ts.rec.nextOpen(t)
	held := make(chan response, 1)
	go func() { held <- ts.poll(t, 4, sid) }()
	waitFor(t, func() bool { return engineio.PollPending(s) })
	if res := ts.post(t, 4, sid, "1"); res.status != 200 {
		t.Fatalf("POST close = %d", res.status)
	}
	if res := <-held; res.body != "6" {
		t.Fatalf("held GET = %q, want noop", res.body)
	}
	if e := ts.rec.nextClose(t); e.reason != engineio.ReasonTransportClose {
		t.Fatalf("reason = %s", e.reason)
	}
	if res := ts.poll(t, 4, sid); res.status != 400 {
		t.Fatalf("GET after close = %d", res.status)
	}
}

func TestWebSocketEcho(t *testing.T) {
	for _, tc := range []struct {
		eio     int
		noEpoll bool
	}{{3, false}, {4, false}, {3, true}, {4, true}} {
		eio := tc.eio
		name := map[int]string{3: "v3", 4: "v4"}[eio]
		if tc.noEpoll {
			name += " reader goroutine"
		}
		t.Run(name, func(t *testing.T) {
			ts := newServer(t, nil, &engineio.Options{DisableEpoll: tc.noEpoll})
			c := ts.dialWS(t, "transport=websocket&EIO="+map[int]string{3: "3", 4: "4"}[eio])
			o := mustOpen(t, c)
			if len(o.Upgrades) != 0 || o.SID == "" {
				t.Fatalf("open = %+v", o)
			}
			c.send(t, "4hello €😀")
			if got := c.readText(t); got != "4hello €😀" {
				t.Fatalf("echo = %q", got)
			}
			frame := []byte{1, 2, 3, 4}
			if eio == 3 {
				frame = []byte{4, 1, 2, 3, 4}
			}
			c.write(t, ws.OpBinary, frame)
			if f := c.read(t); f.op != ws.OpBinary || !bytes.Equal(f.payload, frame) {
				t.Fatalf("binary echo = %v %v", f.op, f.payload)
			}
			// forceBase64 clients send binary as base64 text frames.
			b64, want := "bAQIDBA==", []byte{1, 2, 3, 4}
			if eio == 3 {
				b64 = "b4AQIDBA=="
			}
			c.send(t, b64)
			if f := c.read(t); f.op != ws.OpBinary || !bytes.Equal(f.payload, frame) || !bytes.Equal(want, frame[len(frame)-4:]) {
				t.Fatalf("base64 frame echo = %v %v", f.op, f.payload)
			}
			if eio == 3 {
				c.send(t, "2")
				if got := c.readText(t); got != "3" {
					t.Fatalf("pong = %q", got)
				}
			}
			s := ts.rec.nextOpen(t)
			if s.Transport() != "websocket" || s.Protocol() != eio {
				t.Fatalf("session %s %d", s.Transport(), s.Protocol())
			}
			c.send(t, "1")
			if e := ts.rec.nextClose(t); e.reason != engineio.ReasonTransportClose {
				t.Fatalf("reason = %s", e.reason)
			}
		})
	}
}

func TestWebSocketInvalidInput(t *testing.T) {
	cases := []struct {
		name   string
		op     ws.OpCode
		data   string
		status int
		reason engineio.Reason
	}{
		{"bad packet", ws.OpText, "abc", 1002, engineio.ReasonParseError},
		{"too large", ws.OpText, "4" + strings.Repeat("x", 2000), 1009, engineio.ReasonTransportError},
		{"bad utf-8", ws.OpText, "4\xff", 1002, engineio.ReasonTransportError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newServer(t, nil, &engineio.Options{MaxHTTPBufferSize: 1000})
			cl := ts.dialWS(t, "EIO=4&transport=websocket")
			mustOpen(t, cl)
			cl.write(t, c.op, []byte(c.data))
			if got := cl.readClose(t); got != c.status {
				t.Fatalf("close status %d, want %d", got, c.status)
			}
			if e := ts.rec.nextClose(t); e.reason != c.reason {
				t.Fatalf("reason %s, want %s", e.reason, c.reason)
			}
		})
	}
	t.Run("unmasked frame", func(t *testing.T) {
		ts := newServer(t, nil, nil)
		cl := ts.dialWS(t, "EIO=4&transport=websocket")
		mustOpen(t, cl)
		_ = ws.WriteFrame(cl.conn, ws.NewTextFrame([]byte("4hi")))
		if got := cl.readClose(t); got != 1002 {
			t.Fatalf("close status %d", got)
		}
	})
}

func TestWebSocketFragmentsAndControl(t *testing.T) {
	ts := newServer(t, nil, nil)
	c := ts.dialWS(t, "EIO=4&transport=websocket")
	mustOpen(t, c)
	// A message in three fragments with a ping in the middle.
	for i, part := range []struct {
		op  ws.OpCode
		fin bool
		p   string
	}{{ws.OpText, false, "4he"}, {ws.OpContinuation, false, "ll"}, {ws.OpContinuation, true, "o"}} {
		f := ws.MaskFrameInPlace(ws.NewFrame(part.op, part.fin, []byte(part.p)))
		if err := ws.WriteFrame(c.conn, f); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			c.write(t, ws.OpPing, []byte("hb"))
		}
	}
	if f := c.read(t); f.op != ws.OpPong || string(f.payload) != "hb" {
		t.Fatalf("pong frame = %v %q", f.op, f.payload)
	}
	if got := c.readText(t); got != "4hello" {
		t.Fatalf("reassembled = %q", got)
	}
	// A WebSocket close frame is answered and ends the session.
	c.write(t, ws.OpClose, []byte{0x03, 0xe8})
	if got := c.readClose(t); got != 1000 {
		t.Fatalf("close status = %d", got)
	}
	if e := ts.rec.nextClose(t); e.reason != engineio.ReasonTransportClose {
		t.Fatalf("reason = %s", e.reason)
	}
}

func TestUpgrade(t *testing.T) {
	for _, eio := range []int{3, 4} {
		t.Run(map[int]string{3: "v3", 4: "v4"}[eio], func(t *testing.T) {
			rec := newRecorder()
			rec.quiet = true
			ts := newServer(t, rec, nil)
			sid := ts.handshake(t, eio, "&b64=1")
			s := rec.nextOpen(t)
			ver := map[int]string{3: "3", 4: "4"}[eio]
			held := make(chan response, 1)
			go func() { held <- ts.poll(t, eio, sid) }()
			waitFor(t, func() bool { return engineio.PollPending(s) })

			c := ts.dialWS(t, "EIO="+ver+"&transport=websocket&sid="+sid)
			c.send(t, "2probe")
			if got := c.readText(t); got != "3probe" {
				t.Fatalf("probe answer %q", got)
			}
			want := "6"
			if eio == 3 {
				want = "1:6"
			}
			if res := <-held; res.body != want {
				t.Fatalf("held GET = %q, want noop", res.body)
			}
			// Messages sent during the upgrade wait for the WebSocket.
			for i := range 3 {
				if err := s.SendText([]byte{'a' + byte(i)}); err != nil {
					t.Fatal(err)
				}
			}
			if res := ts.poll(t, eio, sid); res.body != want {
				t.Fatalf("GET during upgrade = %q, want noop", res.body)
			}
			c.send(t, "5")
			for i := range 3 {
				if got := c.readText(t); got != "4"+string(rune('a'+i)) {
					t.Fatalf("message %d after upgrade = %q", i, got)
				}
			}
			if s.Transport() != "websocket" {
				t.Fatalf("transport = %s", s.Transport())
			}
			// Polling is over for this session, and a second WebSocket is refused.
			if res := ts.poll(t, eio, sid); res.status != 400 {
				t.Fatalf("GET after upgrade = %d", res.status)
			}
			c2 := ts.dialWS(t, "EIO="+ver+"&transport=websocket&sid="+sid)
			c2.readClose(t)
			c.send(t, "4still")
			if m := rec.nextMsg(t); m.data != "still" {
				t.Fatalf("message after upgrade = %q", m.data)
			}
		})
	}
}

func TestUpgradeTimeout(t *testing.T) {
	ts := newServer(t, nil, &engineio.Options{UpgradeTimeout: 50 * time.Millisecond})
	sid := ts.handshake(t, 4, "")
	c := ts.dialWS(t, "EIO=4&transport=websocket&sid="+sid)
	c.readClose(t) // the probe never completes and is closed
	// The session goes on over polling.
	ts.post(t, 4, sid, "4after")
	if res := ts.poll(t, 4, sid); res.body != "4after" {
		t.Fatalf("GET = %q", res.body)
	}
}

func TestHeartbeatV4(t *testing.T) {
	ts := newServer(t, nil, &engineio.Options{PingInterval: 30 * time.Millisecond, PingTimeout: 40 * time.Millisecond})
	sid := ts.handshake(t, 4, "")
	for range 3 {
		if res := ts.poll(t, 4, sid); res.body != "2" {
			t.Fatalf("GET = %q, want ping", res.body)
		}
		ts.post(t, 4, sid, "3")
	}
	c := ts.dialWS(t, "EIO=4&transport=websocket")
	mustOpen(t, c)
	if got := c.readText(t); got != "2" {
		t.Fatalf("ws frame = %q, want ping", got)
	}
	// No pong: both sessions time out.
	reasons := map[engineio.Reason]int{}
	ts.rec.nextOpen(t)
	ts.rec.nextOpen(t)
	for range 2 {
		reasons[ts.rec.nextClose(t).reason]++
	}
	if reasons[engineio.ReasonPingTimeout] != 2 {
		t.Fatalf("reasons = %v", reasons)
	}
	c.readClose(t)
}

func TestHeartbeatV3(t *testing.T) {
	ts := newServer(t, nil, &engineio.Options{PingInterval: 30 * time.Millisecond, PingTimeout: 30 * time.Millisecond})
	sid := ts.handshake(t, 3, "")
	ts.rec.nextOpen(t)
	for range 3 {
		ts.post(t, 3, sid, "1:2")
		if res := ts.poll(t, 3, sid); res.body != "1:3" {
			t.Fatalf("GET = %q, want pong", res.body)
		}
	}
	if e := ts.rec.nextClose(t); e.reason != engineio.ReasonPingTimeout {
		t.Fatalf("reason = %s", e.reason)
	}
	if res := ts.post(t, 3, sid, "1:2"); res.status != 400 {
		t.Fatalf("POST after timeout = %d", res.status)
	}
}

func TestHeartbeatDirection(t *testing.T) {
	ts := newServer(t, nil, nil)
	sid := ts.handshake(t, 4, "")
	ts.rec.nextOpen(t)
	ts.post(t, 4, sid, "2")
	if e := ts.rec.nextClose(t); e.reason != engineio.ReasonTransportError {
		t.Fatalf("reason = %s", e.reason)
	}
}

func TestSlowConsumer(t *testing.T) {
	ts := newServer(t, nil, &engineio.Options{MaxQueuedBytes: 1000})
	sid := ts.handshake(t, 4, "")
	s := ts.rec.nextOpen(t)
	big := engineio.NewTextMessage(bytes.Repeat([]byte("x"), 600))
	if err := s.Send(big); err != nil {
		t.Fatal(err) // an empty queue takes any message
	}
	if err := s.Send(big); !errors.Is(err, engineio.ErrSlowConsumer) {
		t.Fatalf("second send = %v, want ErrSlowConsumer", err)
	}
	if e := ts.rec.nextClose(t); e.reason != engineio.ReasonTransportError || !errors.Is(e.err, engineio.ErrSlowConsumer) {
		t.Fatalf("close = %s %v", e.reason, e.err)
	}
	if err := s.Send(big); !errors.Is(err, engineio.ErrClosed) {
		t.Fatalf("send after close = %v", err)
	}
	if res := ts.poll(t, 4, sid); res.status != 400 {
		t.Fatalf("GET = %d", res.status)
	}
}

func TestTrySend(t *testing.T) {
	ts := newServer(t, nil, nil)
	sid := ts.handshake(t, 4, "")
	s := ts.rec.nextOpen(t)
	if s.TrySend(engineio.NewTextMessage([]byte("lost"))) {
		t.Fatal("volatile message queued with no GET waiting")
	}
	held := make(chan response, 1)
	go func() { held <- ts.poll(t, 4, sid) }()
	waitFor(t, func() bool { return engineio.PollPending(s) })
	if !s.TrySend(engineio.NewTextMessage([]byte("kept"))) {
		t.Fatal("volatile message dropped with a GET waiting")
	}
	if res := <-held; res.body != "4kept" {
		t.Fatalf("GET = %q", res.body)
	}
}

func TestCORS(t *testing.T) {
	t.Run("allow-list with credentials", func(t *testing.T) {
		ts := newServer(t, nil, &engineio.Options{CORS: &engineio.CORSOptions{
			Origins: []string{"https://ok.example"}, Credentials: true, MaxAge: time.Minute,
		}})
		res := ts.do(t, "OPTIONS", "EIO=4&transport=polling", "", "Origin", "https://ok.example",
			"Access-Control-Request-Headers", "X-Token")
		h := res.header
		if res.status != 204 || h.Get("Access-Control-Allow-Origin") != "https://ok.example" ||
			h.Get("Access-Control-Allow-Credentials") != "true" || h.Get("Access-Control-Allow-Headers") != "X-Token" ||
			h.Get("Access-Control-Max-Age") != "60" {
			t.Fatalf("preflight = %d %v", res.status, h)
		}
		res = ts.do(t, "GET", "EIO=4&transport=polling", "", "Origin", "https://evil.example")
		if got := res.header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("foreign origin allowed: %q", got)
		}
	})
	t.Run("any origin with credentials echoes", func(t *testing.T) {
		ts := newServer(t, nil, &engineio.Options{CORS: &engineio.CORSOptions{Origins: []string{"*"}, Credentials: true}})
		res := ts.do(t, "GET", "EIO=4&transport=polling", "", "Origin", "https://a.example")
		if got := res.header.Get("Access-Control-Allow-Origin"); got != "https://a.example" {
			t.Fatalf("allow-origin = %q, never * with credentials", got)
		}
	})
	t.Run("function", func(t *testing.T) {
		ts := newServer(t, nil, &engineio.Options{CORS: &engineio.CORSOptions{
			AllowOrigin: func(o string) bool { return strings.HasSuffix(o, ".good.example") },
		}})
		res := ts.do(t, "GET", "EIO=4&transport=polling", "", "Origin", "https://x.good.example")
		if got := res.header.Get("Access-Control-Allow-Origin"); got != "https://x.good.example" {
			t.Fatalf("allow-origin = %q", got)
		}
	})
}

func TestHTTPCompression(t *testing.T) {
	ts := newServer(t, nil, nil)
	sid := ts.handshake(t, 4, "")
	payload := "4" + strings.Repeat("compress me ", 200)
	ts.post(t, 4, sid, payload)
	req, _ := http.NewRequest("GET", ts.url(pollQuery(4, sid)), nil)
	req.Header.Set("Accept-Encoding", "gzip")
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding = %q", res.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(zr)
	if string(b) != payload {
		t.Fatalf("body = %d bytes, want %d", len(b), len(payload))
	}
}

func TestCookie(t *testing.T) {
	ts := newServer(t, nil, &engineio.Options{Cookie: &http.Cookie{Name: "io", Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}})
	res := ts.do(t, "GET", "EIO=4&transport=polling", "")
	var o openPacket
	_ = json.Unmarshal([]byte(res.body[1:]), &o)
	if got := res.header.Get("Set-Cookie"); got != "io="+o.SID+"; Path=/; HttpOnly; SameSite=Lax" {
		t.Fatalf("Set-Cookie = %q", got)
	}
}

func TestPerMessageDeflate(t *testing.T) {
	ts := newServer(t, nil, &engineio.Options{PerMessageDeflate: &engineio.CompressionOptions{Threshold: 10}})
	c := ts.dialWS(t, "EIO=4&transport=websocket", wsflate.DefaultParameters.Option())
	mustOpen(t, c)
	msg := "4" + strings.Repeat("squeeze ", 50)
	c.send(t, msg) // uncompressed in, compressed out
	f := c.read(t)
	if !f.compressed {
		t.Fatalf("reply not compressed (%d bytes)", len(f.payload))
	}
	if got := inflate(t, f.payload); got != msg {
		t.Fatalf("inflated reply = %q", got)
	}
	// A compressed message from the client is inflated.
	c.mu.Lock()
	fr := ws.NewFrame(ws.OpText, true, deflate(t, []byte("4zipped")))
	fr.Header.Rsv = ws.Rsv(true, false, false)
	_ = ws.WriteFrame(c.conn, ws.MaskFrameInPlace(fr))
	c.mu.Unlock()
	if m := ts.rec.nextMsg(t); m.data != msg[1:] {
		t.Fatalf("first message %q", m.data)
	}
	if m := ts.rec.nextMsg(t); m.data != "zipped" {
		t.Fatalf("compressed message = %q", m.data)
	}
	if f := c.read(t); string(f.payload) != "4zipped" { // the echo, under the threshold
		t.Fatalf("echo = %q", f.payload)
	}
	// A message marked WithoutCompression goes as it is.
	s := ts.rec.nextOpen(t)
	_ = s.Send(engineio.NewTextMessage([]byte(msg[1:])).WithoutCompression())
	if f := c.read(t); f.compressed || string(f.payload) != msg {
		t.Fatalf("uncompressed send: compressed=%v %q", f.compressed, f.payload)
	}
}

func TestServerClose(t *testing.T) {
	rec := newRecorder()
	eio := engineio.NewServer(rec, nil)
	ts := &testServer{Server: newHTTPTest(t, eio), eio: eio, rec: rec}
	sid := ts.handshake(t, 4, "")
	ps := rec.nextOpen(t)
	held := make(chan response, 1)
	go func() { held <- ts.poll(t, 4, sid) }()
	waitFor(t, func() bool { return engineio.PollPending(ps) })
	c := ts.dialWS(t, "EIO=4&transport=websocket")
	mustOpen(t, c)
	ws := rec.nextOpen(t)
	_ = ws.SendText([]byte("last words"))

	ctx, cancel := contextWithTimeout()
	defer cancel()
	if err := eio.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if res := <-held; res.body != "1" {
		t.Fatalf("held GET = %q, want close packet", res.body)
	}
	if got := c.readText(t); got != "4last words" {
		t.Fatalf("queued message = %q", got)
	}
	if got := c.readClose(t); got != 1000 {
		t.Fatalf("close status = %d", got)
	}
	for range 2 {
		if e := rec.nextClose(t); e.reason != engineio.ReasonServerShutdown {
			t.Fatalf("reason = %s", e.reason)
		}
	}
	if res := ts.do(t, "GET", "EIO=4&transport=polling", ""); res.status != 503 {
		t.Fatalf("handshake after Close = %d", res.status)
	}
}

func TestSessionCloseDrainsPolling(t *testing.T) {
	ts := newServer(t, nil, nil)
	sid := ts.handshake(t, 4, "")
	s := ts.rec.nextOpen(t)
	_ = s.SendText([]byte("bye"))
	s.Close()
	if e := ts.rec.nextClose(t); e.reason != engineio.ReasonForcedClose {
		t.Fatalf("reason = %s", e.reason)
	}
	// The queue first; the close packet in a response of its own, as Node
	// sends it, so that a client handles the messages before the close.
	if res := ts.poll(t, 4, sid); res.body != "4bye" {
		t.Fatalf("GET = %q, want the queue", res.body)
	}
	if res := ts.poll(t, 4, sid); res.body != "1" {
		t.Fatalf("second GET = %q, want the close packet", res.body)
	}
	if res := ts.poll(t, 4, sid); res.status != 400 {
		t.Fatalf("GET after drain = %d", res.status)
	}
}

func TestManySessionsNoLeak(t *testing.T) {
	ts := newServer(t, nil, &engineio.Options{PingInterval: time.Hour})
	for range 50 {
		c := ts.dialWS(t, "EIO=4&transport=websocket")
		mustOpen(t, c)
		c.send(t, "4x")
		c.readText(t)
		c.send(t, "1")
		ts.rec.nextClose(t)
		c.conn.Close()
	}
	for range 50 {
		sid := ts.handshake(t, 4, "")
		ts.post(t, 4, sid, "1")
		ts.rec.nextClose(t)
	}
	waitFor(t, func() bool { return ts.eio.Count() == 0 })
}

func TestAbortedPollClosesSession(t *testing.T) {
	ts := newServer(t, nil, nil)
	sid := ts.handshake(t, 4, "")
	s := ts.rec.nextOpen(t)
	ctx, cancel := contextWithTimeout()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.url(pollQuery(4, sid)), nil)
	errc := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, func() bool { return engineio.PollPending(s) })
	cancel() // the client goes away while its GET is held
	<-errc
	if e := ts.rec.nextClose(t); e.reason != engineio.ReasonTransportError {
		t.Fatalf("reason %s, want transport error", e.reason)
	}
	if res := ts.poll(t, 4, sid); res.status != 400 {
		t.Fatalf("GET after abort = %d", res.status)
	}
}
