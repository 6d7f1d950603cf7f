package sandbox

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ERPNext's Frappe REST API, under /erpnext: `/api/resource/<DocType>` for
// Customer, Sales Order and Sales Invoice (list with filters, get, insert;
// docstatus 1 on insert submits) and `/api/method/frappe.client.cancel`.
// Requests need `Authorization: token <api_key>:<api_secret>`. Counters:
// erpnext.customers.created, erpnext.sales_orders.created,
// erpnext.sales_orders.cancelled, erpnext.invoices.created,
// erpnext.invoices.cancelled.

type erpnextDocType struct {
	kind    string // sandbox state kind
	counter string // counter prefix
	child   string // child table doctype of `items`, if any
	submit  bool   // submittable
}

var erpnextDocTypes = map[string]erpnextDocType{
	"Customer":      {kind: "erpnext.customers", counter: "erpnext.customers"},
	"Sales Order":   {kind: "erpnext.sales_orders", counter: "erpnext.sales_orders", child: "Sales Order Item", submit: true},
	"Sales Invoice": {kind: "erpnext.sales_invoices", counter: "erpnext.invoices", child: "Sales Invoice Item", submit: true},
}

var (
	erpnextCustomerGroups = []string{"All Customer Groups", "Individual", "Commercial", "Non Profit", "Government"}
	erpnextTerritories    = []string{"All Territories", "Rest Of The World"}
	erpnextCustomerTypes  = []string{"Company", "Individual", "Partnership"}
)

func (s *Server) erpnextRoutes() {
	// The fields lists filter on with "=", and what the sandbox looks up.
	field := func(name string) func(map[string]any) []string {
		return func(doc map[string]any) []string { return []string{erpnextEqKey(doc[name])} }
	}
	s.addIndex("erpnext.customers", "field:email_id", field("email_id"))
	s.addIndex("erpnext.sales_orders", "field:po_no", field("po_no"))
	s.addIndex("erpnext.sales_invoices", "row:sales_order", func(doc map[string]any) []string {
		var keys []string
		rows, _ := doc["items"].([]any)
		for _, r := range rows {
			if row, ok := r.(map[string]any); ok {
				keys = append(keys, erpnextEqKey(row["sales_order"]))
			}
		}
		return keys
	})
	s.mux.HandleFunc("GET /erpnext/api/resource/{doctype}", s.erpnextAuth(s.erpnextList))
	s.mux.HandleFunc("POST /erpnext/api/resource/{doctype}", s.erpnextAuth(s.erpnextInsert))
	s.mux.HandleFunc("GET /erpnext/api/resource/{doctype}/{name}", s.erpnextAuth(s.erpnextGet))
	s.mux.HandleFunc("POST /erpnext/api/method/frappe.client.cancel", s.erpnextAuth(s.erpnextCancel))
	s.mux.HandleFunc("/erpnext/", s.erpnextAuth(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		s.erpnextFail(w, "DoesNotExistError", fmt.Sprintf("No route for %s %s", r.Method, strings.TrimPrefix(r.URL.Path, "/erpnext")))
	}))
}

// erpnextStatus is the HTTP status Frappe answers for an exception type.
func erpnextStatus(excType string) int {
	switch excType {
	case "AuthenticationError":
		return http.StatusUnauthorized
	case "PermissionError":
		return http.StatusForbidden
	case "DoesNotExistError":
		return http.StatusNotFound
	case "DuplicateEntryError":
		return http.StatusConflict
	}
	return http.StatusExpectationFailed // ValidationError and its kin
}

// erpnextError is Frappe's error body.
func erpnextError(excType, message string) (int, any) {
	msg, _ := json.Marshal(map[string]any{"message": message, "title": "Message", "indicator": "red", "raise_exception": 1})
	msgs, _ := json.Marshal([]string{string(msg)})
	exc := fmt.Sprintf("frappe.exceptions.%s: %s", excType, message)
	trace, _ := json.Marshal([]string{"Traceback (most recent call last):\n  File \"apps/frappe/frappe/app.py\", line 114, in application\n" + exc})
	return erpnextStatus(excType), map[string]any{
		"exc_type":         excType,
		"exception":        exc,
		"exc":              string(trace),
		"_server_messages": string(msgs),
	}
}

