package stripe_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/stripe"
	"github.com/relay-dev/relay/sandbox"
)

const webhookSecret = "whsec_relay_sandbox_test"

type delivery struct {
	header http.Header
	body   []byte
}

// partner is the connector wired to a sandbox whose webhooks go to a local
// receiver.
type partner struct {
	t     *testing.T
	sb    *sandbox.Server
	url   string
	hooks chan delivery
}

func newPartner(t *testing.T) *partner {
	p := &partner{t: t, hooks: make(chan delivery, 16)}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/hooks/stripe" {
			p.hooks <- delivery{header: r.Header.Clone(), body: body}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	p.sb = sandbox.New(sandbox.Options{WebhookURL: recv.URL, WebhookSecret: webhookSecret, WebhookDelay: time.Millisecond})
	srv := httptest.NewServer(p.sb.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(p.sb.Close)
	p.url = srv.URL
	return p
}

func (p *partner) call(action string, params map[string]any, key string) (map[string]any, error) {
	return p.callWith(connectors.ConnectionConfig{}, "sk_test_relay", action, params, key)
}

func (p *partner) callWith(cfg connectors.ConnectionConfig, apiKey, action string, params map[string]any, key string) (map[string]any, error) {
	p.t.Helper()
	cfg.Connector = "stripe"
	cfg.BaseURL = p.url + "/stripe"
	cfg.Auth = &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:STRIPE_KEY"}
	client, err := connectors.NewClient(cfg, func(string) (string, error) { return apiKey, nil },
		connectors.ClientOptions{RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond})
	if err != nil {
		p.t.Fatal(err)
	}
	a := stripe.Connector().Action(action)
	params, err = connectors.ParamDefaults(a, params)
	if err != nil {
		return nil, err
	}
	out, err := a.Do(context.Background(), &connectors.Call{Connection: "payments", Config: cfg, Client: client, Params: params, IdempotencyKey: key})
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

func (p *partner) must(action string, params map[string]any, key string) map[string]any {
	p.t.Helper()
	out, err := p.call(action, params, key)
	if err != nil {
		p.t.Fatalf("%s: %v", action, err)
	}
	return out
}

func wantError(t *testing.T, err error, typ string, status int, retryable bool) *connectors.Error {
	t.Helper()
	ce, ok := connectors.AsError(err)
	if !ok {
		t.Fatalf("error = %v, want %s", err, typ)
	}
	if ce.Type != typ || ce.Status != status || ce.Retryable != retryable {
		t.Fatalf("error = type %q status %d retryable %v (%s), want %q %d %v", ce.Type, ce.Status, ce.Retryable, ce.Message, typ, status, retryable)
	}
	return ce
}

func TestAgainstSandbox(t *testing.T) {
	p := newPartner(t)

	cus := p.must("create_customer", map[string]any{"email": "ada@example.com", "name": "Ada Lovelace", "metadata": map[string]any{"crm_id": "42"}}, "wf-1/customer")
	if !strings.HasPrefix(cus["id"].(string), "cus_") || cus["email"] != "ada@example.com" {
		t.Fatalf("customer = %v", cus)
	}

	pi := p.must("create_payment_intent", map[string]any{
		"amount": 2000, "currency": "usd", "customer": cus["id"], "metadata": map[string]any{"order_id": "order-1001"},
	}, "wf-1/charge")
	id := pi["id"].(string)
	if !strings.HasPrefix(id, "pi_") || pi["status"] != "requires_capture" || pi["amount_capturable"] != 2000.0 || pi["capture_method"] != "manual" {
		t.Fatalf("payment intent = %v", pi)
	}
	if got := p.must("retrieve_payment_intent", map[string]any{"id": id}, ""); got["status"] != "requires_capture" || got["customer"] != cus["id"] {
		t.Fatalf("retrieved = %v", got)
	}

	capture := map[string]any{"id": id}
	captured := p.must("capture_payment_intent", capture, "wf-1/capture")
	if captured["status"] != "succeeded" || captured["amount_received"] != 2000.0 || captured["amount_capturable"] != 0.0 {
		t.Fatalf("captured = %v", captured)
	}

	t.Run("same key replays without a second capture", func(t *testing.T) {
		again := p.must("capture_payment_intent", capture, "wf-1/capture")
		if again["id"] != id || again["status"] != "succeeded" {
			t.Errorf("replay = %v", again)
		}
		if n := p.sb.Stats().Counts["stripe.payment_intents.captured"]; n != 1 {
			t.Errorf("captured %d times, want 1", n)
		}
	})
	t.Run("same key, other body", func(t *testing.T) {
		_, err := p.call("capture_payment_intent", map[string]any{"id": id, "amount_to_capture": 100}, "wf-1/capture")
		wantError(t, err, "stripe.idempotency_error", http.StatusUnprocessableEntity, false)
	})
	t.Run("capture twice with a new key", func(t *testing.T) {
		_, err := p.call("capture_payment_intent", capture, "wf-1/capture-again")
		wantError(t, err, "stripe.payment_intent_unexpected_state", http.StatusBadRequest, false)
	})

	t.Run("webhook", func(t *testing.T) {
		var d delivery
		select {
		case d = <-p.hooks:
		case <-time.After(5 * time.Second):
			t.Fatal("no payment_intent.succeeded webhook within 5s")
		}
		verifySignature(t, d.header.Get("Stripe-Signature"), d.body)
		var evt struct {
			ID, Type string
			Created  int64
			Data     struct{ Object map[string]any }
		}
		if err := json.Unmarshal(d.body, &evt); err != nil {
			t.Fatal(err)
		}
		md, _ := evt.Data.Object["metadata"].(map[string]any)
		if !strings.HasPrefix(evt.ID, "evt_") || evt.Type != "payment_intent.succeeded" || evt.Created == 0 ||
			evt.Data.Object["id"] != id || evt.Data.Object["status"] != "succeeded" || md["order_id"] != "order-1001" {
			t.Errorf("event = %s", d.body)
		}
	})

	re := p.must("create_refund", map[string]any{"payment_intent": id, "amount": 500, "reason": "requested_by_customer"}, "wf-1/refund-1")
	if !strings.HasPrefix(re["id"].(string), "re_") || re["amount"] != 500.0 || re["status"] != "succeeded" || re["payment_intent"] != id {
		t.Fatalf("refund = %v", re)
	}
	if rest := p.must("create_refund", map[string]any{"payment_intent": id}, "wf-1/refund-2"); rest["amount"] != 1500.0 {
		t.Fatalf("second refund = %v, want the remaining 1500", rest)
	}
	_, err := p.call("create_refund", map[string]any{"payment_intent": id}, "wf-1/refund-3")
	wantError(t, err, "stripe.charge_already_refunded", http.StatusBadRequest, false)

	want := map[string]int{
		"stripe.customers.created":         1,
		"stripe.payment_intents.created":   1,
		"stripe.payment_intents.confirmed": 1,
		"stripe.payment_intents.captured":  1,
		"stripe.refunds.created":           2,
		"stripe.events.created":            1,
	}
	counts := p.sb.Stats().Counts
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s = %d, want %d (all: %v)", k, counts[k], n, counts)
		}
	}
}

