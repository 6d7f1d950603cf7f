package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relay-dev/relay/connectors"
)

func TestPartnerError(t *testing.T) {
	hubspotBody := func(category, msg string) []byte {
		b, _ := json.Marshal(map[string]any{"status": "error", "message": msg, "correlationId": "c0ffee00-1111-2222-3333-444455556666", "category": category})
		return b
	}
	tests := []struct {
		name          string
		in            error
		wantType      string
		wantRetryable bool
		wantWait      time.Duration
		wantMsg       string // a substring of the message
	}{
		{
			name:     "validation error",
			in:       &connectors.Error{Type: "http.400", Status: 400, Body: hubspotBody("VALIDATION_ERROR", "Property values were not valid: email")},
			wantType: "hubspot.VALIDATION_ERROR", wantMsg: "400 VALIDATION_ERROR: Property values were not valid: email (correlation ID c0ffee00",
		},
		{
			name:     "conflict",
			in:       &connectors.Error{Type: "http.409", Status: 409, Body: hubspotBody("CONFLICT", "Contact already exists. Existing ID: 51")},
			wantType: "hubspot.CONFLICT", wantMsg: "Existing ID: 51",
		},
		{
			name:     "authentication",
			in:       &connectors.Error{Type: "http.401", Status: 401, Body: hubspotBody("INVALID_AUTHENTICATION", "Authentication credentials not found.")},
			wantType: "hubspot.INVALID_AUTHENTICATION",
		},
		{
			name:     "missing scopes",
			in:       &connectors.Error{Type: "http.403", Status: 403, Body: hubspotBody("MISSING_SCOPES", "This app hasn't been granted all required scopes")},
			wantType: "hubspot.MISSING_SCOPES",
		},
		{
			name:     "not found",
			in:       &connectors.Error{Type: "http.404", Status: 404, Body: hubspotBody("OBJECT_NOT_FOUND", "Object not found.")},
			wantType: "hubspot.OBJECT_NOT_FOUND",
		},
		{
			name:     "rate limit keeps the client's type and Retry-After",
			in:       &connectors.Error{Type: "http.429", Status: 429, Retryable: true, RetryAfter: 10 * time.Second, Body: hubspotBody("RATE_LIMITS", "You have reached your secondly limit.")},
			wantType: "http.429", wantRetryable: true, wantWait: 10 * time.Second, wantMsg: "RATE_LIMITS",
		},
		{
			name:     "server error keeps the client's type",
			in:       &connectors.Error{Type: "http.502", Status: 502, Retryable: true, Body: hubspotBody("INTERNAL_ERROR", "internal error")},
			wantType: "http.502", wantRetryable: true,
		},
		{
			name:     "locked is retried after two seconds",
			in:       &connectors.Error{Type: "http.423", Status: 423, Body: hubspotBody("LOCKED", "Record is locked")},
			wantType: "http.423", wantRetryable: true, wantWait: 2 * time.Second,
		},
		{
			name:     "another body is left alone",
			in:       &connectors.Error{Type: "http.422", Status: 422, Body: []byte(`{"error":{"message":"invalid"}}`), Message: "POST /x: 422"},
			wantType: "http.422", wantMsg: "POST /x: 422",
		},
		{
			name:     "no body",
			in:       &connectors.Error{Type: "http.400", Status: 400, Message: "POST /x: 400"},
			wantType: "http.400", wantMsg: "POST /x: 400",
		},
		{
			name:     "network error",
			in:       &connectors.Error{Type: "network", Retryable: true, Message: "connection refused"},
			wantType: "network", wantRetryable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ce, ok := connectors.AsError(partnerError(tt.in, "POST", "/crm/v3/objects/contacts"))
			if !ok {
				t.Fatalf("not a *connectors.Error")
			}
			if ce.Type != tt.wantType || ce.Retryable != tt.wantRetryable || ce.RetryAfter != tt.wantWait {
				t.Errorf("got type %q retryable %v wait %v, want %q %v %v", ce.Type, ce.Retryable, ce.RetryAfter, tt.wantType, tt.wantRetryable, tt.wantWait)
			}
			if !strings.Contains(ce.Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", ce.Message, tt.wantMsg)
			}
		})
	}
	if err := errors.New("plain"); partnerError(err, "GET", "/") != err {
		t.Error("a plain error was changed")
	}
}

