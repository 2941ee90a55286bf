package patchbay

import (
	"errors"
	"fmt"
)

// Error codes of the contract (§3.2). The strings are wire values.
const (
	EInvalid            = "INVALID_REQUEST"
	EUnauthorized       = "UNAUTHORIZED"
	EForbidden          = "FORBIDDEN"
	ENotFound           = "NOT_FOUND"
	EMethodNotAllowed   = "METHOD_NOT_ALLOWED"
	ENotAcceptable      = "NOT_ACCEPTABLE"
	EConflict           = "CONFLICT"
	ETooLarge           = "PAYLOAD_TOO_LARGE"
	EUnsupportedMedia   = "UNSUPPORTED_MEDIA_TYPE"
	ERateLimited        = "RATE_LIMITED"
	EInternal           = "INTERNAL_ERROR"
	EUpstream           = "UPSTREAM_ERROR"
	EUnavailable        = "UNAVAILABLE"
	EUpstreamTimeout    = "UPSTREAM_TIMEOUT"
	ECredentialNotFound = "CREDENTIAL_NOT_FOUND"
	EConnectorNotFound  = "CONNECTOR_NOT_FOUND"
	EActionNotFound     = "ACTION_NOT_FOUND"
)

// Error is a failure that the edges (httpapi, gateway) can report to a client
// as the contract's envelope: code, public message and details. Anything that
// is not an *Error reaches clients only as INTERNAL_ERROR.
type Error struct {
	Code    string
	Message string
	Details map[string]any
	Err     error // underlying cause; logged, never shown
}

// Errorf returns an *Error with a formatted public message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// With returns e with one more detail member. It mutates and returns e so that
// calls chain: Errorf(...).With("field", "name").
func (e *Error) With(key string, val any) *Error {
	if e.Details == nil {
		e.Details = make(map[string]any, 2)
	}
	e.Details[key] = val
	return e
}

// Field is shorthand for With("field", path).
func (e *Error) Field(path string) *Error { return e.With("field", path) }

// Reason is shorthand for With("reason", reason).
func (e *Error) Reason(reason string) *Error { return e.With("reason", reason) }

// Wrap records cause as the underlying error (for logs only).
func (e *Error) Wrap(cause error) *Error { e.Err = cause; return e }

// ErrorCode returns the code of err, or EInternal when err is not an *Error.
// It returns "" for a nil error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the public message of err; "Internal error" when err
// is not an *Error, so internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error"
}

// ErrorDetails returns the details of err (nil when err is not an *Error).
func ErrorDetails(err error) map[string]any {
	var e *Error
	if errors.As(err, &e) {
		return e.Details
	}
	return nil
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
