package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// vector is one case of testdata/vectors/<scheme>.json. Each names its
// source: a provider's documented example, or a case computed independently
// of this package (with Python's hmac module).
type vector struct {
	Name      string            `json:"name"`
	Source    string            `json:"source"`
	Scheme    string            `json:"scheme"`
	Secrets   []string          `json:"secrets"`
	HMAC      *hmacFields       `json:"hmac"`
	Tolerance string            `json:"tolerance"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"`
	Now       int64             `json:"now"`
	Want      string            `json:"want"` // ok | invalid_signature | timestamp | missing_signature
}

type hmacFields struct {
	Header          string `json:"header"`
	Algorithm       string `json:"algorithm"`
	Encoding        string `json:"encoding"`
	Prefix          string `json:"prefix"`
	Template        string `json:"template"`
	TimestampHeader string `json:"timestamp_header"`
	IDHeader        string `json:"id_header"`
}

func (v vector) config(t *testing.T) Config {
	t.Helper()
	cfg := Config{Scheme: v.Scheme, Secrets: v.Secrets, Now: func() time.Time { return time.Unix(v.Now, 0) }}
	if v.Tolerance != "" {
		d, err := time.ParseDuration(v.Tolerance)
		if err != nil {
			t.Fatalf("tolerance %q: %v", v.Tolerance, err)
		}
		cfg.Tolerance = d
	}
	if h := v.HMAC; h != nil {
		cfg.Header, cfg.Algorithm, cfg.Encoding, cfg.Prefix = h.Header, h.Algorithm, h.Encoding, h.Prefix
		cfg.Template, cfg.TimestampHeader, cfg.IDHeader = h.Template, h.TimestampHeader, h.IDHeader
	}
	return cfg
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "vectors", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors found: %v", err)
	}
	var all []vector
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var vs []vector
		if err := dec.Decode(&vs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range vs {
			if v.Scheme+".json" != filepath.Base(f) || v.Source == "" || v.Want == "" {
				t.Fatalf("%s: vector %q: scheme must match the file name; source and want are required", f, v.Name)
			}
		}
		all = append(all, vs...)
	}
	return all
}

func kind(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrMissingSignature):
		return "missing_signature"
	case errors.Is(err, ErrTimestamp):
		return "timestamp"
	case errors.Is(err, ErrInvalidSignature):
		return "invalid_signature"
	}
	return "unclassified: " + err.Error()
}

func TestVectors(t *testing.T) {
	seen := map[string]int{}
	for _, v := range loadVectors(t) {
		seen[v.Scheme]++
		t.Run(v.Scheme+"/"+v.Name, func(t *testing.T) {
			ver, err := New(v.config(t))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			h := http.Header{}
			for k, val := range v.Headers {
				h.Set(k, val)
			}
			err = ver.Verify(h, []byte(v.Body))
			if got := kind(err); got != v.Want {
				t.Fatalf("Verify = %s (%v), want %s", got, err, v.Want)
			}
			if err != nil {
				assertNoSecret(t, err, v.Secrets)
				for name, val := range v.Headers {
					if len(val) >= 16 && strings.Contains(err.Error(), val) {
						t.Fatalf("error %q repeats header %s", err, name)
					}
				}
			}
		})
	}
	for _, s := range Schemes() {
		if seen[s] == 0 {
			t.Errorf("no vectors for scheme %s", s)
		}
	}
}

// assertNoSecret checks that no secret appears in an error message.
func assertNoSecret(t *testing.T, err error, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) || strings.Contains(err.Error(), strings.TrimPrefix(s, "whsec_")) {
			t.Fatalf("error %q contains a secret", err)
		}
	}
}

func TestHeaderNamesAreCaseInsensitive(t *testing.T) {
	cfg := Config{Scheme: SchemeSlack, Secrets: []string{"s3cret"}, Now: fixedNow}
	signed, err := Sign(cfg, []byte("x=1"), fixedNow(), "")
	if err != nil {
		t.Fatal(err)
	}
	raw := http.Header{}
	for k, vals := range signed {
		raw[strings.ToLower(k)] = vals // as a proxy might pass them; Get canonicalizes
		delete(raw, k)
	}
	lowered := http.Header{}
	for k, vals := range raw {
		lowered.Set(k, vals[0])
	}
	v, _ := New(cfg)
	if err := v.Verify(lowered, []byte("x=1")); err != nil {
		t.Fatal(err)
	}
}

