package sandbox

import (
	"net/http"
	"net/http/httptest"
	"slices"
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
