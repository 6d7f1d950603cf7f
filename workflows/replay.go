package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/relay-dev/relay/definitions"
)

// reuse fills the run's scope from the original run's recorded steps, for
// every step before rp.From, in document order: outputs, the variables
// their set steps assigned, and the compensations of completed steps, so a
// later failure still undoes them. It returns the index of rp.From among
// the top-level steps.
func (r *runner) reuse(ctx workflow.Context, rp *Replay) (int, error) {
	from := indexOf(r.flow.Steps, rp.From)
	if from < 0 {
		return 0, fmt.Errorf("replay starts at step %q, which flow %s does not have", rp.From, r.flow.ID)
	}
	now := workflow.Now(ctx)
	undo := map[string]bool{} // compensation steps: never reused
	definitions.Walk(r.flow.Steps, func(s *definitions.Step) bool {
		definitions.Walk(s.Compensate, func(c *definitions.Step) bool {
			undo[c.ID] = true
			return true
		})
		return true
	})
	definitions.Walk(r.flow.Steps[:from], func(s *definitions.Step) bool {
		v, ok := rp.Steps[s.ID]
		if !ok || undo[s.ID] {
			return true
		}
		r.root.set(s.ID, v)
		if v.Status != StatusCompleted {
			return true
		}
		if s.Kind == definitions.KindSet {
			if out, ok := v.Output.(map[string]any); ok {
				for _, a := range s.Set {
					if val, ok := out[a.Name]; ok {
						r.vars[a.Name] = val
					}
				}
			}
		}
		rec := &StepRecord{ID: s.ID, Path: s.ID, Kind: string(s.Kind), Status: StatusReused, Output: v.Output, StartedAt: now, EndedAt: now}
		r.records = append(r.records, rec)
		if len(s.Compensate) > 0 {
			r.addCompensation(compensation{step: s, path: s.ID, scope: r.root, record: rec})
		}
		return true
	})
	return from, nil
}
