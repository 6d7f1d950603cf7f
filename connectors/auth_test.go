package connectors

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/relay-dev/relay/secrets"
)

func TestAuthSeenByServer(t *testing.T) {
	secretValues := map[string]string{"env:KEY": "k-123", "env:TOKEN": "t-456", "env:PASS": "p-789", "env:HMAC": "h-000"}
	body := []byte(`{"order":"A-1"}`)
	mac := hmac.New(sha256.New, []byte("h-000"))
	mac.Write(body)
	signature := hex.EncodeToString(mac.Sum(nil))

	tests := []struct {
		name       string
		auth       *AuthConfig
		headers    map[string]string
		wantHeader map[string]string
		wantQuery  string
	}{
		{name: "api key default header", auth: &AuthConfig{Kind: AuthAPIKey, Key: "env:KEY"}, wantHeader: map[string]string{"X-API-Key": "k-123"}},
		{name: "api key named header", auth: &AuthConfig{Kind: AuthAPIKey, In: "header", Name: "X-Shop-Token", Key: "env:KEY"}, wantHeader: map[string]string{"X-Shop-Token": "k-123"}},
		{name: "api key query", auth: &AuthConfig{Kind: AuthAPIKey, In: "query", Name: "apikey", Key: "env:KEY"}, wantQuery: "apikey=k-123"},
		{name: "api key query default name", auth: &AuthConfig{Kind: AuthAPIKey, In: "query", Key: "env:KEY"}, wantQuery: "api_key=k-123"},
		{name: "bearer", auth: &AuthConfig{Kind: AuthBearer, Token: "env:TOKEN"}, wantHeader: map[string]string{"Authorization": "Bearer t-456"}},
		{
			name: "basic", auth: &AuthConfig{Kind: AuthBasic, Username: "shop", Password: "env:PASS"},
			wantHeader: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("shop:p-789"))},
		},
		{name: "hmac default header", auth: &AuthConfig{Kind: AuthHMAC, Secret: "env:HMAC"}, wantHeader: map[string]string{"X-Signature": signature}},
		{name: "hmac named header", auth: &AuthConfig{Kind: AuthHMAC, Secret: "env:HMAC", Header: "X-Hub-Signature"}, wantHeader: map[string]string{"X-Hub-Signature": signature}},
		{
			name: "connection headers, auth wins", auth: &AuthConfig{Kind: AuthBearer, Token: "env:TOKEN"},
			headers:    map[string]string{"X-Tenant": "acme", "Authorization": "nope"},
			wantHeader: map[string]string{"X-Tenant": "acme", "Authorization": "Bearer t-456"},
		},
		{name: "no auth", headers: map[string]string{"Accept": "application/json"}, wantHeader: map[string]string{"Accept": "application/json", "Authorization": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			c := newTestClient(t, ConnectionConfig{BaseURL: srv.URL, Auth: tt.auth, Headers: tt.headers}, fastOptions(), secretValues)
			if _, err := c.Do(context.Background(), &Request{Method: "PUT", Path: "/orders/A-1", Body: body, ContentType: "application/json"}); err != nil {
				t.Fatalf("Do: %v", err)
			}
			got := srv.requests()[0]
			for k, want := range tt.wantHeader {
				if v := got.header.Get(k); v != want {
					t.Errorf("header %s = %q, want %q", k, v, want)
				}
			}
			if got.query != tt.wantQuery {
				t.Errorf("query = %q, want %q", got.query, tt.wantQuery)
			}
			if string(got.body) != string(body) || got.header.Get("Content-Type") != "application/json" {
				t.Errorf("body %q with type %q, want %q as application/json", got.body, got.header.Get("Content-Type"), body)
			}
		})
	}
}

// oauthServers returns a token endpoint that counts token requests and an
// API that accepts only the token it issued.
func oauthServers(t *testing.T, tokenStatus int) (tokenURL string, tokens *atomic.Int32, api *server) {
	t.Helper()
	tokens = new(atomic.Int32)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := tokens.Add(1)
		id, secret, ok := r.BasicAuth()
		if !ok {
			r.ParseForm()
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if tokenStatus != http.StatusOK || id != "relay" || secret != "cs-secret" || r.PostFormValue("grant_type") != "client_credentials" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(cmpOr(tokenStatus, http.StatusUnauthorized))
			fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad secret cs-secret"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"Bearer","expires_in":3600,"scope":%q}`, n, r.PostFormValue("scope"))
	}))
	t.Cleanup(ts.Close)
	api = newServer(t)
	return ts.URL + "/oauth/token", tokens, api
}

