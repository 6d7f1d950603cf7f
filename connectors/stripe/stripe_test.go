package stripe

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relay-dev/relay/connectors"
)

func TestEncodeForm(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"empty", map[string]any{}, ""},
		{"scalars sorted", map[string]any{"currency": "usd", "amount": int64(2000), "confirm": true}, "amount=2000&confirm=true&currency=usd"},
		{"float integral and fractional", map[string]any{"a": 2000.0, "b": 1.5}, "a=2000&b=1.5"},
		{"nested metadata sorted", map[string]any{"metadata": map[string]any{"order_id": "o-1", "channel": "web"}}, "metadata[channel]=web&metadata[order_id]=o-1"},
		{"list of scalars", map[string]any{"expand": []any{"customer", "latest_charge"}}, "expand[]=customer&expand[]=latest_charge"},
		{"list of objects indexed", map[string]any{"items": []any{map[string]any{"price": "p1", "quantity": 2}, map[string]any{"price": "p2"}}}, "items[0][price]=p1&items[0][quantity]=2&items[1][price]=p2"},
		{"deep nesting", map[string]any{"a": map[string]any{"b": map[string]any{"c": "d"}}}, "a[b][c]=d"},
		{"nil left out", map[string]any{"a": nil, "b": "x", "m": map[string]any{"k": nil}}, "b=x"},
		{"empty string kept (unsets in Stripe)", map[string]any{"description": ""}, "description="},
		{"values escaped", map[string]any{"description": "Order #1 & co", "email": "a+b@example.com"}, "description=Order+%231+%26+co&email=a%2Bb%40example.com"},
		{"keys escaped inside brackets", map[string]any{"metadata": map[string]any{"a b&c": "1"}}, "metadata[a+b%26c]=1"},
		{"json.Number", map[string]any{"amount": json.Number("12")}, "amount=12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeForm(tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("encodeForm = %q\nwant         %q", got, tt.want)
			}
		})
	}
	t.Run("deterministic", func(t *testing.T) {
		p := map[string]any{"z": "1", "a": "2", "m": map[string]any{"y": "1", "b": "2", "k": "3"}}
		first, _ := encodeForm(p)
		for range 50 {
			if again, _ := encodeForm(p); again != first {
				t.Fatalf("encodeForm gave %q then %q", first, again)
			}
		}
	})
	t.Run("unsupported value", func(t *testing.T) {
		if _, err := encodeForm(map[string]any{"f": func() {}}); err == nil || !strings.Contains(err.Error(), "f:") {
			t.Errorf("err = %v, want an error naming the key", err)
		}
	})
}

