package interop_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/engineio"
)

// The clients under test, by the name js/engineio.mjs knows them as.
var eioClients = []struct {
	name     string
	protocol int
	pkg      string // npm package directory under node_modules
}{
	{"v4", 4, "engine.io-client"}, // engine.io-client 6.6.x
	{"v3", 3, "eio-client-v3"},    // engine.io-client 3.5.x
}

// The transport modes: which transport the client starts on and which one
// it must end on.
var eioModes = []struct {
	name         string
	first, final string
}{
	{"polling", engineio.TransportPolling, engineio.TransportPolling},
	{"websocket", engineio.TransportWebSocket, engineio.TransportWebSocket},
	{"upgrade", engineio.TransportPolling, engineio.TransportWebSocket},
}

// eioCase is one run of js/engineio.mjs against a fresh server.
type eioCase struct {
	t        *testing.T
	protocol int
	mode     string
	first    string // the transport of the handshake
	final    string // the transport the session ends on
	h        *eioHandler
	res      eioResult
}

// eioScenarios are the scenarios of js/engineio.mjs, each with the server
// options it needs and the checks of its outcome.
var eioScenarios = []struct {
	name  string
	opts  *engineio.Options
	check func(c *eioCase)
}{
	{"text", nil, checkEcho(10, false)},
	{"binary", nil, checkEcho(7, false)},
	// forceBase64: the client asks for base64 (b64=1) and sends binary as
	// "b"-prefixed base64 text, in polling payloads and WebSocket text frames
	// alike.
	{"binary-base64", nil, checkEcho(7, true)},
	{"big", nil, checkBig},
	{"ping-timeout", &engineio.Options{
		PingInterval: 200 * time.Millisecond,
		PingTimeout:  150 * time.Millisecond,
	}, checkPingTimeout},
	{"upgrade", nil, checkUpgrade},
	{"server-close", nil, checkServerClose},
}

// TestEngineIO drives the official engine.io-client releases through every
// scenario over every transport mode: TestEngineIO/<client>/<mode>/<scenario>.
func TestEngineIO(t *testing.T) {
	pkgs := make([]string, 0, len(eioClients))
	for _, cl := range eioClients {
		pkgs = append(pkgs, cl.pkg)
	}
	requireNode(t, pkgs...)
	for _, cl := range eioClients {
		t.Run(cl.name, func(t *testing.T) {
			t.Parallel()
			for _, mode := range eioModes {
				t.Run(mode.name, func(t *testing.T) {
					t.Parallel()
					for _, sc := range eioScenarios {
						t.Run(sc.name, func(t *testing.T) {
							t.Parallel()
							c := &eioCase{t: t, protocol: cl.protocol, mode: mode.name, first: mode.first, final: mode.final}
							c.run(cl.name, sc.name, sc.opts)
							sc.check(c)
						})
					}
				})
			}
		})
	}
}

// run starts a server, runs the client script and checks what every
// scenario has in common: a clean exit, the session's protocol and the
// transports it used.
func (c *eioCase) run(client, scenario string, opts *engineio.Options) {
	t := c.t
	var url string
	c.h, url = startEngineIO(t, opts)
	run := runNode(t, 30*time.Second, "engineio.mjs", url, scenario, client, c.mode)
	if err := json.Unmarshal(run.Result, &c.res); err != nil {
		t.Fatalf("decoding result: %v", err)
	}
	if run.ExitCode != 0 || c.res.Error != "" {
		select {
		case cl := <-c.h.closes:
			t.Errorf("server OnClose: reason %q, err %v, transport %q", cl.reason, cl.err, cl.transport)
		case <-time.After(time.Second):
			t.Errorf("server did not close the session within 1s of the client's exit")
		}
		t.Fatalf("client failed (exit code %d): %s", run.ExitCode, c.res.Error)
	}
	open := c.h.opened(t)
	if open.sid != c.res.SID {
		t.Errorf("server opened session %q, client has %q", open.sid, c.res.SID)
	}
	if open.protocol != c.protocol {
		t.Errorf("server session speaks protocol %d, want %d", open.protocol, c.protocol)
	}
	want := []string{c.first}
	if c.final != c.first {
		want = append(want, c.final)
	}
	if !slices.Equal(c.res.Transports, want) {
		t.Errorf("client transports %q, want %q", c.res.Transports, want)
	}
}

// checkEcho: every message, text or binary, comes back unchanged and in
// order; the server saw exactly what was sent; the client's close reaches
// the server as "transport close". forceBase64 tells whether the client was
// told to send binary as base64 text.
func checkEcho(n int, forceBase64 bool) func(c *eioCase) {
	return func(c *eioCase) {
		t := c.t
		if len(c.res.Sent) != n {
			t.Fatalf("client sent %d messages, want %d", len(c.res.Sent), n)
		}
		// engine.io-client 3.x polls through xmlhttprequest-ssl in Node, which
		// has no responseType, so it always asks for base64 (b64=1) and never
		// sends or accepts XHR2 binary payloads there.
		wantBinary := !forceBase64 && (c.protocol != 3 || c.first != engineio.TransportPolling)
		if c.res.SupportsBinary != wantBinary {
			t.Errorf("client's first transport supportsBinary = %v, want %v", c.res.SupportsBinary, wantBinary)
		}
		diffDigests(t, "client received", c.res.Received, c.res.Sent)
		cl := c.h.closed(t)
		diffDigests(t, "server received", c.h.messages(), c.res.Sent)
		c.wantClientClose("forced close")
		c.wantServerClose(cl, engineio.ReasonTransportClose)
	}
}