func cmpOr(a, b int) int {
	if a != http.StatusOK {
		return a
	}
	return b
}

func TestOAuth2ClientCredentials(t *testing.T) {
	tokenURL, tokens, api := oauthServers(t, http.StatusOK)
	cfg := ConnectionConfig{BaseURL: api.URL, Auth: &AuthConfig{
		Kind: AuthOAuth2, TokenURL: tokenURL, ClientID: "relay", ClientSecret: "env:CS", Scopes: []string{"orders", "invoices"},
	}}
	c := newTestClient(t, cfg, fastOptions(), map[string]string{"env:CS": "cs-secret"})
	for i := range 3 {
		if _, err := c.Do(context.Background(), &Request{Path: "/orders"}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := tokens.Load(); n != 1 {
		t.Errorf("token endpoint called %d times, want 1 (token reused)", n)
	}
	for i, h := range api.requests() {
		if got := h.header.Get("Authorization"); got != "Bearer at-1" {
			t.Errorf("call %d: Authorization = %q, want Bearer at-1", i, got)
		}
	}
	if got := c.Redact("token at-1 leaked"); got != "token [REDACTED] leaked" {
		t.Errorf("access token not registered with the redactor: %q", got)
	}
}

func TestOAuth2TokenErrors(t *testing.T) {
	tests := []struct {
		name         string
		tokenStatus  int
		clientSecret string
		wantType     string
		wantRetry    bool
		wantTokenReq int32
	}{
		// x/oauth2 detects the endpoint's auth style by trying the header,
		// then the form: two token requests per try.
		{name: "wrong secret not retried", tokenStatus: http.StatusOK, clientSecret: "cs-wrong", wantType: "oauth2.401", wantTokenReq: 2},
		{name: "token endpoint down retried", tokenStatus: http.StatusServiceUnavailable, clientSecret: "cs-secret", wantType: "oauth2.503", wantRetry: true, wantTokenReq: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokenURL, tokens, api := oauthServers(t, tt.tokenStatus)
			cfg := ConnectionConfig{BaseURL: api.URL, Auth: &AuthConfig{Kind: AuthOAuth2, TokenURL: tokenURL, ClientID: "relay", ClientSecret: "env:CS"}}
			c := newTestClient(t, cfg, fastOptions(), map[string]string{"env:CS": tt.clientSecret})
			_, err := c.Do(context.Background(), &Request{Path: "/orders"})
			ce, ok := AsError(err)
			if !ok || ce.Type != tt.wantType || ce.Retryable != tt.wantRetry {
				t.Fatalf("Do error = %#v, want %s retryable=%v", err, tt.wantType, tt.wantRetry)
			}
			if strings.Contains(ce.Message, tt.clientSecret) {
				t.Errorf("message holds the client secret: %s", ce.Message)
			}
			if n := tokens.Load(); n != tt.wantTokenReq {
				t.Errorf("token endpoint called %d times, want %d", n, tt.wantTokenReq)
			}
			if n := len(api.requests()); n != 0 {
				t.Errorf("API called %d times without a token", n)
			}
		})
	}
}

// TestOAuth2TokenErrorInSuccess: some token endpoints refuse with a 200
// whose body is an OAuth2 error. That is a permanent oauth2.<error>, not a
// panic, and the API is not called.
func TestOAuth2TokenErrorInSuccess(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		wantType    string
	}{
		{name: "JSON error", contentType: "application/json", body: `{"error":"invalid_client","error_description":"unknown client cs-secret"}`, wantType: "oauth2.invalid_client"},
		{name: "form error", contentType: "text/plain", body: "error=unauthorized_client", wantType: "oauth2.unauthorized_client"},
		{name: "error unfit for a type", contentType: "application/json", body: `{"error":"no such client!"}`, wantType: "oauth2.invalid_response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens := new(atomic.Int32)
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tokens.Add(1)
				w.Header().Set("Content-Type", tt.contentType)
				io.WriteString(w, tt.body)
			}))
			t.Cleanup(ts.Close)
			api := newServer(t)
			cfg := ConnectionConfig{BaseURL: api.URL, Auth: &AuthConfig{Kind: AuthOAuth2, TokenURL: ts.URL + "/oauth/token", ClientID: "relay", ClientSecret: "env:CS"}}
			c := newTestClient(t, cfg, fastOptions(), map[string]string{"env:CS": "cs-secret"})
			_, err := c.Do(context.Background(), &Request{Path: "/orders"})
			ce, ok := AsError(err)
			if !ok || ce.Type != tt.wantType || ce.Retryable {
				t.Fatalf("Do error = %#v, want permanent %s", err, tt.wantType)
			}
			if strings.Contains(ce.Message, "cs-secret") {
				t.Errorf("message holds the client secret: %s", ce.Message)
			}
			if n := tokens.Load(); n == 0 || n > 2 {
				t.Errorf("token endpoint called %d times, want 1 or 2 (one try, both auth styles)", n)
			}
			if n := len(api.requests()); n != 0 {
				t.Errorf("API called %d times without a token", n)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	other := newServer(t)
	same := 0
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/elsewhere":
			http.Redirect(w, r, other.URL+"/landing", http.StatusFound)
		case "/moved":
			same++
			http.Redirect(w, r, "/here", http.StatusMovedPermanently)
		default:
			w.Write([]byte(r.Header.Get("X-API-Key")))
		}
	}))
	t.Cleanup(origin.Close)

	tests := []struct {
		name       string
		auth       *AuthConfig
		path       string
		wantStatus int
		wantOther  int
		wantBody   string
	}{
		// The key, echoed after the redirect, comes back redacted.
		{name: "same host followed with auth", auth: &AuthConfig{Kind: AuthAPIKey, Key: "env:K"}, path: "/moved", wantStatus: 200, wantBody: secrets.Placeholder},
		{name: "other host not followed with auth", auth: &AuthConfig{Kind: AuthAPIKey, Key: "env:K"}, path: "/elsewhere", wantStatus: 302},
		{name: "other host followed without auth", path: "/elsewhere", wantStatus: 200, wantOther: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(other.requests())
			c := newTestClient(t, ConnectionConfig{BaseURL: origin.URL, Auth: tt.auth}, fastOptions(), map[string]string{"env:K": "k-1"})
			resp, err := c.Do(context.Background(), &Request{Path: tt.path})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if resp.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.Status, tt.wantStatus)
			}
			if tt.wantBody != "" && string(resp.Body) != tt.wantBody {
				t.Errorf("body = %q, want %q", resp.Body, tt.wantBody)
			}
			if n := len(other.requests()) - before; n != tt.wantOther {
				t.Errorf("other host saw %d requests, want %d", n, tt.wantOther)
			}
		})
	}
}

