package sandbox

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSlackWebhook(t *testing.T) {
	s := New(Options{})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	tests := []struct {
		path, body, key string
		status          int
		answer          string
	}{
		{"/slack/services/T1/B1/secret", `{"text":"hello"}`, "k1", 200, "ok"},
		{"/slack/services/T1/B1/secret", `{"text":"hello"}`, "k1", 200, "ok"}, // the same key: posted again, as Slack does
		{"/slack/services/T1/B1/secret", `{"text":"hello again"}`, "", 200, "ok"},
		{"/slack/services/T1/B1/secret", `{"blocks":[]}`, "", 400, "invalid_payload"},
		{"/slack/services/T1/B1/secret", `text=hello`, "", 400, "invalid_payload"},
		{"/slack/services/T1/secret", `{"text":"hello"}`, "", 404, "no_service"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+tt.path, strings.NewReader(tt.body))
		if tt.key != "" {
			req.Header.Set("Idempotency-Key", tt.key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || string(b) != tt.answer {
			t.Errorf("POST %s %s: %d %q, want %d %q", tt.path, tt.body, resp.StatusCode, b, tt.status, tt.answer)
		}
	}
	if n := s.Stats().Counts["slack.messages.posted"]; n != 3 {
		t.Errorf("slack.messages.posted = %d, want 3", n)
	}
	if msgs := s.Find("slack.messages", func(m map[string]any) bool { return m["idempotency_key"] == "k1" }); len(msgs) != 2 {
		t.Errorf("messages posted under key k1: %v, want 2", msgs)
	}
}
