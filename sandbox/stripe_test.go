package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseStripeForm(t *testing.T) {
	tests := []struct {
		body    string
		want    stripeForm
		wantErr bool
	}{
		{"", stripeForm{}, false},
		{"amount=2000&currency=usd", stripeForm{"amount": "2000", "currency": "usd"}, false},
		{"metadata[order_id]=o-1&metadata[channel]=web", stripeForm{"metadata": map[string]any{"order_id": "o-1", "channel": "web"}}, false},
		{"metadata%5Border_id%5D=o-1", stripeForm{"metadata": map[string]any{"order_id": "o-1"}}, false},
		{"expand[]=customer&expand[]=latest_charge", stripeForm{"expand": []any{"customer", "latest_charge"}}, false},
		{"a[b][c]=d", stripeForm{"a": map[string]any{"b": map[string]any{"c": "d"}}}, false},
		{"description=Order+%231", stripeForm{"description": "Order #1"}, false},
		{"a[b=1", nil, true},
		{"[a]=1", nil, true},
		{"a=1&a[b]=2", nil, true},
		{"a[]=1&a[b]=2", nil, true},
		{"%zz=1", nil, true},
	}
	for _, tt := range tests {
		got, fail := parseStripeForm([]byte(tt.body))
		if (fail != nil) != tt.wantErr {
			t.Errorf("parseStripeForm(%q) error = %v, want error %v", tt.body, fail, tt.wantErr)
			continue
		}
		if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseStripeForm(%q) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

type stripeAPI struct {
	t   *testing.T
	s   *Server
	url string
}

func newStripeAPI(t *testing.T, opts Options) *stripeAPI {
	s := New(opts)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(s.Close)
	return &stripeAPI{t: t, s: s, url: srv.URL + "/stripe/v1"}
}

// do sends a request with a test key and returns the status and JSON body.
func (a *stripeAPI) do(method, path, form, key string, header ...string) (int, map[string]any) {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(form))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer sk_test_sandbox")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		a.t.Fatalf("%s %s: decoding answer: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// stripeErrorOf returns the `error` object of a Stripe error body.
func stripeErrorOf(t *testing.T, status, wantStatus int, body map[string]any) map[string]any {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if status != wantStatus || !ok {
		t.Fatalf("status %d body %v, want %d and a Stripe error", status, body, wantStatus)
	}
	return e
}

func TestStripeErrors(t *testing.T) {
	a := newStripeAPI(t, Options{})
	tests := []struct {
		name, method, path, form string
		header                   []string
		status                   int
		typ, code, param         string
	}{
		{"no key", "GET", "/payment_intents/pi_1", "", []string{"Authorization", ""}, 401, "invalid_request_error", "", ""},
		{"live key", "GET", "/payment_intents/pi_1", "", []string{"Authorization", "Bearer sk_live_1"}, 401, "invalid_request_error", "", ""},
		{"basic auth", "GET", "/payment_intents/pi_1", "", []string{"Authorization", "Basic c2tfdGVzdF8xOg=="}, 401, "invalid_request_error", "", ""},
		{"missing amount", "POST", "/payment_intents", "currency=usd", nil, 400, "invalid_request_error", "parameter_missing", "amount"},
		{"bad amount", "POST", "/payment_intents", "amount=12.5&currency=usd", nil, 400, "invalid_request_error", "parameter_invalid_integer", "amount"},
		{"missing currency", "POST", "/payment_intents", "amount=100", nil, 400, "invalid_request_error", "parameter_missing", "currency"},
		{"bad capture_method", "POST", "/payment_intents", "amount=100&currency=usd&capture_method=later", nil, 400, "invalid_request_error", "", "capture_method"},
		{"confirm without payment method", "POST", "/payment_intents", "amount=100&currency=usd&confirm=true", nil, 400, "invalid_request_error", "parameter_missing", "payment_method"},
		{"unknown param", "POST", "/payment_intents", "amount=100&currency=usd&amout=1", nil, 400, "invalid_request_error", "parameter_unknown", "amout"},
		{"unknown customer", "POST", "/payment_intents", "amount=100&currency=usd&customer=cus_nope", nil, 400, "invalid_request_error", "resource_missing", "customer"},
		{"metadata not a hash", "POST", "/customers", "metadata=x", nil, 400, "invalid_request_error", "", "metadata"},
		{"declined", "POST", "/payment_intents", "amount=100&currency=usd&confirm=true&payment_method=pm_card_chargeDeclined", nil, 402, "card_error", "card_declined", ""},
		{"missing intent", "POST", "/payment_intents/pi_nope/capture", "", nil, 404, "invalid_request_error", "resource_missing", "intent"},
		{"refund without target", "POST", "/refunds", "amount=100", nil, 400, "invalid_request_error", "parameter_missing", ""},
		{"unrecognized URL", "GET", "/charges", "", nil, 404, "invalid_request_error", "", ""},
		{"method not routed", "DELETE", "/customers", "", nil, 404, "invalid_request_error", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := a.do(tt.method, tt.path, tt.form, "", tt.header...)
			e := stripeErrorOf(t, status, tt.status, body)
			if e["type"] != tt.typ || (e["code"] != nil || tt.code != "") && e["code"] != tt.code || (e["param"] != nil || tt.param != "") && e["param"] != tt.param {
				t.Errorf("error = %v, want type %q code %q param %q", e, tt.typ, tt.code, tt.param)
			}
			if msg, _ := e["message"].(string); msg == "" {
				t.Error("error without message")
			}
		})
	}
	if got := a.s.Stats().Counts["stripe.payment_intents.declined"]; got != 1 {
		t.Errorf("declined = %d, want 1", got)
	}
}

func TestStripeDecline(t *testing.T) {
	a := newStripeAPI(t, Options{})
	status, body := a.do("POST", "/payment_intents", "amount=100&currency=usd&confirm=true&payment_method=pm_card_chargeDeclinedInsufficientFunds", "k1")
	e := stripeErrorOf(t, status, 402, body)
	pi, _ := e["payment_intent"].(map[string]any)
	if e["decline_code"] != "insufficient_funds" || pi["status"] != "requires_payment_method" || pi["last_payment_error"] == nil {
		t.Fatalf("decline = %v", e)
	}
	// The intent exists and may be confirmed again with another card.
	status, body = a.do("POST", "/payment_intents/"+pi["id"].(string)+"/confirm", "payment_method=pm_card_visa", "k2")
	if status != 200 || body["status"] != "succeeded" || body["amount_received"] != 100.0 {
		t.Fatalf("confirm with another card: %d %v", status, body)
	}
}

// Parameter errors are not stored under the key: the same key with fixed
// parameters goes through.
func TestStripeParameterErrorsAreNotStored(t *testing.T) {
	a := newStripeAPI(t, Options{})
	if status, _ := a.do("POST", "/payment_intents", "currency=usd", "k"); status != 400 {
		t.Fatalf("status %d, want 400", status)
	}
	if status, body := a.do("POST", "/payment_intents", "amount=100&currency=usd", "k"); status != 200 || body["status"] != "requires_payment_method" {
		t.Fatalf("retry with the same key: %d %v", status, body)
	}
}

func TestStripeLifecycleAndWebhook(t *testing.T) {
	hooks := make(chan *http.Request, 4)
	bodies := make(chan []byte, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooks <- r
		bodies <- b
	}))
	t.Cleanup(recv.Close)
	a := newStripeAPI(t, Options{WebhookURL: recv.URL, WebhookSecret: "whsec_abc", WebhookDelay: time.Millisecond})

	// Automatic capture: confirmed and captured at once.
	status, pi := a.do("POST", "/payment_intents", "amount=750&currency=usd&confirm=true&capture_method=automatic&payment_method=pm_card_visa&metadata[order_id]=o-7", "k1")
	if status != 200 || pi["status"] != "succeeded" || pi["amount_received"] != 750.0 || pi["latest_charge"] == nil {
		t.Fatalf("automatic capture: %d %v", status, pi)
	}
	var r *http.Request
	var body []byte
	select {
	case r = <-hooks:
		body = <-bodies
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook")
	}
	if r.URL.Path != StripeWebhookPath {
		t.Errorf("webhook path %s", r.URL.Path)
	}
	ts, sig, _ := strings.Cut(r.Header.Get("Stripe-Signature"), ",v1=")
	ts = strings.TrimPrefix(ts, "t=")
	m := hmac.New(sha256.New, []byte("whsec_abc"))
	m.Write([]byte(ts + "." + string(body)))
	if want := hex.EncodeToString(m.Sum(nil)); sig != want {
		t.Errorf("Stripe-Signature %q, want v1=%s", r.Header.Get("Stripe-Signature"), want)
	}
	var evt map[string]any
	if err := json.Unmarshal(body, &evt); err != nil {
		t.Fatal(err)
	}
	obj := evt["data"].(map[string]any)["object"].(map[string]any)
	if evt["type"] != "payment_intent.succeeded" || obj["id"] != pi["id"] || obj["metadata"].(map[string]any)["order_id"] != "o-7" {
		t.Errorf("event = %s", body)
	}

	// Partial refunds up to the amount received, by charge or intent.
	id := pi["id"].(string)
	if status, re := a.do("POST", "/refunds", "charge="+pi["latest_charge"].(string)+"&amount=250", "r1"); status != 200 || re["amount"] != 250.0 || re["payment_intent"] != id {
		t.Fatalf("refund by charge: %d %v", status, re)
	}
	status, body2 := a.do("POST", "/refunds", "payment_intent="+id+"&amount=600", "r2")
	if e := stripeErrorOf(t, status, 400, body2); e["code"] != "amount_too_large" {
		t.Errorf("refund beyond the rest: %v", e)
	}
	if status, re := a.do("POST", "/refunds", "payment_intent="+id+"&reason=duplicate", "r3"); status != 200 || re["amount"] != 500.0 || re["reason"] != "duplicate" {
		t.Fatalf("refund the rest: %d %v", status, re)
	}

	// Manual capture of part of the amount; cancel only before capture.
	_, pi2 := a.do("POST", "/payment_intents", "amount=1000&currency=usd&confirm=true&capture_method=manual&payment_method=pm_card_visa", "k2")
	id2 := pi2["id"].(string)
	status, body2 = a.do("POST", "/payment_intents/"+id2+"/capture", "amount_to_capture=1001", "c0")
	if e := stripeErrorOf(t, status, 400, body2); e["code"] != "amount_too_large" {
		t.Errorf("capture beyond the authorized amount: %v", e)
	}
	if status, got := a.do("POST", "/payment_intents/"+id2+"/capture", "amount_to_capture=600", "c1"); status != 200 || got["amount_received"] != 600.0 || got["status"] != "succeeded" {
		t.Fatalf("partial capture: %d %v", status, got)
	}
	status, body2 = a.do("POST", "/payment_intents/"+id2+"/cancel", "", "x1")
	if e := stripeErrorOf(t, status, 400, body2); e["code"] != "payment_intent_unexpected_state" {
		t.Errorf("cancel after capture: %v", e)
	}
	if status, got := a.do("GET", "/payment_intents/"+id2, "", ""); status != 200 || got["amount_received"] != 600.0 {
		t.Fatalf("retrieve: %d %v", status, got)
	}

	a.s.Close()
	want := map[string]int{
		"stripe.payment_intents.created":   2,
		"stripe.payment_intents.confirmed": 2,
		"stripe.payment_intents.captured":  2,
		"stripe.refunds.created":           2,
		"stripe.events.created":            2,
		"webhooks.delivered":               2,
	}
	counts := a.s.Stats().Counts
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s = %d, want %d (all: %v)", k, counts[k], n, counts)
		}
	}
}
