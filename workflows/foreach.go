package workflows

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/relay-dev/relay/definitions"
)

// foreachBatchSize is the most items one history runs; a larger foreach
// runs its items in child workflows of this many each, one after another,
// so no history approaches Temporal's limits.
const foreachBatchSize = 500

// PendingCompensation is a compensation a batch child hands to its parent,
// which runs it if the parent run fails.
type PendingCompensation struct {
	Step  string                          `json:"step"`
	Path  string                          `json:"path"`
	Item  any                             `json:"item"`
	Index int                             `json:"index"`
	Steps map[string]definitions.StepView `json:"steps"`
}

// batchResult is what a batch child returns (in RunResult.Items) and, on
// failure, carries in its failure's details.
type batchResult struct {
	Items         []any                 `json:"items"`
	Compensations []PendingCompensation `json:"compensations,omitempty"`
	// Failure is the step that failed the batch (generation 2 on), so
	// that the parent fails as the step asked: a halt stays a halt, and
	// the run's failed step and error type are the step's.
	Failure *stepError `json:"failure,omitempty"`
}

func (r *runner) foreach(ctx workflow.Context, sc *scope, s *definitions.Step, path string) (any, error) {
	v, err := s.Items.Eval(r.env(sc))
	if err != nil {
		return nil, err
	}
	items, ok := asList(v)
	if !ok {
		return nil, fmt.Errorf("foreach %q gave %T, want a list", s.Items.Source, v)
	}
	if len(items) <= foreachBatchSize {
		return r.iterate(ctx, sc, s, path, items, 0, len(items) <= maxRecordedIterations)
	}
	out := make([]any, 0, len(items))
	for off := 0; off < len(items); off += foreachBatchSize {
		end := min(off+foreachBatchSize, len(items))
		res, err := r.runBatchChild(ctx, sc, s, path, items[off:end], off)
		r.adoptCompensations(sc, res.Compensations)
		if err != nil {
			return nil, err
		}
		out = append(out, res.Items...)
	}
	return out, nil
}

// asList accepts any slice or array (expr's ranges are []int); nil is an
// empty list.
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case []any:
		return x, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

func (r *runner) runBatchChild(ctx workflow.Context, sc *scope, s *definitions.Step, path string, items []any, off int) (batchResult, error) {
	opts := workflow.ChildWorkflowOptions{
		WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + path + "/" + strconv.Itoa(off),
	}
	var retries map[string]int
	if r.generation >= genRetryKeys {
		// The batch shares this run's idempotency base, so it keys its
		// calls by their full paths.
		retries = r.retriesUnder(path+"[", false)
	}
	in := RunInput{
		Generation:      r.generation,
		Flow:            r.source,
		Subflows:        r.subflows,
		Input:           r.input,
		IdempotencyBase: r.idempotencyBase,
		Retries:         retries,
		Batch:           &Batch{Step: s.ID, Path: path, Items: items, Offset: off, Steps: sc.steps, Vars: r.vars},
	}
	var res RunResult
	err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, opts), RunWorkflow, in).Get(ctx, &res)
	if err != nil {
		var br batchResult
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.HasDetails() {
			_ = appErr.Details(&br)
		}
		if br.Failure != nil && r.generation >= genBatchFailures {
			return br, br.Failure
		}
		return br, err
	}
	if r.generation >= genBatchVars && res.Vars != nil {
		// Batches run one after another: the next starts from the
		// variables this one left, as iterations in the run do.
		r.vars = res.Vars
	}
	return batchResult{Items: res.Items, Compensations: res.Compensations}, nil
}

// adoptCompensations turns a batch child's completed compensable steps
// into the parent's own, so they run if the parent fails.
func (r *runner) adoptCompensations(parent *scope, pending []PendingCompensation) {
	for _, p := range pending {
		step := r.flow.Step(p.Step)
		if step == nil {
			continue
		}
		sc := newScope(parent, p.Item, p.Index, false)
		for _, id := range sortedKeys(p.Steps) {
			sc.set(id, p.Steps[id])
		}
		r.addCompensation(compensation{step: step, path: p.Path, scope: sc})
	}
}

// runBatch is the body of a batch child: it runs its slice of items.
func (r *runner) runBatch(ctx workflow.Context, b *Batch) (*RunResult, error) {
	s := r.flow.Step(b.Step)
	if s == nil || s.Kind != definitions.KindForeach {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("batch names step %q, which is not a foreach of flow %s", b.Step, r.flow.ID), ErrorTypeInvalidRun, nil)
	}
	items, err := r.iterate(ctx, r.root, s, b.Path, b.Items, b.Offset, false)
	pending := r.PendingCompensations()
	if err != nil {
		br := batchResult{Compensations: pending}
		var se *stepError
		msg, typ := err.Error(), ErrorTypeStepFailed
		if errors.As(err, &se) {
			msg = se.Error()
			if r.generation >= genBatchFailures {
				br.Failure = se
			}
		}
		return nil, temporal.NewNonRetryableApplicationError(msg, typ, nil, br)
	}
	res := &RunResult{Items: items, Compensations: pending}
	if r.generation >= genBatchVars {
		res.Vars = r.vars
	}
	return res, nil
}

func (r *runner) PendingCompensations() []PendingCompensation {
	out := make([]PendingCompensation, 0, len(r.compensations))
	for _, c := range r.compensations {
		if c.replaced {
			continue
		}
		own := map[string]definitions.StepView{}
		for _, id := range c.scope.order {
			if _, inherited := r.root.steps[id]; !inherited {
				own[id] = c.scope.steps[id]
			}
		}
		out = append(out, PendingCompensation{Step: c.step.ID, Path: c.path, Item: c.scope.item, Index: c.scope.index, Steps: own})
	}
	return out
}

// iterate runs the foreach body once per item, at most s.Concurrency at a
// time, and returns each iteration's output (its last step's) in item
// order. The first failure cancels the iterations still running.
func (r *runner) iterate(ctx workflow.Context, sc *scope, s *definitions.Step, path string, items []any, offset int, record bool) ([]any, error) {
	outputs := make([]any, len(items))
	workers := min(max(s.Concurrency, 1), len(items))
	ictx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	wg := workflow.NewWaitGroup(ctx)
	next := 0
	var first error
	for range workers {
		wg.Add(1)
		workflow.Go(ictx, func(gctx workflow.Context) {
			defer wg.Done()
			for first == nil && gctx.Err() == nil && next < len(items) {
				i := next
				next++
				idx := offset + i
				isc := newScope(sc, items[i], idx, record && sc.record)
				if err := r.runSteps(gctx, isc, s.Body, path+"["+strconv.Itoa(idx)+"].", false); err != nil {
					if first == nil {
						first = err
						cancel()
					}
					return
				}
				if last := s.Body[len(s.Body)-1]; isc.steps[last.ID].Status == StatusCompleted {
					outputs[i] = isc.steps[last.ID].Output
				}
			}
		})
	}
	wg.Wait(ctx)
	if first != nil {
		return nil, first
	}
	if ctx.Err() != nil {
		return nil, temporal.NewCanceledError()
	}
	return outputs, nil
}
