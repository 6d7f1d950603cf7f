// Package triggers turns partner webhooks into runs: it verifies each
// delivery's signature over the raw bytes, names it by its dedupe key, and
// starts exactly one run per key, or delivers it to the run that waits for
// it. It answers 2xx only once Temporal has accepted the start or the
// signal, and keeps no state of its own.
package triggers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/api/serviceerror"

	"github.com/relay-dev/relay/apiserver"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/telemetry"
	"github.com/relay-dev/relay/triggers/verify"
	"github.com/relay-dev/relay/workflows"
)

// temporalDeadline bounds the start or signal of one delivery: partners
// give up on a webhook after a few seconds (Shopify after 5), and a 503
// they retry is better than a timeout. A start that succeeded after the
// deadline is not lost: the redelivery finds it and answers 200.
const temporalDeadline = 4 * time.Second

// Receiver serves every webhook path the loaded flows declare.
type Receiver struct {
	runs    *runs.Client
	logger  *slog.Logger
	paths   map[string]*pathRoutes
	metrics *telemetry.Metrics
	tracer  trace.Tracer
}

// Option configures a Receiver.
type Option func(*Receiver)

// WithMetrics counts deliveries by path and result, and dedupe hits, in m.
func WithMetrics(m *telemetry.Metrics) Option {
	return func(r *Receiver) { r.metrics = m }
}

// WithTracer makes a server span of every delivery, continuing the trace
// of the W3C `traceparent` the delivery carries; the run it starts joins
// the trace through the Temporal client's tracing interceptor. A nil
// tracer traces nothing.
func WithTracer(t trace.Tracer) Option {
	return func(r *Receiver) { r.tracer = t }
}

// pathRoutes is everything listening on one path. All routes of a path
// share one verification, so the signature is checked once.
type pathRoutes struct {
	path     string
	scheme   string
	verifier verify.Verifier
	// unusable says why the verifier could not be built (a secret that does
	// not resolve): deliveries are answered 503 so the partner retries.
	unusable error
	maxBody  int64
	start    *startRoute
	events   []*eventRoute
	verifyOf definitions.Verify
}

type startRoute struct {
	flow *definitions.Flow
	hook *definitions.Webhook
}

type eventRoute struct {
	flow  *definitions.Flow
	route *definitions.EventRoute
}

// NewReceiver builds the receiver for flows. resolve maps secret references
// to values. It refuses two flows starting runs on one path, and routes on
// one path that verify differently. Every delivery is logged once, with its
// request ID and result.
func NewReceiver(flows []*definitions.Flow, rc *runs.Client, resolve func(string) (string, error), logger *slog.Logger, opts ...Option) (*Receiver, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{runs: rc, logger: logger, paths: map[string]*pathRoutes{}}
	for _, o := range opts {
		o(r)
	}
	at := func(f *definitions.Flow, h *definitions.Webhook) (*pathRoutes, error) {
		pr := r.paths[h.Path]
		if pr == nil {
			pr = &pathRoutes{path: h.Path, scheme: h.Verify.Scheme, maxBody: h.MaxBody, verifyOf: h.Verify}
			pr.verifier, pr.unusable = buildVerifier(h.Verify, resolve)
			if pr.unusable != nil {
				logger.Error("webhook path refuses deliveries until its secret resolves", "path", h.Path, "flow", f.ID, "err", pr.unusable)
			}
			r.paths[h.Path] = pr
			return pr, nil
		}
		if !sameVerify(pr.verifyOf, h.Verify) {
			return nil, fmt.Errorf("webhook path %s: flow %s verifies deliveries differently from another route on the same path", h.Path, f.ID)
		}
		pr.maxBody = max(pr.maxBody, h.MaxBody)
		return pr, nil
	}
	for _, f := range flows {
		if f.Trigger != nil && f.Trigger.Webhook != nil {
			pr, err := at(f, f.Trigger.Webhook)
			if err != nil {
				return nil, err
			}
			if pr.start != nil {
				return nil, fmt.Errorf("webhook path %s: flows %s and %s both start runs from it", pr.path, pr.start.flow.ID, f.ID)
			}
			pr.start = &startRoute{flow: f, hook: f.Trigger.Webhook}
		}
		for _, ev := range f.Events {
			pr, err := at(f, ev.Webhook)
			if err != nil {
				return nil, err
			}
			pr.events = append(pr.events, &eventRoute{flow: f, route: ev})
		}
	}
	return r, nil
}

