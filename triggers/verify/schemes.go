package verify

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Header names of the provider schemes.
const (
	hdrWebhookID        = "webhook-id"
	hdrWebhookTimestamp = "webhook-timestamp"
	hdrWebhookSignature = "webhook-signature"
	hdrStripeSignature  = "Stripe-Signature"
	hdrGitHubSignature  = "X-Hub-Signature-256"
	hdrShopifyHmac      = "X-Shopify-Hmac-Sha256"
	hdrSlackSignature   = "X-Slack-Signature"
	hdrSlackTimestamp   = "X-Slack-Request-Timestamp"
)

var (
	algorithms = map[string]func() hash.Hash{"sha256": sha256.New, "sha1": sha1.New, "sha512": sha512.New}
	encodings  = map[string]encoding{
		"hex":    {hex.EncodeToString, hex.DecodeString},
		"base64": {base64.StdEncoding.EncodeToString, base64.StdEncoding.DecodeString},
	}
)

type encoding struct {
	encode func([]byte) string
	decode func(string) ([]byte, error)
}

func build(cfg Config) (*verifier, error) {
	if cfg.Scheme == "" {
		return nil, fmt.Errorf("webhook verification: scheme is empty; want one of %s", strings.Join(schemes, ", "))
	}
	if !slices.Contains(schemes, cfg.Scheme) {
		return nil, fmt.Errorf("webhook verification: unknown scheme %q; want one of %s", cfg.Scheme, strings.Join(schemes, ", "))
	}
	if len(cfg.Secrets) == 0 {
		return nil, fmt.Errorf("webhook verification %s: no secrets configured; at least one is required", cfg.Scheme)
	}
	if cfg.Tolerance < 0 {
		return nil, fmt.Errorf("webhook verification %s: tolerance %s is negative", cfg.Scheme, cfg.Tolerance)
	}
	if cfg.Scheme != SchemeHMAC {
		if f := hmacOnlyField(cfg); f != "" {
			return nil, fmt.Errorf("webhook verification %s: field %s applies only to scheme hmac", cfg.Scheme, f)
		}
	}
	keys := make([][]byte, len(cfg.Secrets))
	for i, s := range cfg.Secrets {
		k, err := secretKey(cfg.Scheme, s)
		if err != nil {
			return nil, fmt.Errorf("webhook verification %s: secret %d of %d: %w", cfg.Scheme, i+1, len(cfg.Secrets), err)
		}
		keys[i] = k
	}
	v := &verifier{
		scheme:    cfg.Scheme,
		newHash:   sha256.New,
		keys:      keys,
		tolerance: cfg.Tolerance,
		now:       cfg.Now,
	}
	if v.tolerance == 0 {
		v.tolerance = DefaultTolerance
	}
	if v.now == nil {
		v.now = time.Now
	}
	var err error
	switch cfg.Scheme {
	case SchemeStandardWebhooks:
		v.timed = true
		v.template = mustTemplate("{id}.{timestamp}.{body}")
		v.parse = parseStandardWebhooks
		v.format = formatStandardWebhooks
	case SchemeStripe:
		v.timed = true
		v.template = mustTemplate("{timestamp}.{body}")
		v.parse = parseStripe
		v.format = formatStripe
	case SchemeGitHub:
		err = v.single(single{header: hdrGitHubSignature, prefix: "sha256=", enc: encodings["hex"], idHeader: "X-GitHub-Delivery", idOptional: true}, "{body}")
	case SchemeShopify:
		err = v.single(single{header: hdrShopifyHmac, enc: encodings["base64"], idHeader: "X-Shopify-Webhook-Id", idOptional: true}, "{body}")
	case SchemeSlack:
		err = v.single(single{header: hdrSlackSignature, prefix: "v0=", enc: encodings["hex"], tsHeader: hdrSlackTimestamp}, "v0:{timestamp}:{body}")
	case SchemeHMAC:
		err = v.generic(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("webhook verification %s: %w", cfg.Scheme, err)
	}
	return v, nil
}

func hmacOnlyField(cfg Config) string {
	for _, f := range []struct{ name, val string }{
		{"Header", cfg.Header}, {"Algorithm", cfg.Algorithm}, {"Encoding", cfg.Encoding}, {"Prefix", cfg.Prefix},
		{"Template", cfg.Template}, {"TimestampHeader", cfg.TimestampHeader}, {"IDHeader", cfg.IDHeader},
	} {
		if f.val != "" {
			return f.name
		}
	}
	return ""
}

func secretKey(scheme, s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("secret is empty")
	}
	if strings.TrimSpace(s) != s {
		return nil, errors.New("secret has leading or trailing whitespace (a trailing newline from a file?)")
	}
	if scheme == SchemeStandardWebhooks {
		if rest, ok := strings.CutPrefix(s, "whsec_"); ok {
			k, err := base64.StdEncoding.DecodeString(rest)
			if err != nil {
				return nil, errors.New("the part after whsec_ is not valid base64")
			}
			if len(k) == 0 {
				return nil, errors.New("the part after whsec_ is empty")
			}
			return k, nil
		}
	}
	return []byte(s), nil
}

