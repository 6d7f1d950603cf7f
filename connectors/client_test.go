package connectors

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// reply is one scripted server answer.
type reply struct {
	status int
	header map[string]string
	body   string
}

// seen is a request as the server received it.
type seen struct {
	method, path, query string
	header              http.Header
	body                []byte
}

type server struct {
	*httptest.Server
	mu   sync.Mutex
	hits []seen
}

// newServer answers the n-th request with replies[n], repeating the last.
func newServer(t *testing.T, replies ...reply) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.hits)
		s.hits = append(s.hits, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		s.mu.Unlock()
		rep := reply{status: http.StatusOK, body: `{"ok":true}`}
		if len(replies) > 0 {
			rep = replies[min(n, len(replies)-1)]
		}
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rep.status)
		io.WriteString(w, rep.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.hits...)
}

// fastOptions keep in-attempt waits tiny.
func fastOptions() ClientOptions {
	return ClientOptions{RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond, Timeout: 5 * time.Second}
}

func newTestClient(t *testing.T, cfg ConnectionConfig, opts ClientOptions, secretValues map[string]string) *Client {
	t.Helper()
	c, err := NewClient(cfg, func(ref string) (string, error) {
		v, ok := secretValues[ref]
		if !ok {
			return "", errors.New("no such secret " + ref)
		}
		return v, nil
	}, opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func TestDoRetries(t *testing.T) {
	future := time.Now().Add(120 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name     string
		replies  []reply
		req      Request
		opts     func(*ClientOptions)
		wantHits int
		wantType string // "" means success
		wantRetr bool
		// wantRetryAfter bounds Error.RetryAfter when set.
		wantRetryAfterMin, wantRetryAfterMax time.Duration
		minElapsed, maxElapsed               time.Duration
	}{
		{name: "503 then success", replies: []reply{{status: 503}, {status: 200, body: "{}"}}, wantHits: 2},
		{name: "503 every time", replies: []reply{{status: 503}}, wantHits: 3, wantType: "http.503", wantRetr: true},
		{name: "retry max 0", replies: []reply{{status: 503}}, opts: func(o *ClientOptions) { o.RetryMax = -1 }, wantHits: 1, wantType: "http.503", wantRetr: true},
		{name: "408 425 then success", replies: []reply{{status: 408}, {status: 425}, {status: 200}}, wantHits: 3},
		{
			name:     "429 retry-after 1 waited",
			replies:  []reply{{status: 429, header: map[string]string{"Retry-After": "1"}}, {status: 200}},
			wantHits: 2, minElapsed: 900 * time.Millisecond,
		},
		{
			name:     "429 retry-after 120 returned at once",
			replies:  []reply{{status: 429, header: map[string]string{"Retry-After": "120"}}},
			opts:     func(o *ClientOptions) { o.RetryAfterCap = 0 }, // the 5s default
			wantHits: 1, wantType: "http.429", wantRetr: true,
			wantRetryAfterMin: 120 * time.Second, wantRetryAfterMax: 120 * time.Second,
			maxElapsed: 3 * time.Second,
		},
		{
			name:     "503 retry-after http date above cap",
			replies:  []reply{{status: 503, header: map[string]string{"Retry-After": future}}},
			wantHits: 1, wantType: "http.503", wantRetr: true,
			wantRetryAfterMin: 100 * time.Second, wantRetryAfterMax: 121 * time.Second,
			maxElapsed: 3 * time.Second,
		},
		{
			name:     "429 retry-after 0 exhausted keeps RetryAfter",
			replies:  []reply{{status: 429, header: map[string]string{"Retry-After": "0"}}},
			wantHits: 3, wantType: "http.429", wantRetr: true,
		},
		{name: "404 permanent", replies: []reply{{status: 404}}, wantHits: 1, wantType: "http.404"},
		{name: "422 permanent", replies: []reply{{status: 422, body: `{"error":"bad sku"}`}}, wantHits: 1, wantType: "http.422"},
		{name: "501 permanent", replies: []reply{{status: 501}}, wantHits: 1, wantType: "http.501"},
		{name: "304 is not an error", replies: []reply{{status: 304}}, wantHits: 1},
		{
			name: "POST without key not retried", req: Request{Method: "POST", Body: []byte(`{}`)},
			replies: []reply{{status: 503}, {status: 200}}, wantHits: 1, wantType: "http.503", wantRetr: true,
		},
		{
			name: "POST with key retried", req: Request{Method: "POST", Body: []byte(`{}`), IdempotencyKey: "wf-1/step-2"},
			replies: []reply{{status: 503}, {status: 502}, {status: 201}}, wantHits: 3,
		},
		{
			name: "PATCH with key retried", req: Request{Method: "PATCH", IdempotencyKey: "wf-1/step-3"},
			replies: []reply{{status: 500}, {status: 200}}, wantHits: 2,
		},
		{
			name: "POST with key, 400 not retried", req: Request{Method: "POST", IdempotencyKey: "k"},
			replies: []reply{{status: 400}}, wantHits: 1, wantType: "http.400",
		},
		{name: "PUT retried", req: Request{Method: "PUT"}, replies: []reply{{status: 503}, {status: 200}}, wantHits: 2},
		{
			name: "KeyIgnored: a gateway's 502 not retried", req: Request{Method: "POST", Body: []byte(`{}`), IdempotencyKey: "wf-1/step-4", KeyIgnored: true},
			replies: []reply{{status: 502}, {status: 201}}, wantHits: 1, wantType: "http.502", wantRetr: true,
		},
		{
			name: "KeyIgnored: a gateway's 504 not retried", req: Request{Method: "PATCH", IdempotencyKey: "wf-1/step-5", KeyIgnored: true},
			replies: []reply{{status: 504}, {status: 200}}, wantHits: 1, wantType: "http.504", wantRetr: true,
		},
		{
			name: "KeyIgnored: refusals retried (429, 503)", req: Request{Method: "POST", Body: []byte(`{}`), IdempotencyKey: "wf-1/step-6", KeyIgnored: true},
			replies: []reply{{status: 429}, {status: 503}, {status: 201}}, wantHits: 3,
		},
		{
			name: "KeyIgnored: a 500 not retried (it may follow a commit)", req: Request{Method: "POST", Body: []byte(`{}`), IdempotencyKey: "wf-1/step-7", KeyIgnored: true},
			replies: []reply{{status: 500}, {status: 201}}, wantHits: 1, wantType: "http.500", wantRetr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.replies...)
			opts := fastOptions()
			opts.RetryAfterCap = 2 * time.Second
			if tt.opts != nil {
				tt.opts(&opts)
			}
			c := newTestClient(t, ConnectionConfig{BaseURL: srv.URL}, opts, nil)
			req := tt.req
			req.Path = "/orders"
			start := time.Now()
			resp, err := c.Do(context.Background(), &req)
			elapsed := time.Since(start)

			if got := len(srv.requests()); got != tt.wantHits {
				t.Errorf("server saw %d requests, want %d", got, tt.wantHits)
			}
			if tt.wantType == "" {
				if err != nil {
					t.Fatalf("Do: %v", err)
				}
				if resp.Status >= 400 {
					t.Fatalf("status %d", resp.Status)
				}
			} else {
				ce, ok := AsError(err)
				if !ok {
					t.Fatalf("Do error = %v (%T), want *Error", err, err)
				}
				if ce.Type != tt.wantType || ce.Retryable != tt.wantRetr {
					t.Errorf("error = %s retryable=%v, want %s retryable=%v", ce.Type, ce.Retryable, tt.wantType, tt.wantRetr)
				}
				if ce.Status == 0 {
					t.Errorf("error has no status")
				}
				if tt.wantRetryAfterMax > 0 && (ce.RetryAfter < tt.wantRetryAfterMin || ce.RetryAfter > tt.wantRetryAfterMax) {
					t.Errorf("RetryAfter = %v, want between %v and %v", ce.RetryAfter, tt.wantRetryAfterMin, tt.wantRetryAfterMax)
				}
			}
			if elapsed < tt.minElapsed {
				t.Errorf("returned after %v, want at least %v", elapsed, tt.minElapsed)
			}
			if tt.maxElapsed > 0 && elapsed > tt.maxElapsed {
				t.Errorf("returned after %v, want under %v", elapsed, tt.maxElapsed)
			}
		})
	}
}

