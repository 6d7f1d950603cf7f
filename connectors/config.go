package connectors

import "time"

// ConnectionConfig is what a flow declares about one connection. It travels
// in workflow history and activity inputs, so secret fields hold references
// (`env:NAME`, `file:PATH`), never values; activities resolve them.
type ConnectionConfig struct {
	// Connector names a registered connector.
	Connector string `json:"connector"`
	// BaseURL is prefixed to relative paths.
	BaseURL string `json:"base_url,omitempty"`
	// Auth says how requests are authenticated; nil means no auth.
	Auth *AuthConfig `json:"auth,omitempty"`
	// Headers are sent with every request (no secrets: use Auth).
	Headers map[string]string `json:"headers,omitempty"`
	// Timeout bounds one HTTP attempt; zero means the client default.
	Timeout time.Duration `json:"timeout,omitempty"`
	// RateLimit is requests per second across all workers; zero is unlimited.
	RateLimit float64 `json:"rate_limit,omitempty"`
	// MaxConcurrency bounds calls in flight per worker; zero is unlimited.
	MaxConcurrency int `json:"max_concurrency,omitempty"`
}

// Auth kinds.
const (
	AuthAPIKey = "api_key"
	AuthBearer = "bearer"
	AuthBasic  = "basic"
	AuthOAuth2 = "oauth2_client_credentials"
	AuthHMAC   = "hmac"
)

// AuthConfig describes how a connection authenticates. Fields that hold
// secrets are secret references.
type AuthConfig struct {
	Kind string `json:"kind"`
	// api_key: the key is sent in header Name (In "header", the default) or
	// query parameter Name (In "query").
	In   string `json:"in,omitempty"`
	Name string `json:"name,omitempty"`
	Key  string `json:"key,omitempty"` // secret reference
	// bearer
	Token string `json:"token,omitempty"` // secret reference
	// basic
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"` // secret reference
	// oauth2_client_credentials
	TokenURL     string   `json:"token_url,omitempty"`
	ClientID     string   `json:"client_id,omitempty"`
	ClientSecret string   `json:"client_secret,omitempty"` // secret reference
	Scopes       []string `json:"scopes,omitempty"`
	// hmac: the hex HMAC-SHA256 of the request body is sent in Header.
	Secret string `json:"secret,omitempty"` // secret reference
	Header string `json:"header,omitempty"`
}

// SecretFields returns the auth fields that must hold secret references, by
// their YAML/JSON name, for validation.
func (a *AuthConfig) SecretFields() map[string]string {
	return map[string]string{
		"key":           a.Key,
		"token":         a.Token,
		"password":      a.Password,
		"client_secret": a.ClientSecret,
		"secret":        a.Secret,
	}
}
