package verify_test

// Interoperability with the providers' own Go libraries: signatures made by
// stripe-go's webhook package and by the Standard Webhooks Go library must
// verify here, and headers from Sign must verify there. Everything is signed
// in the test; nothing touches the network.

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	stripe "github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/relay-dev/relay/triggers/verify"
)

// officialBodies are the payloads signed by every case: JSON, an empty body,
// non-ASCII text with whitespace that a re-encoding would lose, and a large one.
var officialBodies = map[string][]byte{
	"json":    []byte(`{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"payment_intent.succeeded"}`),
	"empty":   {},
	"unicode": []byte("{\"name\": \"Zoë Ünïcode ✓\",\r\n\t\"note\":\"a.b.c\"}\n"),
	"large":   []byte(strings.Repeat(`{"k":"v"},`, 8000)),
}

// offsets place the delivery relative to the signing time; tolerance is the default 5m.
var officialOffsets = []struct {
	name   string
	verify time.Duration // verifier clock minus signing time
	want   error         // nil, or verify.ErrTimestamp
}{
	{"at signing time", 0, nil},
	{"4m59s later", 4*time.Minute + 59*time.Second, nil},
	{"exactly the tolerance later", verify.DefaultTolerance, nil},
	{"1s beyond the tolerance", verify.DefaultTolerance + time.Second, verify.ErrTimestamp},
	{"a day later (replay)", 24 * time.Hour, verify.ErrTimestamp},
	{"2m before (clock skew)", -2 * time.Minute, nil},
	{"10m before (future timestamp)", -10 * time.Minute, verify.ErrTimestamp},
}

var officialTimestamps = []time.Time{
	time.Unix(1767225600, 0), // 2026-01-01
	time.Unix(1700000000, 0),
	time.Unix(2000000000, 0),
}

func clockAt(t time.Time) func() time.Time { return func() time.Time { return t } }

func mustVerifier(t *testing.T, cfg verify.Config) verify.Verifier {
	t.Helper()
	v, err := verify.New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Scheme, err)
	}
	return v
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("%s: Verify = %v, want nil", what, got)
	case want != nil && !errors.Is(got, want):
		t.Errorf("%s: Verify = %v, want %v", what, got, want)
	}
}

func tamper(body []byte) [][]byte {
	out := [][]byte{append(append([]byte{}, body...), ' ')}
	if len(body) > 0 {
		flipped := append([]byte{}, body...)
		flipped[len(flipped)/2] ^= 0x01
		out = append(out, flipped, body[:len(body)-1])
	}
	return out
}

// ---- stripe-go ----

var stripeSecrets = []struct{ secret, other string }{
	{"whsec_test_secret", "whsec_other_secret"},
	{"whsec_5f4dcc3b5aa765d61d8327deb882cf99aBcDeF", "whsec_5f4dcc3b5aa765d61d8327deb882cf99aBcDeG"},
	{"sk-like-secret-without-prefix", "whsec_test_secret"},
}

func stripeHeader(v string) http.Header {
	h := http.Header{}
	h.Set("Stripe-Signature", v)
	return h
}

