package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const erpnextToken = "token 0a1b2c3d:4e5f6a7b"

func TestERPNextAuth(t *testing.T) {
	for _, auth := range []string{"", "token ", "token key-only", "token :secret", "Bearer 0a1b:4e5f"} {
		api := newPartnerAPI(t, "/erpnext", auth)
		status, body, _ := api.send("POST", "/api/resource/Customer", `{"customer_name":"Ada"}`)
		if status != http.StatusUnauthorized || body["exc_type"] != "AuthenticationError" {
			t.Errorf("auth %q: %d %v", auth, status, body)
		}
	}
}

// serverMessages decodes Frappe's _server_messages.
func serverMessages(t *testing.T, body map[string]any) string {
	t.Helper()
	var raw []string
	if err := json.Unmarshal([]byte(fmt.Sprint(body["_server_messages"])), &raw); err != nil || len(raw) == 0 {
		t.Fatalf("_server_messages in %v: %v", body, err)
	}
	var m struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal([]byte(raw[0]), &m)
	return m.Message
}

func TestERPNextInsertAndList(t *testing.T) {
	api := newPartnerAPI(t, "/erpnext", erpnextToken)
	status, body, _ := api.send("POST", "/api/resource/Customer", `{"customer_name":"Ada Lovelace","customer_group":"Individual","email_id":"ada@example.com"}`)
	ada, _ := body["data"].(map[string]any)
	if status != http.StatusOK || ada["name"] != "Ada Lovelace" || ada["doctype"] != "Customer" || ada["territory"] != "All Territories" || ada["customer_type"] != "Company" {
		t.Fatalf("insert: %d %v", status, body)
	}
	// A second customer of the same name gets a suffix; a form body works too.
	status, body, _ = api.send("POST", "/api/resource/Customer", "data="+url.QueryEscape(`{"customer_name":"Ada Lovelace","email_id":"ada2@example.com"}`), "Content-Type", "application/x-www-form-urlencoded")
	if status != http.StatusOK || body["data"].(map[string]any)["name"] != "Ada Lovelace - 1" {
		t.Errorf("second Ada: %d %v", status, body)
	}
	status, body, _ = api.send("POST", "/api/resource/Customer", `{"customer_name":""}`)
	if status != http.StatusExpectationFailed || body["exc_type"] != "MandatoryError" || !strings.HasPrefix(fmt.Sprint(body["exception"]), "frappe.exceptions.MandatoryError: ") {
		t.Errorf("mandatory: %d %v", status, body)
	}
	status, body, _ = api.send("POST", "/api/resource/Customer", `{"customer_name":"X","territory":"Atlantis"}`)
	if status != http.StatusExpectationFailed || body["exc_type"] != "LinkValidationError" || serverMessages(t, body) != "Could not find Territory: Atlantis" {
		t.Errorf("link: %d %v", status, body)
	}
	if status, body, _ := api.send("POST", "/api/resource/Customer", `{"customer_name":"X","docstatus":1}`); status != http.StatusExpectationFailed {
		t.Errorf("submitting a customer: %d %v", status, body)
	}
	if status, body, _ := api.send("POST", "/api/resource/Lead", `{}`); status != http.StatusNotFound || body["exc_type"] != "DoesNotExistError" {
		t.Errorf("unknown doctype: %d %v", status, body)
	}

	list := func(q url.Values) []string {
		t.Helper()
		status, body, _ := api.send("GET", "/api/resource/Customer?"+q.Encode(), "")
		if status != http.StatusOK {
			t.Fatalf("list %v: %d %v", q, status, body)
		}
		var names []string
		for _, d := range body["data"].([]any) {
			names = append(names, fmt.Sprint(d.(map[string]any)["name"]))
		}
		return names
	}
	tests := []struct {
		q    url.Values
		want string
	}{
		{url.Values{"order_by": {"creation asc"}}, "Ada Lovelace,Ada Lovelace - 1"},
		{url.Values{"order_by": {"name desc"}}, "Ada Lovelace - 1,Ada Lovelace"},
		{url.Values{"filters": {`[["email_id","=","ada2@example.com"]]`}}, "Ada Lovelace - 1"},
		{url.Values{"filters": {`{"customer_group":"Individual"}`}}, "Ada Lovelace"},
		{url.Values{"filters": {`{"email_id":["like","%2@%"]}`}}, "Ada Lovelace - 1"},
		{url.Values{"filters": {`[["Customer","name","in",["Ada Lovelace","Nobody"]]]`}}, "Ada Lovelace"},
		{url.Values{"filters": {`[["email_id","is","set"]]`}, "limit_page_length": {"1"}, "order_by": {"creation asc"}}, "Ada Lovelace"},
	}
	for _, tt := range tests {
		if got := strings.Join(list(tt.q), ","); got != tt.want {
			t.Errorf("list %v = %q, want %q", tt.q, got, tt.want)
		}
	}
	_, body, _ = api.send("GET", "/api/resource/Customer?"+url.Values{"fields": {`["*"]`}, "limit_page_length": {"1"}}.Encode(), "")
	if d := body["data"].([]any)[0].(map[string]any); d["customer_group"] == nil || d["creation"] == nil {
		t.Errorf("fields *: %v", d)
	}
	if status, body, _ := api.send("GET", "/api/resource/Customer?filters="+url.QueryEscape(`[["name","~","x"]]`), ""); status != http.StatusExpectationFailed || body["exc_type"] != "ValidationError" {
		t.Errorf("bad operator: %d %v", status, body)
	}
}

