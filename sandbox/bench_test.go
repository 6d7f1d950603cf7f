package sandbox

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// The benchmarks below run one partner call against a sandbox that
// already holds N records, at N=100 and N=10,000: the per-op cost should
// not depend on N. Calls go straight to the handler (no network), so they
// measure the sandbox alone. The store grows by one record per op; it is
// reset and seeded again every N ops so that it stays between N and 2N.

var benchSizes = []int{100, 10_000}

// benchStore is a seeded sandbox under benchmark.
type benchStore struct {
	b     *testing.B
	s     *Server
	h     http.Handler
	n     int
	seed  func(s *Server, n int)
	added int
}

func newBenchStore(b *testing.B, n int, seed func(s *Server, n int)) *benchStore {
	s := New(Options{})
	bs := &benchStore{b: b, s: s, h: s.Handler(), n: n, seed: seed}
	seed(s, n)
	runtime.GC() // not the seeding's garbage in the timed loop
	return bs
}

// next is called once per op; it reseeds the store when it has doubled.
func (bs *benchStore) next() int {
	if bs.added == bs.n {
		bs.b.StopTimer()
		bs.s.Reset()
		bs.seed(bs.s, bs.n)
		bs.added = 0
		runtime.GC()
		bs.b.StartTimer()
	}
	bs.added++
	return bs.n + bs.added
}

func (bs *benchStore) do(method, target, auth, body string, want int) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	bs.h.ServeHTTP(rec, req)
	if rec.Code != want {
		bs.b.Fatalf("%s %s: %d, want %d: %s", method, target, rec.Code, want, rec.Body)
	}
	return rec
}

// runAtSizes runs op once per iteration (i counts them from 1) against a
// store seeded by seed, at each of benchSizes.
func runAtSizes(b *testing.B, seed func(s *Server, n int), op func(bs *benchStore, i int)) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			bs := newBenchStore(b, n, seed)
			i := 0
			for b.Loop() {
				i++
				op(bs, i)
			}
		})
	}
}

const benchHubSpotAuth = "Bearer pat-na1-bench"

// seedHubSpotContacts stores n contacts as hubspotCreate would.
func seedHubSpotContacts(s *Server, n int) {
	for i := range n {
		idn := s.NewID("hubspot.contacts")
		k, _ := strconv.Atoi(idn[strings.LastIndexByte(idn, '_')+1:])
		id, now := strconv.Itoa(100+k), hubspotNow()
		s.Put("hubspot.contacts", id, map[string]any{
			"id": id, "createdAt": now, "updatedAt": now, "archived": false,
			"properties": map[string]any{
				"email": fmt.Sprintf("seed%d@bench.example", i), "firstname": "Ada", "lastname": "Lovelace",
				"hs_object_id": id, "createdate": now, "lastmodifieddate": now,
			},
		})
	}
}

func BenchmarkHubSpotCreate(b *testing.B) {
	runAtSizes(b, seedHubSpotContacts, func(bs *benchStore, _ int) {
		i := bs.next()
		bs.do("POST", "/hubspot/crm/v3/objects/contacts", benchHubSpotAuth,
			fmt.Sprintf(`{"properties":{"email":"new%d@bench.example","firstname":"Ada","lastname":"Lovelace"}}`, i), http.StatusCreated)
	})
}

func BenchmarkHubSpotCreateConflict(b *testing.B) {
	runAtSizes(b, seedHubSpotContacts, func(bs *benchStore, i int) {
		bs.do("POST", "/hubspot/crm/v3/objects/contacts", benchHubSpotAuth,
			fmt.Sprintf(`{"properties":{"email":"Seed%d@bench.example"}}`, i%bs.n), http.StatusConflict)
	})
}

func BenchmarkHubSpotSearchByEmail(b *testing.B) {
	runAtSizes(b, seedHubSpotContacts, func(bs *benchStore, i int) {
		rec := bs.do("POST", "/hubspot/crm/v3/objects/contacts/search", benchHubSpotAuth,
			fmt.Sprintf(`{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"seed%d@bench.example"}]}],`+
				`"properties":["email","firstname"],"sorts":[{"propertyName":"createdate","direction":"ASCENDING"}],"limit":1}`, i%bs.n), http.StatusOK)
		if !strings.Contains(rec.Body.String(), `"total":1`) {
			b.Fatalf("search: %s", rec.Body)
		}
	})
}

func BenchmarkHubSpotGet(b *testing.B) {
	runAtSizes(b, seedHubSpotContacts, func(bs *benchStore, i int) {
		bs.do("GET", "/hubspot/crm/v3/objects/contacts/"+strconv.Itoa(101+i%bs.n), benchHubSpotAuth, "", http.StatusOK)
	})
}

const benchERPNextAuth = "token bench:bench"

