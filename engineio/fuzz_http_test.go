package engineio_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldio/herald/engineio"
)

type nopHandler struct{}

func (nopHandler) OnOpen(*engineio.Session)                          {}
func (nopHandler) OnMessage(*engineio.Session, []byte, bool)         {}
func (nopHandler) OnClose(*engineio.Session, engineio.Reason, error) {}

// FuzzServeHTTP sends arbitrary requests (method, query string, content
// type, body) to a server: the handshake's query parsing (EIO, transport,
// sid, b64, j), the request checks and, when the first request opened a
// session, a second request on that session, whose body goes through the
// payload decoders. It checks that nothing panics and that every answer
// is a success or one of the documented refusals.
func FuzzServeHTTP(f *testing.F) {
	for _, s := range [][4]string{
		{"GET", "EIO=4&transport=polling", "", ""},
		{"GET", "EIO=3&transport=polling&b64=1&j=0", "", ""},
		{"POST", "EIO=4&transport=polling", "text/plain;charset=UTF-8", "4hello\x1e4world"},
		{"POST", "EIO=3&transport=polling", "application/octet-stream", "\x00\x06\xff4hello"},
		{"POST", "EIO=3&transport=polling", "text/plain", "6:4hello"},
		{"GET", "EIO=5&transport=polling", "", ""},
		{"GET", "EIO=4&transport=websocket", "", ""},
		{"GET", "EIO=4&transport=flash", "", ""},
		{"OPTIONS", "EIO=4&transport=polling", "", ""},
		{"PUT", "EIO=4&transport=polling&sid=abc", "", ""},
		{"GET", "%zz&EIO=4;transport=polling", "", ""},
		{"POST", "EIO=4&transport=polling", "multipart/form-data; boundary=", "1"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	allowed := map[int]bool{200: true, 204: true, 400: true, 403: true, 413: true, 429: true, 431: true, 503: true}
	f.Fuzz(func(t *testing.T, method, query, ctype, body string) {
		srv := engineio.NewServer(nopHandler{}, &engineio.Options{
			CORS:   &engineio.CORSOptions{Origins: []string{"*"}},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		defer func() { _ = srv.Close(cancelled) }()
		do := func(q string) *httptest.ResponseRecorder {
			r := &http.Request{
				Method:     method,
				URL:        &url.URL{Path: "/engine.io/", RawQuery: q},
				Proto:      "HTTP/1.1",
				ProtoMajor: 1, ProtoMinor: 1,
				Header:        http.Header{"Content-Type": {ctype}, "Origin": {"https://example.com"}},
				Body:          io.NopCloser(strings.NewReader(body)),
				ContentLength: int64(len(body)),
				RemoteAddr:    "192.0.2.1:1234",
				Host:          "example.com",
			}
			// A held GET gives up at once instead of waiting for a ping.
			r = r.WithContext(cancelled)
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			if !allowed[w.Code] {
				t.Fatalf("%s ?%s: status %d", method, q, w.Code)
			}
			return w
		}
		w := do(query)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Body.String(), "0{") {
			return
		}
		var open struct {
			SID string `json:"sid"`
		}
		if err := json.Unmarshal(w.Body.Bytes()[1:], &open); err != nil || open.SID == "" {
			t.Fatalf("handshake body %q: %v", w.Body.String(), err)
		}
		do(query + "&sid=" + url.QueryEscape(open.SID))
	})
}