// checkBig: 900 KB is under the 1,000,000-byte default MaxHTTPBufferSize and
// is echoed; 1.1 MB is refused and never reaches the handler. Over polling
// the POST gets 413, which the client reports as a transport error and
// answers by closing the session; over WebSocket the server closes the
// connection with status 1009.
func checkBig(c *eioCase) {
	t := c.t
	if len(c.res.Sent) != 2 || c.res.Sent[0].Len != 900_000 || c.res.Sent[1].Len != 1_100_000 {
		t.Fatalf("client sent %+v, want a 900,000 and a 1,100,000 byte message", c.res.Sent)
	}
	diffDigests(t, "client received", c.res.Received, c.res.Sent[:1])
	cl := c.h.closed(t)
	diffDigests(t, "server received", c.h.messages(), c.res.Sent[:1])
	if c.final == engineio.TransportPolling {
		c.wantClientClose("transport error")
		if cc := c.res.Close; cc != nil && (cc.Description == nil || cc.Description.Status != http.StatusRequestEntityTooLarge) {
			t.Errorf("client close description %+v, want HTTP status 413", cc.Description)
		}
		c.wantServerClose(cl, engineio.ReasonTransportClose)
		return
	}
	c.wantClientClose("transport close")
	if c.res.WSClose == nil || c.res.WSClose.Code != 1009 {
		t.Errorf("WebSocket closed with %+v, want status 1009", c.res.WSClose)
	}
	c.wantServerClose(cl, engineio.ReasonTransportError)
	if !errors.Is(cl.err, engineio.ErrPayloadTooLarge) {
		t.Errorf("server close error %v, want ErrPayloadTooLarge", cl.err)
	}
}

// checkPingTimeout: a client that stops answering the heartbeat is closed
// by the server with "ping timeout" within about PingInterval+PingTimeout
// (350 ms here; bounded generously for loaded CI machines).
func checkPingTimeout(c *eioCase) {
	t := c.t
	cl := c.h.closed(t)
	c.wantServerClose(cl, engineio.ReasonPingTimeout)
	c.wantClientClose("transport close")
	if c.protocol == 4 && c.res.PongsDropped == 0 {
		t.Errorf("the server sent no ping after the client went silent")
	}
	if c.res.SilentMs <= 0 || c.res.SilentMs > 3000 {
		t.Errorf("session closed %d ms after the client went silent, want within 3000 ms", c.res.SilentMs)
	}
	if m := c.h.messages(); len(m) != 0 {
		t.Errorf("server received %d messages, want none", len(m))
	}
}

// checkUpgrade: client and server agree on the transport at the end, which
// is WebSocket in upgrade mode.
func checkUpgrade(c *eioCase) {
	t := c.t
	if c.res.FinalTransport != c.final {
		t.Errorf("client ended on %q, want %q", c.res.FinalTransport, c.final)
	}
	if c.res.ServerTransport != c.final {
		t.Errorf("server's Session.Transport() was %q, want %q", c.res.ServerTransport, c.final)
	}
	cl := c.h.closed(t)
	c.wantClientClose("forced close")
	c.wantServerClose(cl, engineio.ReasonTransportClose)
}

// checkServerClose: what the server sent before Session.Close arrives, then
// the client sees the session close.
func checkServerClose(c *eioCase) {
	t := c.t
	diffDigests(t, "client received", c.res.Received, []digest{digestOf([]byte("bye"), false)})
	cl := c.h.closed(t)
	c.wantServerClose(cl, engineio.ReasonForcedClose)
	c.wantClientClose("transport close")
}

func (c *eioCase) wantClientClose(reason string) {
	c.t.Helper()
	if c.res.Close == nil {
		c.t.Errorf("client saw no close, want %q", reason)
		return
	}
	if c.res.Close.Reason != reason {
		c.t.Errorf("client close reason %q (%+v), want %q", c.res.Close.Reason, c.res.Close.Description, reason)
	}
}

func (c *eioCase) wantServerClose(cl eioClose, reason engineio.Reason) {
	c.t.Helper()
	if cl.reason != reason {
		c.t.Errorf("server OnClose reason %q (err %v), want %q", cl.reason, cl.err, reason)
	}
	if cl.transport != c.final {
		c.t.Errorf("server session closed on transport %q, want %q", cl.transport, c.final)
	}
}

