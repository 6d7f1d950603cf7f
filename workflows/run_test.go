package workflows_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/relay-dev/relay/activities"
	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/worker"
	"github.com/relay-dev/relay/workflows"
)

// calls records what the test connector saw, in order.
type calls struct {
	mu       sync.Mutex
	names    []string
	keys     map[string][]string // name -> idempotency keys, one per attempt
	failures map[string]int      // call name -> failures so far
}

func (c *calls) add(name, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.names = append(c.names, name)
	if c.keys == nil {
		c.keys = map[string][]string{}
	}
	c.keys[name] = append(c.keys[name], key)
}

func (c *calls) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.names)
}

// testRegistry has a `test` connector whose actions run in process.
func testRegistry(c *calls) *connectors.Registry {
	name := func(call *connectors.Call) string { s, _ := call.Params["name"].(string); return s }
	var params []connectors.Param
	for _, p := range []string{"name", "email", "amount", "prev", "of", "paid", "value", "type", "failures", "got"} {
		params = append(params, connectors.Param{Name: p, Type: "any"})
	}
	return new(connectors.Registry).MustRegister(&connectors.Connector{
		Name: "test",
		Actions: []*connectors.Action{
			{Name: "echo", Params: params, Do: func(ctx context.Context, call *connectors.Call) (any, error) {
				c.add(name(call), call.IdempotencyKey)
				return call.Params, nil
			}},
			{Name: "quick", Short: true, Params: params, Do: func(ctx context.Context, call *connectors.Call) (any, error) {
				c.add(name(call), call.IdempotencyKey)
				return call.Params["value"], nil
			}},
			{Name: "fail", Params: params, Do: func(ctx context.Context, call *connectors.Call) (any, error) {
				c.add(name(call), call.IdempotencyKey)
				typ, _ := call.Params["type"].(string)
				return nil, connectors.Permanent(typ, "partner said no to %s", name(call))
			}},
			{Name: "flaky", Params: params, Do: func(ctx context.Context, call *connectors.Call) (any, error) {
				c.add(name(call), call.IdempotencyKey)
				c.mu.Lock()
				defer c.mu.Unlock()
				if c.failures == nil {
					c.failures = map[string]int{}
				}
				want, _ := call.Params["failures"].(float64)
				if c.failures[name(call)] < int(want) {
					c.failures[name(call)]++
					return nil, connectors.Transient("http.503", "partner unavailable")
				}
				return "ok", nil
			}},
		},
	})
}

func source(t *testing.T, yaml string) definitions.Source {
	t.Helper()
	sum := sha256.Sum256([]byte(yaml))
	return definitions.Source{File: t.Name() + ".yaml", Content: []byte(yaml), Hash: hex.EncodeToString(sum[:])}
}

type harness struct {
	env   *testsuite.TestWorkflowEnvironment
	calls *calls
	// generation is the run's interpreter generation; newHarness sets the
	// current one.
	generation int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	c := &calls{}
	reg := testRegistry(c)
	worker.Register(env, reg, &activities.Activities{Registry: reg})
	return &harness{env: env, calls: c, generation: workflows.Generation}
}

// run parses yaml (failing the test on invalid definitions) and executes it.
func (h *harness) run(t *testing.T, yaml string, input map[string]any, subflows ...string) (*workflows.RunResult, error) {
	t.Helper()
	src := source(t, yaml)
	if _, err := definitions.Parse(src.File, src.Content, testRegistry(&calls{})); err != nil {
		t.Fatalf("test definition is invalid:\n%v", err)
	}
	in := workflows.RunInput{Generation: h.generation, Flow: src, Input: input}
	for i, sub := range subflows {
		f, err := definitions.Parse(fmt.Sprintf("sub%d.yaml", i), []byte(sub), testRegistry(&calls{}))
		if err != nil {
			t.Fatalf("sub-flow %d is invalid:\n%v", i, err)
		}
		if in.Subflows == nil {
			in.Subflows = map[string]definitions.Source{}
		}
		in.Subflows[f.ID] = source(t, sub)
	}
	h.env.ExecuteWorkflow(workflows.RunWorkflow, in)
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		return nil, err
	}
	var res workflows.RunResult
	if err := h.env.GetWorkflowResult(&res); err != nil {
		t.Fatalf("decoding result: %v", err)
	}
	return &res, nil
}

func (h *harness) records(t *testing.T) []*workflows.StepRecord {
	t.Helper()
	v, err := h.env.QueryWorkflow(workflows.StepsQuery)
	if err != nil {
		t.Fatalf("query %s: %v", workflows.StepsQuery, err)
	}
	var recs []*workflows.StepRecord
	if err := v.Get(&recs); err != nil {
		t.Fatalf("decoding records: %v", err)
	}
	return recs
}

func statusOf(recs []*workflows.StepRecord) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		out[r.Path] = r.Status
	}
	return out
}

const header = `
id: t
version: 1
connections:
  t: {connector: test}
`

// childHeader begins the definition of the flow `child`, which flows'
// `flow: child` steps run.
const childHeader = `
id: child
version: 1
connections:
  t: {connector: test}
`

