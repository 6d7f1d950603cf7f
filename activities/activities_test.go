package activities

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
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
		case "/tomorrow":
			w.Header().Set("Retry-After", "86400")
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

	_, err = call("/tomorrow")
	if !errors.As(err, &appErr) || appErr.NextRetryDelay() != MaxRetryAfter || !strings.Contains(err.Error(), "asked to wait 24h0m0s; waiting 10m0s") {
		t.Fatalf("429 asking for a day: error = %v (delay %v), want the delay limited to %v and the message saying so", err, appErr.NextRetryDelay(), MaxRetryAfter)
	}
}

func TestLimitRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		asked  time.Duration
		policy *temporal.RetryPolicy
		want   time.Duration
	}{
		{"under the limit", 2 * time.Minute, &temporal.RetryPolicy{MaximumInterval: time.Minute}, 2 * time.Minute},
		{"limited to 10 minutes", 3 * time.Hour, &temporal.RetryPolicy{MaximumInterval: time.Minute}, MaxRetryAfter},
		{"a longer max_interval raises the limit", 3 * time.Hour, &temporal.RetryPolicy{MaximumInterval: time.Hour}, time.Hour},
		{"a long max_interval honours the wait", 90 * time.Minute, &temporal.RetryPolicy{MaximumInterval: 2 * time.Hour}, 90 * time.Minute},
		{"no policy", 3 * time.Hour, nil, MaxRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ce := &connectors.Error{Type: "x.429", Retryable: true, RetryAfter: tt.asked, Message: "rate limited"}
			limitRetryAfter(ce, tt.policy)
			if ce.RetryAfter != tt.want {
				t.Errorf("RetryAfter = %v, want %v", ce.RetryAfter, tt.want)
			}
			if limited := tt.want < tt.asked; limited != strings.Contains(ce.Message, "asked to wait") {
				t.Errorf("message %q: limited = %v, want it said exactly when the wait is limited", ce.Message, limited)
			}
		})
	}
}

// TestCallOutputHoldsNoSecret: the output of a step goes into workflow
// history, so an answer that echoes a query-string key (a redirect to
// another host, which the client does not follow with credentials, or a
// 200 with a `next` link) must reach it redacted.
func TestCallOutputHoldsNoSecret(t *testing.T) {
	const key = "ak_live_Qx9/7secret+z"
	t.Setenv("ACT_TEST_QUERY_KEY", key)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			target := "http://elsewhere.invalid/landing?" + r.URL.RawQuery
			w.Header().Set("Location", target)
			w.WriteHeader(http.StatusMovedPermanently)
			_, _ = io.WriteString(w, `<a href="`+target+`">Moved Permanently</a>`)
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"next":"`+r.URL.String()+`&page=2"}`)
		}
	}))
	defer srv.Close()
	acts := &Activities{Registry: builtin.Registry(), ClientOptions: connectors.ClientOptions{RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond}}
	cfg := connectors.ConnectionConfig{Connector: "http", BaseURL: srv.URL, Auth: &connectors.AuthConfig{Kind: connectors.AuthAPIKey, In: "query", Key: "env:ACT_TEST_QUERY_KEY"}}
	tests := []struct {
		path       string
		wantStatus float64
	}{
		{"/moved", http.StatusMovedPermanently},
		{"/orders", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestActivityEnvironment()
			env.RegisterActivityWithOptions(acts.Call, activity.RegisterOptions{Name: "http.request"})
			v, err := env.ExecuteActivity("http.request", CallInput{Connection: "partner", Config: cfg, Connector: "http", Action: "request",
				Params: map[string]any{"url": tt.path, "json_response": false}})
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			var res CallResult
			if err := v.Get(&res); err != nil {
				t.Fatal(err)
			}
			out, _ := json.Marshal(res)
			if status := res.Output.(map[string]any)["status"]; status != tt.wantStatus {
				t.Errorf("status = %v, want %v", status, tt.wantStatus)
			}
			for _, form := range []string{key, url.QueryEscape(key), "ak_live_Qx9"} {
				if strings.Contains(string(out), form) {
					t.Errorf("step output holds the key as %q: %s", form, out)
				}
			}
			if !strings.Contains(string(out), "[REDACTED]") {
				t.Errorf("step output shows no redaction: %s", out)
			}
		})
	}
}

// TestClientPicksUpRotatedSecret: a connection's cached client resolves its
// secrets again every secretsRecheck, and is built again when one has a new
// value, so a rotated key is sent without restarting the worker; a secret
// that stops resolving keeps the client it has.
func TestClientPicksUpRotatedSecret(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	token, resolves := "tok-1", 0
	acts := &Activities{Registry: builtin.Registry(), Resolve: func(string) (string, error) {
		resolves++
		if token == "" {
			return "", errors.New("ACT_TOKEN is not set")
		}
		return token, nil
	}}
	cfg := connectors.ConnectionConfig{Connector: "http", BaseURL: srv.URL, Auth: &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:ACT_TOKEN"}}
	t0 := time.Unix(1_800_000_000, 0)
	steps := []struct {
		at        time.Duration
		token     string // the secret's value from now on
		wantAuth  string
		wantCalls int // resolutions so far
	}{
		{0, "tok-1", "Bearer tok-1", 1},
		{time.Second, "tok-2", "Bearer tok-1", 1}, // rotated, not looked at yet
		{secretsRecheck + time.Second, "tok-2", "Bearer tok-2", 3},
		{2*secretsRecheck + 2*time.Second, "", "Bearer tok-2", 4}, // gone: keeps the client
	}
	for _, st := range steps {
		token = st.token
		c, err := acts.client(cfg, t0.Add(st.at))
		if err != nil {
			t.Fatalf("at +%s: %v", st.at, err)
		}
		if _, err := c.Do(t.Context(), &connectors.Request{Path: "/ping"}); err != nil {
			t.Fatalf("at +%s: %v", st.at, err)
		}
		if last := got[len(got)-1]; last != st.wantAuth || resolves != st.wantCalls {
			t.Fatalf("at +%s: sent %q after %d resolutions, want %q after %d", st.at, last, resolves, st.wantAuth, st.wantCalls)
		}
	}
}

// TestClientBuiltOnceForConcurrentCalls: calls that meet an empty cache at
// the same moment share one client (one connection pool), not one each.
func TestClientBuiltOnceForConcurrentCalls(t *testing.T) {
	const callers = 16
	// Every caller resolves the secret before any builds its client, as
	// when a foreach's first calls start together.
	var arrived sync.WaitGroup
	arrived.Add(callers)
	resolve := func(string) (string, error) {
		arrived.Done()
		waited := make(chan struct{})
		go func() { arrived.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
		}
		return "tok", nil
	}
	acts := &Activities{Registry: builtin.Registry(), Resolve: resolve}
	cfg := connectors.ConnectionConfig{Connector: "http", BaseURL: "http://127.0.0.1:1", Auth: &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:ACT_TOKEN"}}
	now := time.Unix(1_800_000_000, 0)
	got := make([]*connectors.Client, callers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range callers {
		done.Go(func() {
			start.Wait()
			c, err := acts.client(cfg, now)
			if err != nil {
				t.Error(err)
			}
			got[i] = c
		})
	}
	start.Done()
	done.Wait()
	for i, c := range got {
		if c == nil || c != got[0] {
			t.Fatalf("caller %d got client %p, caller 0 %p: want one client for all", i, c, got[0])
		}
	}
}
