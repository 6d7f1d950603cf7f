package httpconnector

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/secrets"
)

// echo answers with what it received, as JSON, unless the path says
// otherwise.
func echo(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/text":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "plain words")
			return
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
			return
		case "/missing":
			http.Error(w, `{"error":"no such order"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Multi", "first")
		w.Header().Add("X-Multi", "second")
		json.NewEncoder(w).Encode(map[string]any{
			"method":       r.Method,
			"path":         r.URL.Path,
			"query":        r.URL.RawQuery,
			"body":         string(body),
			"content_type": r.Header.Get("Content-Type"),
			"idempotency":  r.Header.Get("Idempotency-Key"),
			"tenant":       r.Header.Get("X-Tenant"),
			"api_key":      r.Header.Get("X-API-Key"),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRequest(t *testing.T) {
	srv := echo(t)
	client, err := connectors.NewClient(connectors.ConnectionConfig{
		Connector: "http",
		BaseURL:   srv.URL + "/api",
		Auth:      &connectors.AuthConfig{Kind: connectors.AuthAPIKey, Key: "env:KEY"},
	}, func(string) (string, error) { return "k-1", nil }, connectors.ClientOptions{RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	action := Connector().Action("request")

	// The echo server repeats the key it received; the client redacts it
	// from the answer, so the key was sent when api_key is the placeholder.
	tests := []struct {
		name     string
		params   map[string]any
		key      string
		wantBody any
		want     func(t *testing.T, out map[string]any)
		wantErr  string
	}{
		{
			name:   "GET by default with query and headers",
			params: map[string]any{"url": "/orders", "query": map[string]any{"page": 2.0, "tag": []any{"a", "b"}}, "headers": map[string]any{"X-Tenant": "acme"}},
			key:    "ignored-on-get",
			wantBody: map[string]any{
				"method": "GET", "path": "/api/orders", "query": "page=2&tag=a&tag=b", "body": "",
				"content_type": "", "idempotency": "", "tenant": "acme", "api_key": secrets.Placeholder,
			},
		},
		{
			name:   "POST JSON with idempotency key",
			params: map[string]any{"method": "post", "url": "orders", "body": map[string]any{"sku": "A-1", "qty": 3.0}},
			key:    "wf-1/create-order",
			wantBody: map[string]any{
				"method": "POST", "path": "/api/orders", "query": "", "body": `{"qty":3,"sku":"A-1"}`,
				"content_type": "application/json", "idempotency": "wf-1/create-order", "tenant": "", "api_key": secrets.Placeholder,
			},
		},
		{
			name:   "string body sent as is",
			params: map[string]any{"method": "PATCH", "url": srv.URL + "/raw", "body": "a=1&b=2", "headers": map[string]any{"Content-Type": "application/x-www-form-urlencoded"}},
			key:    "k-patch",
			wantBody: map[string]any{
				"method": "PATCH", "path": "/raw", "query": "", "body": "a=1&b=2",
				"content_type": "application/x-www-form-urlencoded", "idempotency": "k-patch", "tenant": "", "api_key": secrets.Placeholder,
			},
		},
		{
			name:   "status and headers",
			params: map[string]any{"url": "/x"},
			want: func(t *testing.T, out map[string]any) {
				h := out["headers"].(map[string]any)
				if out["status"] != 200 || h["x-multi"] != "first" || h["content-type"] != "application/json" {
					t.Errorf("status %v, headers %v", out["status"], h)
				}
			},
		},
		{name: "json_response false", params: map[string]any{"url": srv.URL + "/text", "json_response": false}, wantBody: "plain words"},
		{name: "non-JSON body kept as string", params: map[string]any{"url": srv.URL + "/text"}, wantBody: "plain words"},
		{name: "empty body is null", params: map[string]any{"url": srv.URL + "/empty"}, wantBody: nil},
		{name: "404 is a permanent error", params: map[string]any{"url": srv.URL + "/missing"}, wantErr: "http.404"},
		{name: "url missing", params: map[string]any{"method": "GET"}, wantErr: "invalid_params"},
		{name: "url not a string", params: map[string]any{"url": 3.0}, wantErr: "invalid_params"},
		{name: "headers not an object", params: map[string]any{"url": "/x", "headers": "X-A: 1"}, wantErr: "invalid_params"},
		{name: "header value an object", params: map[string]any{"url": "/x", "headers": map[string]any{"X-A": map[string]any{}}}, wantErr: "invalid_params"},
		{name: "query value an object", params: map[string]any{"url": "/x", "query": map[string]any{"q": map[string]any{}}}, wantErr: "invalid_params"},
		{name: "method with space", params: map[string]any{"url": "/x", "method": "GET /"}, wantErr: "invalid_params"},
		{name: "json_response not a boolean", params: map[string]any{"url": "/x", "json_response": "yes"}, wantErr: "invalid_params"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params, err := connectors.ParamDefaults(action, tt.params)
			if err == nil {
				var out any
				out, err = action.Do(context.Background(), &connectors.Call{Connection: "shop", Client: client, Params: params, IdempotencyKey: tt.key})
				if err == nil && tt.wantErr == "" {
					got := out.(map[string]any)
					if tt.want != nil {
						tt.want(t, got)
						return
					}
					if !reflect.DeepEqual(got["body"], tt.wantBody) {
						t.Errorf("body = %#v\nwant   %#v", got["body"], tt.wantBody)
					}
					return
				}
			}
			ce, ok := connectors.AsError(err)
			if !ok || ce.Type != tt.wantErr || ce.Retryable {
				t.Fatalf("error = %#v, want permanent %q", err, tt.wantErr)
			}
		})
	}
}

func TestRequestAppliesDefaultsItself(t *testing.T) {
	srv := echo(t)
	client, err := connectors.NewClient(connectors.ConnectionConfig{}, nil, connectors.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Connector().Action("request").Do(context.Background(), &connectors.Call{Client: client, Params: map[string]any{"url": srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if body := out.(map[string]any)["body"].(map[string]any); body["method"] != "GET" {
		t.Errorf("method = %v, want GET", body["method"])
	}
}
