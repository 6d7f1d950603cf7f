package activities

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/builtin"
)

func TestBackoffDelay(t *testing.T) {
	b := &Backoff{InitialInterval: time.Second, BackoffCoefficient: 2, MaxInterval: 10 * time.Second, Jitter: 0.5}
	tests := []struct {
		attempt int32
		random  float64
		want    time.Duration
	}{
		{1, 0.5, time.Second},           // no spread at the midpoint
		{1, 0, 500 * time.Millisecond},  // -50%
		{1, 1, 1500 * time.Millisecond}, // +50%
		{3, 0.5, 4 * time.Second},       // 1s * 2^2
		{10, 0.5, 10 * time.Second},     // capped at max_interval
		{10, 1, 15 * time.Second},       // the cap, then jitter
	}
	for _, tt := range tests {
		if got := b.Delay(tt.attempt, tt.random); got != tt.want {
			t.Errorf("Delay(%d, %v) = %v, want %v", tt.attempt, tt.random, got, tt.want)
		}
	}
}

func TestCallMapsPartnerAnswers(t *testing.T) {
	const token = "tok_secret_9d8e7f"
	t.Setenv("ACT_TEST_TOKEN", token)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"c_1"}`)
		case "/invalid":
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = io.WriteString(w, `{"error":"bad email","echo":"`+r.Header.Get("Authorization")+`"}`)
		case "/later":
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	reg := builtin.Registry()
	acts := &Activities{Registry: reg, ClientOptions: connectors.ClientOptions{RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond}}
	cfg := connectors.ConnectionConfig{Connector: "http", BaseURL: srv.URL, Auth: &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:ACT_TEST_TOKEN"}}
	call := func(path string) (*CallResult, error) {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.RegisterActivityWithOptions(acts.Call, activity.RegisterOptions{Name: "http.request"})
		v, err := env.ExecuteActivity("http.request", CallInput{Connection: "crm", Config: cfg, Connector: "http", Action: "request",
			Params: map[string]any{"url": path, "method": "POST"}, IdempotencyKey: "k1"})
		if err != nil {
			return nil, err
		}
		var res CallResult
		return &res, v.Get(&res)
	}

	res, err := call("/ok")
	if err != nil {
		t.Fatalf("ok call: %v", err)
	}
	if body := res.Output.(map[string]any)["body"].(map[string]any); body["id"] != "c_1" || res.Attempt != 1 {
		t.Errorf("result = %+v", res)
	}

	_, err = call("/invalid")
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != "http.422" || !appErr.NonRetryable() {
		t.Fatalf("422: error = %v, want non-retryable http.422", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("failure leaks the token: %v", err)
	}

	_, err = call("/later")
	if !errors.As(err, &appErr) || appErr.Type() != "http.429" || appErr.NonRetryable() || appErr.NextRetryDelay() != 120*time.Second {
		t.Fatalf("429: error = %v (delay %v), want retryable http.429 with next retry delay 120s", err, appErr.NextRetryDelay())
	}
}