func TestCallSetIfSwitch(t *testing.T) {
	h := newHarness(t)
	res, err := h.run(t, header+`
inputs:
  amount: {type: number, required: true}
  country: {type: string, default: DE}
steps:
  - id: customer
    call: t.echo
    with: {name: customer, email: "${{ 'a@b.c' }}", amount: "${{ input.amount }}"}
  - id: totals
    set:
      doubled: "${{ steps.customer.output.amount * 2 }}"
      label: "order of ${{ input.amount }} in ${{ input.country }}"
  - id: big
    if: vars.doubled > 100
    then:
      - {id: big_call, call: t.quick, with: {name: big, value: yes}}
    else:
      - {id: small_call, call: t.quick, with: {name: small, value: no}}
  - id: route
    switch:
      - when: input.country == "FR"
        steps: [{id: fr, call: t.quick, with: {name: fr, value: 1}}]
      - when: input.country == "DE"
        steps: [{id: de, call: t.quick, with: {name: de, value: 2}}]
    default: [{id: other, call: t.quick, with: {name: other, value: 3}}]
`, map[string]any{"amount": 60.0})
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if got := h.calls.list(); !slices.Equal(got, []string{"customer", "big", "de"}) {
		t.Errorf("calls = %v, want [customer big de]", got)
	}
	if res.Vars["doubled"] != 120.0 || res.Vars["label"] != "order of 60 in DE" {
		t.Errorf("vars = %v", res.Vars)
	}
	if res.Outputs["de"] != 2.0 || res.Outputs["big_call"] != "yes" {
		t.Errorf("outputs = %v", res.Outputs)
	}
	if _, ran := res.Outputs["small_call"]; ran {
		t.Error("else branch ran")
	}
	st := statusOf(h.records(t))
	for _, id := range []string{"customer", "totals", "big", "big_call", "route", "de"} {
		if st[id] != workflows.StatusCompleted {
			t.Errorf("step %s status = %q, want completed", id, st[id])
		}
	}
}

func TestRetriesKeepIdempotencyKey(t *testing.T) {
	h := newHarness(t)
	_, err := h.run(t, header+`
steps:
  - id: charge
    call: t.flaky
    with: {name: charge, failures: 2}
    retry: {max_attempts: 5, initial_interval: 1s}
`, nil)
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	keys := h.calls.keys["charge"]
	if len(keys) != 3 {
		t.Fatalf("charge attempts = %d, want 3", len(keys))
	}
	if keys[0] != keys[1] || keys[1] != keys[2] || keys[0] == "" {
		t.Errorf("idempotency keys differ across attempts: %v", keys)
	}
	recs := h.records(t)
	if recs[0].Attempts != 3 {
		t.Errorf("recorded attempts = %d, want 3", recs[0].Attempts)
	}
}

func TestNonRetryableFailureAndOnError(t *testing.T) {
	tests := []struct {
		name      string
		steps     string
		wantErr   string
		wantCalls []string
		status    map[string]string
	}{
		{
			name: "fail",
			steps: `
  - {id: a, call: t.fail, with: {name: a, type: http.422}}
  - {id: b, call: t.echo, with: {name: b}}`,
			wantErr:   `step "a" failed (http.422): partner said no to a`,
			wantCalls: []string{"a"},
			status:    map[string]string{"a": workflows.StatusFailed},
		},
		{
			name: "continue",
			steps: `
  - {id: a, call: t.fail, with: {name: a, type: http.404}, on_error: continue}
  - {id: b, call: t.echo, with: {name: b, prev: "${{ steps.a.status }}"}}`,
			wantCalls: []string{"a", "b"},
			status:    map[string]string{"a": workflows.StatusContinued, "b": workflows.StatusCompleted},
		},
		{
			name: "goto",
			steps: `
  - {id: a, call: t.fail, with: {name: a, type: http.409}, on_error: {goto: fallback}}
  - {id: b, call: t.echo, with: {name: b}}
  - {id: fallback, call: t.echo, with: {name: fallback}}`,
			wantCalls: []string{"a", "fallback"},
			status:    map[string]string{"a": workflows.StatusFailed, "fallback": workflows.StatusCompleted},
		},
		{
			name: "non-retryable by type",
			steps: `
  - id: a
    call: t.flaky
    with: {name: a, failures: 5}
    retry: {max_attempts: 5, non_retryable: [http.503]}`,
			wantErr:   `step "a" failed (http.503): partner unavailable`,
			wantCalls: []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			_, err := h.run(t, header+"steps:"+tt.steps+"\n", nil)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("run failed: %v", err)
			}
			if tt.wantErr != "" {
				var appErr *temporal.ApplicationError
				if !errorsAs(err, &appErr) || appErr.Message() != tt.wantErr || appErr.Type() != workflows.ErrorTypeStepFailed {
					t.Fatalf("error = %v, want %s: %q", err, workflows.ErrorTypeStepFailed, tt.wantErr)
				}
			}
			if got := h.calls.list(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("calls = %v, want %v", got, tt.wantCalls)
			}
			st := statusOf(h.records(t))
			for id, want := range tt.status {
				if st[id] != want {
					t.Errorf("step %s status = %q, want %q", id, st[id], want)
				}
			}
		})
	}
}

