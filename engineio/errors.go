package engineio

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of them where
// it applies; test with errors.Is.
var (
	// ErrClosed is returned when sending on a closed session or server.
	ErrClosed = errors.New("engineio: session closed")
	// ErrSlowConsumer is the cause of a close when a session's send queue
	// would exceed Options.MaxQueuedBytes.
	ErrSlowConsumer = errors.New("engineio: send queue full")
	// ErrPayloadTooLarge is the cause of a close when a WebSocket message
	// exceeds Options.MaxHTTPBufferSize.
	ErrPayloadTooLarge = errors.New("engineio: payload too large")
)

// Reason says why a session closed. The values are Node's strings, which
// Socket.IO passes on to applications.
type Reason string

// Close reasons.
const (
	// ReasonTransportClose: the client closed the connection or sent a close packet.
	ReasonTransportClose Reason = "transport close"
	// ReasonTransportError: the connection failed (I/O error, overlapping
	// requests, a slow consumer).
	ReasonTransportError Reason = "transport error"
	// ReasonPingTimeout: the client missed its heartbeat.
	ReasonPingTimeout Reason = "ping timeout"
	// ReasonParseError: the client sent something that is not Engine.IO.
	ReasonParseError Reason = "parse error"
	// ReasonForcedClose: the application called Session.Close.
	ReasonForcedClose Reason = "forced close"
	// ReasonServerShutdown: the server is closing (Server.Close).
	ReasonServerShutdown Reason = "server shutting down"
)

// Engine.IO HTTP error codes and Node's messages for them.
const (
	codeUnknownTransport = 0
	codeUnknownSID       = 1
	codeBadHandshake     = 2
	codeBadRequest       = 3
	codeForbidden        = 4
	codeBadProtocol      = 5
)

var codeMessages = [...]string{
	codeUnknownTransport: "Transport unknown",
	codeUnknownSID:       "Session ID unknown",
	codeBadHandshake:     "Bad handshake method",
	codeBadRequest:       "Bad request",
	codeForbidden:        "Forbidden",
	codeBadProtocol:      "Unsupported protocol version",
}

// RequestError is an Engine.IO request refused with Node's error body
// {"code":N,"message":"..."}. The client package returns it for such answers.
type RequestError struct {
	Status  int    // HTTP status, 400 or 403
	Code    int    // Engine.IO error code, 0-5
	Message string // human-readable message
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("engineio: request refused (%d, code %d): %s", e.Status, e.Code, e.Message)
}
