package connectors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"

	"github.com/relay-dev/relay/netguard"
	"github.com/relay-dev/relay/secrets"
)

// ClientOptions tune the HTTP client of every connection. Zero values mean
// the defaults.
type ClientOptions struct {
	// RetryMax is how many times one attempt retries a transient failure
	// before handing it to Temporal (default 2; negative means none).
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the jittered exponential wait
	// between retries (defaults 100ms and 2s).
	RetryWaitMin, RetryWaitMax time.Duration
	// RetryAfterCap is the longest Retry-After waited for in-attempt
	// (default 5s). A longer one ends the attempt with an *Error carrying
	// RetryAfter, which the engine turns into Temporal's next retry delay.
	RetryAfterCap time.Duration
	// Timeout bounds one HTTP try, reading the body included (default 30s);
	// a connection's own timeout overrides it.
	Timeout time.Duration
	// MaxResponseBytes caps a response body (default 10 MiB).
	MaxResponseBytes int64
	// Logger receives retryablehttp's messages, redacted; nil means none.
	Logger *slog.Logger
	// HTTPClient, if set, supplies the base transport (tests); otherwise
	// all clients share one pooled transport.
	HTTPClient *http.Client
	// NetPolicy, if set, limits the addresses requests (redirects and
	// OAuth2 token requests included) may connect to; clients with the
	// same policy share one pooled transport, which ignores proxy
	// environment variables. HTTPClient takes precedence.
	NetPolicy *netguard.Policy
	// Metrics, if set, counts every try by status class, the retries
	// within an attempt and the Retry-After delays partners ask for.
	Metrics Metrics
	// Tracer, if set, makes a client span of every try, child of the
	// span in the caller's context, and sends it to the partner as W3C
	// `traceparent`. Without it no trace header is sent.
	Tracer trace.Tracer
}

// Metrics receives what clients observe; *telemetry.Metrics implements it.
type Metrics interface {
	// ConnectorRequest counts one try: statusClass is 2xx, 3xx, 4xx, 5xx,
	// timeout, network or canceled.
	ConnectorRequest(connector, action, statusClass string)
	// ConnectorRetry counts a retry; the client's layer is "http".
	ConnectorRetry(connector, layer string)
	ConnectorRetryAfter(connector string, wait time.Duration)
}

type actionKey struct{}

// WithAction names the action whose requests are made with ctx, for the
// client's metrics and spans.
func WithAction(ctx context.Context, action string) context.Context {
	return context.WithValue(ctx, actionKey{}, action)
}

func (o ClientOptions) withDefaults() ClientOptions {
	switch {
	case o.RetryMax == 0:
		o.RetryMax = 2
	case o.RetryMax < 0:
		o.RetryMax = 0
	}
	o.RetryWaitMin = cmp.Or(o.RetryWaitMin, 100*time.Millisecond)
	o.RetryWaitMax = max(cmp.Or(o.RetryWaitMax, 2*time.Second), o.RetryWaitMin)
	o.RetryAfterCap = cmp.Or(o.RetryAfterCap, 5*time.Second)
	o.Timeout = cmp.Or(o.Timeout, 30*time.Second)
	o.MaxResponseBytes = cmp.Or(o.MaxResponseBytes, 10<<20)
	return o
}

// errorSnippetBytes caps the response body quoted in an error message.
const errorSnippetBytes = 512

// sharedTransport is the pooled transport under every client. It honours
// proxy environment variables, which never apply to loopback addresses.
var sharedTransport = sync.OnceValue(cleanhttp.DefaultPooledTransport)

// Client sends the requests of one connection: base URL, headers, auth,
// in-attempt retries, classification of failures and redaction of secrets.
// It is safe for concurrent use.
type Client struct {
	baseURL   string
	connector string
	headers   http.Header
	auth      *auth
	opts      ClientOptions
	retry     *retryablehttp.Client
	redactor  secrets.Redactor
	now       func() time.Time
}

