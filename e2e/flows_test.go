package e2e_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/workflows"
)

var recordHistories = flag.Bool("record-histories", false, "write the histories of TestOrderFlow's runs, TestParkedRun's skipped one, TestForeachBatchesKeepVars's, TestRetryParkedFlowStep's and TestRetryParkedIfStepUndoesOnce's to workflows/testdata/replay for the replay tests")

// partnerToken is the secret the test flows use; it must never appear in a
// run's history.
const partnerToken = "sk_test_e2e_4f9c2b7a1d"

const orderFlow = `
id: e2e-order
version: 1
description: every step kind against a partner API on 127.0.0.1
inputs:
  order_id: {type: string, required: true}
  email: {type: string, required: true}
  lines: {type: array, required: true}
  carrier: {type: string, default: post}
  reject_shipping: {type: boolean, default: false}
connections:
  partner:
    connector: http
    base_url: {{PARTNER}}
    auth: {kind: bearer, token: env:E2E_PARTNER_TOKEN}
steps:
  - id: customer
    call: partner.request
    local: false
    with: {method: POST, url: /contacts, body: {email: "${{ input.email }}"}}
  - id: totals
    set:
      line_count: "${{ len(input.lines) }}"
      customer_id: "${{ steps.customer.output.body.id }}"
  - id: lines
    foreach: input.lines
    concurrency: 2
    steps:
      - id: line
        call: partner.request
        with: {method: POST, url: /lines, body: {sku: "${{ item.sku }}", n: "${{ index }}"}}
  - id: checks
    parallel:
      - name: stock
        steps: [{id: stock, call: partner.request, with: {url: /stock}}]
      - name: credit
        steps:
          - id: credit
            call: partner.request
            with: {url: /flaky, query: {order: "${{ input.order_id }}", fail: 4}}
            retry: {max_attempts: 5, initial_interval: 100ms}
  - id: charge
    call: partner.request
    with: {method: POST, url: /payments, body: {order: "${{ input.order_id }}", customer: "${{ vars.customer_id }}"}}
    compensate:
      - id: refund
        call: partner.request
        with: {method: POST, url: /refunds, body: {payment: "${{ steps.charge.output.body.id }}"}}
  - id: paid
    wait: {event: payment.succeeded, correlation: input.order_id, timeout: 1h}
  - id: carrier
    switch:
      - when: input.reject_shipping
        steps:
          - {id: ship_rejected, call: partner.request, with: {method: POST, url: /reject}}
      - when: input.carrier == "post"
        steps:
          - {id: ship, call: partner.request, with: {method: POST, url: /shipments, body: {carrier: post}}}
    default:
      - {id: ship_other, call: partner.request, with: {method: POST, url: /shipments, body: {carrier: "${{ input.carrier }}"}}}
  - {id: settle, sleep: 200ms}
  - {id: notify, flow: e2e-notify, with: {email: "${{ input.email }}", payment: "${{ steps.paid.output.payment_id }}"}}
  - {id: receipt, set: {message_id: "${{ steps.notify.output.message }}"}}
`

const notifyFlow = `
id: e2e-notify
version: 1
inputs:
  email: {type: string, required: true}
  payment: {type: string, required: true}
connections:
  partner:
    connector: http
    base_url: {{PARTNER}}
    auth: {kind: bearer, token: env:E2E_PARTNER_TOKEN}
steps:
  - id: send
    call: partner.request
    with: {method: POST, url: /messages, body: {to: "${{ input.email }}", text: "payment ${{ input.payment }} received"}}
output:
  message: ${{ steps.send.output.body.id }}
`

func orderInput(id string, reject bool) map[string]any {
	return map[string]any{
		"order_id":        id,
		"email":           "ada@example.com",
		"lines":           []any{map[string]any{"sku": "A-1"}, map[string]any{"sku": "B-2"}, map[string]any{"sku": "C-3"}},
		"reject_shipping": reject,
	}
}

// signalPaid delivers the payment event once the run waits for it.
func signalPaid(t *testing.T, e *env, run runs.Run, orderID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := e.client.SignalWorkflow(ctx, run.WorkflowID, "", workflows.EventSignal, workflows.Event{
		Name: "payment.succeeded", Key: orderID, Data: map[string]any{"payment_id": "pay_" + orderID},
	})
	if err != nil {
		t.Fatalf("signalling %s: %v", run.WorkflowID, err)
	}
}

