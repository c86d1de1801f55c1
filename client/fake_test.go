package client_test

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/engineio"
)

// fakeWebSocketServer accepts one WebSocket connection and writes the 101
// response and then frames, all in one write, so that they reach the client
// in one read. It then discards what the client sends, never pinging.
func fakeWebSocketServer(t testing.TB, frames ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		select {
		case <-done:
		case <-time.After(wait):
			t.Error("fake server still running")
		}
	})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		req, err := http.ReadRequest(bufio.NewReader(conn))
		if err != nil {
			t.Errorf("fake server: %v", err)
			return
		}
		sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		out := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
		for _, f := range frames {
			out += string([]byte{0x81, byte(len(f))}) + f // unmasked text frames under 126 bytes
		}
		if _, err := io.WriteString(conn, out); err != nil {
			t.Errorf("fake server: %v", err)
			return
		}
		_, _ = io.Copy(io.Discard, conn)
	}()
	return "http://" + ln.Addr().String() + "/engine.io/"
}

// TestOpenInHandshakeRead reads an open packet and a message that arrive in
// the same read as the 101 response, and closes with "ping timeout" when
// the server then never pings.
func TestOpenInHandshakeRead(t *testing.T) {
	url := fakeWebSocketServer(t,
		`0{"sid":"abc","upgrades":[],"pingInterval":20,"pingTimeout":30,"maxPayload":100}`,
		"4first")
	start := time.Now()
	c, ev := dial(t, url, client.EngineOptions{Transports: []string{"websocket"}})
	want := client.Handshake{SID: "abc", Upgrades: []string{}, PingInterval: 20 * time.Millisecond,
		PingTimeout: 30 * time.Millisecond, MaxPayload: 100}
	if hs := c.Handshake(); hs.SID != want.SID || hs.PingInterval != want.PingInterval ||
		hs.PingTimeout != want.PingTimeout || hs.MaxPayload != want.MaxPayload {
		t.Errorf("handshake %+v, want %+v", hs, want)
	}
	expect(t, ev, message{"first", false})
	e := ev.waitClose(t)
	if e.reason != engineio.ReasonPingTimeout {
		t.Errorf("OnClose(%q, %v), want ping timeout", e.reason, e.err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("ping timeout after %v, before pingInterval+pingTimeout", d)
	}
	waitDone(t, c)
	if r := client.CloseReason(c.Err()); r != engineio.ReasonPingTimeout {
		t.Errorf("Err reason %q", r)
	}
}

// TestPingTimeoutPolling closes a polling connection whose server goes
// silent: protocol 4 gets no ping, protocol 3 no pong.
func TestPingTimeoutPolling(t *testing.T) {
	for _, protocol := range []int{4, 3} {
		t.Run(fmt.Sprintf("v%d", protocol), func(t *testing.T) {
			open := `0{"sid":"abc","upgrades":[],"pingInterval":20,"pingTimeout":30,"maxPayload":1000}`
			if protocol == 3 {
				open = fmt.Sprintf("%d:%s", len(open), open)
			}
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == http.MethodPost:
					_, _ = io.Copy(io.Discard, r.Body)
					_, _ = io.WriteString(w, "ok")
				case r.URL.Query().Get("sid") == "":
					_, _ = io.WriteString(w, open)
				default:
					<-r.Context().Done() // a GET held forever
				}
			}))
			t.Cleanup(ts.Close)
			start := time.Now()
			c, ev := dial(t, ts.URL, client.EngineOptions{Protocol: protocol})
			if e := ev.waitClose(t); e.reason != engineio.ReasonPingTimeout {
				t.Errorf("OnClose(%q, %v), want ping timeout", e.reason, e.err)
			}
			if d := time.Since(start); d < 50*time.Millisecond {
				t.Errorf("ping timeout after %v, before pingInterval+pingTimeout", d)
			}
			waitDone(t, c)
		})
	}
}