// seedERPNext stores, as erpnextInsert would, n customers all named Ada
// Lovelace (so "Ada Lovelace - 1", ...), 2n submitted sales orders, and n
// invoices billing the first n of them.
func seedERPNext(s *Server, n int) {
	now := erpnextTimestamp(erpnextNow())
	for i := range n {
		name := "Ada Lovelace"
		if i > 0 {
			name = fmt.Sprintf("Ada Lovelace - %d", i)
		}
		s.Put("erpnext.customers", name, map[string]any{
			"name": name, "customer_name": "Ada Lovelace", "doctype": "Customer", "docstatus": 0,
			"customer_type": "Company", "customer_group": "Individual", "territory": "All Territories",
			"email_id": fmt.Sprintf("seed%d@bench.example", i), "creation": now, "modified": now,
			"owner": "Administrator", "modified_by": "Administrator", "idx": 0,
		})
	}
	row := func(doctype, parent string, extra map[string]any) []any {
		r := map[string]any{
			"item_code": "MUG-01", "qty": 2.0, "rate": 12.5, "amount": 25.0, "doctype": doctype,
			"parenttype": strings.TrimSuffix(doctype, " Item"), "parentfield": "items", "idx": 1,
			"name": fmt.Sprintf("%010x", s.erpnextSeq("erpnext.row")), "parent": parent, "docstatus": 1,
		}
		for k, v := range extra {
			r[k] = v
		}
		return []any{r}
	}
	orders := make([]string, 2*n)
	for i := range orders {
		name := fmt.Sprintf("SAL-ORD-2026-%05d", s.erpnextSeq("erpnext.sales_orders"))
		orders[i] = name
		s.Put("erpnext.sales_orders", name, map[string]any{
			"name": name, "doctype": "Sales Order", "docstatus": 1, "customer": "Ada Lovelace", "customer_name": "Ada Lovelace",
			"po_no": fmt.Sprintf("seed-%d", i), "delivery_date": "2026-12-01", "transaction_date": "2026-11-22", "currency": "EUR",
			"items":     row("Sales Order Item", name, map[string]any{"delivery_date": "2026-12-01"}),
			"total_qty": 2.0, "total": 25.0, "net_total": 25.0, "grand_total": 25.0, "rounded_total": 25.0,
			"per_billed": 0.0, "per_delivered": 0.0, "billing_status": "Not Billed", "delivery_status": "Not Delivered",
			"status": "To Deliver and Bill", "creation": now, "modified": now, "owner": "Administrator", "modified_by": "Administrator", "idx": 0,
		})
	}
	for i := range n {
		name := fmt.Sprintf("ACC-SINV-2026-%05d", s.erpnextSeq("erpnext.sales_invoices"))
		s.Put("erpnext.sales_invoices", name, map[string]any{
			"name": name, "doctype": "Sales Invoice", "docstatus": 1, "customer": "Ada Lovelace", "customer_name": "Ada Lovelace",
			"items":        row("Sales Invoice Item", name, map[string]any{"sales_order": orders[i]}),
			"posting_date": "2026-11-22", "due_date": "2026-11-22", "currency": "EUR",
			"total": 25.0, "net_total": 25.0, "grand_total": 25.0, "rounded_total": 25.0, "outstanding_amount": 25.0,
			"status": "Unpaid", "creation": now, "modified": now, "owner": "Administrator", "modified_by": "Administrator", "idx": 0,
		})
	}
}

func erpnextListURL(doctype string, filters string, fields string) string {
	q := url.Values{"filters": {filters}, "fields": {fields}, "order_by": {"creation asc"}, "limit_page_length": {"1"}}
	return "/erpnext/api/resource/" + url.PathEscape(doctype) + "?" + q.Encode()
}

// BenchmarkERPNextUpsertCustomer is what upsert_customer does for a new
// customer: a list by email (no match), then an insert whose name is
// taken n times over.
func BenchmarkERPNextUpsertCustomer(b *testing.B) {
	runAtSizes(b, seedERPNext, func(bs *benchStore, _ int) {
		i := bs.next()
		email := fmt.Sprintf("new%d@bench.example", i)
		rec := bs.do("GET", erpnextListURL("Customer", `[["email_id","=","`+email+`"]]`, `["name","customer_name","email_id"]`), benchERPNextAuth, "", http.StatusOK)
		if !strings.Contains(rec.Body.String(), `"data":[]`) {
			b.Fatalf("list: %s", rec.Body)
		}
		bs.do("POST", "/erpnext/api/resource/Customer", benchERPNextAuth,
			`{"customer_name":"Ada Lovelace","customer_group":"Individual","territory":"All Territories","email_id":"`+email+`"}`, http.StatusOK)
	})
}

// BenchmarkERPNextCreateSalesOrder is create_sales_order with a new po_no.
func BenchmarkERPNextCreateSalesOrder(b *testing.B) {
	runAtSizes(b, seedERPNext, func(bs *benchStore, i int) {
		po := fmt.Sprintf("new-%d", bs.next())
		bs.do("GET", erpnextListURL("Sales Order", `[["po_no","=","`+po+`"],["customer","=","Ada Lovelace"],["docstatus","<",2]]`, `["name","status","grand_total"]`), benchERPNextAuth, "", http.StatusOK)
		bs.do("POST", "/erpnext/api/resource/Sales%20Order", benchERPNextAuth,
			`{"customer":"Ada Lovelace","po_no":"`+po+`","delivery_date":"2026-12-01","currency":"EUR","docstatus":1,"items":[{"item_code":"MUG-01","qty":2,"rate":12.5}]}`, http.StatusOK)
	})
}

// BenchmarkERPNextCreateInvoice is create_invoice billing a sales order
// that has no invoice yet.
func BenchmarkERPNextCreateInvoice(b *testing.B) {
	runAtSizes(b, seedERPNext, func(bs *benchStore, i int) {
		// Orders n+1..2n are not billed yet.
		order := fmt.Sprintf("SAL-ORD-2026-%05d", bs.next())
		bs.do("GET", erpnextListURL("Sales Invoice", `[["Sales Invoice Item","sales_order","=","`+order+`"],["docstatus","<",2]]`, `["name","status"]`), benchERPNextAuth, "", http.StatusOK)
		rec := bs.do("POST", "/erpnext/api/resource/Sales%20Invoice", benchERPNextAuth,
			`{"customer":"Ada Lovelace","docstatus":1,"items":[{"item_code":"MUG-01","qty":2,"rate":12.5,"sales_order":"`+order+`"}]}`, http.StatusOK)
		if !strings.Contains(rec.Body.String(), `"status":"Unpaid"`) {
			b.Fatalf("invoice: %s", rec.Body)
		}
	})
}
