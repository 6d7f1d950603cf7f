package connectors

import (
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/hashicorp/go-cleanhttp"

	"github.com/relay-dev/relay/netguard"
)

// ErrorTypeEgressDenied is the error type of a call the network policy
// refused (ClientOptions.NetPolicy). Another attempt cannot succeed.
const ErrorTypeEgressDenied = "egress_denied"

// guardedTransports holds one pooled transport per policy.
var guardedTransports sync.Map // *netguard.Policy → *http.Transport

// guardedTransport returns the pooled transport that dials through p. It
// ignores proxy environment variables: through a proxy the policy would
// only ever see the proxy's address.
func guardedTransport(p *netguard.Policy) *http.Transport {
	if t, ok := guardedTransports.Load(p); ok {
		return t.(*http.Transport)
	}
	t := cleanhttp.DefaultPooledTransport()
	t.Proxy = nil
	t.DialContext = p.DialContext
	actual, loaded := guardedTransports.LoadOrStore(p, t)
	if loaded {
		t.CloseIdleConnections()
	}
	return actual.(*http.Transport)
}

// baseTransport is the transport under a client's auth and retries.
func baseTransport(opts ClientOptions) http.RoundTripper {
	switch {
	case opts.HTTPClient != nil && opts.HTTPClient.Transport != nil:
		return opts.HTTPClient.Transport
	case opts.NetPolicy != nil:
		return guardedTransport(opts.NetPolicy)
	}
	return sharedTransport()
}

// classifyFailure is classifyError, with refusals of the network policy
// made permanent.
func classifyFailure(err error) (typ string, retryable bool) {
	if netguard.IsRefused(err) {
		return ErrorTypeEgressDenied, false
	}
	return classifyError(err)
}

// DialContext opens a connection under the client's network policy, for
// connectors that speak protocols other than HTTP (smtp). A refusal is an
// error for which netguard.IsRefused reports true; such a connector should
// report it as ErrorTypeEgressDenied, permanent. A Client built without
// NetPolicy dials without a policy.
func (c *Client) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return c.opts.NetPolicy.DialContext(ctx, network, address)
}
