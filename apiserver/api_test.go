package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/relay-dev/relay/runs"
)

const escapedRun = "/v1/runs/order-to-invoice%2Forder-1001"

func TestAPI(t *testing.T) {
	tests := []struct {
		name  string
		req   request
		errs  map[string]error
		plan  *runs.ReplayPlan
		want  int
		code  string // error code, for errors
		field string // error field, when one is to blame
		// has lists strings the body must contain.
		has   []string
		check func(t *testing.T, fr *fakeRuns, rec *httptest.ResponseRecorder)
	}{
		{name: "list flows", req: request{method: "GET", path: "/v1/flows"}, want: 200, has: []string{`"id":"hello"`, `"id":"order-to-invoice"`, `"webhook":"/hooks/shop/orders"`}},
		{name: "get flow", req: request{method: "GET", path: "/v1/flows/order-to-invoice"}, want: 200,
			has: []string{`"call":"payments.create_payment_intent"`, `"event":"payment.succeeded"`, `"compensate":[{"id":"refund"`, `{"name":"team","connector":"slack"}`}},
		{name: "flow hides connection URLs", req: request{method: "GET", path: "/v1/flows/order-to-invoice"}, want: 200,
			check: func(t *testing.T, _ *fakeRuns, rec *httptest.ResponseRecorder) {
				if strings.Contains(rec.Body.String(), "127.0.0.1:8090") || strings.Contains(rec.Body.String(), "env:") {
					t.Errorf("flow detail shows connection settings:\n%s", rec.Body)
				}
			}},
		{name: "unknown flow", req: request{method: "GET", path: "/v1/flows/nope"}, want: 404, code: "not_found"},
		{name: "graph mermaid by default", req: request{method: "GET", path: "/v1/flows/order-to-invoice/graph"}, want: 200, has: []string{"flowchart TD", `s6 -.->|"compensate"| s7`}},
		{name: "graph dot", req: request{method: "GET", path: "/v1/flows/hello/graph?format=dot"}, want: 200, has: []string{`digraph "hello"`}},
		{name: "graph bad format", req: request{method: "GET", path: "/v1/flows/hello/graph?format=svg"}, want: 400, code: "invalid_request", field: "format"},
		{name: "validate valid", req: request{method: "POST", path: "/v1/flows/validate", body: "id: greet\nversion: 1\nsteps:\n  - {id: a, set: {x: 1}}\n"}, want: 200, has: []string{`"valid":true`, `"flow":"greet"`, `"problems":[]`}},
		{name: "validate invalid", req: request{method: "POST", path: "/v1/flows/validate?name=greet.yaml", body: "id: greet\nversion: 1\nsteps:\n  - {id: a, sleep: soon}\n  - {id: b, call: nowhere.x}\n"}, want: 200,
			has: []string{`"valid":false`, `"line":4`, `"field":"steps[0].sleep"`, `"error":"greet.yaml:4:`, `"line":5`}},
		{name: "validate checks flow steps against the loaded flows", req: request{method: "POST", path: "/v1/flows/validate", body: "id: parent\nversion: 1\nsteps:\n  - {id: a, flow: hello, with: {nom: x}}\n  - {id: b, flow: missing}\n"}, want: 200,
			has: []string{`"valid":false`, `flow hello has no input \"nom\"`, `unknown flow \"missing\"`}},
		{name: "validate empty", req: request{method: "POST", path: "/v1/flows/validate"}, want: 400, code: "invalid_request", field: "body"},
		{name: "validate too large", req: request{method: "POST", path: "/v1/flows/validate", body: "# " + strings.Repeat("x", MaxBody)}, want: 413, code: "body_too_large", field: "body"},

		{name: "start", req: request{method: "POST", path: "/v1/runs", body: `{"flow":"hello","input":{"name":"Ada"},"id":"hello/ada"}`}, want: 201,
			has: []string{`"workflow_id":"hello/ada"`},
			check: func(t *testing.T, fr *fakeRuns, rec *httptest.ResponseRecorder) {
				if loc := rec.Header().Get("Location"); loc != "/v1/runs/hello%2Fada" {
					t.Errorf("Location = %q", loc)
				}
				if fr.started["name"] != "Ada" {
					t.Errorf("input = %v", fr.started)
				}
			}},
		{name: "start without input", req: request{method: "POST", path: "/v1/runs", body: `{"flow":"hello"}`}, want: 201},
		{name: "start without flow", req: request{method: "POST", path: "/v1/runs", body: `{"input":{}}`}, want: 400, code: "invalid_request", field: "flow"},
		{name: "start unknown flow", req: request{method: "POST", path: "/v1/runs", body: `{"flow":"nope"}`}, want: 422, code: "invalid_field", field: "flow", has: []string{"loaded: hello, http-check, order-to-invoice"}},
		{name: "start bad input", req: request{method: "POST", path: "/v1/runs", body: `{"flow":"hello","input":{"name":3,"nom":"x"}}`}, want: 422, code: "invalid_field", field: "input", has: []string{`input \"name\": `, `input \"nom\" is not declared`}},
		{name: "start unknown field", req: request{method: "POST", path: "/v1/runs", body: `{"flow":"hello","inputs":{}}`}, want: 400, code: "invalid_request", field: "inputs"},
		{name: "start wrong type", req: request{method: "POST", path: "/v1/runs", body: `{"flow":7}`}, want: 400, code: "invalid_request", field: "flow", has: []string{"flow: must be a string, got number"}},
		{name: "start malformed JSON", req: request{method: "POST", path: "/v1/runs", body: `{"flow":`}, want: 400, code: "invalid_request", field: "body"},
		{name: "start two objects", req: request{method: "POST", path: "/v1/runs", body: `{"flow":"hello"} {}`}, want: 400, code: "invalid_request", field: "body"},
		{name: "start not an object", req: request{method: "POST", path: "/v1/runs", body: `[1]`}, want: 400, code: "invalid_request", field: "body"},
		{name: "start too large", req: request{method: "POST", path: "/v1/runs", body: `{"flow":"hello","input":{"name":"` + strings.Repeat("x", MaxBody) + `"}}`}, want: 413, code: "body_too_large", field: "body"},
		{name: "start duplicate ID", req: request{method: "POST", path: "/v1/runs", body: `{"flow":"hello","id":"hello/1"}`},
			errs: map[string]error{"Start": fmt.Errorf("starting flow hello: %w", serviceerror.NewWorkflowExecutionAlreadyStarted("workflow execution already started", "", ""))}, want: 409, code: "conflict"},
		{name: "start with Temporal down", req: request{method: "POST", path: "/v1/runs", body: `{"flow":"hello"}`},
			errs: map[string]error{"Start": fmt.Errorf("starting flow hello: %w", serviceerror.NewUnavailable("connection error: dial tcp 10.1.2.3:7233: connect: connection refused"))}, want: 503, code: "unavailable",
			check: func(t *testing.T, _ *fakeRuns, rec *httptest.ResponseRecorder) {
				if rec.Header().Get("Retry-After") == "" || strings.Contains(rec.Body.String(), "10.1.2.3") {
					t.Errorf("503 without Retry-After or with the cause:\n%s", rec.Body)
				}
			}},

		{name: "list runs", req: request{method: "GET", path: "/v1/runs?flow=order-to-invoice&status=failed&limit=10&failed_step=invoice&since=2h"}, want: 200,
			has: []string{`"workflow_id":"order-to-invoice/order-1001"`, `"next_cursor":"`},
			check: func(t *testing.T, fr *fakeRuns, _ *httptest.ResponseRecorder) {
				if f := fr.filter; f.Flow != "order-to-invoice" || f.Status != "failed" || f.PageSize != 10 || f.FailedStep != "invoice" || f.Since.IsZero() {
					t.Errorf("filter = %+v", f)
				}
			}},
		{name: "list runs bad limit", req: request{method: "GET", path: "/v1/runs?limit=0"}, want: 400, code: "invalid_request", field: "limit"},
		{name: "list runs bad status", req: request{method: "GET", path: "/v1/runs?status=broken"}, want: 400, code: "invalid_request", field: "status"},
		{name: "list runs bad since", req: request{method: "GET", path: "/v1/runs?since=yesterday"}, want: 400, code: "invalid_request", field: "since"},
		{name: "list runs bad cursor", req: request{method: "GET", path: "/v1/runs?cursor=***"}, want: 400, code: "invalid_request", field: "cursor"},
		{name: "list runs unknown parameter", req: request{method: "GET", path: "/v1/runs?flows=x"}, want: 400, code: "invalid_request", field: "flows"},

		{name: "get run", req: request{method: "GET", path: escapedRun}, want: 200, has: []string{`"status":"failed"`, `"steps":[{`, `"error_type":"erpnext.LinkValidationError"`}},
		{name: "get unknown run", req: request{method: "GET", path: "/v1/runs/hello%2Fnope"}, want: 404, code: "not_found"},
		{name: "run ID with an unescaped slash", req: request{method: "GET", path: "/v1/runs/order-to-invoice/order-1001"}, want: 404, code: "not_found", has: []string{"%2F"}},
		{name: "get run fails inside", req: request{method: "GET", path: escapedRun},
			errs: map[string]error{"Show": fmt.Errorf("describing run: %w", status.Error(codes.Internal, "sql: database is locked at /var/lib/relay/temporal.db"))}, want: 500, code: "internal",
			check: func(t *testing.T, _ *fakeRuns, rec *httptest.ResponseRecorder) {
				if strings.Contains(rec.Body.String(), "/var/lib") || strings.Contains(rec.Body.String(), "sql") {
					t.Errorf("500 shows its cause:\n%s", rec.Body)
				}
			}},
		{name: "handler panic", req: request{method: "GET", path: escapedRun}, errs: map[string]error{"Show": panicError("boom at /home/relay/x.go:12")}, want: 500, code: "internal",
			check: func(t *testing.T, _ *fakeRuns, rec *httptest.ResponseRecorder) {
				if strings.Contains(rec.Body.String(), "boom") || strings.Contains(rec.Body.String(), "goroutine") {
					t.Errorf("500 shows the panic:\n%s", rec.Body)
				}
			}},

		{name: "replay dry run", req: request{method: "POST", path: escapedRun + "/replay", body: `{"dry_run":true,"definition":"current"}`}, want: 200, has: []string{`"reused":["totals"]`, `"calls":["erpnext.create_invoice"]`}},
		{name: "replay", req: request{method: "POST", path: escapedRun + "/replay"}, want: 201, has: []string{`"run":{"workflow_id":"order-to-invoice/order-1001/replay-1"`}},
		{name: "replay refused", req: request{method: "POST", path: escapedRun + "/replay", body: `{"from":"gone"}`},
			errs: map[string]error{"Replay": runs.ErrPlanRefused}, plan: &runs.ReplayPlan{Original: sampleRun, Problems: []string{`step "gone" does not exist in the definition`}},
			want: 422, code: "plan_refused", has: []string{`"problems":["step \"gone\" does not exist in the definition"]`}},
		{name: "replay refused by the run's state", req: request{method: "POST", path: escapedRun + "/replay"},
			errs: map[string]error{"Replay": fmt.Errorf("%w: run order-to-invoice/order-1001 is still running: cancel it first, or act on its parked step", runs.ErrPlanRefused)},
			plan: &runs.ReplayPlan{Original: sampleRun, Problems: []string{"run order-to-invoice/order-1001 is still running: cancel it first, or act on its parked step"}},
			want: 422, code: "plan_refused", has: []string{"still running"}},
		{name: "replay bad definition", req: request{method: "POST", path: escapedRun + "/replay", body: `{"definition":"newest"}`}, want: 400, code: "invalid_request", field: "definition"},
		{name: "replay unknown run", req: request{method: "POST", path: "/v1/runs/x/replay", body: `{}`}, want: 404, code: "not_found"},
		{name: "rerun without confirm", req: request{method: "POST", path: escapedRun + "/rerun"}, want: 400, code: "confirmation_required", field: "confirm", has: []string{"every side effect"}},
		{name: "rerun confirm false", req: request{method: "POST", path: escapedRun + "/rerun", body: `{"confirm":false}`}, want: 400, code: "confirmation_required", field: "confirm"},
		{name: "rerun", req: request{method: "POST", path: escapedRun + "/rerun", body: `{"confirm":true}`}, want: 201, has: []string{`"run":{"workflow_id":"order-to-invoice/order-1001/rerun-1"`}},
		{name: "cancel", req: request{method: "POST", path: escapedRun + "/cancel"}, want: 202, has: []string{`"action":"cancel"`}},
		{name: "cancel with a field", req: request{method: "POST", path: escapedRun + "/cancel", body: `{"reason":"x"}`}, want: 400, code: "invalid_request", field: "reason"},
		{name: "cancel a closed run", req: request{method: "POST", path: escapedRun + "/cancel"},
			errs: map[string]error{"Cancel": serviceerror.NewFailedPrecondition("workflow execution already completed")}, want: 409, code: "conflict"},
		{name: "cancel a failed run", req: request{method: "POST", path: escapedRun + "/cancel"},
			errs: map[string]error{"Cancel": fmt.Errorf("cancelling %s: %w", sampleRun, &runs.RunClosedError{WorkflowID: sampleRun, Status: "failed"})}, want: 409, code: "rejected", has: []string{"has closed (failed)"}},
		{name: "retry step of a failed run", req: request{method: "POST", path: escapedRun + "/retry-step"},
			errs: map[string]error{"RetryStep": fmt.Errorf("relay.retry_step on %s: %w", sampleRun, &runs.RunClosedError{WorkflowID: sampleRun, Status: "failed"})}, want: 409, code: "rejected", has: []string{"has closed (failed)"}},
		{name: "skip step of a completed run", req: request{method: "POST", path: escapedRun + "/skip-step", body: `{"output":null}`},
			errs: map[string]error{"SkipStep": fmt.Errorf("relay.skip_step on %s: %w", sampleRun, &runs.RunClosedError{WorkflowID: sampleRun, Status: "completed"})}, want: 409, code: "rejected", has: []string{"has closed (completed)"}},
		{name: "retry step", req: request{method: "POST", path: escapedRun + "/retry-step", body: `{}`}, want: 202, has: []string{`"action":"retry-step"`}},
		{name: "retry step not parked", req: request{method: "POST", path: escapedRun + "/retry-step"},
			errs: map[string]error{"RetryStep": fmt.Errorf("retrying: %w", temporalApplicationError("run is not parked"))}, want: 409, code: "rejected", has: []string{"run is not parked"}},
		{name: "retry step never parked", req: request{method: "POST", path: escapedRun + "/retry-step"},
			errs: map[string]error{"RetryStep": fmt.Errorf("relay.retry_step on o-1: %w", runs.ErrNoParkedStep)}, want: 409, code: "rejected", has: []string{"the run has no parked step"}},
		{name: "skip step", req: request{method: "POST", path: escapedRun + "/skip-step", body: `{"output":{"name":"INV-1"}}`}, want: 202,
			check: func(t *testing.T, fr *fakeRuns, _ *httptest.ResponseRecorder) {
				if m, _ := fr.skipped.(map[string]any); m["name"] != "INV-1" {
					t.Errorf("skipped with %v", fr.skipped)
				}
			}},
		{name: "skip step null output", req: request{method: "POST", path: escapedRun + "/skip-step", body: `{"output":null}`}, want: 202},
		{name: "skip step without output", req: request{method: "POST", path: escapedRun + "/skip-step", body: `{}`}, want: 400, code: "invalid_request", field: "output"},
		{name: "bulk replay", req: request{method: "POST", path: "/v1/replays", body: `{"flow":"order-to-invoice","since":"2h","failed_step":"invoice","rate":5,"canary":3,"stop_after_failures":0.1,"replay":{"definition":"current"}}`}, want: 200,
			has: []string{`"status":"replayed"`, `"status":"skipped"`},
			check: func(t *testing.T, fr *fakeRuns, _ *httptest.ResponseRecorder) {
				if b := fr.bulk; b.Flow != "order-to-invoice" || b.Since.Hours() != 2 || b.Canary != 3 || b.Rate != 5 || b.StopAfterFailures != 0.1 || b.Replay.Definition != "current" {
					t.Errorf("bulk options = %+v", b)
				}
			}},
		{name: "bulk replay without flow", req: request{method: "POST", path: "/v1/replays", body: `{}`}, want: 400, code: "invalid_request", field: "flow"},
		{name: "bulk replay bad since", req: request{method: "POST", path: "/v1/replays", body: `{"flow":"x","since":"-1h"}`}, want: 400, code: "invalid_request", field: "since"},
		{name: "bulk replay bad fraction", req: request{method: "POST", path: "/v1/replays", body: `{"flow":"x","stop_after_failures":10}`}, want: 400, code: "invalid_request", field: "stop_after_failures"},
		{name: "bulk replay bad replay field", req: request{method: "POST", path: "/v1/replays", body: `{"flow":"x","replay":{"definition":"v2"}}`}, want: 400, code: "invalid_request", field: "replay.definition"},

		{name: "method not allowed", req: request{method: "DELETE", path: escapedRun}, want: 405, code: "method_not_allowed",
			check: func(t *testing.T, _ *fakeRuns, rec *httptest.ResponseRecorder) {
				if rec.Header().Get("Allow") != "GET" {
					t.Errorf("Allow = %q", rec.Header().Get("Allow"))
				}
			}},
		{name: "unknown route", req: request{method: "GET", path: "/v1/nothing"}, want: 404, code: "not_found"},
		{name: "openapi", req: request{method: "GET", path: "/v1/openapi.json"}, want: 200, has: []string{`"openapi": "3.1.0"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFakeRuns()
			if tt.errs != nil {
				fr.errs = tt.errs
			}
			if tt.plan != nil {
				fr.plan = *tt.plan
			}
			rec := do(t, testServer(t, fr).Handler(), tt.req)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d:\n%s", rec.Code, tt.want, rec.Body)
			}
			if tt.code != "" {
				e := errorBody(t, rec)
				if e.Code != tt.code || e.Field != tt.field {
					t.Errorf("error = %+v, want code %s, field %q", e, tt.code, tt.field)
				}
				if tt.field != "" && !strings.HasPrefix(e.Message, tt.field+": ") {
					t.Errorf("message %q does not start with the field %q", e.Message, tt.field)
				}
			}
			for _, s := range tt.has {
				if !strings.Contains(rec.Body.String(), s) {
					t.Errorf("body lacks %s:\n%s", s, rec.Body)
				}
			}
			if tt.check != nil {
				tt.check(t, fr, rec)
			}
		})
	}
}

func TestRunIDEscaping(t *testing.T) {
	fr := newFakeRuns()
	fr.runs["a b/c%d"] = fr.runs[sampleRun]
	h := testServer(t, fr).Handler()
	rec := do(t, h, request{method: "GET", path: "/v1/runs/a%20b%2Fc%25d"})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if got := runPath("a b/c%d"); got != "/v1/runs/a%20b%2Fc%25d" {
		t.Errorf("runPath = %q", got)
	}
}

func TestErrorsNeverLeak(t *testing.T) {
	// Whatever the backend says, a 5xx body carries only the envelope's
	// generic message.
	secret := "sk_live_secret /etc/relay/keys.json goroutine 1 [running]"
	for _, err := range []error{
		status.Error(codes.Internal, secret),
		serviceerror.NewInternal(secret),
		serviceerror.NewPermissionDenied(secret, ""),
		fmt.Errorf("reading: %w", serviceerror.NewUnavailable(secret)),
	} {
		fr := newFakeRuns()
		fr.errs["Show"] = err
		rec := do(t, testServer(t, fr).Handler(), request{method: "GET", path: escapedRun})
		if rec.Code < 500 || strings.Contains(rec.Body.String(), "secret") || strings.Contains(rec.Body.String(), "/etc") {
			t.Errorf("%v: %d %s", err, rec.Code, rec.Body)
		}
	}
}

func TestDecodeKeepsNumbers(t *testing.T) {
	fr := newFakeRuns()
	rec := do(t, testServer(t, fr).Handler(), request{method: "POST", path: "/v1/runs", body: `{"flow":"order-to-invoice","input":{"order_id":"o1","email":"a@b.c","lines":[{"sku":"A","qty":2,"price":9.5}],"shipping_address":{},"delivery_date":"2026-01-05"}}`})
	if rec.Code != http.StatusCreated {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	b, _ := json.Marshal(fr.started["lines"])
	if string(b) != `[{"price":9.5,"qty":2,"sku":"A"}]` {
		t.Errorf("lines = %s", b)
	}
}

func temporalApplicationError(msg string) error {
	return temporal.NewApplicationError(msg, "relay.rejected")
}
