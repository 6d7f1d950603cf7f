// Package workflows is relay's deterministic interpreter: one Temporal
// workflow, registered as `relay.run`, that runs any flow definition. The
// definition travels in the workflow input, so a run never changes when a
// file does, and replaying its history always takes the same path.
package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/definitions"
)

// Stable Temporal names. Changing one breaks runs in flight.
const (
	// RunWorkflow is the workflow type of every flow run.
	RunWorkflow = "relay.run"
	// EventSignal delivers an Event to a run that waits for it.
	EventSignal = "relay.event"
	// StepsQuery returns the run's []StepRecord.
	StepsQuery = "relay.steps"
	// ErrorTypeStepFailed is the failure type of a run that failed at a step.
	ErrorTypeStepFailed = "relay.step_failed"
	// ErrorTypeInvalidRun is the failure type of a run whose input or
	// definition cannot run at all.
	ErrorTypeInvalidRun = "relay.invalid_run"
	// ErrorTypeWaitTimeout is the error type of a wait step that timed out.
	ErrorTypeWaitTimeout = "relay.wait_timeout"
	// ErrorTypeOutputFailed fails a run whose steps all completed but
	// whose `output:` could not be evaluated; nothing is compensated.
	ErrorTypeOutputFailed = "relay.output_failed"
)

// Generation is the interpreter behaviour runs started by this code get.
//
// A change to the commands the interpreter makes for the same definition
// and events would break the replay of histories recorded before it, so
// such a change is made for a new generation only: a run keeps the
// generation it started with, in its input, for life. Unlike
// workflow.GetVersion this costs a run nothing (GetVersion records a
// marker and an upsert of TemporalChangeVersion, a visibility write).
//
//	0  every run started before generations existed
//	1  a wait whose event is already there takes it at once (no state
//	   write, no timer), and a wait's timeout timer is cancelled when the
//	   event comes
//	2  a number inside text is written as JSON writes it (12345678, not
//	   1.2345678e+07; see definitions.Text); a foreach run in batch
//	   children fails as its failed step asked (a halt does not
//	   compensate), names that step and its error type, and hands back
//	   the variables it set; a replay's on_error goto may go back to a
//	   step before its restart point; a parked step an operator retries
//	   gives the call inside it that failed a fresh idempotency key, not
//	   only its own
//	3  a failed `flow:` step names the child's step that failed and its
//	   error type (`sub/charge`, stripe.card_declined), not
//	   relay.step_failed; a parked `flow:` step an operator retries gives
//	   the child's call that failed a fresh idempotency key, and the
//	   steps the failed child undid (and their compensations) fresh keys
//	   too
//	4  a step that completes again in the same run (its container
//	   retried with retry-step, a replay's on_error goto back before its
//	   restart point) is undone once if the run fails, not once per
//	   completion: its compensation replaces the one its earlier
//	   completion registered and moves to where the latest completion
//	   puts it (see addCompensation)
const Generation = genCompensateOnce

// Generations, in order; see Generation.
const (
	genFirst            = 0
	genPromptWait       = 1
	genNumbersAsWritten = 2
	genBatchFailures    = 2
	genReplayGoto       = 2
	genRetryKeys        = 2
	genBatchVars        = 2
	genChildFailures    = 3
	genCompensateOnce   = 4
)

// RunInput is the input of `relay.run`.
type RunInput struct {
	// Generation selects the interpreter behaviour this run replays with;
	// see Generation. Starters set it to Generation; children take their
	// parent's.
	Generation int `json:"generation,omitempty"`
	// Flow is the definition to run, pinned for the life of the run.
	Flow definitions.Source `json:"flow"`
	// Subflows holds, by flow ID, every definition the flow's `flow:`
	// steps may start, transitively.
	Subflows map[string]definitions.Source `json:"subflows,omitempty"`
	// Input is the flow's input, defaults already applied.
	Input map[string]any `json:"input"`
	// IdempotencyBase prefixes every idempotency key of the run; empty means
	// the workflow ID. An operator replay keeps the original run's base so
	// partners recognise calls that already succeeded.
	IdempotencyBase string `json:"idempotency_base,omitempty"`
	// Batch, when set, makes this run one batch of a large foreach of its
	// parent rather than a whole flow.
	Batch *Batch `json:"batch,omitempty"`
	// Trigger is the delivery that started the run, kept in its history so
	// the run can be replayed with its original payload.
	Trigger *TriggerEvent `json:"trigger,omitempty"`
	// Replay, when set, makes this run a replay of another: the steps
	// before Replay.From take their recorded outputs instead of running.
	Replay *Replay `json:"replay,omitempty"`
	// Retries are the operator retries counted for calls inside this run,
	// which key those calls afresh: for a `flow:` step's child, those its
	// parent counted when its parked step was retried, by the child's
	// paths (generation 3 on); for a batch, those its run counted inside
	// the foreach, by the run's paths (generation 2 on).
	Retries map[string]int `json:"retries,omitempty"`
}

