// Package verify checks the signatures partners put on webhooks, exactly as
// each provider specifies them, over the raw request body and before anything
// parses it.
//
// Every scheme is one HMAC verifier configured differently: where the
// signature, timestamp and delivery ID live in the headers, which content is
// signed, which hash and encoding are used. New fails closed on anything it
// does not understand; Verify compares in constant time, tries every secret
// (rotation) and never puts a secret or an expected signature in an error.
package verify

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"time"
)

// Scheme names accepted by Config.Scheme.
const (
	SchemeStandardWebhooks = "standard_webhooks"
	SchemeStripe           = "stripe"
	SchemeGitHub           = "github"
	SchemeShopify          = "shopify"
	SchemeSlack            = "slack"
	SchemeHMAC             = "hmac"
)

var schemes = []string{SchemeStandardWebhooks, SchemeStripe, SchemeGitHub, SchemeShopify, SchemeSlack, SchemeHMAC}

// Schemes returns the valid values of Config.Scheme.
func Schemes() []string { return slices.Clone(schemes) }

// DefaultTolerance is how far a signed timestamp may be from now, either way,
// when Config.Tolerance is zero.
const DefaultTolerance = 5 * time.Minute

// Errors returned by Verify, always wrapped. ErrMissingSignature also matches
// ErrInvalidSignature, so a caller that only asks "authentic or not" needs
// errors.Is(err, ErrInvalidSignature) || errors.Is(err, ErrTimestamp).
var (
	// ErrInvalidSignature: the signature header is malformed or no signature
	// matches any secret.
	ErrInvalidSignature = errors.New("invalid webhook signature")
	// ErrTimestamp: the signed timestamp is not a unix time in seconds, or is
	// further from now than the tolerance (too old or in the future).
	ErrTimestamp = errors.New("webhook timestamp rejected")
	// ErrMissingSignature: a header the scheme needs (signature, timestamp,
	// delivery ID, or a header the template signs) is absent or empty.
	ErrMissingSignature = errors.New("missing webhook signature")
)

// Verifier checks one request's signature over its raw body. The verifiers
// New returns are immutable and safe for concurrent use.
type Verifier interface {
	// Verify returns nil, or an error wrapping ErrInvalidSignature,
	// ErrTimestamp or ErrMissingSignature. Its message names headers and
	// timestamps, never secrets or expected signatures.
	Verify(header http.Header, body []byte) error
}

// Config selects and configures a scheme.
type Config struct {
	// Scheme is one of standard_webhooks, stripe, github, shopify, slack, hmac.
	Scheme string
	// Secrets are the resolved secret values, several at once during a
	// rotation; a delivery signed with any of them passes. Empty fails New.
	// standard_webhooks: "whsec_<base64>" is base64-decoded after the prefix,
	// any other string is used as raw bytes. stripe: the whole string,
	// "whsec_" included, is the key. Others: the string's bytes.
	Secrets []string
	// Tolerance is how far the signed timestamp may be from now, in the past
	// or the future, for schemes that sign one; zero means DefaultTolerance.
	Tolerance time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// The fields below apply to scheme hmac only; any other scheme rejects them.

	// Header carries the signature, e.g. X-Signature. Required.
	Header string
	// Algorithm is sha256 (default), sha1 or sha512.
	Algorithm string
	// Encoding of the signature: hex (default) or base64 (standard, padded).
	Encoding string
	// Prefix must start the Header value and is stripped before decoding,
	// e.g. "sha256=".
	Prefix string
	// Template is the signed content; default "{body}". Placeholders:
	// {body}, {timestamp}, {id}, {header:Name}; {body} is required.
	Template string
	// TimestampHeader carries a unix time in seconds; when set the header is
	// required, must be signed ({timestamp} or {header:<TimestampHeader>}),
	// and is checked against Tolerance.
	TimestampHeader string
	// IDHeader carries the delivery ID that {id} stands for; when set the
	// header is required.
	IDHeader string
}

// New builds the verifier cfg describes. It fails, listing the valid values,
// on an empty or unknown scheme, no secrets, an empty secret, a malformed
// whsec_ secret, and for hmac a bad algorithm, encoding, header or template.
func New(cfg Config) (Verifier, error) {
	return build(cfg)
}

// verifier is every scheme: one HMAC check, configured per provider.
type verifier struct {
	scheme    string
	newHash   func() hash.Hash
	keys      [][]byte
	tolerance time.Duration
	now       func() time.Time
	timed     bool
	template  []segment
	parse     func(http.Header) (delivery, error)
	format    func(timestamp, id string, mac []byte) (http.Header, error)
}

var _ Verifier = (*verifier)(nil)

// delivery is what a scheme's parser found in the headers.
type delivery struct {
	timestamp string // exactly as received, because it is signed as text
	id        string
	sigs      [][]byte // decoded candidate signatures
}

func (v *verifier) Verify(header http.Header, body []byte) error {
	d, err := v.parse(header)
	if err != nil {
		return err
	}
	var at int64
	if v.timed {
		if at, err = v.parseTimestamp(d.timestamp); err != nil {
			return err
		}
	}
	headers, err := v.signedHeaders(header)
	if err != nil {
		return err
	}
	matched := false
	for _, key := range v.keys {
		mac := v.mac(key, d.timestamp, d.id, headers, body)
		for _, sig := range d.sigs {
			if hmac.Equal(mac, sig) {
				matched = true
			}
		}
	}
	if !matched {
		return fail(ErrInvalidSignature, "%s: no signature matches any of the %d configured secret(s)", v.scheme, len(v.keys))
	}
	if v.timed {
		return v.checkTolerance(at)
	}
	return nil
}

