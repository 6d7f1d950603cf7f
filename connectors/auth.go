package connectors

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/relay-dev/relay/secrets"
)

// Auth defaults.
const (
	DefaultAPIKeyHeader = "X-API-Key"
	DefaultAPIKeyQuery  = "api_key"
	DefaultHMACHeader   = "X-Signature"
)

// auth is a connection's authentication with its secrets resolved.
type auth struct {
	header     http.Header // set on every request
	query      url.Values  // set on every request URL
	hmacKey    []byte
	hmacHeader string
	// tokens is set for oauth2_client_credentials; the client's transport
	// adds the bearer token.
	tokens oauth2.TokenSource
}

// newAuth resolves a's secrets and registers their values with red. base
// carries token requests.
func newAuth(a *AuthConfig, resolve func(string) (string, error), red *secrets.Redactor, base http.RoundTripper, timeout time.Duration) (*auth, error) {
	if a == nil {
		return &auth{}, nil
	}
	secret := func(field, ref string) (string, error) {
		if ref == "" {
			return "", fmt.Errorf("auth kind %s needs %s (a secret reference such as env:NAME)", a.Kind, field)
		}
		v, err := resolve(ref)
		if err != nil {
			return "", fmt.Errorf("auth %s: %w", field, err)
		}
		if v == "" {
			return "", fmt.Errorf("auth %s: secret %q is empty", field, ref)
		}
		red.Add(v)
		return v, nil
	}
	out := &auth{header: http.Header{}, query: url.Values{}}
	switch a.Kind {
	case AuthAPIKey:
		key, err := secret("key", a.Key)
		if err != nil {
			return nil, err
		}
		switch a.In {
		case "", "header":
			out.header.Set(cmp.Or(a.Name, DefaultAPIKeyHeader), key)
		case "query":
			out.query.Set(cmp.Or(a.Name, DefaultAPIKeyQuery), key)
		default:
			return nil, fmt.Errorf("auth api_key: in is %q, want header or query", a.In)
		}
	case AuthBearer:
		token, err := secret("token", a.Token)
		if err != nil {
			return nil, err
		}
		out.header.Set("Authorization", "Bearer "+token)
	case AuthBasic:
		password, err := secret("password", a.Password)
		if err != nil {
			return nil, err
		}
		creds := a.Username + ":" + password
		red.Add(creds) // so its base64 form in the header is known too
		out.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(creds)))
	case AuthOAuth2:
		if a.TokenURL == "" || a.ClientID == "" {
			return nil, fmt.Errorf("auth kind %s needs token_url and client_id", a.Kind)
		}
		if u, err := url.Parse(a.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("auth %s: token_url %q is not an absolute http(s) URL", a.Kind, a.TokenURL)
		}
		clientSecret, err := secret("client_secret", a.ClientSecret)
		if err != nil {
			return nil, err
		}
		cc := &clientcredentials.Config{
			ClientID:     a.ClientID,
			ClientSecret: clientSecret,
			TokenURL:     a.TokenURL,
			Scopes:       a.Scopes,
		}
		// Token requests use the same base transport as API calls. The
		// context lives as long as the token source, which caches the token
		// and fetches a new one when it expires.
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base, Timeout: timeout, CheckRedirect: tokenRedirect})
		out.tokens = redactingTokens{src: cc.TokenSource(ctx), red: red}
	case AuthHMAC:
		key, err := secret("secret", a.Secret)
		if err != nil {
			return nil, err
		}
		out.hmacKey = []byte(key)
		out.hmacHeader = cmp.Or(a.Header, DefaultHMACHeader)
	default:
		return nil, fmt.Errorf("unknown auth kind %q (use %s, %s, %s, %s or %s)", a.Kind, AuthAPIKey, AuthBearer, AuthBasic, AuthOAuth2, AuthHMAC)
	}
	return out, nil
}

// apply sets the static credentials and the body signature on req. The
// bearer token of oauth2 is added by the transport, per try.
func (a *auth) apply(h http.Header, body []byte) {
	for k, vs := range a.header {
		h[k] = slices.Clone(vs)
	}
	if a.hmacKey != nil {
		m := hmac.New(sha256.New, a.hmacKey)
		m.Write(body)
		h.Set(a.hmacHeader, hex.EncodeToString(m.Sum(nil)))
	}
}

// any reports whether requests carry credentials.
func (a *auth) any() bool {
	return len(a.header) > 0 || len(a.query) > 0 || a.hmacKey != nil || a.tokens != nil
}

// redactingTokens registers every token it hands out with the redactor.
type redactingTokens struct {
	src oauth2.TokenSource
	red *secrets.Redactor
}

func (t redactingTokens) Token() (*oauth2.Token, error) {
	tok, err := t.src.Token()
	if err == nil && tok != nil {
		t.red.Add(tok.AccessToken, tok.RefreshToken)
	}
	return tok, err
}
