package erpnext

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// Answers of scriptedERP to a create.
const (
	saveDrop   = "save, drop" // saves it, then drops the connection: the answer is lost
	save500    = "save, 500"  // saves it, then fails (Frappe failing after its commit)
	saveOK     = "save, 200"  // saves it and answers it
	refuse429  = "429"        // rate limited: saves nothing
	refuse503  = "503"        // unavailable: saves nothing
	gateway502 = "502"        // a gateway's error: saves nothing
	fail500    = "500"        // fails before saving anything
)

// scriptedERP is an ERPNext site that answers the n-th create as
// script[n] says (saveOK past its end). A list (the look-first) returns
// every document of the doctype saved so far, unless it is the look
// numbered failLook (from 1), which is refused with a PermissionError.
type scriptedERP struct {
	script   []string
	failLook int

	mu      sync.Mutex
	docs    map[string][]map[string]any // doctype → saved documents
	creates int                         // POSTs received
	looks   int                         // GETs received
}

func (e *scriptedERP) counts() (creates, looks int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.creates, e.looks
}

func (e *scriptedERP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
		e.looks++
		if e.looks == e.failLook {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write(frappeBody("PermissionError", "frappe.exceptions.PermissionError: Not permitted"))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": append([]map[string]any{}, e.docs[doctype]...)})
	case http.MethodPost:
		var doc map[string]any
		if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.creates++
		answer := saveOK
		if e.creates <= len(e.script) {
			answer = e.script[e.creates-1]
		}
		if strings.HasPrefix(answer, "save") {
			doc["name"] = fmt.Sprintf("%s-%d", strings.ToUpper(doctype[:3]), e.creates)
			e.docs[doctype] = append(e.docs[doctype], doc)
		}
		switch answer {
		case saveOK:
			_ = json.NewEncoder(w).Encode(map[string]any{"data": doc})
		case saveDrop:
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
		case save500, fail500:
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write(frappeBody("Exception", "failed"))
		default:
			status, _ := strconv.Atoi(answer)
			w.WriteHeader(status)
		}
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// TestCreateLooksFirstBeforeResending: ERPNext ignores idempotency keys,
// so a create whose answer is lost after the partner saved it (a dropped
// connection, a 500 after the commit) is not simply sent again: before the
// client's resend the connector looks again, finds the record and returns
// it (created false), within the same call. The client is the only resend
// layer: its RetryMax bounds the creates of a call, whatever mix of
// answers the partner gives, and with RetryMax -1 nothing is sent again. A
// create with nothing to look it up by (a customer without an email) is
// not sent again after such a failure.
func TestCreateLooksFirstBeforeResending(t *testing.T) {
	items := []any{map[string]any{"item_code": "MUG", "qty": 1, "rate": 12}}
	customer := map[string]any{"customer_name": "Ada Lovelace", "email": "ada@example.com"}
	order := map[string]any{"customer": "Ada Lovelace", "items": items, "delivery_date": "2030-01-02", "po_no": "shop-1001"}
	invoice := map[string]any{"customer": "Ada Lovelace", "items": items, "sales_order": "SAL-1"}
	noEmail := map[string]any{"customer_name": "Ada Lovelace"}
	const (
		found     = "found"     // the call returns the record saved earlier, created false
		created   = "created"   // the call returns the record it made, created true
		retryable = "retryable" // the call fails retryable
	)
	tests := []struct {
		name     string
		action   string
		params   map[string]any
		script   []string
		failLook int
		retryMax int // ClientOptions.RetryMax; 0 is the default, 2
		want     string
		wantType string // the error's type, when want is not set
		// creates and looks the partner receives
		wantCreates, wantLooks int
	}{
		{
			name:   "customer by email: dropped connection after the save, found by the look before the resend",
			action: "upsert_customer", params: customer, script: []string{saveDrop},
			want: found, wantCreates: 1, wantLooks: 2,
		},
		{
			name:   "customer by email: 500 after the commit, found by the look before the resend",
			action: "upsert_customer", params: customer, script: []string{save500},
			want: found, wantCreates: 1, wantLooks: 2,
		},
		{
			name:   "sales order by po_no: dropped connection after the save, found",
			action: "create_sales_order", params: order, script: []string{saveDrop},
			want: found, wantCreates: 1, wantLooks: 2,
		},
		{
			name:   "sales order by po_no: 500 after the commit, found",
			action: "create_sales_order", params: order, script: []string{save500},
			want: found, wantCreates: 1, wantLooks: 2,
		},
		{
			name:   "invoice by sales order: dropped connection after the save, found",
			action: "create_invoice", params: invoice, script: []string{saveDrop},
			want: found, wantCreates: 1, wantLooks: 2,
		},
		{
			name:   "invoice by sales order: 500 after the commit, found",
			action: "create_invoice", params: invoice, script: []string{save500},
			want: found, wantCreates: 1, wantLooks: 2,
		},
		{
			name:   "sales order: a gateway's 502 with nothing saved, the look finds nothing and the create is resent",
			action: "create_sales_order", params: order, script: []string{gateway502},
			want: created, wantCreates: 2, wantLooks: 2,
		},
		{
			name:   "sales order: a 429 refusal is resent without looking again",
			action: "create_sales_order", params: order, script: []string{refuse429},
			want: created, wantCreates: 2, wantLooks: 1,
		},
		{
			name:   "customer without email: dropped connection after the save, not resent, fails retryable",
			action: "upsert_customer", params: noEmail, script: []string{saveDrop},
			want: retryable, wantCreates: 1, wantLooks: 0,
		},
		{
			name:   "customer without email: 500 after the commit, not resent, fails retryable",
			action: "upsert_customer", params: noEmail, script: []string{save500},
			want: retryable, wantCreates: 1, wantLooks: 0,
		},
		{
			name:   "client RetryMax -1: a lost create is neither looked up again nor resent within the call",
			action: "upsert_customer", params: customer, script: []string{saveDrop}, retryMax: -1,
			want: retryable, wantCreates: 1, wantLooks: 1,
		},
		{
			name:   "one resend layer: 500, 503, 503 end the call after RetryMax+1 creates",
			action: "create_sales_order", params: order, script: []string{fail500, refuse503, refuse503, fail500, fail500, fail500},
			want: retryable, wantCreates: 3, wantLooks: 2,
		},
		{
			name:   "the look before the resend fails: its own error is returned",
			action: "create_invoice", params: invoice, script: []string{fail500}, failLook: 2,
			wantType: "erpnext.PermissionError", wantCreates: 1, wantLooks: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			erp := &scriptedERP{script: tt.script, failLook: tt.failLook, docs: map[string][]map[string]any{}}
			srv := httptest.NewServer(erp)
			t.Cleanup(srv.Close)
			cfg := connectors.ConnectionConfig{Connector: "erpnext", BaseURL: srv.URL}
			// In-attempt retries as in production, waits kept short.
			client, err := connectors.NewClient(cfg, nil, connectors.ClientOptions{RetryMax: tt.retryMax, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			a := Connector().Action(tt.action)
			p, err := connectors.ParamDefaults(a, maps.Clone(tt.params))
			if err != nil {
				t.Fatal(err)
			}
			out, err := a.Do(context.Background(), &connectors.Call{Connection: "erp", Config: cfg, Client: client, Params: p, IdempotencyKey: "wf-1/" + tt.action})
			switch tt.want {
			case found, created:
				if err != nil {
					t.Fatalf("call: %v", err)
				}
				if m := out.(map[string]any); m["created"] != (tt.want == created) || m["name"] == nil {
					t.Errorf("output = %v, want a record with created %v", m, tt.want == created)
				}
			case retryable:
				if ce, ok := connectors.AsError(err); !ok || !ce.Retryable {
					t.Fatalf("call: error = %v, want a retryable *connectors.Error", err)
				}
			default:
				ce, ok := connectors.AsError(err)
				if !ok || ce.Type != tt.wantType || !strings.Contains(ce.Message, "GET") {
					t.Fatalf("call: error = %v, want the look's %s", err, tt.wantType)
				}
			}
			if creates, looks := erp.counts(); creates != tt.wantCreates || looks != tt.wantLooks {
				t.Errorf("partner received %d creates and %d looks, want %d and %d", creates, looks, tt.wantCreates, tt.wantLooks)
			}
		})
	}
}
