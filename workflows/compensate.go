package workflows

import (
	"go.temporal.io/sdk/workflow"
)

// compensate runs the `compensate:` steps of every completed step, in
// reverse order of completion, after the run failed or was cancelled. A
// failed compensation is recorded and the others still run. It returns the
// paths of the steps it undid, in the order it undid them.
func (r *runner) compensate(ctx workflow.Context) (undone []string) {
	if len(r.compensations) == 0 {
		return nil
	}
	cctx := ctx
	if ctx.Err() != nil {
		// The run was cancelled: compensations still run to completion.
		cctx, _ = workflow.NewDisconnectedContext(ctx)
	}
	for i := len(r.compensations) - 1; i >= 0; i-- {
		c := r.compensations[i]
		if c.replaced {
			continue
		}
		r.undoing = c.path
		err := r.runSteps(cctx, c.scope, c.step.Compensate, c.path+".compensate.", true)
		r.undoing = ""
		if err != nil {
			continue
		}
		undone = append(undone, c.path)
		if c.record != nil {
			c.record.Status = StatusCompensated
		}
		for _, rec := range c.earlier {
			rec.Status = StatusCompensated
		}
	}
	return undone
}

// addCompensation registers a completed step's compensation, to run if the
// run fails.
//
// From generation 4 a step has at most one: when a step completes again
// in the same run (its container retried with retry-step and run again, a
// replay's on_error goto back to a step it reused or ran, a batch child
// run again), the new registration replaces the earlier one, so that the
// failed run undoes the step once. The earlier completion did the same
// work under the same idempotency key, which a partner that honours keys
// did once; undoing it twice under the compensation's one key cancelled or
// refunded twice at a partner that ignores keys. The replacement takes the
// latest completion's place in the order (compensations run in reverse
// order of completion) and its scope, so the undo sees the step's latest
// output, and the records of the earlier completions are marked
// compensated with the latest's. Generations before 4 register every
// completion, and their runs replay so.
func (r *runner) addCompensation(c compensation) {
	if r.generation >= genCompensateOnce {
		if i, ok := r.compensationAt[c.path]; ok {
			old := &r.compensations[i]
			old.replaced = true
			c.earlier = old.earlier
			if old.record != nil {
				c.earlier = append(c.earlier, old.record)
			}
		}
		if r.compensationAt == nil {
			r.compensationAt = map[string]int{}
		}
		r.compensationAt[c.path] = len(r.compensations)
	}
	r.compensations = append(r.compensations, c)
}
