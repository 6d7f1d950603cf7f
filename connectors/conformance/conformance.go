// Package conformance is the test suite every HTTP connector runs: its spec
// is sane, its auth reaches the partner, transient answers are retryable
// (429 with Retry-After, 5xx, timeouts), permanent ones are not, requests
// that change state carry a stable idempotency key, and secrets never show
// in errors. A connector's test calls Run with one Case per action.
package conformance

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relay-dev/relay/connectors"
)

// Case says how to call one action.
type Case struct {
	Action string
	// Params are valid parameters for the action.
	Params map[string]any
	// Response is the partner's JSON answer on success (default `{}`).
	Response string
	// Mutating marks a call that changes state: it must send the call's
	// idempotency key.
	Mutating bool
}

// Suite describes a connector under test.
type Suite struct {
	Connector *connectors.Connector
	// Auth is the connection's auth; its secret references all resolve to
	// Secret.
	Auth   *connectors.AuthConfig
	Secret string
	// IdempotencyHeader is where the key travels (default Idempotency-Key).
	IdempotencyHeader string
	Cases             []Case
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

var paramTypes = map[string]bool{"string": true, "number": true, "integer": true, "boolean": true, "object": true, "array": true, "any": true}

// Run runs the suite.
func Run(t *testing.T, s Suite) {
	t.Helper()
	c := s.Connector
	t.Run("spec", func(t *testing.T) { checkSpec(t, s) })
	for _, tc := range s.Cases {
		a := c.Action(tc.Action)
		if a == nil {
			t.Errorf("case for unknown action %q", tc.Action)
			continue
		}
		t.Run(tc.Action, func(t *testing.T) {
			t.Run("ok", func(t *testing.T) {
				p := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) { ok(w, tc) })
				if _, err := s.call(t, p, a, tc); err != nil {
					t.Fatalf("call against a partner that answers 200: %v", err)
				}
				req := p.first()
				if s.Auth != nil && s.Secret != "" && !req.carries(s.Secret) {
					t.Errorf("the request carries no credential (auth %s)", s.Auth.Kind)
				}
				if tc.Mutating && req.header.Get(s.idemHeader()) == "" {
					t.Errorf("a state-changing call sent no %s header", s.idemHeader())
				}
			})
			t.Run("rate limited", func(t *testing.T) {
				p := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) {
					w.Header().Set("Retry-After", "120")
					w.WriteHeader(http.StatusTooManyRequests)
				})
				_, err := s.call(t, p, a, tc)
				ce := classified(t, err)
				if !ce.Retryable || ce.RetryAfter != 120*time.Second || ce.Type != "http.429" {
					t.Errorf("429 with Retry-After 120 gave %+v, want retryable http.429 with RetryAfter 120s", ce)
				}
			})
			t.Run("server error", func(t *testing.T) {
				p := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusBadGateway) })
				_, err := s.call(t, p, a, tc)
				if ce := classified(t, err); !ce.Retryable {
					t.Errorf("502 gave a non-retryable error %+v", ce)
				}
			})
			t.Run("permanent", func(t *testing.T) {
				p := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) {
					w.WriteHeader(http.StatusUnprocessableEntity)
					_, _ = io.WriteString(w, `{"error":{"message":"invalid"}}`)
				})
				_, err := s.call(t, p, a, tc)
				if ce := classified(t, err); ce.Retryable || !strings.Contains(ce.Type, "422") {
					t.Errorf("422 gave %+v, want a non-retryable error whose type names 422", ce)
				}
				if p.count() != 1 {
					t.Errorf("a 422 was retried: %d requests", p.count())
				}
			})
			t.Run("timeout", func(t *testing.T) {
				p := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) {
					select {
					case <-r.Context().Done():
					case <-time.After(5 * time.Second):
					}
				})
				_, err := s.call(t, p, a, tc)
				if ce := classified(t, err); !ce.Retryable {
					t.Errorf("a timeout gave a non-retryable error %+v", ce)
				}
			})
			if tc.Mutating {
				t.Run("idempotency key stable across retries", func(t *testing.T) {
					p := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) {
						if n == 1 {
							w.WriteHeader(http.StatusServiceUnavailable)
							return
						}
						ok(w, tc)
					})
					if _, err := s.call(t, p, a, tc); err != nil {
						t.Fatalf("503 then 200: %v", err)
					}
					keys := p.headers(s.idemHeader())
					if len(keys) != 2 || keys[0] != keys[1] || keys[0] == "" {
						t.Errorf("idempotency keys across a retry = %q, want the same key twice", keys)
					}
				})
			}
			if s.Secret != "" {
				t.Run("secrets redacted", func(t *testing.T) {
					p := newPartner(t, func(w http.ResponseWriter, r *http.Request, n int) {
						w.WriteHeader(http.StatusBadRequest)
						fmt.Fprintf(w, `{"echo":%q,"query":%q}`, r.Header, r.URL.RawQuery)
					})
					_, err := s.call(t, p, a, tc)
					if err == nil {
						t.Fatal("a 400 gave no error")
					}
					for _, form := range []string{s.Secret, base64.StdEncoding.EncodeToString([]byte(s.Secret))} {
						if strings.Contains(err.Error(), form) {
							t.Errorf("the error shows the secret: %v", err)
						}
					}
				})
			}
		})
	}
}

