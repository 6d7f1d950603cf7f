package erpnext_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/erpnext"
	"github.com/relay-dev/relay/sandbox"
)

// erp calls actions against the sandbox's ERPNext.
type erp struct {
	t   *testing.T
	sb  *sandbox.Server
	url string
}

func newERP(t *testing.T) *erp {
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	return &erp{t: t, sb: sb, url: srv.URL + "/erpnext"}
}

func (e *erp) do(action string, params map[string]any, key, token string) (map[string]any, error) {
	e.t.Helper()
	cfg := connectors.ConnectionConfig{Connector: "erpnext", BaseURL: e.url, Auth: &connectors.AuthConfig{Kind: connectors.AuthAPIKey, Name: "Authorization", Key: "env:ERPNEXT_TOKEN"}}
	if token == "" {
		token = "token 0a1b2c3d4e5f6a7:7f6e5d4c3b2a190"
	}
	client, err := connectors.NewClient(cfg, func(string) (string, error) { return token, nil }, connectors.ClientOptions{RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})
	if err != nil {
		e.t.Fatal(err)
	}
	a := erpnext.Connector().Action(action)
	p, err := connectors.ParamDefaults(a, params)
	if err != nil {
		return nil, err
	}
	out, err := a.Do(context.Background(), &connectors.Call{Connection: "erp", Config: cfg, Client: client, Params: p, IdempotencyKey: key})
	m, _ := out.(map[string]any)
	return m, err
}

func (e *erp) must(action string, params map[string]any, key string) map[string]any {
	e.t.Helper()
	out, err := e.do(action, params, key, "")
	if err != nil {
		e.t.Fatalf("%s: %v", action, err)
	}
	return out
}

