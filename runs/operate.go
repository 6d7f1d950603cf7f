package runs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
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
	// IdempotencyKey, when set, names the replay after it: a replay of the
	// same run under the same key starts nothing and returns the replay the
	// first one started, with Existing set. A client that sends a replay
	// again after a timeout so gets one replay, not two repeating the
	// side effects of the steps that run again.
	IdempotencyKey string `json:"-"`
}

// ReplayPlan is what a replay will do.
type ReplayPlan struct {
	Original string `json:"original"`
	// BusinessKey is the original's, which the replay keeps.
	BusinessKey string `json:"business_key,omitempty"`
	From        string `json:"from"`
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
	if !opts.DryRun {
		// A replay sent again under its key gets the first one's run
		// without planning again, which needs a worker to answer the
		// original's step query, and may be refused when the loaded
		// definitions changed since.
		if run, ok, err := c.existing(ctx, redo(workflowID, "", "replay", opts.IdempotencyKey)); err != nil || ok {
			if err != nil {
				return ReplayPlan{}, Run{}, err
			}
			plan, err := c.sameReplay(ctx, workflowID, run, opts)
			return plan, run, err
		}
	}
	return c.replay(ctx, workflowID, opts)
}

// replay plans a replay and, unless opts.DryRun, starts it. A replay a
// call under the same key started (while this one planned) is returned
// with Existing set, if it was asked for alike.
func (c *Client) replay(ctx context.Context, workflowID string, opts ReplayOptions) (ReplayPlan, Run, error) {
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
	so := redo(workflowID, plan.BusinessKey, "replay", opts.IdempotencyKey)
	so.Replay = in.Replay
	run, err := c.start(ctx, flow, in, so)
	if err == nil && run.Existing {
		_, err = c.sameReplay(ctx, workflowID, run, opts)
	}
	return plan, run, err
}

// sameReplay returns the plan of the replay run of original, which an
// earlier call under opts' idempotency key started, as its start input
// says it (the steps it reused; which ran and what they called is not
// kept). It returns ErrKeyReused when that call asked for another restart
// step or other input than opts asks for (what opts leaves to the default
// is not compared).
func (c *Client) sameReplay(ctx context.Context, original string, run Run, opts ReplayOptions) (ReplayPlan, error) {
	plan := ReplayPlan{Original: original, Reused: []string{}, Run: []string{}, Calls: []string{}}
	first, err := c.startInput(ctx, run.WorkflowID, run.RunID)
	if err != nil {
		return plan, err
	}
	if first.Replay != nil {
		plan.From, plan.Reused = first.Replay.From, slices.Sorted(maps.Keys(first.Replay.Steps))
	}
	if opts.From != "" && plan.From != opts.From {
		return plan, fmt.Errorf("%w: replay %s was started under it from another step", ErrKeyReused, run.WorkflowID)
	}
	for name, v := range opts.Input {
		if !sameJSON(first.Input[name], v) {
			return plan, fmt.Errorf("%w: replay %s was started under it with other input", ErrKeyReused, run.WorkflowID)
		}
	}
	return plan, nil
}

