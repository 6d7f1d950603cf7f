package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"google.golang.org/grpc"

	"github.com/relay-dev/relay/apiserver"
	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/builtin"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/devserver"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/telemetry"
	"github.com/relay-dev/relay/triggers"
	"github.com/relay-dev/relay/triggers/verify"
	"github.com/relay-dev/relay/worker"
)

const (
	obsPartnerToken = "sk_test_obs_3b8d1e"
	// obsTraceID is the trace the shop's delivery belongs to.
	obsTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	obsTraceparent = "00-" + obsTraceID + "-00f067aa0ba902b7-01"
)

// obsFlow starts a run per order and calls the partner twice: once as an
// activity, once (a short action) as a local activity, which fails once
// with a 503 and is retried within the attempt.
const obsFlow = `
id: obs-order
version: 1
inputs:
  order_id: {type: string, required: true}
connections:
  partner:
    connector: http
    base_url: {{PARTNER}}
    auth: {kind: bearer, token: env:OBS_PARTNER_TOKEN}
trigger:
  webhook:
    path: /hooks/obs/orders
    verify: {scheme: standard_webhooks, secrets: [env:OBS_SHOP_SECRET]}
    dedupe: body.order.id
    input:
      order_id: ${{ body.order.id }}
steps:
  - id: create
    call: partner.request
    local: false
    with: {method: POST, url: /orders, body: {order: "${{ input.order_id }}"}}
  - id: check
    call: partner.request
    with: {url: /flaky, query: {order: "${{ input.order_id }}"}}
`

// obsPartner answers 2xx, except the first GET /flaky, which gets a 503.
// It keeps the traceparent of every request.
type obsPartner struct {
	*httptest.Server
	mu          sync.Mutex
	flaky       int
	traceparent []string
}

func newObsPartner(t *testing.T) *obsPartner {
	p := &obsPartner{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.traceparent = append(p.traceparent, r.Header.Get("Traceparent"))
		first := false
		if r.URL.Path == "/flaky" {
			p.flaky++
			first = p.flaky == 1
		}
		p.mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, map[string]any{"id": "ord_1", "ok": true})
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *obsPartner) traceparents() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.traceparent...)
}