func TestCompensationRunsInReverseOrder(t *testing.T) {
	h := newHarness(t)
	_, err := h.run(t, header+`
steps:
  - id: order
    call: t.echo
    with: {name: order}
    compensate:
      - {id: cancel_order, call: t.echo, with: {name: cancel_order, of: "${{ steps.order.output.name }}"}}
  - id: charge
    call: t.echo
    with: {name: charge}
    compensate:
      - {id: refund, call: t.echo, with: {name: refund}}
  - {id: notify, call: t.echo, with: {name: notify}}
  - {id: ship, call: t.fail, with: {name: ship, type: http.500}, retry: {max_attempts: 1}}
`, nil)
	if err == nil {
		t.Fatal("run succeeded, want failure at ship")
	}
	want := []string{"order", "charge", "notify", "ship", "refund", "cancel_order"}
	if got := h.calls.list(); !slices.Equal(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
	st := statusOf(h.records(t))
	if st["order"] != workflows.StatusCompensated || st["charge"] != workflows.StatusCompensated {
		t.Errorf("statuses = %v, want order and charge compensated", st)
	}
}

func TestParallelAndForeach(t *testing.T) {
	h := newHarness(t)
	res, err := h.run(t, header+`
inputs:
  items: {type: array, required: true}
steps:
  - id: fan
    parallel:
      - {name: crm, steps: [{id: crm, call: t.quick, with: {name: crm, value: 1}}]}
      - {name: erp, steps: [{id: erp, call: t.quick, with: {name: erp, value: 2}}]}
  - id: lines
    foreach: input.items
    concurrency: 3
    steps:
      - {id: line, call: t.quick, with: {name: "line-${{ item.sku }}", value: "${{ item.qty * 10 + index }}"}}
`, map[string]any{"items": []any{
		map[string]any{"sku": "a", "qty": 1}, map[string]any{"sku": "b", "qty": 2},
		map[string]any{"sku": "c", "qty": 3}, map[string]any{"sku": "d", "qty": 4},
	}})
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if res.Outputs["crm"] != 1.0 || res.Outputs["erp"] != 2.0 {
		t.Errorf("parallel outputs = %v", res.Outputs)
	}
	want := []any{10.0, 21.0, 32.0, 43.0}
	if got, _ := res.Outputs["lines"].([]any); !slices.Equal(got, want) {
		t.Errorf("foreach output = %v, want %v", res.Outputs["lines"], want)
	}
	st := statusOf(h.records(t))
	if st["lines[3].line"] != workflows.StatusCompleted {
		t.Errorf("iteration records = %v", st)
	}
	keys := map[string]bool{}
	for _, k := range h.calls.keys {
		keys[k[0]] = true
	}
	if len(keys) != 6 {
		t.Errorf("distinct idempotency keys = %d, want 6 (one per call)", len(keys))
	}
}

func TestLargeForeachRunsInBatches(t *testing.T) {
	h := newHarness(t)
	items := make([]any, 1234)
	for i := range items {
		items[i] = float64(i)
	}
	res, err := h.run(t, header+`
inputs:
  items: {type: array, required: true}
steps:
  - {id: base, set: {offset: 1000}}
  - id: lines
    foreach: input.items
    concurrency: 50
    steps:
      - {id: line, set: {last: "${{ item + vars.offset }}"}}
`, map[string]any{"items": items})
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	out, _ := res.Outputs["lines"].([]any)
	if len(out) != len(items) {
		t.Fatalf("foreach gave %d outputs, want %d", len(out), len(items))
	}
	for i, o := range out {
		m, _ := o.(map[string]any)
		if m["last"] != float64(i+1000) {
			t.Fatalf("output %d = %v, want last=%d", i, o, i+1000)
		}
	}
}

// pauseThenWait sleeps an hour, then waits up to a day for the payment of
// input.order_id (continuing without it).
const pauseThenWait = header + `
inputs:
  order_id: {type: string, required: true}
steps:
  - {id: pause, sleep: 1h}
  - id: paid
    wait: {event: payment.succeeded, correlation: input.order_id, timeout: 24h, on_timeout: continue}
`

func TestSleepAndWait(t *testing.T) {
	flow := pauseThenWait + `
  - {id: after, call: t.echo, with: {name: after, paid: "${{ steps.paid.status }}", amount: "${{ steps.paid.output?.amount }}"}}
`
	tests := []struct {
		name       string
		signalAt   time.Duration
		key        string
		wantStatus string
	}{
		{"event during wait", 2 * time.Hour, "o-1", workflows.StatusCompleted},
		{"event before wait is kept", 10 * time.Minute, "o-1", workflows.StatusCompleted},
		{"other correlation ignored, then timeout", 2 * time.Hour, "o-2", workflows.StatusContinued},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.env.RegisterDelayedCallback(func() {
				h.env.SignalWorkflow(workflows.EventSignal, workflows.Event{Name: "payment.succeeded", Key: tt.key, Data: map[string]any{"amount": 42}})
			}, tt.signalAt)
			res, err := h.run(t, flow, map[string]any{"order_id": "o-1"})
			if err != nil {
				t.Fatalf("run failed: %v", err)
			}
			st := statusOf(h.records(t))
			if st["paid"] != tt.wantStatus {
				t.Errorf("wait status = %q, want %q", st["paid"], tt.wantStatus)
			}
			after, _ := res.Outputs["after"].(map[string]any)
			if tt.wantStatus == workflows.StatusCompleted && after["amount"] != 42.0 {
				t.Errorf("after = %v, want amount 42", after)
			}
		})
	}
}

