package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/builtin"
	"github.com/relay-dev/relay/telemetry"
)

// TestCallObserved checks what one call leaves behind: connector metrics
// by status class, retries and Retry-After, a span whose context reaches
// the partner as traceparent, and log lines with the workflow ID and step
// but no secret.
func TestCallObserved(t *testing.T) {
	const token = "tok_observed_5c1e"
	t.Setenv("ACT_OBS_TOKEN", token)
	var (
		mu          sync.Mutex
		tries       int
		traceparent []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tries++
		n := tries
		traceparent = append(traceparent, r.Header.Get("Traceparent"))
		mu.Unlock()
		switch {
		case r.URL.Path == "/later":
			w.Header().Set("Retry-After", "90")
			w.WriteHeader(http.StatusTooManyRequests)
		case n == 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte(`{"ok":true}`))
		}
	}))
	defer srv.Close()

	m, err := telemetry.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	var logs bytes.Buffer
	reg := builtin.Registry()
	acts := &Activities{
		Registry:      reg,
		Metrics:       m,
		Logger:        slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ClientOptions: connectors.ClientOptions{RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond, RetryAfterCap: 2 * time.Second, Tracer: tp.Tracer("test")},
	}
	cfg := connectors.ConnectionConfig{Connector: "http", BaseURL: srv.URL, Auth: &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:ACT_OBS_TOKEN"}}

	// The activity's span, as the Temporal tracing interceptor would start it.
	ctx, parent := tp.Tracer("test").Start(context.Background(), "RunActivity:http.request")
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.SetWorkerOptions(worker.Options{BackgroundActivityContext: ctx})
	env.RegisterActivityWithOptions(acts.Call, activity.RegisterOptions{Name: "http.request"})
	for _, path := range []string{"/ok", "/later"} {
		_, _ = env.ExecuteActivity("http.request", CallInput{Flow: "orders", Step: "crm" + path, Connection: "crm", Config: cfg,
			Connector: "http", Action: "request", Params: map[string]any{"url": path}})
	}
	parent.End()

	count := func(class string) float64 {
		return metricValue(t, m, "relay_connector_requests_total", map[string]string{"connector": "http", "action": "request", "status_class": class})
	}
	if got := count("5xx"); got != 1 {
		t.Errorf("5xx tries = %v, want 1", got)
	}
	if got := count("2xx"); got != 1 {
		t.Errorf("2xx tries = %v, want 1", got)
	}
	if got := count("4xx"); got != 1 { // 90s is over the cap: handed to Temporal after one try
		t.Errorf("4xx tries = %v, want 1", got)
	}
	if got := metricValue(t, m, "relay_connector_retries_total", map[string]string{"connector": "http", "layer": "http"}); got != 1 {
		t.Errorf("in-attempt retries = %v, want 1", got)
	}
	// 1s waited in-attempt, 90s handed to Temporal.
	if got := metricValue(t, m, "relay_connector_retry_after_seconds", map[string]string{"connector": "http"}); got != 91 {
		t.Errorf("retry-after sum = %vs, want 91s", got)
	}

	want := parent.SpanContext().TraceID().String()
	for i, tp := range traceparent {
		if !strings.Contains(tp, want) {
			t.Errorf("try %d: traceparent %q does not carry trace %s", i+1, tp, want)
		}
	}
	var httpSpans int
	for _, sp := range exp.GetSpans() {
		if strings.HasPrefix(sp.Name, "HTTP ") {
			httpSpans++
			if sp.Parent.SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("span %s is not a child of the activity's", sp.Name)
			}
		}
	}
	if httpSpans != len(traceparent) {
		t.Errorf("%d HTTP spans for %d tries", httpSpans, len(traceparent))
	}

	var lines int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if rec["msg"] != "step call completed" && rec["msg"] != "step call failed" {
			continue
		}
		lines++
		if _, ok := rec["workflow_id"]; !ok || rec["step"] == "" || rec["flow"] != "orders" || rec["trace_id"] != want {
			t.Errorf("call log line lacks workflow_id, step, flow or trace_id: %s", line)
		}
	}
	if lines != 2 {
		t.Errorf("%d call log lines, want 2:\n%s", lines, logs.String())
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("logs hold the token:\n%s", logs.String())
	}
}

// metricValue is the value of a counter, or the sum of a histogram, in
// the series with labels; 0 if there is none.
func metricValue(t *testing.T, m *telemetry.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, metric := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range metric.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			if h := metric.GetHistogram(); h != nil {
				return h.GetSampleSum()
			}
			return metric.GetCounter().GetValue()
		}
	}
	return 0
}