func (s *Server) erpnextFail(w http.ResponseWriter, excType, message string) {
	status, body := erpnextError(excType, message)
	WriteJSON(w, status, body)
}

// erpnextAuth checks `token <key>:<secret>` and reads the body.
func (s *Server) erpnextAuth(h func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		creds, ok := strings.CutPrefix(r.Header.Get("Authorization"), "token ")
		key, secret, _ := strings.Cut(creds, ":")
		if !ok || key == "" || secret == "" {
			s.erpnextFail(w, "AuthenticationError", "Invalid or missing API credentials: send Authorization: token <api_key>:<api_secret>")
			return
		}
		body, err := ReadBody(r)
		if err != nil {
			s.erpnextFail(w, "ValidationError", "reading the request body: "+err.Error())
			return
		}
		h(w, r, body)
	}
}

// erpnextDoc parses a document from a JSON body, or from the `data` field
// of a form.
func erpnextDoc(body []byte) (map[string]any, error) {
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err == nil {
		if inner, ok := doc["data"].(map[string]any); ok {
			return inner, nil
		}
		return doc, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("data") == "" {
		return nil, fmt.Errorf("the request body is neither a JSON document nor a form with data")
	}
	if err := json.Unmarshal([]byte(form.Get("data")), &doc); err != nil {
		return nil, fmt.Errorf("data is not a JSON document: %v", err)
	}
	return doc, nil
}

func (s *Server) erpnextDocType(w http.ResponseWriter, name string) (erpnextDocType, bool) {
	dt, ok := erpnextDocTypes[name]
	if !ok {
		s.erpnextFail(w, "DoesNotExistError", fmt.Sprintf("DocType %s not found", name))
	}
	return dt, ok
}

func erpnextNow() time.Time { return time.Now().UTC() }

func erpnextTimestamp(t time.Time) string { return t.Format("2006-01-02 15:04:05.000000") }

// erpnextSeq is the number of a fresh NewID.
func (s *Server) erpnextSeq(prefix string) int {
	id := s.NewID(prefix)
	n, _ := strconv.Atoi(id[strings.LastIndexByte(id, '_')+1:])
	return n
}

func erpnextNumber(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	case nil:
		return 0, true
	}
	return 0, false
}