// TestWaitByGeneration pins what a wait step asks of Temporal in each
// interpreter generation: from generation 1 an event that is already there
// costs no timer and no state write, and a timer the event beat is
// cancelled. Generation 0 must keep its commands for old histories.
func TestWaitByGeneration(t *testing.T) {
	flow := pauseThenWait + `
  - {id: later, sleep: 1m}
`
	tests := []struct {
		name       string
		generation int
		signalAt   time.Duration // 0: no event, the wait times out
		// timers started (the sleeps' too), cancelled, and RelayState writes
		wantTimers, wantCancelled, wantStateWrites int
		wantStatus                                 string
	}{
		{"gen 0, event before wait", 0, 10 * time.Minute, 3, 0, 2, workflows.StatusCompleted},
		{"gen 0, event during wait", 0, 2 * time.Hour, 3, 0, 2, workflows.StatusCompleted},
		{"gen 0, no event", 0, 0, 3, 0, 2, workflows.StatusContinued},
		{"gen 1, event before wait", 1, 10 * time.Minute, 2, 0, 0, workflows.StatusCompleted},
		{"gen 1, event during wait", 1, 2 * time.Hour, 3, 1, 2, workflows.StatusCompleted},
		{"gen 1, no event", 1, 0, 3, 0, 2, workflows.StatusContinued},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.generation = tt.generation
			var timers, cancelled, writes int
			h.env.SetOnTimerScheduledListener(func(string, time.Duration) { timers++ })
			h.env.SetOnTimerCanceledListener(func(string) { cancelled++ })
			h.env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(args mock.Arguments) {
				if _, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttributeState)); ok {
					writes++
				}
			}).Maybe()
			if tt.signalAt > 0 {
				h.env.RegisterDelayedCallback(func() {
					h.env.SignalWorkflow(workflows.EventSignal, workflows.Event{Name: "payment.succeeded", Key: "o-1"})
				}, tt.signalAt)
			}
			if _, err := h.run(t, flow, map[string]any{"order_id": "o-1"}); err != nil {
				t.Fatalf("run failed: %v", err)
			}
			if st := statusOf(h.records(t))["paid"]; st != tt.wantStatus {
				t.Errorf("wait ended %s, want %s", st, tt.wantStatus)
			}
			if timers != tt.wantTimers || cancelled != tt.wantCancelled || writes != tt.wantStateWrites {
				t.Errorf("timers started %d, cancelled %d, RelayState writes %d; want %d, %d, %d",
					timers, cancelled, writes, tt.wantTimers, tt.wantCancelled, tt.wantStateWrites)
			}
		})
	}
}