// Replay says what a replay reuses from the run it replays.
type Replay struct {
	// Original is the replayed run's workflow ID.
	Original string `json:"original"`
	// From is the top-level step the replay starts at.
	From string `json:"from"`
	// Steps are the original run's step views by step ID, for every step
	// that ran before From.
	Steps map[string]definitions.StepView `json:"steps"`
}

// TriggerEvent is a webhook delivery as it arrived, without credentials.
type TriggerEvent struct {
	Path     string            `json:"path"`
	Delivery string            `json:"delivery"`
	Headers  map[string]string `json:"headers,omitempty"`
	Body     json.RawMessage   `json:"body"`
}

// Batch is a slice of a foreach's items run as a child workflow, so a
// foreach over many items never crowds one history.
type Batch struct {
	// Step is the foreach step's ID.
	Step string `json:"step"`
	// Path is the foreach step's path in the parent, for idempotency keys.
	Path string `json:"path"`
	// Items are this batch's items; Offset is the index of the first.
	Items  []any `json:"items"`
	Offset int   `json:"offset"`
	// Steps and Vars are what the parent's expressions saw when the
	// foreach started.
	Steps map[string]definitions.StepView `json:"steps,omitempty"`
	Vars  map[string]any                  `json:"vars,omitempty"`
}

// RunResult is what a completed run returns.
type RunResult struct {
	// Output is the value of the flow's `output:` when the flow declares
	// one; Outputs and Vars are then left out.
	Output any `json:"output,omitempty"`
	// Outputs holds each completed step's output by step ID.
	Outputs map[string]any `json:"outputs,omitempty"`
	// Vars are the variables as the run ended.
	Vars map[string]any `json:"vars,omitempty"`
	// Items holds a batch's per-item outputs (batch runs only).
	Items []any `json:"items,omitempty"`
	// Compensations a batch hands to its parent (batch runs only).
	Compensations []PendingCompensation `json:"compensations,omitempty"`
}

// Event is what EventSignal carries.
type Event struct {
	// ID is the delivery's ID; an event whose ID the run has seen is
	// dropped, so a redelivered webhook wakes nothing twice.
	ID string `json:"id,omitempty"`
	// Name is matched against a wait step's `event:`.
	Name string `json:"name"`
	// Key is matched against a wait step's `correlation:` value.
	Key string `json:"key,omitempty"`
	// Data becomes the wait step's output.
	Data any `json:"data,omitempty"`
}

// Interpreter runs flows. Register its Run method as RunWorkflow.
type Interpreter struct {
	// Registry validates the pinned definitions; the same one the worker's
	// activities use.
	Registry *connectors.Registry

	// flows caches parsed definitions by hash. Parsing is deterministic, so
	// a cache hit and a miss give the same Flow.
	flows sync.Map
}

// Run is the `relay.run` workflow.
func (in *Interpreter) Run(ctx workflow.Context, input RunInput) (*RunResult, error) {
	// Counted on return only, not in a defer: a panic or the SDK ending
	// an evicted run's goroutine has not ended the run.
	flowID, res, err := in.run(ctx, input)
	if input.Batch == nil { // a batch is part of its parent's run
		countRun(ctx, flowID, err)
	}
	return res, err
}