// eioResult is the "result" line of js/engineio.mjs.
type eioResult struct {
	Error           string   `json:"error"`
	SID             string   `json:"sid"`
	SupportsBinary  bool     `json:"supportsBinary"` // of the first transport
	Transports      []string `json:"transports"`     // the handshake's, then the upgrade's
	FinalTransport  string   `json:"finalTransport"`
	ServerTransport string   `json:"serverTransport"` // upgrade scenario
	SilentMs        int      `json:"silentMs"`        // ping-timeout scenario
	PongsDropped    int      `json:"pongsDropped"`    // ping-timeout scenario, protocol 4
	Sent            []digest `json:"sent"`
	Received        []digest `json:"received"`
	Close           *struct {
		Reason      string `json:"reason"`
		Description *struct {
			Message string `json:"message"`
			Status  int    `json:"status"` // HTTP status of a failed polling request
			Code    int    `json:"code"`   // WebSocket close status
		} `json:"description"`
	} `json:"close"`
	WSClose *struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"wsClose"`
}

// digest identifies a message without carrying it: the script reports
// messages the same way.
type digest struct {
	Binary bool   `json:"binary"`
	Len    int    `json:"len"`
	SHA256 string `json:"sha256"`
	Text   string `json:"text,omitempty"` // short text messages only, for readable failures
}

func digestOf(data []byte, binary bool) digest {
	sum := sha256.Sum256(data)
	d := digest{Binary: binary, Len: len(data), SHA256: hex.EncodeToString(sum[:])}
	if !binary && len(data) <= 64 {
		d.Text = string(data)
	}
	return d
}

func diffDigests(t testing.TB, what string, got, want []digest) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("%s %d messages, want %d", what, len(got), len(want))
	for i := range max(len(got), len(want)) {
		var g, w *digest
		if i < len(got) {
			g = &got[i]
		}
		if i < len(want) {
			w = &want[i]
		}
		if g == nil || w == nil || *g != *w {
			t.Errorf("  message %d: got %+v, want %+v", i, g, w)
		}
	}
}

// eioHandler is the application under test: it echoes every message,
// except the text commands "transport?" (answered with the session's
// transport) and "close-me" (answered with "bye", then Session.Close). It
// records what the server saw.
type eioHandler struct {
	opens  chan eioOpen  // buffered; a session beyond its capacity is an error
	closes chan eioClose // likewise

	mu    sync.Mutex
	msgs  []digest
	extra int // OnOpen or OnClose calls that found their channel full
}

type eioOpen struct {
	sid      string
	protocol int
}

type eioClose struct {
	sid       string
	reason    engineio.Reason
	err       error
	transport string
}

func (h *eioHandler) OnOpen(s *engineio.Session) {
	select {
	case h.opens <- eioOpen{s.ID(), s.Protocol()}:
	default:
		h.mu.Lock()
		h.extra++
		h.mu.Unlock()
	}
}

func (h *eioHandler) OnMessage(s *engineio.Session, data []byte, binary bool) {
	h.mu.Lock()
	h.msgs = append(h.msgs, digestOf(data, binary))
	h.mu.Unlock()
	switch {
	case !binary && string(data) == "transport?":
		_ = s.SendText([]byte(s.Transport()))
	case !binary && string(data) == "close-me":
		_ = s.SendText([]byte("bye"))
		s.Close()
	case binary:
		_ = s.SendBinary(bytes.Clone(data))
	default:
		_ = s.SendText(bytes.Clone(data))
	}
}

func (h *eioHandler) OnClose(s *engineio.Session, reason engineio.Reason, err error) {
	select {
	case h.closes <- eioClose{s.ID(), reason, err, s.Transport()}:
	default:
		h.mu.Lock()
		h.extra++
		h.mu.Unlock()
	}
}

// opened returns the session the client opened and checks that it was the
// only one.
func (h *eioHandler) opened(t testing.TB) eioOpen {
	t.Helper()
	var o eioOpen
	select {
	case o = <-h.opens:
	case <-time.After(5 * time.Second):
		t.Fatal("the server opened no session within 5s")
	}
	h.mu.Lock()
	extra := h.extra
	h.mu.Unlock()
	if n := len(h.opens) + extra; n > 0 {
		t.Errorf("the server opened %d more sessions, want one in all", n)
	}
	return o
}

// closed waits for the server to close the session.
func (h *eioHandler) closed(t testing.TB) eioClose {
	t.Helper()
	select {
	case cl := <-h.closes:
		return cl
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not close the session within 10s")
		return eioClose{}
	}
}

func (h *eioHandler) messages() []digest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.msgs)
}

// startEngineIO serves an engineio.Server at /engine.io/ on a loopback port
// and returns its handler and base URL. Cleanup closes the server and
// requires every session to be gone within 5s.
func startEngineIO(t testing.TB, opts *engineio.Options) (*eioHandler, string) {
	t.Helper()
	var o engineio.Options
	if opts != nil {
		o = *opts
	}
	o.Logger = slog.New(slog.DiscardHandler)
	h := &eioHandler{opens: make(chan eioOpen, 8), closes: make(chan eioClose, 8)}
	srv := engineio.NewServer(h, &o)
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("closing the engine.io server: %v", err)
		}
		ts.Close()
	})
	return h, ts.URL
}
