package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
