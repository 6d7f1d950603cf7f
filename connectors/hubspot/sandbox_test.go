package hubspot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
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
	// The same step again (a retry): HubSpot ignores the key and refuses
	// the email again, so the contact is updated, not made twice.
	if again := c.must("upsert_contact", map[string]any{"email": "Ada@Example.com", "firstname": "Ada", "lastname": "Lovelace"}, "wf-1/customer"); again["id"] != first["id"] || again["created"] != false {
		t.Errorf("retried upsert: %v", again)
	}
	c.counts(map[string]int{"hubspot.contacts.created": 1, "hubspot.contacts.updated": 1})

	// Another run with the same email updates the contact.
	second := c.must("upsert_contact", map[string]any{"email": "ada@example.com", "phone": "+44 20 7946 0000", "properties": map[string]any{"company": "Analytical Engines"}}, "wf-2/customer")
	if second["id"] != first["id"] || second["created"] != false {
		t.Fatalf("second upsert: %v", second)
	}
	props = second["properties"].(map[string]any)
	if props["phone"] != "+44 20 7946 0000" || props["firstname"] != "Ada" || props["company"] != "Analytical Engines" {
		t.Errorf("updated properties %v", props)
	}
	c.counts(map[string]int{"hubspot.contacts.created": 1, "hubspot.contacts.updated": 2})

	found := c.must("search_contact_by_email", map[string]any{"email": "ADA@example.com", "properties": []any{"company"}}, "")
	if found["id"] != first["id"] || found["properties"].(map[string]any)["company"] != "Analytical Engines" {
		t.Errorf("search: %v", found)
	}
}

func TestSandboxLostResponse(t *testing.T) {
	// The contact is created, the answer is lost: the in-attempt retry's
	// create is refused (HubSpot ignores the key, the email is taken) and
	// the contact updated, not made twice.
	c := newLossyCRM(t, "500 after the effect", "contacts", false)
	out, err := c.do("upsert_contact", map[string]any{"email": "grace@example.com"}, "wf-3/customer", opts{})
	if err != nil || out["created"] != false {
		t.Fatalf("upsert under a lost response: %v, %v", out, err)
	}
	c.counts(map[string]int{"hubspot.contacts.created": 1, "hubspot.contacts.updated": 1})
	// The same with no in-attempt retry: Temporal's next attempt does it.
	c = newLossyCRM(t, "500 after the effect", "contacts", false)
	_, err = c.do("upsert_contact", map[string]any{"email": "linus@example.com"}, "wf-4/customer", opts{retryMax: -1})
	if ce, ok := connectors.AsError(err); !ok || !ce.Retryable || ce.Type != "http.500" {
		t.Fatalf("first attempt: %v, want a retryable http.500", err)
	}
	if out := c.must("upsert_contact", map[string]any{"email": "linus@example.com"}, "wf-4/customer"); out["created"] != false {
		t.Errorf("second attempt: %v", out)
	}
	c.counts(map[string]int{"hubspot.contacts.created": 1, "hubspot.contacts.updated": 1})
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

// newLossyCRM is the sandbox's HubSpot behind a proxy that loses the
// answer to the first create of an object type (deals, contacts) after
// the object was saved: lose is "dropped connection" (the connection
// closes unanswered), "500 after the effect" (the sandbox's
// 500-after-effect fault) or "" (none). With reword, the 409s of creates
// do not name the object that holds the value (rewordConflicts).
func newLossyCRM(t *testing.T, lose, object string, reword bool) *crm {
	sb := sandbox.New(sandbox.Options{})
	h := sb.Handler()
	if reword {
		h = rewordConflicts(t, h)
	}
	var lost atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lose == "" || r.Method != http.MethodPost || r.URL.Path != "/hubspot/crm/v3/objects/"+object || !lost.CompareAndSwap(false, true) {
			h.ServeHTTP(w, r)
			return
		}
		switch lose {
		case "500 after the effect":
			r.Header.Set(sandbox.FaultHeader, "500-after-effect")
			h.ServeHTTP(w, r)
		case "dropped connection":
			h.ServeHTTP(httptest.NewRecorder(), r)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("hijacking: %v", err)
				return
			}
			conn.Close()
		default:
			t.Errorf("unknown loss %q", lose)
		}
	}))
	t.Cleanup(srv.Close)
	return &crm{t: t, sb: sb, url: srv.URL + "/hubspot"}
}

// rewordConflicts answers a create's 409 with another message than the
// sandbox's, which ends "Existing ID: <id>": HubSpot's own wording is not
// documented, so the actions must not depend on it.
func rewordConflicts(t *testing.T, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/hubspot/crm/v3/objects/") {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusConflict {
			var e map[string]any
			if err := json.Unmarshal(body, &e); err != nil {
				t.Errorf("the sandbox's 409 is not JSON: %s", body)
			}
			e["message"] = "Duplicate value found for a property that requires unique values."
			body, _ = json.Marshal(e)
		}
		maps.Copy(w.Header(), rec.Header())
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		w.Write(body)
	})
}

// defineProperty creates a deal property in the sandbox as an account
// would in HubSpot.
func (c *crm) defineProperty(name string, unique bool) {
	c.t.Helper()
	body := fmt.Sprintf(`{"name":%q,"label":%q,"type":"string","fieldType":"text","groupName":"dealinformation","hasUniqueValue":%t}`, name, name, unique)
	req, _ := http.NewRequest(http.MethodPost, c.url+"/crm/v3/properties/deals", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer pat-na1-sandbox")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		c.t.Fatalf("defining property %s: %d", name, resp.StatusCode)
	}
}

