package feed

import (
	"errors"
	"fmt"
)

// Code classifies an Error; feed/httpapi maps each code to one HTTP status.
type Code string

// Error codes.
const (
	EBadRequest      Code = "bad_request"     // the request cannot be read (400)
	EInvalid         Code = "invalid"         // the input breaks a rule (422)
	EUnauthenticated Code = "unauthenticated" // no valid credentials (401)
	EForbidden       Code = "forbidden"       // not the owner (403)
	ENotFound        Code = "not_found"       // no such user or post (404)
	ETooLarge        Code = "too_large"       // an upload over the limit (413)
	ETooMany         Code = "too_many"        // too many attempts, try later (429)
	EUnavailable     Code = "unavailable"     // the database is away (503)
	EInternal        Code = "internal"        // anything else (500)
)

// Error is an error meant for the client: a code, the contract's message and,
// for validation failures, the list of failed fields. Err, when set, is the
// cause, logged but never sent.
type Error struct {
	Code    Code
	Message string
	Data    []FieldError
	Err     error
}

// FieldError describes one failed rule the way express-validator does.
type FieldError struct {
	Location string  `json:"location"`
	Param    string  `json:"param"`
	Value    *string `json:"value,omitempty"` // nil when the field was missing
	Msg      string  `json:"msg"`
}

// Error returns the message, with the cause when there is one.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("feed: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("feed: %s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error in err's chain: EInternal for any
// other non-nil error, "" for nil. A bare ErrUnavailable is EUnavailable.
func ErrorCode(err error) Code {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, ErrUnavailable):
		return EUnavailable
	default:
		return EInternal
	}
}

// ErrorMessage returns the client-facing message of err: the *Error's message,
// or a generic one that reveals nothing of an unknown error.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Message
	case errors.Is(err, ErrUnavailable):
		return "Service unavailable, please try again."
	default:
		return "An error occurred."
	}
}

// ErrorData returns the validation details of err, if any.
func ErrorData(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Data
	}
	return nil
}