func TestDoIdempotencyKey(t *testing.T) {
	tests := []struct {
		name       string
		req        Request
		wantHeader string // Idempotency-Key value on every try
		wantCustom string // X-Request-Id value on every try
	}{
		{name: "POST sends key", req: Request{Method: "POST", IdempotencyKey: "flow/order-1/capture"}, wantHeader: "flow/order-1/capture"},
		{name: "PATCH sends key", req: Request{Method: "PATCH", IdempotencyKey: "k-patch"}, wantHeader: "k-patch"},
		{
			name:       "connector's own header name",
			req:        Request{Method: "POST", IdempotencyKey: "k-custom", Header: http.Header{"X-Request-Id": {"k-custom"}}},
			wantCustom: "k-custom",
		},
		{
			name:       "explicit Idempotency-Key kept",
			req:        Request{Method: "POST", IdempotencyKey: "k", Header: http.Header{"Idempotency-Key": {"k"}}},
			wantHeader: "k",
		},
		{name: "PUT does not send key", req: Request{Method: "PUT", IdempotencyKey: "k-put"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, reply{status: 503}, reply{status: 503}, reply{status: 200})
			c := newTestClient(t, ConnectionConfig{BaseURL: srv.URL}, fastOptions(), nil)
			req := tt.req
			req.Path = "/payments"
			if _, err := c.Do(context.Background(), &req); err != nil {
				t.Fatalf("Do: %v", err)
			}
			hits := srv.requests()
			if len(hits) != 3 {
				t.Fatalf("server saw %d requests, want 3", len(hits))
			}
			for i, h := range hits {
				if got := h.header.Values("Idempotency-Key"); strings.Join(got, ",") != tt.wantHeader {
					t.Errorf("try %d: Idempotency-Key = %q, want %q", i, got, tt.wantHeader)
				}
				if got := h.header.Get("X-Request-Id"); got != tt.wantCustom {
					t.Errorf("try %d: X-Request-Id = %q, want %q", i, got, tt.wantCustom)
				}
			}
		})
	}
}