func TestSandboxDeclinedCard(t *testing.T) {
	p := newPartner(t)
	_, err := p.call("create_payment_intent", map[string]any{"amount": 2000, "currency": "usd", "payment_method": "pm_card_chargeDeclined"}, "wf-2/charge")
	ce := wantError(t, err, "stripe.card_declined", http.StatusPaymentRequired, false)
	if !strings.Contains(ce.Message, "decline_code generic_decline") || !strings.Contains(ce.Message, "Your card was declined.") {
		t.Errorf("message = %q", ce.Message)
	}
	if n := p.sb.Stats().Counts["stripe.payment_intents.captured"]; n != 0 {
		t.Errorf("a declined card was captured %d times", n)
	}
}

func TestSandboxConfirmCancelAndAuth(t *testing.T) {
	p := newPartner(t)
	pi := p.must("create_payment_intent", map[string]any{"amount": 1200, "currency": "EUR", "confirm": false}, "wf-3/charge")
	id := pi["id"].(string)
	if pi["status"] != "requires_confirmation" || pi["currency"] != "eur" {
		t.Fatalf("created = %v", pi)
	}
	if got := p.must("confirm_payment_intent", map[string]any{"id": id}, "wf-3/confirm"); got["status"] != "requires_capture" {
		t.Fatalf("confirmed = %v", got)
	}
	if got := p.must("cancel_payment_intent", map[string]any{"id": id}, "wf-3/cancel"); got["status"] != "canceled" || got["canceled_at"] == nil {
		t.Fatalf("canceled = %v", got)
	}
	_, err := p.call("capture_payment_intent", map[string]any{"id": id}, "wf-3/capture")
	wantError(t, err, "stripe.payment_intent_unexpected_state", http.StatusBadRequest, false)
	_, err = p.call("retrieve_payment_intent", map[string]any{"id": "pi_nope"}, "")
	wantError(t, err, "stripe.resource_missing", http.StatusNotFound, false)
	_, err = p.callWith(connectors.ConnectionConfig{}, "sk_live_real", "retrieve_payment_intent", map[string]any{"id": id}, "")
	wantError(t, err, "stripe.invalid_request_error", http.StatusUnauthorized, false)
}

// A capture that applied and then failed with a 500 is retried with the
// same key: the sandbox replays the capture instead of doing it again.
func TestSandboxRetryAfterEffect(t *testing.T) {
	p := newPartner(t)
	pi := p.must("create_payment_intent", map[string]any{"amount": 900, "currency": "usd"}, "wf-4/charge")
	cfg := connectors.ConnectionConfig{Headers: map[string]string{sandbox.FaultHeader: "500-after-effect"}}
	got, err := p.callWith(cfg, "sk_test_relay", "capture_payment_intent", map[string]any{"id": pi["id"]}, "wf-4/capture")
	if err != nil {
		t.Fatal(err)
	}
	if got["status"] != "succeeded" {
		t.Errorf("capture = %v", got)
	}
	if n := p.sb.Stats().Counts["stripe.payment_intents.captured"]; n != 1 {
		t.Errorf("captured %d times, want 1", n)
	}
}

// verifySignature checks a Stripe-Signature header the way Stripe's
// libraries do: HMAC-SHA256 of "<t>.<body>" keyed with the whole secret.
func verifySignature(t *testing.T, header string, body []byte) {
	t.Helper()
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		t.Fatalf("Stripe-Signature %q: want t=<unix>,v1=<hex>", header)
	}
	if age := time.Since(time.Unix(sec, 0)); age < -time.Minute || age > 5*time.Minute {
		t.Errorf("signature timestamp %s is not recent", time.Unix(sec, 0))
	}
	m := hmac.New(sha256.New, []byte(webhookSecret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range sigs {
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return
		}
	}
	t.Errorf("Stripe-Signature %q does not verify with the webhook secret", header)
}
