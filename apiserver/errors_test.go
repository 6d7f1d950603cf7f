package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/relay-dev/relay/runs"
)

// TestErrorStatus maps the errors the runs backend returns to responses.
// A transient failure (Temporal unavailable or slow, a query no worker
// answers) is 503 with Retry-After, an error the API does not know is 500,
// both with a generic message and the cause only in the log; the refusals
// of the runs package keep their statuses and say why. An unknown error
// was 422 with its raw text, which is how Temporal's addresses and a
// replay's "no poller seen" reached clients.
func TestErrorStatus(t *testing.T) {
	const secret = "10.1.2.3:7233"
	noWorker := status.Error(codes.FailedPrecondition, "no poller seen for task queue recently, worker may be down "+secret)
	tests := []struct {
		name   string
		method string // the fake's method that fails, and so the route
		err    error
		status int
		code   string
		// has is in the message of a 4xx: the refusal says why.
		has string
	}{
		{name: "Temporal unavailable", method: "Show", err: fmt.Errorf("describing run: %w", serviceerror.NewUnavailable("dial tcp "+secret+": connection refused")), status: 503, code: "unavailable"},
		{name: "gRPC unavailable", method: "Show", err: status.Error(codes.Unavailable, "dial tcp "+secret), status: 503, code: "unavailable"},
		{name: "Temporal overloaded", method: "List", err: serviceerror.NewResourceExhausted(0, "namespace rps limit at "+secret), status: 503, code: "unavailable"},
		{name: "Temporal deadline exceeded", method: "Show", err: serviceerror.NewDeadlineExceeded("context deadline exceeded at " + secret), status: 503, code: "timeout"},
		{name: "context deadline exceeded", method: "Start", err: fmt.Errorf("starting flow hello at %s: %w", secret, context.DeadlineExceeded), status: 503, code: "timeout"},
		{name: "replay: no worker answers the steps query", method: "Replay", err: fmt.Errorf("reading the steps of %s: %w", sampleRun, noWorker), status: 503, code: "unavailable"},
		{name: "replay: the steps query timed out", method: "Replay", err: fmt.Errorf("reading the steps of %s: %w", sampleRun, serviceerror.NewDeadlineExceeded("query timed out at "+secret)), status: 503, code: "timeout"},
		{name: "rerun: an error the API does not know", method: "Rerun", err: fmt.Errorf("decoding the input of %s: cipher: message authentication failed (key k1 at %s)", sampleRun, secret), status: 500, code: "internal"},
		{name: "replay: an error the API does not know", method: "Replay", err: errors.New("run " + sampleRun + " has no history at " + secret), status: 500, code: "internal"},
		{name: "cancel: an error the API does not know", method: "Cancel", err: errors.New("unexpected EOF from " + secret), status: 500, code: "internal"},
		{name: "Temporal internal error", method: "Show", err: serviceerror.NewInternal("sql: database is locked at " + secret), status: 500, code: "internal"},
		{name: "replay: the steps query failed in the worker", method: "Replay", err: fmt.Errorf("reading the steps of %s: %w", sampleRun, serviceerror.NewQueryFailed("panic: nil map at "+secret)), status: 500, code: "internal"},

		{name: "no such run", method: "Show", err: fmt.Errorf("%w: %s", runs.ErrNotFound, sampleRun), status: 404, code: "not_found", has: "run not found"},
		{name: "plan refused", method: "Replay", err: fmt.Errorf("%w: step b never ran", runs.ErrPlanRefused), status: 422, code: "plan_refused", has: "replay plan refused"},
		{name: "idempotency key reused", method: "Start", err: fmt.Errorf("%w: run hello/key-1f2e was started under it with other input", runs.ErrKeyReused), status: 422, code: "idempotency_key_reused", has: "Idempotency-Key: idempotency key reused"},
		{name: "run closed", method: "Cancel", err: fmt.Errorf("cancelling: %w", &runs.RunClosedError{WorkflowID: sampleRun, Status: "failed"}), status: 409, code: "rejected", has: "has closed (failed)"},
		{name: "a flow: step's flow not loaded", method: "Start", err: &runs.FlowNotLoadedError{Flow: "order", Step: "bill", Missing: "invoice"}, status: 409, code: "flow_not_loaded", has: `step "bill" starts flow "invoice", which is not loaded`},
		{name: "replay: a flow: step's flow not loaded", method: "Replay", err: fmt.Errorf("planning: %w", &runs.FlowNotLoadedError{Flow: "order", Step: "bill", Missing: "invoice"}), status: 409, code: "flow_not_loaded", has: "not loaded"},
		{name: "no parked step", method: "RetryStep", err: fmt.Errorf("relay.retry_step: %w", runs.ErrNoParkedStep), status: 409, code: "rejected", has: "no parked step"},
		{name: "the run's validator refuses", method: "SkipStep", err: temporalApplicationError("run is not parked"), status: 409, code: "rejected", has: "run is not parked"},
		{name: "duplicate ID", method: "Start", err: serviceerror.NewWorkflowExecutionAlreadyStarted("workflow execution already started", "", ""), status: 409, code: "conflict", has: "already started"},
		{name: "input error", method: "Start", err: &runs.InputError{Flow: "hello", Err: errors.New(`input "name": required`)}, status: 422, code: "invalid_field", has: `input "name": required`},
	}
	routes := map[string]request{
		"Show":      {method: "GET", path: escapedRun},
		"List":      {method: "GET", path: "/v1/runs"},
		"Start":     {method: "POST", path: "/v1/runs", body: `{"flow":"hello"}`},
		"Replay":    {method: "POST", path: escapedRun + "/replay"},
		"Rerun":     {method: "POST", path: escapedRun + "/rerun", body: `{"confirm":true}`},
		"Cancel":    {method: "POST", path: escapedRun + "/cancel"},
		"RetryStep": {method: "POST", path: escapedRun + "/retry-step"},
		"SkipStep":  {method: "POST", path: escapedRun + "/skip-step", body: `{"output":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFakeRuns()
			fr.errs[tt.method] = tt.err
			var log bytes.Buffer
			s := testServer(t, fr)
			s.Logger = slog.New(slog.NewJSONHandler(&log, nil))
			rec := do(t, s.Handler(), routes[tt.method])
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			e := errorBody(t, rec)
			if e.Code != tt.code {
				t.Errorf("code %q, want %q", e.Code, tt.code)
			}
			if tt.status < 500 {
				if !strings.Contains(e.Message, tt.has) {
					t.Errorf("message %q lacks %q", e.Message, tt.has)
				}
				return
			}
			if body := rec.Body.String(); strings.Contains(body, secret) || strings.Contains(body, "poller") || strings.Contains(body, "sql") || strings.Contains(body, "cipher") {
				t.Errorf("a %d shows its cause: %s", rec.Code, body)
			}
			if retry := rec.Header().Get("Retry-After"); (tt.status == 503) != (retry != "") {
				t.Errorf("%d with Retry-After %q", rec.Code, retry)
			}
			if !strings.Contains(log.String(), e.RequestID) || !strings.Contains(log.String(), secret) {
				t.Errorf("the log lacks the request ID %s or the cause:\n%s", e.RequestID, log.String())
			}
		})
	}
}
