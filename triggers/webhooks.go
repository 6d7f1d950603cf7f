// Package triggers turns partner webhooks into runs: it verifies each
// delivery's signature over the raw bytes, names it by its dedupe key, and
// starts exactly one run per key and delivers it to every run that waits
// for it. It answers 2xx only once Temporal has accepted the start or the
// signal, and keeps no state of its own.
package triggers

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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
	// legacy holds, by the ID of each flow with a route, whether an
	// earlier relay may have named runs of the flow in exponent form (see
	// legacyRun). Built with the routes; only its entries change.
	legacy map[string]*legacyNames
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
	path   string
	scheme string
	// verifier holds the verify.Verifier once the path's secrets resolved
	// (see usable).
	verifier atomic.Value
	// resolve maps the path's secret references to their values.
	resolve func(string) (string, error)
	// retry guards unusable and retryAt: why the verifier could not be
	// built (a secret that does not resolve), and when to try again.
	// Meanwhile deliveries are answered 503 so the partner retries.
	retry    sync.Mutex
	unusable error
	retryAt  time.Time
	maxBody  int64
	// signatures are the headers a run's trigger leaves out.
	signatures []string
	start      *startRoute
	events     []*eventRoute
	verifyOf   definitions.Verify
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
// one path that verify differently; a path may carry a start route and any
// number of event routes, and each delivery goes to all of them. Every
// delivery is logged once, with its request ID and result.
func NewReceiver(flows []*definitions.Flow, rc *runs.Client, resolve func(string) (string, error), logger *slog.Logger, opts ...Option) (*Receiver, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{runs: rc, logger: logger, paths: map[string]*pathRoutes{}, legacy: map[string]*legacyNames{}}
	for _, o := range opts {
		o(r)
	}
	at := func(f *definitions.Flow, h *definitions.Webhook) (*pathRoutes, error) {
		pr := r.paths[h.Path]
		if pr == nil {
			pr = &pathRoutes{path: h.Path, scheme: h.Verify.Scheme, maxBody: h.MaxBody, verifyOf: h.Verify,
				signatures: verify.SignatureHeaders(verify.Config{Header: h.Verify.Header, TimestampHeader: h.Verify.TimestampHeader})}
			pr.resolve = resolve
			if _, err := pr.usable(time.Now()); err != nil {
				logger.Error("webhook path refuses deliveries until its secret resolves", "path", h.Path, "flow", f.ID, "err", err)
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
		if f.Trigger != nil && f.Trigger.Webhook != nil || len(f.Events) > 0 {
			r.legacy[f.ID] = &legacyNames{query: legacyQuery(f.ID)}
		}
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

// secretRetry is how often a path whose secrets did not resolve tries
// again: a secret set after the process started is used without a
// restart.
const secretRetry = 10 * time.Second

// usable returns the path's verifier, building it again at most every
// secretRetry while its secrets do not resolve, or why it cannot.
func (pr *pathRoutes) usable(now time.Time) (verify.Verifier, error) {
	if v, ok := pr.verifier.Load().(verify.Verifier); ok {
		return v, nil
	}
	pr.retry.Lock()
	defer pr.retry.Unlock()
	if v, ok := pr.verifier.Load().(verify.Verifier); ok {
		return v, nil
	}
	if now.Before(pr.retryAt) {
		return nil, pr.unusable
	}
	v, err := buildVerifier(pr.verifyOf, pr.resolve)
	if err != nil {
		pr.unusable, pr.retryAt = err, now.Add(secretRetry)
		return nil, err
	}
	pr.verifier.Store(v)
	return v, nil
}

func sameVerify(a, b definitions.Verify) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// ServeHTTP answers a delivery. Order of checks: unknown path 404, body
// over the limit 413, bad signature 401, malformed JSON 400; then every
// route of the path gets the delivery and the answer sums their outcomes
// up (see respond): Temporal unavailable 503, a run not there yet 409, 202
// once Temporal accepted a run or an event, a refused route 422, or 200
// for a delivery filtered out, already seen or too late.
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
	verifier, err := pr.usable(time.Now())
	if err != nil {
		w.Header().Set("Retry-After", "60")
		a.error(http.StatusServiceUnavailable, telemetry.WebhookNotConfigured, "not_configured", "this endpoint's signing secret is not available")
		return
	}
	if err := verifier.Verify(req.Header, body); err != nil {
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
	if id := verify.DeliveryID(pr.scheme, req.Header); id != "" && id != delivery {
		a.log = a.log.With("provider_delivery", id)
	}
	ctx, cancel := context.WithTimeout(a.ctx, temporalDeadline)
	defer cancel()

	// Every route of the path is tried, each with its own outcome, and the
	// answer sums them up (respond): one flow's run having ended, or its
	// keys not resolving, never keeps the delivery from another flow.
	//
	// A start route does not hide the path's event routes either: one
	// partner endpoint (a Stripe account's, say) commonly carries both the
	// events that start one flow and those another flow's runs wait for,
	// and refusing such paths would make users split endpoints that the
	// partner may not let them split. Delivering to both is safe to retry:
	// a redelivery finds the started run by its workflow ID (duplicate) and
	// the waiting runs drop an event whose ID they have seen.
	var outs []*outcome
	if pr.start != nil {
		outs = append(outs, r.start(ctx, a, pr, env, body, delivery))
	}
	for _, er := range pr.events {
		outs = append(outs, r.deliver(ctx, a, er, env, delivery))
	}
	a.respond(outs)
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
	dedupeHit  bool // a start route found its run already started
	// routes is each route's "flow[/event]=status[:code]" on a path with
	// several, for the log: a route refused beside one that delivered is
	// logged nowhere else.
	routes []string
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
	if a.dedupeHit || a.result == telemetry.WebhookDuplicate {
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
	if len(a.routes) > 0 {
		attrs = append(attrs, slog.Any("routes", a.routes))
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

// Statuses of a route's outcome, as the answer's `routes` show them.
const (
	statusStarted      = "started"
	statusDelivered    = "delivered"
	statusDuplicate    = "duplicate"
	statusRunEnded     = "run_ended"
	statusIgnored      = "ignored"
	statusNoWaitingRun = "no_waiting_run"
	statusUnavailable  = "unavailable"
	statusRefused      = "refused"
)

// outcome is what became of a delivery on one route of its path.
type outcome struct {
	Flow string `json:"flow"`
	// Event names an event route; it is empty for the path's start route.
	Event      string `json:"event,omitempty"`
	Status     string `json:"status"`
	WorkflowID string `json:"workflow_id,omitempty"`
	RunID      string `json:"run_id,omitempty"`
	// Code and Message say why the route was refused or failed.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`

	http   int    // the answer the route alone gets
	result string // its telemetry result
}

// answers are what a route's outcome alone answers, by status: its HTTP
// status and its telemetry result. Any other status is a refusal, 422.
var answers = map[string]struct {
	http   int
	result string
}{
	statusStarted:      {http.StatusAccepted, telemetry.WebhookStarted},
	statusDelivered:    {http.StatusAccepted, telemetry.WebhookDelivered},
	statusDuplicate:    {http.StatusOK, telemetry.WebhookDuplicate},
	statusRunEnded:     {http.StatusOK, telemetry.WebhookRunEnded},
	statusIgnored:      {http.StatusOK, telemetry.WebhookIgnored},
	statusNoWaitingRun: {http.StatusConflict, telemetry.WebhookNoWaitingRun},
	statusUnavailable:  {http.StatusServiceUnavailable, telemetry.WebhookUnavailable},
	statusRefused:      {http.StatusUnprocessableEntity, telemetry.WebhookUnprocessable},
}

func (o *outcome) is(status string) *outcome {
	ans, ok := answers[status]
	if !ok {
		ans = answers[statusRefused]
	}
	o.Status, o.http, o.result = status, ans.http, ans.result
	return o
}

// refuse is a route's delivery that no retry can fix: 422.
func (o *outcome) refuse(code, msg string) *outcome {
	o.Code, o.Message = code, msg
	return o.is(statusRefused)
}

// unavailable is a route's delivery Temporal could not take now: a retry
// may succeed.
func (o *outcome) unavailable(msg string) *outcome {
	o.Code, o.Message = statusUnavailable, msg
	return o.is(statusUnavailable)
}

// routedError is the error answer of a path with several routes: the
// usual error, and what became of the delivery on each route.
type routedError struct {
	Error  apiserver.ErrorDetail `json:"error"`
	Routes []*outcome            `json:"routes,omitempty"`
}

// respond answers a delivery from the outcomes of its path's routes, the
// first that applies:
//
//  1. a route Temporal could not take now: 503 with Retry-After. The
//     partner's retry is safe for the routes that succeeded: a start finds
//     its run by workflow ID (duplicate), a run drops an event whose ID
//     (the delivery's) it has seen;
//  2. a route whose run is not there yet: 409, which partners retry too;
//  3. a route that started a run or delivered an event: 202;
//  4. a route refused for good (a key or mapping that does not resolve,
//     an input that does not fit, Temporal refusing the start or the
//     signal, see rejected): its 4xx;
//  5. otherwise 200: duplicate, run_ended or ignored.
//
// The body is what a path with a single route always answered; a path with
// several routes adds `routes`, each route's outcome, in the order of the
// start route and then the event routes as the flows declare them.
func (a *answer) respond(outs []*outcome) {
	var ids []string
	first := map[int]*outcome{} // the first outcome of each HTTP status
	var start *outcome
	var delivered []string
	for _, o := range outs {
		if o.WorkflowID != "" {
			ids = append(ids, o.WorkflowID)
		}
		if first[o.http] == nil {
			first[o.http] = o
		}
		if o.Event == "" {
			start = o
		} else if o.Status == statusDelivered {
			delivered = append(delivered, o.WorkflowID)
		}
		if o.Status == statusDuplicate {
			a.dedupeHit = true
		}
	}
	a.workflowID = strings.Join(ids, ",")
	var routes []*outcome
	if len(outs) > 1 {
		routes = outs
		for _, o := range outs {
			s := o.Flow
			if o.Event != "" {
				s += "/" + o.Event
			}
			s += "=" + o.Status
			if o.Code != "" && o.Code != o.Status {
				s += ":" + o.Code
			}
			a.routes = append(a.routes, s)
		}
	}
	fail := func(o *outcome) {
		if o.http == http.StatusServiceUnavailable {
			a.w.Header().Set("Retry-After", "5")
		}
		a.status, a.result, a.code = o.http, o.result, o.Code
		apiserver.WriteJSON(a.w, o.http, routedError{Error: apiserver.ErrorDetail{Code: o.Code, Message: o.Message, RequestID: apiserver.RequestID(a.req)}, Routes: routes})
	}
	reply := func(status int, result string, body map[string]any) {
		body["request_id"] = apiserver.RequestID(a.req)
		if routes != nil {
			body["routes"] = routes
		}
		a.json(status, result, body)
	}
	if o := first[http.StatusServiceUnavailable]; o != nil {
		fail(o)
		return
	}
	if o := first[http.StatusConflict]; o != nil {
		fail(o)
		return
	}
	if first[http.StatusAccepted] != nil {
		body := map[string]any{"status": statusDelivered}
		result := telemetry.WebhookDelivered
		if start != nil && start.Status == statusStarted {
			body["status"], body["workflow_id"], body["run_id"] = statusStarted, start.WorkflowID, start.RunID
			result = telemetry.WebhookStarted
		}
		if len(delivered) > 0 {
			body["workflow_ids"] = delivered
		}
		reply(http.StatusAccepted, result, body)
		return
	}
	for _, o := range outs {
		if o.http >= 400 {
			fail(o)
			return
		}
	}
	if start != nil && start.Status == statusDuplicate {
		reply(http.StatusOK, telemetry.WebhookDuplicate, map[string]any{"status": statusDuplicate, "workflow_id": start.WorkflowID, "run_id": start.RunID})
		return
	}
	for _, o := range outs {
		if o.Status == statusRunEnded {
			reply(http.StatusOK, telemetry.WebhookRunEnded, map[string]any{"status": statusRunEnded, "workflow_id": o.WorkflowID})
			return
		}
	}
	a.workflowID = ""
	reply(http.StatusOK, telemetry.WebhookIgnored, map[string]any{"status": statusIgnored})
}

// deliveryID names a delivery by what its signature covers, so that a
// captured delivery sent again under a fresh delivery ID is the same
// delivery, not a new run: Standard Webhooks' webhook-id (signed), the
// event ID in a Stripe body, else the body's hash (a redelivery has the
// same body). GitHub and Shopify sign only the body, so their delivery ID
// headers, which anyone can change, name no delivery here; they are kept
// with the run's trigger and logged.
func (r *Receiver) deliveryID(pr *pathRoutes, h http.Header, body []byte) string {
	var id string
	switch pr.scheme {
	case verify.SchemeStandardWebhooks:
		id = verify.DeliveryID(pr.scheme, h)
	case verify.SchemeStripe:
		id = verify.StripeEventID(body)
	}
	if id == "" {
		sum := sha256.Sum256(body)
		id = "sha256-" + hex.EncodeToString(sum[:16])
	}
	return id
}

// keyOf is a dedupe or run key as text (definitions.Text), or false for
// what cannot name a run: nothing, an empty string, a list or a mapping
// (whose text would name a run no delivery could ever reach), or an
// inexact number (see exactKey).
func keyOf(v any) (string, bool) {
	if v == nil || exactKey(v) != nil {
		return "", false
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
		return "", false
	}
	k := definitions.Text(v)
	return k, k != ""
}

// becauseInexact says why v named no run when it is an inexact number.
func becauseInexact(v any) string {
	if err := exactKey(v); err != nil {
		return ": " + err.Error()
	}
	return ""
}

// exactKey refuses a number that may not be the one the partner sent: a
// JSON body's numbers decode as float64, exact up to 2^53 only, so order
// 9007199254740993 arrives as 9007199254740992 and would name, or wake,
// another order's run.
func exactKey(v any) error {
	if f, ok := v.(float64); ok && math.Abs(f) >= 1<<53 {
		return fmt.Errorf("the number %s is 2^53 or more, which JSON numbers do not hold exactly: the partner must send it as a string", definitions.Text(f))
	}
	return nil
}

// start starts the route's flow, once per dedupe key.
func (r *Receiver) start(ctx context.Context, a *answer, pr *pathRoutes, env *definitions.TriggerEnv, body []byte, delivery string) *outcome {
	sr := pr.start
	o := &outcome{Flow: sr.flow.ID}
	if sr.hook.Filter != nil {
		ok, err := sr.hook.Filter.BoolTrigger(env)
		if err != nil {
			return o.refuse("filter_failed", err.Error())
		}
		if !ok {
			return o.is(statusIgnored)
		}
	}
	key := delivery
	if sr.hook.Dedupe != nil {
		// Keys are text as a wait step writes them (definitions.Text),
		// so a JSON number names the run orders/12345678.
		v, err := sr.hook.Dedupe.EvalTrigger(env)
		k, ok := keyOf(v)
		if err != nil || !ok {
			return o.refuse("no_dedupe_key", fmt.Sprintf("dedupe %q gave no key%s", sr.hook.Dedupe.Source, becauseInexact(v)))
		}
		key = k
		legacy, runID, err := r.legacyRun(ctx, sr.flow.ID, v, key, true)
		if err != nil {
			return temporalFailed(a, o, "look for the run of an earlier relay", err)
		}
		if legacy != "" {
			o.WorkflowID, o.RunID = legacy, runID
			return o.is(statusDuplicate)
		}
	}
	input, err := triggerInput(sr.hook, env)
	if err != nil {
		return o.refuse("invalid_input", err.Error())
	}
	o.WorkflowID = runs.WorkflowID(sr.flow.ID, key)
	run, err := r.runs.Start(ctx, sr.flow, input, runs.StartOptions{
		WorkflowID: o.WorkflowID,
		Dedupe:     true,
		Trigger:    &workflows.TriggerEvent{Path: sr.hook.Path, Delivery: delivery, Headers: safeHeaders(a.req.Header, pr.signatures), Body: json.RawMessage(body)},
	})
	var dup *serviceerror.WorkflowExecutionAlreadyStarted
	var bad *runs.InputError
	switch {
	case errors.As(err, &bad):
		o.WorkflowID = ""
		return o.refuse("invalid_input", bad.Err.Error())
	case errors.As(err, &dup):
		o.RunID = dup.RunId
		return o.is(statusDuplicate)
	case err != nil:
		return temporalFailed(a, o, "start the run", err)
	}
	o.WorkflowID, o.RunID = run.WorkflowID, run.RunID
	return o.is(statusStarted)
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

// deliver signals the event route's run, or starts it with the event when
// the route has a start mapping.
func (r *Receiver) deliver(ctx context.Context, a *answer, er *eventRoute, env *definitions.TriggerEnv, delivery string) *outcome {
	ev := er.route
	o := &outcome{Flow: er.flow.ID, Event: ev.Name}
	if f := ev.Webhook.Filter; f != nil {
		ok, err := f.BoolTrigger(env)
		if err != nil || !ok {
			return o.is(statusIgnored)
		}
	}
	// The run and event keys are text as the wait step that compares them
	// writes its correlation (definitions.Text): a JSON number 12345678
	// is "12345678", not "1.2345678e+07".
	v, err := ev.Run.EvalTrigger(env)
	runKey, ok := keyOf(v)
	if err != nil || !ok {
		return o.refuse("no_run_key", fmt.Sprintf("event %s: run %q gave no key%s", ev.Name, ev.Run.Source, becauseInexact(v)))
	}
	key := runKey
	if ev.Key != nil {
		k, err := ev.Key.EvalTrigger(env)
		if err == nil {
			err = exactKey(k)
		}
		if err != nil {
			return o.refuse("no_event_key", err.Error())
		}
		key = definitions.Text(k)
	}
	data := env.Body
	if ev.Data != nil {
		if data, err = ev.Data.EvalTrigger(env); err != nil {
			return o.refuse("invalid_data", err.Error())
		}
	}
	o.WorkflowID = runs.WorkflowID(er.flow.ID, runKey)
	// The event's ID is the delivery's: a run drops an event whose ID it
	// has seen, so a partner's retry wakes nothing twice.
	event := workflows.Event{ID: delivery, Name: ev.Name, Key: key, Data: data}
	if ev.Start != nil {
		// The run may be an earlier relay's, which a start must not
		// duplicate: ask first.
		legacy, _, err := r.legacyRun(ctx, er.flow.ID, v, runKey, true)
		if err != nil {
			return temporalFailed(a, o, "look for the run of an earlier relay", err)
		}
		o.WorkflowID = cmp.Or(legacy, o.WorkflowID)
		err = r.signalWithStart(ctx, er, env, o.WorkflowID, event)
		var ended *serviceerror.WorkflowExecutionAlreadyStarted
		var bad *runs.InputError
		switch {
		case errors.As(err, &ended):
			return o.is(statusRunEnded)
		case errors.As(err, &bad):
			return o.refuse("invalid_input", bad.Err.Error())
		case err != nil:
			return temporalFailed(a, o, "deliver the event", err)
		}
		return o.is(statusDelivered)
	}
	err = r.runs.Temporal.SignalWorkflow(ctx, o.WorkflowID, "", workflows.EventSignal, event)
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		if _, derr := r.runs.Temporal.DescribeWorkflowExecution(ctx, o.WorkflowID, ""); derr == nil {
			// The run exists and has ended (a late or redelivered
			// event): nothing will ever wait for it, so do not make
			// the partner retry.
			return o.is(statusRunEnded)
		}
		// Only now, off the common path: an earlier relay's run.
		legacy, _, lerr := r.legacyRun(ctx, er.flow.ID, v, runKey, false)
		if lerr != nil {
			return temporalFailed(a, o, "look for the run of an earlier relay", lerr)
		}
		if legacy != "" {
			o.WorkflowID = legacy
			err := r.runs.Temporal.SignalWorkflow(ctx, legacy, "", workflows.EventSignal, event)
			switch {
			case errors.As(err, &nf):
				return o.is(statusRunEnded)
			case err != nil:
				return temporalFailed(a, o, "deliver the event", err)
			}
			return o.is(statusDelivered)
		}
		// The run may not have started yet: the partner retries later.
		o.Code, o.Message = statusNoWaitingRun, fmt.Sprintf("no run %s is open to receive %s yet", o.WorkflowID, ev.Name)
		return o.is(statusNoWaitingRun)
	case err != nil:
		return temporalFailed(a, o, "deliver the event", err)
	}
	return o.is(statusDelivered)
}

// temporalFailed is the outcome of a route whose start or signal (what,
// "start the run" or "deliver the event") Temporal did not take: 422 for
// a refusal no retry fixes (see rejected), else 503. Temporal's error
// stays in the log, under the request ID.
func temporalFailed(a *answer, o *outcome, what string, err error) *outcome {
	if cause, ok := rejected(err); ok {
		a.log.Warn("Temporal refused to "+what, "flow", o.Flow, "event", o.Event, "workflow_id", o.WorkflowID, "err", err)
		return o.refuse("rejected", "Temporal refused to "+what+": "+cause)
	}
	a.log.Error("could not "+what, "flow", o.Flow, "event", o.Event, "workflow_id", o.WorkflowID, "err", err)
	return o.unavailable("could not " + what + "; retry later")
}

// rejected returns the cause of a Temporal refusal that no retry fixes,
// and whether err is one: an invalid argument (a payload over the blob
// size limit, a workflow ID over the length limit) or a failed
// precondition. Everything else may pass and stays 503 with Retry-After:
// Unavailable, DeadlineExceeded, ResourceExhausted, Canceled, a namespace
// failing over (NamespaceNotActive, a FailedPrecondition of a type of its
// own) and errors of any other kind. The cause is Temporal's message,
// which names the limit, never a payload or a secret.
func rejected(err error) (string, bool) {
	var invalid *serviceerror.InvalidArgument
	var precondition *serviceerror.FailedPrecondition
	var cause string
	switch {
	case errors.As(err, &invalid):
		cause = invalid.Message
	case errors.As(err, &precondition):
		cause = precondition.Message
	default:
		return "", false
	}
	const maxCause = 300
	if len(cause) > maxCause {
		cause = strings.ToValidUTF8(cause[:maxCause], "") + "…"
	}
	return cause, true
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
// credentials and without signatures, the signature headers of every
// scheme (see verify.SignatureHeaders): the run's trigger is shown to
// anyone with runs:read, and a signature with its body is a delivery they
// could send again, under a fresh delivery ID where the scheme does not
// sign one (GitHub, Shopify), to start new runs. Nothing needs them later:
// replays and reruns re-use the stored trigger without verifying it.
// Delivery IDs, the content type and the like are kept.
func safeHeaders(h http.Header, signatures []string) map[string]string {
	out := map[string]string{}
	for k, vs := range h {
		lk := strings.ToLower(k)
		if len(vs) == 0 || strings.Contains(lk, "token") || strings.Contains(lk, "secret") ||
			slices.Contains(secretHeaders, lk) || slices.Contains(signatures, http.CanonicalHeaderKey(k)) {
			continue
		}
		out[k] = vs[0]
	}
	return out
}
