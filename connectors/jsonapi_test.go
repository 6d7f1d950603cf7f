package connectors

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestSendJSON(t *testing.T) {
	var gotBody, gotType, gotAccept string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotType, gotAccept = string(b), r.Header.Get("Content-Type"), r.Header.Get("Accept")
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(`{"id":"42"}`))
		case "/html":
			w.Write([]byte(`<html>maintenance</html>`))
		default:
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(`{"message":"bad"}`))
		}
	}))
	defer srv.Close()
	c, err := NewClient(ConnectionConfig{BaseURL: srv.URL}, nil, ClientOptions{RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		req        *Request
		body       any
		want       map[string]any
		wantType   string
		wantBody   string
		wantAccept string
	}{
		{name: "body encoded, answer decoded", req: &Request{Method: http.MethodPost, Path: "/ok"}, body: map[string]any{"a": 1}, want: map[string]any{"id": "42"}, wantBody: `{"a":1}`, wantAccept: "application/json"},
		{name: "no body", req: &Request{Path: "/ok"}, want: map[string]any{"id": "42"}, wantAccept: "application/json"},
		{name: "caller's Accept kept", req: &Request{Path: "/ok", Header: http.Header{"Accept": {"application/vnd.x+json"}}}, want: map[string]any{"id": "42"}, wantAccept: "application/vnd.x+json"},
		{name: "answer not JSON", req: &Request{Path: "/html"}, wantType: "shop.invalid_response", wantAccept: "application/json"},
		{name: "failure as the client returned it", req: &Request{Path: "/fail"}, wantType: "http.422", wantAccept: "application/json"},
		{name: "body that cannot be encoded", req: &Request{Method: http.MethodPost, Path: "/ok"}, body: math.NaN(), wantType: "invalid_params"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotBody, gotType, gotAccept = "", "", ""
			var out map[string]any
			err := SendJSON(context.Background(), c, "shop", tt.req, tt.body, &out)
			if tt.wantType != "" {
				ce, ok := AsError(err)
				if !ok || ce.Type != tt.wantType || ce.Retryable {
					t.Fatalf("error = %#v, want permanent %s", err, tt.wantType)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out, tt.want) {
				t.Errorf("out = %v, want %v", out, tt.want)
			}
			if gotBody != tt.wantBody || gotAccept != tt.wantAccept {
				t.Errorf("sent body %q, Accept %q; want %q, %q", gotBody, gotAccept, tt.wantBody, tt.wantAccept)
			}
			if tt.wantBody != "" && gotType != "application/json" {
				t.Errorf("Content-Type %q", gotType)
			}
		})
	}
}

func TestErrorBody(t *testing.T) {
	type body struct {
		Message string `json:"message"`
	}
	tests := []struct {
		name string
		err  error
		ok   bool
		want string
	}{
		{name: "partner body", err: &Error{Type: "http.422", Status: 422, Body: []byte(`{"message":"bad"}`)}, ok: true, want: "bad"},
		{name: "wrapped", err: errors.Join(errors.New("calling"), &Error{Status: 400, Body: []byte(`{"message":"x"}`)}), ok: true, want: "x"},
		{name: "not JSON", err: &Error{Status: 502, Body: []byte(`<html>Bad Gateway</html>`)}},
		{name: "no body", err: &Error{Status: 404}},
		{name: "no status", err: &Error{Type: "network", Body: []byte(`{"message":"x"}`)}},
		{name: "not an *Error", err: errors.New("boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b body
			ce, ok := ErrorBody(tt.err, &b)
			if ok != tt.ok || (ok && (ce == nil || b.Message != tt.want)) || (!ok && ce != nil) {
				t.Errorf("ErrorBody = %v, %v, body %+v; want ok %v, message %q", ce, ok, b, tt.ok, tt.want)
			}
		})
	}
}
