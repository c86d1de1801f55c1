package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/heraldio/herald/engineio"
)

// EngineOptions configures DialEngine. The zero value, and nil, are valid:
// every zero field takes the default documented on it. DialEngine copies the
// options; later changes to the caller's value have no effect.
type EngineOptions struct {
	// Transports lists the transports to use, in order. The first one
	// carries the handshake. When it is "polling", "websocket" is also listed
	// and the server offers it, the connection then upgrades to WebSocket in
	// the background (protocol-notes §3.5); if the upgrade's handshake and
	// probe do not succeed within 10s, it stays on polling. Nil means
	// {"polling", "websocket"}, as in the JavaScript client; {"polling"}
	// never upgrades and {"websocket"} skips polling.
	Transports []string
	// Protocol is the Engine.IO protocol revision, 4 or 3. Zero means 4.
	// Over protocol 3 polling the client asks for base64 payloads (b64=1)
	// and sends binary as base64 records; it still reads XHR2 binary bodies.
	Protocol int
	// Header holds extra headers for every HTTP request and the WebSocket
	// handshake. Nil adds none.
	Header http.Header
	// Query holds extra query parameters for every request. EIO, transport,
	// sid and b64 are set by the client and override these.
	Query url.Values
	// HTTPClient sends the polling requests. It must allow two requests to
	// the server at once (a held GET and a POST) and must not time out a GET
	// held for the server's pingInterval. Nil means a client of the
	// connection's own, using NetDial and TLSConfig, whose idle connections
	// are closed when the connection ends or upgrades.
	HTTPClient *http.Client
	// NetDial opens the TCP connections of the WebSocket transport, and of
	// polling when HTTPClient is nil; a load generator can bind source
	// addresses with a net.Dialer's LocalAddr. Nil means net.Dialer's
	// DialContext with no options.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig is used for https and wss URLs (for polling only when
	// HTTPClient is nil). Nil means the default configuration.
	TLSConfig *tls.Config
	// ReadLimit is the largest polling response body or WebSocket message
	// accepted from the server, in bytes; a larger one closes the connection
	// with "transport error". Zero means 16 MiB.
	ReadLimit int64
	// OnMessage receives each message, text or binary, in order, on the
	// connection's reader goroutine. data is only valid until OnMessage
	// returns. It may call SendText, SendBinary and Close; while it runs
	// nothing else is read, so heartbeats wait too. Nil drops messages.
	OnMessage func(data []byte, binary bool)
	// OnUpgrade is called once when an upgrade attempt ends: with nil once
	// the connection uses WebSocket, before the first message read from it,
	// or with the reason it stays on polling. A failure may be reported
	// while OnMessage runs on the reader goroutine. Nil means no
	// notification.
	OnUpgrade func(err error)
	// OnClose is called once on the reader goroutine when the connection
	// ends, after the last OnMessage, with the reason and the underlying
	// error, if any (see CloseError). Nil means no notification.
	OnClose func(reason engineio.Reason, err error)
}

// Default values of EngineOptions.
const (
	defaultProtocol  = 4
	defaultReadLimit = 16 << 20
)

func (o *EngineOptions) withDefaults() (EngineOptions, error) {
	var c EngineOptions
	if o != nil {
		c = *o
	}
	if c.Transports == nil {
		c.Transports = []string{engineio.TransportPolling, engineio.TransportWebSocket}
	} else {
		c.Transports = slices.Clone(c.Transports)
	}
	if len(c.Transports) == 0 {
		return c, errors.New("client: no transports")
	}
	for _, t := range c.Transports {
		if t != engineio.TransportPolling && t != engineio.TransportWebSocket {
			return c, fmt.Errorf("client: unknown transport %q", t)
		}
	}
	switch c.Protocol {
	case 0:
		c.Protocol = defaultProtocol
	case 3, 4:
	default:
		return c, fmt.Errorf("client: unsupported protocol %d", c.Protocol)
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = defaultReadLimit
	}
	c.Header = c.Header.Clone()
	c.Query = cloneValues(c.Query)
	return c, nil
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v)+4)
	for k, vs := range v {
		c[k] = slices.Clone(vs)
	}
	return c
}

// Handshake is what the server announced in its open packet (protocol spec,
// "Handshake").
type Handshake struct {
	// SID is the session id.
	SID string
	// Upgrades lists the transports the connection may upgrade to.
	Upgrades []string
	// PingInterval and PingTimeout drive the heartbeat (protocol-notes §3.4).
	PingInterval time.Duration
	PingTimeout  time.Duration
	// MaxPayload is the largest message or polling body the server accepts,
	// in bytes; zero when the server did not say.
	MaxPayload int64
}

