package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// These tests check that lookups through the indexes answer what a scan
// of every object would: after creates, updates that change the key,
// deletes and resets.

// checkIndexes fails unless every index holds exactly the keys its
// objects have now.
func checkIndexes(t *testing.T, s *Server) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for kind, ixs := range s.indexes {
		for name, ix := range ixs {
			want := map[string]map[string]struct{}{}
			for id, obj := range s.state[kind] {
				for _, k := range ix.keys(obj) {
					if want[k] == nil {
						want[k] = map[string]struct{}{}
					}
					want[k][id] = struct{}{}
				}
			}
			if !reflect.DeepEqual(want, ix.ids) && (len(want) != 0 || len(ix.ids) != 0) {
				t.Errorf("index %s of %s holds %v, want %v", name, kind, ix.ids, want)
			}
		}
	}
}

// hubspotStep is one request to the HubSpot sandbox, or "reset" or
// "delete" on its store.
type hubspotStep struct {
	op     string // POST (create), PATCH, SEARCH, GET, reset, delete
	id     string // of the contact to PATCH, GET or delete
	email  string // to create with, PATCH to ("-" removes it) or search
	status int
	want   string // the contact created or updated, the one a 409 names, or the IDs a search finds
}

func (p *partnerAPI) hubspotStep(t *testing.T, st hubspotStep) {
	t.Helper()
	props := `{"email":"` + st.email + `"}`
	if st.email == "-" {
		props = `{"email":null}`
	}
	var (
		status int
		body   map[string]any
		got    string
	)
	switch st.op {
	case "reset":
		p.s.Reset()
		return
	case "delete":
		p.s.delete("hubspot.contacts", st.id)
		return
	case "POST":
		status, body, _ = p.send("POST", "/crm/v3/objects/contacts", `{"properties":`+props+`}`)
	case "PATCH":
		status, body, _ = p.send("PATCH", "/crm/v3/objects/contacts/"+st.id, `{"properties":`+props+`}`)
	case "GET":
		status, body, _ = p.send("GET", "/crm/v3/objects/contacts/"+st.id, "")
	case "SEARCH":
		status, body, _ = p.send("POST", "/crm/v3/objects/contacts/search",
			`{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"`+st.email+`"}]}],"limit":100}`)
		var ids []string
		for _, r := range body["results"].([]any) {
			ids = append(ids, r.(map[string]any)["id"].(string))
		}
		got = strings.Join(ids, ",")
		if fmt.Sprint(body["total"]) != fmt.Sprint(len(ids)) {
			t.Errorf("%v: total %v, results %v", st, body["total"], ids)
		}
	}
	switch {
	case status == http.StatusConflict:
		msg := fmt.Sprint(body["message"])
		got = msg[strings.LastIndex(msg, " ")+1:]
	case st.op != "SEARCH":
		got = fmt.Sprint(body["id"])
	}
	if status != st.status || got != st.want {
		t.Errorf("%+v: %d %q (%v), want %d %q", st, status, got, body, st.status, st.want)
	}
}

