// Package erpnext is the `erpnext` connector: customers, sales orders and
// sales invoices through the Frappe REST API of an ERPNext site
// (`/api/resource/<DocType>`, `/api/method/...`).
//
// ERPNext does not honour idempotency keys (they are sent anyway, and the
// sandbox honours them), so the actions that create look first for what an
// earlier attempt may have created: a customer by email, a sales order by
// po_no and customer, an invoice by its sales order (cancelled documents
// aside). Every call looks once before its create. The create itself is
// sent by the shared client (connectors.Request.KeyIgnored), which is the
// only layer that sends it again within the call: at most RetryMax times,
// each after the client's backoff or the partner's Retry-After, and
//
//   - after an answer that says Frappe did nothing with it (429, 503),
//     without looking again;
//   - after any other transient failure, which may follow a saved document
//     (a dropped connection, a timeout, a 500 Frappe may send after its
//     commit, a gateway's 502 or 504), only once a second look
//     (connectors.Request.BeforeResend) has found nothing: a document it
//     finds is returned (created false) and the create is not sent again.
//
// A create with nothing to look it up by (a customer without an email, a
// sales order without po_no, an invoice without sales_order) is not sent
// again within the call after such a failure: the call fails retryable,
// and the activity's next attempt, which cannot find the first document
// either, may make a second one. cancel_sales_order is sent again within
// the call only after a 429 or 503; Frappe refusing to cancel a cancelled
// order counts as success.
//
// Failures whose body is Frappe's error object (`{"exc_type", "exception",
// "_server_messages"}`) become errors of type `erpnext.<exc_type>`
// (`erpnext.ValidationError`, `erpnext.LinkValidationError`,
// `erpnext.DoesNotExistError`, ...). Whether an error is retryable comes
// from the HTTP status, as for every connector: Frappe answers validation
// failures with 417, which is permanent; 429 and 5xx keep the client's type
// (`http.429`, `http.500`) and Retry-After.
package erpnext

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/relay-dev/relay/connectors"
)

// Connector returns the `erpnext` connector.
func Connector() *connectors.Connector {
	return &connectors.Connector{
		Name: "erpnext",
		Summary: "ERPNext (Frappe REST): customers, sales orders, sales invoices. base_url is the site (https://erp.example.com). " +
			"Auth is the header `Authorization: token <api_key>:<api_secret>`: auth: {kind: api_key, name: Authorization, key: env:ERPNEXT_TOKEN} " +
			"with ERPNEXT_TOKEN set to the whole value, `token <api_key>:<api_secret>`.",
		Actions: []*connectors.Action{
			action(&connectors.Action{
				Name: "upsert_customer",
				Summary: "Return the customer with this email, or create it; " +
					"the output is {name, customer_name, email, created}. Without an email a customer is always created.",
				Params: []connectors.Param{
					{Name: "customer_name", Type: "string", Required: true, Summary: "Full name of the customer."},
					{Name: "email", Type: "string", Summary: "Email; finds an existing customer (by email_id) before creating one."},
					{Name: "customer_group", Type: "string", Default: "Individual", Summary: "Customer Group."},
					{Name: "territory", Type: "string", Default: "All Territories", Summary: "Territory."},
				},
			}, upsertCustomer),
			action(&connectors.Action{
				Name: "create_sales_order",
				Summary: "Create and submit a sales order, unless one with the same po_no for the customer exists (not cancelled); " +
					"the output is {name, customer, po_no, status, docstatus, transaction_date, delivery_date, currency, grand_total, created}.",
				Params: []connectors.Param{
					{Name: "customer", Type: "string", Required: true, Summary: "Customer name (the `name` output of upsert_customer)."},
					{Name: "items", Type: "array", Required: true, Summary: "Lines: [{item_code, qty, rate}, ...]; other Sales Order Item fields pass through."},
					{Name: "delivery_date", Type: "string", Required: true, Summary: "Delivery date, YYYY-MM-DD."},
					{Name: "po_no", Type: "string", Summary: "The customer's (shop's) order ID; makes the action idempotent."},
					{Name: "currency", Type: "string", Summary: "Currency code; the customer's or company's by default."},
				},
			}, createSalesOrder),
			action(&connectors.Action{
				Name: "cancel_sales_order",
				Summary: "Cancel a submitted sales order (frappe.client.cancel); cancelling a cancelled one succeeds. " +
					"The output is the sales order as for create_sales_order, without created.",
				Params: []connectors.Param{
					{Name: "name", Type: "string", Required: true, Summary: "The sales order's name."},
				},
			}, cancelSalesOrder),
			action(&connectors.Action{
				Name: "create_invoice",
				Summary: "Create and submit a sales invoice, unless one (not cancelled) already bills the sales order; " +
					"the output is {name, customer, sales_order, status, docstatus, posting_date, due_date, currency, grand_total, outstanding_amount, created}.",
				Params: []connectors.Param{
					{Name: "customer", Type: "string", Required: true, Summary: "Customer name."},
					{Name: "items", Type: "array", Required: true, Summary: "Lines: [{item_code, qty, rate}, ...]; each is linked to sales_order."},
					{Name: "sales_order", Type: "string", Summary: "The sales order billed; makes the action idempotent."},
				},
			}, createInvoice),
			action(&connectors.Action{
				Name:    "get_invoice",
				Summary: "Read a sales invoice: the fields of create_invoice's output (without created) and its items.",
				Short:   true,
				Params: []connectors.Param{
					{Name: "name", Type: "string", Required: true, Summary: "The invoice's name."},
				},
			}, getInvoice),
		},
	}
}

