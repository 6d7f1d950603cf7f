package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
	cfg := connectors.ConnectionConfig{Connector: "hubspot", BaseURL: base, Auth: &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:T"}}
	client, err := connectors.NewClient(cfg, func(string) (string, error) { return "pat-na1-test", nil }, connectors.ClientOptions{RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Connector().Action(action).Do(context.Background(), &connectors.Call{Connection: "crm", Config: cfg, Client: client, Params: params, IdempotencyKey: key})
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	return out
}
