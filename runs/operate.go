package runs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/workflows"
)

// ReplayOptions say how to replay a run.
type ReplayOptions struct {
	// From is the top-level step to restart at; empty means the step the
	// run failed at. Steps before it reuse their recorded outputs and make
	// no calls.
	From string `json:"from,omitempty"`
	// Definition is "original" (default: the definition the run pinned) or
	// "current" (the loaded one, so a fix applies).
	Definition string `json:"definition,omitempty"`
	// Input, when set, is merged over the original input.
	Input map[string]any `json:"input,omitempty"`
	// DryRun plans without starting anything.
	DryRun bool `json:"dry_run,omitempty"`
}

// ReplayPlan is what a replay will do.
type ReplayPlan struct {
	Original string `json:"original"`
	From     string `json:"from"`
	// Reused are the steps whose recorded outputs are reused.
	Reused []string `json:"reused"`
	// Run are the top-level steps that run again.
	Run []string `json:"run"`
	// Calls are the connector actions the steps that run may call.
	Calls []string `json:"calls"`
	// Problems make the plan impossible; a replay with problems is refused.
	Problems []string `json:"problems,omitempty"`
}

// ErrPlanRefused is returned when a replay plan has problems.
var ErrPlanRefused = errors.New("replay plan refused")

// ErrNoParkedStep is returned by RetryStep and SkipStep for a run that has
// never parked a step. A run that has lets its own validator refuse the
// update, with a Temporal application error of the same text.
var ErrNoParkedStep = workflows.ErrNoParkedStep

// BulkReplayOptions select failed runs and pace their replays.
type BulkReplayOptions struct {
	Flow       string
	Since      time.Duration
	FailedStep string
	ErrorType  string
	// Rate is replays started per second (default 5).
	Rate float64
	// Canary replays this many first and waits for them to end; the rest
	// go ahead only if they all completed.
	Canary int
	// StopAfterFailures stops when more than this fraction of the replays
	// that ended have failed (0 means never).
	StopAfterFailures float64
	Replay            ReplayOptions
}

