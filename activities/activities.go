// Package activities is the one bridge between Temporal and connectors: it
// resolves a connection's secrets, calls the connector action, and maps the
// outcome to a Temporal result or failure. Secrets never leave it: inputs
// carry secret references, errors are redacted before they become failures.
package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/secrets"
	"github.com/relay-dev/relay/telemetry"
)

// CallInput is the input of every `<connector>.<action>` activity. It holds
// no secret values.
type CallInput struct {
	Flow           string                      `json:"flow"`
	Step           string                      `json:"step"`
	Connection     string                      `json:"connection"`
	Config         connectors.ConnectionConfig `json:"config"`
	Connector      string                      `json:"connector"`
	Action         string                      `json:"action"`
	Params         map[string]any              `json:"params"`
	IdempotencyKey string                      `json:"idempotency_key"`
	// Backoff, when set, makes a retryable failure ask Temporal for a
	// jittered delay instead of the retry policy's exact one.
	Backoff *Backoff `json:"backoff,omitempty"`
}

// Backoff is the retry policy's delay curve and its jitter.
type Backoff struct {
	InitialInterval    time.Duration `json:"initial_interval"`
	BackoffCoefficient float64       `json:"backoff_coefficient"`
	MaxInterval        time.Duration `json:"max_interval"`
	// Jitter spreads each delay by up to this fraction either way.
	Jitter float64 `json:"jitter"`
}

// Delay is the jittered delay before the attempt after attempt.
func (b *Backoff) Delay(attempt int32, random float64) time.Duration {
	d := float64(b.InitialInterval) * math.Pow(b.BackoffCoefficient, float64(attempt-1))
	if b.MaxInterval > 0 && d > float64(b.MaxInterval) {
		d = float64(b.MaxInterval)
	}
	d *= 1 + b.Jitter*(2*random-1)
	return max(time.Duration(d), time.Millisecond)
}

// MaxRetryAfter is the longest a partner's Retry-After (or another wait a
// connector asks for) delays a step's next attempt, unless the step's
// max_interval is longer: a partner asking for a day does not park a run
// for a day where the flow's author allowed minutes. Raising max_interval
// raises the limit.
const MaxRetryAfter = 10 * time.Minute

// limitRetryAfter bounds the wait ce asks for by the step's max_interval or
// MaxRetryAfter, whichever is longer, and says so in its message.
func limitRetryAfter(ce *connectors.Error, p *temporal.RetryPolicy) {
	limit := MaxRetryAfter
	if p != nil {
		limit = max(limit, p.MaximumInterval)
	}
	if ce.RetryAfter > limit {
		ce.Message += fmt.Sprintf(" (asked to wait %v; waiting %v, the longer of the step's max_interval and %v)", ce.RetryAfter, limit, MaxRetryAfter)
		ce.RetryAfter = limit
	}
}

// CallResult is what a successful call returns to the workflow.
type CallResult struct {
	Output  any   `json:"output"`
	Attempt int32 `json:"attempt"`
}

// ErrorTypeUnknown is the Temporal error type of failures that carry no
// classification of their own.
const ErrorTypeUnknown = "error"

// Activities holds what every call needs. Its zero value is not usable:
// set Registry.
type Activities struct {
	Registry *connectors.Registry
	// Resolve maps a secret reference to its value; nil means secrets.Resolve.
	Resolve func(ref string) (string, error)
	// ClientOptions configure the HTTP client of each connection.
	ClientOptions connectors.ClientOptions
	// Logger receives one line per call (debug when it succeeded, warn when
	// it failed), with the workflow ID and step; nil means none.
	Logger *slog.Logger
	// Metrics, if set, counts retries by Temporal and is the connector
	// clients' Metrics unless ClientOptions has its own.
	Metrics *telemetry.Metrics

	clients sync.Map // connection config fingerprint -> *cachedClient
}

// Call runs one connector action. It is registered once per action under
// the action's activity type.
func (a *Activities) Call(ctx context.Context, in CallInput) (res *CallResult, err error) {
	info := activity.GetInfo(ctx)
	attempt := info.Attempt
	if attempt > 1 {
		a.Metrics.ConnectorRetry(in.Connector, telemetry.RetryTemporal)
	}
	started := time.Now()
	defer func() { a.log(ctx, info, in, started, err) }()
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attribute.String("relay.flow", in.Flow), attribute.String("relay.step", in.Step),
			attribute.String("relay.connection", in.Connection), attribute.Int("relay.attempt", int(attempt)))
	}
	conn := a.Registry.Lookup(in.Connector)
	if conn == nil {
		return nil, failure(&connectors.Error{Type: "unknown_connector", Message: fmt.Sprintf("connector %q is not registered on this worker", in.Connector)}, attempt)
	}
	action := conn.Action(in.Action)
	if action == nil {
		return nil, failure(&connectors.Error{Type: "unknown_action", Message: fmt.Sprintf("connector %q has no action %q", in.Connector, in.Action)}, attempt)
	}
	params, err := connectors.ParamDefaults(action, in.Params)
	if err != nil {
		return nil, failure(err, attempt)
	}
	client, err := a.client(in.Config, time.Now())
	if err != nil {
		return nil, failure(&connectors.Error{Type: "connection", Message: fmt.Sprintf("preparing connection %q: %v", in.Connection, err)}, attempt)
	}
	out, err := action.Do(connectors.WithAction(ctx, in.Action), &connectors.Call{
		Connection:     in.Connection,
		Config:         in.Config,
		Client:         client,
		Params:         params,
		IdempotencyKey: in.IdempotencyKey,
	})
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, err
		}
		ce := redacted(client, err)
		switch {
		case !ce.Retryable:
		case ce.RetryAfter > 0:
			limitRetryAfter(ce, info.RetryPolicy)
		case in.Backoff != nil && in.Backoff.Jitter > 0:
			ce.RetryAfter = in.Backoff.Delay(attempt, rand.Float64())
		}
		return nil, failure(ce, attempt)
	}
	return &CallResult{Output: out, Attempt: attempt}, nil
}

