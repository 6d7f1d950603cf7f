package workflows

import (
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/relay-dev/relay/definitions"
)

// Step statuses, as StepsQuery reports them.
const (
	StatusRunning     = "running"
	StatusWaiting     = "waiting"
	StatusCompleted   = "completed"
	StatusFailed      = "failed"
	StatusContinued   = "continued" // failed, and on_error: continue went on
	StatusCompensated = "compensated"
	StatusParked      = "parked"  // failed, waiting for an operator
	StatusSkipped     = "skipped" // parked, then skipped by an operator
	StatusReused      = "reused"  // a replay reused the original run's output
)

// maxRecordedIterations bounds how many foreach iterations keep their own
// step records; larger loops record the foreach step alone.
const maxRecordedIterations = 100

// StepRecord is what the run tells of one executed step.
type StepRecord struct {
	// ID is the step's ID; Path adds loop indexes (`lines[3].charge`).
	ID        string    `json:"id"`
	Path      string    `json:"path"`
	Kind      string    `json:"kind"`
	Status    string    `json:"status"`
	Attempts  int32     `json:"attempts,omitempty"`
	Output    any       `json:"output,omitempty"`
	Error     string    `json:"error,omitempty"`
	ErrorType string    `json:"error_type,omitempty"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// Compensation marks the steps run to undo others.
	Compensation bool `json:"compensation,omitempty"`
}

// scope is what expressions see of steps: the run's, or one foreach
// iteration's, which starts from a copy of its parent's.
type scope struct {
	steps  map[string]definitions.StepView
	order  []string // step IDs in completion order, for outputs()
	item   any
	index  int
	record bool // keep StepRecords of steps in this scope
}

func newScope(parent *scope, item any, index int, record bool) *scope {
	s := &scope{steps: make(map[string]definitions.StepView, len(parent.steps)), item: item, index: index, record: record}
	for _, id := range parent.order {
		s.steps[id] = parent.steps[id]
	}
	s.order = append(s.order, parent.order...)
	return s
}

func (s *scope) set(id string, v definitions.StepView) {
	if _, ok := s.steps[id]; !ok {
		s.order = append(s.order, id)
	}
	s.steps[id] = v
}

func (s *scope) outputs() map[string]any {
	out := make(map[string]any, len(s.order))
	for _, id := range s.order {
		if v := s.steps[id]; v.Status == StatusCompleted {
			out[id] = v.Output
		}
	}
	return out
}

// compensation is a completed step whose `compensate:` steps run if the
// run later fails.
type compensation struct {
	step   *definitions.Step
	path   string
	scope  *scope
	record *StepRecord // nil for steps a batch child ran
	// earlier are the records of the step's earlier completions in this
	// run, whose effect this compensation undoes too (generation 4 on).
	earlier []*StepRecord
	// replaced marks a compensation a later completion of its step
	// took the place of (generation 4 on): it does not run.
	replaced bool
}

// runner is the state of one run; workflow coroutines share it, which is
// safe because Temporal runs them one at a time.
type runner struct {
	in              *Interpreter
	generation      int
	flow            *definitions.Flow
	source          definitions.Source
	input           map[string]any
	subflows        map[string]definitions.Source
	idempotencyBase string
	root            *scope
	vars            map[string]any
	records         []*StepRecord
	compensations   []compensation
	events          workflow.ReceiveChannel
	pending         []Event // received, not yet consumed by a wait
	seenEvents      map[string]bool
	// upserts says whether this run writes search attributes, once
	// upsertsDecided (see searchAttributesChange); state is the last
	// RelayState written.
	upserts, upsertsDecided bool
	state                   string
	waiting                 int
	parked                  []*parkedStep
	parkUpdates             bool // the park updates are registered
	// retries counts operator retries of parked steps by path; each gets
	// fresh idempotency keys so a partner's stored failure does not answer.
	retries map[string]int
	// undoing is the path of the step whose compensation is running.
	undoing string
	// compensationAt indexes compensations by step path (generation 4
	// on; see addCompensation).
	compensationAt map[string]int
}

func newRunner(ctx workflow.Context, in *Interpreter, flow *definitions.Flow, input RunInput) *runner {
	base := input.IdempotencyBase
	if base == "" {
		base = workflow.GetInfo(ctx).WorkflowExecution.ID
	}
	vars := map[string]any{}
	retries := map[string]int{}
	maps.Copy(retries, input.Retries)
	root := &scope{steps: map[string]definitions.StepView{}, record: true}
	if b := input.Batch; b != nil {
		maps.Copy(vars, b.Vars)
		for _, id := range sortedKeys(b.Steps) {
			root.set(id, b.Steps[id])
		}
	}
	return &runner{
		in:              in,
		generation:      input.Generation,
		flow:            flow,
		source:          input.Flow,
		input:           input.Input,
		subflows:        input.Subflows,
		idempotencyBase: base,
		root:            root,
		vars:            vars,
		events:          workflow.GetSignalChannel(ctx, EventSignal),
		seenEvents:      map[string]bool{},
		retries:         retries,
	}
}

func (r *runner) env(sc *scope) *definitions.Env {
	return &definitions.Env{Input: r.input, Steps: sc.steps, Vars: r.vars, Item: sc.item, Index: sc.index, NumbersAsWritten: r.generation >= genNumbersAsWritten}
}

func (r *runner) queryRecords() ([]*StepRecord, error) {
	return r.records, nil
}

func (r *runner) begin(ctx workflow.Context, sc *scope, s *definitions.Step, path string, compensating bool) *StepRecord {
	rec := &StepRecord{ID: s.ID, Path: path, Kind: string(s.Kind), Status: StatusRunning, StartedAt: workflow.Now(ctx), Compensation: compensating}
	if sc.record {
		r.records = append(r.records, rec)
	}
	return rec
}

// sortedKeys lists a map's keys in order, so that workflow code never
// depends on map iteration order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