func TestNewFailsClosed(t *testing.T) {
	ok := []string{"s3cret"}
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error
	}{
		{"empty scheme", Config{Secrets: ok}, "scheme is empty; want one of standard_webhooks, stripe, github, shopify, slack, hmac"},
		{"unknown scheme", Config{Scheme: "paypal", Secrets: ok}, `unknown scheme "paypal"; want one of standard_webhooks`},
		{"scheme case matters", Config{Scheme: "GitHub", Secrets: ok}, `unknown scheme "GitHub"`},
		{"no secrets", Config{Scheme: SchemeGitHub}, "no secrets configured"},
		{"empty secret list", Config{Scheme: SchemeStripe, Secrets: []string{}}, "no secrets configured"},
		{"empty secret string", Config{Scheme: SchemeShopify, Secrets: []string{""}}, "secret 1 of 1: secret is empty"},
		{"second secret empty", Config{Scheme: SchemeSlack, Secrets: []string{"a", ""}}, "secret 2 of 2: secret is empty"},
		{"secret with trailing newline", Config{Scheme: SchemeGitHub, Secrets: []string{"s3cret\n"}}, "leading or trailing whitespace"},
		{"whsec_ not base64", Config{Scheme: SchemeStandardWebhooks, Secrets: []string{"whsec_!!!"}}, "the part after whsec_ is not valid base64"},
		{"whsec_ empty", Config{Scheme: SchemeStandardWebhooks, Secrets: []string{"whsec_"}}, "the part after whsec_ is empty"},
		{"negative tolerance", Config{Scheme: SchemeSlack, Secrets: ok, Tolerance: -time.Second}, "tolerance -1s is negative"},
		{"hmac field on a preset", Config{Scheme: SchemeGitHub, Secrets: ok, Algorithm: "sha1"}, "field Algorithm applies only to scheme hmac"},
		{"hmac without header", Config{Scheme: SchemeHMAC, Secrets: ok}, "Header is empty"},
		{"hmac bad header name", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X Sig"}, `Header "X Sig" is not a valid header name`},
		{"hmac bad algorithm", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X-Sig", Algorithm: "md5"}, `unknown algorithm "md5"; want one of sha256, sha1, sha512`},
		{"hmac bad encoding", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X-Sig", Encoding: "base32"}, `unknown encoding "base32"; want one of hex, base64`},
		{"hmac template without body", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X-Sig", Template: "{id}", IDHeader: "X-Id"}, "does not contain {body}"},
		{"hmac template unknown placeholder", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X-Sig", Template: "{url}.{body}"}, "unknown placeholder {url}"},
		{"hmac template unclosed", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X-Sig", Template: "{body"}, `"{" without a matching "}"`},
		{"hmac template stray brace", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X-Sig", Template: "{body}}"}, `"}" without a matching "{"`},
		{"hmac template bad header placeholder", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X-Sig", Template: "{header:}{body}"}, "{header:Name} in template is empty"},
		{"hmac timestamp without header", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X-Sig", Template: "{timestamp}.{body}"}, "uses {timestamp} but TimestampHeader is empty"},
		{"hmac id without header", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X-Sig", Template: "{id}.{body}"}, "uses {id} but IDHeader is empty"},
		{"hmac unsigned timestamp", Config{Scheme: SchemeHMAC, Secrets: ok, Header: "X-Sig", TimestampHeader: "X-Ts"}, "does not sign it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.cfg)
			if err == nil {
				t.Fatalf("New succeeded (%T), want an error containing %q", v, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %q, want it to contain %q", err, tt.want)
			}
			for _, s := range tt.cfg.Secrets {
				if len(s) >= 8 && strings.Contains(err.Error(), s) {
					t.Fatalf("error %q contains a secret", err)
				}
			}
		})
	}
}

func TestNewAcceptsHMACVariants(t *testing.T) {
	for _, cfg := range []Config{
		{Scheme: SchemeHMAC, Secrets: []string{"k"}, Header: "X-Sig", Algorithm: "SHA512", Encoding: "Base64"},
		{Scheme: SchemeHMAC, Secrets: []string{"k"}, Header: "X-Sig", Template: "{header:X-Ts}.{body}", TimestampHeader: "x-ts"},
		{Scheme: SchemeHMAC, Secrets: []string{"k"}, Header: "X-Sig", IDHeader: "X-Id"},
	} {
		if _, err := New(cfg); err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}

func TestDeliveryID(t *testing.T) {
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	tests := []struct {
		scheme string
		header http.Header
		want   string
	}{
		{SchemeStandardWebhooks, h("webhook-id", "msg_1", "webhook-timestamp", "1"), "msg_1"},
		{SchemeGitHub, h("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"), "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
		{SchemeShopify, h("X-Shopify-Webhook-Id", "wh_1", "X-Shopify-Event-Id", "ev_1"), "wh_1"},
		{SchemeShopify, h("X-Shopify-Event-Id", "ev_1"), "ev_1"},
		{SchemeSlack, h("X-Slack-Request-Timestamp", "1531420618"), ""},
		{SchemeStripe, h("Stripe-Signature", "t=1,v1=00"), ""},
		{SchemeHMAC, h("X-Id", "1"), ""},
		{"unknown", h("webhook-id", "msg_1"), ""},
		{SchemeGitHub, h(), ""},
	}
	for _, tt := range tests {
		if got := DeliveryID(tt.scheme, tt.header); got != tt.want {
			t.Errorf("DeliveryID(%s, %v) = %q, want %q", tt.scheme, tt.header, got, tt.want)
		}
	}
}

func TestStripeEventID(t *testing.T) {
	tests := map[string]string{
		`{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","data":{"object":{"id":"pi_1"}}}`: "evt_1NG8Du2eZvKYlo2CUI79vXWy",
		`{"object":"event","data":{"object":{"id":"pi_1"}}}`:                                     "",
		`{"id":42}`: "",
		`not json`:  "",
		``:          "",
	}
	for body, want := range tests {
		if got := StripeEventID([]byte(body)); got != want {
			t.Errorf("StripeEventID(%q) = %q, want %q", body, got, want)
		}
	}
}

func TestErrorsMatchSentinels(t *testing.T) {
	v, err := New(Config{Scheme: SchemeGitHub, Secrets: []string{"s"}})
	if err != nil {
		t.Fatal(err)
	}
	err = v.Verify(http.Header{}, nil)
	if !errors.Is(err, ErrMissingSignature) || !errors.Is(err, ErrInvalidSignature) || errors.Is(err, ErrTimestamp) {
		t.Fatalf("missing header: %v does not wrap ErrMissingSignature and ErrInvalidSignature only", err)
	}
	if !strings.HasPrefix(err.Error(), "verifying webhook: github: header X-Hub-Signature-256 is missing") {
		t.Fatalf("message = %q", err)
	}
}

// TestSignatureHeaders: every header Sign puts on a delivery is a
// signature header, except the delivery ID, which stays.
func TestSignatureHeaders(t *testing.T) {
	tests := []struct {
		cfg Config
		id  string // the delivery ID header, kept
	}{
		{Config{Scheme: SchemeStandardWebhooks, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, "Webhook-Id"},
		{Config{Scheme: SchemeStripe, Secrets: []string{"whsec_x"}}, ""},
		{Config{Scheme: SchemeGitHub, Secrets: []string{"k"}}, "X-Github-Delivery"},
		{Config{Scheme: SchemeShopify, Secrets: []string{"k"}}, "X-Shopify-Webhook-Id"},
		{Config{Scheme: SchemeSlack, Secrets: []string{"k"}}, ""},
		{Config{Scheme: SchemeHMAC, Secrets: []string{"k"}, Header: "x-sig", Template: "{timestamp}.{body}", TimestampHeader: "X-TS"}, ""},
		{Config{Scheme: SchemeHMAC, Secrets: []string{"k"}, Header: "X-Sig", Template: "{id}.{body}", IDHeader: "X-Id"}, "X-Id"},
	}
	for _, tt := range tests {
		t.Run(tt.cfg.Scheme, func(t *testing.T) {
			h, err := Sign(tt.cfg, []byte(`{}`), time.Now(), "d-1")
			if err != nil {
				t.Fatal(err)
			}
			drop := SignatureHeaders(tt.cfg)
			for name := range h {
				if got, want := slices.Contains(drop, name), name != tt.id; got != want {
					t.Errorf("header %s: signature header %v, want %v (SignatureHeaders %q)", name, got, want, drop)
				}
			}
		})
	}
}
