package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/sandbox"
	"github.com/relay-dev/relay/workflows"
)

// brokenInvoice makes the flagship's invoice step fail: it gets a
// connection of its own whose every request the sandbox answers 500, few
// retries, and the given on_error.
func brokenInvoice(onError string) func(string) string {
	return func(yaml string) string {
		yaml = strings.Replace(yaml, "  payments:\n", "  billing:\n    connector: erpnext\n    base_url: BILLING\n    auth: {kind: api_key, name: Authorization, key: env:ERPNEXT_TOKEN}\n    headers: {X-Sandbox-Fault: \"500\"}\n  payments:\n", 1)
		return strings.Replace(yaml, "    call: erp.create_invoice\n", "    call: billing.create_invoice\n    retry: {max_attempts: 2, initial_interval: 100ms}\n    on_error: "+onError+"\n", 1)
	}
}

// fixFlagship loads the fixed definition as the current one: the invoice
// uses the healthy ERP connection again.
func fixFlagship(t *testing.T, f *flagship) {
	t.Helper()
	src, err := os.ReadFile(repoFile(t, "definitions/flows/order-to-invoice.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	yaml := sandbox.PointFlow(string(src), f.sb.HTTPAddr(), f.sb.SMTPAddr())
	fixed, err := definitions.Parse("fixed.yaml", []byte(yaml), f.e.reg)
	if err != nil {
		t.Fatal(err)
	}
	f.e.runs.Flows[fixed.ID] = fixed
}

func TestReplayFailedRunWithFixedDefinition(t *testing.T) {
	f := startFlagshipBilling(t, "halt")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := f.order(t, "order-2001")
	if _, err := f.e.runs.Result(ctx, id); err == nil {
		t.Fatal("run succeeded, want a failure at the invoice step")
	}
	if got := f.counts(); got["stripe.refunds.created"] != 0 {
		t.Fatalf("a halted run compensated: %v", got)
	}
	waitListed(t, f.e, runs.Filter{Flow: "order-to-invoice", Status: "failed", FailedStep: "invoice", ErrorType: "http.500"}, id)

	// With the original definition the invoice would fail again; the plan
	// says what a replay does before it does it.
	fixFlagship(t, f)
	plan, run, err := f.e.runs.Replay(ctx, id, runs.ReplayOptions{Definition: "current", DryRun: true})
	if err != nil || run.WorkflowID != "" {
		t.Fatalf("dry run: %v, started %q", err, run.WorkflowID)
	}
	if plan.From != "invoice" || !contains(plan.Reused, "payment") || !contains(plan.Run, "invoice") || contains(plan.Calls, "stripe.create_payment_intent") {
		t.Errorf("plan = %+v", plan)
	}
	if _, _, err := f.e.runs.Replay(ctx, id, runs.ReplayOptions{From: "no_such_step", Definition: "current"}); !errors.Is(err, runs.ErrPlanRefused) {
		t.Errorf("replay from an unknown step: %v, want refused", err)
	}

	_, run, err = f.e.runs.Replay(ctx, id, runs.ReplayOptions{Definition: "current"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.runs.Result(ctx, run.WorkflowID); err != nil {
		t.Fatalf("replay failed: %v", err)
	}
	got := f.counts()
	for _, k := range []string{"stripe.payment_intents.captured", "erpnext.invoices.created", "hubspot.contacts.created", "erpnext.sales_orders.created", "easypost.shipments.bought"} {
		if got[k] != 1 {
			t.Errorf("%s = %d, want exactly 1 across the run and its replay", k, got[k])
		}
	}
	d, err := f.e.runs.Show(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(d.Replays, run.WorkflowID) {
		t.Errorf("original run does not list its replay: %v", d.Replays)
	}
	rd, err := f.e.runs.Show(ctx, run.WorkflowID)
	if err != nil {
		t.Fatal(err)
	}
	if rd.ReplayOf != id {
		t.Errorf("replay's replay_of = %q", rd.ReplayOf)
	}
	// The run's ID says its business key; its replay's does not, and the
	// replay carries it in RelayBusinessKey: a key finds both.
	byKey := []runs.Filter{{BusinessKey: "order-2001"}, {Flow: "order-to-invoice", BusinessKey: "order-2001"}}
	for _, bk := range byKey {
		listedExactly(t, f.e, bk, id, run.WorkflowID)
	}

	// A rerun of the replay keeps the first run's key, not the one its
	// original's ID says: one key still lists all three.
	rerun, err := f.e.runs.Rerun(ctx, run.WorkflowID, runs.RerunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rerun.WorkflowID, run.WorkflowID+"/rerun-") {
		t.Errorf("rerun's ID %q does not extend the replay's %q", rerun.WorkflowID, run.WorkflowID)
	}
	for _, bk := range byKey {
		for _, s := range listedExactly(t, f.e, bk, id, run.WorkflowID, rerun.WorkflowID) {
			if s.BusinessKey != "order-2001" || s.Flow != "order-to-invoice" {
				t.Errorf("%s listed with flow %q, key %q; want order-to-invoice, order-2001", s.WorkflowID, s.Flow, s.BusinessKey)
			}
		}
	}
	if err := f.e.runs.Cancel(ctx, rerun.WorkflowID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.runs.Rerun(ctx, "order-to-invoice/order-2999", runs.RerunOptions{}); !errors.Is(err, runs.ErrNotFound) {
		t.Errorf("rerun of a run that does not exist: %v, want ErrNotFound", err)
	}
}

func TestParkedRun(t *testing.T) {
	t.Run("skip the parked step", func(t *testing.T) {
		f := startFlagshipBilling(t, "park")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		id := f.order(t, "order-3001")
		waitListed(t, f.e, runs.Filter{Flow: "order-to-invoice", Status: "parked"}, id)
		if err := f.e.runs.SkipStep(ctx, id, map[string]any{"name": "SINV-MANUAL"}, runs.StepOptions{}); err != nil {
			t.Fatal(err)
		}
		res, err := f.e.runs.Result(ctx, id)
		if err != nil {
			t.Fatalf("run after skip: %v", err)
		}
		if out := runOutput(t, res); out["invoice"] != "SINV-MANUAL" {
			t.Errorf("output = %v, want the skipped step's invoice SINV-MANUAL", out)
		}
		record(t, f.e, id, "order-parked-skipped-"+historyGeneration+".json")
		if err := f.e.runs.RetryStep(ctx, id, runs.StepOptions{}); err == nil {
			t.Error("retry-step on a finished run was accepted")
		}
	})
	t.Run("cancel a parked run compensates", func(t *testing.T) {
		f := startFlagshipBilling(t, "park")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		id := f.order(t, "order-3002")
		waitListed(t, f.e, runs.Filter{Flow: "order-to-invoice", Status: "parked"}, id)
		if err := f.e.runs.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := f.e.runs.Result(ctx, id); err == nil {
			t.Fatal("cancelled run completed")
		}
		got := f.counts()
		if got["stripe.refunds.created"] != 1 || got["erpnext.sales_orders.cancelled"] != 1 || got["easypost.shipments.refunded"] != 1 {
			t.Errorf("compensations after cancel: %v", got)
		}
	})
}

// TestRetryParkedFlowStep: a `flow:` step parked because its child's
// charge was declined, by a partner that stores the decline by idempotency
// key, completes after retry-step: the failure names the child's step and
// the partner's error type, and the retry gives the declined charge a
// fresh key, so the partner does not answer the stored decline again. The
// child's note keeps its key, so it is not taken twice; its order, which
// the failed child cancelled, is placed again under a fresh key, so the
// partner does not answer with the cancelled one.
func TestRetryParkedFlowStep(t *testing.T) {
	e := startEnv(t, "", nil)
	p := newPartner(t, "")
	e.load(t, `
id: e2e-charge
version: 1
connections:
  partner: {connector: http, base_url: "{{PARTNER}}"}
steps:
  - {id: note, call: partner.request, with: {method: POST, url: /notes}}
  - id: order
    call: partner.request
    with: {method: POST, url: /orders}
    compensate: [{id: cancel, call: partner.request, with: {method: POST, url: /cancellations}}]
  - {id: charge, call: partner.request, with: {method: POST, url: /declined-once}, retry: {max_attempts: 1}}
`, p.URL)
	parent := e.load(t, `
id: e2e-checkout
version: 1
steps:
  - {id: pay, flow: e2e-charge, on_error: park}
`, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := e.runs.Start(ctx, parent, nil, runs.StartOptions{WorkflowID: "e2e-checkout/1"})
	if err != nil {
		t.Fatal(err)
	}
	waitListed(t, e, runs.Filter{Flow: "e2e-checkout", Status: "parked"}, run.WorkflowID)
	d, err := e.runs.Show(ctx, run.WorkflowID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Steps) == 0 {
		t.Fatal("a parked run shows no steps")
	}
	if last := d.Steps[len(d.Steps)-1]; last.Path != "pay" || last.Status != workflows.StatusParked || last.ErrorType != "http.402" {
		t.Fatalf("last step %s %s (%s), want pay parked with the child's http.402", last.Path, last.Status, last.ErrorType)
	}
	if err := e.runs.RetryStep(ctx, run.WorkflowID, runs.StepOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.runs.Result(ctx, run.WorkflowID); err != nil {
		t.Fatalf("run after retry-step: %v", err)
	}
	notes, orders, charges := p.keys(http.MethodPost, "/notes"), p.keys(http.MethodPost, "/orders"), p.keys(http.MethodPost, "/declined-once")
	if len(notes) != 2 || notes[0] != notes[1] {
		t.Errorf("note keys %v: want the note sent again under its own key", notes)
	}
	if len(orders) != 2 || orders[0] == orders[1] {
		t.Errorf("order keys %v: want the cancelled order placed again under a fresh key", orders)
	}
	if cancels := p.keys(http.MethodPost, "/cancellations"); len(cancels) != 1 {
		t.Errorf("cancellations %v: want the first order cancelled once", cancels)
	}
	if len(charges) != 2 || charges[0] == charges[1] {
		t.Errorf("charge keys %v: want the declined charge retried under a fresh key", charges)
	}
	record(t, e, run.WorkflowID, "flow-parked-retried-"+historyGeneration+".json")
}

// TestRetryParkedIfStepUndoesOnce: an `if` step parked because the charge
// in it was declined is retried, which places its order again under the
// same key; a later step then fails the run, which cancels the order once
// (interpreter generation 4), not once per time it was placed.
func TestRetryParkedIfStepUndoesOnce(t *testing.T) {
	e := startEnv(t, "", nil)
	p := newPartner(t, "")
	flow := e.load(t, `
id: e2e-undo-once
version: 1
connections:
  partner: {connector: http, base_url: "{{PARTNER}}"}
steps:
  - id: checkout
    if: "true"
    then:
      - id: order
        call: partner.request
        with: {method: POST, url: /orders}
        compensate: [{id: cancel, call: partner.request, with: {method: POST, url: /cancellations}}]
      - {id: charge, call: partner.request, with: {method: POST, url: /declined-once}, retry: {max_attempts: 1}}
    on_error: park
  - {id: ship, call: partner.request, with: {method: POST, url: /reject}, retry: {max_attempts: 1}}
`, p.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := e.runs.Start(ctx, flow, nil, runs.StartOptions{WorkflowID: "e2e-undo-once/1"})
	if err != nil {
		t.Fatal(err)
	}
	waitListed(t, e, runs.Filter{Flow: "e2e-undo-once", Status: "parked"}, run.WorkflowID)
	if err := e.runs.RetryStep(ctx, run.WorkflowID, runs.StepOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.runs.Result(ctx, run.WorkflowID); err == nil {
		t.Fatal("run completed, want it to fail at ship")
	}
	orders, cancels := p.keys(http.MethodPost, "/orders"), p.keys(http.MethodPost, "/cancellations")
	if len(orders) != 2 || orders[0] != orders[1] {
		t.Errorf("order keys %v: want the order placed again under its own key", orders)
	}
	if len(cancels) != 1 {
		t.Errorf("cancellations %v: want the order cancelled once", cancels)
	}
	record(t, e, run.WorkflowID, "if-parked-retried-undone-"+historyGeneration+".json")
}

// startFlagshipBilling is startFlagship with the broken billing connection
// pointed at the sandbox.
func startFlagshipBilling(t *testing.T, onError string) *flagship {
	t.Helper()
	var addr string
	f := startFlagship(t, func(yaml string) string {
		// The sandbox address is already in the YAML: reuse it.
		i := strings.Index(yaml, "http://127.0.0.1:")
		addr = yaml[i : i+strings.Index(yaml[i:], "/hubspot")]
		return strings.Replace(brokenInvoice(onError)(yaml), "BILLING", addr+"/erpnext", 1)
	})
	return f
}

func TestBulkReplay(t *testing.T) {
	e := startEnv(t, "", nil)
	p := newPartner(t, "")
	broken := e.load(t, `
id: e2e-bulk
version: 1
inputs:
  n: {type: integer, required: true}
connections:
  partner: {connector: http, base_url: "{{PARTNER}}"}
steps:
  - {id: order, call: partner.request, with: {method: POST, url: /orders, body: {n: "${{ input.n }}"}}}
  - {id: bill, call: partner.request, with: {method: POST, url: /reject}, retry: {max_attempts: 1}, on_error: halt}
`, p.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const n = 50
	var ids []string
	for i := range n {
		run, err := e.runs.Start(ctx, broken, map[string]any{"n": i}, runs.StartOptions{WorkflowID: fmt.Sprintf("e2e-bulk/%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.WorkflowID)
	}
	for _, id := range ids {
		if _, err := e.runs.Result(ctx, id); err == nil {
			t.Fatalf("%s succeeded, want it to fail at bill", id)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, _, err := e.runs.List(ctx, runs.Filter{Flow: "e2e-bulk", Status: "failed", FailedStep: "bill", PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("visibility lists %d failed runs, want %d", len(list), n)
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Run("a still-broken partner stops it after the canary", func(t *testing.T) {
		results, err := e.runs.BulkReplay(ctx, runs.BulkReplayOptions{Flow: "e2e-bulk", FailedStep: "bill", Rate: 100, Canary: 3, StopAfterFailures: 0.1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, r := range results {
			count[r.Status]++
		}
		if count["completed"] != 0 || count["failed"] < 1 || count["failed"]+count["skipped"] != n {
			t.Errorf("results %v, want the canary to fail and the rest skipped", count)
		}
	})

	t.Run("after the fix all complete, paced, without repeating orders", func(t *testing.T) {
		fixed, err := definitions.Parse("fixed.yaml", []byte(strings.Replace(strings.ReplaceAll(string(broken.Source.Content), "{{PARTNER}}", p.URL), "url: /reject", "url: /bills", 1)), e.reg)
		if err != nil {
			t.Fatal(err)
		}
		e.runs.Flows[fixed.ID] = fixed
		var mu sync.Mutex
		var started []time.Time
		start := time.Now()
		results, err := e.runs.BulkReplay(ctx, runs.BulkReplayOptions{Flow: "e2e-bulk", FailedStep: "bill", Since: time.Hour, Rate: 25, Canary: 3, StopAfterFailures: 0.1,
			Replay: runs.ReplayOptions{Definition: "current"}}, func(r runs.BulkResult) {
			mu.Lock()
			started = append(started, time.Now())
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		completed := 0
		for _, r := range results {
			if r.Status == "completed" {
				completed++
			}
		}
		// The first bulk replay's failed replays failed at bill too: they
		// are listed again, and replay (reusing order) as well.
		if completed < n {
			t.Errorf("%d of %d replays completed: %+v", completed, len(results), results[:min(3, len(results))])
		}
		if elapsed := time.Since(start); elapsed < time.Duration(float64(n-1)/25*float64(time.Second))*9/10 {
			t.Errorf("%d replays took %s: not paced at 25/s", len(results), elapsed)
		}
		if req, eff := p.posts("/orders"); req != n || eff != n {
			t.Errorf("orders: %d requests, %d effects, want %d: replays must reuse them", req, eff, n)
		}
		if _, eff := p.posts("/bills"); eff < n {
			t.Errorf("bills = %d, want at least %d", eff, n)
		}
	})
}

// waitListed polls visibility until the filter lists workflowID.
func waitListed(t *testing.T, e *env, f runs.Filter, workflowID string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		list, _, err := e.runs.List(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list {
			if r.WorkflowID == workflowID {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never listed with %+v", workflowID, f)
}

// listedExactly waits until List with f lists every run in want, then
// checks that it lists no other, and returns what it listed.
func listedExactly(t *testing.T, e *env, f runs.Filter, want ...string) []runs.Summary {
	t.Helper()
	for _, id := range want {
		waitListed(t, e, f, id)
	}
	list, _, err := e.runs.List(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range list {
		got = append(got, r.WorkflowID)
	}
	slices.Sort(got)
	if want = slices.Sorted(slices.Values(want)); !slices.Equal(got, want) {
		t.Fatalf("listed %v with %+v, want %v", got, f, want)
	}
	return list
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