// TestRedirectsSendNoReferer: net/http sets a followed redirect's Referer to
// the previous URL, path and query included, which leaked a secret
// base_url (a Slack webhook URL) to whatever host the partner redirected to.
func TestRedirectsSendNoReferer(t *testing.T) {
	other := newServer(t)
	origin := newServer(t, reply{status: http.StatusFound, header: map[string]string{"Location": other.URL + "/landing"}})
	hook := origin.URL + "/services/T0/B0/hook-s3cr3t"

	tests := []struct {
		name    string
		baseURL string
		path    string
	}{
		{name: "secret base_url", baseURL: "env:HOOK"},
		{name: "query in the path", baseURL: origin.URL, path: "/export?sig=hook-s3cr3t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(other.requests())
			c := newTestClient(t, ConnectionConfig{BaseURL: tt.baseURL}, fastOptions(), map[string]string{"env:HOOK": hook})
			resp, err := c.Do(context.Background(), &Request{Method: http.MethodGet, Path: tt.path})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if resp.Status != http.StatusOK {
				t.Fatalf("status = %d, want 200 after the redirect", resp.Status)
			}
			hits := other.requests()[before:]
			if len(hits) != 1 {
				t.Fatalf("other host saw %d requests, want 1", len(hits))
			}
			if ref := hits[0].header.Get("Referer"); ref != "" {
				t.Errorf("other host got Referer %q, want none", ref)
			}
		})
	}
}