// plan works out a replay: which steps are reused, which run again, and
// why it cannot work, if it cannot.
func (c *Client) plan(ctx context.Context, workflowID string, opts ReplayOptions) (ReplayPlan, *definitions.Flow, workflows.RunInput, error) {
	plan := ReplayPlan{Original: workflowID, Reused: []string{}, Run: []string{}, Calls: []string{}}
	d, st, err := c.read(ctx, workflowID)
	if err != nil {
		return plan, nil, workflows.RunInput{}, err
	}
	plan.BusinessKey = d.BusinessKey
	if d.open() {
		plan.Problems = append(plan.Problems, fmt.Sprintf("run %s is still %s: cancel it first, or act on its parked step", workflowID, d.Status))
	}
	if d.stepsErr != nil {
		return plan, nil, workflows.RunInput{}, fmt.Errorf("reading the steps of %s: %w", workflowID, d.stepsErr)
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
	}
	plan.Calls = mayCall(flow.Steps, from)
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

// mayCall lists the connector actions a replay that restarts at
// steps[from] may call. A step's on_error goto may go back before the
// restart point, so the steps from its target on may run again.
func mayCall(steps []*definitions.Step, from int) []string {
	first := from
	for _, s := range steps[from:] {
		for _, target := range s.Gotos() {
			if i := slices.IndexFunc(steps, func(t *definitions.Step) bool { return t.ID == target }); i >= 0 {
				first = min(first, i)
			}
		}
	}
	calls := []string{}
	definitions.Walk(steps[first:], func(x *definitions.Step) bool {
		if x.Kind == definitions.KindCall {
			calls = append(calls, connectors.ActivityType(x.Connector, x.Action))
		}
		return true
	})
	return calls
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

// RerunOptions tune Rerun.
type RerunOptions struct {
	// IdempotencyKey, when set, names the rerun after it: a rerun of the
	// same run under the same key starts nothing and returns the rerun the
	// first one started, with Existing set (see ReplayOptions).
	IdempotencyKey string
}

// Rerun starts the run again from scratch with the same input, under new
// idempotency keys: every side effect is repeated.
func (c *Client) Rerun(ctx context.Context, workflowID string, opts RerunOptions) (Run, error) {
	if run, ok, err := c.existing(ctx, redo(workflowID, "", "rerun", opts.IdempotencyKey)); err != nil || ok {
		return run, err
	}
	info, err := c.describe(ctx, workflowID)
	if err != nil {
		return Run{}, err
	}
	original := summaryOf(info)
	st := c.startedWith(ctx, workflowID, original.RunID, original.Flow)
	if st.err != nil {
		return Run{}, st.err
	}
	orig, flow := st.in, st.flow
	orig.Replay = nil
	return c.start(ctx, flow, orig, redo(workflowID, original.BusinessKey, "rerun", opts.IdempotencyKey))
}

// redo names a run that does the run original again (a replay, a rerun):
// its ID extends the original's, with kind and a random suffix, and it
// keeps the original's business key, so that a replay of a replay is
// listed under the first run's key. With an idempotency key the suffix is
// the key's hash instead, and the start is deduplicated: the same key
// names the same run.
func redo(original, key, kind, idempotencyKey string) StartOptions {
	if idempotencyKey == "" {
		return StartOptions{WorkflowID: original + "/" + kind + "-" + uuid.NewString()[:8], BusinessKey: key}
	}
	return StartOptions{WorkflowID: keyedID(original, kind, idempotencyKey), BusinessKey: key, Dedupe: true, IdempotencyKey: idempotencyKey}
}

// keyedID is the workflow ID of a run started under an idempotency key (by
// Start, under its flow, or by redo, under the original run): parent, then
// kind and a digest of the key, which may hold any printable character,
// '/' included, and so never enters an ID or a history as it is.
func keyedID(parent, kind, idempotencyKey string) string {
	return parent + "/" + keyedName(kind, idempotencyKey)
}

// keyedName is kind and a digest of idempotencyKey.
func keyedName(kind, idempotencyKey string) string {
	sum := sha256.Sum256([]byte(idempotencyKey))
	return kind + "-" + hex.EncodeToString(sum[:8])
}

// existing returns the run that an earlier call under so's idempotency key
// started, if there is one: Temporal's record, not visibility's, so a call
// sent again just after the first finds its run.
func (c *Client) existing(ctx context.Context, so StartOptions) (Run, bool, error) {
	if so.IdempotencyKey == "" {
		return Run{}, false, nil
	}
	info, err := c.describe(ctx, so.WorkflowID)
	if errors.Is(err, ErrNotFound) {
		return Run{}, false, nil
	}
	if err != nil {
		return Run{}, false, err
	}
	s := summaryOf(info)
	return Run{WorkflowID: s.WorkflowID, RunID: s.RunID, Flow: s.Flow, Existing: true}, true, nil
}

// RunClosedError is returned by Cancel, RetryStep and SkipStep for a run
// that has closed: it has nothing left to cancel and no parked step.
type RunClosedError struct {
	WorkflowID string
	// Status is how the run closed: completed, failed, cancelled,
	// terminated or timed_out.
	Status string
}

func (e *RunClosedError) Error() string {
	return fmt.Sprintf("run %s has closed (%s): only an open run can be cancelled or have its parked step retried or skipped; replay it instead", e.WorkflowID, e.Status)
}

// checkOpen returns nil when the run workflowID is open, a *RunClosedError when
// it has closed, and an ErrNotFound when there is no such run.
func (c *Client) checkOpen(ctx context.Context, workflowID string) error {
	info, err := c.describe(ctx, workflowID)
	if err != nil {
		return err
	}
	if s := info.GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return &RunClosedError{WorkflowID: workflowID, Status: statusName(s)}
	}
	return nil
}

// Cancel cancels a run; its completed steps' compensations run. A closed
// run is a *RunClosedError: Temporal would answer its cancel with success
// and do nothing.
func (c *Client) Cancel(ctx context.Context, workflowID string) error {
	if err := c.checkOpen(ctx, workflowID); err != nil {
		return fmt.Errorf("cancelling %s: %w", workflowID, err)
	}
	if err := c.Temporal.CancelWorkflow(ctx, workflowID, ""); err != nil {
		return fmt.Errorf("cancelling %s: %w", workflowID, err)
	}
	return nil
}

// StepOptions tune RetryStep and SkipStep.
type StepOptions struct {
	// IdempotencyKey, when set, is the update's ID (with the operation's
	// name before it): Temporal applies an update ID once per run and
	// answers a repeat with the first one's outcome, even after the run
	// closed. Without it, a skip-step sent again after a timeout, once the
	// run had gone on and parked at a later step, would skip that step too.
	IdempotencyKey string
}

// RetryStep retries the step a parked run is parked at.
func (c *Client) RetryStep(ctx context.Context, workflowID string, opts StepOptions) error {
	return c.update(ctx, workflowID, workflows.RetryStepUpdate, workflows.StepAction{}, opts)
}

// SkipStep completes the step a parked run is parked at with output, and
// the run goes on.
func (c *Client) SkipStep(ctx context.Context, workflowID string, output any, opts StepOptions) error {
	return c.update(ctx, workflowID, workflows.SkipStepUpdate, workflows.StepAction{Output: output}, opts)
}

func (c *Client) update(ctx context.Context, workflowID, name string, a workflows.StepAction, opts StepOptions) error {
	updateID := "" // the SDK makes one up
	if opts.IdempotencyKey != "" {
		// The key is the client's: its digest names the update, in the
		// run's history, as it names keyed runs.
		updateID = keyedName(name, opts.IdempotencyKey)
	}
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID:     updateID,
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
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			// Temporal refuses an update of a closed run as NotFound
			// ("workflow execution already completed"): say which it is.
			if oerr := c.checkOpen(ctx, workflowID); oerr != nil {
				err = oerr
			}
		}
		return fmt.Errorf("%s on %s: %w", name, workflowID, err)
	}
	return nil
}