// action completes a with a Do that checks the call, applies defaults and
// hands do a reader of the parameters.
func action(a *connectors.Action, do func(ctx context.Context, c *api, p connectors.Params) (any, error)) *connectors.Action {
	a.Do = func(ctx context.Context, call *connectors.Call) (any, error) {
		if call.Client == nil {
			return nil, connectors.Permanent("invalid_connection", "erpnext.%s on connection %q: no client", a.Name, call.Connection)
		}
		if call.Config.BaseURL == "" {
			return nil, connectors.Permanent("invalid_connection", "erpnext.%s on connection %q: base_url is not set (the ERPNext site, e.g. https://erp.example.com)", a.Name, call.Connection)
		}
		p, err := connectors.ParamDefaults(a, call.Params)
		if err != nil {
			return nil, err
		}
		return do(ctx, &api{call: call}, connectors.ReadParams("erpnext", a.Name, p))
	}
	return a
}

var (
	customerFields   = []string{"name", "customer_name", "email_id"}
	salesOrderFields = []string{"name", "customer", "po_no", "status", "docstatus", "transaction_date", "delivery_date", "currency", "grand_total"}
	invoiceFields    = []string{"name", "customer", "status", "docstatus", "posting_date", "due_date", "currency", "grand_total", "outstanding_amount"}
	itemFields       = []string{"item_code", "qty", "rate", "amount", "sales_order"}
)

func upsertCustomer(ctx context.Context, c *api, p connectors.Params) (any, error) {
	name, err := p.RequiredString("customer_name")
	if err != nil {
		return nil, err
	}
	email, err := p.String("email")
	if err != nil {
		return nil, err
	}
	group, err := p.RequiredString("customer_group")
	if err != nil {
		return nil, err
	}
	territory, err := p.RequiredString("territory")
	if err != nil {
		return nil, err
	}
	out := func(doc map[string]any, created bool) any {
		return map[string]any{"name": doc["name"], "customer_name": doc["customer_name"], "email": doc["email_id"], "created": created}
	}
	var find finder
	if email != "" {
		find = func(ctx context.Context) (map[string]any, error) {
			return c.first(ctx, "Customer", [][]any{{"email_id", "=", email}}, customerFields)
		}
	}
	doc := map[string]any{"customer_name": name, "customer_group": group, "territory": territory}
	if email != "" {
		doc["email_id"] = email
	}
	got, created, err := c.create(ctx, "Customer", doc, find)
	if err != nil {
		return nil, err
	}
	return out(got, created), nil
}

