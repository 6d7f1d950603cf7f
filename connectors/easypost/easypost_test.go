package easypost

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/relay-dev/relay/connectors"
)

func testClient(t *testing.T, baseURL string) *connectors.Client {
	t.Helper()
	c, err := connectors.NewClient(connectors.ConnectionConfig{Connector: "easypost", BaseURL: baseURL,
		Auth: &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:EASYPOST_API_KEY"}},
		func(string) (string, error) { return "EZTKsecret42", nil },
		connectors.ClientOptions{RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		retryAfter    string
		body          string
		wantType      string
		wantRetryable bool
		wantAfter     time.Duration
		wantMsg       []string
	}{
		{
			name: "field errors as objects", status: 422,
			body:     `{"error":{"code":"SHIPMENT.INVALID_PARAMS","message":"Unable to create shipment.","errors":[{"field":"parcel.weight","message":"must be greater than 0","suggestion":null}]}}`,
			wantType: "easypost.SHIPMENT.INVALID_PARAMS", wantMsg: []string{"HTTP 422", "Unable to create shipment.", "parcel.weight: must be greater than 0"},
		},
		{
			name: "field errors as strings", status: 422,
			body:     `{"error":{"code":"ADDRESS.VERIFY.FAILURE","message":"Address not found","errors":["House number is missing"]}}`,
			wantType: "easypost.ADDRESS.VERIFY.FAILURE", wantMsg: []string{"Address not found (House number is missing)"},
		},
		{name: "not found", status: 404, body: `{"error":{"code":"NOT_FOUND","message":"The requested resource could not be found.","errors":[]}}`, wantType: "easypost.NOT_FOUND"},
		{name: "unauthorized", status: 401, body: `{"error":{"code":"APIKEY.REQUIRED","message":"API key required"}}`, wantType: "easypost.APIKEY.REQUIRED"},
		{name: "payment required", status: 402, body: `{"error":{"code":"PAYMENT_REQUIRED","message":"Insufficient funds"}}`, wantType: "easypost.PAYMENT_REQUIRED"},
		{
			name: "rate limited keeps retry and wait", status: 429, retryAfter: "90",
			body:     `{"error":{"code":"RATE_LIMITED","message":"Too many requests"}}`,
			wantType: "easypost.RATE_LIMITED", wantRetryable: true, wantAfter: 90 * time.Second,
		},
		{name: "server error stays retryable", status: 503, body: `{"error":{"code":"INTERNAL_SERVER_ERROR","message":"try again"}}`, wantType: "easypost.INTERNAL_SERVER_ERROR", wantRetryable: true},
		{name: "no code keeps the http type", status: 422, body: `{"error":{"message":"invalid"}}`, wantType: "http.422"},
		{name: "not JSON", status: 500, body: `<html>bad gateway</html>`, wantType: "http.500", wantRetryable: true},
		{name: "odd code", status: 400, body: `{"error":{"code":"has spaces in it","message":"x"}}`, wantType: "http.400"},
		{name: "secret echoed is redacted", status: 400, body: `{"error":{"code":"BAD_REQUEST","message":"bad key EZTKsecret42"}}`, wantType: "easypost.BAD_REQUEST", wantMsg: []string{"bad key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			_, err := Connector().Action("refund_shipment").Do(context.Background(), &connectors.Call{
				Config: connectors.ConnectionConfig{BaseURL: srv.URL}, Client: testClient(t, srv.URL),
				Params: map[string]any{"id": "shp_1"}, IdempotencyKey: "k",
			})
			ce, ok := connectors.AsError(err)
			if !ok {
				t.Fatalf("error %v is not a *connectors.Error", err)
			}
			if ce.Type != tt.wantType || ce.Retryable != tt.wantRetryable || ce.RetryAfter != tt.wantAfter || ce.Status != tt.status {
				t.Errorf("got type %q retryable %v after %v status %d, want %q %v %v %d",
					ce.Type, ce.Retryable, ce.RetryAfter, ce.Status, tt.wantType, tt.wantRetryable, tt.wantAfter, tt.status)
			}
			for _, want := range tt.wantMsg {
				if !strings.Contains(ce.Message, want) {
					t.Errorf("message %q does not contain %q", ce.Message, want)
				}
			}
			if strings.Contains(ce.Message, "EZTKsecret42") {
				t.Errorf("message shows the API key: %q", ce.Message)
			}
		})
	}
}

