// Package telemetry is relay's observability: Prometheus metrics (relay's
// own and the Temporal SDK's, on one private registry) and OpenTelemetry
// tracing, off unless an OTLP endpoint is configured.
//
// Every recorder method works on a nil *Metrics and records nothing, so
// packages take a *Metrics (or an interface it satisfies) and callers that
// do not care pass nil.
package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Webhook results, the `result` label of relay_webhooks_total.
const (
	WebhookStarted          = "started"
	WebhookDuplicate        = "duplicate"
	WebhookDelivered        = "delivered"
	WebhookIgnored          = "ignored"
	WebhookRunEnded         = "run_ended"
	WebhookNoWaitingRun     = "no_waiting_run"
	WebhookUnauthorized     = "unauthorized"
	WebhookTooLarge         = "too_large"
	WebhookBadRequest       = "bad_request"
	WebhookUnprocessable    = "unprocessable"
	WebhookNotFound         = "not_found"
	WebhookMethodNotAllowed = "method_not_allowed"
	WebhookNotConfigured    = "not_configured"
	WebhookUnavailable      = "unavailable"
)

// UnmatchedPath is the `path` label of deliveries to a path no flow
// declares, so arbitrary URLs cannot grow the label set.
const UnmatchedPath = "unmatched"

// Retry layers, the `layer` label of relay_connector_retries_total.
const (
	// RetryHTTP is a retry inside one attempt, by the connector's client.
	RetryHTTP = "http"
	// RetryTemporal is another attempt of the activity, by Temporal.
	RetryTemporal = "temporal"
)

// latencyBuckets (seconds) replace OpenTelemetry's millisecond-sized
// defaults for the SDK's timers.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// retryAfterBuckets (seconds) span the waits partners ask for, from a
// second to the hour some ask of a client that overran its quota.
var retryAfterBuckets = []float64{1, 2, 5, 10, 30, 60, 120, 300, 900, 3600}

// Metrics holds relay's Prometheus registry and everything recorded in it.
type Metrics struct {
	registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
	temporal client.MetricsHandler

	webhooks    *prometheus.CounterVec
	dedupeHits  *prometheus.CounterVec
	requests    *prometheus.CounterVec
	retries     *prometheus.CounterVec
	retryAfters *prometheus.HistogramVec
}

// NewMetrics builds a private registry with relay's metrics, the Go
// runtime's and a Temporal SDK metrics handler that writes into it.
func NewMetrics() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("building the Prometheus exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(exporter),
		sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: latencyBuckets}},
		)),
	)
	m := &Metrics{
		registry: reg,
		provider: provider,
		temporal: temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
			Meter:                provider.Meter("go.temporal.io/sdk"),
			UseMonotonicCounters: true,
			// A metric the meter refuses is lost, never a reason to panic
			// in a worker.
			OnError: func(error) {},
		}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_webhooks_total",
			Help: "Webhook deliveries by path and result (started, duplicate, delivered, ignored, unauthorized, too_large, unavailable, ...).",
		}, []string{"path", "result"}),
		dedupeHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_webhook_dedupe_hits_total",
			Help: "Webhook deliveries whose dedupe key named a run that already exists.",
		}, []string{"path"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_connector_requests_total",
			Help: "HTTP requests (each try) to partner APIs by connector, action and status class (2xx, 3xx, 4xx, 5xx, timeout, network, canceled).",
		}, []string{"connector", "action", "status_class"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relay_connector_retries_total",
			Help: "Retries of connector calls: layer http within one attempt, layer temporal as a new activity attempt.",
		}, []string{"connector", "layer"}),
		retryAfters: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "relay_connector_retry_after_seconds",
			Help:    "Retry-After delays partners asked for on retryable failures.",
			Buckets: retryAfterBuckets,
		}, []string{"connector"}),
	}
	for _, c := range []prometheus.Collector{
		m.webhooks, m.dedupeHits, m.requests, m.retries, m.retryAfters,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return m, nil
}

// Handler serves the registry in the Prometheus text format; nil for a
// nil *Metrics.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return nil
	}
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Registry is the registry every metric is in, for tests and for adding
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// TemporalHandler is the Temporal SDK metrics handler (client.Options
// MetricsHandler); workflows reach it through workflow.GetMetricsHandler.
// A nil *Metrics gives the SDK's no-op handler.
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	if m == nil {
		return client.MetricsNopHandler
	}
	return m.temporal
}

// Shutdown stops the meter provider.
func (m *Metrics) Shutdown(ctx context.Context) error {
	if m == nil {
		return nil
	}
	return m.provider.Shutdown(ctx)
}

// Webhook counts one delivery to path with its result.
func (m *Metrics) Webhook(path, result string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(path, result).Inc()
}

// DedupeHit counts a delivery to path that named an existing run.
func (m *Metrics) DedupeHit(path string) {
	if m == nil {
		return
	}
	m.dedupeHits.WithLabelValues(path).Inc()
}

// ConnectorRequest counts one HTTP try of a connector's action.
func (m *Metrics) ConnectorRequest(connector, action, statusClass string) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(connector, action, statusClass).Inc()
}

// ConnectorRetry counts one retry of a connector call in layer (RetryHTTP
// or RetryTemporal).
func (m *Metrics) ConnectorRetry(connector, layer string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(connector, layer).Inc()
}

// ConnectorRetryAfter records the delay a partner asked for.
func (m *Metrics) ConnectorRetryAfter(connector string, wait time.Duration) {
	if m == nil {
		return
	}
	m.retryAfters.WithLabelValues(connector).Observe(wait.Seconds())
}