// mac computes the HMAC of the template's content without copying the body.
func (v *verifier) mac(key []byte, timestamp, id string, headers map[string]string, body []byte) []byte {
	m := hmac.New(v.newHash, key)
	for _, s := range v.template {
		switch s.kind {
		case segLiteral:
			m.Write([]byte(s.text))
		case segBody:
			m.Write(body)
		case segTimestamp:
			m.Write([]byte(timestamp))
		case segID:
			m.Write([]byte(id))
		case segHeader:
			m.Write([]byte(headers[s.text]))
		}
	}
	return m.Sum(nil)
}

// signedHeaders collects the values of {header:Name} segments; each must be present.
func (v *verifier) signedHeaders(header http.Header) (map[string]string, error) {
	var out map[string]string
	for _, s := range v.template {
		if s.kind != segHeader {
			continue
		}
		val := header.Get(s.text)
		if val == "" {
			return nil, fail(ErrMissingSignature, "%s: header %s, which the template signs, is missing", v.scheme, s.text)
		}
		if out == nil {
			out = make(map[string]string)
		}
		out[s.text] = val
	}
	return out, nil
}

// parseTimestamp accepts only decimal unix seconds, since the text is what was signed.
func (v *verifier) parseTimestamp(s string) (int64, error) {
	if s == "" || len(s) > 18 {
		return 0, fail(ErrTimestamp, "%s: timestamp is not a unix time in seconds", v.scheme)
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fail(ErrTimestamp, "%s: timestamp is not a unix time in seconds", v.scheme)
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// checkTolerance works in whole seconds: a time.Duration between now and a
// far-off timestamp would overflow.
func (v *verifier) checkTolerance(at int64) error {
	age := v.now().Unix() - at
	limit := int64(v.tolerance / time.Second)
	switch {
	case age > limit:
		return fail(ErrTimestamp, "%s: timestamp %d is %ds old, beyond the tolerance of %s", v.scheme, at, age, v.tolerance)
	case -age > limit:
		return fail(ErrTimestamp, "%s: timestamp %d is %ds in the future, beyond the tolerance of %s", v.scheme, at, -age, v.tolerance)
	}
	return nil
}

// verifyError carries a message that names headers, never secrets.
type verifyError struct {
	kind error
	msg  string
}

func (e *verifyError) Error() string { return e.msg }

func (e *verifyError) Unwrap() []error {
	if e.kind == ErrMissingSignature {
		return []error{ErrMissingSignature, ErrInvalidSignature}
	}
	return []error{e.kind}
}

func fail(kind error, format string, args ...any) error {
	return &verifyError{kind: kind, msg: "verifying webhook: " + fmt.Sprintf(format, args...)}
}

// DeliveryID returns the provider's delivery or event ID, for the schemes
// that put one in a header: standard_webhooks (webhook-id, which the
// signature covers), github (X-GitHub-Delivery, kept by redeliveries),
// shopify (X-Shopify-Webhook-Id, else X-Shopify-Event-Id). It returns ""
// otherwise: Stripe's ID is in the body (StripeEventID), Slack's request
// timestamp is not an ID, and hmac has no fixed header. GitHub's and
// Shopify's IDs are not signed: anyone can send a captured delivery again
// under a new one, so they must not be what deduplicates deliveries. Call
// it only after Verify succeeded.
func DeliveryID(scheme string, header http.Header) string {
	switch scheme {
	case SchemeStandardWebhooks:
		return header.Get(hdrWebhookID)
	case SchemeGitHub:
		return header.Get("X-GitHub-Delivery")
	case SchemeShopify:
		if id := header.Get("X-Shopify-Webhook-Id"); id != "" {
			return id
		}
		return header.Get("X-Shopify-Event-Id")
	}
	return ""
}

// providerSignatureHeaders carry a signature or a signed timestamp in some
// provider's scheme. X-Hub-Signature is GitHub's SHA-1 signature, sent
// beside X-Hub-Signature-256; svix-signature and svix-timestamp are the
// Standard Webhooks headers under the names Svix sends them.
var providerSignatureHeaders = []string{
	hdrWebhookSignature, hdrWebhookTimestamp, "Svix-Signature", "Svix-Timestamp",
	hdrStripeSignature,
	hdrGitHubSignature, "X-Hub-Signature",
	hdrShopifyHmac,
	hdrSlackSignature, hdrSlackTimestamp,
}

// SignatureHeaders returns, in canonical form, the names of the headers
// that carry a delivery's signature or signed timestamp: those of every
// provider scheme, whatever cfg.Scheme is, and cfg.Header and
// cfg.TimestampHeader for scheme hmac. A copy of a delivery kept for later
// (a run's trigger) must leave them out: with the body, they are a
// delivery anyone who reads the copy can send again, under a new delivery
// ID where the scheme does not sign one (github, shopify), and at any time
// where it signs no timestamp. Delivery IDs are not among them.
func SignatureHeaders(cfg Config) []string {
	out := make([]string, 0, len(providerSignatureHeaders)+2)
	for _, h := range providerSignatureHeaders {
		out = append(out, http.CanonicalHeaderKey(h))
	}
	for _, h := range []string{cfg.Header, cfg.TimestampHeader} {
		if h != "" && !slices.Contains(out, http.CanonicalHeaderKey(h)) {
			out = append(out, http.CanonicalHeaderKey(h))
		}
	}
	return out
}
