package sandbox

import (
	"os"
	"strings"
	"testing"
)

func TestPointFlow(t *testing.T) {
	const httpAddr, smtpAddr = "127.0.0.1:41000", "127.0.0.1:41001"
	tests := []struct {
		name, yaml, want string
	}{
		{"http base URL", "base_url: http://127.0.0.1:8090/hubspot", "base_url: http://127.0.0.1:41000/hubspot"},
		{"smtp base URL", "base_url: smtp://127.0.0.1:2525", "base_url: smtp://127.0.0.1:41001"},
		{"sandbox URL read from the environment", "base_url: env:SLACK_WEBHOOK_URL", "base_url: http://127.0.0.1:41000/slack/services/T0RELAY/B0ORDERS/sandbox"},
		{"credential read from the environment stays a reference", "token: env:HUBSPOT_TOKEN", "token: env:HUBSPOT_TOKEN"},
		{"other addresses stay", "base_url: https://api.example.com:8090", "base_url: https://api.example.com:8090"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PointFlow(tt.yaml, httpAddr, smtpAddr); got != tt.want {
				t.Errorf("PointFlow(%q) = %q, want %q", tt.yaml, got, tt.want)
			}
		})
	}

	// The bundled flagship keeps no default address once pointed.
	src, err := os.ReadFile("../definitions/flows/order-to-invoice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := PointFlow(string(src), httpAddr, smtpAddr)
	for _, stale := range []string{DefaultHTTPAddr, DefaultSMTPAddr, "env:SLACK_WEBHOOK_URL"} {
		if strings.Contains(got, stale) {
			t.Errorf("the pointed flagship still has %q", stale)
		}
	}
	if !strings.Contains(got, "base_url: http://"+httpAddr+"/slack/services/") {
		t.Errorf("the pointed flagship does not post to the sandbox's Slack:\n%s", got)
	}
}