// Paths lists the paths served, sorted.
func (r *Receiver) Paths() []string {
	out := make([]string, 0, len(r.paths))
	for p := range r.paths {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func buildVerifier(v definitions.Verify, resolve func(string) (string, error)) (verify.Verifier, error) {
	cfg := verify.Config{
		Scheme: v.Scheme, Tolerance: v.Tolerance, Header: v.Header, Algorithm: v.Algorithm,
		Encoding: v.Encoding, Prefix: v.Prefix, Template: v.Template, TimestampHeader: v.TimestampHeader,
	}
	for _, ref := range v.Secrets {
		s, err := resolve(ref)
		if err != nil {
			return nil, fmt.Errorf("resolving webhook secret: %w", err)
		}
		cfg.Secrets = append(cfg.Secrets, s)
	}
	return verify.New(cfg)
}

func sameVerify(a, b definitions.Verify) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// ServeHTTP answers a delivery. Order of checks: unknown path 404, body
// over the limit 413, bad signature 401, malformed JSON 400, filtered out
// 200, Temporal unavailable 503; otherwise 202 once Temporal accepted the
// run or the event, or 200 for a delivery already seen.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	pr := r.paths[req.URL.Path]
	a := r.newAnswer(w, req, pr)
	defer a.finish()
	if pr == nil {
		a.error(http.StatusNotFound, telemetry.WebhookNotFound, "not_found", "no such endpoint")
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		a.error(http.StatusMethodNotAllowed, telemetry.WebhookMethodNotAllowed, "method_not_allowed", "webhooks are POSTed")
		return
	}
	if req.ContentLength > pr.maxBody {
		a.error(http.StatusRequestEntityTooLarge, telemetry.WebhookTooLarge, "too_large", fmt.Sprintf("body exceeds %d bytes", pr.maxBody))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, pr.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			a.error(http.StatusRequestEntityTooLarge, telemetry.WebhookTooLarge, "too_large", fmt.Sprintf("body exceeds %d bytes", pr.maxBody))
			return
		}
		a.error(http.StatusBadRequest, telemetry.WebhookBadRequest, "bad_request", "reading body failed")
		return
	}
	if pr.unusable != nil {
		w.Header().Set("Retry-After", "60")
		a.error(http.StatusServiceUnavailable, telemetry.WebhookNotConfigured, "not_configured", "this endpoint's signing secret is not available")
		return
	}
	if err := pr.verifier.Verify(req.Header, body); err != nil {
		a.error(http.StatusUnauthorized, telemetry.WebhookUnauthorized, "invalid_signature", err.Error())
		return
	}
	var parsed any
	if err := json.Unmarshal(body, &parsed); err != nil {
		a.error(http.StatusBadRequest, telemetry.WebhookBadRequest, "invalid_json", "body is not valid JSON")
		return
	}
	env := &definitions.TriggerEnv{Body: parsed, Headers: firstValues(req.Header), Query: firstValues(req.URL.Query())}
	delivery := r.deliveryID(pr, req.Header, body)
	a.log = a.log.With("delivery", delivery)
	ctx, cancel := context.WithTimeout(a.ctx, temporalDeadline)
	defer cancel()

	var answered bool
	if pr.start != nil {
		answered = r.start(ctx, a, pr.start, env, body, delivery)
	}
	if !answered && len(pr.events) > 0 {
		r.deliver(ctx, a, pr.events, env, delivery)
		return
	}
	if !answered {
		a.json(http.StatusOK, telemetry.WebhookIgnored, map[string]any{"status": "ignored", "request_id": apiserver.RequestID(req)})
	}
}

// answer is the response to one delivery. It writes it, and when the
// handler is done logs it once with the request ID, counts it and ends the
// delivery's span.
type answer struct {
	r       *Receiver
	w       http.ResponseWriter
	req     *http.Request
	ctx     context.Context // carries the delivery's span, if traced
	span    trace.Span      // nil when not traced
	log     *slog.Logger
	path    string // metric label: a declared path or telemetry.UnmatchedPath
	started time.Time

	status     int
	result     string
	code       string // of an error answer
	workflowID string
}

