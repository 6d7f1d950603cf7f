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
	}
	return undone
}
