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

	clients sync.Map // connection config fingerprint -> *connectors.Client
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
	client, err := a.client(in.Config)
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
		if ce.Retryable && ce.RetryAfter == 0 && in.Backoff != nil && in.Backoff.Jitter > 0 {
			ce.RetryAfter = in.Backoff.Delay(attempt, rand.Float64())
		}
		return nil, failure(ce, attempt)
	}
	return &CallResult{Output: out, Attempt: attempt}, nil
}

func (a *Activities) client(cfg connectors.ConnectionConfig) (*connectors.Client, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	key := hex.EncodeToString(sum[:])
	if c, ok := a.clients.Load(key); ok {
		return c.(*connectors.Client), nil
	}
	resolve := a.Resolve
	if resolve == nil {
		resolve = secrets.Resolve
	}
	opts := a.ClientOptions
	if opts.Logger == nil {
		opts.Logger = a.Logger
	}
	if opts.Metrics == nil && a.Metrics != nil {
		opts.Metrics = a.Metrics
	}
	c, err := connectors.NewClient(cfg, resolve, opts)
	if err != nil {
		return nil, err
	}
	actual, _ := a.clients.LoadOrStore(key, c)
	return actual.(*connectors.Client), nil
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