// BulkReplay replays the failed runs opts selects, paced, canary first, and
// reports each through progress as it goes. A run that already has a
// replay is skipped, so a bulk replay sent again replays nothing twice; a
// replay that failed is among the failed runs itself.
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
	// fail reports a run whose replay did not start.
	fail := func(original string, err error) {
		report(BulkResult{Original: original, Status: "failed", Reason: err.Error()})
		mu.Lock()
		done++
		bad++
		mu.Unlock()
	}
	tooMany := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return opts.StopAfterFailures > 0 && done > 0 && float64(bad)/float64(done) > opts.StopAfterFailures
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	stopped := ""
	n := 0 // runs replayed (or planned) so far, those skipped aside
	// handled are the runs this bulk replay replayed: a failed replay is
	// reached both as a listed failed run and through its original.
	handled := map[string]bool{}
	for _, run := range failed {
		if stopped == "" && tooMany() {
			stopped = fmt.Sprintf("stopped: more than %.0f%% of the replays failed", opts.StopAfterFailures*100)
		}
		if stopped != "" {
			report(BulkResult{Original: run.WorkflowID, Status: "skipped", Reason: stopped})
			continue
		}
		target, targetFailed, err := c.replayTarget(ctx, run)
		if err != nil {
			if ctx.Err() != nil {
				return results, ctx.Err()
			}
			fail(run.WorkflowID, err)
			continue
		}
		if !targetFailed {
			report(BulkResult{Original: run.WorkflowID, Status: "skipped", Reason: "already replayed by " + target})
			continue
		}
		if handled[target] {
			report(BulkResult{Original: run.WorkflowID, Status: "skipped", Reason: "already replayed by this bulk replay"})
			continue
		}
		handled[target] = true
		through := "" // says which failed replay is replayed for run
		if target != run.WorkflowID {
			through = "through its failed replay " + target
		}
		if n > 0 {
			select {
			case <-ctx.Done():
				return results, ctx.Err()
			case <-tick.C:
			}
		}
		n++
		ro := opts.Replay
		if ro.IdempotencyKey == "" {
			// Two bulk replays at once (a client sending one again while
			// the first still runs) name a run's replay alike, so Temporal
			// starts it once: the listing may not show the other's yet.
			ro.IdempotencyKey = bulkReplayKey(target)
		}
		plan, started, err := c.replay(ctx, target, ro)
		switch {
		case err != nil:
			fail(run.WorkflowID, err)
			continue
		case opts.Replay.DryRun:
			report(BulkResult{Original: run.WorkflowID, Status: "planned", Reason: strings.TrimSpace(fmt.Sprintf("%s from %s, reusing %v", through, plan.From, plan.Reused))})
			continue
		case started.Existing:
			n--
			report(BulkResult{Original: run.WorkflowID, Status: "skipped", Reason: "already replayed by " + started.WorkflowID})
			continue
		}
		ended.Add(1)
		wait := func() {
			defer ended.Done()
			_, err := c.Result(ctx, started.WorkflowID)
			r := BulkResult{Original: run.WorkflowID, Replay: started.WorkflowID, Status: "completed", Reason: through}
			mu.Lock()
			done++
			if err != nil {
				bad++
				r.Status, r.Reason = "failed", failureMessage(err)
			}
			mu.Unlock()
			report(r)
		}
		if n <= opts.Canary {
			wait()
			if n == opts.Canary && tooManyCanary(&mu, &bad) {
				stopped = "stopped: a canary replay failed"
			}
			continue
		}
		go wait()
	}
	ended.Wait()
	return results, nil
}