func erpnextString(v any) string {
	if s, ok := v.(string); ok {
		return strings.TrimSpace(s)
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func (s *Server) erpnextInsert(w http.ResponseWriter, r *http.Request, body []byte) {
	doctype := r.PathValue("doctype")
	dt, ok := s.erpnextDocType(w, doctype)
	if !ok {
		return
	}
	s.Mutate(w, r, "erpnext", body, func() (int, any) {
		doc, err := erpnextDoc(body)
		if err != nil {
			return erpnextError("ValidationError", err.Error())
		}
		docstatus, ok := erpnextNumber(doc["docstatus"])
		if !ok || (docstatus != 0 && (docstatus != 1 || !dt.submit)) {
			return erpnextError("ValidationError", fmt.Sprintf("Cannot insert a %s with docstatus %v", doctype, doc["docstatus"]))
		}
		now := erpnextNow()
		s.erpnextMu.Lock()
		defer s.erpnextMu.Unlock()
		var excType, msg string
		switch doctype {
		case "Customer":
			excType, msg = s.erpnextCustomer(doc)
		case "Sales Order":
			excType, msg = s.erpnextSalesOrder(doc, now)
		case "Sales Invoice":
			excType, msg = s.erpnextSalesInvoice(doc, now)
		}
		if excType != "" {
			return erpnextError(excType, msg)
		}
		doc["doctype"], doc["docstatus"] = doctype, int(docstatus)
		erpnextRows(doc, int(docstatus))
		doc["creation"], doc["modified"] = erpnextTimestamp(now), erpnextTimestamp(now)
		doc["owner"], doc["modified_by"], doc["idx"] = "Administrator", "Administrator", 0
		if dt.submit {
			doc["status"] = "Draft"
			if docstatus == 1 {
				doc["status"] = map[string]string{"Sales Order": "To Deliver and Bill", "Sales Invoice": "Unpaid"}[doctype]
			}
		}
		s.Put(dt.kind, doc["name"].(string), doc)
		s.Count(dt.counter + ".created")
		if doctype == "Sales Invoice" && docstatus == 1 {
			s.erpnextRebill(doc)
		}
		return http.StatusOK, map[string]any{"data": s.view(dt.kind, doc["name"].(string))}
	})
}

// erpnextRows links the item rows to their document.
func erpnextRows(doc map[string]any, docstatus int) {
	rows, _ := doc["items"].([]any)
	for _, r := range rows {
		if row, ok := r.(map[string]any); ok {
			row["parent"], row["docstatus"] = doc["name"], docstatus
		}
	}
}

// erpnextCustomer validates and completes a new Customer.
func (s *Server) erpnextCustomer(doc map[string]any) (excType, msg string) {
	name := erpnextString(doc["customer_name"])
	if name == "" {
		return "MandatoryError", "Error: Value missing for Customer: Customer Name"
	}
	doc["customer_name"] = name
	defaults := map[string]string{"customer_type": "Company", "customer_group": "All Customer Groups", "territory": "All Territories"}
	for field, def := range defaults {
		if erpnextString(doc[field]) == "" {
			doc[field] = def
		}
	}
	if t := erpnextString(doc["customer_type"]); !slices.Contains(erpnextCustomerTypes, t) {
		return "ValidationError", fmt.Sprintf("Customer Type cannot be %q. It should be one of %q", t, strings.Join(erpnextCustomerTypes, ", "))
	}
	if g := erpnextString(doc["customer_group"]); !slices.Contains(erpnextCustomerGroups, g) {
		return "LinkValidationError", "Could not find Customer Group: " + g
	}
	if t := erpnextString(doc["territory"]); !slices.Contains(erpnextTerritories, t) {
		return "LinkValidationError", "Could not find Territory: " + t
	}
	if email := erpnextString(doc["email_id"]); email != "" {
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
			return "InvalidEmailAddressError", email + " is not a valid Email Address"
		}
	}
	doc["name"] = s.freeID("erpnext.customers", name, func(i int) string { return fmt.Sprintf("%s - %d", name, i) })
	return "", ""
}

// erpnextLines validates and completes the items of an order or invoice;
// it returns the totals.
func (s *Server) erpnextLines(doc map[string]any, parent, child string) (qty, total float64, excType, msg string) {
	rows, _ := doc["items"].([]any)
	if len(rows) == 0 {
		return 0, 0, "MandatoryError", fmt.Sprintf("Error: Value missing for %s: Items", parent)
	}
	for i, r := range rows {
		row, ok := r.(map[string]any)
		if !ok {
			return 0, 0, "ValidationError", fmt.Sprintf("Row #%d: an item must be an object", i+1)
		}
		if erpnextString(row["item_code"]) == "" {
			return 0, 0, "MandatoryError", fmt.Sprintf("Error: Value missing for %s: Item Code (row #%d)", child, i+1)
		}
		q, ok1 := erpnextNumber(row["qty"])
		rate, ok2 := erpnextNumber(row["rate"])
		switch {
		case !ok1 || !ok2:
			return 0, 0, "ValidationError", fmt.Sprintf("Row #%d: Quantity and Rate must be numbers", i+1)
		case q <= 0:
			return 0, 0, "ValidationError", fmt.Sprintf("Row #%d: Quantity for Item %s must be greater than 0", i+1, row["item_code"])
		case rate < 0:
			return 0, 0, "ValidationError", fmt.Sprintf("Row #%d: Rate for Item %s cannot be negative", i+1, row["item_code"])
		}
		row["qty"], row["rate"], row["amount"] = q, rate, round2(q*rate)
		row["doctype"], row["parenttype"], row["parentfield"], row["idx"] = child, parent, "items", i+1
		row["name"] = fmt.Sprintf("%010x", s.erpnextSeq("erpnext.row"))
		qty += q
		total += q * rate
	}
	return qty, round2(total), "", ""
}

func (s *Server) erpnextSalesOrder(doc map[string]any, now time.Time) (excType, msg string) {
	customer := erpnextString(doc["customer"])
	if customer == "" {
		return "MandatoryError", "Error: Value missing for Sales Order: Customer"
	}
	if s.view("erpnext.customers", customer) == nil {
		return "LinkValidationError", "Could not find Customer: " + customer
	}
	delivery := erpnextString(doc["delivery_date"])
	if delivery == "" {
		return "MandatoryError", "Error: Value missing for Sales Order: Delivery Date"
	}
	today := now.Format(time.DateOnly)
	if _, err := time.Parse(time.DateOnly, delivery); err != nil {
		return "ValidationError", fmt.Sprintf("Delivery Date %s is not a valid date (YYYY-MM-DD)", delivery)
	}
	if po := erpnextString(doc["po_no"]); po != "" {
		dup := s.lookup("erpnext.sales_orders", "field:po_no", []string{erpnextEqKey(po)}, func(o map[string]any) bool {
			ds, _ := erpnextNumber(o["docstatus"])
			return o["po_no"] == po && o["customer"] == customer && ds < 2
		})
		if len(dup) > 0 {
			return "ValidationError", fmt.Sprintf("Sales Order %s already exists against Customer's Purchase Order %s. "+
				"To allow multiple Sales Orders, enable Allow Multiple Sales Orders Against a Customer's Purchase Order in Selling Settings", dup[0]["name"], po)
		}
	}
	qty, total, excType, msg := s.erpnextLines(doc, "Sales Order", "Sales Order Item")
	if excType != "" {
		return excType, msg
	}
	for _, r := range doc["items"].([]any) {
		row := r.(map[string]any)
		if erpnextString(row["delivery_date"]) == "" {
			row["delivery_date"] = delivery
		}
	}
	doc["customer_name"] = s.view("erpnext.customers", customer)["customer_name"]
	doc["name"] = fmt.Sprintf("SAL-ORD-%d-%05d", now.Year(), s.erpnextSeq("erpnext.sales_orders"))
	doc["transaction_date"] = cmp.Or(erpnextString(doc["transaction_date"]), today)
	doc["currency"] = cmp.Or(erpnextString(doc["currency"]), "USD")
	doc["total_qty"], doc["total"], doc["net_total"], doc["grand_total"], doc["rounded_total"] = qty, total, total, total, total
	doc["per_billed"], doc["per_delivered"], doc["billing_status"], doc["delivery_status"] = 0.0, 0.0, "Not Billed", "Not Delivered"
	return "", ""
}

func (s *Server) erpnextSalesInvoice(doc map[string]any, now time.Time) (excType, msg string) {
	customer := erpnextString(doc["customer"])
	if customer == "" {
		return "MandatoryError", "Error: Value missing for Sales Invoice: Customer"
	}
	if s.view("erpnext.customers", customer) == nil {
		return "LinkValidationError", "Could not find Customer: " + customer
	}
	_, total, excType, msg := s.erpnextLines(doc, "Sales Invoice", "Sales Invoice Item")
	if excType != "" {
		return excType, msg
	}
	for i, r := range doc["items"].([]any) {
		so := erpnextString(r.(map[string]any)["sales_order"])
		if so == "" {
			continue
		}
		order := s.view("erpnext.sales_orders", so)
		if order == nil {
			return "LinkValidationError", "Could not find Sales Order: " + so
		}
		if ds, _ := erpnextNumber(order["docstatus"]); ds != 1 {
			return "ValidationError", fmt.Sprintf("Row #%d: Sales Order %s must be submitted (it is %s)", i+1, so, order["status"])
		}
		if order["customer"] != customer {
			return "ValidationError", fmt.Sprintf("Row #%d: Sales Order %s belongs to customer %s, not %s", i+1, so, order["customer"], customer)
		}
	}
	today := now.Format(time.DateOnly)
	doc["customer_name"] = s.view("erpnext.customers", customer)["customer_name"]
	doc["name"] = fmt.Sprintf("ACC-SINV-%d-%05d", now.Year(), s.erpnextSeq("erpnext.sales_invoices"))
	doc["posting_date"] = cmp.Or(erpnextString(doc["posting_date"]), today)
	doc["due_date"] = cmp.Or(erpnextString(doc["due_date"]), erpnextString(doc["posting_date"]))
	doc["currency"] = cmp.Or(erpnextString(doc["currency"]), "USD")
	doc["total"], doc["net_total"], doc["grand_total"], doc["rounded_total"], doc["outstanding_amount"] = total, total, total, total, total
	return "", ""
}

// erpnextRebill recomputes the billing of the sales orders an invoice
// names, from every submitted invoice.
func (s *Server) erpnextRebill(invoice map[string]any) {
	orders := map[string]bool{}
	rows, _ := invoice["items"].([]any)
	for _, r := range rows {
		if so := erpnextString(r.(map[string]any)["sales_order"]); so != "" {
			orders[so] = true
		}
	}
	for so := range orders {
		order := s.Get("erpnext.sales_orders", so)
		if order == nil {
			continue
		}
		billed := 0.0
		submitted := func(o map[string]any) bool { ds, _ := erpnextNumber(o["docstatus"]); return ds == 1 }
		for _, inv := range s.lookup("erpnext.sales_invoices", "row:sales_order", []string{erpnextEqKey(so)}, submitted) {
			items, _ := inv["items"].([]any)
			for _, r := range items {
				if row := r.(map[string]any); row["sales_order"] == so {
					amount, _ := erpnextNumber(row["amount"])
					billed += amount
				}
			}
		}
		total, _ := erpnextNumber(order["grand_total"])
		per := 100.0
		if total > 0 {
			per = min(round2(billed/total*100), 100)
		}
		order["per_billed"] = per
		switch {
		case per >= 100:
			order["billing_status"] = "Fully Billed"
		case per > 0:
			order["billing_status"] = "Partly Billed"
		default:
			order["billing_status"] = "Not Billed"
		}
		if ds, _ := erpnextNumber(order["docstatus"]); ds == 1 {
			order["status"] = map[bool]string{true: "To Deliver", false: "To Deliver and Bill"}[per >= 100]
		}
		order["modified"] = erpnextTimestamp(erpnextNow())
		s.Put("erpnext.sales_orders", so, order)
	}
}

func (s *Server) erpnextGet(w http.ResponseWriter, r *http.Request, _ []byte) {
	doctype, name := r.PathValue("doctype"), r.PathValue("name")
	dt, ok := s.erpnextDocType(w, doctype)
	if !ok {
		return
	}
	doc := s.view(dt.kind, name)
	if doc == nil {
		s.erpnextFail(w, "DoesNotExistError", fmt.Sprintf("%s %s not found", doctype, name))
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"data": doc})
}