// TestDoKeyIgnoredDroppedConnection: a partner that saves a create and then
// drops the connection before answering. A request the partner
// deduplicates by key is resent within the call; a KeyIgnored request is
// not, not even by net/http's own replay of requests with an
// Idempotency-Key on a reused connection, and the call fails retryable so
// the activity's next attempt can look for the record first.
func TestDoKeyIgnoredDroppedConnection(t *testing.T) {
	tests := []struct {
		name        string
		keyIgnored  bool
		body        []byte
		wantCreates int
		wantErr     bool
	}{
		{name: "key, partner deduplicates: resent", wantCreates: 2, body: []byte(`{"email":"ada@example.com"}`)},
		{name: "KeyIgnored: sent once, fails retryable", keyIgnored: true, wantCreates: 1, wantErr: true, body: []byte(`{"email":"ada@example.com"}`)},
		{name: "KeyIgnored without body", keyIgnored: true, wantCreates: 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			creates := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost {
					io.WriteString(w, `{"data":[]}`)
					return
				}
				io.Copy(io.Discard, r.Body)
				mu.Lock()
				creates++
				first := creates == 1
				mu.Unlock()
				if !first {
					w.WriteHeader(http.StatusCreated)
					io.WriteString(w, `{"data":{"name":"CUST-1"}}`)
					return
				}
				// Saved; the connection drops before the answer.
				conn, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					t.Errorf("hijack: %v", err)
					return
				}
				conn.Close()
			}))
			t.Cleanup(srv.Close)
			c := newTestClient(t, ConnectionConfig{BaseURL: srv.URL}, fastOptions(), nil)
			// A look-first GET, so the POST goes out on a reused connection.
			if _, err := c.Do(context.Background(), &Request{Path: "/api/resource/Customer"}); err != nil {
				t.Fatalf("GET: %v", err)
			}
			_, err := c.Do(context.Background(), &Request{Method: "POST", Path: "/api/resource/Customer", Body: tt.body,
				ContentType: "application/json", IdempotencyKey: "wf-1/upsert", KeyIgnored: tt.keyIgnored})
			mu.Lock()
			got := creates
			mu.Unlock()
			if got != tt.wantCreates {
				t.Errorf("partner received %d creates, want %d", got, tt.wantCreates)
			}
			if !tt.wantErr {
				if err != nil {
					t.Errorf("Do: %v", err)
				}
				return
			}
			if ce, ok := AsError(err); !ok || !ce.Retryable {
				t.Errorf("Do error = %v, want a retryable *Error", err)
			}
		})
	}
}