func TestCheapest(t *testing.T) {
	tests := []struct {
		name    string
		rates   []any
		want    string
		wantErr string
	}{
		{name: "string rates", rates: []any{
			map[string]any{"id": "rate_1", "rate": "10.50"},
			map[string]any{"id": "rate_2", "rate": "9.95"},
			map[string]any{"id": "rate_3", "rate": "10.00"},
		}, want: "rate_2"},
		{name: "number rates, first on a tie", rates: []any{
			map[string]any{"id": "rate_1", "rate": 7.0},
			map[string]any{"id": "rate_2", "rate": 7.0},
		}, want: "rate_1"},
		{name: "unparsable skipped", rates: []any{
			map[string]any{"id": "rate_1", "rate": "n/a"},
			map[string]any{"id": "rate_2", "rate": "12"},
		}, want: "rate_2"},
		{name: "no rates", rates: nil, wantErr: "easypost.no_rates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cheapest("buy_shipment", map[string]any{"id": "shp_1", "rates": tt.rates, "messages": []any{map[string]any{"carrier": "UPS", "message": "no service"}}})
			if tt.wantErr != "" {
				if ce, ok := connectors.AsError(err); !ok || ce.Type != tt.wantErr || ce.Retryable || !strings.Contains(ce.Message, "no service") {
					t.Fatalf("error = %v, want permanent %s naming the carrier message", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("cheapest = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestInvalidParams(t *testing.T) {
	addr := map[string]any{"street1": "1 Main St", "zip": "94104"}
	tests := []struct {
		action string
		params map[string]any
	}{
		{"create_shipment", map[string]any{"to_address": addr, "from_address": addr}},
		{"create_shipment", map[string]any{"to_address": "1 Main St", "from_address": addr, "parcel": map[string]any{"weight": 1.0}}},
		{"create_shipment", map[string]any{"to_address": addr, "from_address": addr, "parcel": map[string]any{"length": 3.0}}},
		{"create_shipment", map[string]any{"to_address": addr, "from_address": addr, "parcel": map[string]any{"weight": -2.0}}},
		{"create_shipment", map[string]any{"to_address": addr, "from_address": addr, "parcel": map[string]any{"weight": 2.0}, "reference": 7.0}},
		{"buy_shipment", map[string]any{"id": ""}},
		{"buy_shipment", map[string]any{"id": "shp_1", "rate_id": 3.0}},
		{"get_tracker", map[string]any{}},
		{"refund_shipment", map[string]any{"id": 12.0}},
	}
	client := testClient(t, "http://127.0.0.1:1")
	for _, tt := range tests {
		_, err := Connector().Action(tt.action).Do(context.Background(), &connectors.Call{Client: client, Params: tt.params})
		if ce, ok := connectors.AsError(err); !ok || ce.Type != "invalid_params" || ce.Retryable {
			t.Errorf("%s %v: error = %v, want permanent invalid_params", tt.action, tt.params, err)
		}
	}
}

func TestDefaultBaseURL(t *testing.T) {
	var gotURL string
	client, err := connectors.NewClient(connectors.ConnectionConfig{}, nil, connectors.ClientOptions{
		HTTPClient: &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			gotURL = r.URL.String()
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"trackers":[{"tracking_code":"EZ1"}]}`)), Request: r}, nil
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Connector().Action("get_tracker").Do(context.Background(), &connectors.Call{Client: client, Params: map[string]any{"tracking_code": "EZ1", "carrier": "USPS"}}); err != nil {
		t.Fatal(err)
	}
	if want := "https://api.easypost.com/v2/trackers?carrier=USPS&tracking_code=EZ1"; gotURL != want {
		t.Errorf("URL = %s, want %s", gotURL, want)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
