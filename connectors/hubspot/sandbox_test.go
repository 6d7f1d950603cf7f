package hubspot_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/hubspot"
	"github.com/relay-dev/relay/sandbox"
)

// crm calls actions against the sandbox's HubSpot.
type crm struct {
	t   *testing.T
	sb  *sandbox.Server
	url string
}

func newCRM(t *testing.T) *crm {
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	return &crm{t: t, sb: sb, url: srv.URL + "/hubspot"}
}

type opts struct {
	token    string
	headers  map[string]string
	retryMax int
}

func (c *crm) do(action string, params map[string]any, key string, o opts) (map[string]any, error) {
	c.t.Helper()
	cfg := connectors.ConnectionConfig{Connector: "hubspot", BaseURL: c.url, Headers: o.headers, Auth: &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:HUBSPOT_TOKEN"}}
	token := o.token
	if token == "" {
		token = "pat-na1-sandbox"
	}
	client, err := connectors.NewClient(cfg, func(string) (string, error) { return token, nil }, connectors.ClientOptions{
		RetryMax: o.retryMax, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	a := hubspot.Connector().Action(action)
	p, err := connectors.ParamDefaults(a, params)
	if err != nil {
		return nil, err
	}
	out, err := a.Do(context.Background(), &connectors.Call{Connection: "crm", Config: cfg, Client: client, Params: p, IdempotencyKey: key})
	m, _ := out.(map[string]any)
	return m, err
}

func (c *crm) must(action string, params map[string]any, key string) map[string]any {
	c.t.Helper()
	out, err := c.do(action, params, key, opts{})
	if err != nil {
		c.t.Fatalf("%s: %v", action, err)
	}
	return out
}

func (c *crm) counts(want map[string]int) {
	c.t.Helper()
	got := c.sb.Stats().Counts
	for k, n := range want {
		if got[k] != n {
			c.t.Errorf("counter %s = %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
}

func permanent(t *testing.T, err error, typ string) {
	t.Helper()
	ce, ok := connectors.AsError(err)
	if !ok || ce.Type != typ || ce.Retryable {
		t.Errorf("error %v (%#v), want permanent %s", err, ce, typ)
	}
}

func TestSandboxContacts(t *testing.T) {
	c := newCRM(t)
	if out, err := c.do("search_contact_by_email", map[string]any{"email": "ada@example.com"}, "", opts{}); err != nil || out != nil {
		t.Fatalf("search in an empty CRM: %v, %v", out, err)
	}

	first := c.must("upsert_contact", map[string]any{"email": "Ada@Example.com", "firstname": "Ada", "lastname": "Lovelace"}, "wf-1/customer")
	if first["created"] != true || first["id"] == "" {
		t.Fatalf("first upsert: %v", first)
	}
	props := first["properties"].(map[string]any)
	if props["email"] != "ada@example.com" || props["firstname"] != "Ada" {
		t.Errorf("properties %v", props)
	}
	// The same step again (a retry): the sandbox replays its answer.
	if again := c.must("upsert_contact", map[string]any{"email": "Ada@Example.com", "firstname": "Ada", "lastname": "Lovelace"}, "wf-1/customer"); again["id"] != first["id"] || again["created"] != true {
		t.Errorf("retried upsert: %v", again)
	}
	c.counts(map[string]int{"hubspot.contacts.created": 1, "hubspot.contacts.updated": 0})

	// Another run with the same email updates the contact.
	second := c.must("upsert_contact", map[string]any{"email": "ada@example.com", "phone": "+44 20 7946 0000", "properties": map[string]any{"company": "Analytical Engines"}}, "wf-2/customer")
	if second["id"] != first["id"] || second["created"] != false {
		t.Fatalf("second upsert: %v", second)
	}
	props = second["properties"].(map[string]any)
	if props["phone"] != "+44 20 7946 0000" || props["firstname"] != "Ada" || props["company"] != "Analytical Engines" {
		t.Errorf("updated properties %v", props)
	}
	c.counts(map[string]int{"hubspot.contacts.created": 1, "hubspot.contacts.updated": 1})

	found := c.must("search_contact_by_email", map[string]any{"email": "ADA@example.com", "properties": []any{"company"}}, "")
	if found["id"] != first["id"] || found["properties"].(map[string]any)["company"] != "Analytical Engines" {
		t.Errorf("search: %v", found)
	}
}

func TestSandboxLostResponse(t *testing.T) {
	c := newCRM(t)
	// The effect applies, the answer is lost: the in-attempt retry with the
	// same key gets the stored answer.
	out, err := c.do("upsert_contact", map[string]any{"email": "grace@example.com"}, "wf-3/customer", opts{headers: map[string]string{sandbox.FaultHeader: "500-after-effect"}})
	if err != nil || out["created"] != true {
		t.Fatalf("upsert under a lost response: %v, %v", out, err)
	}
	// The same with no in-attempt retry: Temporal's next attempt does it.
	_, err = c.do("upsert_contact", map[string]any{"email": "linus@example.com"}, "wf-4/customer", opts{retryMax: -1, headers: map[string]string{sandbox.FaultHeader: "500-after-effect"}})
	if ce, ok := connectors.AsError(err); !ok || !ce.Retryable || ce.Type != "http.500" {
		t.Fatalf("first attempt: %v, want a retryable http.500", err)
	}
	if out := c.must("upsert_contact", map[string]any{"email": "linus@example.com"}, "wf-4/customer"); out["created"] != true {
		t.Errorf("second attempt: %v", out)
	}
	c.counts(map[string]int{"hubspot.contacts.created": 2, "hubspot.contacts.updated": 0})
}

func TestSandboxDealAndAssociation(t *testing.T) {
	c := newCRM(t)
	contact := c.must("upsert_contact", map[string]any{"email": "ada@example.com"}, "wf-1/customer")
	deal := c.must("create_deal", map[string]any{"dealname": "Order #1001", "amount": 149.9, "properties": map[string]any{"closedate": "2025-03-31"}}, "wf-1/deal")
	props := deal["properties"].(map[string]any)
	if props["amount"] != "149.9" || props["pipeline"] != "default" || props["dealstage"] != "appointmentscheduled" || props["closedate"] != "2025-03-31" {
		t.Errorf("deal properties %v", props)
	}
	assoc := c.must("associate", map[string]any{"from_type": "deals", "from_id": deal["id"], "to_type": "contacts", "to_id": contact["id"]}, "")
	if assoc["status"] != "COMPLETE" {
		t.Errorf("associate: %v", assoc)
	}
	// Associating again, from either side, adds nothing.
	c.must("associate", map[string]any{"from_type": "contact", "from_id": contact["id"], "to_type": "deal", "to_id": deal["id"]}, "")
	c.counts(map[string]int{"hubspot.deals.created": 1, "hubspot.associations.created": 1})
}

func TestSandboxErrors(t *testing.T) {
	c := newCRM(t)
	contact := c.must("upsert_contact", map[string]any{"email": "ada@example.com"}, "k1")
	tests := []struct {
		name   string
		action string
		params map[string]any
		o      opts
		want   string
	}{
		{"invalid email", "upsert_contact", map[string]any{"email": "not-an-email"}, opts{}, "hubspot.VALIDATION_ERROR"},
		{"unknown deal stage", "create_deal", map[string]any{"dealname": "D", "dealstage": "won-ish"}, opts{}, "hubspot.VALIDATION_ERROR"},
		{"unknown record", "associate", map[string]any{"from_type": "deals", "from_id": "999999", "to_type": "contacts", "to_id": contact["id"]}, opts{}, "hubspot.OBJECT_NOT_FOUND"},
		{"unknown object type", "associate", map[string]any{"from_type": "planets", "from_id": "1", "to_type": "contacts", "to_id": contact["id"]}, opts{}, "hubspot.VALIDATION_ERROR"},
		{"bad token", "search_contact_by_email", map[string]any{"email": "ada@example.com"}, opts{token: "not-a-pat"}, "hubspot.INVALID_AUTHENTICATION"},
		{"missing email", "upsert_contact", map[string]any{"firstname": "Ada"}, opts{}, "invalid_params"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.do(tt.action, tt.params, "k-"+tt.name, tt.o)
			permanent(t, err, tt.want)
		})
	}
	rl, err := c.do("search_contact_by_email", map[string]any{"email": "ada@example.com"}, "", opts{headers: map[string]string{sandbox.FaultHeader: "429:60"}})
	if ce, ok := connectors.AsError(err); !ok || !ce.Retryable || ce.RetryAfter != time.Minute || ce.Type != "http.429" {
		t.Errorf("rate limited: %v %v, want retryable http.429 after 1m", rl, err)
	}
	c.counts(map[string]int{"hubspot.contacts.created": 1, "hubspot.deals.created": 0})
}

func TestSandboxRoutes(t *testing.T) {
	c := newCRM(t)
	req, _ := http.NewRequest(http.MethodGet, c.url+"/crm/v3/objects/contacts/1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", resp.StatusCode)
	}
}