func TestStripeError(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		body          string
		retryAfter    time.Duration
		wantType      string
		wantRetryable bool
		wantAfter     time.Duration
		wantMsg       string
	}{
		{
			name: "card declined", status: 402,
			body:     `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.","param":""}}`,
			wantType: "stripe.card_declined", wantMsg: "stripe POST /v1/payment_intents: 402 card_error (code card_declined, decline_code insufficient_funds): Your card has insufficient funds.",
		},
		{
			name: "missing param", status: 400,
			body:     `{"error":{"type":"invalid_request_error","code":"parameter_missing","param":"amount","message":"Missing required param: amount."}}`,
			wantType: "stripe.parameter_missing", wantMsg: "stripe POST /v1/payment_intents: 400 invalid_request_error (code parameter_missing, param amount): Missing required param: amount.",
		},
		{name: "type without code", status: 401, body: `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}`, wantType: "stripe.invalid_request_error"},
		{name: "idempotency conflict", status: 422, body: `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}`, wantType: "stripe.idempotency_error"},
		{name: "rate limit code", status: 429, retryAfter: 30 * time.Second, body: `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`, wantType: "stripe.rate_limit", wantRetryable: true, wantAfter: 30 * time.Second},
		{name: "rate limit type", status: 429, body: `{"error":{"type":"rate_limit_error","message":"too many requests"}}`, wantType: "stripe.rate_limit_error", wantRetryable: true},
		{name: "lock timeout", status: 429, body: `{"error":{"type":"invalid_request_error","code":"lock_timeout","message":"locked"}}`, wantType: "stripe.lock_timeout", wantRetryable: true},
		{name: "api error 500", status: 500, body: `{"error":{"type":"api_error","message":"Something went wrong on Stripe's end."}}`, wantType: "stripe.api_error", wantRetryable: true},
		{name: "key in use", status: 409, body: `{"error":{"type":"idempotency_error","code":"idempotency_key_in_use","message":"in use"}}`, wantType: "stripe.idempotency_key_in_use", wantRetryable: true},
		{name: "retry-after dropped on permanent", status: 400, retryAfter: time.Minute, body: `{"error":{"type":"invalid_request_error","message":"bad"}}`, wantType: "stripe.invalid_request_error"},
		// Not Stripe's shape: the client's classification stands.
		{name: "no type nor code", status: 422, body: `{"error":{"message":"invalid"}}`, wantType: "http.422"},
		{name: "not JSON", status: 502, body: `<html>bad gateway</html>`, wantType: "http.502", wantRetryable: true},
		{name: "empty body", status: 429, retryAfter: 2 * time.Minute, wantType: "http.429", wantRetryable: true, wantAfter: 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// What the client hands over for such an answer.
			in := &connectors.Error{Type: "http." + strconv.Itoa(tt.status), Retryable: tt.status >= 500 || tt.status == 429, RetryAfter: tt.retryAfter, Status: tt.status, Message: "client message", Body: []byte(tt.body)}
			ce, ok := connectors.AsError(stripeError(http.MethodPost, "/v1/payment_intents", in))
			if !ok {
				t.Fatal("not a *connectors.Error")
			}
			if ce.Type != tt.wantType || ce.Retryable != tt.wantRetryable || ce.RetryAfter != tt.wantAfter || ce.Status != tt.status {
				t.Errorf("got type %q retryable %v after %v status %d, want %q %v %v %d", ce.Type, ce.Retryable, ce.RetryAfter, ce.Status, tt.wantType, tt.wantRetryable, tt.wantAfter, tt.status)
			}
			if tt.wantMsg != "" && ce.Message != tt.wantMsg {
				t.Errorf("message = %q\nwant      %q", ce.Message, tt.wantMsg)
			}
		})
	}
}

// roundTrip answers every request with 200 {} and records it.
type roundTrip struct {
	reqs   []*http.Request
	bodies []string
}

func (rt *roundTrip) RoundTrip(r *http.Request) (*http.Response, error) {
	var body string
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		body = string(b)
	}
	rt.reqs = append(rt.reqs, r)
	rt.bodies = append(rt.bodies, body)
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(`{"id":"x"}`)), Request: r}, nil
}