// retryCounter counts the retries a client reports.
type retryCounter struct {
	mu      sync.Mutex
	retries int
}

func (m *retryCounter) ConnectorRequest(string, string, string)   {}
func (m *retryCounter) ConnectorRetryAfter(string, time.Duration) {}

func (m *retryCounter) ConnectorRetry(string, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.retries++
}

func (m *retryCounter) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.retries
}

// TestDoBeforeResend: a KeyIgnored write with BeforeResend is sent again
// within the call after a failure that may follow a saved effect (a
// dropped connection, a 500, a gateway's 502 or 504) only once the hook,
// called after the backoff, has found nothing; what it finds, or its
// error, ends the call. Refusals (429, 503) are resent without it, it is
// never called when no resend would follow, and it is ignored on a write
// whose key the partner honours.
func TestDoBeforeResend(t *testing.T) {
	errLook := errors.New("look failed")
	const drop = 0 // in replies: the connection drops before the answer
	tests := []struct {
		name       string
		keyIgnored bool
		replies    []int // statuses of the n-th request, the last repeated
		found      bool  // what the hook reports
		hookErr    error
		wantHits   int
		wantCalls  int    // hook calls
		wantErr    error  // errors.Is the error Do returns
		wantType   string // the *Error's type; neither: success
		// wantRetries is the retries the client's metrics count.
		wantRetries int
	}{
		{
			name: "dropped connection, hook finds the effect: not resent", keyIgnored: true,
			replies: []int{drop}, found: true, wantHits: 1, wantCalls: 1, wantErr: ErrFoundBeforeResend,
		},
		{
			name: "500, hook finds the effect: not resent", keyIgnored: true,
			replies: []int{500, 201}, found: true, wantHits: 1, wantCalls: 1, wantErr: ErrFoundBeforeResend,
		},
		{
			name: "dropped connection, hook finds nothing: resent", keyIgnored: true,
			replies: []int{drop, 201}, wantHits: 2, wantCalls: 1, wantRetries: 1,
		},
		{
			name: "500, 502, 504, hook finds nothing each time: resent until the retries are used up", keyIgnored: true,
			replies: []int{500, 502, 504, 201}, wantHits: 3, wantCalls: 2, wantType: "http.504", wantRetries: 2,
		},
		{
			name: "gateway's 502, hook finds nothing: resent", keyIgnored: true,
			replies: []int{502, 201}, wantHits: 2, wantCalls: 1, wantRetries: 1,
		},
		{
			name: "refusals 429 and 503: resent without the hook", keyIgnored: true,
			replies: []int{429, 503, 201}, wantHits: 3, wantCalls: 0, wantRetries: 2,
		},
		{
			name: "500 every time: the hook runs before each resend, not after the last try", keyIgnored: true,
			replies: []int{500}, wantHits: 3, wantCalls: 2, wantType: "http.500", wantRetries: 2,
		},
		{
			name: "hook error: the call ends with it, not resent", keyIgnored: true,
			replies: []int{500, 201}, hookErr: errLook, wantHits: 1, wantCalls: 1, wantErr: errLook,
		},
		{
			name:    "key honoured (not KeyIgnored): hook ignored, 500 resent",
			replies: []int{500, 201}, found: true, wantHits: 2, wantCalls: 0, wantRetries: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			hits := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				mu.Lock()
				status := tt.replies[min(hits, len(tt.replies)-1)]
				hits++
				mu.Unlock()
				if status == drop {
					if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
						conn.Close()
					}
					return
				}
				w.WriteHeader(status)
			}))
			t.Cleanup(srv.Close)
			metrics := &retryCounter{}
			opts := fastOptions()
			opts.Metrics = metrics
			c := newTestClient(t, ConnectionConfig{BaseURL: srv.URL}, opts, nil)
			calls := 0
			req := &Request{Method: "POST", Path: "/api/resource/Customer", Body: []byte(`{}`), IdempotencyKey: "wf-1/create",
				KeyIgnored: tt.keyIgnored,
				BeforeResend: func(ctx context.Context) (bool, error) {
					calls++
					return tt.found, tt.hookErr
				}}
			_, err := c.Do(context.Background(), req)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Do error = %v, want %v", err, tt.wantErr)
				}
			case tt.wantType != "":
				if ce, ok := AsError(err); !ok || ce.Type != tt.wantType || !ce.Retryable {
					t.Errorf("Do error = %v, want a retryable %s", err, tt.wantType)
				}
			case err != nil:
				t.Errorf("Do: %v", err)
			}
			mu.Lock()
			got := hits
			mu.Unlock()
			if got != tt.wantHits || calls != tt.wantCalls {
				t.Errorf("partner received %d requests and the hook ran %d times, want %d and %d", got, calls, tt.wantHits, tt.wantCalls)
			}
			if n := metrics.count(); n != tt.wantRetries {
				t.Errorf("metrics counted %d retries, want %d", n, tt.wantRetries)
			}
		})
	}
}

