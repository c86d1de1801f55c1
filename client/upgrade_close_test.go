package client_test

// Regression tests for two engineio bugs found while testing the client
// against it. Both concern a session closed while a client has paused
// polling for an upgrade (protocol-notes §3.5).

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/heraldio/herald/engineio"
)

// TestServerCloseDuringUpgrade: Server.Close used to block for the whole
// PingTimeout (or until ctx ended) when a session was between "3probe" and
// "5". The sequence, protocol 4:
//
//	GET  polling handshake              -> 0{"sid":...}
//	WS   transport=websocket&sid=...    <- 2probe, -> 3probe
//	GET  polling                        -> 6 (noop: the client now pauses polling)
//	Server.Close(ctx)
//
// Close closed the probe WebSocket and then kept the polling session
// draining until a GET collected the close packet, but a client paused for
// the upgrade sends no more GETs. Close now cuts such sessions at once.
func TestServerCloseDuringUpgrade(t *testing.T) {
	srv, _, _, done := pausedUpgrade(t)
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Errorf("server close: %v (sessions %d); want it to end the paused session at once", err, srv.Count())
	}
}

// TestServerDisconnectDuringUpgrade: a session the server closed during an
// upgrade used to hold the client's next GET until PingTimeout instead of
// answering it with the close packet, as Node does. The sequence, protocol
// 4 (3 behaves alike):
//
//	GET  polling handshake              -> 0{"sid":...}
//	WS   transport=websocket&sid=...    <- 2probe, -> 3probe
//	GET  polling                        -> 6
//	Session.Close() (e.g. socketio Socket.Disconnect(true))
//	GET  polling                        held for PingTimeout (20s), want 1
//
// closeWith cleared s.probe but not s.probed, and servePoll hands the queue
// to a GET only when !s.probed. TestSocketReconnect hit it in upgrade mode
// when the drop came mid-upgrade.
func TestServerDisconnectDuringUpgrade(t *testing.T) {
	srv, get, sid, done := pausedUpgrade(t)
	defer done()
	srv.Session(sid).Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if p := get(ctx, "&sid="+sid); p != "1" {
		t.Errorf("GET after the server closed the session: %q; want the close packet at once", p)
	}
}

// pausedUpgrade opens a protocol 4 session and takes its upgrade to the
// point where a client has paused polling: probe answered, last GET
// answered with a noop. It returns the server, a GET function, the session
// id, and a cleanup.
func pausedUpgrade(t *testing.T) (*engineio.Server, func(ctx context.Context, query string) string, string, func()) {
	t.Helper()
	srv := engineio.NewServer(echo{}, nil)
	ts := httptest.NewServer(srv)
	get := func(ctx context.Context, query string) string {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/engine.io/?EIO=4&transport=polling"+query, nil)
		if err != nil {
			return err.Error()
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err.Error()
		}
		return string(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var hs struct{ SID string }
	if open := get(ctx, ""); len(open) < 2 || json.Unmarshal([]byte(open[1:]), &hs) != nil {
		t.Fatalf("handshake: %q", open)
	}
	conn, _, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/engine.io/?EIO=4&transport=websocket&sid="+hs.SID)
	if err != nil {
		t.Fatal(err)
	}
	if err := wsutil.WriteClientText(conn, []byte("2probe")); err != nil {
		t.Fatal(err)
	}
	if b, err := wsutil.ReadServerText(conn); err != nil || string(b) != "3probe" {
		t.Fatalf("probe reply %q, %v", b, err)
	}
	if p := get(ctx, "&sid="+hs.SID); p != "6" {
		t.Fatalf("poll during the upgrade: %q", p)
	}
	return srv, get, hs.SID, func() {
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		// Close is safe to call twice, and ends sessions that wait for a
		// GET no client will send.
		if err := srv.Close(ctx); err != nil {
			t.Errorf("second Close: %v", err)
		}
		ts.CloseClientConnections()
		ts.Close()
	}
}