// Request is one HTTP request of a connector.
type Request struct {
	Method string // default GET
	// Path is an absolute URL, or a path joined to the connection's BaseURL.
	Path  string
	Query url.Values
	// Header overrides the connection's headers. If it already carries the
	// idempotency key under some name, no Idempotency-Key header is added:
	// that is how a connector whose API uses another header name says so.
	Header      http.Header
	Body        []byte
	ContentType string
	// IdempotencyKey is sent as Idempotency-Key on POST and PATCH, and lets
	// those requests be retried in-attempt (see KeyIgnored); without it
	// they never are.
	IdempotencyKey string
	// KeyIgnored says the partner does not deduplicate by IdempotencyKey
	// (the key is still sent). The request is then sent again within the
	// call after an answer that says the partner did nothing with it (429,
	// 503). After any other transient failure, which may follow a saved
	// effect (a dropped connection, a timeout, a 500 a partner may send
	// after its commit, a gateway's 502 or 504), it is sent again only if
	// BeforeResend is set and finds nothing. It is meant for POST and PATCH.
	KeyIgnored bool
	// BeforeResend, on a KeyIgnored request, looks for the effect the
	// request may have had (the record it creates). The client calls it
	// after a failure that may follow a saved effect, once its backoff has
	// passed and before it sends the request again; never before the first
	// send, nor once the call's retries are used up. found true ends the
	// call without sending again: Do returns an error that wraps
	// ErrFoundBeforeResend, and the connector answers with what its hook
	// found. An error ends the call too: Do returns it as it is. found
	// false lets the request go again.
	BeforeResend func(ctx context.Context) (found bool, err error)
}

// ErrFoundBeforeResend is wrapped by the error Client.Do returns when a
// Request's BeforeResend found the effect of the request, which was then
// not sent again. It is not a failure of the call: the connector that set
// the hook handles it and never returns it.
var ErrFoundBeforeResend = errors.New("the request's effect was found before resending it")

// Retry modes of a request within a call, for checkRetry.
const (
	retryNever    = iota // a POST or PATCH without a key
	retryAll             // reads, and writes the partner deduplicates by key
	retryRefusals        // writes of a partner that ignores the key (KeyIgnored)
)

// sending is the state of one Do across its tries, in the request's
// context for checkRetry and prepareRetry (retryablehttp tries one after
// another, never at once).
type sending struct {
	mode         int
	beforeResend func(ctx context.Context) (bool, error)
	// uncertain says the last try may have had an effect that the
	// partner's answer, if any, does not show: beforeResend runs before
	// the next.
	uncertain bool
}

// hookResult ends a call from prepareRetry: found, or BeforeResend's err.
type hookResult struct {
	err error
}

func (h *hookResult) Error() string {
	if h.err == nil {
		return ErrFoundBeforeResend.Error()
	}
	return h.err.Error()
}

// Response is a successful (2xx or 3xx) response, body read whole. Its
// header values and body are redacted of the connection's secrets, since a
// partner may echo the request (a Location or a `next` link repeating a
// query-string key, an echoed header): connectors put responses in step
// outputs, which Temporal keeps in workflow history.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// NewClient builds the client of one connection. resolve maps a secret
// reference to its value; every value it returns is registered with the
// client's redactor.
func NewClient(cfg ConnectionConfig, resolve func(ref string) (string, error), opts ClientOptions) (*Client, error) {
	if resolve == nil {
		resolve = secrets.Resolve
	}
	opts = opts.withDefaults()
	if cfg.Timeout > 0 {
		opts.Timeout = cfg.Timeout
	}
	c := &Client{baseURL: cfg.BaseURL, connector: cfg.Connector, headers: http.Header{}, opts: opts, now: time.Now}
	if secrets.IsRef(cfg.BaseURL) {
		// A URL that holds a secret (a Slack webhook path) is a reference
		// in the definition and in history, resolved only here.
		v, err := resolve(cfg.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("resolving base_url: %w", err)
		}
		c.redactor.Add(v)
		c.baseURL = v
	}
	if c.baseURL != "" {
		// Connectors that speak other protocols (smtp) read the base URL
		// themselves; the client only needs it for HTTP requests.
		if u, err := url.Parse(c.baseURL); err != nil || u.Host == "" {
			return nil, fmt.Errorf("base_url %q is not an absolute URL", c.Redact(c.baseURL))
		}
	}
	for k, v := range cfg.Headers {
		c.headers.Set(k, v)
	}

	base := baseTransport(opts)
	a, err := newAuth(cfg.Auth, resolve, &c.redactor, base, opts.Timeout)
	if err != nil {
		return nil, err
	}
	c.auth = a
	rt := base
	if a.tokens != nil {
		rt = &oauth2.Transport{Source: a.tokens, Base: base}
	}
	if opts.Metrics != nil || opts.Tracer != nil {
		rt = &observed{next: rt, c: c}
	}
	hc := &http.Client{
		// retryablehttp closes idle connections after every failed call;
		// hiding the method keeps one flaky partner from emptying the pool
		// that all connections share.
		Transport:     struct{ http.RoundTripper }{rt},
		Timeout:       opts.Timeout,
		CheckRedirect: c.checkRedirect,
	}
	c.retry = &retryablehttp.Client{
		HTTPClient:   hc,
		RetryWaitMin: opts.RetryWaitMin,
		RetryWaitMax: opts.RetryWaitMax,
		RetryMax:     opts.RetryMax,
		CheckRetry:   c.checkRetry,
		Backoff:      c.backoff,
		PrepareRetry: c.prepareRetry,
		// Hand back the last response or error as is; Do classifies it.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	if opts.Logger != nil {
		log := opts.Logger
		if cfg.Connector != "" {
			log = log.With("connector", cfg.Connector)
		}
		c.retry.Logger = slogAdapter{log: log, redact: c.Redact}
	}
	return c, nil
}

