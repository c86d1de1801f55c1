package socketio

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"
)

func TestHandshakeJSON(t *testing.T) {
	h := &Handshake{
		Header:  http.Header{"User-Agent": {"node"}, "Accept": {"a", "b"}},
		Query:   url.Values{"EIO": {"4"}, "x": {"1", "2"}},
		Auth:    json.RawMessage(`{"token":"abc"}`),
		Address: "127.0.0.1",
		Time:    time.Date(2026, 11, 25, 20, 5, 31, 737e6, time.UTC),
		URL:     "/socket.io/?EIO=4",
		XDomain: true,
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"headers":{"accept":"a, b","user-agent":"node"},"time":"Wed Nov 25 2026 20:05:31 GMT+0000 (Coordinated Universal Time)","address":"127.0.0.1","xdomain":true,"secure":false,"issued":1795637131737,"url":"/socket.io/?EIO=4","query":{"EIO":"4","x":["1","2"]},"auth":{"token":"abc"}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back Handshake
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	h.Header["Accept"] = []string{"a, b"} // Node joins repeated headers
	if !reflect.DeepEqual(&back, h) {
		t.Fatalf("round trip: %+v, want %+v", back, *h)
	}
}
