package engineio

import (
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// Transport names as they appear in the "transport" query parameter.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// Options configures a Server. The zero value is valid: every zero field
// takes the default documented on it, which is Node's engine.io default
// where Node has one. NewServer copies the options; later changes to the
// caller's value have no effect.
type Options struct {
	// PingInterval is how often the server pings a protocol 4 client, and the
	// interval a protocol 3 client is told to ping at. Zero means 25s.
	PingInterval time.Duration
	// PingTimeout is how long a pong (protocol 4) may take, or by how much a
	// protocol 3 client's ping may be late, before the session is closed with
	// "ping timeout". Zero means 20s.
	PingTimeout time.Duration
	// UpgradeTimeout bounds a polling to WebSocket upgrade, from the WebSocket
	// handshake to the client's upgrade packet. Zero means 10s.
	UpgradeTimeout time.Duration
	// MaxHTTPBufferSize is the largest accepted polling body or WebSocket
	// message, in bytes. Larger POSTs get 413; larger WebSocket messages close
	// the connection with status 1009. It is announced to clients as
	// maxPayload. Zero means 1,000,000.
	MaxHTTPBufferSize int64
	// Transports lists the allowed transports. Nil means polling and websocket.
	Transports []string
	// DisableUpgrades stops polling sessions from upgrading to WebSocket
	// (Node's allowUpgrades: false).
	DisableUpgrades bool
	// AllowRequest, when set, sees every handshake request (the first request
	// of a session, polling or WebSocket) and refuses it by returning an
	// error, whose text becomes the message of a 403 response with code 4.
	AllowRequest func(r *http.Request) error
	// CORS, when set, adds CORS headers to polling responses and answers
	// preflight requests. Nil sends no CORS headers (Node's default).
	CORS *CORSOptions
	// Cookie, when set, sends a cookie holding the session id with the
	// handshake response (useful for sticky load balancing). Nil sends none.
	Cookie *http.Cookie
	// HTTPCompression configures gzip/deflate of polling response bodies.
	// Nil means enabled with a 1024-byte threshold (Node's default).
	HTTPCompression *CompressionOptions
	// PerMessageDeflate, when set, negotiates the WebSocket permessage-deflate
	// extension (without context takeover). Nil disables it, as Node does.
	PerMessageDeflate *CompressionOptions
	// MaxQueuedBytes bounds what may wait in one session's send queue: the
	// sum of queued payload sizes plus 16 bytes per packet. A send that would
	// exceed it, unless the queue is empty, closes the session with "transport
	// error" and ErrSlowConsumer. Zero means 4 MiB.
	MaxQueuedBytes int
	// MaxConnectionsPerIP bounds the sessions one client address may hold
	// at once, so that one host cannot take every file descriptor. A
	// handshake past it is refused with 429 and the Engine.IO error body
	// {"code":4,"message":"too many connections"}; a session's slot is given
	// back when it closes. Behind a reverse proxy every client has the
	// proxy's address: set ClientIP, or raise this limit. Zero means
	// DefaultMaxConnectionsPerIP (1000); negative means no limit.
	MaxConnectionsPerIP int
	// ClientIP returns the address a request counts against for
	// MaxConnectionsPerIP (for example the first X-Forwarded-For entry added
	// by a trusted proxy). Nil means the host part of Request.RemoteAddr.
	ClientIP func(r *http.Request) string
	// MaxHeaderBytes bounds the request URI plus header lines of a handshake,
	// which the session keeps for its lifetime (Session.Handshake). A larger
	// handshake is refused with 431 and {"code":3,"message":"request header
	// too large"}. It does not bound what net/http reads: set
	// http.Server.MaxHeaderBytes and ReadHeaderTimeout for that (see the
	// package documentation). Zero means DefaultMaxHeaderBytes (16 KiB,
	// Node's --max-http-header-size).
	MaxHeaderBytes int
	// DisableEpoll gives every WebSocket connection a reader goroutine. By
	// default, on Linux (amd64, arm64), idle connections are watched with
	// epoll and hold no goroutine, which roughly halves their memory; a
	// goroutine reads only while a message is arriving.
	DisableEpoll bool
	// Logger receives the server's diagnostics. Nil means slog.Default().
	Logger *slog.Logger
}

// CORSOptions configures cross-origin access to the polling transport.
type CORSOptions struct {
	// Origins is the allow-list of origins ("https://example.com"). A single
	// "*" allows any origin; with Credentials it echoes the request's origin
	// instead, since browsers refuse "*" with credentials.
	Origins []string
	// AllowOrigin, when set, decides for each origin and replaces Origins.
	AllowOrigin func(origin string) bool
	// Credentials sends Access-Control-Allow-Credentials: true.
	Credentials bool
	// Headers are the request headers a preflight allows; nil echoes the
	// preflight's Access-Control-Request-Headers.
	Headers []string
	// MaxAge is how long a preflight may be cached; zero sends no header.
	MaxAge time.Duration
}

// CompressionOptions configures a compression feature.
type CompressionOptions struct {
	// Disabled turns the feature off.
	Disabled bool
	// Threshold is the smallest payload, in bytes, that is compressed.
	// Zero means 1024.
	Threshold int
}

func (o *CompressionOptions) enabled() bool { return o != nil && !o.Disabled }

func (o *CompressionOptions) threshold() int {
	if o.Threshold > 0 {
		return o.Threshold
	}
	return 1024
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.UpgradeTimeout <= 0 {
		c.UpgradeTimeout = 10 * time.Second
	}
	if c.MaxHTTPBufferSize <= 0 {
		c.MaxHTTPBufferSize = 1_000_000
	}
	if c.Transports == nil {
		c.Transports = []string{TransportPolling, TransportWebSocket}
	} else {
		c.Transports = slices.Clone(c.Transports)
	}
	if c.HTTPCompression == nil {
		c.HTTPCompression = &CompressionOptions{}
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = 4 << 20
	}
	if c.MaxConnectionsPerIP == 0 {
		c.MaxConnectionsPerIP = DefaultMaxConnectionsPerIP
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (o *Options) allows(transport string) bool {
	return slices.Contains(o.Transports, transport)
}