func (s *Server) erpnextCancel(w http.ResponseWriter, r *http.Request, body []byte) {
	s.Mutate(w, r, "erpnext", body, func() (int, any) {
		var in struct {
			DocType string `json:"doctype"`
			Name    string `json:"name"`
		}
		if json.Unmarshal(body, &in) != nil {
			form, _ := url.ParseQuery(string(body))
			in.DocType, in.Name = form.Get("doctype"), form.Get("name")
		}
		dt, ok := erpnextDocTypes[in.DocType]
		switch {
		case in.DocType == "" || in.Name == "":
			return erpnextError("ValidationError", "frappe.client.cancel needs doctype and name")
		case !ok:
			return erpnextError("DoesNotExistError", fmt.Sprintf("DocType %s not found", in.DocType))
		case !dt.submit:
			return erpnextError("ValidationError", fmt.Sprintf("Cannot cancel %s: it is not submittable", in.DocType))
		}
		s.erpnextMu.Lock()
		defer s.erpnextMu.Unlock()
		doc := s.Get(dt.kind, in.Name)
		if doc == nil {
			return erpnextError("DoesNotExistError", fmt.Sprintf("%s %s not found", in.DocType, in.Name))
		}
		switch ds, _ := erpnextNumber(doc["docstatus"]); ds {
		case 0:
			return erpnextError("ValidationError", "Cannot change docstatus from 0 (Draft) to 2 (Cancelled)")
		case 2:
			return erpnextError("ValidationError", "Cannot edit cancelled document")
		}
		if in.DocType == "Sales Order" {
			linked := s.lookup("erpnext.sales_invoices", "row:sales_order", []string{erpnextEqKey(in.Name)}, func(o map[string]any) bool {
				ds, _ := erpnextNumber(o["docstatus"])
				items, _ := o["items"].([]any)
				return ds == 1 && slices.ContainsFunc(items, func(r any) bool { return r.(map[string]any)["sales_order"] == in.Name })
			})
			if len(linked) > 0 {
				return erpnextError("LinkExistsError", fmt.Sprintf("Cannot delete or cancel because Sales Order %s is linked with Sales Invoice %s", in.Name, linked[0]["name"]))
			}
		}
		doc["docstatus"], doc["status"], doc["modified"] = 2, "Cancelled", erpnextTimestamp(erpnextNow())
		erpnextRows(doc, 2)
		s.Put(dt.kind, in.Name, doc)
		s.Count(dt.counter + ".cancelled")
		if in.DocType == "Sales Invoice" {
			s.erpnextRebill(doc)
		}
		return http.StatusOK, map[string]any{"message": s.view(dt.kind, in.Name)}
	})
}