func (r *Receiver) newAnswer(w http.ResponseWriter, req *http.Request, pr *pathRoutes) *answer {
	a := &answer{r: r, w: w, req: req, ctx: req.Context(), path: telemetry.UnmatchedPath, started: time.Now()}
	if pr != nil {
		a.path = pr.path
	}
	log := r.logger.With("request_id", apiserver.RequestID(req), "path", req.URL.Path)
	if r.tracer != nil {
		ctx := propagation.TraceContext{}.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
		a.ctx, a.span = r.tracer.Start(ctx, "webhook "+a.path, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.request.method", req.Method),
			attribute.String("http.route", a.path),
			attribute.String("relay.request_id", apiserver.RequestID(req)),
		))
		log = log.With("trace_id", a.span.SpanContext().TraceID().String())
	}
	a.log = log
	return a
}

func (a *answer) json(status int, result string, body map[string]any) {
	a.status, a.result = status, result
	apiserver.WriteJSON(a.w, status, body)
}

func (a *answer) error(status int, result, code, msg string) {
	a.status, a.result, a.code = status, result, code
	apiserver.WriteError(a.w, a.req, status, code, msg)
}

func (a *answer) finish() {
	if a.status == 0 { // the handler panicked; the server answers 500
		a.status, a.result = http.StatusInternalServerError, "panic"
	}
	a.r.metrics.Webhook(a.path, a.result)
	if a.result == telemetry.WebhookDuplicate {
		a.r.metrics.DedupeHit(a.path)
	}
	level := slog.LevelInfo
	switch {
	case a.status >= 500:
		level = slog.LevelError
	case a.status >= 400:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{slog.String("result", a.result), slog.Int("status", a.status), slog.Duration("duration", time.Since(a.started))}
	if a.code != "" {
		attrs = append(attrs, slog.String("code", a.code))
	}
	if a.workflowID != "" {
		attrs = append(attrs, slog.String("workflow_id", a.workflowID))
	}
	a.log.LogAttrs(a.ctx, level, "webhook", attrs...)
	if a.span != nil {
		a.span.SetAttributes(attribute.Int("http.response.status_code", a.status), attribute.String("relay.result", a.result))
		if a.workflowID != "" {
			a.span.SetAttributes(attribute.String("relay.workflow_id", a.workflowID))
		}
		if a.status >= 500 {
			a.span.SetStatus(codes.Error, a.result)
		}
		a.span.End()
	}
}

// deliveryID is the provider's delivery ID, or the body's hash when the
// scheme carries none (a redelivery has the same body).
func (r *Receiver) deliveryID(pr *pathRoutes, h http.Header, body []byte) string {
	id := verify.DeliveryID(pr.scheme, h)
	if id == "" && pr.scheme == "stripe" {
		id = verify.StripeEventID(body)
	}
	if id == "" {
		sum := sha256.Sum256(body)
		id = "sha256-" + hex.EncodeToString(sum[:16])
	}
	return id
}

// start starts the route's flow; it reports false when the filter dropped
// the delivery and nothing was answered yet.
func (r *Receiver) start(ctx context.Context, a *answer, sr *startRoute, env *definitions.TriggerEnv, body []byte, delivery string) bool {
	req := a.req
	if sr.hook.Filter != nil {
		ok, err := sr.hook.Filter.BoolTrigger(env)
		if err != nil {
			a.error(http.StatusUnprocessableEntity, telemetry.WebhookUnprocessable, "filter_failed", err.Error())
			return true
		}
		if !ok {
			return false
		}
	}
	key := delivery
	if sr.hook.Dedupe != nil {
		v, err := sr.hook.Dedupe.EvalTrigger(env)
		if err != nil || v == nil || fmt.Sprint(v) == "" {
			a.error(http.StatusUnprocessableEntity, telemetry.WebhookUnprocessable, "no_dedupe_key", fmt.Sprintf("dedupe %q gave no key", sr.hook.Dedupe.Source))
			return true
		}
		key = fmt.Sprint(v)
	}
	input, err := triggerInput(sr.hook, env)
	if err != nil {
		a.error(http.StatusUnprocessableEntity, telemetry.WebhookUnprocessable, "invalid_input", err.Error())
		return true
	}
	a.workflowID = runs.WorkflowID(sr.flow.ID, key)
	run, err := r.runs.Start(ctx, sr.flow, input, runs.StartOptions{
		WorkflowID: a.workflowID,
		Dedupe:     true,
		Trigger:    &workflows.TriggerEvent{Path: sr.hook.Path, Delivery: delivery, Headers: safeHeaders(req.Header), Body: json.RawMessage(body)},
	})
	var dup *serviceerror.WorkflowExecutionAlreadyStarted
	var bad *runs.InputError
	switch {
	case errors.As(err, &bad):
		a.workflowID = ""
		a.error(http.StatusUnprocessableEntity, telemetry.WebhookUnprocessable, "invalid_input", bad.Err.Error())
	case errors.As(err, &dup):
		a.json(http.StatusOK, telemetry.WebhookDuplicate, map[string]any{"status": "duplicate", "workflow_id": a.workflowID, "run_id": dup.RunId, "request_id": apiserver.RequestID(req)})
	case err != nil:
		a.log.Error("starting run from webhook", "flow", sr.flow.ID, "workflow_id", a.workflowID, "err", err)
		a.w.Header().Set("Retry-After", "5")
		a.error(http.StatusServiceUnavailable, telemetry.WebhookUnavailable, "unavailable", "the run could not be started; retry later")
	default:
		a.json(http.StatusAccepted, telemetry.WebhookStarted, map[string]any{"status": "started", "workflow_id": run.WorkflowID, "run_id": run.RunID, "request_id": apiserver.RequestID(req)})
	}
	return true
}

func triggerInput(h *definitions.Webhook, env *definitions.TriggerEnv) (map[string]any, error) {
	if h.Input == nil {
		m, ok := env.Body.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("body is not a JSON object and the webhook has no input mapping")
		}
		return m, nil
	}
	v, err := h.Input.EvalTrigger(env)
	if err != nil {
		return nil, fmt.Errorf("input mapping: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("input mapping gave %T, want a mapping", v)
	}
	return m, nil
}

// deliver signals every matching event route's run.
func (r *Receiver) deliver(ctx context.Context, a *answer, routes []*eventRoute, env *definitions.TriggerEnv, delivery string) {
	req := a.req
	var delivered []string
	for _, er := range routes {
		ev := er.route
		if f := ev.Webhook.Filter; f != nil {
			ok, err := f.BoolTrigger(env)
			if err != nil || !ok {
				continue
			}
		}
		runKey, err := ev.Run.EvalTrigger(env)
		if err != nil || runKey == nil || fmt.Sprint(runKey) == "" {
			a.error(http.StatusUnprocessableEntity, telemetry.WebhookUnprocessable, "no_run_key", fmt.Sprintf("event %s: run %q gave no key", ev.Name, ev.Run.Source))
			return
		}
		key := fmt.Sprint(runKey)
		if ev.Key != nil {
			k, err := ev.Key.EvalTrigger(env)
			if err != nil {
				a.error(http.StatusUnprocessableEntity, telemetry.WebhookUnprocessable, "no_event_key", err.Error())
				return
			}
			key = fmt.Sprint(k)
		}
		data := env.Body
		if ev.Data != nil {
			if data, err = ev.Data.EvalTrigger(env); err != nil {
				a.error(http.StatusUnprocessableEntity, telemetry.WebhookUnprocessable, "invalid_data", err.Error())
				return
			}
		}
		workflowID := runs.WorkflowID(er.flow.ID, fmt.Sprint(runKey))
		a.workflowID = workflowID
		event := workflows.Event{ID: delivery, Name: ev.Name, Key: key, Data: data}
		if ev.Start != nil {
			err := r.signalWithStart(ctx, er, env, workflowID, event)
			var ended *serviceerror.WorkflowExecutionAlreadyStarted
			if errors.As(err, &ended) {
				a.json(http.StatusOK, telemetry.WebhookRunEnded, map[string]any{"status": "run_ended", "workflow_id": workflowID, "request_id": apiserver.RequestID(req)})
				return
			}
			if err != nil {
				var bad *runs.InputError
				if errors.As(err, &bad) {
					a.error(http.StatusUnprocessableEntity, telemetry.WebhookUnprocessable, "invalid_input", bad.Err.Error())
				} else {
					// Temporal's error stays in the log, under the request ID.
					a.log.Error("signal-with-start", "event", ev.Name, "workflow_id", workflowID, "err", err)
					a.w.Header().Set("Retry-After", "5")
					a.error(http.StatusServiceUnavailable, telemetry.WebhookUnavailable, "unavailable", "the event could not be delivered; retry later")
				}
				return
			}
			delivered = append(delivered, workflowID)
			continue
		}
		err = r.runs.Temporal.SignalWorkflow(ctx, workflowID, "", workflows.EventSignal, event)
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			if _, derr := r.runs.Temporal.DescribeWorkflowExecution(ctx, workflowID, ""); derr == nil {
				// The run exists and has ended (a late or redelivered
				// event): nothing will ever wait for it, so do not make
				// the partner retry.
				a.json(http.StatusOK, telemetry.WebhookRunEnded, map[string]any{"status": "run_ended", "workflow_id": workflowID, "request_id": apiserver.RequestID(req)})
				return
			}
			// The run may not have started yet: the partner retries later.
			a.error(http.StatusConflict, telemetry.WebhookNoWaitingRun, "no_waiting_run", fmt.Sprintf("no run %s is open to receive %s yet", workflowID, ev.Name))
			return
		case err != nil:
			a.log.Error("delivering event", "event", ev.Name, "workflow_id", workflowID, "err", err)
			a.w.Header().Set("Retry-After", "5")
			a.error(http.StatusServiceUnavailable, telemetry.WebhookUnavailable, "unavailable", "the event could not be delivered; retry later")
			return
		}
		delivered = append(delivered, workflowID)
	}
	if len(delivered) == 0 {
		a.workflowID = ""
		a.json(http.StatusOK, telemetry.WebhookIgnored, map[string]any{"status": "ignored", "request_id": apiserver.RequestID(req)})
		return
	}
	a.workflowID = strings.Join(delivered, ",")
	a.json(http.StatusAccepted, telemetry.WebhookDelivered, map[string]any{"status": "delivered", "workflow_ids": delivered, "request_id": apiserver.RequestID(req)})
}