// TestUpsertConflictWithoutID covers a 409 that does not name the
// existing contact: the action finds it by a search, then updates it, each
// request with its own stable idempotency key.
func TestUpsertConflictWithoutID(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST" && r.URL.Path == "/crm/v3/objects/contacts":
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"status":"error","message":"Contact already exists.","correlationId":"x","category":"CONFLICT"}`)
		case r.Method == "POST" && r.URL.Path == "/crm/v3/objects/contacts/search":
			if !strings.Contains(string(body), `"value":"ada@example.com"`) {
				t.Errorf("search body %s", body)
			}
			io.WriteString(w, `{"total":1,"results":[{"id":"77","properties":{"email":"ada@example.com"}}]}`)
		case r.Method == "PATCH" && r.URL.Path == "/crm/v3/objects/contacts/77":
			io.WriteString(w, `{"id":"77","properties":{"email":"ada@example.com","phone":"+44 20"},"createdAt":"a","updatedAt":"b"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	out := call(t, srv.URL, "upsert_contact", map[string]any{"email": "ada@example.com", "phone": "+44 20"}, "wf-1/customer")
	got := out.(map[string]any)
	if got["id"] != "77" || got["created"] != false {
		t.Errorf("output %v, want contact 77 not created", got)
	}
	want := []string{
		"POST /crm/v3/objects/contacts wf-1/customer",
		"POST /crm/v3/objects/contacts/search wf-1/customer/search",
		"PATCH /crm/v3/objects/contacts/77 wf-1/customer/update",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

// TestCreateDealConflict covers the answers to a create_deal that HubSpot
// refuses: on a 409, whatever its message says, the deal is read by the
// unique property; only a deal holding the call's key there is returned.
func TestCreateDealConflict(t *testing.T) {
	const token = "pat-na1-test"
	failure := func(category, msg string) string {
		return `{"status":"error","message":"` + msg + `","correlationId":"x","category":"` + category + `"}`
	}
	deal := func(key string) string {
		return `{"id":"77","properties":{"dealname":"D","relay_key":"` + key + `","hs_object_id":"77"},"createdAt":"a","updatedAt":"b","archived":false}`
	}
	tests := []struct {
		name   string
		unique string
		status int    // the create's status
		create string // its body
		get    int    // the status of the read by relay_key
		body   string // its body
		want   string // the error's type, or "deal 77"
		reads  int    // reads by relay_key
	}{
		{"a 409 naming the deal, as the sandbox words it", "relay_key", 409, failure("CONFLICT", "A deal with relay_key 'wf-1/deal' already exists; the property requires unique values. Existing ID: 77"),
			200, deal("wf-1/deal"), "deal 77", 1},
		{"a 409 naming no deal", "relay_key", 409, failure("CONFLICT", "Duplicate value found for property relay_key, which requires unique values."),
			200, deal("wf-1/deal"), "deal 77", 1},
		{"another category", "relay_key", 409, failure("OBJECT_ALREADY_EXISTS", "Object already exists."), 200, deal("wf-1/deal"), "deal 77", 1},
		{"not HubSpot's error body", "relay_key", 409, `{"error":"duplicate"}`, 200, deal("wf-1/deal"), "deal 77", 1},
		{"no deal holds the key: the 409, not the 404", "relay_key", 409, failure("CONFLICT", "Duplicate value."),
			404, failure("OBJECT_NOT_FOUND", "Object not found."), "hubspot.CONFLICT", 1},
		{"no deal holds the key, a 404 not in HubSpot's body", "relay_key", 409, failure("CONFLICT", "Duplicate value."), 404, `{"error":"not found"}`, "hubspot.CONFLICT", 1},
		{"the deal read holds another key", "relay_key", 409, failure("CONFLICT", "Duplicate value."), 200, deal("wf-9/deal"), "hubspot.CONFLICT", 1},
		{"the read fails otherwise", "relay_key", 409, failure("CONFLICT", "Duplicate value."),
			403, failure("MISSING_SCOPES", "This app hasn't been granted all required scopes"), "hubspot.MISSING_SCOPES", 1},
		{"without unique_property", "", 409, failure("CONFLICT", "Duplicate value. Existing ID: 77"), 200, deal("wf-1/deal"), "hubspot.CONFLICT", 0},
		{"a create refused otherwise", "relay_key", 400, failure("VALIDATION_ERROR", "Property values were not valid"), 200, deal("wf-1/deal"), "hubspot.VALIDATION_ERROR", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reads atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				// Every answer echoes the request's headers: the token must
				// not reach the error or the output anyway.
				w.Header().Set("X-Echo", r.Header.Get("Authorization"))
				echo := func(body string) string {
					return strings.Replace(body, `"x"`, `"`+r.Header.Get("Authorization")+`"`, 1)
				}
				switch {
				case r.Method == "POST" && r.URL.Path == "/crm/v3/objects/deals":
					w.WriteHeader(tt.status)
					io.WriteString(w, echo(tt.create))
				case r.Method == "GET" && r.URL.EscapedPath() == "/crm/v3/objects/deals/wf-1%2Fdeal":
					reads.Add(1)
					q := r.URL.Query()
					if got := q.Get("idProperty"); got != "relay_key" {
						t.Errorf("read by idProperty %q, want relay_key", got)
					}
					want := "createdate,dealname,dealstage,hs_lastmodifieddate,hs_object_id,pipeline,relay_key"
					if got := q.Get("properties"); got != want {
						t.Errorf("read properties %q, want %q", got, want)
					}
					w.WriteHeader(tt.get)
					io.WriteString(w, echo(tt.body))
				default:
					t.Errorf("unexpected %s %s", r.Method, r.URL)
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			params := map[string]any{"dealname": "D"}
			if tt.unique != "" {
				params["unique_property"] = tt.unique
			}
			out, err := try(t, srv.URL, "create_deal", params, "wf-1/deal", token)
			got := fmt.Sprint(err)
			if ce, ok := connectors.AsError(err); ok {
				got = ce.Type
				if ce.Retryable {
					t.Errorf("error %v is retryable", err)
				}
			} else if m, ok := out.(map[string]any); ok && err == nil && m["created"] == false {
				got = "deal " + fmt.Sprint(m["id"])
			}
			if got != tt.want || int(reads.Load()) != tt.reads {
				t.Errorf("got %s (%v, %v) after %d reads, want %s after %d", got, out, err, reads.Load(), tt.want, tt.reads)
			}
			if strings.Contains(fmt.Sprint(out, err), token) {
				t.Errorf("the token shows: %v %v", out, err)
			}
		})
	}
}

func TestDefaultBaseURL(t *testing.T) {
	var got string
	client, err := connectors.NewClient(connectors.ConnectionConfig{Connector: "hubspot"}, nil, connectors.ClientOptions{
		HTTPClient: &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			got = r.URL.String()
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"total":0,"results":[]}`)), Request: r}, nil
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Connector().Action("search_contact_by_email").Do(context.Background(), &connectors.Call{Client: client, Params: map[string]any{"email": "x@example.com"}})
	if err != nil || out != nil {
		t.Fatalf("out %v, err %v; want nil, nil", out, err)
	}
	if got != "https://api.hubapi.com/crm/v3/objects/contacts/search" {
		t.Errorf("URL %s", got)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestParams(t *testing.T) {
	tests := []struct {
		action string
		params map[string]any
	}{
		{"search_contact_by_email", map[string]any{}},
		{"search_contact_by_email", map[string]any{"email": 3.0}},
		{"search_contact_by_email", map[string]any{"email": "a@b.c", "properties": "phone"}},
		{"upsert_contact", map[string]any{"email": " "}},
		{"upsert_contact", map[string]any{"email": "a@b.c", "properties": map[string]any{"x": []any{1.0}}}},
		{"create_deal", map[string]any{"dealname": "D", "amount": "lots"}},
		{"create_deal", map[string]any{"dealname": "D", "unique_property": 3.0}},
		{"create_deal", map[string]any{"dealname": "D", "unique_property": " "}},
		{"create_deal", map[string]any{"dealname": "D", "unique_property": "Relay key"}},
		{"create_deal", map[string]any{"dealname": "D", "unique_property": "relay_key", "properties": map[string]any{"relay_key": "mine"}}},
		{"create_deal", map[string]any{"dealname": "D", "unique_property": "relay_key", "properties": map[string]any{"relay_key": nil}}},
		{"create_deal", map[string]any{"dealname": "D", "unique_property": "dealname"}},
		{"create_deal", map[string]any{"dealname": "D", "unique_property": "pipeline"}}, // set by its default
		{"create_deal", map[string]any{"dealname": "D", "amount": 5.0, "unique_property": "amount"}},
		{"associate", map[string]any{"from_type": "deals", "from_id": 1.5, "to_type": "contacts", "to_id": "2"}},
	}
	client, _ := connectors.NewClient(connectors.ConnectionConfig{BaseURL: "http://127.0.0.1:1"}, nil, connectors.ClientOptions{})
	for _, tt := range tests {
		_, err := Connector().Action(tt.action).Do(context.Background(), &connectors.Call{Client: client, Config: connectors.ConnectionConfig{BaseURL: "http://127.0.0.1:1"}, Params: tt.params})
		if ce, ok := connectors.AsError(err); !ok || ce.Type != "invalid_params" || ce.Retryable {
			t.Errorf("%s %v: error %v, want permanent invalid_params", tt.action, tt.params, err)
		}
	}
}

func call(t *testing.T, base, action string, params map[string]any, key string) any {
	t.Helper()
	out, err := try(t, base, action, params, key, "pat-na1-test")
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	return out
}

// try calls an action on a connection to base with the token.
func try(t *testing.T, base, action string, params map[string]any, key, token string) (any, error) {
	t.Helper()
	cfg := connectors.ConnectionConfig{Connector: "hubspot", BaseURL: base, Auth: &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:T"}}
	client, err := connectors.NewClient(cfg, func(string) (string, error) { return token, nil }, connectors.ClientOptions{RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return Connector().Action(action).Do(context.Background(), &connectors.Call{Connection: "crm", Config: cfg, Client: client, Params: params, IdempotencyKey: key})
}