func TestDoTransportErrors(t *testing.T) {
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + l.Addr().String()
	l.Close()

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)

	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name     string
		baseURL  string
		ctx      context.Context
		timeout  time.Duration
		wantType string
		wantIs   error
	}{
		{name: "connection refused", baseURL: closedURL, ctx: context.Background(), wantType: "network"},
		{name: "per-try timeout", baseURL: slow.URL, ctx: context.Background(), timeout: 50 * time.Millisecond, wantType: "timeout"},
		{name: "caller canceled", baseURL: slow.URL, ctx: canceled, wantType: "canceled", wantIs: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := fastOptions()
			c := newTestClient(t, ConnectionConfig{BaseURL: tt.baseURL, Timeout: tt.timeout}, opts, nil)
			_, err := c.Do(tt.ctx, &Request{Path: "/x"})
			ce, ok := AsError(err)
			if !ok {
				t.Fatalf("Do error = %v (%T), want *Error", err, err)
			}
			if ce.Type != tt.wantType || !ce.Retryable {
				t.Errorf("error = %s retryable=%v (%s), want %s retryable", ce.Type, ce.Retryable, ce.Message, tt.wantType)
			}
			if !strings.HasPrefix(ce.Message, "GET "+tt.baseURL+"/x: ") {
				t.Errorf("message %q does not start with method and URL", ce.Message)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
		})
	}
}