// obsPost posts a signed order to url, with extra headers.
func obsPost(t *testing.T, url string, body []byte, sign bool, header map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if sign {
		h, err := verify.Sign(verify.Config{Scheme: "standard_webhooks", Secrets: []string{shopSecret}}, body, time.Now(), "msg_"+strconv.Itoa(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range h {
			req.Header[k] = vs
		}
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// promSample is one line of the Prometheus text format.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

var promLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var promLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func scrapeMetrics(t *testing.T, url string) []promSample {
	t.Helper()
	resp, body := httpGet(t, url)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s = %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []promSample
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := promLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a Prometheus sample: %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		s := promSample{name: m[1], labels: map[string]string{}, value: v}
		for _, l := range promLabel.FindAllStringSubmatch(m[2], -1) {
			s.labels[l[1]] = l[2]
		}
		out = append(out, s)
	}
	return out
}

// metricSum sums the samples of name whose labels include want.
func metricSum(samples []promSample, name string, want map[string]string) (sum float64, found bool) {
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		sum += s.value
		found = true
	}
	return sum, found
}

// obsWant is the expected sum of the samples of name with labels.
type obsWant struct {
	name   string
	labels map[string]string
	sum    float64
}

// checkSeries reports every expectation the samples do not meet.
func checkSeries(samples []promSample, want []obsWant) error {
	var problems []string
	for _, w := range want {
		if got, found := metricSum(samples, w.name, w.labels); !found || got != w.sum {
			problems = append(problems, fmt.Sprintf("%s%v = %v (found %v), want %v", w.name, w.labels, got, found, w.sum))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// jsonLogs parses JSON log lines; other lines fail the test.
func jsonLogs(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		out = append(out, rec)
	}
	return out
}

// TestObservability runs the receiver, the worker and the embedded server
// in this process, with metrics, an in-memory span exporter and JSON logs,
// and checks what one traced delivery, its redelivery and a forged one
// leave in each.
func TestObservability(t *testing.T) {
	t.Setenv("OBS_PARTNER_TOKEN", obsPartnerToken)
	partner := newObsPartner(t)
	metrics, err := telemetry.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	spans := tracetest.NewInMemoryExporter()
	tracing := telemetry.NewTracing(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)))
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{Ephemeral: true, UIPort: devserver.UIDisabled, SearchAttributes: runs.SearchAttributeTypes()})
	if err != nil {
		t.Fatalf("starting embedded Temporal: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	tracer, err := tracing.TemporalInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: quietLogger{},
		MetricsHandler: metrics.TemporalHandler(), Interceptors: []interceptor.ClientInterceptor{tracer}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	reg := builtin.Registry()
	w, err := worker.New(c, worker.Options{Registry: reg, Logger: logger, Metrics: metrics,
		Client: connectors.ClientOptions{RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond, Tracer: tracing.Tracer("relay/connectors")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	flow, err := definitions.Parse("obs.yaml", []byte(strings.ReplaceAll(obsFlow, "{{PARTNER}}", partner.URL)), reg)
	if err != nil {
		t.Fatal(err)
	}
	rc := &runs.Client{Temporal: c, Namespace: srv.Namespace(), TaskQueue: worker.DefaultTaskQueue, Flows: map[string]*definitions.Flow{flow.ID: flow}}
	resolve := func(ref string) (string, error) {
		return map[string]string{"env:OBS_SHOP_SECRET": shopSecret}[ref], nil
	}
	recv, err := triggers.NewReceiver([]*definitions.Flow{flow}, rc, resolve, logger,
		triggers.WithMetrics(metrics), triggers.WithTracer(tracing.Tracer("relay/triggers")))
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer((&apiserver.Server{Webhooks: recv, Metrics: metrics.Handler(), Logger: logger}).Handler())
	t.Cleanup(api.Close)
	hook := api.URL + "/hooks/obs/orders"

	body := order("o-obs-1", "order.created")
	status, first := obsPost(t, hook, body, true, map[string]string{"Traceparent": obsTraceparent, apiserver.RequestIDHeader: "req-obs-first"})
	if status != http.StatusAccepted || first["workflow_id"] != "obs-order/o-obs-1" {
		t.Fatalf("first delivery: %d %v", status, first)
	}
	if status, again := obsPost(t, hook, body, true, nil); status != http.StatusOK || again["status"] != "duplicate" {
		t.Fatalf("redelivery: %d %v", status, again)
	}
	if status, forged := obsPost(t, hook, body, false, nil); status != http.StatusUnauthorized {
		t.Fatalf("unsigned delivery: %d %v", status, forged)
	}
	if err := c.GetWorkflow(ctx, "obs-order/o-obs-1", "").Get(ctx, nil); err != nil {
		t.Fatalf("run: %v", err)
	}

	t.Run("metrics", func(t *testing.T) {
		const path = "/hooks/obs/orders"
		want := []obsWant{
			{"relay_webhooks_total", map[string]string{"path": path, "result": "started"}, 1},
			{"relay_webhooks_total", map[string]string{"path": path, "result": "duplicate"}, 1},
			{"relay_webhooks_total", map[string]string{"path": path, "result": "unauthorized"}, 1},
			{"relay_webhook_dedupe_hits_total", map[string]string{"path": path}, 1},
			{"relay_connector_requests_total", map[string]string{"connector": "http", "action": "request", "status_class": "2xx"}, 2},
			{"relay_connector_requests_total", map[string]string{"connector": "http", "action": "request", "status_class": "5xx"}, 1},
			{"relay_connector_retries_total", map[string]string{"connector": "http", "layer": "http"}, 1},
			{"relay_runs_total", map[string]string{"flow": "obs-order", "status": "completed", "workflow_type": "relay.run", "task_queue": worker.DefaultTaskQueue}, 1},
			{"temporal_workflow_completed_total", map[string]string{"workflow_type": "relay.run", "namespace": srv.Namespace()}, 1},
			{"temporal_activity_execution_latency_seconds_count", map[string]string{"activity_type": "http.request"}, 1},
			{"temporal_local_activity_total", map[string]string{"activity_type": "http.request"}, 1},
			{"temporal_request_total", map[string]string{"operation": "StartWorkflowExecution"}, 2}, // delivery and redelivery
		}
		// The SDK counts a completed workflow once the server took the
		// completion, which may be after the run's result is readable.
		eventually(t, "the expected series", func() error {
			samples := scrapeMetrics(t, api.URL+"/metrics")
			if err := checkSeries(samples, want); err != nil {
				return err
			}
			for _, name := range []string{"temporal_num_pollers", "temporal_worker_task_slots_available", "temporal_workflow_task_execution_latency_seconds_bucket"} {
				if _, found := metricSum(samples, name, nil); !found {
					return fmt.Errorf("no %s series", name)
				}
			}
			return nil
		})
	})

	t.Run("traces", func(t *testing.T) {
		want := []string{"webhook /hooks/obs/orders", "StartWorkflow:relay.run", "RunWorkflow:relay.run",
			"StartActivity:http.request", "RunActivity:http.request", "HTTP POST", "HTTP GET"}
		var names map[string]int
		eventually(t, "the run's spans", func() error {
			names = map[string]int{}
			for _, s := range spans.GetSpans() {
				if s.SpanContext.TraceID().String() == obsTraceID {
					names[s.Name]++
				}
			}
			for _, n := range want {
				if names[n] == 0 {
					return fmt.Errorf("no span %q in trace %s; have %v", n, obsTraceID, names)
				}
			}
			return nil
		})
		if names["HTTP GET"] != 2 { // the 503, then the retry
			t.Errorf("%d HTTP GET spans, want 2", names["HTTP GET"])
		}
		tps := partner.traceparents()
		if len(tps) != 3 {
			t.Fatalf("partner saw %d requests, want 3", len(tps))
		}
		for i, tp := range tps {
			if parts := strings.Split(tp, "-"); len(parts) != 4 || parts[1] != obsTraceID {
				t.Errorf("partner request %d: traceparent %q, want trace %s", i+1, tp, obsTraceID)
			}
		}
	})

	t.Run("logs", func(t *testing.T) {
		out := logs.String()
		for _, secret := range []string{obsPartnerToken, shopSecret} {
			if strings.Contains(out, secret) {
				t.Errorf("logs hold secret %q", secret)
			}
		}
		var webhooks, calls int
		for _, rec := range jsonLogs(t, out) {
			switch rec["msg"] {
			case "webhook":
				webhooks++
				if id, _ := rec["request_id"].(string); id == "" {
					t.Errorf("webhook line without request_id: %v", rec)
				}
				if rec["request_id"] == "req-obs-first" && (rec["workflow_id"] != "obs-order/o-obs-1" || rec["result"] != "started" || rec["trace_id"] != obsTraceID) {
					t.Errorf("first delivery's line: %v", rec)
				}
			case "step call completed", "step call failed":
				calls++
				if rec["workflow_id"] != "obs-order/o-obs-1" || (rec["step"] != "create" && rec["step"] != "check") || rec["trace_id"] != obsTraceID {
					t.Errorf("call line without workflow_id, step or trace_id: %v", rec)
				}
			}
		}
		if webhooks != 3 || calls != 2 {
			t.Errorf("%d webhook lines (want 3), %d call lines (want 2):\n%s", webhooks, calls, out)
		}
	})
}

// obsCollector is an OTLP/gRPC trace collector that keeps the trace IDs
// and names of the spans it receives.
type obsCollector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans map[string][]string // trace ID (hex) -> span names
}

func (c *obsCollector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				id := fmt.Sprintf("%x", s.GetTraceId())
				c.spans[id] = append(c.spans[id], s.GetName())
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (c *obsCollector) names(traceID string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.spans[traceID]...)
}

// TestObservabilityDev checks the wiring of `relay dev`: /metrics with
// relay's and the SDK's series, spans exported over OTLP to a collector
// (--otlp-endpoint), and JSON logs (--log-format json).
func TestObservabilityDev(t *testing.T) {
	partner := newObsPartner(t)
	collector := &obsCollector{spans: map[string][]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(gs, collector)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)

	defs := t.TempDir()
	if err := os.WriteFile(filepath.Join(defs, "obs.yaml"), []byte(strings.ReplaceAll(obsFlow, "{{PARTNER}}", partner.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	ports := distinctPorts(t, 3)
	apiPort := ports[0]
	api := "http://" + localAddr(apiPort)
	dev := startRelay(t, "relay dev", t.TempDir(), []string{"OBS_SHOP_SECRET=" + shopSecret, "OBS_PARTNER_TOKEN=" + obsPartnerToken},
		"dev", "--ephemeral", "--no-sandbox", "--ui-port", "-1", "--port", strconv.Itoa(ports[1]), "--temporal-http-port", strconv.Itoa(ports[2]),
		"--http-addr", localAddr(apiPort), "--definitions", defs,
		"--log-format", "json", "--log-level", "debug", "--otlp-endpoint", "http://"+ln.Addr().String())
	dev.waitReady(t, api+"/readyz")

	status, res := obsPost(t, api+"/hooks/obs/orders", order("o-dev-1", "order.created"), true, map[string]string{"Traceparent": obsTraceparent})
	if status != http.StatusAccepted {
		t.Fatalf("delivery: %d %v", status, res)
	}
	eventually(t, "the run's series", func() error {
		return checkSeries(scrapeMetrics(t, api+"/metrics"), []obsWant{
			{"relay_runs_total", map[string]string{"flow": "obs-order", "status": "completed"}, 1},
			{"relay_webhooks_total", map[string]string{"path": "/hooks/obs/orders", "result": "started"}, 1},
			{"relay_connector_requests_total", map[string]string{"connector": "http", "status_class": "2xx"}, 2},
			{"temporal_workflow_completed_total", map[string]string{"workflow_type": "relay.run"}, 1},
		})
	})
	for i, tp := range partner.traceparents() {
		if !strings.Contains(tp, obsTraceID) {
			t.Errorf("partner request %d: traceparent %q, want trace %s", i+1, tp, obsTraceID)
		}
	}

	dev.interrupt(t) // flushes the spans not yet exported
	names := strings.Join(collector.names(obsTraceID), ", ")
	for _, want := range []string{"webhook /hooks/obs/orders", "StartWorkflow:relay.run", "RunWorkflow:relay.run", "RunActivity:http.request", "HTTP POST", "HTTP GET"} {
		if !strings.Contains(names, want) {
			t.Errorf("collector has no span %q in trace %s; has %s", want, obsTraceID, names)
		}
	}

	var delivery, calls bool
	for _, line := range strings.Split(dev.stderr.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("stderr line is not JSON: %s", line)
			continue
		}
		switch rec["msg"] {
		case "webhook":
			delivery = rec["request_id"] != nil && rec["workflow_id"] == "obs-order/o-dev-1"
		case "step call completed":
			calls = calls || rec["workflow_id"] == "obs-order/o-dev-1" && rec["step"] != nil
		}
	}
	if !delivery || !calls {
		t.Errorf("stderr lacks the delivery's line with request_id and workflow_id (%v) or a call line with workflow_id and step (%v):\n%s", delivery, calls, dev.stderr.String())
	}
	for _, secret := range []string{obsPartnerToken, shopSecret} {
		if strings.Contains(dev.stderr.String(), secret) {
			t.Errorf("relay dev's log holds secret %q", secret)
		}
	}
}