func (s Suite) idemHeader() string {
	if s.IdempotencyHeader != "" {
		return s.IdempotencyHeader
	}
	return "Idempotency-Key"
}

func checkSpec(t *testing.T, s Suite) {
	c := s.Connector
	if !nameRE.MatchString(c.Name) {
		t.Errorf("connector name %q: want lowercase letters, digits and _", c.Name)
	}
	if c.Summary == "" {
		t.Errorf("connector %s has no summary", c.Name)
	}
	covered := map[string]bool{}
	for _, tc := range s.Cases {
		covered[tc.Action] = true
	}
	for _, a := range c.Actions {
		if !nameRE.MatchString(a.Name) {
			t.Errorf("action name %q: want lowercase letters, digits and _", a.Name)
		}
		if a.Summary == "" {
			t.Errorf("action %s has no summary", a.Name)
		}
		if !covered[a.Name] {
			t.Errorf("action %s has no conformance case", a.Name)
		}
		seen := map[string]bool{}
		for _, p := range a.Params {
			if p.Name == "" || seen[p.Name] {
				t.Errorf("action %s: empty or duplicate param %q", a.Name, p.Name)
			}
			seen[p.Name] = true
			if !paramTypes[p.Type] {
				t.Errorf("action %s param %s: unknown type %q", a.Name, p.Name, p.Type)
			}
			if p.Required && p.Default != nil {
				t.Errorf("action %s param %s is required and has a default", a.Name, p.Name)
			}
		}
	}
}

// call runs the action against the partner with small retry waits.
func (s Suite) call(t *testing.T, p *partner, a *connectors.Action, tc Case) (any, error) {
	t.Helper()
	cfg := connectors.ConnectionConfig{Connector: s.Connector.Name, BaseURL: p.URL, Auth: s.Auth, Timeout: 300 * time.Millisecond}
	client, err := connectors.NewClient(cfg, func(ref string) (string, error) { return s.Secret, nil }, connectors.ClientOptions{
		RetryMax: 1, RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond, RetryAfterCap: time.Second,
	})
	if err != nil {
		t.Fatalf("building client: %v", err)
	}
	params, err := connectors.ParamDefaults(a, tc.Params)
	if err != nil {
		t.Fatalf("case params: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.Do(ctx, &connectors.Call{Connection: "conformance", Config: cfg, Client: client, Params: params, IdempotencyKey: "relay-conformance-key-1"})
}

func classified(t *testing.T, err error) *connectors.Error {
	t.Helper()
	if err == nil {
		t.Fatal("call succeeded, want an error")
	}
	ce, ok := connectors.AsError(err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *connectors.Error", err, err)
	}
	return ce
}

func ok(w http.ResponseWriter, tc Case) {
	w.Header().Set("Content-Type", "application/json")
	body := tc.Response
	if body == "" {
		body = "{}"
	}
	_, _ = io.WriteString(w, body)
}

// partner is a test server that records requests.
type partner struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

type seen struct {
	header http.Header
	query  string
	body   string
}

func (s seen) carries(secret string) bool {
	all := fmt.Sprint(s.header) + s.query + s.body
	return strings.Contains(all, secret) || strings.Contains(all, base64.StdEncoding.EncodeToString([]byte(secret))) ||
		strings.Contains(fmt.Sprint(s.header), "Basic ") || strings.Contains(fmt.Sprint(s.header), "Signature")
}

func newPartner(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) *partner {
	p := &partner{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.reqs = append(p.reqs, seen{header: r.Header.Clone(), query: r.URL.RawQuery, body: string(body)})
		n := len(p.reqs)
		p.mu.Unlock()
		answer(w, r, n)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *partner) first() seen {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reqs) == 0 {
		return seen{header: http.Header{}}
	}
	return p.reqs[0]
}

func (p *partner) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.reqs)
}

func (p *partner) headers(name string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, r := range p.reqs {
		out = append(out, r.header.Get(name))
	}
	return out
}
