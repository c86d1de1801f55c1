package client

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/heraldio/herald/engineio"
)

// Sentinel errors; test for them with errors.Is.
var (
	// ErrClosed is matched by every error a closed connection returns,
	// including the *CloseError from EngineConn.Err.
	ErrClosed = errors.New("client: connection closed")
	// ErrMessageTooLarge is returned by a send whose packet, as encoded for
	// the current transport, exceeds the maxPayload the server announced.
	// The connection stays open.
	ErrMessageTooLarge = errors.New("client: message exceeds the server's maxPayload")
)

// CloseError says why a connection ended. EngineConn.Err returns one, and
// sends on a closed connection return it. It matches ErrClosed and wraps Err.
type CloseError struct {
	// Reason is the JavaScript client's string for the cause: "forced close"
	// (Close was called), "transport close" (the server closed), "transport
	// error", "ping timeout" or "parse error".
	Reason engineio.Reason
	// Err is the underlying error, nil for "forced close" and a clean
	// "transport close" or "ping timeout".
	Err error
}

// Error reports the reason and, when set, the underlying error.
func (e *CloseError) Error() string {
	s := "client: connection closed: " + string(e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrClosed and, when set, Err.
func (e *CloseError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrClosed}
	}
	return []error{ErrClosed, e.Err}
}

// CloseReason returns the Reason of the *CloseError in err's chain, or ""
// when there is none.
func CloseReason(err error) engineio.Reason {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}

// The JavaScript client's close reason for Close.
const reasonForcedClose engineio.Reason = "forced close"

// maxErrorBody bounds how much of a refusal body is read.
const maxErrorBody = 4 << 10

// requestError builds the error for a refused request from Node's JSON body
// {"code":N,"message":"..."}. Bodies without a code (a 413 from
// http.Error, a proxy's page) get Code -1 and the body's text as Message.
func requestError(status int, body []byte) *engineio.RequestError {
	var v struct {
		Code    *int   `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &v) == nil && v.Code != nil {
		return &engineio.RequestError{Status: status, Code: *v.Code, Message: v.Message}
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &engineio.RequestError{Status: status, Code: -1, Message: msg}
}