// TestNumbersInTextByGeneration pins how a number inside text is written:
// from generation 2 as JSON writes it, so that a numeric order ID makes
// the path a partner expects; generation 1 keeps Go's %v, which the runs
// it started replay with.
func TestNumbersInTextByGeneration(t *testing.T) {
	const flow = `id: numbers
version: 1
inputs:
  id: {type: number, required: true}
  note: {type: string}
steps:
  - id: u
    set: {url: "/orders/${{ input.id }}", half: "${{ input.id / 8 }} each", none: "[${{ input.note }}]"}
output: ${{ steps.u.output }}
`
	tests := []struct {
		generation int
		want       map[string]any
	}{
		{1, map[string]any{"url": "/orders/1.2345678e+07", "half": "1.54320975e+06 each", "none": "[]"}},
		{2, map[string]any{"url": "/orders/12345678", "half": "1543209.75 each", "none": "[]"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("generation %d", tt.generation), func(t *testing.T) {
			h := newHarness(t)
			h.generation = tt.generation
			res, err := h.run(t, flow, map[string]any{"id": 12345678.0})
			if err != nil {
				t.Fatalf("run failed: %v", err)
			}
			if !reflect.DeepEqual(res.Output, tt.want) {
				t.Errorf("output %v, want %v", res.Output, tt.want)
			}
		})
	}
}

// TestNewerGenerationIsRetried: a run started by a newer relay fails its
// workflow task on this worker, so another worker can take it; the run
// itself does not fail.
func TestNewerGenerationIsRetried(t *testing.T) {
	h := newHarness(t)
	h.generation = workflows.Generation + 1
	h.env.ExecuteWorkflow(workflows.RunWorkflow, workflows.RunInput{Generation: h.generation, Flow: source(t, header+`
steps:
  - {id: a, set: {x: 1}}
`)})
	err := h.env.GetWorkflowError()
	var panicErr *temporal.PanicError
	if !errors.As(err, &panicErr) || !strings.Contains(panicErr.Error(), "upgrade it") {
		t.Fatalf("error = %v, want the worker's panic asking for an upgrade", err)
	}
}

func TestWaitTimeoutFails(t *testing.T) {
	h := newHarness(t)
	_, err := h.run(t, header+`
steps:
  - {id: paid, wait: {event: payment.succeeded, timeout: 30m}}
`, nil)
	if err == nil {
		t.Fatal("run succeeded, want wait timeout failure")
	}
	recs := h.records(t)
	if recs[0].ErrorType != workflows.ErrorTypeWaitTimeout {
		t.Errorf("error type = %q, want %s", recs[0].ErrorType, workflows.ErrorTypeWaitTimeout)
	}
}

// TestSubflow: a flow step outputs the child's {outputs, vars}, or its
// output when the child declares one.
func TestSubflow(t *testing.T) {
	const child = childHeader + `
inputs:
  who: {type: string, required: true}
steps:
  - {id: greet, call: t.quick, with: {name: greet, value: "hello ${{ input.who }}"}}
`
	tests := []struct {
		name, child, read string
	}{
		{"outputs and vars", child, "steps.sub.output.outputs.greet"},
		{"declared output", child + `output: {greeting: "${{ steps.greet.output }}"}` + "\n", "steps.sub.output.greeting"},
		{"declared null output", child + "output: ${{ nil }}\n", `steps.sub.output ?? 'hello ada'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			res, err := h.run(t, header+`
steps:
  - {id: sub, flow: child, with: {who: ada}}
  - {id: after, set: {greeting: "${{ `+tt.read+` }}"}}
`, nil, tt.child)
			if err != nil {
				t.Fatalf("run failed: %v", err)
			}
			if res.Vars["greeting"] != "hello ada" {
				t.Errorf("greeting = %v, want hello ada", res.Vars["greeting"])
			}
		})
	}
}

func TestInvalidInputFailsRun(t *testing.T) {
	h := newHarness(t)
	_, err := h.run(t, header+`
inputs:
  amount: {type: number, required: true}
steps:
  - {id: a, set: {x: 1}}
`, map[string]any{})
	var appErr *temporal.ApplicationError
	if !errorsAs(err, &appErr) || appErr.Type() != workflows.ErrorTypeInvalidRun {
		t.Fatalf("error = %v, want %s", err, workflows.ErrorTypeInvalidRun)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func TestParkThenRetryOrSkip(t *testing.T) {
	flow := header + `
steps:
  - id: charge
    call: t.flaky
    with: {name: charge, failures: 3}
    retry: {max_attempts: 2, initial_interval: 1s}
    on_error: park
  - {id: after, call: t.echo, with: {name: after, got: "${{ steps.charge.output }}"}}
`
	tests := []struct {
		name   string
		update string
		arg    workflows.StepAction
		want   any // after's "got"
	}{
		{"retry succeeds with new keys", workflows.RetryStepUpdate, workflows.StepAction{}, "ok"},
		{"skip with an output", workflows.SkipStepUpdate, workflows.StepAction{Step: "charge", Output: "manual"}, "manual"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var rejected, accepted bool
			h.env.RegisterDelayedCallback(func() {
				// Not parked at a step of that name: the validator refuses.
				h.env.UpdateWorkflow(tt.update, "bad", &testsuite.TestUpdateCallback{
					OnReject: func(error) { rejected = true }, OnAccept: func() {}, OnComplete: func(any, error) {},
				}, workflows.StepAction{Step: "nope"})
				h.env.UpdateWorkflow(tt.update, "good", &testsuite.TestUpdateCallback{
					OnReject: func(err error) { t.Errorf("update rejected: %v", err) }, OnAccept: func() { accepted = true }, OnComplete: func(any, error) {},
				}, tt.arg)
			}, time.Hour)
			res, err := h.run(t, flow, nil)
			if err != nil {
				t.Fatalf("run failed: %v", err)
			}
			if !rejected || !accepted {
				t.Errorf("rejected %v accepted %v", rejected, accepted)
			}
			if got := res.Outputs["after"].(map[string]any)["got"]; got != tt.want {
				t.Errorf("after got %v, want %v", got, tt.want)
			}
			keys := h.calls.keys["charge"]
			if tt.update == workflows.RetryStepUpdate && (len(keys) != 4 || keys[0] != keys[1] || keys[2] != keys[3] || keys[2] == keys[1]) {
				t.Errorf("charge keys = %v: want two attempts with one key, then two with a fresh key after the retry", keys)
			}
		})
	}
}

// TestRetryStepFreshKeysInside: retry-step on a parked step that holds
// calls (a branch, a loop, a loop in batch children; a `flow:` step from
// generation 3) gives the call that failed a fresh idempotency key, so
// that a partner that stored its failure by key does not answer it again,
// and keeps the keys of the calls that succeeded, so that they are not
// done twice (generation 2 on). Generation 1 kept every nested call's key.
func TestRetryStepFreshKeysInside(t *testing.T) {
	flows := map[string]string{
		"if": header + `
steps:
  - id: guard
    if: "true"
    then:
      - {id: done, call: t.echo, with: {name: done}}
      - {id: charge, call: t.flaky, with: {name: charge, failures: 1}, retry: {max_attempts: 1}}
    on_error: park
`,
		"foreach": header + `
steps:
  - id: lines
    foreach: ${{ 0..%d }}
    steps:
      - {id: charge, call: t.flaky, with: {name: "line-${{ index }}", failures: "${{ index == %d ? 1 : 0 }}"}, retry: {max_attempts: 1}}
    on_error: park
`,
		"flow": header + `
steps:
  - {id: sub, flow: child, on_error: park}
`,
	}
	const child = childHeader + `
steps:
  - {id: done, call: t.echo, with: {name: done}}
  - id: group
    if: "true"
    then:
      - {id: charge, call: t.flaky, with: {name: charge, failures: 1}, retry: {max_attempts: 1}}
`
	tests := []struct {
		name              string
		flow, child       string
		done, failed      string // calls that succeeded, and the one that failed
		generation        int
		wantFreshFailed   bool
		wantSameSucceeded bool
	}{
		{"flow", flows["flow"], child, "done", "charge", workflows.Generation, true, true},
		{"flow, generation 2", flows["flow"], child, "done", "charge", 2, false, true},
		{"if", flows["if"], "", "done", "charge", workflows.Generation, true, true},
		{"if, generation 1", flows["if"], "", "done", "charge", 1, false, true},
		{"foreach", fmt.Sprintf(flows["foreach"], 2, 1), "", "line-0", "line-1", workflows.Generation, true, true},
		{"foreach in batch children", fmt.Sprintf(flows["foreach"], 600, 550), "", "line-549", "line-550", workflows.Generation, true, true},
		{"foreach in batch children, generation 1", fmt.Sprintf(flows["foreach"], 600, 550), "", "line-549", "line-550", 1, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.generation = tt.generation
			h.env.RegisterDelayedCallback(func() {
				h.env.UpdateWorkflow(workflows.RetryStepUpdate, "retry", &testsuite.TestUpdateCallback{
					OnReject: func(err error) { t.Errorf("update rejected: %v", err) }, OnAccept: func() {}, OnComplete: func(any, error) {},
				}, workflows.StepAction{})
			}, time.Hour)
			var subflows []string
			if tt.child != "" {
				subflows = append(subflows, tt.child)
			}
			if _, err := h.run(t, tt.flow, nil, subflows...); err != nil {
				t.Fatalf("run failed: %v", err)
			}
			failed, done := h.calls.keys[tt.failed], h.calls.keys[tt.done]
			if len(failed) != 2 || len(done) != 2 {
				t.Fatalf("keys of %s %v and of %s %v: want each called before and after the retry", tt.failed, failed, tt.done, done)
			}
			if fresh := failed[0] != failed[1]; fresh != tt.wantFreshFailed {
				t.Errorf("the failed call's key fresh after the retry = %v, want %v", fresh, tt.wantFreshFailed)
			}
			if same := done[0] == done[1]; same != tt.wantSameSucceeded {
				t.Errorf("a succeeded call's key kept = %v, want %v", same, tt.wantSameSucceeded)
			}
		})
	}
}

// TestRetryParkedFlowStepRedoesWhatItsChildUndid: a child run that fails
// undoes its compensable steps before its parent parks, so retry-step on
// the parked `flow:` step does them again under fresh keys (a partner
// would answer the old key with the order it cancelled), and their
// compensations get fresh keys too (the second order is cancelled, not
// answered with the first cancel); a step nothing undid keeps its key
// (generation 3). Generation 2 kept every key of the child.
func TestRetryParkedFlowStepRedoesWhatItsChildUndid(t *testing.T) {
	const child = childHeader + `
steps:
  - {id: note, call: t.echo, with: {name: note}}
  - id: order
    call: t.echo
    with: {name: order}
    compensate: [{id: cancel, call: t.echo, with: {name: cancel}}]
  - {id: charge, call: t.flaky, with: {name: charge, failures: 2}, retry: {max_attempts: 1}}
`
	tests := []struct {
		name       string
		generation int
		wantFresh  bool // charge, order and cancel keyed afresh on each retry
	}{
		{"generation 3 on", workflows.Generation, true},
		{"generation 2", 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.generation = tt.generation
			for _, at := range []time.Duration{time.Hour, 2 * time.Hour} {
				h.env.RegisterDelayedCallback(func() {
					h.env.UpdateWorkflow(workflows.RetryStepUpdate, at.String(), &testsuite.TestUpdateCallback{
						OnReject: func(err error) { t.Errorf("update rejected: %v", err) }, OnAccept: func() {}, OnComplete: func(any, error) {},
					}, workflows.StepAction{})
				}, at)
			}
			if _, err := h.run(t, header+`
steps:
  - {id: pay, flow: child, on_error: park}
`, nil, child); err != nil {
				t.Fatalf("run failed: %v", err)
			}
			keys := h.calls.keys
			if len(keys["note"]) != 3 || len(keys["order"]) != 3 || len(keys["cancel"]) != 2 || len(keys["charge"]) != 3 {
				t.Fatalf("calls %v: want note, order and charge three times, cancel twice", h.calls.list())
			}
			if n := distinct(keys["note"]); n != 1 {
				t.Errorf("note had %d keys, want 1: nothing undid it", n)
			}
			for _, name := range []string{"charge", "order", "cancel"} {
				want := 1
				if tt.wantFresh {
					want = len(keys[name]) // a fresh key each time
				}
				if n := distinct(keys[name]); n != want {
					t.Errorf("%s had %d keys in %d calls, want %d", name, n, len(keys[name]), want)
				}
			}
		})
	}
}

// distinct counts the distinct strings in ss.
func distinct(ss []string) int {
	return len(slices.Compact(slices.Sorted(slices.Values(ss))))
}

// TestFlowStepFailureNamesChildStep: a `flow:` step that fails because a
// step of its child failed names that step and its error type (generation
// 3 on), so that `on_error` and operators see stripe.card_declined where
// generation 2 said relay.step_failed.
func TestFlowStepFailureNamesChildStep(t *testing.T) {
	const child = childHeader + `
steps:
  - {id: done, call: t.echo, with: {name: done}}
  - {id: charge, call: t.fail, with: {name: charge, type: stripe.card_declined}, retry: {max_attempts: 1}}
`
	tests := []struct {
		name       string
		generation int
		wantErr    string
	}{
		{"generation 3 on", workflows.Generation, `step "sub/charge" failed (stripe.card_declined)`},
		{"generation 2", 2, `step "sub" failed (relay.step_failed)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.generation = tt.generation
			_, err := h.run(t, header+`
steps:
  - {id: sub, flow: child}
`, nil, child)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to say %s", err, tt.wantErr)
			}
		})
	}
}