// TestStripeGoSignedPayloads: payloads signed by stripe-go's
// webhook.GenerateTestSignedPayload verify, and nothing else does.
func TestStripeGoSignedPayloads(t *testing.T) {
	for _, s := range stripeSecrets {
		for _, at := range officialTimestamps {
			for bodyName, body := range officialBodies {
				t.Run(s.secret+"/"+strconv.FormatInt(at.Unix(), 10)+"/"+bodyName, func(t *testing.T) {
					signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: s.secret, Timestamp: at})
					h := stripeHeader(signed.Header)
					cfg := verify.Config{Scheme: verify.SchemeStripe, Secrets: []string{s.secret}, Now: clockAt(at)}
					v := mustVerifier(t, cfg)

					for _, o := range officialOffsets {
						c := cfg
						c.Now = clockAt(at.Add(o.verify))
						wantErr(t, o.name, mustVerifier(t, c).Verify(h, body), o.want)
					}
					for i, b := range tamper(body) {
						wantErr(t, "tampered body "+strconv.Itoa(i), v.Verify(h, b), verify.ErrInvalidSignature)
					}

					other := cfg
					other.Secrets = []string{s.other}
					wantErr(t, "other secret", mustVerifier(t, other).Verify(h, body), verify.ErrInvalidSignature)
					other.Secrets = []string{s.other, s.secret}
					wantErr(t, "rotation: other secret first", mustVerifier(t, other).Verify(h, body), nil)

					// The signed timestamp is part of the MAC: moving t breaks it.
					moved := strings.Replace(signed.Header, "t="+strconv.FormatInt(at.Unix(), 10), "t="+strconv.FormatInt(at.Unix()+1, 10), 1)
					wantErr(t, "moved timestamp", v.Verify(stripeHeader(moved), body), verify.ErrInvalidSignature)

					// Only v1 counts: the same MAC labelled v0 (the legacy scheme) is refused.
					v0 := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: s.secret, Timestamp: at, Scheme: "v0"})
					wantErr(t, "v0 signature", v.Verify(stripeHeader(v0.Header), body), verify.ErrInvalidSignature)

					// During Stripe's secret roll the header carries several v1 signatures.
					old := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: s.other, Timestamp: at})
					rolled := signed.Header + ",v1=" + hex.EncodeToString(old.Signature)
					wantErr(t, "rolled header, new secret", v.Verify(stripeHeader(rolled), body), nil)
					wantErr(t, "rolled header, old secret", mustVerifier(t, other).Verify(stripeHeader(rolled), body), nil)
				})
			}
		}
	}
}

// TestSignVerifiesWithStripeGo: Stripe-Signature headers from Sign pass
// stripe-go's webhook.ValidatePayload and ConstructEvent, which use the real
// clock.
func TestSignVerifiesWithStripeGo(t *testing.T) {
	event := []byte(`{"id":"evt_3OqT2b2eZvKYlo2C0mXkA7Jq","object":"event","api_version":"` + stripe.APIVersion +
		`","created":1767225600,"type":"payment_intent.succeeded","livemode":false,"pending_webhooks":1,` +
		`"data":{"object":{"id":"pi_3OqT2b2eZvKYlo2C0mXkA7Jq","object":"payment_intent","amount":4200,"currency":"usd"}}}`)
	bodies := map[string][]byte{"event": event}
	for name, b := range officialBodies {
		bodies[name] = b
	}
	for _, s := range stripeSecrets {
		for bodyName, body := range bodies {
			t.Run(s.secret+"/"+bodyName, func(t *testing.T) {
				cfg := verify.Config{Scheme: verify.SchemeStripe, Secrets: []string{s.secret, s.other}}
				now := time.Now()
				h, err := verify.Sign(cfg, body, now, "")
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				header := h.Get("Stripe-Signature")
				if err := webhook.ValidatePayload(body, header, s.secret); err != nil {
					t.Fatalf("stripe-go ValidatePayload(Sign(...)) = %v; header %q", err, header)
				}
				if err := webhook.ValidatePayload(body, header, s.other); !errors.Is(err, webhook.ErrNoValidSignature) {
					t.Errorf("stripe-go with the second secret = %v, want ErrNoValidSignature (Sign uses the first)", err)
				}
				for i, b := range tamper(body) {
					if err := webhook.ValidatePayload(b, header, s.secret); !errors.Is(err, webhook.ErrNoValidSignature) {
						t.Errorf("stripe-go, tampered body %d = %v, want ErrNoValidSignature", i, err)
					}
				}
				stale, err := verify.Sign(cfg, body, now.Add(-10*time.Minute), "")
				if err != nil {
					t.Fatal(err)
				}
				if err := webhook.ValidatePayload(body, stale.Get("Stripe-Signature"), s.secret); !errors.Is(err, webhook.ErrTooOld) {
					t.Errorf("stripe-go, signed 10m ago = %v, want ErrTooOld", err)
				}
				if err := webhook.ValidatePayloadIgnoringTolerance(body, stale.Get("Stripe-Signature"), s.secret); err != nil {
					t.Errorf("stripe-go ignoring tolerance, signed 10m ago = %v", err)
				}

				if bodyName != "event" {
					return
				}
				e, err := webhook.ConstructEvent(body, header, s.secret)
				if err != nil {
					t.Fatalf("stripe-go ConstructEvent(Sign(...)) = %v", err)
				}
				if e.ID != verify.StripeEventID(body) || e.Type != "payment_intent.succeeded" {
					t.Errorf("ConstructEvent: ID %q type %q; StripeEventID %q", e.ID, e.Type, verify.StripeEventID(body))
				}
			})
		}
	}
}