func (e *erp) counts(want map[string]int) {
	e.t.Helper()
	got := e.sb.Stats().Counts
	for k, n := range want {
		if got[k] != n {
			e.t.Errorf("counter %s = %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
}

func TestSandboxOrderToInvoice(t *testing.T) {
	e := newERP(t)
	customer := e.must("upsert_customer", map[string]any{"customer_name": "Ada Lovelace", "email": "ada@example.com"}, "wf-1/customer")
	if customer["name"] != "Ada Lovelace" || customer["email"] != "ada@example.com" || customer["created"] != true {
		t.Fatalf("customer: %v", customer)
	}
	// Another run (new key) finds the customer by email.
	again := e.must("upsert_customer", map[string]any{"customer_name": "Ada King", "email": "ada@example.com"}, "wf-2/customer")
	if again["name"] != "Ada Lovelace" || again["created"] != false {
		t.Errorf("second upsert: %v", again)
	}
	e.counts(map[string]int{"erpnext.customers.created": 1})

	orderParams := map[string]any{
		"customer": customer["name"], "po_no": "shop-1001", "delivery_date": "2025-03-08", "currency": "EUR",
		"items": []any{map[string]any{"item_code": "SKU-RED-MUG", "qty": 2.0, "rate": 12.5}, map[string]any{"item_code": "SKU-TEA", "qty": "1", "rate": 4.0}},
	}
	order := e.must("create_sales_order", orderParams, "wf-1/order")
	if order["created"] != true || !strings.HasPrefix(order["name"].(string), "SAL-ORD-") || order["docstatus"] != 1.0 ||
		order["status"] != "To Deliver and Bill" || order["grand_total"] != 29.0 || order["po_no"] != "shop-1001" || order["currency"] != "EUR" {
		t.Fatalf("order: %v", order)
	}
	// A retry under a new idempotency key (an operator replay) finds it by po_no.
	retried := e.must("create_sales_order", orderParams, "wf-1/order/replayed")
	if retried["name"] != order["name"] || retried["created"] != false {
		t.Errorf("retried order: %v", retried)
	}
	e.counts(map[string]int{"erpnext.sales_orders.created": 1})

	invoiceParams := map[string]any{"customer": customer["name"], "sales_order": order["name"], "items": orderParams["items"]}
	invoice := e.must("create_invoice", invoiceParams, "wf-1/invoice")
	if invoice["created"] != true || invoice["status"] != "Unpaid" || invoice["grand_total"] != 29.0 || invoice["sales_order"] != order["name"] {
		t.Fatalf("invoice: %v", invoice)
	}
	if again := e.must("create_invoice", invoiceParams, "wf-1/invoice/replayed"); again["name"] != invoice["name"] || again["created"] != false {
		t.Errorf("retried invoice: %v", again)
	}
	e.counts(map[string]int{"erpnext.invoices.created": 1})

	got := e.must("get_invoice", map[string]any{"name": invoice["name"]}, "")
	rows := got["items"].([]any)
	if got["outstanding_amount"] != 29.0 || got["sales_order"] != order["name"] || len(rows) != 2 || rows[0].(map[string]any)["amount"] != 25.0 {
		t.Errorf("get_invoice: %v", got)
	}

	// A billed order cannot be cancelled.
	_, err := e.do("cancel_sales_order", map[string]any{"name": order["name"]}, "wf-1/cancel", "")
	permanent(t, err, "erpnext.LinkExistsError")
}

func TestSandboxCancel(t *testing.T) {
	e := newERP(t)
	e.must("upsert_customer", map[string]any{"customer_name": "Grace Hopper", "email": "grace@example.com"}, "c")
	order := e.must("create_sales_order", map[string]any{
		"customer": "Grace Hopper", "po_no": "shop-2002", "delivery_date": "2025-04-01",
		"items": []any{map[string]any{"item_code": "SKU-COBOL", "qty": 1.0, "rate": 99.0}},
	}, "wf-5/order")
	cancelled := e.must("cancel_sales_order", map[string]any{"name": order["name"]}, "wf-5/cancel")
	if cancelled["docstatus"] != 2.0 || cancelled["status"] != "Cancelled" || cancelled["name"] != order["name"] {
		t.Fatalf("cancelled: %v", cancelled)
	}
	// A retry with the same key is replayed; one with a new key finds the
	// order already cancelled. Neither cancels twice.
	for _, key := range []string{"wf-5/cancel", "wf-5/cancel/replayed"} {
		if again := e.must("cancel_sales_order", map[string]any{"name": order["name"]}, key); again["status"] != "Cancelled" {
			t.Errorf("cancel again (%s): %v", key, again)
		}
	}
	e.counts(map[string]int{"erpnext.sales_orders.cancelled": 1})

	// The cancelled order no longer holds its po_no: the shop order can be
	// placed again.
	reorder := e.must("create_sales_order", map[string]any{
		"customer": "Grace Hopper", "po_no": "shop-2002", "delivery_date": "2025-04-01",
		"items": []any{map[string]any{"item_code": "SKU-COBOL", "qty": 1.0, "rate": 99.0}},
	}, "wf-6/order")
	if reorder["created"] != true || reorder["name"] == order["name"] {
		t.Errorf("reorder: %v", reorder)
	}
}

func permanent(t *testing.T, err error, typ string) {
	t.Helper()
	ce, ok := connectors.AsError(err)
	if !ok || ce.Type != typ || ce.Retryable {
		t.Errorf("error %v (%#v), want permanent %s", err, ce, typ)
	}
}

func TestSandboxErrors(t *testing.T) {
	e := newERP(t)
	e.must("upsert_customer", map[string]any{"customer_name": "Ada Lovelace"}, "c")
	item := []any{map[string]any{"item_code": "SKU-RED-MUG", "qty": 1.0, "rate": 12.5}}
	tests := []struct {
		name   string
		action string
		params map[string]any
		token  string
		want   string
	}{
		{"unknown customer", "create_sales_order", map[string]any{"customer": "Nobody", "delivery_date": "2025-03-08", "items": item}, "", "erpnext.LinkValidationError"},
		{"zero quantity", "create_sales_order", map[string]any{"customer": "Ada Lovelace", "delivery_date": "2025-03-08", "items": []any{map[string]any{"item_code": "X", "qty": 0.0}}}, "", "erpnext.ValidationError"},
		{"bad date", "create_sales_order", map[string]any{"customer": "Ada Lovelace", "delivery_date": "next week", "items": item}, "", "erpnext.ValidationError"},
		{"invalid email", "upsert_customer", map[string]any{"customer_name": "Bob", "email": "bob-at-example"}, "", "erpnext.InvalidEmailAddressError"},
		{"unknown customer group", "upsert_customer", map[string]any{"customer_name": "Bob", "customer_group": "VIP"}, "", "erpnext.LinkValidationError"},
		{"invoice for an unknown order", "create_invoice", map[string]any{"customer": "Ada Lovelace", "sales_order": "SAL-ORD-1999-00001", "items": item}, "", "erpnext.LinkValidationError"},
		{"unknown invoice", "get_invoice", map[string]any{"name": "ACC-SINV-1999-00001"}, "", "erpnext.DoesNotExistError"},
		{"cancel an unknown order", "cancel_sales_order", map[string]any{"name": "SAL-ORD-1999-00001"}, "", "erpnext.DoesNotExistError"},
		{"bad credentials", "get_invoice", map[string]any{"name": "X"}, "Bearer nope", "erpnext.AuthenticationError"},
		{"missing parameter", "create_invoice", map[string]any{"customer": "Ada Lovelace"}, "", "invalid_params"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.do(tt.action, tt.params, "k-"+tt.name, tt.token)
			permanent(t, err, tt.want)
		})
	}
	e.counts(map[string]int{"erpnext.customers.created": 1, "erpnext.sales_orders.created": 0, "erpnext.invoices.created": 0})
}