// erpnextFilter is one list condition: on the document, or on any row of
// its items when Child names the child doctype.
type erpnextFilter struct {
	Child string
	Field string
	Op    string
	Value any
}

var erpnextOps = []string{"=", "!=", "<", ">", "<=", ">=", "like", "not like", "in", "not in", "is"}

// erpnextFilters parses Frappe's filters: [[field, op, value], ...],
// [[doctype, field, op, value], ...] or {field: value | [op, value]}.
func erpnextFilters(raw, doctype string) ([]erpnextFilter, error) {
	if raw == "" {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return nil, fmt.Errorf("filters are not JSON: %v", err)
	}
	var out []erpnextFilter
	add := func(child, field string, op, value any) error {
		o, _ := op.(string)
		o = strings.ToLower(strings.TrimSpace(o))
		if !slices.Contains(erpnextOps, o) {
			return fmt.Errorf("operator must be one of %s", strings.Join(erpnextOps, ", "))
		}
		if child == doctype {
			child = ""
		}
		out = append(out, erpnextFilter{Child: child, Field: field, Op: o, Value: value})
		return nil
	}
	switch v := v.(type) {
	case map[string]any:
		for _, field := range slices.Sorted(maps.Keys(v)) {
			cond := v[field]
			if pair, ok := cond.([]any); ok && len(pair) == 2 {
				if err := add("", field, pair[0], pair[1]); err != nil {
					return nil, err
				}
				continue
			}
			if err := add("", field, "=", cond); err != nil {
				return nil, err
			}
		}
	case []any:
		for _, f := range v {
			parts, _ := f.([]any)
			var err error
			switch len(parts) {
			case 3:
				field, _ := parts[0].(string)
				err = add("", field, parts[1], parts[2])
			case 4:
				child, _ := parts[0].(string)
				field, _ := parts[1].(string)
				err = add(child, field, parts[2], parts[3])
			default:
				err = fmt.Errorf("a filter must be [field, operator, value] or [doctype, field, operator, value], got %v", f)
			}
			if err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("filters must be a list or an object")
	}
	return out, nil
}

// erpnextStr is how a filter compares a value that is not a number.
func erpnextStr(x any) string {
	if x == nil {
		return ""
	}
	if n, ok := x.(float64); ok {
		return strconv.FormatFloat(n, 'f', -1, 64)
	}
	if s, ok := x.(string); ok {
		return s
	}
	return fmt.Sprint(x)
}

// erpnextEqKey is the same for two values that a filter's "=" holds for
// (see matchValue): numbers (and numeric strings) by value, anything else
// by its text.
func erpnextEqKey(x any) string {
	if x != nil {
		if n, ok := erpnextNumber(x); ok {
			if n == 0 {
				n = 0 // -0 is 0
			}
			return "n" + strconv.FormatFloat(n, 'g', -1, 64) // every NaN is "NaN", as cmp.Compare has them equal
		}
	}
	return "s" + erpnextStr(x)
}

func (f erpnextFilter) matchValue(v any) bool {
	str := erpnextStr
	cmpTo := func(want any) int {
		a, aok := erpnextNumber(v)
		b, bok := erpnextNumber(want)
		if aok && bok && v != nil && want != nil {
			return cmp.Compare(a, b)
		}
		return cmp.Compare(str(v), str(want))
	}
	list := func() []any {
		switch w := f.Value.(type) {
		case []any:
			return w
		case string:
			var out []any
			for _, p := range strings.Split(w, ",") {
				out = append(out, strings.TrimSpace(p))
			}
			return out
		}
		return []any{f.Value}
	}
	switch f.Op {
	case "=":
		return cmpTo(f.Value) == 0
	case "!=":
		return cmpTo(f.Value) != 0
	case "<":
		return cmpTo(f.Value) < 0
	case ">":
		return cmpTo(f.Value) > 0
	case "<=":
		return cmpTo(f.Value) <= 0
	case ">=":
		return cmpTo(f.Value) >= 0
	case "in", "not in":
		in := slices.ContainsFunc(list(), func(w any) bool { return cmpTo(w) == 0 })
		return in == (f.Op == "in")
	case "like", "not like":
		pattern := "(?is)^" + strings.NewReplacer("%", ".*", "_", ".").Replace(regexp.QuoteMeta(str(f.Value))) + "$"
		re, err := regexp.Compile(pattern)
		return err == nil && re.MatchString(str(v)) == (f.Op == "like")
	case "is":
		set := str(v) != ""
		return set == (str(f.Value) == "set")
	}
	return false
}

// index is the name of the index that would find the documents the filter
// holds for with "=".
func (f erpnextFilter) index() string {
	if f.Child != "" {
		return "row:" + f.Field
	}
	return "field:" + f.Field
}

func (f erpnextFilter) match(doc map[string]any) bool {
	if f.Child == "" {
		return f.matchValue(doc[f.Field])
	}
	rows, _ := doc["items"].([]any)
	return slices.ContainsFunc(rows, func(r any) bool {
		row, _ := r.(map[string]any)
		return row != nil && row["doctype"] == f.Child && f.matchValue(row[f.Field])
	})
}

func (s *Server) erpnextList(w http.ResponseWriter, r *http.Request, _ []byte) {
	doctype := r.PathValue("doctype")
	dt, ok := s.erpnextDocType(w, doctype)
	if !ok {
		return
	}
	q := r.URL.Query()
	filters, err := erpnextFilters(q.Get("filters"), doctype)
	if err != nil {
		s.erpnextFail(w, "ValidationError", err.Error())
		return
	}
	for _, f := range filters {
		if f.Child != "" && f.Child != dt.child {
			s.erpnextFail(w, "ValidationError", fmt.Sprintf("%s is not a child table of %s", f.Child, doctype))
			return
		}
	}
	fields := []string{"name"}
	if raw := q.Get("fields"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &fields); err != nil {
			s.erpnextFail(w, "ValidationError", "fields must be a JSON list of field names: "+err.Error())
			return
		}
	}
	limit := 20
	if raw := cmp.Or(q.Get("limit_page_length"), q.Get("limit")); raw != "" {
		if limit, err = strconv.Atoi(raw); err != nil || limit < 0 {
			s.erpnextFail(w, "ValidationError", "limit_page_length must be a non-negative integer")
			return
		}
	}
	start, _ := strconv.Atoi(q.Get("limit_start"))
	orderField, desc := "modified", true
	if raw := strings.TrimSpace(q.Get("order_by")); raw != "" {
		field, dir, _ := strings.Cut(raw, " ")
		orderField, desc = strings.Trim(field, "`"), strings.EqualFold(strings.TrimSpace(dir), "desc")
	}
	match := func(doc map[string]any) bool {
		for _, f := range filters {
			if !f.match(doc) {
				return false
			}
		}
		return true
	}
	// An "=" filter on an indexed field names the candidates.
	var docs []map[string]any
	i := slices.IndexFunc(filters, func(f erpnextFilter) bool { return f.Op == "=" && s.hasIndex(dt.kind, f.index()) })
	if i >= 0 {
		docs = s.lookup(dt.kind, filters[i].index(), []string{erpnextEqKey(filters[i].Value)}, match)
	} else {
		docs = s.scan(dt.kind, match, false)
	}
	slices.SortStableFunc(docs, func(a, b map[string]any) int {
		c := cmp.Or(cmp.Compare(fmt.Sprint(a[orderField]), fmt.Sprint(b[orderField])), cmp.Compare(fmt.Sprint(a["name"]), fmt.Sprint(b["name"])))
		if desc {
			return -c
		}
		return c
	})
	docs = docs[min(max(start, 0), len(docs)):]
	if limit > 0 && len(docs) > limit {
		docs = docs[:limit]
	}
	data := make([]any, 0, len(docs))
	for _, doc := range docs {
		row := map[string]any{}
		for _, f := range fields {
			if f == "*" {
				for k, v := range doc {
					if _, isTable := v.([]any); !isTable {
						row[k] = v
					}
				}
				continue
			}
			row[f] = doc[f]
		}
		data = append(data, row)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"data": data})
}
