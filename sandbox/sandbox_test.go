package sandbox

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWebhookPaths(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		want  []string
	}{
		{"every path when none are set", nil, []string{"/hooks/easypost", "/hooks/stripe"}},
		{"only the paths set", []string{"/hooks/stripe"}, []string{"/hooks/stripe"}},
		{"none when the set is empty", []string{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = append(got, r.URL.Path)
				mu.Unlock()
			}))
			defer recv.Close()
			s := New(Options{WebhookURL: recv.URL, WebhookPaths: tt.paths, WebhookDelay: time.Millisecond})
			unsigned := func([]byte, time.Time) http.Header { return nil }
			s.PostWebhook("/hooks/easypost", []byte(`{}`), unsigned)
			s.PostWebhook("/hooks/stripe", []byte(`{}`), unsigned)
			s.Close()
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("webhooks went to %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMutateHashesOnlyHonouredKeys: Mutate hashes a request (to compare a
// replay with the first request) only when it carries an idempotency key
// the partner honours.
func TestMutateHashesOnlyHonouredKeys(t *testing.T) {
	tests := []struct {
		name, partner, key string
		want               int // hashes
	}{
		{"honoured key", "stripe", "k1", 1},
		{"no key", "stripe", "", 0},
		{"key of a partner that ignores keys (hubspot)", "hubspot", "k1", 0},
		{"key of a partner that ignores keys (erpnext)", "erpnext", "k1", 0},
	}
	hashed := 0
	orig := requestHash
	t.Cleanup(func() { requestHash = orig })
	requestHash = func(method, path string, body []byte) [32]byte {
		hashed++
		return orig(method, path, body)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			hashed = 0
			req := httptest.NewRequest("POST", "/"+tt.partner+"/x", strings.NewReader(`{}`))
			if tt.key != "" {
				req.Header.Set("Idempotency-Key", tt.key)
			}
			rec := httptest.NewRecorder()
			s.Mutate(rec, req, tt.partner, []byte(`{}`), func() (int, any) { return http.StatusCreated, map[string]any{} })
			if rec.Code != http.StatusCreated || hashed != tt.want {
				t.Errorf("answered %d after %d hashes, want 201 after %d", rec.Code, hashed, tt.want)
			}
		})
	}
}
