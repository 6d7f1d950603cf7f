package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestHandler(t *testing.T) {
	ready := errors.New("temporal is not reachable")
	s := &Server{Ready: func(context.Context) error { return ready }}
	tests := []struct {
		name, path, requestID string
		notReady              bool
		status                int
		code                  string
		wantID                string // "" means a generated one
	}{
		{name: "healthz", path: "/healthz", status: http.StatusOK},
		{name: "not ready", path: "/readyz", notReady: true, status: http.StatusServiceUnavailable, code: "not_ready"},
		{name: "ready", path: "/readyz", status: http.StatusOK},
		{name: "unknown path", path: "/v9/nothing", status: http.StatusNotFound, code: "not_found"},
		{name: "caller's request ID kept", path: "/nothing", requestID: "abc-123", status: http.StatusNotFound, code: "not_found", wantID: "abc-123"},
		{name: "unsafe request ID replaced", path: "/nothing", requestID: "a b<script>", status: http.StatusNotFound, code: "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.notReady {
				ready = errors.New("temporal is not reachable")
			} else {
				ready = nil
			}
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.requestID != "" {
				req.Header.Set(RequestIDHeader, tt.requestID)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			id := rec.Header().Get(RequestIDHeader)
			if tt.wantID != "" && id != tt.wantID || tt.wantID == "" && !strings.HasPrefix(id, "req_") {
				t.Errorf("request ID = %q", id)
			}
			if tt.code == "" {
				return
			}
			var body ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Error.Code != tt.code || body.Error.RequestID != id || body.Error.Message == "" {
				t.Errorf("error body = %+v, want code %s and request ID %s", body, tt.code, id)
			}
			if tt.notReady && rec.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}

// TestHandlerNeverRedirects: where the mux would answer a bare redirect,
// the server answers 404 in the JSON envelope, with the request ID; the
// canonical paths are served as before.
func TestHandlerNeverRedirects(t *testing.T) {
	hooks := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusAccepted, map[string]string{"path": r.URL.Path})
	})
	s := &Server{Webhooks: hooks, API: &API{Runs: newFakeRuns()}}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		method, path string
		status       int
	}{
		{"POST", "/hooks", http.StatusNotFound},
		{"POST", "/hooks//h", http.StatusNotFound},
		{"POST", "/hooks/x/../h", http.StatusNotFound},
		{"POST", "/hooks/./h", http.StatusNotFound},
		{"POST", "/hooks/h/", http.StatusAccepted},
		{"POST", "/hooks/h", http.StatusAccepted},
		{"GET", "/v1", http.StatusNotFound},
		{"GET", "/v1//runs", http.StatusNotFound},
		{"GET", "/codec", http.StatusNotFound},
		{"GET", "//healthz", http.StatusNotFound},
		{"GET", "/healthz", http.StatusOK},
		{"GET", "/v1/runs/order-to-invoice%2Forder-1001", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d, Location %q; want %d", resp.StatusCode, resp.Header.Get("Location"), tt.status)
			}
			if tt.status != http.StatusNotFound {
				return
			}
			var body ErrorBody
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if id := resp.Header.Get(RequestIDHeader); body.Error.Code != "not_found" || id == "" || body.Error.RequestID != id {
				t.Errorf("error body %+v, request ID header %q", body, id)
			}
		})
	}
}

// TestReadyzHidesCause: /readyz, which needs no key, says only that relay
// is not ready and, for a NotReady, which part; the cause (a gRPC dial
// error naming Temporal's address) goes to the log under the request ID.
func TestReadyzHidesCause(t *testing.T) {
	const addr = "10.1.2.3:7233"
	dial := status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp `+addr+`: connect: connection refused"`)
	tests := []struct {
		name    string
		err     error
		status  int
		message string // the error message, exactly
		logged  string // what the log must hold of the cause
	}{
		{name: "ready", status: http.StatusOK},
		{name: "Temporal unreachable", err: &NotReady{Reason: "Temporal is not reachable", Err: dial}, status: http.StatusServiceUnavailable,
			message: "not ready: Temporal is not reachable; the server log has the details under this request ID", logged: addr},
		{name: "worker not polling", err: &NotReady{Reason: "the worker is not polling"}, status: http.StatusServiceUnavailable,
			message: "not ready: the worker is not polling; the server log has the details under this request ID", logged: "the worker is not polling"},
		{name: "an error that says no reason", err: fmt.Errorf("temporal is not reachable: %w", dial), status: http.StatusServiceUnavailable,
			message: "not ready; the server log has the details under this request ID", logged: addr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			s := &Server{Ready: func(context.Context) error { return tt.err }, Logger: slog.New(slog.NewJSONHandler(&log, nil))}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if strings.Contains(rec.Body.String(), addr) || strings.Contains(rec.Body.String(), "dial") {
				t.Errorf("the body shows the cause: %s", rec.Body)
			}
			if tt.err == nil {
				return
			}
			var body ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			id := rec.Header().Get(RequestIDHeader)
			if body.Error.Code != "not_ready" || body.Error.Message != tt.message || body.Error.RequestID != id || rec.Header().Get("Retry-After") == "" {
				t.Errorf("body %+v, Retry-After %q; want code not_ready, message %q", body.Error, rec.Header().Get("Retry-After"), tt.message)
			}
			if !strings.Contains(log.String(), id) || !strings.Contains(log.String(), tt.logged) {
				t.Errorf("the log lacks the request ID %s or the cause:\n%s", id, log.String())
			}
		})
	}
}
