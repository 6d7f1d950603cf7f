package slack_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/conformance"
	"github.com/relay-dev/relay/connectors/slack"
	"github.com/relay-dev/relay/sandbox"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Suite{
		Connector: slack.Connector(),
		Cases: []conformance.Case{{
			Action: "post_message",
			Params: map[string]any{
				"text":    "Order 1001 shipped: tracking EZ4000001000",
				"channel": "#fulfilment",
				"blocks": []any{map[string]any{
					"type": "section",
					"text": map[string]any{"type": "mrkdwn", "text": "*Order 1001* shipped with USPS, tracking `EZ4000001000`"},
				}},
			},
			Response: "ok",
			Mutating: true,
		}},
	})
}

func post(t *testing.T, baseURL string, params map[string]any) error {
	t.Helper()
	cfg := connectors.ConnectionConfig{Connector: "slack", BaseURL: baseURL}
	client, err := connectors.NewClient(cfg, nil, connectors.ClientOptions{RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	out, err := slack.Connector().Action("post_message").Do(context.Background(), &connectors.Call{Connection: "chat", Config: cfg, Client: client, Params: params, IdempotencyKey: "order-1/notify"})
	if err == nil {
		if m, _ := out.(map[string]any); m["ok"] != true {
			t.Errorf("output %v, want {ok: true}", out)
		}
	}
	return err
}

func TestErrors(t *testing.T) {
	tests := []struct {
		status        int
		retryAfter    string
		body          string
		wantType      string
		wantRetryable bool
		wantAfter     time.Duration
	}{
		{status: 400, body: "invalid_payload", wantType: "slack.invalid_payload"},
		{status: 404, body: "no_service", wantType: "slack.no_service"},
		{status: 404, body: "channel_not_found\n", wantType: "slack.channel_not_found"},
		{status: 410, body: "channel_is_archived", wantType: "slack.channel_is_archived"},
		{status: 403, body: "action_prohibited", wantType: "slack.action_prohibited"},
		{status: 429, retryAfter: "30", body: "rate_limited", wantType: "slack.rate_limited", wantRetryable: true, wantAfter: 30 * time.Second},
		{status: 500, body: "rollup_error", wantType: "slack.rollup_error", wantRetryable: true},
		{status: 502, body: "<html>Bad Gateway</html>", wantType: "http.502", wantRetryable: true},
		{status: 400, body: `{"error":"x"}`, wantType: "http.400"},
	}
	for _, tt := range tests {
		t.Run(tt.wantType+"/"+tt.body, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			err := post(t, srv.URL+"/services/T0001/B0002/s3cr3tH00kT0ken", map[string]any{"text": "hi"})
			ce, ok := connectors.AsError(err)
			if !ok {
				t.Fatalf("error %v is not a *connectors.Error", err)
			}
			if ce.Type != tt.wantType || ce.Retryable != tt.wantRetryable || ce.RetryAfter != tt.wantAfter {
				t.Errorf("got %q retryable %v after %v, want %q %v %v", ce.Type, ce.Retryable, ce.RetryAfter, tt.wantType, tt.wantRetryable, tt.wantAfter)
			}
			if strings.Contains(ce.Message, "s3cr3tH00kT0ken") {
				t.Errorf("message shows the webhook secret: %q", ce.Message)
			}
		})
	}
}

func TestNetworkErrorHidesWebhook(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct{ base, path string }{
		{"http://" + addr + "/services/T0001/B0002/s3cr3tH00kT0ken", ""},
		{"http://" + addr + "/services", "T0001/B0002/s3cr3tH00kT0ken"},
	} {
		err := post(t, tc.base, map[string]any{"text": "hi", "path": tc.path})
		ce, ok := connectors.AsError(err)
		if !ok || !ce.Retryable || ce.Type != "network" {
			t.Errorf("connection refused: %v, want retryable network", err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3tH00kT0ken") {
			t.Errorf("message shows the webhook secret: %v", err)
		}
	}
}

func TestInvalidParams(t *testing.T) {
	for _, params := range []map[string]any{
		{},
		{"text": "  "},
		{"text": 3.0},
		{"text": "hi", "blocks": "not blocks"},
		{"text": "hi", "channel": true},
		{"text": "hi", "path": "https://elsewhere.example.com/x"},
	} {
		err := post(t, "http://127.0.0.1:1/services/T1/B1/x", params)
		if ce, ok := connectors.AsError(err); !ok || ce.Type != "invalid_params" || ce.Retryable {
			t.Errorf("%v: error = %v, want permanent invalid_params", params, err)
		}
	}
}

func TestAgainstSandbox(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()

	if err := post(t, srv.URL+"/slack/services/T0001/B0002/XXXXXXXX", map[string]any{"text": "Order 1001 shipped", "channel": "#ops"}); err != nil {
		t.Fatal(err)
	}
	// The same message through a base_url and a path, under the same key:
	// Slack, and the sandbox, post it again.
	if err := post(t, srv.URL+"/slack/services", map[string]any{"text": "Order 1001 shipped", "channel": "#ops", "path": "T0001/B0002/XXXXXXXX"}); err != nil {
		t.Fatal(err)
	}
	err := post(t, srv.URL+"/slack/services/T0001", map[string]any{"text": "hi"})
	if ce, ok := connectors.AsError(err); !ok || ce.Type != "slack.no_service" || ce.Retryable {
		t.Errorf("bad webhook path: %v, want permanent slack.no_service", err)
	}
	if n := sb.Stats().Counts["slack.messages.posted"]; n != 2 {
		t.Errorf("slack.messages.posted = %d, want 2", n)
	}
	msgs := sb.Find("slack.messages", nil)
	if len(msgs) != 2 {
		t.Fatalf("messages = %v, want 2", msgs)
	}
	for _, m := range msgs {
		if m["text"] != "Order 1001 shipped" || m["channel"] != "#ops" || m["webhook"] != "B0002" || m["idempotency_key"] != "order-1/notify" {
			t.Errorf("message = %v", m)
		}
	}
}