// BulkResult is what happened to one run of a bulk replay.
type BulkResult struct {
	Original string `json:"original"`
	Replay   string `json:"replay,omitempty"`
	// Status: replayed, completed, failed, skipped or planned (dry run).
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Replay starts a new run linked to workflowID that reuses the outputs of
// the steps before the restart point. With opts.DryRun it only plans.
func (c *Client) Replay(ctx context.Context, workflowID string, opts ReplayOptions) (ReplayPlan, Run, error) {
	plan, flow, in, err := c.plan(ctx, workflowID, opts)
	if err != nil {
		return plan, Run{}, err
	}
	if len(plan.Problems) > 0 {
		return plan, Run{}, fmt.Errorf("%w: %s", ErrPlanRefused, strings.Join(plan.Problems, "; "))
	}
	if opts.DryRun {
		return plan, Run{}, nil
	}
	so := redo(flow, workflowID, "replay")
	so.Replay = in.Replay
	run, err := c.start(ctx, flow, in, so)
	return plan, run, err
}

// plan works out a replay: which steps are reused, which run again, and
// why it cannot work, if it cannot.
func (c *Client) plan(ctx context.Context, workflowID string, opts ReplayOptions) (ReplayPlan, *definitions.Flow, workflows.RunInput, error) {
	plan := ReplayPlan{Original: workflowID, Reused: []string{}, Run: []string{}, Calls: []string{}}
	d, st, err := c.show(ctx, workflowID)
	if err != nil {
		return plan, nil, workflows.RunInput{}, err
	}
	if d.Status == "running" || d.Status == workflows.StateWaiting || d.Status == workflows.StateParked {
		plan.Problems = append(plan.Problems, fmt.Sprintf("run %s is still %s: cancel it first, or act on its parked step", workflowID, d.Status))
	}
	if d.StepsError != "" {
		return plan, nil, workflows.RunInput{}, fmt.Errorf("reading the steps of %s: %s", workflowID, d.StepsError)
	}
	if st.err != nil {
		return plan, nil, workflows.RunInput{}, st.err
	}
	orig := st.in
	var flow *definitions.Flow
	switch opts.Definition {
	case "", "original":
		flow = st.flow
	case "current":
		if flow = c.Flows[d.Flow]; flow == nil {
			plan.Problems = append(plan.Problems, fmt.Sprintf("flow %s is not loaded, so there is no current definition", d.Flow))
			return plan, nil, workflows.RunInput{}, nil
		}
	default:
		return plan, nil, workflows.RunInput{}, fmt.Errorf("unknown definition %q (want original or current)", opts.Definition)
	}
	records := map[string]*workflows.StepRecord{}
	for _, r := range d.Steps {
		if r.Path == r.ID && !r.Compensation {
			records[r.ID] = r
		}
	}
	plan.From = opts.From
	if plan.From == "" {
		plan.From = failedTopLevelStep(flow, d.Steps)
		if plan.From == "" {
			plan.Problems = append(plan.Problems, "no failed step to restart at: name one with from")
			return plan, flow, workflows.RunInput{}, nil
		}
	}
	from := -1
	for i, s := range flow.Steps {
		if s.ID == plan.From {
			from = i
		}
	}
	if from < 0 {
		plan.Problems = append(plan.Problems, fmt.Sprintf("step %q is not a top-level step of the %s definition of %s", plan.From, orDefault(opts.Definition, "original"), flow.ID))
		return plan, flow, workflows.RunInput{}, nil
	}
	views := map[string]definitions.StepView{}
	for _, top := range flow.Steps[:from] {
		r := records[top.ID]
		switch {
		case r == nil:
			plan.Problems = append(plan.Problems, fmt.Sprintf("step %q never ran in %s, so there is no output to reuse", top.ID, workflowID))
			continue
		case r.Status == workflows.StatusCompensated:
			plan.Problems = append(plan.Problems, fmt.Sprintf("step %q was compensated when %s failed: its effect is undone, so it cannot be reused (rerun the run instead, or use on_error: halt or park on the failing step)", top.ID, workflowID))
		case r.Status != workflows.StatusCompleted && r.Status != workflows.StatusReused && r.Status != workflows.StatusContinued && r.Status != workflows.StatusSkipped:
			plan.Problems = append(plan.Problems, fmt.Sprintf("step %q ended %s in %s: restart at it or before it", top.ID, r.Status, workflowID))
		}
		plan.Reused = append(plan.Reused, top.ID)
		definitions.Walk([]*definitions.Step{top}, func(s *definitions.Step) bool {
			if r := records[s.ID]; r != nil {
				views[s.ID] = stepView(r)
			}
			return true
		})
	}
	for _, s := range flow.Steps[from:] {
		plan.Run = append(plan.Run, s.ID)
		definitions.Walk([]*definitions.Step{s}, func(x *definitions.Step) bool {
			if x.Kind == definitions.KindCall {
				plan.Calls = append(plan.Calls, connectors.ActivityType(x.Connector, x.Action))
			}
			return true
		})
	}
	input := orig.Input
	if opts.Input != nil {
		input = maps.Clone(orig.Input)
		maps.Copy(input, opts.Input)
	}
	in, err := c.Input(flow, input)
	if err != nil {
		plan.Problems = append(plan.Problems, err.Error())
		return plan, flow, in, nil
	}
	in.Trigger = orig.Trigger
	if opts.Definition != "current" {
		in.Subflows = orig.Subflows
	}
	in.Replay = &workflows.Replay{Original: workflowID, From: plan.From, Steps: views}
	return plan, flow, in, nil
}

func stepView(r *workflows.StepRecord) definitions.StepView {
	switch r.Status {
	case workflows.StatusCompleted, workflows.StatusReused, workflows.StatusSkipped:
		return definitions.StepView{Status: workflows.StatusCompleted, Output: r.Output}
	default:
		return definitions.StepView{Status: workflows.StatusFailed, Error: r.Error}
	}
}

// failedTopLevelStep is the top-level step containing the step the run
// failed at.
func failedTopLevelStep(flow *definitions.Flow, recs []*workflows.StepRecord) string {
	failed := ""
	for _, r := range recs {
		if r.Status == workflows.StatusFailed && !r.Compensation {
			failed = r.ID
		}
	}
	for _, top := range flow.Steps {
		found := false
		definitions.Walk([]*definitions.Step{top}, func(s *definitions.Step) bool {
			found = found || s.ID == failed
			return !found
		})
		if found {
			return top.ID
		}
	}
	return ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Rerun starts the run again from scratch with the same input, under new
// idempotency keys: every side effect is repeated.
func (c *Client) Rerun(ctx context.Context, workflowID string) (Run, error) {
	st := c.startedWith(ctx, workflowID, "", "")
	if st.err != nil {
		return Run{}, st.err
	}
	orig, flow := st.in, st.flow
	orig.Replay = nil
	return c.start(ctx, flow, orig, redo(flow, workflowID, "rerun"))
}

// redo names a run that does workflowID's run again (a replay, a rerun):
// its ID extends the original's, with kind and a random suffix, and it
// keeps the business key the original's ID says.
func redo(flow *definitions.Flow, workflowID, kind string) StartOptions {
	key, _ := keyInID(flow.ID, workflowID)
	return StartOptions{WorkflowID: workflowID + "/" + kind + "-" + uuid.NewString()[:8], BusinessKey: key}
}

// Cancel cancels a run; its completed steps' compensations run.
func (c *Client) Cancel(ctx context.Context, workflowID string) error {
	if err := c.Temporal.CancelWorkflow(ctx, workflowID, ""); err != nil {
		return fmt.Errorf("cancelling %s: %w", workflowID, err)
	}
	return nil
}

// RetryStep retries the step a parked run is parked at.
func (c *Client) RetryStep(ctx context.Context, workflowID string) error {
	return c.update(ctx, workflowID, workflows.RetryStepUpdate, workflows.StepAction{})
}

// SkipStep completes the step a parked run is parked at with output, and
// the run goes on.
func (c *Client) SkipStep(ctx context.Context, workflowID string, output any) error {
	return c.update(ctx, workflowID, workflows.SkipStepUpdate, workflows.StepAction{Output: output})
}

func (c *Client) update(ctx context.Context, workflowID, name string, a workflows.StepAction) error {
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateName:   name,
		Args:         []any{a},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		if strings.Contains(err.Error(), "unknown update "+name) {
			// A run registers the park updates when a step first parks
			// (see workflows.RetryStepUpdate); until then the SDK refuses
			// them as unknown.
			return fmt.Errorf("%s on %s: %w", name, workflowID, ErrNoParkedStep)
		}
		return fmt.Errorf("%s on %s: %w", name, workflowID, err)
	}
	return nil
}

// BulkReplay replays the failed runs opts selects, paced, canary first, and
// reports each through progress as it goes.
func (c *Client) BulkReplay(ctx context.Context, opts BulkReplayOptions, progress func(BulkResult)) ([]BulkResult, error) {
	filter := Filter{Flow: opts.Flow, Status: "failed", FailedStep: opts.FailedStep, ErrorType: opts.ErrorType, PageSize: 1000}
	if opts.Since > 0 {
		filter.Since = time.Now().Add(-opts.Since)
	}
	var failed []Summary
	for {
		page, next, err := c.List(ctx, filter)
		if err != nil {
			return nil, err
		}
		failed = append(failed, page...)
		if len(next) == 0 {
			break
		}
		filter.Cursor = next
	}
	rate := opts.Rate
	if rate <= 0 {
		rate = 5
	}
	var (
		results []BulkResult
		mu      sync.Mutex
		ended   sync.WaitGroup
		done    int // replays that ended
		bad     int // replays that ended failed
	)
	report := func(r BulkResult) {
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
		if progress != nil {
			progress(r)
		}
	}
	tooMany := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return opts.StopAfterFailures > 0 && done > 0 && float64(bad)/float64(done) > opts.StopAfterFailures
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	stopped := ""
	for i, run := range failed {
		if stopped == "" && tooMany() {
			stopped = fmt.Sprintf("stopped: more than %.0f%% of the replays failed", opts.StopAfterFailures*100)
		}
		if stopped != "" {
			report(BulkResult{Original: run.WorkflowID, Status: "skipped", Reason: stopped})
			continue
		}
		if i > 0 {
			select {
			case <-ctx.Done():
				return results, ctx.Err()
			case <-tick.C:
			}
		}
		plan, started, err := c.Replay(ctx, run.WorkflowID, opts.Replay)
		switch {
		case err != nil:
			report(BulkResult{Original: run.WorkflowID, Status: "failed", Reason: err.Error()})
			mu.Lock()
			done++
			bad++
			mu.Unlock()
			continue
		case opts.Replay.DryRun:
			report(BulkResult{Original: run.WorkflowID, Status: "planned", Reason: fmt.Sprintf("from %s, reusing %v", plan.From, plan.Reused)})
			continue
		}
		ended.Add(1)
		wait := func() {
			defer ended.Done()
			_, err := c.Result(ctx, started.WorkflowID)
			r := BulkResult{Original: run.WorkflowID, Replay: started.WorkflowID, Status: "completed"}
			mu.Lock()
			done++
			if err != nil {
				bad++
				r.Status, r.Reason = "failed", failureMessage(err)
			}
			mu.Unlock()
			report(r)
		}
		if i < opts.Canary {
			wait()
			if i == min(opts.Canary, len(failed))-1 && tooManyCanary(&mu, &bad) {
				stopped = "stopped: a canary replay failed"
			}
			continue
		}
		go wait()
	}
	ended.Wait()
	return results, nil
}

func tooManyCanary(mu *sync.Mutex, bad *int) bool {
	mu.Lock()
	defer mu.Unlock()
	return *bad > 0
}