// Redact removes the connection's secret values from s.
func (c *Client) Redact(s string) string {
	return c.redactor.Redact(s)
}

type sendingKey struct{}

// Do sends r. Transient failures are retried a few times within the call;
// what remains is returned as an *Error, classified and redacted. A 2xx or
// 3xx answer is a Response whatever its body, redacted too.
func (c *Client) Do(ctx context.Context, r *Request) (*Response, error) {
	method := strings.ToUpper(cmp.Or(r.Method, http.MethodGet))
	u, err := c.url(r)
	if err != nil {
		return nil, c.fail(ctx, "invalid_request", false, 0, "%s %s: %v", method, r.Path, err)
	}
	shown := u.Redacted()

	var body any // nil, not an empty slice, so a GET sends no body
	switch {
	case len(r.Body) > 0:
		body = r.Body
	case r.KeyIgnored:
		// An empty body that is not http.NoBody, so that the transport
		// cannot replay the request (see below); a POST or PATCH then goes
		// out with an empty chunked body.
		body = []byte{}
	}
	mode := retryNever
	switch {
	case idempotent(method):
		mode = retryAll
	case r.KeyIgnored:
		mode = retryRefusals
	case r.IdempotencyKey != "":
		mode = retryAll
	}
	st := &sending{mode: mode}
	if mode == retryRefusals {
		st.beforeResend = r.BeforeResend
	}
	req, err := retryablehttp.NewRequestWithContext(context.WithValue(ctx, sendingKey{}, st), method, u.String(), body)
	if err != nil {
		return nil, c.fail(ctx, "invalid_request", false, 0, "%s %s: %v", method, shown, err)
	}
	if r.KeyIgnored {
		// net/http's Transport resends on its own a request with an
		// Idempotency-Key whose reused connection drops after the request
		// was written, if it can rewind the body; without GetBody it
		// cannot. (A 307 or 308 is then returned, not followed.)
		req.GetBody = nil
	}
	h := req.Header
	h.Set("User-Agent", "relay")
	for k, vs := range c.headers {
		h[k] = slices.Clone(vs)
	}
	for k, vs := range r.Header {
		h[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	if r.ContentType != "" {
		h.Set("Content-Type", r.ContentType)
	}
	if r.IdempotencyKey != "" && (method == http.MethodPost || method == http.MethodPatch) && !carries(h, r.IdempotencyKey) {
		h.Set("Idempotency-Key", r.IdempotencyKey)
	}
	c.auth.apply(h, r.Body)

	resp, err := c.retry.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		if hr, ok := errors.AsType[*hookResult](err); ok {
			if hr.err != nil {
				return nil, hr.err
			}
			return nil, fmt.Errorf("%s %s: %w", method, shown, ErrFoundBeforeResend)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL
		}
		typ, retryable := classifyFailure(err)
		var tokenErr *oauth2.RetrieveError
		if errors.As(err, &tokenErr) {
			err = fmt.Errorf("fetching OAuth2 token: %w", err)
		}
		return nil, c.fail(ctx, typ, retryable, 0, "%s %s: %v", method, shown, err)
	}
	defer resp.Body.Close()

	typ, retryable, failed := classifyStatus(resp.StatusCode)
	if failed {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		msg := fmt.Sprintf("%s %s: %s", method, shown, resp.Status)
		if s := c.snippet(snippet); s != "" {
			msg += ": " + s
		}
		var wait time.Duration
		if retryable {
			var asked bool
			if wait, asked = retryAfter(resp.Header, c.now()); asked && c.opts.Metrics != nil {
				c.opts.Metrics.ConnectorRetryAfter(c.connector, wait)
			}
		}
		e := c.fail(ctx, typ, retryable, wait, "%s", msg)
		e.Status = resp.StatusCode
		e.Body = []byte(c.Redact(string(snippet)))
		return nil, e
	}

	b, err := c.readBody(resp)
	if err != nil {
		typ, retryable := classifyError(err)
		if errors.Is(err, errResponseTooLarge) {
			err = fmt.Errorf("response body exceeds %d bytes", c.opts.MaxResponseBytes)
		}
		e := c.fail(ctx, typ, retryable, 0, "%s %s: reading response: %v", method, shown, err)
		e.Status = resp.StatusCode
		return nil, e
	}
	return &Response{Status: resp.StatusCode, Header: c.redactHeader(resp.Header), Body: c.redactBytes(b)}, nil
}

// redactHeader redacts every value of h in place and returns it.
func (c *Client) redactHeader(h http.Header) http.Header {
	for _, vs := range h {
		for i, v := range vs {
			vs[i] = c.Redact(v)
		}
	}
	return h
}

// redactBytes returns b redacted; b itself when it holds no secret.
func (c *Client) redactBytes(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	if r := c.Redact(string(b)); r != string(b) {
		return []byte(r)
	}
	return b
}

// fail builds a redacted *Error. Unless the partner answered with a
// failure status, an ended caller's context is the error's cause and
// decides its type.
func (c *Client) fail(ctx context.Context, typ string, retryable bool, wait time.Duration, format string, args ...any) *Error {
	e := &Error{Type: typ, Retryable: retryable, RetryAfter: wait, Message: c.Redact(fmt.Sprintf(format, args...))}
	if err := ctx.Err(); err != nil && !strings.HasPrefix(typ, "http.") {
		e.cause = err
		e.Type, e.Retryable = classifyError(err)
	}
	return e
}

func (c *Client) url(r *Request) (*url.URL, error) {
	raw := r.Path
	if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		if c.baseURL == "" {
			return nil, fmt.Errorf("path %q is not an absolute URL and the connection has no base_url", raw)
		}
		raw = c.baseURL
		if r.Path != "" {
			raw = strings.TrimRight(raw, "/") + "/" + strings.TrimLeft(r.Path, "/")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Host == "" {
		return nil, fmt.Errorf("URL %q has no host", raw)
	}
	if len(r.Query) > 0 || len(c.auth.query) > 0 {
		q := u.Query()
		for k, vs := range r.Query {
			q[k] = append(q[k], vs...)
		}
		for k, vs := range c.auth.query {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	return u, nil
}

func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	limit := c.opts.MaxResponseBytes
	if resp.ContentLength > limit {
		return nil, errResponseTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errResponseTooLarge
	}
	return b, nil
}

// snippet is the start of an error body, redacted before it is cut so a
// secret straddling the cut cannot leak in part.
func (c *Client) snippet(b []byte) string {
	return clipTo(strings.TrimSpace(c.Redact(strings.ToValidUTF8(string(b), "\uFFFD"))), errorSnippetBytes)
}

// checkRetry is retryablehttp's policy: retry what the classification
// calls transient, when the request is safe to repeat, unless the partner
// asks for a wait longer than RetryAfterCap.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	st, _ := ctx.Value(sendingKey{}).(*sending)
	if st == nil || st.mode == retryNever {
		return false, nil
	}
	st.uncertain = false
	if err != nil {
		_, retryable := classifyFailure(err)
		if !retryable {
			return false, nil
		}
		if st.mode == retryRefusals {
			// The request may have reached the partner, which may have
			// saved what it asked before the connection dropped.
			st.uncertain = true
			return st.beforeResend != nil, nil
		}
		return true, nil
	}
	if _, retryable, failed := classifyStatus(resp.StatusCode); !failed || !retryable {
		return false, nil
	}
	if st.mode == retryRefusals && !refusedUnprocessed(resp.StatusCode) {
		if st.beforeResend == nil {
			return false, nil
		}
		st.uncertain = true
	}
	if wait, ok := retryAfter(resp.Header, c.now()); ok && wait > c.opts.RetryAfterCap {
		return false, nil
	}
	return true, nil
}

// prepareRetry runs after the backoff, right before a retry: a try that
// may have had an effect is followed by the request's BeforeResend, which
// may end the call instead. It counts the retries that do go out.
func (c *Client) prepareRetry(req *http.Request) error {
	if st, _ := req.Context().Value(sendingKey{}).(*sending); st != nil && st.uncertain {
		found, err := st.beforeResend(req.Context())
		if err != nil || found {
			return &hookResult{err: err}
		}
	}
	if c.opts.Metrics != nil {
		c.opts.Metrics.ConnectorRetry(c.connector, "http")
	}
	return nil
}

// refusedUnprocessed reports whether a failed answer says the partner did
// nothing with the request: rate limited or unavailable. A 500 may come
// after the partner saved it (ERPNext rolls a failed request back, but may
// fail after its commit), and so may a gateway's 502 or 504.
func refusedUnprocessed(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	}
	return false
}

// backoff waits what Retry-After asks (checkRetry has capped it), or an
// exponential delay from min, capped at max, with the upper half jittered.
func (c *Client) backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if wait, ok := retryAfter(resp.Header, c.now()); ok {
			if c.opts.Metrics != nil {
				c.opts.Metrics.ConnectorRetryAfter(c.connector, wait)
			}
			return min(wait, c.opts.RetryAfterCap)
		}
	}
	wait := maxWait
	if attempt < 30 {
		wait = min(minWait<<attempt, maxWait)
	}
	half := wait / 2
	return half + rand.N(half+1)
}

