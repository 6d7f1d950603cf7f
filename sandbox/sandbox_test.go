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

// TestMutateKeys: a request sent again under its idempotency key is
// answered from the first where the partner honours keys (its effect
// happens once), and acts again where the partner ignores them, as
// HubSpot and ERPNext do.
func TestMutateKeys(t *testing.T) {
	tests := []struct {
		name, partner, key string
		wantEffects        int
	}{
		{"honoured key", "stripe", "k1", 1},
		{"no key", "stripe", "", 2},
		{"key of a partner that ignores keys (hubspot)", "hubspot", "k1", 2},
		{"key of a partner that ignores keys (erpnext)", "erpnext", "k1", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			effects := 0
			for range 2 {
				req := httptest.NewRequest("POST", "/"+tt.partner+"/x", strings.NewReader(`{}`))
				if tt.key != "" {
					req.Header.Set("Idempotency-Key", tt.key)
				}
				rec := httptest.NewRecorder()
				s.Mutate(rec, req, tt.partner, []byte(`{}`), func() (int, any) { effects++; return http.StatusCreated, map[string]any{"n": effects} })
				if rec.Code != http.StatusCreated {
					t.Fatalf("answered %d, want 201", rec.Code)
				}
			}
			if effects != tt.wantEffects {
				t.Errorf("%d effects, want %d", effects, tt.wantEffects)
			}
		})
	}
}