func TestDoResponseBodyCap(t *testing.T) {
	const limit = 100
	tests := []struct {
		name     string
		size     int
		chunked  bool
		wantType string
	}{
		{name: "at the cap", size: limit},
		{name: "over the cap with length", size: limit + 1, wantType: "response_too_large"},
		{name: "over the cap chunked", size: 10 * limit, chunked: true, wantType: "response_too_large"},
		{name: "at the cap chunked", size: limit, chunked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body := bytes.Repeat([]byte("a"), tt.size)
				if tt.chunked {
					w.Write(body[:1])
					w.(http.Flusher).Flush()
					w.Write(body[1:])
					return
				}
				w.Write(body)
			}))
			t.Cleanup(srv.Close)
			opts := fastOptions()
			opts.MaxResponseBytes = limit
			c := newTestClient(t, ConnectionConfig{BaseURL: srv.URL}, opts, nil)
			resp, err := c.Do(context.Background(), &Request{Path: "/big"})
			if tt.wantType == "" {
				if err != nil {
					t.Fatalf("Do: %v", err)
				}
				if len(resp.Body) != tt.size {
					t.Fatalf("body is %d bytes, want %d", len(resp.Body), tt.size)
				}
				return
			}
			ce, ok := AsError(err)
			if !ok || ce.Type != tt.wantType || ce.Retryable {
				t.Fatalf("Do error = %#v, want permanent %s", err, tt.wantType)
			}
			if !strings.Contains(ce.Message, "exceeds 100 bytes") {
				t.Errorf("message %q does not give the cap", ce.Message)
			}
		})
	}
}

func TestDoErrorMessage(t *testing.T) {
	long := strings.Repeat("é", 2000)
	tests := []struct {
		name    string
		reply   reply
		want    string
		maxLen  int
		wantEnd string
	}{
		{
			name:  "status and snippet",
			reply: reply{status: 422, body: "  {\"error\":\"sku unknown\"}\n"},
			want:  `POST {{URL}}/orders?page=2: 422 Unprocessable Entity: {"error":"sku unknown"}`,
		},
		{
			name:  "no body",
			reply: reply{status: 404},
			want:  `POST {{URL}}/orders?page=2: 404 Not Found`,
		},
		{
			name:    "snippet capped",
			reply:   reply{status: 400, body: long},
			maxLen:  200 + errorSnippetBytes,
			wantEnd: "…",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.reply)
			c := newTestClient(t, ConnectionConfig{BaseURL: srv.URL + "/"}, fastOptions(), nil)
			_, err := c.Do(context.Background(), &Request{Method: "post", Path: "orders", Query: map[string][]string{"page": {"2"}}})
			if err == nil {
				t.Fatal("Do succeeded")
			}
			msg := err.Error()
			if tt.want != "" && msg != strings.ReplaceAll(tt.want, "{{URL}}", srv.URL) {
				t.Errorf("message = %q\nwant      %q", msg, strings.ReplaceAll(tt.want, "{{URL}}", srv.URL))
			}
			if tt.maxLen > 0 && len(msg) > tt.maxLen {
				t.Errorf("message is %d bytes, want at most %d", len(msg), tt.maxLen)
			}
			if !strings.HasSuffix(msg, tt.wantEnd) {
				t.Errorf("message %q does not end with %q", msg, tt.wantEnd)
			}
		})
	}
}

func TestDoURL(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		name, base, path string
		query            map[string][]string
		wantPath         string
		wantQuery        string
		wantErr          string
	}{
		{name: "path on base", base: srv.URL + "/api/v1", path: "/orders", wantPath: "/api/v1/orders"},
		{name: "slashes joined once", base: srv.URL + "/api/", path: "orders", wantPath: "/api/orders"},
		{name: "empty path is the base", base: srv.URL + "/api", path: "", wantPath: "/api"},
		{name: "absolute URL ignores base", base: "http://example.invalid", path: srv.URL + "/abs", wantPath: "/abs"},
		{name: "query merged", base: srv.URL, path: "/q?a=1", query: map[string][]string{"b": {"2", "3"}}, wantPath: "/q", wantQuery: "a=1&b=2&b=3"},
		{name: "relative without base", path: "/orders", wantErr: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, ConnectionConfig{BaseURL: tt.base}, fastOptions(), nil)
			before := len(srv.requests())
			_, err := c.Do(context.Background(), &Request{Path: tt.path, Query: tt.query})
			if tt.wantErr != "" {
				ce, ok := AsError(err)
				if !ok || ce.Type != tt.wantErr || ce.Retryable {
					t.Fatalf("Do error = %v, want permanent %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			hits := srv.requests()
			if len(hits) != before+1 {
				t.Fatalf("server saw %d new requests", len(hits)-before)
			}
			got := hits[len(hits)-1]
			if got.path != tt.wantPath || got.query != tt.wantQuery {
				t.Errorf("server saw %s?%s, want %s?%s", got.path, got.query, tt.wantPath, tt.wantQuery)
			}
		})
	}
}

func TestNewClientErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  ConnectionConfig
		want string
	}{
		{name: "bad base URL", cfg: ConnectionConfig{BaseURL: "example.com/api"}, want: `base_url "example.com/api" is not an absolute URL`},
		{name: "unknown auth kind", cfg: ConnectionConfig{Auth: &AuthConfig{Kind: "digest"}}, want: `unknown auth kind "digest" (use api_key, bearer, basic, oauth2_client_credentials or hmac)`},
		{name: "missing secret reference", cfg: ConnectionConfig{Auth: &AuthConfig{Kind: AuthBearer}}, want: `auth kind bearer needs token (a secret reference such as env:NAME)`},
		{name: "secret does not resolve", cfg: ConnectionConfig{Auth: &AuthConfig{Kind: AuthBasic, Username: "u", Password: "env:MISSING"}}, want: `auth password: no such secret env:MISSING`},
		{name: "api key in cookie", cfg: ConnectionConfig{Auth: &AuthConfig{Kind: AuthAPIKey, In: "cookie", Key: "env:K"}}, want: `auth api_key: in is "cookie", want header or query`},
		{name: "oauth2 without token url", cfg: ConnectionConfig{Auth: &AuthConfig{Kind: AuthOAuth2, ClientID: "id", ClientSecret: "env:K"}}, want: `auth kind oauth2_client_credentials needs token_url and client_id`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(tt.cfg, func(ref string) (string, error) {
				if ref == "env:K" {
					return "value", nil
				}
				return "", errors.New("no such secret " + ref)
			}, ClientOptions{})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("NewClient error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestSecretsNeverLeak sends secrets in a query string, a header and an
// echoed body, through failures of every kind, and looks for them in the
// error and in everything logged at debug level.
func TestSecretsNeverLeak(t *testing.T) {
	const (
		queryKey = "sk_live_QUERY/secret+1"
		token    = "tok_BEARER_s3cr3t"
		password = "pa55-w0rd"
	)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "you sent "+r.URL.String()+" with ")
		r.Header.Write(w)
		io.Copy(w, r.Body)
	}))
	t.Cleanup(echo.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + l.Addr().String()
	l.Close()

	secretValues := map[string]string{"env:Q": queryKey, "env:T": token, "env:P": password}
	tests := []struct {
		name string
		cfg  ConnectionConfig
		req  Request
	}{
		{name: "query key, echoed 500", cfg: ConnectionConfig{BaseURL: echo.URL, Auth: &AuthConfig{Kind: AuthAPIKey, In: "query", Key: "env:Q"}}},
		{name: "query key, network error", cfg: ConnectionConfig{BaseURL: closedURL, Auth: &AuthConfig{Kind: AuthAPIKey, In: "query", Name: "key", Key: "env:Q"}}},
		{name: "bearer echoed", cfg: ConnectionConfig{BaseURL: echo.URL, Auth: &AuthConfig{Kind: AuthBearer, Token: "env:T"}}},
		{name: "basic echoed", cfg: ConnectionConfig{BaseURL: echo.URL, Auth: &AuthConfig{Kind: AuthBasic, Username: "shop", Password: "env:P"}}},
		{name: "secret in path and body echoed", cfg: ConnectionConfig{BaseURL: echo.URL, Auth: &AuthConfig{Kind: AuthBearer, Token: "env:T"}},
			req: Request{Method: "PUT", Path: "/" + token, Body: []byte(`{"echo":"` + token + `"}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			opts := fastOptions()
			opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c := newTestClient(t, tt.cfg, opts, secretValues)
			req := tt.req
			if req.Path == "" {
				req.Path = "/orders"
			}
			_, err := c.Do(context.Background(), &req)
			if err == nil {
				t.Fatal("Do succeeded")
			}
			if logs.Len() == 0 {
				t.Fatal("nothing was logged")
			}
			basic := base64.StdEncoding.EncodeToString([]byte("shop:" + password))
			for _, secret := range []string{queryKey, token, password, "sk_live_QUERY", basic} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error holds secret %q: %s", secret, err)
				}
				if strings.Contains(logs.String(), secret) {
					t.Errorf("log holds secret %q:\n%s", secret, logs.String())
				}
			}
			if !strings.Contains(err.Error(), "[REDACTED]") {
				t.Errorf("error shows no redaction: %s", err)
			}
		})
	}
}

// TestResponseRedacted: a partner that echoes the request in a successful
// answer (a Location to another host, which is not followed with
// credentials, a `next` link, a header) must not hand the connection's
// secret to the connector, which puts responses in step outputs.
func TestResponseRedacted(t *testing.T) {
	const key = "sk_live_QUERY/secret+1"
	elsewhere := newServer(t)
	elsewhereURL := strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			target := elsewhereURL + "/landing?" + r.URL.RawQuery
			w.Header().Set("Location", target)
			w.WriteHeader(http.StatusMovedPermanently)
			io.WriteString(w, `<a href="`+target+`">Moved Permanently</a>`)
		case "/orders":
			w.Header().Set("Link", "<"+r.URL.String()+"&page=2>; rel=next")
			w.Header().Set("X-Echo-Key", r.URL.Query().Get("api_key"))
			io.WriteString(w, `{"next":"/orders?page=2&`+r.URL.RawQuery+`","raw":"`+r.URL.Query().Get("api_key")+`"}`)
		default:
			io.WriteString(w, `{"id":"ord_1"}`)
		}
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantBody   string // exact body when set
	}{
		{name: "cross-host 301 echoing the key", path: "/moved", wantStatus: http.StatusMovedPermanently},
		{name: "200 echoing the key", path: "/orders", wantStatus: http.StatusOK},
		{name: "200 without secrets kept as is", path: "/orders/ord_1", wantStatus: http.StatusOK, wantBody: `{"id":"ord_1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, ConnectionConfig{BaseURL: srv.URL, Auth: &AuthConfig{Kind: AuthAPIKey, In: "query", Key: "env:Q"}},
				fastOptions(), map[string]string{"env:Q": key})
			resp, err := c.Do(context.Background(), &Request{Path: tt.path})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if resp.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.Status, tt.wantStatus)
			}
			if n := len(elsewhere.requests()); n != 0 {
				t.Errorf("the other host got %d requests", n)
			}
			all := fmt.Sprint(resp.Header) + string(resp.Body)
			for _, form := range []string{key, url.QueryEscape(key), "sk_live_QUERY"} {
				if strings.Contains(all, form) {
					t.Errorf("response holds the key as %q:\n%s", form, all)
				}
			}
			if tt.wantBody != "" {
				if string(resp.Body) != tt.wantBody {
					t.Errorf("body = %s, want %s", resp.Body, tt.wantBody)
				}
			} else if !strings.Contains(all, "[REDACTED]") {
				t.Errorf("response shows no redaction:\n%s", all)
			}
		})
	}
}

func TestBaseURLSecretReference(t *testing.T) {
	const hook = "/services/T0/B0/s3cr3t-webhook-path"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != hook+"/ping" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	t.Setenv("HOOK_URL", srv.URL+hook)
	c, err := NewClient(ConnectionConfig{BaseURL: "env:HOOK_URL"}, nil, ClientOptions{RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(context.Background(), &Request{Method: http.MethodGet, Path: "/ping"})
	ce, ok := AsError(err)
	if !ok || ce.Status != http.StatusTeapot {
		t.Fatalf("error = %v, want the partner's 418 at the resolved URL", err)
	}
	if strings.Contains(ce.Message, "s3cr3t") {
		t.Errorf("the resolved base URL shows in the error: %s", ce.Message)
	}
}
