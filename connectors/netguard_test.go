package connectors

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relay-dev/relay/netguard"
)

// Every refused address below is refused before a socket connects; the
// only connections made go to httptest servers on 127.0.0.1.

func TestNetPolicy(t *testing.T) {
	srv := newServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name    string
		policy  *netguard.Policy
		refused string
	}{
		{"no policy", nil, ""},
		{"private refused", &netguard.Policy{}, host + ": loopback address"},
		{"private allowed", &netguard.Policy{AllowPrivate: true}, ""},
		{"listed", &netguard.Policy{Allow: []string{host}}, ""},
		{"not listed", &netguard.Policy{Allow: []string{"api.example.com"}, AllowPrivate: true}, host + ": not in the allowlist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.requests())
			opts := fastOptions()
			opts.NetPolicy = tc.policy
			c := newTestClient(t, ConnectionConfig{BaseURL: srv.URL}, opts, nil)
			resp, err := c.Do(context.Background(), &Request{Path: "/things"})
			if tc.refused == "" {
				if err != nil || resp.Status != http.StatusOK {
					t.Fatalf("Do: %v", err)
				}
				return
			}
			ce, ok := AsError(err)
			if !ok {
				t.Fatalf("Do: %v, want a refusal", err)
			}
			if ce.Type != ErrorTypeEgressDenied || ce.Retryable || !strings.Contains(ce.Message, tc.refused) {
				t.Errorf("error %+v: want type %s, not retryable, message containing %q", ce, ErrorTypeEgressDenied, tc.refused)
			}
			if n := len(srv.requests()) - before; n != 0 {
				t.Errorf("server saw %d requests, want none", n)
			}
		})
	}
}

func TestNetPolicyRedirect(t *testing.T) {
	target := newServer(t)
	targetHost := strings.TrimPrefix(target.URL, "http://")
	for _, tc := range []struct{ location, refused string }{
		{target.URL + "/internal", targetHost + ": not in the allowlist"},
		{"http://169.254.169.254/latest/meta-data/", "169.254.169.254:80: not in the allowlist"},
	} {
		origin := newServer(t, reply{status: http.StatusFound, header: map[string]string{"Location": tc.location}})
		opts := fastOptions()
		opts.NetPolicy = &netguard.Policy{Allow: []string{strings.TrimPrefix(origin.URL, "http://")}}
		c := newTestClient(t, ConnectionConfig{BaseURL: origin.URL}, opts, nil)
		_, err := c.Do(context.Background(), &Request{Path: "/start"})
		ce, ok := AsError(err)
		if !ok || ce.Type != ErrorTypeEgressDenied || !strings.Contains(ce.Message, tc.refused) {
			t.Errorf("redirect to %s: error %v, want %s containing %q", tc.location, err, ErrorTypeEgressDenied, tc.refused)
		}
		if n := len(origin.requests()); n != 1 {
			t.Errorf("origin saw %d requests, want 1 (a refusal is not retried)", n)
		}
	}
	if n := len(target.requests()); n != 0 {
		t.Errorf("redirect target saw %d requests, want none", n)
	}
}

func TestNetPolicyTransportPerPolicy(t *testing.T) {
	p, q := &netguard.Policy{}, &netguard.Policy{AllowPrivate: true}
	first, again := guardedTransport(p), guardedTransport(p)
	if first != again {
		t.Error("one policy got two transports")
	}
	if guardedTransport(p) == guardedTransport(q) {
		t.Error("two policies share a transport")
	}
	if guardedTransport(p).Proxy != nil {
		t.Error("a guarded transport uses a proxy")
	}
}

func TestClientDialContext(t *testing.T) {
	srv := newServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	opts := fastOptions()
	opts.NetPolicy = &netguard.Policy{}
	c := newTestClient(t, ConnectionConfig{}, opts, nil)
	if conn, err := c.DialContext(ctx, "tcp", host); err == nil {
		conn.Close()
		t.Errorf("dial %s under a policy refusing loopback connected", host)
	} else if !netguard.IsRefused(err) {
		t.Errorf("dial %s: %v, want a refusal", host, err)
	}

	c = newTestClient(t, ConnectionConfig{}, fastOptions(), nil)
	conn, err := c.DialContext(ctx, "tcp", host)
	if err != nil {
		t.Fatalf("dial without policy: %v", err)
	}
	conn.Close()
}
