package connectors

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestClassifyStatus(t *testing.T) {
	tests := []struct {
		code          int
		wantType      string
		wantRetryable bool
		wantFailed    bool
	}{
		{200, "", false, false},
		{201, "", false, false},
		{204, "", false, false},
		{302, "", false, false},
		{304, "", false, false},
		{400, "http.400", false, true},
		{401, "http.401", false, true},
		{403, "http.403", false, true},
		{404, "http.404", false, true},
		{408, "http.408", true, true},
		{409, "http.409", false, true},
		{422, "http.422", false, true},
		{425, "http.425", true, true},
		{429, "http.429", true, true},
		{500, "http.500", true, true},
		{501, "http.501", false, true},
		{502, "http.502", true, true},
		{503, "http.503", true, true},
		{504, "http.504", true, true},
		{599, "http.599", true, true},
		{0, "http.0", true, true},
		{999, "http.999", true, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			typ, retryable, failed := classifyStatus(tt.code)
			if typ != tt.wantType || retryable != tt.wantRetryable || failed != tt.wantFailed {
				t.Errorf("classifyStatus(%d) = %q, %v, %v; want %q, %v, %v", tt.code, typ, retryable, failed, tt.wantType, tt.wantRetryable, tt.wantFailed)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassifyError(t *testing.T) {
	urlErr := func(err error) error { return &url.Error{Op: "Get", URL: "http://x", Err: err} }
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{}}
	tests := []struct {
		name          string
		err           error
		wantType      string
		wantRetryable bool
	}{
		{"connection refused", urlErr(syscall.ECONNREFUSED), "network", true},
		{"dial error", urlErr(refused), "network", true},
		{"reset", urlErr(syscall.ECONNRESET), "network", true},
		{"unexpected EOF", urlErr(errors.New("unexpected EOF")), "network", true},
		{"net timeout", urlErr(timeoutErr{}), "timeout", true},
		{"deadline", urlErr(context.DeadlineExceeded), "timeout", true},
		{"canceled", urlErr(context.Canceled), "canceled", true},
		{"unknown authority", urlErr(x509.UnknownAuthorityError{}), "tls", false},
		{"hostname", urlErr(x509.HostnameError{}), "tls", false},
		{"too many redirects", urlErr(errTooManyRedirects), "redirect", false},
		{"too large", errResponseTooLarge, "response_too_large", false},
		{"oauth2 401", urlErr(&oauth2.RetrieveError{Response: &http.Response{StatusCode: 401}}), "oauth2.401", false},
		{"oauth2 400", urlErr(&oauth2.RetrieveError{Response: &http.Response{StatusCode: 400}}), "oauth2.400", false},
		{"oauth2 429", urlErr(&oauth2.RetrieveError{Response: &http.Response{StatusCode: 429}}), "oauth2.429", true},
		{"oauth2 502", urlErr(&oauth2.RetrieveError{Response: &http.Response{StatusCode: 502}}), "oauth2.502", true},
		{"oauth2 no response", urlErr(&oauth2.RetrieveError{}), "oauth2", true},
		{"oauth2 200 with error", urlErr(&oauth2.RetrieveError{Response: &http.Response{StatusCode: 200}, ErrorCode: "invalid_client"}), "oauth2.invalid_client", false},
		{"oauth2 200 without error code", urlErr(&oauth2.RetrieveError{Response: &http.Response{StatusCode: 200}}), "oauth2.invalid_response", false},
		{"oauth2 200 with an odd error code", urlErr(&oauth2.RetrieveError{Response: &http.Response{StatusCode: 200}, ErrorCode: "bad code\n"}), "oauth2.invalid_response", false},
		{"oauth2 302", urlErr(&oauth2.RetrieveError{Response: &http.Response{StatusCode: 302}}), "oauth2.invalid_response", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, retryable := classifyError(tt.err)
			if typ != tt.wantType || retryable != tt.wantRetryable {
				t.Errorf("classifyError(%v) = %q, %v; want %q, %v", tt.err, typ, retryable, tt.wantType, tt.wantRetryable)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"1", time.Second, true},
		{"120", 120 * time.Second, true},
		{"0", 0, true},
		{"-5", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second, true},
		{"99999999999", 365 * 24 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Retry-After", tt.header)
			}
			got, ok := retryAfter(h, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	c := &Client{opts: ClientOptions{RetryAfterCap: 3 * time.Second}, now: time.Now}
	minWait, maxWait := 100*time.Millisecond, time.Second
	for attempt, wantMax := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second} {
		for range 20 {
			got := c.backoff(minWait, maxWait, attempt, nil)
			if got < wantMax/2 || got > wantMax {
				t.Fatalf("backoff(attempt %d) = %v, want in [%v, %v]", attempt, got, wantMax/2, wantMax)
			}
		}
	}
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"2"}}}
	if got := c.backoff(minWait, maxWait, 0, resp); got != 2*time.Second {
		t.Errorf("backoff with Retry-After 2 = %v, want 2s", got)
	}
	resp.Header.Set("Retry-After", "60")
	if got := c.backoff(minWait, maxWait, 0, resp); got != 3*time.Second {
		t.Errorf("backoff with Retry-After 60 = %v, want the 3s cap", got)
	}
}
