package workflows

import (
	"go.temporal.io/sdk/workflow"
)

// compensate runs the `compensate:` steps of every completed step, in
// reverse order of completion, after the run failed or was cancelled. A
// failed compensation is recorded and the others still run.
func (r *runner) compensate(ctx workflow.Context) {
	if len(r.compensations) == 0 {
		return
	}
	cctx := ctx
	if ctx.Err() != nil {
		// The run was cancelled: compensations still run to completion.
		cctx, _ = workflow.NewDisconnectedContext(ctx)
	}
	for i := len(r.compensations) - 1; i >= 0; i-- {
		c := r.compensations[i]
		err := r.runSteps(cctx, c.scope, c.step.Compensate, c.path+".compensate.", true)
		if err == nil && c.record != nil {
			c.record.Status = StatusCompensated
		}
	}
}