func TestERPNextOrderInvoiceCancel(t *testing.T) {
	api := newPartnerAPI(t, "/erpnext", erpnextToken)
	api.send("POST", "/api/resource/Customer", `{"customer_name":"Ada"}`)
	order := `{"customer":"Ada","po_no":"shop-1","delivery_date":"2025-03-08","docstatus":1,"items":[{"item_code":"MUG","qty":2,"rate":12.5}]}`
	status, body, _ := api.send("POST", "/api/resource/Sales%20Order", order, "Idempotency-Key", "o1")
	so, _ := body["data"].(map[string]any)
	if status != http.StatusOK || so["status"] != "To Deliver and Bill" || so["grand_total"] != 25.0 || so["per_billed"] != 0.0 {
		t.Fatalf("order: %d %v", status, body)
	}
	soName := so["name"].(string)
	if item := so["items"].([]any)[0].(map[string]any); item["amount"] != 25.0 || item["delivery_date"] != "2025-03-08" || item["parent"] != soName {
		t.Errorf("order item: %v", item)
	}
	// The same po_no for the same customer is refused, as ERPNext does by default.
	status, body, _ = api.send("POST", "/api/resource/Sales%20Order", order, "Idempotency-Key", "o2")
	if status != http.StatusExpectationFailed || body["exc_type"] != "ValidationError" {
		t.Errorf("duplicate po_no: %d %v", status, body)
	}
	draft := `{"customer":"Ada","delivery_date":"2025-03-08","items":[{"item_code":"MUG","qty":1,"rate":1}]}`
	_, body, _ = api.send("POST", "/api/resource/Sales%20Order", draft)
	draftName := body["data"].(map[string]any)["name"].(string)
	if status, body, _ := api.send("POST", "/api/method/frappe.client.cancel", `{"doctype":"Sales Order","name":"`+draftName+`"}`); status != http.StatusExpectationFailed {
		t.Errorf("cancelling a draft: %d %v", status, body)
	}
	if status, body, _ := api.send("POST", "/api/resource/Sales%20Invoice", `{"customer":"Ada","docstatus":1,"items":[{"item_code":"MUG","qty":1,"rate":1,"sales_order":"`+draftName+`"}]}`); status != http.StatusExpectationFailed {
		t.Errorf("billing a draft order: %d %v", status, body)
	}

	status, body, _ = api.send("POST", "/api/resource/Sales%20Invoice", `{"customer":"Ada","docstatus":1,"items":[{"item_code":"MUG","qty":2,"rate":12.5,"sales_order":"`+soName+`"}]}`)
	inv, _ := body["data"].(map[string]any)
	if status != http.StatusOK || inv["status"] != "Unpaid" || inv["outstanding_amount"] != 25.0 {
		t.Fatalf("invoice: %d %v", status, body)
	}
	invName := inv["name"].(string)
	_, body, _ = api.send("GET", "/api/resource/Sales%20Order/"+soName, "")
	if so := body["data"].(map[string]any); so["per_billed"] != 100.0 || so["billing_status"] != "Fully Billed" || so["status"] != "To Deliver" {
		t.Errorf("billed order: %v", so)
	}
	status, body, _ = api.send("POST", "/api/method/frappe.client.cancel", `{"doctype":"Sales Order","name":"`+soName+`"}`)
	if status != http.StatusExpectationFailed || body["exc_type"] != "LinkExistsError" {
		t.Errorf("cancelling a billed order: %d %v", status, body)
	}
	// Cancelling the invoice unbills the order, which can then be cancelled.
	status, body, _ = api.send("POST", "/api/method/frappe.client.cancel", "doctype=Sales+Invoice&name="+url.QueryEscape(invName), "Content-Type", "application/x-www-form-urlencoded")
	if status != http.StatusOK || body["message"].(map[string]any)["status"] != "Cancelled" {
		t.Fatalf("cancel invoice: %d %v", status, body)
	}
	status, body, _ = api.send("POST", "/api/method/frappe.client.cancel", `{"doctype":"Sales Order","name":"`+soName+`"}`, "Idempotency-Key", "c1")
	if msg := body["message"].(map[string]any); status != http.StatusOK || msg["docstatus"] != 2.0 || msg["per_billed"] != 0.0 {
		t.Errorf("cancel order: %d %v", status, body)
	}
	// ERPNext ignores Idempotency-Key: the same cancel again is refused.
	status, body, _ = api.send("POST", "/api/method/frappe.client.cancel", `{"doctype":"Sales Order","name":"`+soName+`"}`, "Idempotency-Key", "c1")
	if status != http.StatusExpectationFailed || serverMessages(t, body) != "Cannot edit cancelled document" {
		t.Errorf("cancelling twice under one key: %d %v", status, body)
	}
	for name, want := range map[string]int{
		"erpnext.sales_orders.created": 2, "erpnext.invoices.created": 1,
		"erpnext.invoices.cancelled": 1, "erpnext.sales_orders.cancelled": 1,
	} {
		if got := api.count(name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if status, body, _ := api.send("GET", "/api/resource/Sales%20Invoice/ACC-SINV-1999-00001", ""); status != http.StatusNotFound || body["exc_type"] != "DoesNotExistError" {
		t.Errorf("unknown invoice: %d %v", status, body)
	}
}
