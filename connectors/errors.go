package connectors

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Error is a failed call, classified. The activities package turns it into
// a Temporal failure: Retryable false becomes a non-retryable error of type
// Type; RetryAfter becomes the next retry delay.
type Error struct {
	// Type is what a flow matches in `retry.non_retryable` and `on_error`
	// (`http.404`, `http.429`, `network`, `timeout`, `invalid_params`, ...).
	Type string
	// Retryable says whether another attempt may succeed.
	Retryable bool
	// RetryAfter is the delay the partner asked for, if any.
	RetryAfter time.Duration
	// Status is the HTTP status, if there was a response.
	Status int
	// Message is safe to show: redacted of secrets.
	Message string
	// Body is the start of the partner's failure response (up to 64 KiB,
	// redacted), for connectors that read their API's error format.
	Body []byte

	// cause is context.Canceled or context.DeadlineExceeded when the
	// caller's context ended the call, so errors.Is sees it; never an error
	// whose text could hold a secret.
	cause error
}

func (e *Error) Error() string {
	return e.Message
}

// Unwrap returns the caller's context error when that is what ended the
// call, and nil otherwise.
func (e *Error) Unwrap() error {
	return e.cause
}

// Permanent returns a non-retryable error of the given type.
func Permanent(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Message: fmt.Sprintf(format, args...)}
}

// Transient returns a retryable error of the given type.
func Transient(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Retryable: true, Message: fmt.Sprintf(format, args...)}
}

// AsError reports whether err is or wraps an *Error.
func AsError(err error) (*Error, bool) {
	var ce *Error
	ok := errors.As(err, &ce)
	return ce, ok
}

// partnerMessageBytes bounds the text a partner wrote in an error message.
const partnerMessageBytes = 512

// Clip shortens a message a partner sent (an API's error text) for an
// error: beyond 512 bytes it is cut on a rune boundary and ends in "…".
func Clip(s string) string {
	return clipTo(s, partnerMessageBytes)
}

// clipTo keeps at most limit bytes of s, cut on a rune boundary, and marks
// a cut with "…".
func clipTo(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