func parseHandshake(data []byte) (Handshake, error) {
	var v struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int64    `json:"maxPayload"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return Handshake{}, fmt.Errorf("client: open packet: %w", err)
	}
	if v.SID == "" || v.PingInterval < 0 || v.PingTimeout < 0 || v.MaxPayload < 0 {
		return Handshake{}, fmt.Errorf("client: open packet: %w: %s", engineio.ErrInvalidPacket, data)
	}
	return Handshake{
		SID:          v.SID,
		Upgrades:     v.Upgrades,
		PingInterval: time.Duration(v.PingInterval) * time.Millisecond,
		PingTimeout:  time.Duration(v.PingTimeout) * time.Millisecond,
		MaxPayload:   v.MaxPayload,
	}, nil
}

// EngineConn is an open Engine.IO connection. Its methods are safe for
// concurrent use.
//
// The connection ends when Close is called, the server closes it, the
// transport fails or the heartbeat lapses; then OnClose is called, Done is
// closed and Err says why. Nothing is retried or reconnected.
type EngineConn struct {
	opts     EngineOptions
	protocol int
	hs       Handshake
	pollURL  string // polling URL with sid
	wsURL    string // WebSocket URL; with sid unless the handshake used it
	httpc    *http.Client
	ownHTTP  *http.Transport // closed at the end when the client made it
	ctx      context.Context // cancelled at teardown; bounds every request
	cancel   context.CancelFunc
	done     chan struct{}
	timer    *time.Timer
	initial  []engineio.Packet // packets that followed the open packet

	mu        sync.Mutex
	ws        *wsConn // the WebSocket transport, once in use
	probe     *wsConn // the upgrade's WebSocket until it takes over
	q, spare  queue
	writing   bool          // a goroutine is flushing q
	paused    bool          // an upgrade holds writes and polling
	pauseWait chan struct{} // closed when the flush stops while paused
	handoff   chan struct{} // closed when the polling reader stops for the upgrade
	handedOff bool          // the upgrade goroutine now reads
	upgrading bool          // the upgrade goroutine runs
	closing   bool          // no more sends; closeErr is set
	closeErr  *CloseError
	tornDown  bool // transports closed, timer stopped
	readerEnd bool // OnClose has returned
	finished  bool // done is closed
	hbState   uint8
	hbAt      time.Time // deadline of hbState
	hbArmed   time.Time // when the timer is due to fire
}

// DialEngine opens an Engine.IO connection to rawURL, an http, https, ws or
// wss URL of the server's mount point ("http://127.0.0.1:3000/engine.io/";
// an empty path means "/engine.io/"). It returns once the handshake is done,
// over the first of opts.Transports; an upgrade to WebSocket continues in
// the background. opts may be nil.
//
// ctx bounds the handshake only. A refused handshake returns an error
// wrapping *engineio.RequestError.
func DialEngine(ctx context.Context, rawURL string, opts *EngineOptions) (*EngineConn, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "http"
	case "https", "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("client: unsupported URL scheme %q", u.Scheme)
	}
	if u.Path == "" {
		u.Path = "/engine.io/"
	}
	for k, vs := range u.Query() {
		if _, ok := o.Query[k]; !ok {
			o.Query[k] = vs
		}
	}
	u.RawQuery = ""
	u.Fragment = ""

	c := &EngineConn{opts: o, protocol: o.Protocol, done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	first := o.Transports[0]
	var ws *wsConn
	if first == engineio.TransportPolling {
		c.httpc = o.HTTPClient
		if c.httpc == nil {
			c.ownHTTP = newTransport(&o)
			c.httpc = &http.Client{Transport: c.ownHTTP}
		}
		err = c.handshakePolling(ctx, u)
	} else {
		ws, err = c.handshakeWebSocket(ctx, u)
	}
	if err != nil {
		c.cancel()
		if c.ownHTTP != nil {
			c.ownHTTP.CloseIdleConnections()
		}
		return nil, err
	}
	c.ws = ws
	c.startHeartbeat()
	if ws != nil {
		go c.wsLoop(ws)
		return c, nil
	}
	if slices.Contains(o.Transports, engineio.TransportWebSocket) &&
		slices.Contains(c.hs.Upgrades, engineio.TransportWebSocket) {
		c.upgrading = true
		go c.upgrade()
	}
	go c.pollLoop()
	return c, nil
}

// transportURL returns u with the client's query for a transport.
func (c *EngineConn) transportURL(u *url.URL, transport, sid string) string {
	q := cloneValues(c.opts.Query)
	q.Set("EIO", fmt.Sprint(c.protocol))
	q.Set("transport", transport)
	if sid != "" {
		q.Set("sid", sid)
	}
	v := *u
	if transport == engineio.TransportWebSocket {
		v.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	} else if c.protocol == 3 {
		q.Set("b64", "1")
	}
	v.RawQuery = q.Encode()
	return v.String()
}

// ID returns the session id.
func (c *EngineConn) ID() string { return c.hs.SID }

// Protocol returns the Engine.IO protocol revision in use, 3 or 4.
func (c *EngineConn) Protocol() int { return c.protocol }

// Handshake returns the server's open packet. The caller must not modify
// its Upgrades.
func (c *EngineConn) Handshake() Handshake { return c.hs }

// Transport returns the transport in use: "polling" or "websocket".
func (c *EngineConn) Transport() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ws != nil {
		return engineio.TransportWebSocket
	}
	return engineio.TransportPolling
}

// SendText sends a text message; b must be valid UTF-8. See SendBinary.
func (c *EngineConn) SendText(b []byte) error {
	return c.send(engineio.PacketMessage, false, b)
}

// SendBinary sends a binary message. The data is copied, so b may be reused
// once SendBinary returns.
//
// A send writes its packet, together with any queued behind it, before
// returning; if another goroutine is writing or an upgrade is switching
// transports, it queues the packet to go next and returns at once. Packets
// leave in the order of the calls. It returns ErrMessageTooLarge, leaving the
// connection open, when the encoded packet exceeds the server's maxPayload,
// and a *CloseError once the connection is closing or when this write failed
// and closed it.
func (c *EngineConn) SendBinary(b []byte) error {
	return c.send(engineio.PacketMessage, true, b)
}

// Close sends the close packet after whatever is queued, then closes the
// transport. It does not wait for the reader; wait on Done for OnClose to
// have returned. If the close packet cannot be written within the server's
// pingTimeout, the transport is cut. Close is idempotent and returns nil.
// The connection ends with reason "forced close".
func (c *EngineConn) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	c.closeErr = &CloseError{Reason: reasonForcedClose}
	c.q.push(engineio.PacketClose, false, nil)
	c.armLocked(hbClosing, time.Now().Add(c.closeTimeout()))
	if c.writing || c.paused {
		// The running writer, or the upgrade once it has switched or given
		// up, flushes the close packet and tears down.
		c.mu.Unlock()
		return nil
	}
	c.writing = true
	c.mu.Unlock()
	_ = c.flush()
	return nil
}

// closeTimeout bounds the graceful part of Close.
func (c *EngineConn) closeTimeout() time.Duration {
	if c.hs.PingTimeout > 0 {
		return c.hs.PingTimeout
	}
	return 5 * time.Second
}

// Done returns a channel that is closed when the connection has ended:
// transports closed, OnClose returned and no goroutine of the connection
// still working.
func (c *EngineConn) Done() <-chan struct{} { return c.done }

// Err returns nil while the connection is open and a *CloseError once it
// is closing.
func (c *EngineConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil {
		return nil
	}
	return c.closeErr
}

// fail ends the connection at once, for the first reason given.
func (c *EngineConn) fail(reason engineio.Reason, err error) {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		c.closeErr = &CloseError{Reason: reason, Err: err}
	}
	c.mu.Unlock()
	c.teardown()
}

// teardown closes the transports, aborts requests and stops the timer.
func (c *EngineConn) teardown() {
	c.mu.Lock()
	if c.tornDown {
		c.mu.Unlock()
		return
	}
	c.tornDown = true
	ws, probe := c.ws, c.probe
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.cancel()
	if ws != nil {
		ws.close()
	}
	if probe != nil {
		probe.conn.Close()
	}
	c.release()
}

// endReader is how the goroutine holding the reader role leaves once the
// connection is closing: it reports OnClose, then lets Done close.
func (c *EngineConn) endReader() {
	c.mu.Lock()
	ce := c.closeErr
	c.mu.Unlock()
	if f := c.opts.OnClose; f != nil {
		f(ce.Reason, ce.Err)
	}
	c.mu.Lock()
	c.readerEnd = true
	c.mu.Unlock()
	c.release()
}

// release closes done once nothing of the connection is running.
func (c *EngineConn) release() {
	c.mu.Lock()
	fin := !c.finished && c.tornDown && c.readerEnd && !c.writing && !c.upgrading
	if fin {
		c.finished = true
	}
	c.mu.Unlock()
	if fin {
		if c.ownHTTP != nil {
			c.ownHTTP.CloseIdleConnections()
		}
		close(c.done)
	}
}

// isClosing reports whether the connection is closing.
func (c *EngineConn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// onPacket handles one packet from the server, on the reader goroutine.
func (c *EngineConn) onPacket(p engineio.Packet) {
	switch p.Type {
	case engineio.PacketMessage:
		if f := c.opts.OnMessage; f != nil && !c.isClosing() {
			f(p.Data, p.Binary)
		}
	case engineio.PacketPing:
		if c.protocol == 4 {
			c.onPing()
			_ = c.send(engineio.PacketPong, false, p.Data)
		}
	case engineio.PacketPong:
		if c.protocol == 3 {
			c.onPong()
		}
	case engineio.PacketClose:
		c.fail(engineio.ReasonTransportClose, nil)
	}
	// Open, upgrade and noop packets carry nothing for an open connection.
}