// secretsRecheck is how often a connection's cached client resolves its
// secret references again: a rotated secret (a new value under the same
// env: or file: reference) is used within this long, without a restart.
const secretsRecheck = 30 * time.Second

// cachedClient is a connection's client and the secret values it was
// built with, by reference.
type cachedClient struct {
	client  *connectors.Client
	secrets map[string]string
	checked atomic.Int64 // unix nanoseconds of the last resolution
}

// client is the connection's client as of now: a cached one, built again
// when a secret it was built with resolves to a new value.
func (a *Activities) client(cfg connectors.ConnectionConfig, now time.Time) (*connectors.Client, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	key := hex.EncodeToString(sum[:])
	resolve := a.Resolve
	if resolve == nil {
		resolve = secrets.Resolve
	}
	v, cached := a.clients.Load(key)
	if cached {
		cc := v.(*cachedClient)
		last := cc.checked.Load()
		if now.UnixNano()-last < int64(secretsRecheck) || !cc.checked.CompareAndSwap(last, now.UnixNano()) {
			return cc.client, nil
		}
		if !rotated(cc.secrets, resolve) {
			return cc.client, nil
		}
	}
	opts := a.ClientOptions
	if opts.Logger == nil {
		opts.Logger = a.Logger
	}
	if opts.Metrics == nil && a.Metrics != nil {
		opts.Metrics = a.Metrics
	}
	cc := &cachedClient{secrets: map[string]string{}}
	c, err := connectors.NewClient(cfg, func(ref string) (string, error) {
		v, err := resolve(ref)
		if err == nil {
			cc.secrets[ref] = v
		}
		return v, err
	}, opts)
	if err != nil {
		return nil, err
	}
	cc.client = c
	cc.checked.Store(now.UnixNano())
	if !cached {
		// Calls that met an empty cache at once all use the first
		// client stored: one connection pool per connection.
		v, _ := a.clients.LoadOrStore(key, cc)
		return v.(*cachedClient).client, nil
	}
	a.clients.Store(key, cc)
	return c, nil
}

// rotated reports whether a secret resolves to another value than the one
// a client was built with. A reference that no longer resolves keeps the
// client it has: the next recheck tries again.
func rotated(built map[string]string, resolve func(string) (string, error)) bool {
	for ref, old := range built {
		if v, err := resolve(ref); err == nil && v != old {
			return true
		}
	}
	return false
}

// log writes the call's outcome. Failures carry only their redacted
// message: every error Call returns went through redacted or holds no
// secret.
func (a *Activities) log(ctx context.Context, info activity.Info, in CallInput, started time.Time, err error) {
	if a.Logger == nil {
		return
	}
	level, msg := slog.LevelDebug, "step call completed"
	if err != nil {
		level, msg = slog.LevelWarn, "step call failed"
	}
	if !a.Logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("workflow_id", info.WorkflowExecution.ID),
		slog.String("run_id", info.WorkflowExecution.RunID),
		slog.String("flow", in.Flow),
		slog.String("step", in.Step),
		slog.String("connection", in.Connection),
		slog.String("activity", info.ActivityType.Name),
		slog.Int("attempt", int(info.Attempt)),
		slog.Duration("duration", time.Since(started)),
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	if err != nil {
		var ae *temporal.ApplicationError
		if errors.As(err, &ae) {
			attrs = append(attrs, slog.String("error_type", ae.Type()), slog.Bool("retryable", !ae.NonRetryable()))
			if d := ae.NextRetryDelay(); d > 0 {
				attrs = append(attrs, slog.Duration("next_retry_delay", d))
			}
		}
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	a.Logger.LogAttrs(ctx, level, msg, attrs...)
}

// redacted returns err as a *connectors.Error whose message holds no secret
// the client knows of.
func redacted(client *connectors.Client, err error) *connectors.Error {
	ce, ok := connectors.AsError(err)
	if !ok {
		ce = &connectors.Error{Type: ErrorTypeUnknown, Retryable: true, Message: err.Error()}
	}
	out := *ce
	out.Message = client.Redact(out.Message)
	return &out
}

// failure maps a classified error to a Temporal application error. The
// attempt number travels as the error's details so the run can show it.
func failure(err error, attempt int32) error {
	ce, ok := connectors.AsError(err)
	if !ok {
		ce = &connectors.Error{Type: ErrorTypeUnknown, Retryable: true, Message: err.Error()}
	}
	return temporal.NewApplicationErrorWithOptions(ce.Message, ce.Type, temporal.ApplicationErrorOptions{
		NonRetryable:   !ce.Retryable,
		NextRetryDelay: ce.RetryAfter,
		Details:        []any{attempt},
	})
}