// checkRedirect follows up to 10 redirects. It does not follow an
// authenticated request to another host, nor from https to http: the 3xx
// is returned instead, so credentials never reach a host the connection
// does not name, nor cross the network in the clear. A followed
// redirect carries no Referer, which net/http would set to the previous
// URL, path and query included: a secret base_url (a webhook URL) or a
// signed query would reach the redirect's target.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errTooManyRedirects
	}
	if via[0].Header.Get("Referer") == "" {
		req.Header.Del("Referer")
	}
	if c.auth.any() && leavesOrigin(req, via) {
		return http.ErrUseLastResponse
	}
	return nil
}

// leavesOrigin reports whether the redirect req goes to another host than
// the first request of via, or from https to http.
func leavesOrigin(req *http.Request, via []*http.Request) bool {
	downgrade := via[0].URL.Scheme == "https" && req.URL.Scheme != "https"
	return req.URL.Host != via[0].URL.Host || downgrade
}

// tokenRedirect is the redirect policy of OAuth2 token requests, which
// carry the client secret (in the Authorization header or the form, both
// resent on a 307 or 308): like checkRedirect for an authenticated call,
// it follows none to another host or from https to http.
func tokenRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errTooManyRedirects
	}
	if leavesOrigin(req, via) {
		return errTokenRedirect
	}
	return nil
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// carries reports whether any header already holds value.
func carries(h http.Header, value string) bool {
	for _, vs := range h {
		for _, v := range vs {
			if v == value {
				return true
			}
		}
	}
	return false
}

