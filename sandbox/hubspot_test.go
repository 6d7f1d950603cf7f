package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// partnerAPI sends raw requests to one simulated partner.
type partnerAPI struct {
	t    *testing.T
	s    *Server
	base string
	auth string
}

func newPartnerAPI(t *testing.T, prefix, auth string) *partnerAPI {
	s := New(Options{})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &partnerAPI{t: t, s: s, base: srv.URL + prefix, auth: auth}
}

// send returns the status, the decoded JSON body and the headers.
func (p *partnerAPI) send(method, path, body string, header ...string) (int, map[string]any, http.Header) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.base+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Authorization", p.auth)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		p.t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, raw)
	}
	return resp.StatusCode, out, resp.Header
}

func (p *partnerAPI) count(name string) int { return p.s.Stats().Counts[name] }

func TestHubSpotAuth(t *testing.T) {
	for _, auth := range []string{"", "Bearer ", "Bearer sk_live_1", "Basic cGF0LTE6"} {
		api := newPartnerAPI(t, "/hubspot", auth)
		status, body, _ := api.send("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"a@example.com"}}`)
		if status != http.StatusUnauthorized || body["status"] != "error" || body["category"] != "INVALID_AUTHENTICATION" || body["correlationId"] == "" {
			t.Errorf("auth %q: %d %v", auth, status, body)
		}
		if api.count("hubspot.contacts.created") != 0 {
			t.Errorf("auth %q: a contact was created", auth)
		}
	}
}

func TestHubSpotContacts(t *testing.T) {
	api := newPartnerAPI(t, "/hubspot", "Bearer pat-na1-test")
	status, ada, _ := api.send("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"Ada@Example.com","firstname":"Ada"}}`, "Idempotency-Key", "k1")
	props, _ := ada["properties"].(map[string]any)
	if status != http.StatusCreated || ada["id"] == "" || ada["archived"] != false || ada["createdAt"] == nil || props["email"] != "ada@example.com" || props["hs_object_id"] != ada["id"] {
		t.Fatalf("create: %d %v", status, ada)
	}
	// HubSpot ignores Idempotency-Key: the same create again is refused
	// as a duplicate email, and the key with another body creates.
	status, body, h := api.send("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"Ada@Example.com","firstname":"Ada"}}`, "Idempotency-Key", "k1")
	if status != http.StatusConflict || h.Get("Idempotent-Replayed") != "" || body["message"] != "Contact already exists. Existing ID: "+ada["id"].(string) {
		t.Errorf("the same create under the same key: %d %v %v, want 409 naming the contact", status, h, body)
	}
	if status, _, _ := api.send("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"other@example.com"}}`, "Idempotency-Key", "k1"); status != http.StatusCreated {
		t.Errorf("key reused with another body: %d, want 201", status)
	}
	status, body, _ = api.send("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"ada@example.com"}}`, "Idempotency-Key", "k2")
	if status != http.StatusConflict || body["category"] != "CONFLICT" || body["message"] != "Contact already exists. Existing ID: "+ada["id"].(string) {
		t.Errorf("duplicate email: %d %v", status, body)
	}
	status, body, _ = api.send("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"ada at example"}}`)
	if status != http.StatusBadRequest || body["category"] != "VALIDATION_ERROR" || !strings.Contains(body["message"].(string), "INVALID_EMAIL") {
		t.Errorf("invalid email: %d %v", status, body)
	}
	_, grace, _ := api.send("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"grace@example.com","lastname":"Hopper"}}`)

	status, body, _ = api.send("PATCH", "/crm/v3/objects/contacts/"+grace["id"].(string), `{"properties":{"email":"ada@example.com"}}`)
	if status != http.StatusConflict || body["category"] != "CONFLICT" {
		t.Errorf("email taken by another contact: %d %v", status, body)
	}
	status, body, _ = api.send("PATCH", "/crm/v3/objects/contacts/"+grace["id"].(string), `{"properties":{"phone":"+1 555","lastname":null}}`)
	props, _ = body["properties"].(map[string]any)
	if status != http.StatusOK || props["phone"] != "+1 555" || props["lastname"] != nil {
		t.Errorf("update: %d %v", status, body)
	}
	if status, body, _ := api.send("PATCH", "/crm/v3/objects/contacts/999999", `{"properties":{}}`); status != http.StatusNotFound || body["category"] != "OBJECT_NOT_FOUND" {
		t.Errorf("update unknown: %d %v", status, body)
	}
	if status, body, _ := api.send("GET", "/crm/v3/objects/contacts/"+ada["id"].(string), ""); status != http.StatusOK || body["id"] != ada["id"] {
		t.Errorf("get: %d %v", status, body)
	}
	if got := api.count("hubspot.contacts.created"); got != 3 {
		t.Errorf("contacts created %d, want 3", got)
	}
	if got := api.count("hubspot.contacts.updated"); got != 1 {
		t.Errorf("contacts updated %d, want 1", got)
	}
}

func TestHubSpotSearch(t *testing.T) {
	api := newPartnerAPI(t, "/hubspot", "Bearer pat-na1-test")
	for _, c := range []string{
		`{"email":"a@example.com","firstname":"Ada","lastname":"Lovelace"}`,
		`{"email":"g@example.com","firstname":"Grace","lastname":"Hopper"}`,
		`{"email":"l@example.com","firstname":"Linus","lastname":"Torvalds","phone":"+358"}`,
	} {
		if status, _, _ := api.send("POST", "/crm/v3/objects/contacts", `{"properties":`+c+`}`); status != http.StatusCreated {
			t.Fatalf("create %s: %d", c, status)
		}
	}
	tests := []struct {
		name, body string
		want       string // first names in order, then the total
		paging     bool
	}{
		{"all by id", `{}`, "Ada,Grace,Linus 3", false},
		{"EQ is case-insensitive", `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"G@EXAMPLE.COM"}]}]}`, "Grace 1", false},
		{"groups are ORed", `{"filterGroups":[{"filters":[{"propertyName":"firstname","operator":"EQ","value":"Ada"}]},{"filters":[{"propertyName":"phone","operator":"HAS_PROPERTY"}]}]}`, "Ada,Linus 2", false},
		{"filters are ANDed", `{"filterGroups":[{"filters":[{"propertyName":"firstname","operator":"NEQ","value":"Ada"},{"propertyName":"phone","operator":"NOT_HAS_PROPERTY"}]}]}`, "Grace 1", false},
		{"IN", `{"filterGroups":[{"filters":[{"propertyName":"lastname","operator":"IN","values":["hopper","torvalds"]}]}]}`, "Grace,Linus 2", false},
		{"sort descending with a limit", `{"sorts":[{"propertyName":"firstname","direction":"DESCENDING"}],"limit":2}`, "Linus,Grace 3", true},
		{"sort by a string", `{"sorts":["-lastname"],"limit":1,"after":"1"}`, "Ada 3", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := api.send("POST", "/crm/v3/objects/contacts/search", tt.body)
			if status != http.StatusOK {
				t.Fatalf("%d %v", status, body)
			}
			var names []string
			for _, r := range body["results"].([]any) {
				names = append(names, r.(map[string]any)["properties"].(map[string]any)["firstname"].(string))
			}
			got := strings.Join(names, ",") + " " + fmt.Sprint(body["total"])
			if got != tt.want || (body["paging"] != nil) != tt.paging {
				t.Errorf("got %q paging %v, want %q paging %v", got, body["paging"], tt.want, tt.paging)
			}
		})
	}
	status, body, _ := api.send("POST", "/crm/v3/objects/contacts/search", `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"SOUNDS_LIKE","value":"x"}]}]}`)
	if status != http.StatusBadRequest || body["category"] != "VALIDATION_ERROR" {
		t.Errorf("unknown operator: %d %v", status, body)
	}
	_, body, _ = api.send("POST", "/crm/v3/objects/contacts/search", `{"properties":["phone"],"limit":1}`)
	props := body["results"].([]any)[0].(map[string]any)["properties"].(map[string]any)
	if _, ok := props["phone"]; !ok || props["firstname"] != nil || props["hs_object_id"] == nil {
		t.Errorf("requested properties: %v", props)
	}
}

func TestHubSpotAssociations(t *testing.T) {
	api := newPartnerAPI(t, "/hubspot", "Bearer pat-na1-test")
	_, contact, _ := api.send("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"a@example.com"}}`)
	status, deal, _ := api.send("POST", "/crm/v3/objects/deals", `{"properties":{"dealname":"Order 1","amount":"10.5","dealstage":"closedwon"}}`)
	if status != http.StatusCreated || api.count("hubspot.deals.created") != 1 {
		t.Fatalf("deal: %d %v", status, deal)
	}
	cid, did := contact["id"].(string), deal["id"].(string)
	status, body, _ := api.send("PUT", "/crm/v4/objects/deals/"+did+"/associations/default/contacts/"+cid, "")
	results, _ := body["results"].([]any)
	if status != http.StatusOK || body["status"] != "COMPLETE" || len(results) != 2 ||
		results[0].(map[string]any)["associationSpec"].(map[string]any)["associationTypeId"] != 3.0 {
		t.Fatalf("associate: %d %v", status, body)
	}
	api.send("PUT", "/crm/v4/objects/contacts/"+cid+"/associations/default/deals/"+did, "")
	if got := api.count("hubspot.associations.created"); got != 1 {
		t.Errorf("associations created %d, want 1", got)
	}
	_, body, _ = api.send("GET", "/crm/v4/objects/contacts/"+cid+"/associations/deals", "")
	if list := body["results"].([]any); len(list) != 1 || list[0].(map[string]any)["toObjectId"] != mustNumber(did) {
		t.Errorf("associations of the contact: %v", body)
	}
	if status, body, _ := api.send("PUT", "/crm/v4/objects/deals/"+did+"/associations/default/contacts/424242", ""); status != http.StatusNotFound || body["category"] != "OBJECT_NOT_FOUND" {
		t.Errorf("associate with an unknown contact: %d %v", status, body)
	}
	if status, body, _ := api.send("POST", "/crm/v3/objects/deals", `{"properties":{"dealname":"X","amount":"ten"}}`); status != http.StatusBadRequest || !strings.Contains(body["message"].(string), "INVALID_FLOAT") {
		t.Errorf("invalid amount: %d %v", status, body)
	}
}

func mustNumber(s string) float64 {
	var f float64
	_ = json.Unmarshal([]byte(s), &f)
	return f
}

// refKeyProperty declares the deal property ref_key with unique values (the sandbox seeds relay_key).
const refKeyProperty = `{"name":"ref_key","label":"Reference key","type":"string","fieldType":"text","groupName":"dealinformation","hasUniqueValue":true}`

func TestHubSpotPropertyDefinitions(t *testing.T) {
	tests := []struct {
		name, typ, body string
		status          int
		want            string // the category of a failure, or the name defined
	}{
		{"unique deal property", "deals", refKeyProperty, 201, "ref_key"},
		{"by the object type's ID", "0-3", `{"name":"order_ref","label":"Order","type":"number","fieldType":"number","groupName":"dealinformation","hasUniqueValue":true}`, 201, "order_ref"},
		{"a contact property of the same name", "contacts", refKeyProperty, 201, "ref_key"},
		{"defined twice", "deals", refKeyProperty, 409, "CONFLICT"},
		{"a built-in property", "deals", `{"name":"dealname","label":"Deal","type":"string","fieldType":"text","groupName":"dealinformation"}`, 409, "CONFLICT"},
		{"a required field missing", "deals", `{"name":"x","type":"string","fieldType":"text","groupName":"dealinformation"}`, 400, "VALIDATION_ERROR"},
		{"an unknown type", "deals", `{"name":"x","label":"X","type":"text","fieldType":"text","groupName":"dealinformation"}`, 400, "VALIDATION_ERROR"},
		{"unique values of a date", "deals", `{"name":"x","label":"X","type":"date","fieldType":"date","groupName":"dealinformation","hasUniqueValue":true}`, 400, "VALIDATION_ERROR"},
		{"not JSON", "deals", `{"name":`, 400, "VALIDATION_ERROR"},
		{"an unknown object type", "planets", refKeyProperty, 400, "VALIDATION_ERROR"},
	}
	api := newPartnerAPI(t, "/hubspot", "Bearer pat-na1-test")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := api.send("POST", "/crm/v3/properties/"+tt.typ, tt.body)
			got := body["name"]
			if status >= 300 {
				got = body["category"]
			}
			if status != tt.status || got != tt.want {
				t.Errorf("%d %v, want %d %s", status, body, tt.status, tt.want)
			}
		})
	}
	if got := api.count("hubspot.properties.created"); got != 3 {
		t.Errorf("properties created %d, want 3", got)
	}
	api.s.Reset()
	if status, _, _ := api.send("POST", "/crm/v3/properties/deals", refKeyProperty); status != http.StatusCreated {
		t.Errorf("defined again after a reset: %d", status)
	}
}

// TestHubSpotSeedsRelayKey: the sandbox's HubSpot account has the deal
// property relay_key with unique values, as the README's setup creates
// for create_deal's unique_property, from the start and after a reset.
func TestHubSpotSeedsRelayKey(t *testing.T) {
	api := newPartnerAPI(t, "/hubspot", "Bearer pat-na1-test")
	for _, when := range []string{"new", "after a reset"} {
		if when != "new" {
			api.s.Reset()
		}
		_, first, _ := api.send("POST", "/crm/v3/objects/deals", `{"properties":{"dealname":"A","relay_key":"relay-k1"}}`)
		status, body, _ := api.send("POST", "/crm/v3/objects/deals", `{"properties":{"dealname":"A","relay_key":"relay-k1"}}`)
		if status != http.StatusConflict || !strings.HasSuffix(fmt.Sprint(body["message"]), "Existing ID: "+fmt.Sprint(first["id"])) {
			t.Errorf("%s: a repeated relay_key: %d %v, want 409 naming deal %v", when, status, body, first["id"])
		}
		if status, _, _ := api.send("POST", "/crm/v3/properties/deals", hubspotRelayKeyProperty); status != http.StatusConflict {
			t.Errorf("%s: defining relay_key: %d, want 409 (it exists)", when, status)
		}
	}
}

// hubspotDealStep is one request about deals: define a property, create a
// deal, update one or read one.
type hubspotDealStep struct {
	op     string // DEFINE (body is the definition), POST, PATCH, GET (body is the query), reset
	id     string // of the deal to PATCH or GET
	body   string // properties to create or update with
	status int
	want   string // the deal created, updated or read, or the one a 409 names
}

func TestHubSpotUniqueValues(t *testing.T) {
	notUnique := `{"name":"source","label":"Source","type":"string","fieldType":"text","groupName":"dealinformation"}`
	orderRef := `{"name":"order_ref","label":"Order","type":"string","fieldType":"text","groupName":"dealinformation","hasUniqueValue":true}`
	tests := []struct {
		name  string
		steps []hubspotDealStep
	}{
		{"a repeated unique value names the deal that holds it", []hubspotDealStep{
			{op: "DEFINE", body: refKeyProperty, status: 201},
			{op: "POST", body: `{"dealname":"A","ref_key":"k1"}`, status: 201, want: "101"},
			{op: "POST", body: `{"dealname":"B","ref_key":"k2"}`, status: 201, want: "102"},
			{op: "POST", body: `{"dealname":"A again","ref_key":"k1"}`, status: 409, want: "101"},
			{op: "POST", body: `{"dealname":"no key"}`, status: 201, want: "103"},
			{op: "POST", body: `{"dealname":"no key"}`, status: 201, want: "104"},
			{op: "POST", body: `{"dealname":"case differs","ref_key":"K1"}`, status: 201, want: "105"},
		}},
		{"updates keep values unique", []hubspotDealStep{
			{op: "DEFINE", body: refKeyProperty, status: 201},
			{op: "POST", body: `{"dealname":"A","ref_key":"k1"}`, status: 201, want: "101"},
			{op: "POST", body: `{"dealname":"B","ref_key":"k2"}`, status: 201, want: "102"},
			{op: "PATCH", id: "102", body: `{"ref_key":"k1"}`, status: 409, want: "101"},
			{op: "PATCH", id: "101", body: `{"ref_key":"k1","amount":"5"}`, status: 200, want: "101"}, // its own value
			{op: "PATCH", id: "101", body: `{"ref_key":"k3"}`, status: 200, want: "101"},
			{op: "POST", body: `{"dealname":"C","ref_key":"k1"}`, status: 201, want: "103"}, // freed
			{op: "PATCH", id: "103", body: `{"ref_key":null}`, status: 200, want: "103"},
			{op: "POST", body: `{"dealname":"D","ref_key":"k1"}`, status: 201, want: "104"},
		}},
		{"a value stored before the property was declared unique counts", []hubspotDealStep{
			{op: "POST", body: `{"dealname":"A","ref_key":"k1"}`, status: 201, want: "101"},
			{op: "DEFINE", body: refKeyProperty, status: 201},
			{op: "POST", body: `{"dealname":"B","ref_key":"k1"}`, status: 409, want: "101"},
		}},
		{"properties not declared unique may repeat", []hubspotDealStep{
			{op: "DEFINE", body: notUnique, status: 201},
			{op: "POST", body: `{"dealname":"A","source":"web","ref_key":"k1"}`, status: 201, want: "101"},
			{op: "POST", body: `{"dealname":"B","source":"web","ref_key":"k1"}`, status: 201, want: "102"},
		}},
		{"the first unique property by name that clashes is named", []hubspotDealStep{
			{op: "DEFINE", body: refKeyProperty, status: 201},
			{op: "DEFINE", body: orderRef, status: 201},
			{op: "POST", body: `{"dealname":"A","ref_key":"k1","order_ref":"1001"}`, status: 201, want: "101"},
			{op: "POST", body: `{"dealname":"B","ref_key":"k2","order_ref":"1002"}`, status: 201, want: "102"},
			{op: "POST", body: `{"dealname":"C","ref_key":"k2","order_ref":"1001"}`, status: 409, want: "101"},
		}},
		{"reset forgets the definitions", []hubspotDealStep{
			{op: "DEFINE", body: refKeyProperty, status: 201},
			{op: "POST", body: `{"dealname":"A","ref_key":"k1"}`, status: 201, want: "101"},
			{op: "reset"},
			{op: "POST", body: `{"dealname":"A","ref_key":"k1"}`, status: 201, want: "101"},
			{op: "POST", body: `{"dealname":"A","ref_key":"k1"}`, status: 201, want: "102"},
		}},
		{"a read naming properties returns those", []hubspotDealStep{
			{op: "POST", body: `{"dealname":"A","ref_key":"k1","amount":"5"}`, status: 201, want: "101"},
			{op: "GET", id: "101", body: "?properties=ref_key,%20source&properties=dealname", status: 200,
				want: "createdate dealname=A hs_object_id=101 lastmodifieddate ref_key=k1 source=<nil>"},
			{op: "GET", id: "101", status: 200,
				want: "amount=5 createdate dealname=A hs_lastmodifieddate hs_object_id=101 lastmodifieddate ref_key=k1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newPartnerAPI(t, "/hubspot", "Bearer pat-na1-test")
			for _, st := range tt.steps {
				api.hubspotDealStep(t, st)
				checkIndexes(t, api.s)
			}
		})
	}
}

func (p *partnerAPI) hubspotDealStep(t *testing.T, st hubspotDealStep) {
	t.Helper()
	var (
		status int
		body   map[string]any
	)
	switch st.op {
	case "reset":
		p.s.Reset()
		return
	case "DEFINE":
		status, body, _ = p.send("POST", "/crm/v3/properties/deals", st.body)
	case "POST":
		status, body, _ = p.send("POST", "/crm/v3/objects/deals", `{"properties":`+st.body+`}`)
	case "PATCH":
		status, body, _ = p.send("PATCH", "/crm/v3/objects/deals/"+st.id, `{"properties":`+st.body+`}`)
	case "GET":
		status, body, _ = p.send("GET", "/crm/v3/objects/deals/"+st.id+st.body, "")
	}
	got := fmt.Sprint(body["id"])
	switch {
	case st.op == "DEFINE":
		got = ""
	case status == http.StatusConflict:
		msg := fmt.Sprint(body["message"])
		if body["status"] != "error" || body["category"] != "CONFLICT" || !strings.Contains(msg, "Existing ID: ") {
			t.Errorf("%+v: the 409 is not HubSpot's conflict: %v", st, body)
		}
		got = msg[strings.LastIndex(msg, " ")+1:]
	case st.op == "GET":
		got = shownProperties(body)
	}
	if status != st.status || got != st.want {
		t.Errorf("%+v: %d %q (%v), want %d %q", st, status, got, body, st.status, st.want)
	}
}

// shownProperties lists the properties of an object, sorted, with the
// values of those that do not hold a time.
func shownProperties(obj map[string]any) string {
	props, _ := obj["properties"].(map[string]any)
	var out []string
	for _, k := range slices.Sorted(maps.Keys(props)) {
		if strings.Contains(k, "date") {
			out = append(out, k)
			continue
		}
		out = append(out, fmt.Sprintf("%s=%v", k, props[k]))
	}
	return strings.Join(out, " ")
}

// TestHubSpotUniqueValueRace creates deals with one unique value at once,
// for many values: the check and the write are atomic, so one deal is
// created per value.
func TestHubSpotUniqueValueRace(t *testing.T) {
	s := New(Options{})
	h := s.Handler()
	post := func(path, body string) int {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer pat-na1-test")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	post("/hubspot/crm/v3/properties/deals", refKeyProperty)
	const values, tries = 100, 16
	var created, refused atomic.Int32
	var wg sync.WaitGroup
	for v := range values {
		for range tries {
			wg.Go(func() {
				switch code := post("/hubspot/crm/v3/objects/deals", fmt.Sprintf(`{"properties":{"dealname":"D","ref_key":"k%d"}}`, v)); code {
				case http.StatusCreated:
					created.Add(1)
				case http.StatusConflict:
					refused.Add(1)
				default:
					t.Errorf("status %d", code)
				}
			})
		}
	}
	wg.Wait()
	if created.Load() != values || refused.Load() != values*(tries-1) || s.Stats().Counts["hubspot.deals.created"] != values {
		t.Errorf("%d created, %d refused, counted %d; want %d created and %d refused", created.Load(), refused.Load(), s.Stats().Counts["hubspot.deals.created"], values, values*(tries-1))
	}
}

// TestHubSpotValueIndexSkipsBuiltIns: the unique-value index of a type
// holds the properties that may be declared unique, those not built in
// for the type, and no others: a contact's email and names, a deal's
// name, amount, pipeline and stage, HubSpot's own properties.
func TestHubSpotValueIndexSkipsBuiltIns(t *testing.T) {
	tests := []struct {
		name, typ, props string
		want             []string // the index's keys
	}{
		{
			name: "contact: email and names are built in", typ: "contacts",
			props: `{"email":"ada@example.com","firstname":"Ada","lastname":"Lovelace","favourite_colour":"blue"}`,
			want:  []string{"favourite_colour\x00blue"},
		},
		{
			name: "deal: name, amount, pipeline and stage are built in; email is not, for a deal", typ: "deals",
			props: `{"dealname":"A","amount":"5","pipeline":"default","dealstage":"closedwon","relay_key":"k1","email":"ada@example.com"}`,
			want:  []string{"email\x00ada@example.com", "relay_key\x00k1"},
		},
		{
			name: "company: name and domain are built in", typ: "companies",
			props: `{"name":"Analytical Engines","domain":"example.com"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newPartnerAPI(t, "/hubspot", "Bearer pat-na1-test")
			if status, body, _ := api.send("POST", "/crm/v3/objects/"+tt.typ, `{"properties":`+tt.props+`}`); status != http.StatusCreated {
				t.Fatalf("create: %d %v", status, body)
			}
			api.s.mu.Lock()
			got := slices.Sorted(maps.Keys(api.s.indexes["hubspot."+tt.typ]["value"].ids))
			api.s.mu.Unlock()
			if !slices.Equal(got, tt.want) {
				t.Errorf("value index keys = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHubSpotBuiltInPropertiesCannotBeDefined: the properties the value
// index leaves out are those the properties API refuses to define.
func TestHubSpotBuiltInPropertiesCannotBeDefined(t *testing.T) {
	api := newPartnerAPI(t, "/hubspot", "Bearer pat-na1-test")
	for _, typ := range slices.Sorted(maps.Keys(hubspotSingular)) {
		for _, name := range append(slices.Sorted(maps.Keys(hubspotSystemProps)), hubspotDefaultProps[typ]...) {
			if !hubspotBuiltIn(typ, name) {
				t.Errorf("%s %s: not built in", typ, name)
			}
			def := fmt.Sprintf(`{"name":%q,"label":"X","type":"string","fieldType":"text","groupName":"g","hasUniqueValue":true}`, name)
			if status, body, _ := api.send("POST", "/crm/v3/properties/"+typ, def); status != http.StatusConflict {
				t.Errorf("defining %s %s: %d %v, want 409", typ, name, status, body)
			}
		}
	}
}

// TestHubSpotResetKeepsRelayKey: a Reset while HubSpot requests come in
// is atomic for them: relay_key is always defined, so defining it again
// is always refused, never created in the moment between the clearing of
// the state and the seeding.
func TestHubSpotResetKeepsRelayKey(t *testing.T) {
	s := New(Options{})
	h := s.Handler()
	var stop atomic.Bool
	var created atomic.Int32
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				req := httptest.NewRequest("POST", "/hubspot/crm/v3/properties/deals", strings.NewReader(hubspotRelayKeyProperty))
				req.Header.Set("Authorization", "Bearer pat-na1-test")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				switch rec.Code {
				case http.StatusConflict:
				case http.StatusCreated:
					created.Add(1)
				default:
					t.Errorf("defining relay_key: %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
	for range 20000 {
		s.Reset()
	}
	stop.Store(true)
	wg.Wait()
	if n := created.Load(); n != 0 {
		t.Errorf("relay_key was defined %d times during resets, want never (it is seeded)", n)
	}
}

// TestHubSpotReadByUniqueValue reads objects with `idProperty`: by a
// property declared unique (compared exactly) or a contact's email
// (compared without case), never by another property.
func TestHubSpotReadByUniqueValue(t *testing.T) {
	api := newPartnerAPI(t, "/hubspot", "Bearer pat-na1-test")
	api.send("POST", "/crm/v3/properties/deals", `{"name":"source","label":"Source","type":"string","fieldType":"text","groupName":"dealinformation"}`)
	ids := map[string]string{}
	for _, c := range [][3]string{
		{"A", "deals", `{"dealname":"A","relay_key":"wf-1/deal"}`},
		{"B", "deals", `{"dealname":"B","relay_key":"relay-k2","source":"web"}`},
		{"C", "deals", `{"dealname":"C","relay_key":"old"}`},
		{"ada", "contacts", `{"email":"ada@example.com","firstname":"Ada"}`},
	} {
		status, body, _ := api.send("POST", "/crm/v3/objects/"+c[1], `{"properties":`+c[2]+`}`)
		if status != http.StatusCreated {
			t.Fatalf("creating %s: %d %v", c[0], status, body)
		}
		ids[c[0]] = body["id"].(string)
	}
	if status, body, _ := api.send("PATCH", "/crm/v3/objects/deals/"+ids["C"], `{"properties":{"relay_key":"new"}}`); status != http.StatusOK {
		t.Fatalf("updating C: %d %v", status, body)
	}
	checkIndexes(t, api.s)
	tests := []struct {
		name   string
		path   string // after /crm/v3/objects/
		status int
		want   string // the object's name in ids, or the error's category
		shown  string // the properties shown, when not ""
	}{
		{"a deal by relay_key", "deals/relay-k2?idProperty=relay_key", 200, "B", ""},
		{"a value with a slash, escaped", "deals/wf-1%2Fdeal?idProperty=relay_key", 200, "A", ""},
		{"the properties asked for", "deals/relay-k2?idProperty=relay_key&properties=dealname,relay_key", 200, "B",
			"createdate dealname=B hs_object_id=" + ids["B"] + " lastmodifieddate relay_key=relay-k2"},
		{"the value an update set", "deals/new?idProperty=relay_key", 200, "C", ""},
		{"the value an update replaced", "deals/old?idProperty=relay_key", 404, "OBJECT_NOT_FOUND", ""},
		{"an unknown value", "deals/wf-9%2Fdeal?idProperty=relay_key", 404, "OBJECT_NOT_FOUND", ""},
		{"values are compared with case", "deals/RELAY-K2?idProperty=relay_key", 404, "OBJECT_NOT_FOUND", ""},
		{"an ID is not a value", "deals/" + ids["B"] + "?idProperty=relay_key", 404, "OBJECT_NOT_FOUND", ""},
		{"a property declared without unique values", "deals/web?idProperty=source", 400, "VALIDATION_ERROR", ""},
		{"a built-in property", "deals/B?idProperty=dealname", 400, "VALIDATION_ERROR", ""},
		{"a property never declared", "deals/x?idProperty=nothing", 400, "VALIDATION_ERROR", ""},
		{"email is not a deal's", "deals/ada@example.com?idProperty=email", 400, "VALIDATION_ERROR", ""},
		{"an empty idProperty reads by ID", "deals/" + ids["B"] + "?idProperty=", 200, "B", ""},
		{"a contact by email, without case", "contacts/Ada%40Example.com?idProperty=email", 200, "ada", ""},
		{"an unknown email", "contacts/grace@example.com?idProperty=email", 404, "OBJECT_NOT_FOUND", ""},
		{"a contact by another property", "contacts/Ada?idProperty=firstname", 400, "VALIDATION_ERROR", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := api.send("GET", "/crm/v3/objects/"+tt.path, "")
			got := fmt.Sprint(body["category"])
			if status == http.StatusOK {
				got = fmt.Sprint(body["id"])
				tt.want = ids[tt.want]
			} else if body["status"] != "error" || body["correlationId"] == nil || body["message"] == "" {
				t.Errorf("not HubSpot's error object: %v", body)
			}
			if status != tt.status || got != tt.want {
				t.Errorf("%d %s (%v), want %d %s", status, got, body, tt.status, tt.want)
			}
			if tt.shown != "" && shownProperties(body) != tt.shown {
				t.Errorf("properties %q, want %q", shownProperties(body), tt.shown)
			}
		})
	}
}

// TestHubSpotReadByUniqueValueDuringReset: a read by relay_key while the
// sandbox resets sees relay_key defined, as Reset is atomic for HubSpot
// requests: not found (404), never refused as not unique (400).
func TestHubSpotReadByUniqueValueDuringReset(t *testing.T) {
	s := New(Options{})
	h := s.Handler()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				req := httptest.NewRequest("GET", "/hubspot/crm/v3/objects/deals/relay-k1?idProperty=relay_key", nil)
				req.Header.Set("Authorization", "Bearer pat-na1-test")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusNotFound {
					t.Errorf("reading by relay_key: %d %s, want 404", rec.Code, rec.Body)
				}
			}
		})
	}
	for range 20000 {
		s.Reset()
	}
	stop.Store(true)
	wg.Wait()
}
