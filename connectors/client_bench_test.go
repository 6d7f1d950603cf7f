package connectors_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/stripe"
	"github.com/relay-dev/relay/sandbox"
)

// BenchmarkClientOverhead measures one GET through the retrying,
// redacting, authenticating client against the same GET through a bare
// net/http client on the same transport, side by side in one run, and
// reports the ratio of their rates.
//
//	go test ./connectors -run '^$' -bench ClientOverhead
func BenchmarkClientOverhead(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"cus_1","object":"customer","email":"ada@example.com"}`)
	}))
	defer srv.Close()
	b.Setenv("BENCH_TOKEN", "sk_test_bench")
	transport := &http.Transport{MaxIdleConnsPerHost: 16}
	bare := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	c, err := connectors.NewClient(connectors.ConnectionConfig{BaseURL: srv.URL, Auth: &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:BENCH_TOKEN"}}, nil,
		connectors.ClientOptions{HTTPClient: &http.Client{Transport: transport}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	viaBare := func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/customers/cus_1", nil)
		req.Header.Set("Authorization", "Bearer sk_test_bench")
		resp, err := bare.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	viaClient := func() {
		if _, err := c.Do(ctx, &connectors.Request{Method: http.MethodGet, Path: "/v1/customers/cus_1"}); err != nil {
			b.Fatal(err)
		}
	}
	for range 100 { // warm both connection pools
		viaBare()
		viaClient()
	}
	var bareTime, clientTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		viaBare()
		t1 := time.Now()
		viaClient()
		bareTime += t1.Sub(t0)
		clientTime += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(n/bareTime.Seconds(), "bare-req/s")
	b.ReportMetric(n/clientTime.Seconds(), "client-req/s")
	b.ReportMetric(bareTime.Seconds()/clientTime.Seconds(), "ratio")
}

// BenchmarkStripeAction measures requests/s through one connector action,
// create_customer, against the sandbox (idempotency store and all), without
// Temporal.
//
//	go test ./connectors -run '^$' -bench StripeAction
func BenchmarkStripeAction(b *testing.B) {
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	b.Setenv("BENCH_STRIPE_KEY", "sk_test_bench")
	cfg := connectors.ConnectionConfig{Connector: "stripe", BaseURL: srv.URL + "/stripe", Auth: &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:BENCH_STRIPE_KEY"}}
	c, err := connectors.NewClient(cfg, nil, connectors.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	action := stripe.Connector().Action("create_customer")
	ctx := context.Background()
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		params, _ := connectors.ParamDefaults(action, map[string]any{"email": "ada@example.com"})
		if _, err := action.Do(ctx, &connectors.Call{Connection: "bench", Config: cfg, Client: c, Params: params, IdempotencyKey: fmt.Sprintf("bench-%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