func createSalesOrder(ctx context.Context, c *api, p connectors.Params) (any, error) {
	customer, err := p.RequiredString("customer")
	if err != nil {
		return nil, err
	}
	items, err := readItems(p, "items")
	if err != nil {
		return nil, err
	}
	delivery, err := p.RequiredString("delivery_date")
	if err != nil {
		return nil, err
	}
	poNo, err := p.String("po_no")
	if err != nil {
		return nil, err
	}
	currency, err := p.String("currency")
	if err != nil {
		return nil, err
	}
	var find finder
	if poNo != "" {
		find = func(ctx context.Context) (map[string]any, error) {
			return c.first(ctx, "Sales Order", [][]any{{"po_no", "=", poNo}, {"customer", "=", customer}, {"docstatus", "<", 2}}, salesOrderFields)
		}
	}
	doc := map[string]any{"customer": customer, "delivery_date": delivery, "items": items, "docstatus": 1}
	if poNo != "" {
		doc["po_no"] = poNo
	}
	if currency != "" {
		doc["currency"] = currency
	}
	got, created, err := c.create(ctx, "Sales Order", doc, find)
	if err != nil {
		return nil, err
	}
	return withCreated(pick(got, salesOrderFields), created), nil
}

func cancelSalesOrder(ctx context.Context, c *api, p connectors.Params) (any, error) {
	name, err := p.RequiredString("name")
	if err != nil {
		return nil, err
	}
	var out struct {
		Message map[string]any `json:"message"`
	}
	err = c.send(ctx, &connectors.Request{Method: http.MethodPost, Path: "/api/method/frappe.client.cancel"}, map[string]any{"doctype": "Sales Order", "name": name}, &out)
	if err == nil {
		if out.Message == nil {
			return nil, connectors.Permanent("erpnext.invalid_response", "erpnext frappe.client.cancel %q: answer has no message", name)
		}
		return pick(out.Message, salesOrderFields), nil
	}
	// Frappe refuses to cancel a cancelled document: if an earlier
	// attempt (or someone else) cancelled it, that is success.
	if ce, ok := connectors.AsError(err); ok && ce.Type == "erpnext.ValidationError" {
		doc, gerr := c.get(ctx, "Sales Order", name)
		if gerr == nil && docstatus(doc) == 2 {
			return pick(doc, salesOrderFields), nil
		}
	}
	return nil, err
}

func createInvoice(ctx context.Context, c *api, p connectors.Params) (any, error) {
	customer, err := p.RequiredString("customer")
	if err != nil {
		return nil, err
	}
	items, err := readItems(p, "items")
	if err != nil {
		return nil, err
	}
	order, err := p.String("sales_order")
	if err != nil {
		return nil, err
	}
	out := func(doc map[string]any, created bool) any {
		inv := withCreated(pick(doc, invoiceFields), created)
		inv["sales_order"] = nil
		if order != "" {
			inv["sales_order"] = order
		}
		return inv
	}
	var find finder
	if order != "" {
		find = func(ctx context.Context) (map[string]any, error) {
			return c.first(ctx, "Sales Invoice", [][]any{{"Sales Invoice Item", "sales_order", "=", order}, {"docstatus", "<", 2}}, invoiceFields)
		}
		for _, it := range items {
			row := it.(map[string]any)
			if _, ok := row["sales_order"]; !ok {
				row["sales_order"] = order
			}
		}
	}
	got, created, err := c.create(ctx, "Sales Invoice", map[string]any{"customer": customer, "items": items, "docstatus": 1}, find)
	if err != nil {
		return nil, err
	}
	return out(got, created), nil
}

func getInvoice(ctx context.Context, c *api, p connectors.Params) (any, error) {
	name, err := p.RequiredString("name")
	if err != nil {
		return nil, err
	}
	doc, err := c.get(ctx, "Sales Invoice", name)
	if err != nil {
		return nil, err
	}
	inv := pick(doc, invoiceFields)
	var order any
	items := []any{}
	rows, _ := doc["items"].([]any)
	for _, r := range rows {
		if row, ok := r.(map[string]any); ok {
			items = append(items, pick(row, itemFields))
			if order == nil && row["sales_order"] != nil && row["sales_order"] != "" {
				order = row["sales_order"]
			}
		}
	}
	inv["sales_order"], inv["items"] = order, items
	return inv, nil
}