// signalWithStart delivers the event, starting the run with the route's
// start mapping if it does not exist yet.
func (r *Receiver) signalWithStart(ctx context.Context, er *eventRoute, env *definitions.TriggerEnv, workflowID string, ev workflows.Event) error {
	v, err := er.route.Start.EvalTrigger(env)
	if err != nil {
		return &runs.InputError{Flow: er.flow.ID, Err: fmt.Errorf("event %s start mapping: %w", er.route.Name, err)}
	}
	input, ok := v.(map[string]any)
	if !ok {
		return &runs.InputError{Flow: er.flow.ID, Err: fmt.Errorf("event %s start mapping gave %T, want a mapping", er.route.Name, v)}
	}
	_, err = r.runs.SignalWithStart(ctx, er.flow, input, runs.StartOptions{WorkflowID: workflowID}, ev)
	return err
}

func firstValues(h map[string][]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		if len(vs) > 0 {
			out[k] = vs[0]
		}
	}
	return out
}

// secretHeaders are never kept with a delivery.
var secretHeaders = []string{"authorization", "cookie", "proxy-authorization", "x-api-key"}

// safeHeaders keeps a delivery's headers for its run's history, without
// credentials. Signatures are kept: they prove nothing without the secret.
func safeHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for k, vs := range h {
		lk := strings.ToLower(k)
		if len(vs) == 0 || strings.Contains(lk, "token") || strings.Contains(lk, "secret") {
			continue
		}
		secret := false
		for _, s := range secretHeaders {
			if lk == s {
				secret = true
			}
		}
		if !secret {
			out[k] = vs[0]
		}
	}
	return out
}