// bulkReplayKey is the idempotency key of a bulk replay's replay of
// workflowID: every bulk replay names that replay alike.
func bulkReplayKey(workflowID string) string {
	return "bulk-replay:" + workflowID
}

// replayTarget is the run a bulk replay replays for the failed run, and
// whether that failed: the newest replay of the run's first original (a
// replay's replays followed too), which is run itself when it has none. A
// bulk replay sent again, after a timeout or to retry what failed, must not
// replay a run a second time under fresh idempotency keys: a run replayed
// before is left to its newest replay, which is replayed in turn only if
// it failed too (as Temporal says now: visibility may not list it among
// the failed runs yet). A failed replay whose original has a newer replay
// is left to that one.
func (c *Client) replayTarget(ctx context.Context, run Summary) (string, bool, error) {
	root, of := run.WorkflowID, run.ReplayOf
	for i := 0; of != "" && i < maxReplayChain; i++ {
		info, err := c.describe(ctx, of)
		if errors.Is(err, ErrNotFound) {
			break // gone past its retention: start from what is left
		}
		if err != nil {
			return "", false, fmt.Errorf("reading %s, which %s replays: %w", of, root, err)
		}
		root, of = of, summaryOf(info).ReplayOf
	}
	id := root
	for range maxReplayChain {
		next, err := c.newestReplayOf(ctx, id)
		if err != nil {
			return "", false, err
		}
		if next == "" {
			break
		}
		id = next
	}
	if id == run.WorkflowID {
		return id, true, nil // listed among the failed runs
	}
	info, err := c.describe(ctx, id)
	if err != nil {
		return "", false, fmt.Errorf("reading replay %s: %w", id, err)
	}
	return id, info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, nil
}

// maxReplayChain bounds how far replayTarget follows a chain of replays,
// up to the first original and down to the newest replay.
const maxReplayChain = 20

// newestReplayOf returns the newest replay of the run id, or "" when it has
// none. Replays are listed by visibility, which may show a new one late;
// the one a bulk replay starts is named alike by every bulk replay
// (bulkReplayKey), so Temporal's own record is asked for it as well.
func (c *Client) newestReplayOf(ctx context.Context, id string) (string, error) {
	listed, _, err := c.List(ctx, Filter{ReplayOf: id, PageSize: 1})
	if err != nil {
		return "", fmt.Errorf("looking for replays of %s: %w", id, err)
	}
	bulkID := keyedID(id, "replay", bulkReplayKey(id))
	bulk, err := c.describe(ctx, bulkID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return "", fmt.Errorf("looking for replays of %s: %w", id, err)
	case len(listed) == 0 || !listed[0].StartedAt.After(bulk.GetStartTime().AsTime()):
		return bulkID, nil
	}
	if len(listed) > 0 {
		return listed[0].WorkflowID, nil
	}
	return "", nil
}

func tooManyCanary(mu *sync.Mutex, bad *int) bool {
	mu.Lock()
	defer mu.Unlock()
	return *bad > 0
}