// pick copies fields of doc; absent ones are null.
func pick(doc map[string]any, fields []string) map[string]any {
	out := make(map[string]any, len(fields)+1)
	for _, f := range fields {
		out[f] = doc[f]
	}
	return out
}

func withCreated(m map[string]any, created bool) map[string]any {
	m["created"] = created
	return m
}

func docstatus(doc map[string]any) int {
	switch v := doc["docstatus"].(type) {
	case float64:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

// api sends the requests of one call.
type api struct {
	call *connectors.Call
}

func resource(doctype string) string { return "/api/resource/" + url.PathEscape(doctype) }

// first returns the oldest document matching filters, with fields, or nil.
func (c *api) first(ctx context.Context, doctype string, filters [][]any, fields []string) (map[string]any, error) {
	f, _ := json.Marshal(filters)
	fl, _ := json.Marshal(fields)
	q := url.Values{"filters": {string(f)}, "fields": {string(fl)}, "order_by": {"creation asc"}, "limit_page_length": {"1"}}
	var out struct {
		Data []map[string]any `json:"data"`
	}
	if err := c.send(ctx, &connectors.Request{Method: http.MethodGet, Path: resource(doctype), Query: q}, nil, &out); err != nil {
		return nil, err
	}
	if len(out.Data) == 0 {
		return nil, nil
	}
	return out.Data[0], nil
}

func (c *api) get(ctx context.Context, doctype, name string) (map[string]any, error) {
	var out struct {
		Data map[string]any `json:"data"`
	}
	if err := c.send(ctx, &connectors.Request{Method: http.MethodGet, Path: resource(doctype) + "/" + url.PathEscape(name)}, nil, &out); err != nil {
		return nil, err
	}
	if out.Data == nil {
		return nil, connectors.Permanent("erpnext.invalid_response", "erpnext GET %s %q: answer has no data", doctype, name)
	}
	return out.Data, nil
}

// finder looks for the document a create would make, or returns nil.
type finder func(ctx context.Context) (map[string]any, error)

// create makes a document unless find finds it, and reports whether it
// made it. ERPNext ignores idempotency keys, so find runs first, and again
// before the client sends the create again after a failure that may follow
// a document ERPNext saved (see the package doc); what it finds then is
// returned. Without find (nil) the create is not sent again after such a
// failure.
func (c *api) create(ctx context.Context, doctype string, doc map[string]any, find finder) (map[string]any, bool, error) {
	var (
		found   map[string]any
		lookErr error
		look    func(context.Context) (bool, error)
	)
	if find != nil {
		if found, lookErr = find(ctx); lookErr != nil {
			return nil, false, lookErr
		}
		if found != nil {
			return found, false, nil
		}
		look = func(ctx context.Context) (bool, error) {
			found, lookErr = find(ctx)
			return found != nil, lookErr
		}
	}
	made, err := c.insert(ctx, doctype, doc, look)
	switch {
	case err == nil:
		return made, true, nil
	case lookErr != nil:
		// The look before a resend failed; its error, as find made it.
		return nil, false, lookErr
	case errors.Is(err, connectors.ErrFoundBeforeResend):
		return found, false, nil
	}
	return nil, false, err
}

// insert creates a document; docstatus 1 in doc submits it in the same
// request. look, if not nil, is the request's BeforeResend.
func (c *api) insert(ctx context.Context, doctype string, doc map[string]any, look func(context.Context) (bool, error)) (map[string]any, error) {
	var out struct {
		Data map[string]any `json:"data"`
	}
	if err := c.send(ctx, &connectors.Request{Method: http.MethodPost, Path: resource(doctype), BeforeResend: look}, doc, &out); err != nil {
		return nil, err
	}
	if out.Data == nil || out.Data["name"] == nil {
		return nil, connectors.Permanent("erpnext.invalid_response", "erpnext POST %s: answer has no document name", doctype)
	}
	return out.Data, nil
}

// send sends req with body, unless nil, as JSON and decodes the JSON
// answer into out. A POST or PATCH carries the call's idempotency key and
// is KeyIgnored: the client sends it again within the call only as the
// package doc says.
func (c *api) send(ctx context.Context, req *connectors.Request, body, out any) error {
	if req.Method == http.MethodPost || req.Method == http.MethodPatch {
		req.IdempotencyKey, req.KeyIgnored = c.call.IdempotencyKey, true
	}
	if err := connectors.SendJSON(ctx, c.call.Client, "erpnext", req, body, out); err != nil {
		return partnerError(err, req.Method, req.Path)
	}
	return nil
}

// frappeError is the body of a failed Frappe request.
type frappeError struct {
	ExcType        string `json:"exc_type"`
	Exception      string `json:"exception"`
	ServerMessages string `json:"_server_messages"`
}

var (
	// excClass finds the exception class in "frappe.exceptions.X: message".
	excClass = regexp.MustCompile(`^(?:[A-Za-z_][A-Za-z0-9_]*\.)*([A-Za-z_][A-Za-z0-9_]*)(?::\s*|$)`)
	tags     = regexp.MustCompile(`<[^>]*>`)
)

// kind is the exception's class name.
func (e frappeError) kind() string {
	if e.ExcType != "" {
		return e.ExcType
	}
	if m := excClass.FindStringSubmatch(e.Exception); m != nil {
		return m[1]
	}
	return ""
}

// message is what Frappe told the user, without HTML.
func (e frappeError) message() string {
	var raw, msgs []string
	if json.Unmarshal([]byte(e.ServerMessages), &raw) == nil {
		for _, r := range raw {
			var m struct {
				Message string `json:"message"`
			}
			if json.Unmarshal([]byte(r), &m) == nil && m.Message != "" {
				msgs = append(msgs, tags.ReplaceAllString(m.Message, ""))
			}
		}
	}
	if len(msgs) > 0 {
		return strings.Join(msgs, "; ")
	}
	if loc := excClass.FindStringIndex(e.Exception); loc != nil && loc[1] < len(e.Exception) {
		return e.Exception[loc[1]:]
	}
	return e.Exception
}

// partnerError names a failed call by Frappe's exception type. Errors
// without Frappe's error body are returned unchanged.
func partnerError(err error, method, path string) error {
	var b frappeError
	ce, ok := connectors.ErrorBody(err, &b)
	if !ok || b.kind() == "" {
		return err
	}
	out := *ce
	if !out.Retryable {
		out.Type = "erpnext." + b.kind()
	}
	out.Message = fmt.Sprintf("erpnext %s %s: %d %s", method, path, ce.Status, b.kind())
	if msg := b.message(); msg != "" {
		out.Message += ": " + connectors.Clip(msg)
	}
	return &out
}

// readItems returns a copy of the lines [{item_code, qty, rate, ...}]:
// item_code and qty are required, qty and rate are numbers, other fields
// pass through.
func readItems(p connectors.Params, name string) ([]any, error) {
	var list []any
	switch v := p.Any(name).(type) {
	case []any:
		list = v
	case []map[string]any:
		for _, m := range v {
			list = append(list, m)
		}
	}
	if len(list) == 0 {
		return nil, p.Mistyped(name, "a non-empty array of {item_code, qty, rate}", p.Any(name))
	}
	out := make([]any, len(list))
	for i, e := range list {
		at := fmt.Sprintf("%s[%d]", name, i)
		m, ok := e.(map[string]any)
		if !ok {
			return nil, p.Mistyped(at, "an object {item_code, qty, rate}", e)
		}
		row := maps.Clone(m)
		if code, ok := m["item_code"].(string); !ok || strings.TrimSpace(code) == "" {
			return nil, p.Mistyped(at+".item_code", "a non-empty string", m["item_code"])
		}
		for _, k := range []string{"qty", "rate"} {
			v, present := m[k]
			if !present && k == "rate" {
				continue
			}
			n, ok := connectors.ParseNumber(v)
			if !ok {
				return nil, p.Mistyped(at+"."+k, "a number", v)
			}
			row[k] = n
		}
		out[i] = row
	}
	return out, nil
}
