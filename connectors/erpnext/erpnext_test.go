package erpnext

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/relay-dev/relay/connectors"
)

func frappeBody(excType, exception string, messages ...string) []byte {
	var sm []string
	for _, m := range messages {
		b, _ := json.Marshal(map[string]any{"message": m, "title": "Message", "indicator": "red"})
		sm = append(sm, string(b))
	}
	body := map[string]any{"exception": exception, "exc": `["Traceback (most recent call last): ..."]`}
	if excType != "" {
		body["exc_type"] = excType
	}
	if len(sm) > 0 {
		b, _ := json.Marshal(sm)
		body["_server_messages"] = string(b)
	}
	b, _ := json.Marshal(body)
	return b
}

func TestPartnerError(t *testing.T) {
	tests := []struct {
		name          string
		in            *connectors.Error
		wantType      string
		wantRetryable bool
		wantWait      time.Duration
		wantMsg       string
	}{
		{
			name:     "validation error, message without HTML",
			in:       &connectors.Error{Type: "http.417", Status: 417, Body: frappeBody("ValidationError", "frappe.exceptions.ValidationError: Row #1: qty", "Row #1: Quantity for Item <b>MUG</b> must be greater than 0")},
			wantType: "erpnext.ValidationError", wantMsg: "417 ValidationError: Row #1: Quantity for Item MUG must be greater than 0",
		},
		{
			name:     "type from the exception when exc_type is missing",
			in:       &connectors.Error{Type: "http.417", Status: 417, Body: frappeBody("", "frappe.exceptions.LinkValidationError: Could not find Customer: Nobody")},
			wantType: "erpnext.LinkValidationError", wantMsg: "LinkValidationError: Could not find Customer: Nobody",
		},
		{
			name:     "mandatory",
			in:       &connectors.Error{Type: "http.417", Status: 417, Body: frappeBody("MandatoryError", "frappe.exceptions.MandatoryError: [Sales Order, new-1]: delivery_date")},
			wantType: "erpnext.MandatoryError", wantMsg: "delivery_date",
		},
		{
			name:     "not found",
			in:       &connectors.Error{Type: "http.404", Status: 404, Body: frappeBody("DoesNotExistError", "frappe.exceptions.DoesNotExistError: Sales Invoice X not found")},
			wantType: "erpnext.DoesNotExistError",
		},
		{
			name:     "authentication",
			in:       &connectors.Error{Type: "http.401", Status: 401, Body: frappeBody("AuthenticationError", "frappe.exceptions.AuthenticationError")},
			wantType: "erpnext.AuthenticationError",
		},
		{
			name:     "permission",
			in:       &connectors.Error{Type: "http.403", Status: 403, Body: frappeBody("PermissionError", "frappe.exceptions.PermissionError: Not permitted")},
			wantType: "erpnext.PermissionError",
		},
		{
			name:     "duplicate",
			in:       &connectors.Error{Type: "http.409", Status: 409, Body: frappeBody("DuplicateEntryError", "frappe.exceptions.DuplicateEntryError: ('Customer', 'Ada')")},
			wantType: "erpnext.DuplicateEntryError",
		},
		{
			name:     "server error keeps the client's type",
			in:       &connectors.Error{Type: "http.500", Status: 500, Retryable: true, Body: frappeBody("QueryDeadlockError", "frappe.exceptions.QueryDeadlockError: deadlock")},
			wantType: "http.500", wantRetryable: true, wantMsg: "QueryDeadlockError",
		},
		{
			name:     "rate limit keeps Retry-After",
			in:       &connectors.Error{Type: "http.429", Status: 429, Retryable: true, RetryAfter: 30 * time.Second, Body: frappeBody("TooManyRequestsError", "frappe.exceptions.TooManyRequestsError")},
			wantType: "http.429", wantRetryable: true, wantWait: 30 * time.Second,
		},
		{
			name:     "HTML body is left alone",
			in:       &connectors.Error{Type: "http.403", Status: 403, Body: []byte("<html>Forbidden</html>"), Message: "GET /x: 403 Forbidden"},
			wantType: "http.403", wantMsg: "GET /x: 403 Forbidden",
		},
		{
			name:     "other JSON is left alone",
			in:       &connectors.Error{Type: "http.422", Status: 422, Body: []byte(`{"error":{"message":"invalid"}}`)},
			wantType: "http.422",
		},
		{
			name:     "timeout",
			in:       &connectors.Error{Type: "timeout", Retryable: true},
			wantType: "timeout", wantRetryable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ce, ok := connectors.AsError(partnerError(tt.in, "POST", "/api/resource/Sales%20Order"))
			if !ok {
				t.Fatal("not a *connectors.Error")
			}
			if ce.Type != tt.wantType || ce.Retryable != tt.wantRetryable || ce.RetryAfter != tt.wantWait {
				t.Errorf("got type %q retryable %v wait %v, want %q %v %v", ce.Type, ce.Retryable, ce.RetryAfter, tt.wantType, tt.wantRetryable, tt.wantWait)
			}
			if !strings.Contains(ce.Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", ce.Message, tt.wantMsg)
			}
		})
	}
}

func TestParams(t *testing.T) {
	cfg := connectors.ConnectionConfig{BaseURL: "http://127.0.0.1:1"}
	client, _ := connectors.NewClient(cfg, nil, connectors.ClientOptions{})
	tests := []struct {
		action string
		params map[string]any
	}{
		{"upsert_customer", map[string]any{"customer_name": ""}},
		{"upsert_customer", map[string]any{"customer_name": "Ada", "email": 7.0}},
		{"create_sales_order", map[string]any{"customer": "Ada", "delivery_date": "2025-03-08", "items": []any{}}},
		{"create_sales_order", map[string]any{"customer": "Ada", "delivery_date": "2025-03-08", "items": "MUG x2"}},
		{"create_sales_order", map[string]any{"customer": "Ada", "delivery_date": "2025-03-08", "items": []any{map[string]any{"qty": 1.0}}}},
		{"create_sales_order", map[string]any{"customer": "Ada", "delivery_date": "2025-03-08", "items": []any{map[string]any{"item_code": "MUG", "qty": "two"}}}},
		{"create_invoice", map[string]any{"customer": "Ada", "items": []any{map[string]any{"item_code": "MUG"}}}},
		{"get_invoice", map[string]any{}},
	}
	for _, tt := range tests {
		_, err := Connector().Action(tt.action).Do(context.Background(), &connectors.Call{Client: client, Config: cfg, Params: tt.params})
		if ce, ok := connectors.AsError(err); !ok || ce.Type != "invalid_params" || ce.Retryable {
			t.Errorf("%s %v: error %v, want permanent invalid_params", tt.action, tt.params, err)
		}
	}
	_, err := Connector().Action("get_invoice").Do(context.Background(), &connectors.Call{Client: client, Params: map[string]any{"name": "X"}})
	if ce, ok := connectors.AsError(err); !ok || ce.Type != "invalid_connection" {
		t.Errorf("no base_url: %v, want invalid_connection", err)
	}
}
