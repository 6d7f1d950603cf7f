package workflows_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/workflows"
)

// TestStepCompletedTwiceIsUndoneOnce: a step that completes a second time
// in one run (its container retried after it parked, a replay's goto back
// before its restart point) is undone once when the run fails (generation
// 4 on), not once per completion, which undid the same effect twice under
// the same idempotency key. Every record of its completions is marked
// compensated.
func TestStepCompletedTwiceIsUndoneOnce(t *testing.T) {
	const order = `
      - id: order
        call: t.echo
        with: {name: order}
        compensate: [{id: cancel, call: t.echo, with: {name: cancel}}]`
	const ship = `
  - {id: ship, call: t.fail, with: {name: ship, type: http.500}, retry: {max_attempts: 1}}
`
	scenarios := []struct {
		name string
		flow string
		// replay, when set, starts the run as a replay from this step
		// with order reused.
		replay string
		retry  bool // retry the parked step after an hour
		// undone is how many orders the run placed (distinct paths);
		// completions how many times they completed, which generation 3
		// undid each.
		undone, completions int
	}{
		{name: "if retried", retry: true, undone: 1, completions: 2, flow: header + `
steps:
  - id: group
    if: "true"
    then:` + order + `
      - {id: charge, call: t.flaky, with: {name: charge, failures: 1}, retry: {max_attempts: 1}}
    on_error: park` + ship},
		{name: "foreach retried", retry: true, undone: 3, completions: 5, flow: header + `
steps:
  - id: lines
    foreach: ${{ 0..2 }}
    steps:` + order + `
      - {id: charge, call: t.flaky, with: {name: "line-${{ index }}", failures: "${{ index == 1 ? 1 : 0 }}"}, retry: {max_attempts: 1}}
    on_error: park` + ship},
		{name: "foreach in batch children retried", retry: true, undone: 601, completions: 500 + 51 + 601, flow: header + `
steps:
  - id: lines
    foreach: ${{ 0..600 }}
    steps:` + order + `
      - {id: charge, call: t.flaky, with: {name: "line-${{ index }}", failures: "${{ index == 550 ? 1 : 0 }}"}, retry: {max_attempts: 1}}
    on_error: park` + ship},
		{name: "replay goes back before its restart point", replay: "fetch", undone: 1, completions: 2, flow: header + `
steps:
  - id: order
    call: t.echo
    with: {name: order}
    compensate: [{id: cancel, call: t.echo, with: {name: cancel}}]
  - {id: fetch, call: t.flaky, with: {name: fetch, failures: 1}, retry: {max_attempts: 1}, on_error: {goto: order}}` + ship},
	}
	for _, sc := range scenarios {
		for _, gen := range []int{3, 4} {
			want := sc.completions
			if gen >= 4 {
				want = sc.undone
			}
			t.Run(fmt.Sprintf("%s, generation %d", sc.name, gen), func(t *testing.T) {
				h := newHarness(t)
				h.generation = gen
				if sc.retry {
					h.env.RegisterDelayedCallback(func() {
						h.env.UpdateWorkflow(workflows.RetryStepUpdate, "retry", &testsuite.TestUpdateCallback{
							OnReject: func(err error) { t.Errorf("update rejected: %v", err) }, OnAccept: func() {}, OnComplete: func(any, error) {},
						}, workflows.StepAction{})
					}, time.Hour)
				}
				var err error
				if sc.replay != "" {
					h.env.ExecuteWorkflow(workflows.RunWorkflow, workflows.RunInput{Generation: gen, Flow: source(t, sc.flow), Replay: &workflows.Replay{
						Original: "orig", From: sc.replay, Steps: map[string]definitions.StepView{
							"order": {Status: workflows.StatusCompleted, Output: map[string]any{"name": "order"}},
						},
					}})
					err = h.env.GetWorkflowError()
				} else {
					_, err = h.run(t, sc.flow, nil)
				}
				if err == nil {
					t.Fatal("run succeeded, want it to fail at ship")
				}
				if got := len(h.calls.keys["cancel"]); got != want {
					t.Errorf("cancel called %d times, want %d (calls %v)", got, want, trim(h.calls.list()))
				}
				if n := distinct(h.calls.keys["cancel"]); n != sc.undone {
					t.Errorf("cancel called with %d distinct keys, want %d", n, sc.undone)
				}
				for _, rec := range h.records(t) {
					if rec.ID == "order" && rec.Status != workflows.StatusCompensated {
						t.Errorf("record of %s at %s is %s, want compensated", rec.Path, rec.StartedAt.Format(time.TimeOnly), rec.Status)
					}
				}
			})
		}
	}
}

// trim shortens a long call list for an error message.
func trim(calls []string) []string {
	if len(calls) > 20 {
		return append(calls[:20:20], fmt.Sprintf("... %d more", len(calls)-20))
	}
	return calls
}

// TestTopLevelFailureListsNoCompensations: only a parent's `flow:` step
// reads the paths a failed run undid, so a run that is not a child leaves
// them out of its failure (a long compensating foreach made it too large
// for Temporal); a child still hands them to its parent
// (TestRetryParkedFlowStepRedoesWhatItsChildUndid).
func TestTopLevelFailureListsNoCompensations(t *testing.T) {
	h := newHarness(t)
	_, err := h.run(t, header+`
steps:
  - id: lines
    foreach: ${{ 0..9 }}
    steps:
      - id: order
        call: t.echo
        with: {name: order}
        compensate: [{id: cancel, call: t.echo, with: {name: cancel}}]
  - {id: ship, call: t.fail, with: {name: ship, type: http.500}, retry: {max_attempts: 1}}
`, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != workflows.ErrorTypeStepFailed {
		t.Fatalf("error %v, want %s", err, workflows.ErrorTypeStepFailed)
	}
	if n := len(h.calls.keys["cancel"]); n != 10 {
		t.Fatalf("cancel called %d times, want 10", n)
	}
	var step, typ string
	var detail struct {
		Path        string   `json:"path"`
		Compensated []string `json:"compensated"`
	}
	if err := appErr.Details(&step, &typ, &detail); err != nil {
		t.Fatalf("reading the failure's details: %v", err)
	}
	if step != "ship" || typ != "http.500" || detail.Path != "ship" {
		t.Errorf("failure names %s (%s) at %s, want ship (http.500) at ship", step, typ, detail.Path)
	}
	if len(detail.Compensated) != 0 {
		t.Errorf("failure lists %d undone steps, want none", len(detail.Compensated))
	}
}