// ---- Standard Webhooks ----

// whsec builds a "whsec_<base64>" secret from raw key bytes.
func whsec(key string) string { return "whsec_" + base64.StdEncoding.EncodeToString([]byte(key)) }

// swSecret is one secret as relay's Config takes it and as the library takes
// it: "whsec_<base64>" through NewWebhook; any other string is raw key bytes
// for relay, which is the library's NewWebhookRaw.
type swSecret struct {
	name   string
	config string
}

func (s swSecret) library(t *testing.T) *standardwebhooks.Webhook {
	t.Helper()
	var (
		wh  *standardwebhooks.Webhook
		err error
	)
	if strings.HasPrefix(s.config, "whsec_") {
		wh, err = standardwebhooks.NewWebhook(s.config)
	} else {
		wh, err = standardwebhooks.NewWebhookRaw([]byte(s.config))
	}
	if err != nil {
		t.Fatalf("standardwebhooks: %v", err)
	}
	return wh
}

var standardSecrets = []struct{ secret, other swSecret }{
	{ // the specification's example secret
		swSecret{"spec", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		swSecret{"spec-other", whsec("a different 24-byte key!")},
	},
	{
		swSecret{"32-byte", whsec("0123456789abcdef0123456789abcdef")},
		swSecret{"64-byte", whsec(strings.Repeat("k", 64))},
	},
	{
		swSecret{"raw", "raw-secret-without-prefix"},
		swSecret{"raw-other", "raw-secret-without-prefiy"},
	},
}

var standardIDs = []string{"msg_p5jXN8AQM9LWM0D4loKWxJek", "01J9ZK3C5Y6Q8E2W4R7T9U1I3O", "evt-with-dashes_and_underscores"}

func standardHeaders(id string, at time.Time, signature string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("webhook-signature", signature)
	return h
}

// TestStandardWebhooksLibrarySigned: signatures from the Standard Webhooks
// library's Webhook.Sign verify, and nothing else does.
func TestStandardWebhooksLibrarySigned(t *testing.T) {
	for _, s := range standardSecrets {
		for i, at := range officialTimestamps {
			id := standardIDs[i%len(standardIDs)]
			for bodyName, body := range officialBodies {
				t.Run(s.secret.name+"/"+strconv.FormatInt(at.Unix(), 10)+"/"+bodyName, func(t *testing.T) {
					sig, err := s.secret.library(t).Sign(id, at, body)
					if err != nil {
						t.Fatalf("library Sign: %v", err)
					}
					h := standardHeaders(id, at, sig)
					cfg := verify.Config{Scheme: verify.SchemeStandardWebhooks, Secrets: []string{s.secret.config}, Now: clockAt(at)}
					v := mustVerifier(t, cfg)

					for _, o := range officialOffsets {
						c := cfg
						c.Now = clockAt(at.Add(o.verify))
						wantErr(t, o.name, mustVerifier(t, c).Verify(h, body), o.want)
					}
					if got := verify.DeliveryID(verify.SchemeStandardWebhooks, h); got != id {
						t.Errorf("DeliveryID = %q, want %q", got, id)
					}
					for i, b := range tamper(body) {
						wantErr(t, "tampered body "+strconv.Itoa(i), v.Verify(h, b), verify.ErrInvalidSignature)
					}
					wantErr(t, "other webhook-id", v.Verify(standardHeaders(id+"x", at, sig), body), verify.ErrInvalidSignature)
					wantErr(t, "moved webhook-timestamp", v.Verify(standardHeaders(id, at.Add(time.Second), sig), body), verify.ErrInvalidSignature)
					wantErr(t, "no signature", v.Verify(standardHeaders(id, at, ""), body), verify.ErrMissingSignature)
					wantErr(t, "v1a label", v.Verify(standardHeaders(id, at, "v1a"+strings.TrimPrefix(sig, "v1")), body), verify.ErrInvalidSignature)

					other := cfg
					other.Secrets = []string{s.other.config}
					wantErr(t, "other secret", mustVerifier(t, other).Verify(h, body), verify.ErrInvalidSignature)
					other.Secrets = []string{s.other.config, s.secret.config}
					wantErr(t, "rotation: other secret first", mustVerifier(t, other).Verify(h, body), nil)

					// Several space-separated signatures, as senders emit during a rotation.
					oldSig, err := s.other.library(t).Sign(id, at, body)
					if err != nil {
						t.Fatal(err)
					}
					both := standardHeaders(id, at, oldSig+" "+sig)
					wantErr(t, "two signatures, new secret", v.Verify(both, body), nil)
					other.Secrets = []string{s.other.config}
					wantErr(t, "two signatures, old secret", mustVerifier(t, other).Verify(both, body), nil)
				})
			}
		}
	}
}

// TestSignVerifiesWithStandardWebhooksLibrary: headers from Sign pass the
// library's Webhook.Verify, which uses the real clock and a 5m tolerance.
func TestSignVerifiesWithStandardWebhooksLibrary(t *testing.T) {
	for _, s := range standardSecrets {
		for i, id := range standardIDs {
			for bodyName, body := range officialBodies {
				t.Run(s.secret.name+"/"+strconv.Itoa(i)+"/"+bodyName, func(t *testing.T) {
					cfg := verify.Config{Scheme: verify.SchemeStandardWebhooks, Secrets: []string{s.secret.config, s.other.config}}
					now := time.Now()
					h, err := verify.Sign(cfg, body, now, id)
					if err != nil {
						t.Fatalf("Sign: %v", err)
					}
					lib := s.secret.library(t)
					if err := lib.Verify(body, h); err != nil {
						t.Fatalf("library Verify(Sign(...)) = %v; headers %v", err, h)
					}
					if err := s.other.library(t).Verify(body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
						t.Errorf("library with the second secret = %v, want ErrNoMatchingSignature (Sign uses the first)", err)
					}
					for i, b := range tamper(body) {
						if err := lib.Verify(b, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
							t.Errorf("library, tampered body %d = %v, want ErrNoMatchingSignature", i, err)
						}
					}
					forged := h.Clone()
					forged.Set("webhook-id", id+"x")
					if err := lib.Verify(body, forged); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
						t.Errorf("library, other webhook-id = %v, want ErrNoMatchingSignature", err)
					}
					for _, c := range []struct {
						at   time.Time
						want error
					}{
						{now.Add(-10 * time.Minute), standardwebhooks.ErrMessageTooOld},
						{now.Add(10 * time.Minute), standardwebhooks.ErrMessageTooNew},
					} {
						h, err := verify.Sign(cfg, body, c.at, id)
						if err != nil {
							t.Fatal(err)
						}
						if err := lib.Verify(body, h); !errors.Is(err, c.want) {
							t.Errorf("library, signed at now%+v = %v, want %v", c.at.Sub(now).Round(time.Minute), err, c.want)
						}
						if err := lib.VerifyIgnoringTimestamp(body, h); err != nil {
							t.Errorf("library ignoring timestamp, signed at now%+v = %v", c.at.Sub(now).Round(time.Minute), err)
						}
					}
				})
			}
		}
	}
}
