package erpnext

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

// droppingERP is an ERPNext site that saves every create but drops the
// connection before answering the first one. A list (the look-first)
// returns every document of the doctype saved so far.
type droppingERP struct {
	mu      sync.Mutex
	docs    map[string][]map[string]any // doctype → saved documents
	creates int
	// answer500 answers the first create 500 after saving it (Frappe
	// failing after its commit) instead of dropping the connection.
	answer500 bool
}

func (e *droppingERP) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.creates
}

func (e *droppingERP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	doctype, ok := strings.CutPrefix(r.URL.Path, "/api/resource/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.Method {
	case http.MethodGet:
		_ = json.NewEncoder(w).Encode(map[string]any{"data": append([]map[string]any{}, e.docs[doctype]...)})
	case http.MethodPost:
		var doc map[string]any
		if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.creates++
		doc["name"] = fmt.Sprintf("%s-%d", strings.ToUpper(doctype[:3]), e.creates)
		e.docs[doctype] = append(e.docs[doctype], doc)
		if e.creates == 1 {
			// Saved; the answer is lost.
			if e.answer500 {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, `{"exc_type":"Exception","exception":"failed after commit"}`)
				return
			}
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": doc})
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// TestCreateLooksFirstBeforeResending: ERPNext ignores idempotency keys,
// so a create whose answer is lost after the partner saved it (a dropped
// connection, a 500 after the commit) is not simply sent again: the
// connector looks first, finds the record and returns it (created false),
// within the same call. A create with nothing to look it up by (a customer
// without an email) is not sent again within the call.
func TestCreateLooksFirstBeforeResending(t *testing.T) {
	items := []any{map[string]any{"item_code": "MUG", "qty": 1, "rate": 12}}
	tests := []struct {
		action    string
		params    map[string]any
		answer500 bool
		wantFound bool // the call returns the saved record; else it fails retryable
	}{
		{"upsert_customer", map[string]any{"customer_name": "Ada Lovelace", "email": "ada@example.com"}, false, true},
		{"upsert_customer", map[string]any{"customer_name": "Ada Lovelace", "email": "ada@example.com"}, true, true},
		{"create_sales_order", map[string]any{"customer": "Ada Lovelace", "items": items, "delivery_date": "2030-01-02", "po_no": "shop-1001"}, false, true},
		{"create_sales_order", map[string]any{"customer": "Ada Lovelace", "items": items, "delivery_date": "2030-01-02", "po_no": "shop-1001"}, true, true},
		{"create_invoice", map[string]any{"customer": "Ada Lovelace", "items": items, "sales_order": "SAL-1"}, false, true},
		{"create_invoice", map[string]any{"customer": "Ada Lovelace", "items": items, "sales_order": "SAL-1"}, true, true},
		{"upsert_customer", map[string]any{"customer_name": "Ada Lovelace"}, true, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v, 500 %v", tt.action, tt.params["email"] != nil || tt.action != "upsert_customer", tt.answer500), func(t *testing.T) {
			erp := &droppingERP{docs: map[string][]map[string]any{}, answer500: tt.answer500}
			srv := httptest.NewServer(erp)
			t.Cleanup(srv.Close)
			cfg := connectors.ConnectionConfig{Connector: "erpnext", BaseURL: srv.URL}
			// In-attempt retries as in production, waits kept short.
			client, err := connectors.NewClient(cfg, nil, connectors.ClientOptions{RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			a := Connector().Action(tt.action)
			p, err := connectors.ParamDefaults(a, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			out, err := a.Do(context.Background(), &connectors.Call{Connection: "erp", Config: cfg, Client: client, Params: p, IdempotencyKey: "wf-1/" + tt.action})
			if tt.wantFound {
				if err != nil {
					t.Fatalf("call: %v", err)
				}
				if m := out.(map[string]any); m["created"] != false || m["name"] == nil {
					t.Errorf("output = %v, want the record the lost create saved (created false)", m)
				}
			} else if ce, ok := connectors.AsError(err); !ok || !ce.Retryable {
				t.Fatalf("call: error = %v, want a retryable *connectors.Error", err)
			}
			if n := erp.count(); n != 1 {
				t.Errorf("partner received %d creates, want 1", n)
			}
		})
	}
}
