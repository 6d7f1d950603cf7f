package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
	status, _, h := api.send("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"Ada@Example.com","firstname":"Ada"}}`, "Idempotency-Key", "k1")
	if status != http.StatusCreated || h.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %d %v", status, h)
	}
	if status, _, _ := api.send("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"other@example.com"}}`, "Idempotency-Key", "k1"); status != http.StatusUnprocessableEntity {
		t.Errorf("key reused with another body: %d, want 422", status)
	}
	status, body, _ := api.send("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"ada@example.com"}}`, "Idempotency-Key", "k2")
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
	if got := api.count("hubspot.contacts.created"); got != 2 {
		t.Errorf("contacts created %d, want 2", got)
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