// run runs the flow; flowID is empty when the definition cannot be parsed.
func (in *Interpreter) run(ctx workflow.Context, input RunInput) (flowID string, _ *RunResult, _ error) {
	if input.Generation > Generation || input.Generation < genFirst {
		// Not the run's fault: fail the workflow task, which Temporal
		// retries until a worker that knows the generation takes it.
		panic(fmt.Sprintf("run started for interpreter generation %d; this worker runs generations %d to %d: upgrade it", input.Generation, genFirst, Generation))
	}
	flow, err := in.parse(input.Flow)
	if err != nil {
		return "", nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("definition %s cannot run: %v", input.Flow.File, err), ErrorTypeInvalidRun, nil)
	}
	flowID = flow.ID
	if input.Batch == nil {
		if input.Input, err = flow.BindInput(input.Input); err != nil {
			return flowID, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("input of flow %s: %v", flow.ID, err), ErrorTypeInvalidRun, nil)
		}
	}
	r := newRunner(ctx, in, flow, input)
	if input.Generation < genPromptWait {
		r.receiveEvents(ctx)
	} else {
		// Events no wait took are not "unhandled signals" for the SDK to
		// warn about: a late or repeated event is normal.
		defer r.drainEvents()
	}
	if err := workflow.SetQueryHandler(ctx, StepsQuery, r.queryRecords); err != nil {
		return flowID, nil, fmt.Errorf("registering query %s: %w", StepsQuery, err)
	}
	if input.Batch != nil {
		res, err := r.runBatch(ctx, input.Batch)
		return flowID, res, err
	}
	steps, from := flow.Steps, 0
	if input.Replay != nil {
		var err error
		if from, err = r.reuse(ctx, input.Replay); err != nil {
			return flowID, nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrorTypeInvalidRun, nil)
		}
		if input.Generation < genReplayGoto {
			// The steps before the restart point are not in the
			// sequence, so a goto back to one of them fails.
			steps, from = flow.Steps[from:], 0
		}
	}
	if err := r.runStepsFrom(ctx, r.root, steps, from, "", false); err != nil {
		var se *stepError
		errors.As(err, &se)
		r.recordFailure(ctx, se)
		if se == nil || !se.Halt {
			undone := r.compensate(ctx)
			if se != nil {
				// A parent that retries this run as its parked `flow:` step
				// redoes what was undone under fresh keys (generation 3).
				se.Compensated = append(se.Compensated, undone...)
			}
		}
		return flowID, nil, r.failure(err, workflow.GetInfo(ctx).ParentWorkflowExecution != nil)
	}
	if flow.Output != nil {
		out, err := flow.Output.Eval(r.env(r.root))
		if err != nil {
			// Every step is done: nothing to undo, the result is wrong.
			return flowID, nil, temporal.NewNonRetryableApplicationError("output: "+err.Error(), ErrorTypeOutputFailed, nil)
		}
		return flowID, &RunResult{Output: out}, nil
	}
	return flowID, &RunResult{Outputs: r.root.outputs(), Vars: r.vars}, nil
}

// RunsMetric is the SDK counter of ended runs, tagged flow and status
// (completed, failed, cancelled); Prometheus shows it as relay_runs_total.
const RunsMetric = "relay_runs"

// countRun counts an ended run. The SDK's workflow metrics handler drops
// what a replay would count again.
func countRun(ctx workflow.Context, flowID string, err error) {
	status := StatusCompleted
	switch {
	case temporal.IsCanceledError(err):
		status = "cancelled"
	case err != nil:
		status = StatusFailed
	}
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"flow": flowID, "status": status}).Counter(RunsMetric).Inc(1)
}

func (in *Interpreter) parse(src definitions.Source) (*definitions.Flow, error) {
	if src.Hash != "" {
		if f, ok := in.flows.Load(src.Hash); ok {
			return f.(*definitions.Flow), nil
		}
	}
	f, err := definitions.ParsePinned(src.File, src.Content, in.Registry)
	if err != nil {
		return nil, err
	}
	if src.Hash != "" {
		in.flows.Store(src.Hash, f)
	}
	return f, nil
}

// maxCompensatedPaths bounds StepError.Compensated in a run's failure: a
// long compensating foreach undoes a step per item, and a failure larger
// than Temporal's payload limit terminates the run instead of failing it.
const maxCompensatedPaths = 1000

// failure turns the error that ended a run into the run's failure; child
// says the run is a `flow:` step's child.
func (r *runner) failure(err error, child bool) error {
	var se *stepError
	if errors.As(err, &se) {
		// The step error itself is the third detail, for a parent's
		// `flow:` step to name the step that failed (childFailure).
		return temporal.NewNonRetryableApplicationError(se.Error(), ErrorTypeStepFailed, nil, se.Step, se.Type, failureDetail(se, child))
	}
	if temporal.IsCanceledError(err) {
		return err
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrorTypeStepFailed, nil)
}

// failureDetail is the step error as a run's failure carries it. Only a
// parent's `flow:` step reads the paths the run undid (to key them afresh
// when an operator retries it), so a run that is not a child leaves them
// out; a child's are cut at maxCompensatedPaths, and CompensatedCut counts
// those left out (see retryWithFreshKey for what the parent does then).
func failureDetail(se *stepError, child bool) *stepError {
	d := *se
	switch {
	case !child:
		d.Compensated, d.CompensatedCut = nil, 0
	case len(d.Compensated) > maxCompensatedPaths:
		d.CompensatedCut += len(d.Compensated) - maxCompensatedPaths
		d.Compensated = d.Compensated[:maxCompensatedPaths]
	}
	return &d
}