// TestRedirectDowngrade: a same-host redirect from https to http was
// followed with the connection's credentials, which then crossed the
// network in the clear. Both legs name the host example.com; the transport
// dials port 443 to a TLS listener and port 80 to a plain one.
func TestRedirectDowngrade(t *testing.T) {
	plain := newServer(t)
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.com/landing", http.StatusFound)
	}))
	t.Cleanup(secure.Close)
	tr := secure.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		target := plain.Listener.Addr().String()
		if strings.HasSuffix(addr, ":443") {
			target = secure.Listener.Addr().String()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, target)
	}
	opts := fastOptions()
	opts.HTTPClient = &http.Client{Transport: tr}

	tests := []struct {
		name       string
		auth       *AuthConfig
		wantStatus int
		wantPlain  int
	}{
		{name: "api key", auth: &AuthConfig{Kind: AuthAPIKey, Key: "env:K"}, wantStatus: http.StatusFound},
		{name: "bearer", auth: &AuthConfig{Kind: AuthBearer, Token: "env:K"}, wantStatus: http.StatusFound},
		{name: "basic", auth: &AuthConfig{Kind: AuthBasic, Username: "u", Password: "env:K"}, wantStatus: http.StatusFound},
		{name: "no auth", wantStatus: http.StatusOK, wantPlain: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(plain.requests())
			c := newTestClient(t, ConnectionConfig{BaseURL: "https://example.com", Auth: tt.auth}, opts, map[string]string{"env:K": "k-downgrade"})
			resp, err := c.Do(context.Background(), &Request{Path: "/start"})
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if resp.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.Status, tt.wantStatus)
			}
			hits := plain.requests()[before:]
			if len(hits) != tt.wantPlain {
				t.Errorf("plain http saw %d requests, want %d", len(hits), tt.wantPlain)
			}
			for _, h := range hits {
				for k, vs := range h.header {
					if strings.Contains(strings.Join(vs, " "), "k-downgrade") || strings.Contains(strings.Join(vs, " "), base64.StdEncoding.EncodeToString([]byte("u:k-downgrade"))) {
						t.Errorf("plain http got the secret in %s", k)
					}
				}
			}
		})
	}
}

// TestOAuth2TokenRedirect: token requests used an http.Client without the
// connection's redirect policy, so a token endpoint answering 307 sent the
// client secret (in the Authorization header or the form, both resent on
// a 307) to the host it named.
func TestOAuth2TokenRedirect(t *testing.T) {
	other := newServer(t, reply{status: http.StatusOK, header: map[string]string{"Content-Type": "application/json"}, body: `{"access_token":"at-other","token_type":"bearer"}`})
	api := newServer(t)
	tests := []struct {
		name     string
		location string // where the token endpoint redirects
	}{
		{name: "other host", location: other.URL + "/token"},
		{name: "other name of the host", location: strings.Replace(other.URL, "127.0.0.1", "localhost", 1) + "/token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := newServer(t, reply{status: http.StatusTemporaryRedirect, header: map[string]string{"Location": tt.location}})
			before := len(other.requests())
			cfg := ConnectionConfig{BaseURL: api.URL, Auth: &AuthConfig{Kind: AuthOAuth2, TokenURL: token.URL + "/oauth/token", ClientID: "relay", ClientSecret: "env:CS"}}
			c := newTestClient(t, cfg, fastOptions(), map[string]string{"env:CS": "cs-redirected"})
			_, err := c.Do(context.Background(), &Request{Path: "/orders"})
			if ce, ok := AsError(err); !ok || ce.Type != "redirect" || ce.Retryable {
				t.Errorf("Do error = %#v, want a permanent redirect error", err)
			}
			if n := len(other.requests()) - before; n != 0 {
				t.Errorf("redirect target saw %d token requests, want none", n)
			}
		})
	}
}