// single describes a scheme whose signature is one encoded value in one header.
type single struct {
	header, prefix     string
	enc                encoding
	tsHeader, idHeader string
	idOptional         bool // the ID is read for Sign and dedupe but not required to verify
}

func (v *verifier) single(s single, template string) error {
	t, err := parseTemplate(template)
	if err != nil {
		return err
	}
	v.template = t
	v.timed = s.tsHeader != ""
	scheme := v.scheme
	v.parse = func(h http.Header) (delivery, error) {
		var d delivery
		raw := h.Get(s.header)
		if raw == "" {
			return d, fail(ErrMissingSignature, "%s: header %s is missing", scheme, s.header)
		}
		encoded, ok := strings.CutPrefix(raw, s.prefix)
		if !ok {
			return d, fail(ErrInvalidSignature, "%s: header %s does not start with %q", scheme, s.header, s.prefix)
		}
		sig, err := s.enc.decode(encoded)
		if err != nil || len(sig) == 0 {
			return d, fail(ErrInvalidSignature, "%s: header %s is not a valid encoded signature", scheme, s.header)
		}
		d.sigs = [][]byte{sig}
		if s.tsHeader != "" {
			if d.timestamp = h.Get(s.tsHeader); d.timestamp == "" {
				return d, fail(ErrMissingSignature, "%s: header %s is missing", scheme, s.tsHeader)
			}
		}
		if s.idHeader != "" {
			if d.id = h.Get(s.idHeader); d.id == "" && !s.idOptional {
				return d, fail(ErrMissingSignature, "%s: header %s is missing", scheme, s.idHeader)
			}
		}
		return d, nil
	}
	v.format = func(timestamp, id string, mac []byte) (http.Header, error) {
		h := http.Header{}
		h.Set(s.header, s.prefix+s.enc.encode(mac))
		if s.tsHeader != "" {
			h.Set(s.tsHeader, timestamp)
		}
		if s.idHeader != "" {
			if id == "" && !s.idOptional {
				return nil, fmt.Errorf("%s: a delivery ID is required for header %s", scheme, s.idHeader)
			}
			if id != "" {
				h.Set(s.idHeader, id)
			}
		}
		return h, nil
	}
	return nil
}

// generic configures scheme hmac from the Config fields.
func (v *verifier) generic(cfg Config) error {
	if err := checkHeaderName("Header", cfg.Header); err != nil {
		return err
	}
	alg := strings.ToLower(cfg.Algorithm)
	if alg == "" {
		alg = "sha256"
	}
	newHash, ok := algorithms[alg]
	if !ok {
		return fmt.Errorf("unknown algorithm %q; want one of sha256, sha1, sha512", cfg.Algorithm)
	}
	encName := strings.ToLower(cfg.Encoding)
	if encName == "" {
		encName = "hex"
	}
	enc, ok := encodings[encName]
	if !ok {
		return fmt.Errorf("unknown encoding %q; want one of hex, base64", cfg.Encoding)
	}
	template := cfg.Template
	if template == "" {
		template = "{body}"
	}
	s := single{header: cfg.Header, prefix: cfg.Prefix, enc: enc, tsHeader: cfg.TimestampHeader, idHeader: cfg.IDHeader}
	if cfg.TimestampHeader != "" {
		if err := checkHeaderName("TimestampHeader", cfg.TimestampHeader); err != nil {
			return err
		}
	}
	if cfg.IDHeader != "" {
		if err := checkHeaderName("IDHeader", cfg.IDHeader); err != nil {
			return err
		}
	}
	if err := v.single(s, template); err != nil {
		return err
	}
	v.newHash = newHash
	var signsTimestamp, usesTimestamp, usesID bool
	for _, seg := range v.template {
		switch {
		case seg.kind == segTimestamp:
			usesTimestamp, signsTimestamp = true, true
		case seg.kind == segID:
			usesID = true
		case seg.kind == segHeader && cfg.TimestampHeader != "" && seg.text == http.CanonicalHeaderKey(cfg.TimestampHeader):
			signsTimestamp = true
		}
	}
	if usesTimestamp && cfg.TimestampHeader == "" {
		return fmt.Errorf("template %q uses {timestamp} but TimestampHeader is empty", template)
	}
	if usesID && cfg.IDHeader == "" {
		return fmt.Errorf("template %q uses {id} but IDHeader is empty", template)
	}
	if cfg.TimestampHeader != "" && !signsTimestamp {
		return fmt.Errorf("TimestampHeader %s is set but template %q does not sign it ({timestamp}); an unsigned timestamp does not stop replays", cfg.TimestampHeader, template)
	}
	return nil
}

