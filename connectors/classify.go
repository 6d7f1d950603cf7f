package connectors

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// The one place that decides what a failed call means. The same answers
// drive in-attempt retries (retryablehttp's CheckRetry) and the *Error the
// engine sees, so the two layers of retry never disagree.

var (
	errTooManyRedirects = errors.New("stopped after 10 redirects")
	errTokenRedirect    = errors.New("token endpoint redirected to another host or to http; not followed with the client secret")
	errResponseTooLarge = errors.New("response body too large")

	// oauth2ErrorCode is an `error` of a token endpoint fit for an error
	// type (`invalid_client`, `unauthorized_client`, ...); anything else
	// the endpoint wrote is not used as one.
	oauth2ErrorCode = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// classifyStatus says whether an HTTP status is a failure and, if so, its
// error type and whether another attempt may succeed.
func classifyStatus(code int) (typ string, retryable, failed bool) {
	switch {
	case code >= 200 && code < 400:
		return "", false, false
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests:
		return "http." + strconv.Itoa(code), true, true
	case code == http.StatusNotImplemented:
		return "http.501", false, true
	case code >= 500 && code < 600:
		return "http." + strconv.Itoa(code), true, true
	case code >= 400 && code < 500:
		return "http." + strconv.Itoa(code), false, true
	default: // 1xx as a final answer, or nonsense: the server is confused
		return "http." + strconv.Itoa(code), true, true
	}
}

// classifyError maps a failure without a usable response (the request could
// not be sent, or the response not read) to an error type and whether
// another attempt may succeed.
func classifyError(err error) (typ string, retryable bool) {
	var (
		retrieve  *oauth2.RetrieveError
		netErr    net.Error
		certErr   *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		headerErr tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, context.Canceled):
		// The caller gave up (worker shutdown, activity cancelled): not the
		// partner's fault, so another attempt is fine.
		return "canceled", true
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", true
	case errors.As(err, &retrieve):
		if retrieve.Response == nil {
			return "oauth2", true
		}
		if typ, retryable, failed := classifyStatus(retrieve.Response.StatusCode); failed {
			return "oauth2." + strings.TrimPrefix(typ, "http."), retryable
		}
		// A success status with an error body, which some token endpoints
		// send instead of a 400: the endpoint refused, and would again.
		if oauth2ErrorCode.MatchString(retrieve.ErrorCode) {
			return "oauth2." + retrieve.ErrorCode, false
		}
		return "oauth2.invalid_response", false
	case errors.Is(err, errResponseTooLarge):
		return "response_too_large", false
	case errors.Is(err, errTooManyRedirects), errors.Is(err, errTokenRedirect):
		return "redirect", false
	case errors.As(err, &certErr), errors.As(err, &authority), errors.As(err, &hostname),
		errors.As(err, &invalid), errors.As(err, &headerErr):
		return "tls", false
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout", true
	default:
		return "network", true
	}
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
// A date in the past means no wait.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(365*24*time.Hour/time.Second) {
			secs = int64(365 * 24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