// observed records each try of a client: its status class in the metrics,
// and a client span whose context travels to the partner as `traceparent`.
type observed struct {
	next http.RoundTripper
	c    *Client
}

func (o *observed) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	action, _ := ctx.Value(actionKey{}).(string)
	var span trace.Span
	if o.c.opts.Tracer != nil {
		ctx, span = o.c.opts.Tracer.Start(ctx, "HTTP "+req.Method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("http.request.method", req.Method),
			attribute.String("server.address", req.URL.Host),
			attribute.String("url.path", o.c.Redact(req.URL.Path)),
			attribute.String("relay.connector", o.c.connector),
			attribute.String("relay.action", action),
		))
		defer span.End()
		// A RoundTripper must not change the caller's request.
		req = req.Clone(ctx)
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	resp, err := o.next.RoundTrip(req)
	class := ""
	if err != nil {
		switch typ, _ := classifyFailure(err); typ {
		case "timeout", "canceled":
			class = typ
		default:
			class = "network"
		}
		if span != nil {
			span.SetStatus(codes.Error, o.c.Redact(err.Error()))
		}
	} else {
		class = strconv.Itoa(resp.StatusCode/100) + "xx"
		if span != nil {
			span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
			if resp.StatusCode >= 400 {
				span.SetStatus(codes.Error, resp.Status)
			}
		}
	}
	if o.c.opts.Metrics != nil {
		o.c.opts.Metrics.ConnectorRequest(o.c.connector, action, class)
	}
	return resp, err
}