// TestParkUpdatesNeedAParkedStep: a run registers the park updates when a
// step first parks, so before that the SDK refuses them, before history,
// and the run goes on untouched.
func TestParkUpdatesNeedAParkedStep(t *testing.T) {
	h := newHarness(t)
	var rejected []string
	h.env.RegisterDelayedCallback(func() {
		for _, name := range []string{workflows.RetryStepUpdate, workflows.SkipStepUpdate} {
			h.env.UpdateWorkflow(name, name, &testsuite.TestUpdateCallback{
				OnReject:   func(err error) { rejected = append(rejected, name) },
				OnAccept:   func() { t.Errorf("%s accepted by a run with no parked step", name) },
				OnComplete: func(any, error) {},
			}, workflows.StepAction{Output: "manual"})
		}
	}, 10*time.Minute)
	res, err := h.run(t, header+`
steps:
  - {id: pause, sleep: 1h}
  - {id: after, call: t.echo, with: {name: after}}
`, nil)
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if !slices.Equal(rejected, []string{workflows.RetryStepUpdate, workflows.SkipStepUpdate}) {
		t.Errorf("rejected %v, want both updates", rejected)
	}
	if got := h.calls.list(); !slices.Equal(got, []string{"after"}) {
		t.Errorf("calls = %v, want after once", got)
	}
	if res.Outputs["after"] == nil {
		t.Errorf("outputs = %v, want after's", res.Outputs)
	}
}

