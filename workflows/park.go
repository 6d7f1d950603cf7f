package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/relay-dev/relay/definitions"
)

// Updates an operator sends to a parked run. A run registers them when a
// step first parks; before that the SDK refuses them as unknown updates.
const (
	// RetryStepUpdate runs the parked step again, with fresh idempotency keys.
	RetryStepUpdate = "relay.retry_step"
	// SkipStepUpdate completes the parked step with the given output.
	SkipStepUpdate = "relay.skip_step"
)

// ErrNoParkedStep is how a run refuses RetryStepUpdate or SkipStepUpdate
// naming no step when none is parked. A run that never parked has no
// handler for them yet, and the SDK refuses them as unknown updates;
// runs.Client reports that refusal as this error too.
var ErrNoParkedStep = errors.New("the run has no parked step")

// StepAction is the argument of RetryStepUpdate and SkipStepUpdate.
type StepAction struct {
	// Step is the parked step's path; empty means the only parked step.
	Step string `json:"step,omitempty"`
	// Output is the skipped step's output (SkipStepUpdate only).
	Output any `json:"output,omitempty"`
}

// parkedStep is a step whose retries ran out and whose on_error is park.
type parkedStep struct {
	path     string
	err      *stepError
	decision *parkDecision
}

type parkDecision struct {
	skip   bool
	output any
}

// registerParkUpdates lets operators act on parked steps, once per run.
// The validators refuse an action on a run that is not parked before it
// reaches history.
//
// A run registers the updates when a step first parks, not when it starts:
// registering an update handler makes the SDK yield the workflow's
// coroutine (to deliver updates that arrived before their handler), and
// the two registrations at every start were 40 % of the interpreter's CPU
// in a one-step flow (relay bench --only ingest --cpuprofile). Until then
// the SDK refuses the updates as unknown, before they reach history, as
// the validators do. Histories recorded with the handlers registered at
// the start replay alike: an update in history was accepted while its step
// was parked, so its handler is registered before it is delivered
// (testdata/replay/order-parked-skipped-v6.json).
func (r *runner) registerParkUpdates(ctx workflow.Context) error {
	if r.parkUpdates {
		return nil
	}
	r.parkUpdates = true
	for _, name := range []string{RetryStepUpdate, SkipStepUpdate} {
		skip := name == SkipStepUpdate
		err := workflow.SetUpdateHandlerWithOptions(ctx, name,
			func(ctx workflow.Context, a StepAction) (string, error) {
				p, err := r.findParked(a.Step)
				if err != nil {
					return "", err
				}
				p.decision = &parkDecision{skip: skip, output: a.Output}
				return p.path, nil
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, a StepAction) error {
				_, err := r.findParked(a.Step)
				return err
			}})
		if err != nil {
			return fmt.Errorf("registering update %s: %w", name, err)
		}
	}
	return nil
}

func (r *runner) findParked(path string) (*parkedStep, error) {
	var open []*parkedStep
	for _, p := range r.parked {
		if p.decision == nil && (path == "" || p.path == path) {
			open = append(open, p)
		}
	}
	switch {
	case len(open) == 1:
		return open[0], nil
	case len(open) == 0 && path != "":
		return nil, fmt.Errorf("step %q is not parked", path)
	case len(open) == 0:
		return nil, ErrNoParkedStep
	default:
		return nil, fmt.Errorf("%d steps are parked: name one", len(open))
	}
}

// park keeps the failed step open until an operator decides. It returns
// the decision, or an error when the run is cancelled meanwhile.
func (r *runner) park(ctx workflow.Context, sc *scope, s *definitions.Step, path string, se *stepError) (*parkDecision, error) {
	p := &parkedStep{path: path, err: se}
	r.parked = append(r.parked, p)
	rec := &StepRecord{ID: s.ID, Path: path, Kind: string(s.Kind), Status: StatusParked, Error: se.Msg, ErrorType: se.Type, StartedAt: workflow.Now(ctx)}
	if sc.record {
		r.records = append(r.records, rec)
	}
	r.refreshState(ctx)
	if err := r.registerParkUpdates(ctx); err != nil {
		return nil, err
	}
	err := workflow.Await(ctx, func() bool { return p.decision != nil })
	for i, q := range r.parked {
		if q == p {
			r.parked = append(r.parked[:i], r.parked[i+1:]...)
			break
		}
	}
	rec.EndedAt = workflow.Now(ctx)
	r.refreshState(ctx)
	if err != nil {
		return nil, err
	}
	if p.decision.skip {
		rec.Status, rec.Output = StatusSkipped, p.decision.output
	} else {
		rec.Status = StatusFailed
	}
	return p.decision, nil
}