func TestHubSpotEmailIndex(t *testing.T) {
	tests := []struct {
		name  string
		steps []hubspotStep
	}{
		{"create, then the same email in another case", []hubspotStep{
			{op: "POST", email: "a@example.com", status: 201, want: "101"},
			{op: "POST", email: "b@example.com", status: 201, want: "102"},
			{op: "POST", email: "A@Example.COM", status: 409, want: "101"},
			{op: "SEARCH", email: "A@EXAMPLE.COM", status: 200, want: "101"},
		}},
		{"emails equal under Unicode case folding conflict", []hubspotStep{
			{op: "POST", email: "sam@example.com", status: 201, want: "101"},
			{op: "POST", email: "ſam@example.com", status: 409, want: "101"},
			{op: "SEARCH", email: "ſAM@example.com", status: 200, want: "101"},
		}},
		{"an update that changes the email frees the old one and takes the new", []hubspotStep{
			{op: "POST", email: "a@example.com", status: 201, want: "101"},
			{op: "POST", email: "b@example.com", status: 201, want: "102"},
			{op: "PATCH", id: "101", email: "C@example.com", status: 200, want: "101"},
			{op: "SEARCH", email: "a@example.com", status: 200, want: ""},
			{op: "SEARCH", email: "c@example.com", status: 200, want: "101"},
			{op: "POST", email: "a@example.com", status: 201, want: "103"},
			{op: "POST", email: "c@EXAMPLE.com", status: 409, want: "101"},
			{op: "PATCH", id: "102", email: "c@example.com", status: 409, want: "101"},
			{op: "PATCH", id: "101", email: "c@example.com", status: 200, want: "101"}, // its own email
			{op: "SEARCH", email: "b@example.com", status: 200, want: "102"},
		}},
		{"an update that removes the email frees it", []hubspotStep{
			{op: "POST", email: "a@example.com", status: 201, want: "101"},
			{op: "PATCH", id: "101", email: "-", status: 200, want: "101"},
			{op: "SEARCH", email: "a@example.com", status: 200, want: ""},
			{op: "POST", email: "a@example.com", status: 201, want: "102"},
			{op: "PATCH", id: "101", email: "A@example.com", status: 409, want: "102"},
		}},
		{"delete", []hubspotStep{
			{op: "POST", email: "a@example.com", status: 201, want: "101"},
			{op: "POST", email: "b@example.com", status: 201, want: "102"},
			{op: "delete", id: "101"},
			{op: "GET", id: "101", status: 404, want: "<nil>"},
			{op: "SEARCH", email: "a@example.com", status: 200, want: ""},
			{op: "POST", email: "a@example.com", status: 201, want: "103"},
			{op: "POST", email: "b@example.com", status: 409, want: "102"},
		}},
		{"reset", []hubspotStep{
			{op: "POST", email: "a@example.com", status: 201, want: "101"},
			{op: "POST", email: "b@example.com", status: 201, want: "102"},
			{op: "reset"},
			{op: "SEARCH", email: "a@example.com", status: 200, want: ""},
			{op: "POST", email: "b@example.com", status: 201, want: "101"},
			{op: "POST", email: "a@example.com", status: 201, want: "102"},
			{op: "POST", email: "B@example.com", status: 409, want: "101"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newPartnerAPI(t, "/hubspot", "Bearer pat-na1-test")
			for _, st := range tt.steps {
				api.hubspotStep(t, st)
				checkIndexes(t, api.s)
			}
		})
	}
}

// TestHubSpotSearchPlans compares searches the email index answers with
// the same searches answered by a scan.
func TestHubSpotSearchPlans(t *testing.T) {
	api := newPartnerAPI(t, "/hubspot", "Bearer pat-na1-test")
	for i, c := range []string{`"email":"a@example.com","firstname":"Ada"`, `"email":"g@example.com","firstname":"Grace"`, `"firstname":"Nomail"`} {
		if status, _, _ := api.send("POST", "/crm/v3/objects/contacts", `{"properties":{`+c+`}}`); status != 201 {
			t.Fatalf("contact %d: %d", i, status)
		}
	}
	eq := func(v string) string { return `{"propertyName":"email","operator":"EQ","value":` + v + `}` }
	tests := []struct {
		name, groups, want string
	}{
		{"one email", `[{"filters":[` + eq(`"G@example.com"`) + `]}]`, "102"},
		{"with another filter", `[{"filters":[` + eq(`"a@example.com"`) + `,{"propertyName":"firstname","operator":"EQ","value":"Grace"}]}]`, ""},
		{"ORed emails", `[{"filters":[` + eq(`"g@example.com"`) + `]},{"filters":[` + eq(`"a@example.com"`) + `]}]`, "101,102"},
		{"the same email twice", `[{"filters":[` + eq(`"a@example.com"`) + `]},{"filters":[` + eq(`"A@example.com"`) + `]}]`, "101"},
		{"a group without email: scan", `[{"filters":[` + eq(`"a@example.com"`) + `]},{"filters":[{"propertyName":"firstname","operator":"EQ","value":"Nomail"}]}]`, "101,103"},
		{"a number", `[{"filters":[` + eq(`12`) + `]}]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := api.send("POST", "/crm/v3/objects/contacts/search", `{"filterGroups":`+tt.groups+`}`)
			var ids []string
			for _, r := range body["results"].([]any) {
				ids = append(ids, r.(map[string]any)["id"].(string))
			}
			if got := strings.Join(ids, ","); status != 200 || got != tt.want {
				t.Errorf("%d %q, want %q", status, got, tt.want)
			}
		})
	}
	// An unknown operator is refused whatever else the search asks.
	status, body, _ := api.send("POST", "/crm/v3/objects/contacts/search", `{"filterGroups":[{"filters":[`+eq(`"a@example.com"`)+`,{"propertyName":"email","operator":"FUZZY","value":"x"}]}]}`)
	if status != 400 || !strings.Contains(fmt.Sprint(body["message"]), `"FUZZY"`) {
		t.Errorf("unknown operator: %d %v", status, body)
	}
}

func TestHubSpotFoldKey(t *testing.T) {
	words := []string{"", "a", "A", "k", "K", "\u212a", "s", "S", "ſ", "ß", "ẞ", "ss", "σ", "Σ", "ς", "é", "É", "e\u0301",
		"ǅ", "ǆ", "Ǆ", "ı", "I", "i", "İ", "\xff", "\xfe", "\ufffd", "ab", "aB", "Ab", "ſt", "ﬅ", "Ω", "ω", "\u2126"}
	for _, a := range words {
		for _, b := range words {
			if got, want := hubspotFoldKey(a) == hubspotFoldKey(b), strings.EqualFold(a, b); got != want {
				t.Errorf("%q, %q: same key %v, EqualFold %v", a, b, got, want)
			}
			if got, want := hubspotFoldKey(a+"@x."+b) == hubspotFoldKey(b+"@X."+a), strings.EqualFold(a+"@x."+b, b+"@X."+a); got != want {
				t.Errorf("%q, %q in an address: same key %v, EqualFold %v", a, b, got, want)
			}
		}
	}
}

// TestIndexMatchesScan runs random puts, deletes and resets of contacts
// and checks, after each, the indexes and that the conflict lookup finds
// what a scan finds.
func TestIndexMatchesScan(t *testing.T) {
	s := New(Options{})
	r := rand.New(rand.NewPCG(1, 2))
	emails := []any{"a@example.com", "A@EXAMPLE.COM", "b@example.com", "ſ@example.com", "S@example.com", "", nil, 7.0}
	for range 2000 {
		id := fmt.Sprint(100 + r.IntN(20))
		switch p := r.IntN(100); {
		case p < 2:
			s.Reset()
		case p < 20:
			s.delete("hubspot.contacts", id)
		case p < 25:
			s.Put("hubspot.contacts", id, map[string]any{"id": id}) // no properties
		default:
			props := map[string]any{"firstname": "X"}
			if e := emails[r.IntN(len(emails))]; e != nil {
				props["email"] = e
			}
			s.Put("hubspot.contacts", id, map[string]any{"id": id, "properties": props})
		}
		checkIndexes(t, s)
		for _, e := range emails[:5] {
			email := e.(string)
			self := fmt.Sprint(100 + r.IntN(20))
			want := ""
			if found := s.Find("hubspot.contacts", func(o map[string]any) bool {
				props, _ := o["properties"].(map[string]any)
				return o["id"] != self && strings.EqualFold(fmt.Sprint(props["email"]), email)
			}); len(found) > 0 {
				want = found[0]["id"].(string)
			}
			if got := s.hubspotEmailHolder(email, self); got != want {
				t.Fatalf("conflict for %q (self %s): %q, a scan finds %q", email, self, got, want)
			}
		}
	}
}

func erpnextNames(t *testing.T, body map[string]any) string {
	t.Helper()
	var names []string
	data, ok := body["data"].([]any)
	if !ok {
		t.Fatalf("no data list in %v", body)
	}
	for _, d := range data {
		names = append(names, fmt.Sprint(d.(map[string]any)["name"]))
	}
	return strings.Join(names, ",")
}

func TestERPNextIndexes(t *testing.T) {
	type step struct {
		op     string // insert (doctype body), list (doctype filters), cancel (doctype name), get (doctype name), reset, delete (kind name)
		a, b   string
		status int
		want   string // the name inserted or the names listed; for errors the message contains it
	}
	customer := func(name, email string) string {
		return `{"customer_name":"` + name + `","email_id":"` + email + `"}`
	}
	order := func(po string) string {
		return `{"customer":"Ada","po_no":` + po + `,"delivery_date":"2026-12-01","docstatus":1,"items":[{"item_code":"MUG","qty":2,"rate":12.5}]}`
	}
	invoice := func(order string) string {
		return `{"customer":"Ada","docstatus":1,"items":[{"item_code":"MUG","qty":2,"rate":12.5,"sales_order":"` + order + `"}]}`
	}
	const so1, so2, so3, inv1 = "SAL-ORD-2026-00001", "SAL-ORD-2026-00002", "SAL-ORD-2026-00003", "ACC-SINV-2026-00001"
	tests := []struct {
		name  string
		steps []step
	}{
		{"customers by email and name", []step{
			{"insert", "Customer", customer("Ada", "ada@example.com"), 200, "Ada"},
			{"insert", "Customer", customer("Ada", "ada2@example.com"), 200, "Ada - 1"},
			{"insert", "Customer", customer("Ada", ""), 200, "Ada - 2"},
			{"list", "Customer", `[["email_id","=","ada2@example.com"]]`, 200, "Ada - 1"},
			{"list", "Customer", `{"email_id":"ADA2@example.com"}`, 200, ""}, // "=" is exact
			{"list", "Customer", `[["email_id","=",""]]`, 200, "Ada - 2"},
			{"list", "Customer", `[["email_id","like","ada%"]]`, 200, "Ada,Ada - 1"},
			{"delete", "erpnext.customers", "Ada - 1", 0, ""},
			{"list", "Customer", `[["email_id","=","ada2@example.com"]]`, 200, ""},
			{"insert", "Customer", customer("Ada", "ada3@example.com"), 200, "Ada - 1"}, // the freed name
			{"insert", "Customer", customer("Ada", "ada4@example.com"), 200, "Ada - 3"},
			{"insert", "Customer", customer("Grace", "grace@example.com"), 200, "Grace"},
			{"reset", "", "", 0, ""},
			{"list", "Customer", `[["email_id","=","ada@example.com"]]`, 200, ""},
			{"insert", "Customer", customer("Ada", "ada@example.com"), 200, "Ada"},
			{"insert", "Customer", customer("Ada", "ada@example.com"), 200, "Ada - 1"},
		}},
		{"sales orders by po_no", []step{
			{"insert", "Customer", customer("Ada", "ada@example.com"), 200, "Ada"},
			{"insert", "Sales Order", order(`"p1"`), 200, so1},
			{"insert", "Sales Order", order(`"p1"`), 417, "Sales Order " + so1 + " already exists"},
			{"insert", "Sales Order", order(`" p1 "`), 417, "Sales Order " + so1 + " already exists"}, // trimmed
			{"insert", "Sales Order", order(`"p2"`), 200, so2},
			{"list", "Sales Order", `[["po_no","=","p1"],["customer","=","Ada"],["docstatus","<",2]]`, 200, so1},
			{"cancel", "Sales Order", so1, 200, so1},
			{"list", "Sales Order", `[["po_no","=","p1"],["customer","=","Ada"],["docstatus","<",2]]`, 200, ""},
			{"list", "Sales Order", `[["po_no","=","p1"]]`, 200, so1},
			{"insert", "Sales Order", order(`"p1"`), 200, so3}, // the cancelled order no longer holds it
			{"insert", "Sales Order", order(`"p1"`), 417, "Sales Order " + so3 + " already exists"},
			{"list", "Sales Order", `[["po_no","=","p1"],["docstatus","<",2]]`, 200, so3},
			{"reset", "", "", 0, ""},
			{"list", "Sales Order", `[["po_no","=","p1"]]`, 200, ""},
		}},
		{"numeric po_no compare as numbers", []step{
			{"insert", "Customer", customer("Ada", "ada@example.com"), 200, "Ada"},
			{"insert", "Sales Order", order(`"12.50"`), 200, so1},
			{"insert", "Sales Order", order(`12.5`), 200, so2},
			{"list", "Sales Order", `[["po_no","=",12.5]]`, 200, so1 + "," + so2},
			{"list", "Sales Order", `[["po_no","=","12.5"]]`, 200, so1 + "," + so2},
			{"list", "Sales Order", `[["po_no","=","12.50 "]]`, 200, ""},
			{"list", "Sales Order", `[["po_no","=",null]]`, 200, ""},
		}},
		{"invoices by sales order", []step{
			{"insert", "Customer", customer("Ada", "ada@example.com"), 200, "Ada"},
			{"insert", "Sales Order", order(`"p1"`), 200, so1},
			{"insert", "Sales Order", order(`"p2"`), 200, so2},
			{"list", "Sales Invoice", `[["Sales Invoice Item","sales_order","=","` + so1 + `"]]`, 200, ""},
			{"insert", "Sales Invoice", invoice(so1), 200, inv1},
			{"list", "Sales Invoice", `[["Sales Invoice Item","sales_order","=","` + so1 + `"],["docstatus","<",2]]`, 200, inv1},
			{"list", "Sales Invoice", `[["Sales Invoice Item","sales_order","=","` + so2 + `"]]`, 200, ""},
			{"get", "Sales Order", so1, 200, "Fully Billed"},
			{"get", "Sales Order", so2, 200, "Not Billed"},
			{"cancel", "Sales Order", so1, 417, "linked with Sales Invoice " + inv1},
			{"cancel", "Sales Order", so2, 200, so2},
			{"cancel", "Sales Invoice", inv1, 200, inv1},
			{"get", "Sales Order", so1, 200, "Not Billed"},
			{"list", "Sales Invoice", `[["Sales Invoice Item","sales_order","=","` + so1 + `"],["docstatus","<",2]]`, 200, ""},
			{"cancel", "Sales Order", so1, 200, so1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newPartnerAPI(t, "/erpnext", erpnextToken)
			for _, st := range tt.steps {
				var (
					status int
					body   map[string]any
					got    string
				)
				switch st.op {
				case "reset":
					api.s.Reset()
					continue
				case "delete":
					api.s.delete(st.a, st.b)
					continue
				case "insert":
					status, body, _ = api.send("POST", "/api/resource/"+url.PathEscape(st.a), st.b)
					data, _ := body["data"].(map[string]any)
					got = fmt.Sprint(data["name"])
				case "list":
					q := url.Values{"filters": {st.b}, "order_by": {"name asc"}}
					status, body, _ = api.send("GET", "/api/resource/"+url.PathEscape(st.a)+"?"+q.Encode(), "")
					got = erpnextNames(t, body)
				case "cancel":
					status, body, _ = api.send("POST", "/api/method/frappe.client.cancel", `{"doctype":"`+st.a+`","name":"`+st.b+`"}`)
					msg, _ := body["message"].(map[string]any)
					got = fmt.Sprint(msg["name"])
				case "get":
					status, body, _ = api.send("GET", "/api/resource/"+url.PathEscape(st.a)+"/"+st.b, "")
					data, _ := body["data"].(map[string]any)
					got = fmt.Sprint(data["billing_status"])
				}
				if status >= 400 {
					got = serverMessages(t, body)
				}
				if status != st.status || (status < 400 && got != st.want) || (status >= 400 && !strings.Contains(got, st.want)) {
					t.Errorf("%v: %d %q, want %d %q", st, status, got, st.status, st.want)
				}
				checkIndexes(t, api.s)
			}
		})
	}
}

func TestStripeAndEasyPostIndexes(t *testing.T) {
	stripe := newPartnerAPI(t, "/stripe/v1", "Bearer sk_test_1")
	form := func(path, body string) (int, map[string]any) {
		status, out, _ := stripe.send("POST", path, body, "Content-Type", "application/x-www-form-urlencoded")
		return status, out
	}
	var charges []string
	for range 3 {
		_, pi := form("/payment_intents", "amount=1000&currency=eur&confirm=true&payment_method=pm_card_visa")
		charges = append(charges, pi["latest_charge"].(string))
	}
	for _, tt := range []struct {
		body   string
		status int
		pi     string
	}{
		{"charge=" + charges[1] + "&amount=400", 200, "pi_000002"},
		{"charge=" + charges[1] + "&amount=700", 400, ""},
		{"payment_intent=pi_000002", 200, "pi_000002"}, // the remaining 600
		{"charge=" + charges[1], 400, ""},
		{"charge=" + charges[2], 200, "pi_000003"},
		{"charge=ch_unknown", 400, ""},
	} {
		status, re := form("/refunds", tt.body)
		if status != tt.status || (status == 200 && re["payment_intent"] != tt.pi) {
			t.Errorf("refund %s: %d %v", tt.body, status, re)
		}
		checkIndexes(t, stripe.s)
	}

	ep := newPartnerAPI(t, "/easypost/v2", "Bearer EZTK1")
	var codes []string
	for range 2 {
		_, shp, _ := ep.send("POST", "/shipments", `{"shipment":{"to_address":{"name":"A"},"from_address":{"name":"B"},"parcel":{"weight":10}}}`)
		rate := shp["rates"].([]any)[0].(map[string]any)["id"].(string)
		_, bought, _ := ep.send("POST", "/shipments/"+shp["id"].(string)+"/buy", `{"rate":{"id":"`+rate+`"}}`)
		codes = append(codes, bought["tracking_code"].(string))
	}
	for _, tt := range []struct {
		query string
		want  int
	}{{"", 2}, {"?tracking_code=" + codes[1], 1}, {"?tracking_code=" + codes[1] + "&carrier=fedex", 0}, {"?tracking_code=EZ0", 0}} {
		_, body, _ := ep.send("GET", "/trackers"+tt.query, "")
		if list := body["trackers"].([]any); len(list) != tt.want || (tt.want == 1 && list[0].(map[string]any)["tracking_code"] != codes[1]) {
			t.Errorf("trackers%s: %v", tt.query, body)
		}
	}
	checkIndexes(t, ep.s)
}

// jsonClone is what clone gives: a JSON round trip.
func jsonClone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func TestCloneIsAJSONRoundTrip(t *testing.T) {
	deep := map[string]any{}
	for range 300 {
		deep = map[string]any{"d": deep}
	}
	tests := []struct {
		name string
		m    map[string]any
	}{
		{"nil", nil},
		{"empty", map[string]any{}},
		{"scalars", map[string]any{"s": "x<&>\u2028", "b": true, "f": 1.5, "neg0": math.Copysign(0, -1), "n": nil, "i": 3, "i64": int64(1<<62 + 1), "big": 1e300}},
		{"nested", map[string]any{"m": map[string]any{"l": []any{1, "a", []any{}, map[string]any{}}}, "ss": []string{"a", "b"}, "ms": map[string]string{"k": "v"}}},
		{"typed nils", map[string]any{"m": map[string]any(nil), "l": []any(nil), "ss": []string(nil), "ms": map[string]string(nil)}},
		{"empty lists", map[string]any{"l": []any{}, "ss": []string{}}},
		{"invalid UTF-8 value", map[string]any{"s": "a\xffb", "ok": 1}},
		{"invalid UTF-8 key", map[string]any{"a\xff": 1}},
		{"invalid UTF-8 in a list", map[string]any{"l": []string{"\xfe"}}},
		{"NaN", map[string]any{"f": math.NaN()}},
		{"infinity deep down", map[string]any{"l": []any{map[string]any{"f": math.Inf(1)}}}},
		{"other types", map[string]any{"u": uint8(3), "f32": float32(0.1), "t": struct{ A int }{1}, "p": &struct{}{}}},
		{"deep", deep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := clone(tt.m), jsonClone(tt.m)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("clone = %#v, want %#v", got, want)
			}
			if len(tt.m) > 0 && got != nil && reflect.ValueOf(got).UnsafePointer() == reflect.ValueOf(tt.m).UnsafePointer() {
				t.Error("clone returned its argument")
			}
		})
	}
	// A copy shares nothing with what it copies.
	src := map[string]any{"m": map[string]any{"x": 1}, "l": []any{map[string]any{"y": 2}}}
	c := clone(src)
	c["m"].(map[string]any)["x"] = 9
	c["l"].([]any)[0].(map[string]any)["y"] = 9
	if src["m"].(map[string]any)["x"] != 1 || src["l"].([]any)[0].(map[string]any)["y"] != 2 {
		t.Errorf("the copy shares with the source: %v", src)
	}
}

// TestStoredObjectsAreNotShared checks that a caller changing what it
// stored, or what Get and Find gave it, does not change the store.
func TestStoredObjectsAreNotShared(t *testing.T) {
	s := New(Options{})
	obj := map[string]any{"id": "1", "properties": map[string]any{"email": "a@example.com"}}
	s.Put("hubspot.contacts", "1", obj)
	obj["properties"].(map[string]any)["email"] = "changed@example.com"
	s.Get("hubspot.contacts", "1")["properties"].(map[string]any)["email"] = "changed@example.com"
	s.Find("hubspot.contacts", nil)[0]["properties"].(map[string]any)["email"] = "changed@example.com"
	if got := s.view("hubspot.contacts", "1")["properties"].(map[string]any)["email"]; got != "a@example.com" {
		t.Errorf("stored email %v", got)
	}
	if s.hubspotEmailHolder("a@example.com", "") != "1" || s.hubspotEmailHolder("changed@example.com", "") != "" {
		t.Error("the index follows a change made outside the store")
	}
}

// TestConcurrentReadsAndWrites is for the race detector: responses that
// hold stored objects are encoded while other requests replace them.
func TestConcurrentReadsAndWrites(t *testing.T) {
	api := newPartnerAPI(t, "/hubspot", "Bearer pat-na1-test")
	_, c, _ := api.send("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"a@example.com"}}`)
	id := c["id"].(string)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				switch g {
				case 0:
					api.send("PATCH", "/crm/v3/objects/contacts/"+id, fmt.Sprintf(`{"properties":{"firstname":"n%d"}}`, i))
				case 1:
					if status, _, _ := api.send("GET", "/crm/v3/objects/contacts/"+id, ""); status != 200 {
						t.Errorf("get: %d", status)
					}
				case 2:
					api.send("POST", "/crm/v3/objects/contacts/search", `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"a@example.com"}]}]}`)
				case 3:
					api.send("POST", "/crm/v3/objects/contacts", fmt.Sprintf(`{"properties":{"email":"c%d@example.com"}}`, i))
					api.send("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"A@example.com"}}`)
				}
			}
		})
	}
	wg.Wait()
	checkIndexes(t, api.s)
	if got := api.count("hubspot.contacts.created"); got != 26 {
		t.Errorf("contacts created %d, want 26", got)
	}
	ids := slices.Collect(func(yield func(string) bool) {
		for _, o := range api.s.Find("hubspot.contacts", nil) {
			if !yield(o["id"].(string)) {
				return
			}
		}
	})
	if len(ids) != 26 {
		t.Errorf("contacts %v", ids)
	}
}
