package socketio

import (
	"context"
	"errors"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrMissingArg: an event has fewer arguments than a handler asked for.
	ErrMissingArg = errors.New("socketio: missing argument")
	// ErrAckTimeout: an acknowledgement did not arrive in time. It also
	// matches context.DeadlineExceeded.
	ErrAckTimeout = ackTimeoutError{}
	// ErrDisconnected: the socket disconnected before it could answer.
	ErrDisconnected = errors.New("socketio: socket disconnected")
	// ErrAckSent: an acknowledgement function was called a second time.
	ErrAckSent = errors.New("socketio: acknowledgement already sent")
	// ErrReservedEvent: the event name is one of the protocol's reserved names.
	ErrReservedEvent = errors.New("socketio: reserved event name")
	// ErrClosed: the server is closed.
	ErrClosed = errors.New("socketio: server closed")
)

type ackTimeoutError struct{}

func (ackTimeoutError) Error() string { return "socketio: operation has timed out" }

func (ackTimeoutError) Is(target error) bool {
	return target == context.DeadlineExceeded
}

// ConnectError refuses a connection from namespace middleware. The client
// receives Message and Data in its CONNECT_ERROR (connect_error event).
// Any other error refuses with its text as the message.
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return e.Message }
