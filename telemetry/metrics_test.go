package telemetry

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/client"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestMetricsExposition(t *testing.T) {
	m, err := NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	// A second registry in the same process must not collide.
	if _, err := NewMetrics(); err != nil {
		t.Fatalf("second NewMetrics: %v", err)
	}
	m.Webhook("/hooks/shop", WebhookStarted)
	m.Webhook("/hooks/shop", WebhookDuplicate)
	m.DedupeHit("/hooks/shop")
	m.ConnectorRequest("http", "request", "2xx")
	m.ConnectorRequest("http", "request", "5xx")
	m.ConnectorRequest("http", "request", "5xx")
	m.ConnectorRetry("http", RetryHTTP)
	m.ConnectorRetryAfter("stripe", 90*time.Second)
	h := m.TemporalHandler().WithTags(map[string]string{"namespace": "default"})
	h.Counter("temporal_request").Inc(3)
	h.Timer("temporal_request_latency").Record(30 * time.Millisecond)
	h.Gauge("temporal_num_pollers").Update(2)
	h.WithTags(map[string]string{"flow": "order", "status": "completed"}).Counter("relay_runs").Inc(1)

	out := scrape(t, m)
	for _, want := range []string{
		`relay_webhooks_total{path="/hooks/shop",result="started"} 1`,
		`relay_webhooks_total{path="/hooks/shop",result="duplicate"} 1`,
		`relay_webhook_dedupe_hits_total{path="/hooks/shop"} 1`,
		`relay_connector_requests_total{action="request",connector="http",status_class="5xx"} 2`,
		`relay_connector_retries_total{connector="http",layer="http"} 1`,
		`relay_connector_retry_after_seconds_bucket{connector="stripe",le="120"} 1`,
		`relay_connector_retry_after_seconds_bucket{connector="stripe",le="60"} 0`,
		`# TYPE temporal_request_total counter`,
		`temporal_request_total{namespace="default"} 3`,
		`temporal_request_latency_seconds_bucket{namespace="default",le="0.05"} 1`,
		`temporal_num_pollers{namespace="default"} 2`,
		`relay_runs_total{flow="order",namespace="default",status="completed"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(out, "otel_scope") || strings.Contains(out, "target_info") {
		t.Error("/metrics carries OpenTelemetry scope or target info")
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", out)
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestNilIsOff(t *testing.T) {
	var m *Metrics
	m.Webhook("/hooks/x", WebhookStarted)
	m.DedupeHit("/hooks/x")
	m.ConnectorRequest("http", "request", "2xx")
	m.ConnectorRetry("http", RetryTemporal)
	m.ConnectorRetryAfter("http", time.Second)
	if m.Handler() != nil {
		t.Error("nil Metrics has a handler")
	}
	if m.TemporalHandler() != client.MetricsNopHandler {
		t.Error("nil Metrics gives a Temporal handler that records")
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}

	var tr *Tracing
	if tr.Tracer("x") != nil {
		t.Error("nil Tracing gives a tracer")
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestTracing(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tr := NewTracing(tp)
	if _, err := tr.TemporalInterceptor(); err != nil {
		t.Fatal(err)
	}
	_, span := tr.Tracer("test").Start(context.Background(), "op")
	span.End()
	if got := exp.GetSpans(); len(got) != 1 || got[0].Name != "op" {
		t.Errorf("spans = %v", got)
	}
}

func TestStartOTLPIsLazy(t *testing.T) {
	// The exporter connects in the background: a collector that is not
	// there yet must not stop relay from starting.
	for _, endpoint := range []string{"127.0.0.1:1", "http://127.0.0.1:1"} {
		tr, err := StartOTLP(context.Background(), endpoint, "relay test")
		if err != nil {
			t.Fatalf("StartOTLP(%s): %v", endpoint, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = tr.Shutdown(ctx)
		cancel()
	}
}
