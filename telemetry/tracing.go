package telemetry

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Propagator reads and writes W3C `traceparent` and `tracestate`: on
// webhooks, in Temporal headers and on requests to partners.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Tracing is relay's tracer provider. A nil *Tracing means tracing is off:
// no spans, and no `traceparent` sent to partners.
type Tracing struct {
	provider trace.TracerProvider
	shutdown func(context.Context) error
}

// NewTracing traces with provider (tests use an SDK provider with an
// in-memory exporter).
func NewTracing(provider trace.TracerProvider) *Tracing {
	return &Tracing{provider: provider, shutdown: func(context.Context) error { return nil }}
}

// StartOTLP exports spans over OTLP/gRPC to endpoint: a URL
// (`http://collector:4317`, `https://…` for TLS) or a plain host:port,
// which is dialled without TLS. The usual OTEL_EXPORTER_OTLP_* variables
// (headers, timeout, compression) apply. service names relay's process in
// the spans' resource (`relay dev`, `relay worker`).
func StartOTLP(ctx context.Context, endpoint, service string) (*Tracing, error) {
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(endpoint)}
	if !strings.Contains(endpoint, "://") {
		opts = []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure()}
	}
	exporter, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("building the OTLP exporter for %s: %w", endpoint, err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", "relay"),
		attribute.String("relay.process", service),
	))
	if err != nil {
		return nil, fmt.Errorf("describing the trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return &Tracing{provider: tp, shutdown: tp.Shutdown}, nil
}

// Tracer returns a named tracer, or nil when tracing is off.
func (t *Tracing) Tracer(name string) trace.Tracer {
	if t == nil {
		return nil
	}
	return t.provider.Tracer(name)
}

// TemporalInterceptor is the Temporal SDK's tracing interceptor on t's
// provider. Set on the client, it also applies to the workers built from
// that client: StartWorkflow, RunWorkflow, StartActivity and RunActivity
// spans, linked through Temporal headers.
func (t *Tracing) TemporalInterceptor() (interceptor.Interceptor, error) {
	return temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer:            t.provider.Tracer("go.temporal.io/sdk"),
		TextMapPropagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	})
}

// Shutdown flushes the spans not yet exported.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.shutdown(ctx)
}