func TestOrderFlow(t *testing.T) {
	t.Setenv("E2E_PARTNER_TOKEN", partnerToken)
	e := startEnv(t, "", nil)
	p := newPartner(t, partnerToken)
	flow := e.load(t, orderFlow, p.URL)
	e.load(t, notifyFlow, p.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("completes", func(t *testing.T) {
		run, err := e.runs.Start(ctx, flow, orderInput("o-100", false), runs.StartOptions{WorkflowID: "e2e-order/o-100"})
		if err != nil {
			t.Fatal(err)
		}
		// An operator's retry of a run with no parked step is refused,
		// in words, before it reaches history.
		if err := e.runs.RetryStep(ctx, run.WorkflowID, runs.StepOptions{}); !errors.Is(err, runs.ErrNoParkedStep) {
			t.Errorf("retry-step on a running run: %v, want %v", err, runs.ErrNoParkedStep)
		}
		// The event arrives before the run reaches its wait step: it is kept.
		signalPaid(t, e, run, "o-100")
		res, err := e.runs.Result(ctx, run.WorkflowID)
		if err != nil {
			t.Fatalf("run failed: %v", err)
		}
		if res.Vars["line_count"] != 3.0 || !strings.HasPrefix(res.Vars["customer_id"].(string), "contacts_") {
			t.Errorf("vars = %v", res.Vars)
		}
		if lines, _ := res.Outputs["lines"].([]any); len(lines) != 3 {
			t.Errorf("foreach outputs = %v", res.Outputs["lines"])
		}
		if _, ok := res.Outputs["ship"]; !ok {
			t.Errorf("switch took the wrong case: outputs %v", res.Outputs)
		}
		// The sub-flow's output: is what its flow step outputs.
		if id, _ := res.Vars["message_id"].(string); !strings.HasPrefix(id, "messages_") {
			t.Errorf("message_id = %v, want the sub-flow's output, the message's ID", res.Vars["message_id"])
		}
		if req, eff := p.posts("/messages"); req != 1 || eff != 1 {
			t.Errorf("sub-flow sent %d messages (%d effects), want 1", req, eff)
		}
		if _, eff := p.posts("/refunds"); eff != 0 {
			t.Errorf("refunds on a successful run: %d", eff)
		}
		d, err := e.runs.Show(ctx, run.WorkflowID)
		if err != nil {
			t.Fatal(err)
		}
		status := map[string]string{}
		attempts := map[string]int32{}
		for _, s := range d.Steps {
			status[s.Path], attempts[s.Path] = s.Status, s.Attempts
		}
		for _, id := range []string{"customer", "totals", "lines", "lines[2].line", "checks", "stock", "credit", "charge", "paid", "carrier", "ship", "settle", "notify"} {
			if status[id] != workflows.StatusCompleted {
				t.Errorf("step %s: status %q, want completed", id, status[id])
			}
		}
		// Four 503s: the HTTP client's in-attempt retries absorb three, then
		// Temporal's retry policy makes a second attempt, which succeeds.
		if attempts["credit"] != 2 {
			t.Errorf("credit attempts = %d, want 2", attempts["credit"])
		}
		if n := p.count("GET", "/flaky"); n != 5 {
			t.Errorf("partner saw %d /flaky requests, want 5", n)
		}
		if d.Status != "completed" || d.Flow != "e2e-order" {
			t.Errorf("show = %s %s", d.Status, d.Flow)
		}
		assertNoSecretInHistory(t, e, run.WorkflowID)
		assertNoSecretInHistory(t, e, run.WorkflowID+"/notify")
		record(t, e, run.WorkflowID, "order-completed-"+historyGeneration+".json")

		// The run carries its flow and business key in its ID only, no
		// search attribute; List finds it by either, and its sub-flow's
		// run, whose ID extends its own, by neither.
		for _, f := range []runs.Filter{{BusinessKey: "o-100"}, {Flow: "e2e-order", BusinessKey: "o-100"}} {
			if got := listedExactly(t, e, f, run.WorkflowID); got[0].Flow != "e2e-order" {
				t.Errorf("listed with flow %q, want e2e-order", got[0].Flow)
			}
		}
		byFlow, _, err := e.runs.List(ctx, runs.Filter{Flow: "e2e-order", PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range byFlow {
			if r.WorkflowID == run.WorkflowID+"/notify" {
				t.Errorf("the sub-flow's run %s is listed as a run of e2e-order", r.WorkflowID)
			}
		}
	})

	t.Run("fails and compensates", func(t *testing.T) {
		run, err := e.runs.Start(ctx, flow, orderInput("o-200", true), runs.StartOptions{WorkflowID: "e2e-order/o-200"})
		if err != nil {
			t.Fatal(err)
		}
		signalPaid(t, e, run, "o-200")
		_, err = e.runs.Result(ctx, run.WorkflowID)
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != workflows.ErrorTypeStepFailed {
			t.Fatalf("run error = %v, want %s", err, workflows.ErrorTypeStepFailed)
		}
		if !strings.Contains(appErr.Message(), `step "ship_rejected" failed (http.422)`) {
			t.Errorf("failure = %q", appErr.Message())
		}
		if _, eff := p.posts("/refunds"); eff != 1 {
			t.Errorf("refunds = %d, want 1 (compensation of charge)", eff)
		}
		if req, _ := p.posts("/reject"); req != 1 {
			t.Errorf("a 422 was retried: %d requests", req)
		}
		d, err := e.runs.Show(ctx, run.WorkflowID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != "failed" || !strings.Contains(d.Failure, "ship_rejected") {
			t.Errorf("show = %s, failure %q", d.Status, d.Failure)
		}
		record(t, e, run.WorkflowID, "order-compensated-"+historyGeneration+".json")
	})

	t.Run("list by flow and status", func(t *testing.T) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			list, _, err := e.runs.List(ctx, runs.Filter{Flow: "e2e-order", Status: "failed"})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) == 1 && list[0].WorkflowID == "e2e-order/o-200" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("list of failed e2e-order runs = %+v, want only e2e-order/o-200", list)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("every side effect once", func(t *testing.T) {
		for _, path := range []string{"/contacts", "/payments", "/shipments"} {
			req, eff := p.posts(path)
			if eff != req {
				t.Errorf("%s: %d requests, %d effects", path, req, eff)
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		keys := map[string]bool{}
		for _, r := range p.requests {
			if r.Method == "POST" && r.Key == "" {
				t.Errorf("POST %s without Idempotency-Key", r.Path)
			}
			if r.Method == "POST" && r.Path == "/lines" {
				keys[r.Key] = true
			}
		}
		if len(keys) != 6 {
			t.Errorf("distinct idempotency keys for 6 line calls = %d", len(keys))
		}
	})
}

// assertNoSecretInHistory scans every event of a run's history for the
// partner token.
func assertNoSecretInHistory(t *testing.T, e *env, workflowID string) {
	t.Helper()
	if strings.Contains(historyJSON(t, e, workflowID), partnerToken) {
		t.Errorf("history of %s contains the partner token", workflowID)
	}
}

// historyJSON is every event of a run's history as JSON.
func historyJSON(t *testing.T, e *env, workflowID string) string {
	t.Helper()
	h := history(t, e, workflowID)
	if len(h.Events) == 0 {
		t.Fatalf("history of %s is empty", workflowID)
	}
	b, err := protojson.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func history(t *testing.T, e *env, workflowID string) *historypb.History {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it := e.client.GetWorkflowHistory(ctx, workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("reading history of %s: %v", workflowID, err)
		}
		h.Events = append(h.Events, ev)
	}
	return h
}

// historyGeneration names the recorded histories of the interpreter as it
// is now. Bump it when the interpreter changes what it writes to history,
// record, and keep the older files: they are the runs in flight that the
// new code must still replay. v1: no search attributes; v2: the
// relay.search-attributes version marker at the start of every run; v3:
// the marker only where a run first writes a search attribute; v4: the
// definition gzip-compressed in the run's input; v5: interpreter
// generation 1 (workflows.Generation), a wait whose event is already there
// takes it at once; v6: the notify sub-flow declares an output, which its
// flow step outputs; v7: interpreter generation 2, numbers inside text as
// JSON writes them; v8: interpreter generation 3, a failed flow step names
// its child's failed step, and a retried one keys that step afresh; v9:
// interpreter generation 4, a step that completed twice is undone once
// (TestRetryParkedIfStepUndoesOnce records it).
const historyGeneration = "v9"

// record writes a run's history for the replay tests when -record-histories is set.
func record(t *testing.T, e *env, workflowID, name string) {
	t.Helper()
	if !*recordHistories {
		return
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(history(t, e, workflowID))
	if err != nil {
		t.Fatal(err)
	}
	path := repoFile(t, filepath.Join("workflows", "testdata", "replay", name))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s", path)
}

func TestRunSurvivesServerRestart(t *testing.T) {
	t.Setenv("E2E_PARTNER_TOKEN", partnerToken)
	dir := t.TempDir()
	p := newPartner(t, partnerToken)
	e := startEnv(t, dir, nil)
	flow := e.load(t, orderFlow, p.URL)
	e.load(t, notifyFlow, p.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := e.runs.Start(ctx, flow, orderInput("o-300", false), runs.StartOptions{WorkflowID: "e2e-order/o-300"})
	if err != nil {
		t.Fatal(err)
	}
	waitForStatus(t, e, run.WorkflowID, "paid", workflows.StatusWaiting)
	e.stop()

	e2 := startEnv(t, dir, nil)
	e2.runs.Flows = e.runs.Flows
	signalPaid(t, e2, run, "o-300")
	if _, err := e2.runs.Result(ctx, run.WorkflowID); err != nil {
		t.Fatalf("run after restart: %v", err)
	}
	for _, path := range []string{"/contacts", "/payments", "/shipments", "/messages"} {
		if _, eff := p.posts(path); eff != 1 {
			t.Errorf("%s applied %d times, want once across the restart", path, eff)
		}
	}
}

// waitForStatus polls the run's step records until step has status.
func waitForStatus(t *testing.T, e *env, workflowID, step, status string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := e.client.QueryWorkflow(ctx, workflowID, "", workflows.StepsQuery)
		cancel()
		if err == nil {
			var recs []*workflows.StepRecord
			if v.Get(&recs) == nil {
				for _, r := range recs {
					if r.Path == step && r.Status == status {
						return
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("step %s of %s never reached %s", step, workflowID, status)
}

// TestForeachBatchesKeepVars: a foreach long enough for batch children
// (over 500 items) hands the variables its body sets back to the run
// (interpreter generation 2). Its history, a parent with batch children,
// is recorded for the replay tests.
func TestForeachBatchesKeepVars(t *testing.T) {
	e := startEnv(t, "", nil)
	flow := e.load(t, `
id: e2e-batched-loop
version: 1
steps:
  - {id: init, set: {count: 0}}
  - id: lines
    foreach: ${{ 1..600 }}
    steps:
      - {id: add, set: {count: "${{ vars.count + item }}"}}
output: ${{ vars.count }}
`, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := e.runs.Start(ctx, flow, nil, runs.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.runs.Result(ctx, run.WorkflowID)
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if res.Output != 180300.0 { // 1 + 2 + … + 600
		t.Errorf("output %v, want 180300: the batches' variables were lost", res.Output)
	}
	record(t, e, run.WorkflowID, "foreach-batched-"+historyGeneration+".json")
}

func TestForeachTenThousandItems(t *testing.T) {
	e := startEnv(t, "", nil)
	flow := e.load(t, `
id: e2e-big-loop
version: 1
inputs:
  items: {type: array, required: true}
steps:
  - id: lines
    foreach: input.items
    concurrency: 100
    steps:
      - {id: line, set: {total: "${{ item * 2 }}"}}
  - {id: sum, set: {count: "${{ len(steps.lines.output) }}", last: "${{ steps.lines.output[9999].total }}"}}
`, "")
	items := make([]any, 10000)
	for i := range items {
		items[i] = i
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	run, err := e.runs.Start(ctx, flow, map[string]any{"items": items}, runs.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.runs.Result(ctx, run.WorkflowID)
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if res.Vars["count"] != 10000.0 || res.Vars["last"] != 19998.0 {
		t.Errorf("vars = %v", res.Vars)
	}
	h := history(t, e, run.WorkflowID)
	t.Logf("10,000-item foreach: %s, parent history %d events", time.Since(start).Round(time.Millisecond), len(h.Events))
	if len(h.Events) > 1000 {
		t.Errorf("parent history has %d events; batches should keep it far below Temporal's limits", len(h.Events))
	}
	desc, err := e.client.DescribeWorkflowExecution(ctx, run.WorkflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := desc.WorkflowExecutionInfo.HistoryLength; n > 1000 {
		t.Errorf("history length %d", n)
	}
}