func TestHaltSkipsCompensation(t *testing.T) {
	h := newHarness(t)
	_, err := h.run(t, header+`
steps:
  - id: charge
    call: t.echo
    with: {name: charge}
    compensate: [{id: refund, call: t.echo, with: {name: refund}}]
  - {id: invoice, call: t.fail, with: {name: invoice, type: http.500}, retry: {max_attempts: 1}, on_error: halt}
`, nil)
	if err == nil {
		t.Fatal("run succeeded, want a halt")
	}
	if got := h.calls.list(); !slices.Equal(got, []string{"charge", "invoice"}) {
		t.Errorf("calls = %v: a halted run must not compensate", got)
	}
}

// TestChildHaltDecidesForTheChild: a child's on_error decides for the
// child alone. A child that halts keeps its own effects, fails its
// parent's flow step, and that step's on_error decides for the parent:
// under the default fail the parent compensates its completed steps;
// under halt it does not.
func TestChildHaltDecidesForTheChild(t *testing.T) {
	child := childHeader + `
steps:
  - id: reserve
    call: t.echo
    with: {name: reserve}
    compensate: [{id: release, call: t.echo, with: {name: release}}]
  - {id: ship, call: t.fail, with: {name: ship, type: http.500}, retry: {max_attempts: 1}, on_error: halt}
`
	tests := []struct {
		name    string
		onError string
		want    []string
	}{
		{"the parent fails", "", []string{"charge", "reserve", "ship", "refund"}},
		{"the parent halts", ", on_error: halt", []string{"charge", "reserve", "ship"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			_, err := h.run(t, header+`
steps:
  - id: charge
    call: t.echo
    with: {name: charge}
    compensate: [{id: refund, call: t.echo, with: {name: refund}}]
  - {id: sub, flow: child`+tt.onError+`}
`, nil, child)
			if err == nil || !strings.Contains(err.Error(), `step "sub/ship" failed (http.500)`) {
				t.Fatalf("error %v, want the child's halted step named", err)
			}
			if got := h.calls.list(); !slices.Equal(got, tt.want) {
				t.Errorf("calls = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestHaltInBatchedForeach: a foreach long enough to run in batch
// children halts the run as a short one does (generation 2 on): no
// compensation, and the failure names the step inside the loop. The
// batch child used to hand back a plain failure, so the parent
// compensated and reported relay.step_failed.
func TestHaltInBatchedForeach(t *testing.T) {
	flow := header + `
steps:
  - id: charge
    call: t.echo
    with: {name: charge}
    compensate: [{id: refund, call: t.echo, with: {name: refund}}]
  - id: lines
    foreach: ${{ 0..%d }}
    steps:
      - {id: line, call: t.fail, with: {name: line, type: http.500}, retry: {max_attempts: 1}, on_error: halt}
`
	tests := []struct {
		name       string
		generation int
		items      int
		wantRefund bool
		wantErr    string
	}{
		{"in the run", workflows.Generation, 3, false, `step "lines[0].line" failed (http.500)`},
		{"in batch children", workflows.Generation, 501, false, `step "lines[0].line" failed (http.500)`},
		{"in batch children, generation 1", 1, 501, true, `(relay.step_failed)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.generation = tt.generation
			_, err := h.run(t, fmt.Sprintf(flow, tt.items-1), nil)
			if err == nil {
				t.Fatal("run succeeded, want a halt")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want it to say %s", err, tt.wantErr)
			}
			if refunded := slices.Contains(h.calls.list(), "refund"); refunded != tt.wantRefund {
				t.Errorf("refunded %v, want %v (calls %v)", refunded, tt.wantRefund, h.calls.list())
			}
		})
	}
}

// TestVarsInBatchedForeach: variables a foreach body sets reach the run
// whether the loop runs in the run or in batch children (generation 2 on);
// generation 1 batch children dropped them.
func TestVarsInBatchedForeach(t *testing.T) {
	flow := header + `
steps:
  - {id: init, set: {count: 0}}
  - id: lines
    foreach: ${{ 1..%d }}
    steps:
      - {id: add, set: {count: "${{ vars.count + 1 }}"}}
output: ${{ vars.count }}
`
	tests := []struct {
		generation, items int
		want              float64
	}{
		{workflows.Generation, 3, 3},
		{workflows.Generation, 1001, 1001},
		{1, 1001, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("generation %d, %d items", tt.generation, tt.items), func(t *testing.T) {
			h := newHarness(t)
			h.generation = tt.generation
			res, err := h.run(t, fmt.Sprintf(flow, tt.items), nil)
			if err != nil {
				t.Fatalf("run failed: %v", err)
			}
			if got, _ := res.Output.(float64); got != tt.want {
				t.Errorf("vars.count = %v, want %v", res.Output, tt.want)
			}
		})
	}
}

func TestReplayReusesOutputs(t *testing.T) {
	h := newHarness(t)
	flow := header + `
steps:
  - {id: totals, set: {amount: 42}}
  - id: charge
    call: t.echo
    with: {name: charge, amount: "${{ vars.amount }}"}
    compensate: [{id: refund, call: t.echo, with: {name: refund, of: "${{ steps.charge.output.name }}"}}]
  - {id: invoice, call: t.echo, with: {name: invoice, amount: "${{ steps.charge.output.amount }}"}}
`
	src := source(t, flow)
	in := workflows.RunInput{Flow: src, Replay: &workflows.Replay{Original: "orig", From: "invoice", Steps: map[string]definitions.StepView{
		"totals": {Status: workflows.StatusCompleted, Output: map[string]any{"amount": 42.0}},
		"charge": {Status: workflows.StatusCompleted, Output: map[string]any{"name": "charge", "amount": 42.0}},
	}}}
	h.env.ExecuteWorkflow(workflows.RunWorkflow, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("replay failed: %v", err)
	}
	var res workflows.RunResult
	if err := h.env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if got := h.calls.list(); !slices.Equal(got, []string{"invoice"}) {
		t.Errorf("calls = %v, want only invoice", got)
	}
	if res.Outputs["invoice"].(map[string]any)["amount"] != 42.0 || res.Vars["amount"] != 42.0 {
		t.Errorf("replay outputs = %v vars = %v", res.Outputs, res.Vars)
	}
	st := statusOf(h.records(t))
	if st["charge"] != workflows.StatusReused || st["invoice"] != workflows.StatusCompleted {
		t.Errorf("records = %v", st)
	}
}

// TestReplayGotoBeforeRestartPoint: a replay that restarts at a step whose
// on_error goes back to an earlier step goes back, as the run it replays
// would have (generation 2 on); generation 1 replays fail at the goto,
// whose target is not in the steps they run.
func TestReplayGotoBeforeRestartPoint(t *testing.T) {
	flow := header + `
steps:
  - {id: login, call: t.echo, with: {name: login}}
  - {id: fetch, call: t.flaky, with: {name: fetch, failures: 1}, retry: {max_attempts: 1}, on_error: {goto: login}}
`
	tests := []struct {
		generation int
		wantCalls  []string
		wantErr    string
	}{
		{workflows.Generation, []string{"fetch", "login", "fetch"}, ""},
		{1, []string{"fetch"}, `step "fetch" failed (http.503)`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("generation %d", tt.generation), func(t *testing.T) {
			h := newHarness(t)
			in := workflows.RunInput{Generation: tt.generation, Flow: source(t, flow), Replay: &workflows.Replay{Original: "orig", From: "fetch", Steps: map[string]definitions.StepView{
				"login": {Status: workflows.StatusCompleted, Output: map[string]any{"name": "login"}},
			}}}
			h.env.ExecuteWorkflow(workflows.RunWorkflow, in)
			err := h.env.GetWorkflowError()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("replay failed: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("replay error %v, want %q", err, tt.wantErr)
			}
			if got := h.calls.list(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("calls = %v, want %v", got, tt.wantCalls)
			}
		})
	}
}

func TestReplayedStepFailureCompensatesReusedSteps(t *testing.T) {
	h := newHarness(t)
	flow := header + `
steps:
  - id: charge
    call: t.echo
    with: {name: charge}
    compensate: [{id: refund, call: t.echo, with: {name: refund, of: "${{ steps.charge.output.name }}"}}]
  - {id: invoice, call: t.fail, with: {name: invoice, type: http.422}}
`
	in := workflows.RunInput{Flow: source(t, flow), Replay: &workflows.Replay{Original: "orig", From: "invoice", Steps: map[string]definitions.StepView{
		"charge": {Status: workflows.StatusCompleted, Output: map[string]any{"name": "charge"}},
	}}}
	h.env.ExecuteWorkflow(workflows.RunWorkflow, in)
	if h.env.GetWorkflowError() == nil {
		t.Fatal("replay succeeded, want failure")
	}
	if got := h.calls.list(); !slices.Equal(got, []string{"invoice", "refund"}) {
		t.Errorf("calls = %v, want invoice then the reused charge's refund", got)
	}
}