func checkHeaderName(field, name string) error {
	if name == "" {
		return fmt.Errorf("%s is empty; scheme hmac needs the name of the header", field)
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return fmt.Errorf("%s %q is not a valid header name", field, name)
		}
	}
	return nil
}

// isTokenChar reports whether c may appear in an HTTP header name (RFC 9110 token).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// parseStandardWebhooks reads webhook-id, webhook-timestamp and the
// space-separated "v1,<base64>" list in webhook-signature; other versions
// (v1a, future ones) are ignored.
func parseStandardWebhooks(h http.Header) (delivery, error) {
	const scheme = SchemeStandardWebhooks
	var d delivery
	for _, name := range []string{hdrWebhookID, hdrWebhookTimestamp, hdrWebhookSignature} {
		if h.Get(name) == "" {
			return d, fail(ErrMissingSignature, "%s: header %s is missing", scheme, name)
		}
	}
	d.id, d.timestamp = h.Get(hdrWebhookID), h.Get(hdrWebhookTimestamp)
	// The signed content is "{id}.{timestamp}.{body}"; the specification
	// forbids "." in the ID so that the split cannot be shifted.
	if strings.Contains(d.id, ".") {
		return d, fail(ErrInvalidSignature, "%s: header %s contains \".\"", scheme, hdrWebhookID)
	}
	for entry := range strings.SplitSeq(h.Get(hdrWebhookSignature), " ") {
		version, encoded, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		if sig, err := base64.StdEncoding.DecodeString(encoded); err == nil && len(sig) > 0 {
			d.sigs = append(d.sigs, sig)
		}
	}
	if len(d.sigs) == 0 {
		return d, fail(ErrInvalidSignature, "%s: header %s has no valid v1 signature", scheme, hdrWebhookSignature)
	}
	return d, nil
}

func formatStandardWebhooks(timestamp, id string, mac []byte) (http.Header, error) {
	if id == "" {
		return nil, fmt.Errorf("%s: a delivery ID is required for header %s", SchemeStandardWebhooks, hdrWebhookID)
	}
	if strings.Contains(id, ".") {
		return nil, fmt.Errorf("%s: delivery ID %q contains \".\"", SchemeStandardWebhooks, id)
	}
	h := http.Header{}
	h.Set(hdrWebhookID, id)
	h.Set(hdrWebhookTimestamp, timestamp)
	h.Set(hdrWebhookSignature, "v1,"+base64.StdEncoding.EncodeToString(mac))
	return h, nil
}

// parseStripe reads "t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]"; only v1 counts.
func parseStripe(h http.Header) (delivery, error) {
	const scheme = SchemeStripe
	var d delivery
	raw := h.Get(hdrStripeSignature)
	if raw == "" {
		return d, fail(ErrMissingSignature, "%s: header %s is missing", scheme, hdrStripeSignature)
	}
	seenT := false
	for item := range strings.SplitSeq(raw, ",") {
		key, val, ok := strings.Cut(item, "=")
		if !ok {
			return d, fail(ErrInvalidSignature, "%s: header %s is malformed: an element has no \"=\"", scheme, hdrStripeSignature)
		}
		switch key {
		case "t":
			if seenT {
				return d, fail(ErrInvalidSignature, "%s: header %s has more than one t", scheme, hdrStripeSignature)
			}
			seenT, d.timestamp = true, val
		case "v1":
			if sig, err := hex.DecodeString(val); err == nil && len(sig) > 0 {
				d.sigs = append(d.sigs, sig)
			}
		}
	}
	if !seenT {
		return d, fail(ErrInvalidSignature, "%s: header %s has no timestamp t", scheme, hdrStripeSignature)
	}
	if len(d.sigs) == 0 {
		return d, fail(ErrInvalidSignature, "%s: header %s has no valid v1 signature", scheme, hdrStripeSignature)
	}
	return d, nil
}

func formatStripe(timestamp, _ string, mac []byte) (http.Header, error) {
	h := http.Header{}
	h.Set(hdrStripeSignature, "t="+timestamp+",v1="+hex.EncodeToString(mac))
	return h, nil
}

// StripeEventID returns the top-level "id" of a Stripe event body (evt_...),
// Stripe's key for dedupe, or "" when the body has none. Call it only after
// Verify succeeded.
func StripeEventID(body []byte) string {
	var event struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &event) != nil {
		return ""
	}
	return event.ID
}
