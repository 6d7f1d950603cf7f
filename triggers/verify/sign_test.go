package verify

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func fixedNow() time.Time { return time.Unix(1767225600, 0) }

// signConfigs has one configuration per scheme, two secrets each (Sign uses the first).
func signConfigs() []Config {
	return []Config{
		{Scheme: SchemeStandardWebhooks, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZA=="}},
		{Scheme: SchemeStandardWebhooks, Secrets: []string{"raw-secret-without-prefix"}},
		{Scheme: SchemeStripe, Secrets: []string{"whsec_stripeEndpointSecret", "whsec_old"}},
		{Scheme: SchemeGitHub, Secrets: []string{"It's a Secret to Everybody", "old"}},
		{Scheme: SchemeShopify, Secrets: []string{"shopify-client-secret"}},
		{Scheme: SchemeSlack, Secrets: []string{"8f742231b10e8888abcd99yyyzzz85a5"}},
		{Scheme: SchemeHMAC, Secrets: []string{"generic"}, Header: "X-Signature"},
		{Scheme: SchemeHMAC, Secrets: []string{"generic"}, Header: "X-Sig", Algorithm: "sha1", Encoding: "base64", Prefix: "sha1="},
		{Scheme: SchemeHMAC, Secrets: []string{"generic"}, Header: "X-Sig", Algorithm: "sha512", Prefix: "v1=",
			Template: "{timestamp}.{id}.{header:X-Ts}.{body}", TimestampHeader: "X-Ts", IDHeader: "X-Delivery"},
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	body := []byte(`{"id":"evt_1","type":"order.created","total":"42.00"}`)
	for _, cfg := range signConfigs() {
		cfg.Now = fixedNow
		t.Run(cfg.Scheme+"/"+cfg.Header, func(t *testing.T) {
			h, err := Sign(cfg, body, fixedNow(), "msg_1")
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			v, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(h, body); err != nil {
				t.Fatalf("Verify(Sign(...)) = %v; headers %v", err, h)
			}
			if err := v.Verify(h, append(body, ' ')); kind(err) != "invalid_signature" {
				t.Fatalf("Verify with a changed body = %v, want invalid_signature", err)
			}
			// Only the second secret configured: the first signed it, so it fails;
			// with both, in either order, it passes.
			if len(cfg.Secrets) > 1 {
				rotated := cfg
				rotated.Secrets = []string{cfg.Secrets[1]}
				rv, _ := New(rotated)
				if err := rv.Verify(h, body); kind(err) != "invalid_signature" {
					t.Fatalf("Verify with only the other secret = %v", err)
				}
				rotated.Secrets = []string{cfg.Secrets[1], cfg.Secrets[0]}
				rv, _ = New(rotated)
				if err := rv.Verify(h, body); err != nil {
					t.Fatalf("Verify after rotation = %v", err)
				}
			}
			if id := DeliveryID(cfg.Scheme, h); id != "" && id != "msg_1" {
				t.Fatalf("DeliveryID = %q", id)
			}
			// A delivery signed 10 minutes ago is refused by every scheme with a timestamp.
			old, err := Sign(cfg, body, fixedNow().Add(-10*time.Minute), "msg_1")
			if err != nil {
				t.Fatal(err)
			}
			got := kind(v.Verify(old, body))
			switch cfg.Scheme {
			case SchemeGitHub, SchemeShopify:
				if got != "ok" {
					t.Fatalf("old delivery = %s, want ok (no timestamp)", got)
				}
			default:
				if cfg.Scheme == SchemeHMAC && cfg.TimestampHeader == "" {
					break
				}
				if got != "timestamp" {
					t.Fatalf("old delivery = %s, want timestamp", got)
				}
			}
		})
	}
}

func TestSignMatchesDocumentedExamples(t *testing.T) {
	// GitHub docs, "Testing the webhook payload validation".
	h, err := Sign(Config{Scheme: SchemeGitHub, Secrets: []string{"It's a Secret to Everybody"}}, []byte("Hello, World!"), time.Time{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.Get("X-Hub-Signature-256"), "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"; got != want {
		t.Errorf("github: %s, want %s", got, want)
	}
	// Svix / Standard Webhooks test vector.
	h, err = Sign(Config{Scheme: SchemeStandardWebhooks, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		[]byte(`{"test": 2432232314}`), time.Unix(1614265330, 0), "msg_p5jXN8AQM9LWM0D4loKWxJek")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.Get("webhook-signature"), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("standard_webhooks: %s, want %s", got, want)
	}
}

func TestSignErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		id   string
		want string
	}{
		{"invalid config", Config{Scheme: "nope", Secrets: []string{"s"}}, "", "unknown scheme"},
		{"standard webhooks without id", Config{Scheme: SchemeStandardWebhooks, Secrets: []string{"s"}}, "", "delivery ID is required"},
		{"standard webhooks id with dot", Config{Scheme: SchemeStandardWebhooks, Secrets: []string{"s"}}, "a.b", `contains "."`},
		{"hmac id header without id", Config{Scheme: SchemeHMAC, Secrets: []string{"s"}, Header: "X-Sig", IDHeader: "X-Id"}, "", "delivery ID is required"},
		{"hmac template signs another header", Config{Scheme: SchemeHMAC, Secrets: []string{"s"}, Header: "X-Sig", Template: "{header:X-Account}{body}"}, "", "template signs header X-Account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Sign(tt.cfg, []byte("{}"), fixedNow(), tt.id)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Sign error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSignSetsDeliveryIDHeaders(t *testing.T) {
	for scheme, header := range map[string]string{SchemeGitHub: "X-GitHub-Delivery", SchemeShopify: "X-Shopify-Webhook-Id", SchemeStandardWebhooks: "webhook-id"} {
		h, err := Sign(Config{Scheme: scheme, Secrets: []string{"s"}}, nil, fixedNow(), "dlv_7")
		if err != nil {
			t.Fatal(err)
		}
		if h.Get(header) != "dlv_7" || DeliveryID(scheme, h) != "dlv_7" {
			t.Errorf("%s: headers %v", scheme, h)
		}
	}
	h, _ := Sign(Config{Scheme: SchemeGitHub, Secrets: []string{"s"}}, nil, fixedNow(), "")
	if _, ok := h[http.CanonicalHeaderKey("X-GitHub-Delivery")]; ok {
		t.Errorf("github without id set X-GitHub-Delivery: %v", h)
	}
}