// asCreated is a stored deal as a create answers it, in the action's
// output shape.
func asCreated(deal map[string]any, created bool) map[string]any {
	return map[string]any{"id": deal["id"], "properties": deal["properties"], "createdAt": deal["createdAt"], "updatedAt": deal["updatedAt"], "created": created}
}

// TestSandboxCreateDealLostAnswer sends a deal create again after its
// answer was lost, as the client does within the call or Temporal's next
// attempt does. With unique_property the second create is refused by
// HubSpot and the action answers with the deal made first; without it
// HubSpot makes a second deal, which is the documented behaviour.
func TestSandboxCreateDealLostAnswer(t *testing.T) {
	tests := []struct {
		name        string
		lose        string
		unique      string // unique_property
		key         string // the call's idempotency key
		nextAttempt bool   // the resend is the activity's next attempt
		wantDeals   int
		wantFirst   bool // the output is the first deal, created false
		reword      bool // the 409 does not name the deal (rewordConflicts)
	}{
		{"unique property, nothing lost", "", "relay_key", "wf-1/deal", false, 1, false, false},
		{"unique property, dropped connection, resent within the call", "dropped connection", "relay_key", "wf-1/deal", false, 1, true, false},
		{"unique property, dropped connection, next attempt", "dropped connection", "relay_key", "wf-1/deal", true, 1, true, false},
		{"unique property, 500 after the effect, resent within the call", "500 after the effect", "relay_key", "wf-1/deal", false, 1, true, false},
		{"unique property, 500 after the effect, next attempt", "500 after the effect", "relay_key", "wf-1/deal", true, 1, true, false},
		{"unique property, 409 naming no deal, dropped connection, resent within the call", "dropped connection", "relay_key", "wf-1/deal", false, 1, true, true},
		{"unique property, 409 naming no deal, 500 after the effect, next attempt", "500 after the effect", "relay_key", "wf-1/deal", true, 1, true, true},
		{"no unique property, nothing lost", "", "", "wf-1/deal", false, 1, false, false},
		{"no unique property, dropped connection, resent within the call", "dropped connection", "", "wf-1/deal", false, 2, false, false},
		{"no unique property, dropped connection, next attempt", "dropped connection", "", "wf-1/deal", true, 2, false, false},
		{"no unique property, 500 after the effect, resent within the call", "500 after the effect", "", "wf-1/deal", false, 2, false, false},
		{"unique property without a key, dropped connection, next attempt", "dropped connection", "relay_key", "", true, 2, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newLossyCRM(t, tt.lose, "deals", tt.reword) // the sandbox has relay_key
			params := map[string]any{"dealname": "Order 1001", "amount": 149.9, "properties": map[string]any{"closedate": "2025-03-31"}}
			if tt.unique != "" {
				params["unique_property"] = tt.unique
			}
			if tt.nextAttempt {
				_, err := c.do("create_deal", params, tt.key, opts{retryMax: -1})
				if ce, ok := connectors.AsError(err); !ok || !ce.Retryable {
					t.Fatalf("first attempt: %v, want a retryable error", err)
				}
			}
			out, err := c.do("create_deal", params, tt.key, opts{})
			if err != nil {
				t.Fatalf("create_deal: %v", err)
			}
			deals := c.sb.Find("hubspot.deals", nil)
			c.counts(map[string]int{"hubspot.deals.created": tt.wantDeals})
			if len(deals) != tt.wantDeals {
				t.Fatalf("%d deals stored, want %d", len(deals), tt.wantDeals)
			}
			// The output is a stored deal exactly as its create answered.
			want := asCreated(deals[len(deals)-1], true)
			if tt.wantFirst {
				want = asCreated(deals[0], false)
			}
			if !reflect.DeepEqual(out, want) {
				t.Errorf("output\n%v\nwant\n%v", out, want)
			}
			props := deals[0]["properties"].(map[string]any)
			if key, has := props["relay_key"]; tt.unique != "" && tt.key != "" && key != tt.key || (tt.unique == "" || tt.key == "") && has {
				t.Errorf("the first deal's relay_key is %v", key)
			}
		})
	}
}

func TestSandboxCreateDealConflicts(t *testing.T) {
	c := newLossyCRM(t, "", "deals", false)
	c.defineProperty("order_ref", true)
	c.defineProperty("relay_note", false)
	first := c.must("create_deal", map[string]any{"dealname": "Order 1001", "unique_property": "relay_key", "properties": map[string]any{"order_ref": "1001"}}, "wf-1/deal")
	tests := []struct {
		name   string
		params map[string]any
		key    string
		want   string // the error's type, or the ID of the deal returned
	}{
		{"another unique property clashes", map[string]any{"dealname": "Order 1001 again", "unique_property": "relay_key", "properties": map[string]any{"order_ref": "1001"}}, "wf-2/deal", "hubspot.CONFLICT"},
		{"the same key: the earlier deal", map[string]any{"dealname": "Order 1001", "unique_property": "relay_key", "properties": map[string]any{"order_ref": "1001"}}, "wf-1/deal", first["id"].(string)},
		{"the key in a property that is not unique", map[string]any{"dealname": "Order 1002", "unique_property": "relay_note"}, "wf-3/deal", "created"},
		{"the key set in properties too", map[string]any{"dealname": "Order 1003", "unique_property": "relay_key", "properties": map[string]any{"relay_key": "mine"}}, "wf-4/deal", "invalid_params"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.do("create_deal", tt.params, tt.key, opts{})
			switch {
			case err != nil:
				permanent(t, err, tt.want)
			case tt.want == "created":
				if out["created"] != true {
					t.Errorf("output %v, want a new deal", out)
				}
			case out["id"] != tt.want || out["created"] != false:
				t.Errorf("output %v, want deal %s not created", out, tt.want)
			}
		})
	}
	c.counts(map[string]int{"hubspot.deals.created": 2})
}
