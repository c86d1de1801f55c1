package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSuiteSettings checks what the official suites check first: both
// endpoints answer a handshake with the suite's heartbeat settings.
func TestSuiteSettings(t *testing.T) {
	h, closeApp := newHandler(0)
	ts := httptest.NewServer(h)
	defer ts.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = closeApp(ctx)
	}()
	for _, path := range []string{"/engine.io/", "/socket.io/"} {
		res, err := http.Get(ts.URL + path + "?EIO=4&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var open struct {
			SID          string   `json:"sid"`
			Upgrades     []string `json:"upgrades"`
			PingInterval int      `json:"pingInterval"`
			PingTimeout  int      `json:"pingTimeout"`
			MaxPayload   int      `json:"maxPayload"`
		}
		if !strings.HasPrefix(string(body), "0") || json.Unmarshal(body[1:], &open) != nil {
			t.Fatalf("%s: handshake %q", path, body)
		}
		if open.PingInterval != 300 || open.PingTimeout != 200 || open.MaxPayload != 1_000_000 || len(open.Upgrades) != 1 {
			t.Fatalf("%s: open packet %+v", path, open)
		}
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Fatalf("%s: CORS %q", path, got)
		}
	}
}