func TestRequests(t *testing.T) {
	tests := []struct {
		action, baseURL string
		params          map[string]any
		wantURL         string
		wantBody        string
	}{
		{"create_customer", "", map[string]any{"email": "ada@example.com", "name": "Ada", "metadata": map[string]any{"crm_id": 42.0}},
			"https://api.stripe.com/v1/customers", "email=ada%40example.com&metadata[crm_id]=42&name=Ada"},
		{"create_payment_intent", "http://127.0.0.1:9/stripe/", map[string]any{"amount": 2000, "currency": "usd", "metadata": map[string]any{"order_id": "o-1"}},
			"http://127.0.0.1:9/stripe/v1/payment_intents", "amount=2000&capture_method=manual&confirm=true&currency=usd&metadata[order_id]=o-1&payment_method=pm_card_visa"},
		{"create_payment_intent", "", map[string]any{"amount": "2000", "currency": "eur", "confirm": false, "capture_method": "automatic", "customer": "cus_1", "description": "Order 1"},
			"https://api.stripe.com/v1/payment_intents", "amount=2000&capture_method=automatic&confirm=false&currency=eur&customer=cus_1&description=Order+1&payment_method=pm_card_visa"},
		{"confirm_payment_intent", "", map[string]any{"id": "pi_1"}, "https://api.stripe.com/v1/payment_intents/pi_1/confirm", ""},
		{"capture_payment_intent", "", map[string]any{"id": "pi_1", "amount_to_capture": 1500.0}, "https://api.stripe.com/v1/payment_intents/pi_1/capture", "amount_to_capture=1500"},
		{"cancel_payment_intent", "", map[string]any{"id": "pi/../x"}, "https://api.stripe.com/v1/payment_intents/pi%2F..%2Fx/cancel", ""},
		{"retrieve_payment_intent", "", map[string]any{"id": "pi_1"}, "https://api.stripe.com/v1/payment_intents/pi_1", ""},
		{"create_refund", "", map[string]any{"payment_intent": "pi_1", "amount": 500, "reason": "requested_by_customer"}, "https://api.stripe.com/v1/refunds", "amount=500&payment_intent=pi_1&reason=requested_by_customer"},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			rt := &roundTrip{}
			cfg := connectors.ConnectionConfig{Connector: "stripe", BaseURL: tt.baseURL, Auth: &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:STRIPE_KEY"}}
			client, err := connectors.NewClient(cfg, func(string) (string, error) { return "sk_test_abc", nil }, connectors.ClientOptions{HTTPClient: &http.Client{Transport: rt}})
			if err != nil {
				t.Fatal(err)
			}
			a := Connector().Action(tt.action)
			params, err := connectors.ParamDefaults(a, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			out, err := a.Do(context.Background(), &connectors.Call{Connection: "payments", Config: cfg, Client: client, Params: params, IdempotencyKey: "wf-1/pay"})
			if err != nil {
				t.Fatal(err)
			}
			if out.(map[string]any)["id"] != "x" {
				t.Errorf("output = %v", out)
			}
			r := rt.reqs[0]
			if got := r.URL.String(); got != tt.wantURL {
				t.Errorf("URL = %s, want %s", got, tt.wantURL)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer sk_test_abc" {
				t.Errorf("Authorization = %q", got)
			}
			if r.Method == http.MethodGet {
				if !a.Short || r.Header.Get("Idempotency-Key") != "" || rt.bodies[0] != "" {
					t.Errorf("GET: Short %v, Idempotency-Key %q, body %q", a.Short, r.Header.Get("Idempotency-Key"), rt.bodies[0])
				}
				return
			}
			if a.Short {
				t.Error("a state-changing action is Short")
			}
			if rt.bodies[0] != tt.wantBody {
				t.Errorf("body = %q\nwant   %q", rt.bodies[0], tt.wantBody)
			}
			if got := r.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := r.Header.Get("Idempotency-Key"); got != "wf-1/pay" {
				t.Errorf("Idempotency-Key = %q", got)
			}
		})
	}
}

func TestInvalidParams(t *testing.T) {
	tests := []struct {
		action string
		params map[string]any
		want   string
	}{
		{"create_payment_intent", map[string]any{"currency": "usd"}, `missing required parameter "amount"`},
		{"create_payment_intent", map[string]any{"amount": 20.5, "currency": "usd"}, "amount must be an integer"},
		{"create_payment_intent", map[string]any{"amount": "20 EUR", "currency": "usd"}, "amount must be an integer"},
		{"create_payment_intent", map[string]any{"amount": 2000, "currency": "usd", "confirm": "yes"}, "confirm must be a boolean"},
		{"create_payment_intent", map[string]any{"amount": 2000, "currency": "usd", "metadata": map[string]any{"a": map[string]any{}}}, "metadata[a] must be a string"},
		{"create_payment_intent", map[string]any{"amount": 2000, "currency": "usd", "metadata": "x"}, "metadata must be an object"},
		{"create_payment_intent", map[string]any{"amount": 2000, "currency": "usd", "amout": 1}, `unknown parameter "amout"`},
		{"capture_payment_intent", map[string]any{"id": ""}, "id must not be empty"},
		{"create_customer", map[string]any{"email": 3}, "email must be a string"},
	}
	client, err := connectors.NewClient(connectors.ConnectionConfig{}, nil, connectors.ClientOptions{HTTPClient: &http.Client{Transport: &roundTrip{}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := Connector().Action(tt.action).Do(context.Background(), &connectors.Call{Client: client, Params: tt.params})
			ce, ok := connectors.AsError(err)
			if !ok || ce.Type != "invalid_params" || ce.Retryable || !strings.Contains(ce.Message, tt.want) {
				t.Errorf("error = %#v, want permanent invalid_params containing %q", err, tt.want)
			}
		})
	}
}
