package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/relay-dev/relay/activities"
	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/definitions"
)

// Defaults for steps that do not say otherwise.
const (
	defaultCallTimeout     = time.Minute
	defaultMaxAttempts     = 10
	defaultInitialInterval = definitions.DefaultRetryInitialInterval
	defaultMaxInterval     = definitions.DefaultRetryMaxInterval
	defaultBackoff         = 2.0
	// maxJumps bounds on_error goto loops within one sequence.
	maxJumps = 1000
)

// stepError is a step's failure as the run and its operators see it.
type stepError struct {
	Step string `json:"step"` // step ID
	Path string `json:"path"`
	Type string `json:"type"`
	Msg  string `json:"message"`
	// Halt ends the run without compensation (on_error: halt).
	Halt bool `json:"halt,omitempty"`
	// Compensated are the paths of the steps the failed run undid (its
	// own, and its children's as `flow-step/path`). A run's failure
	// carries them only when the run is a `flow:` step's child, at most
	// maxCompensatedPaths of them (see failureDetail).
	Compensated []string `json:"compensated,omitempty"`
	// CompensatedCut counts the undone steps Compensated leaves out:
	// which they are is unknown.
	CompensatedCut int `json:"compensated_cut,omitempty"`
}

func (e *stepError) Error() string {
	return fmt.Sprintf("step %q failed (%s): %s", e.Path, e.Type, e.Msg)
}

// asStepError classifies err as the failure of the step at path; the
// failure of a nested step keeps the nested step's identity.
func asStepError(s *definitions.Step, path string, err error) *stepError {
	var se *stepError
	if errors.As(err, &se) {
		if se.Path == "" {
			se.Path = path
		}
		return se
	}
	out := &stepError{Step: s.ID, Path: path, Type: activities.ErrorTypeUnknown, Msg: err.Error()}
	var appErr *temporal.ApplicationError
	var timeoutErr *temporal.TimeoutError
	switch {
	case errors.As(err, &appErr):
		out.Type, out.Msg = appErr.Type(), appErr.Message()
	case errors.As(err, &timeoutErr):
		out.Type, out.Msg = "timeout", timeoutErr.Error()
	}
	return out
}

// runSteps runs a sequence, applying each step's on_error. prefix is the
// loop path of the sequence (`lines[3].`), empty at the top.
func (r *runner) runSteps(ctx workflow.Context, sc *scope, steps []*definitions.Step, prefix string, compensating bool) error {
	return r.runStepsFrom(ctx, sc, steps, 0, prefix, compensating)
}

// runStepsFrom is runSteps starting at steps[from]: a replay's restart
// point, from which an on_error goto may still go back to an earlier step.
func (r *runner) runStepsFrom(ctx workflow.Context, sc *scope, steps []*definitions.Step, from int, prefix string, compensating bool) error {
	jumps := 0
	for i := from; i < len(steps); {
		s := steps[i]
		err := r.runStep(ctx, sc, s, prefix+s.ID, compensating)
		if err == nil {
			i++
			continue
		}
		if ctx.Err() != nil {
			return err
		}
		handling := s.OnError
		var se *stepError
		if s.Kind == definitions.KindWait && errors.As(err, &se) && se.Type == ErrorTypeWaitTimeout {
			handling = s.Wait.OnTimeout
		}
		switch handling.Action {
		case definitions.OnErrorContinue:
			i++
		case definitions.OnErrorPark:
			se := asStepError(s, prefix+s.ID, err)
			d, perr := r.park(ctx, sc, s, prefix+s.ID, se)
			if perr != nil {
				return perr
			}
			if d.skip {
				sc.set(s.ID, definitions.StepView{Status: StatusCompleted, Output: d.output})
				i++
			} else {
				r.retryWithFreshKey(prefix+s.ID, se)
				if r.generation >= genChildFailures && se.CompensatedCut > 0 {
					workflow.GetLogger(ctx).Warn("retried step's child undid more steps than its failure lists; those keep their idempotency keys",
						"step", prefix+s.ID, "listed", len(se.Compensated), "unlisted", se.CompensatedCut)
				}
			}
		case definitions.OnErrorHalt:
			se := asStepError(s, prefix+s.ID, err)
			se.Halt = true
			return se
		case definitions.OnErrorGoto:
			jumps++
			if jumps > maxJumps {
				return fmt.Errorf("step %q: on_error goto %q looped more than %d times: %w", prefix+s.ID, handling.Goto, maxJumps, err)
			}
			i = indexOf(steps, handling.Goto)
			if i < 0 {
				return fmt.Errorf("step %q: goto target %q is not in its sequence: %w", prefix+s.ID, handling.Goto, err)
			}
		default:
			return err
		}
	}
	return nil
}

func indexOf(steps []*definitions.Step, id string) int {
	for i, s := range steps {
		if s.ID == id {
			return i
		}
	}
	return -1
}

// runStep runs one step and records its outcome in the scope and records.
func (r *runner) runStep(ctx workflow.Context, sc *scope, s *definitions.Step, path string, compensating bool) error {
	rec := r.begin(ctx, sc, s, path, compensating)
	out, attempts, err := r.exec(ctx, sc, s, path, rec)
	rec.EndedAt = workflow.Now(ctx)
	rec.Attempts = attempts
	if err != nil {
		if temporal.IsCanceledError(err) && ctx.Err() != nil {
			rec.Status = StatusFailed
			rec.Error, rec.ErrorType = "canceled", "canceled"
			return err
		}
		se := asStepError(s, path, err)
		rec.Status, rec.Error, rec.ErrorType = StatusFailed, se.Msg, se.Type
		if s.OnError.Action == definitions.OnErrorContinue || (s.Wait != nil && s.Wait.OnTimeout.Action == definitions.OnErrorContinue && se.Type == ErrorTypeWaitTimeout) {
			rec.Status = StatusContinued
		}
		sc.set(s.ID, definitions.StepView{Status: StatusFailed, Error: se.Msg})
		return se
	}
	rec.Status, rec.Output = StatusCompleted, out
	sc.set(s.ID, definitions.StepView{Status: StatusCompleted, Output: out})
	if len(s.Compensate) > 0 && !compensating {
		r.addCompensation(compensation{step: s, path: path, scope: sc, record: rec})
	}
	return nil
}

// exec runs a step by kind and returns its output and, for calls, the
// number of attempts.
func (r *runner) exec(ctx workflow.Context, sc *scope, s *definitions.Step, path string, rec *StepRecord) (any, int32, error) {
	prefix := path[:len(path)-len(s.ID)]
	switch s.Kind {
	case definitions.KindCall:
		return r.call(ctx, sc, s, path)
	case definitions.KindSet:
		out := make(map[string]any, len(s.Set))
		for _, a := range s.Set {
			v, err := a.Value.Eval(r.env(sc))
			if err != nil {
				return nil, 0, fmt.Errorf("set %s: %w", a.Name, err)
			}
			r.vars[a.Name] = v
			out[a.Name] = v
		}
		return out, 0, nil
	case definitions.KindIf:
		ok, err := s.Cond.Bool(r.env(sc))
		if err != nil {
			return nil, 0, err
		}
		branch, steps := "then", s.Then
		if !ok {
			branch, steps = "else", s.Else
		}
		return map[string]any{"branch": branch}, 0, r.runSteps(ctx, sc, steps, prefix, false)
	case definitions.KindSwitch:
		for i, c := range s.Cases {
			ok, err := c.When.Bool(r.env(sc))
			if err != nil {
				return nil, 0, fmt.Errorf("case %d: %w", i, err)
			}
			if ok {
				return map[string]any{"case": i}, 0, r.runSteps(ctx, sc, c.Steps, prefix, false)
			}
		}
		return map[string]any{"case": "default"}, 0, r.runSteps(ctx, sc, s.Default, prefix, false)
	case definitions.KindParallel:
		return nil, 0, r.parallel(ctx, sc, s, prefix)
	case definitions.KindForeach:
		out, err := r.foreach(ctx, sc, s, path)
		return out, 0, err
	case definitions.KindSleep:
		return nil, 0, workflow.Sleep(ctx, s.Duration)
	case definitions.KindWait:
		rec.Status = StatusWaiting
		out, err := r.wait(ctx, sc, s)
		return out, 0, err
	case definitions.KindFlow:
		out, err := r.subflow(ctx, sc, s, path)
		return out, 0, err
	default:
		return nil, 0, fmt.Errorf("step kind %q is not supported by this worker", s.Kind)
	}
}

// idempotencyKey is stable for a step across attempts, worker crashes and
// operator replays that keep the run's idempotency base.
func (r *runner) idempotencyKey(path string) string {
	if n := r.retries[path]; n > 0 {
		path += "#retry-" + strconv.Itoa(n)
	}
	if r.generation >= genChildFailures && r.undoing != "" {
		// A compensation undoes its step's effect as that step last did
		// it: a step redone under a fresh key is undone under one too.
		if n := r.retries[r.undoing]; n > 0 {
			path += "#undo-" + strconv.Itoa(n)
		}
	}
	sum := sha256.Sum256([]byte(r.idempotencyBase + "\x00" + path))
	return "relay-" + hex.EncodeToString(sum[:20])
}

// retryWithFreshKey counts an operator's retry of the parked step at
// parked, which failed as se says: at the call at se.Path (the same path
// for a parked call step, a nested one for a branch, a loop or a `flow:`
// step's child). The call that failed gets a fresh idempotency key, so
// that a partner that stored its failure by key does not answer it again;
// the calls that succeeded keep theirs, so that the partner answers them
// again without doing them twice, except those a failed child run undid
// (se.Compensated, generation 3), which are done again under fresh keys.
// Generation 1 renewed only the parked step's own key.
//
// A child that undid more steps than its failure lists (se.CompensatedCut,
// see failureDetail) leaves the others unknown. Only the listed ones get
// fresh keys: giving one to a call the child did not undo would do it
// twice (a second charge), while an undone call left with its key is
// answered by the partner as it answered first, as generation 2 did for
// all of them. The run logs a warning that says so.
func (r *runner) retryWithFreshKey(parked string, se *stepError) {
	r.retries[parked]++
	if r.generation >= genRetryKeys && se.Path != "" && se.Path != parked {
		r.retries[se.Path]++
	}
	if r.generation >= genChildFailures {
		for _, p := range se.Compensated {
			r.retries[p]++
		}
	}
}

func (r *runner) call(ctx workflow.Context, sc *scope, s *definitions.Step, path string) (any, int32, error) {
	params, err := evalParams(s, r.env(sc))
	if err != nil {
		return nil, 0, err
	}
	conn := r.flow.Connections[s.Connection]
	if conn == nil {
		return nil, 0, fmt.Errorf("connection %q is not declared", s.Connection)
	}
	in := activities.CallInput{
		Flow:           r.flow.ID,
		Step:           path,
		Connection:     s.Connection,
		Config:         conn.Config,
		Connector:      s.Connector,
		Action:         s.Action,
		Params:         params,
		IdempotencyKey: r.idempotencyKey(path),
	}
	activityType := connectors.ActivityType(s.Connector, s.Action)
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = defaultCallTimeout
	}
	policy := retryPolicy(s.Retry)
	if s.Retry != nil && s.Retry.Jitter > 0 {
		in.Backoff = &activities.Backoff{InitialInterval: policy.InitialInterval, BackoffCoefficient: policy.BackoffCoefficient, MaxInterval: policy.MaximumInterval, Jitter: s.Retry.Jitter}
	}
	var fut workflow.Future
	if Limited(conn.Config) {
		// Temporal enforces the connection's limits on its own task queue;
		// local activities would bypass them.
		fut = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue:           ConnectionTaskQueue(workflow.GetInfo(ctx).TaskQueueName, r.flow.ID, s.Connection),
			StartToCloseTimeout: timeout,
			RetryPolicy:         policy,
		}), activityType, in)
	} else if r.isLocal(s) {
		fut = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			// Without ScheduleToClose the SDK bounds all attempts together by
			// StartToClose; the step timeout bounds one attempt, as it does
			// for regular activities.
			ScheduleToCloseTimeout: localActivityDeadline(timeout, policy),
			StartToCloseTimeout:    timeout,
			RetryPolicy:            policy,
		}), activityType, in)
	} else {
		fut = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: timeout,
			RetryPolicy:         policy,
		}), activityType, in)
	}
	var res activities.CallResult
	if err := fut.Get(ctx, &res); err != nil {
		return nil, failedAttempts(err), err
	}
	return res.Output, res.Attempt, nil
}

// localActivityDeadline bounds all attempts of a local activity: every
// attempt may take its timeout and wait the longest backoff, or a partner's
// Retry-After, which the activity bounds by the same longest wait.
func localActivityDeadline(timeout time.Duration, p *temporal.RetryPolicy) time.Duration {
	if p.MaximumAttempts <= 0 {
		return 24 * time.Hour
	}
	return time.Duration(p.MaximumAttempts) * (timeout + max(p.MaximumInterval, activities.MaxRetryAfter))
}

// Limited reports whether a connection has a rate limit or concurrency cap,
// and so runs its calls on its own task queue.
func Limited(cfg connectors.ConnectionConfig) bool {
	return cfg.RateLimit > 0 || cfg.MaxConcurrency > 0
}

// ConnectionTaskQueue is the activity task queue of a limited connection:
// workers poll it with the connection's limits.
func ConnectionTaskQueue(runQueue, flowID, connection string) string {
	return runQueue + "@" + flowID + "." + connection
}

func (r *runner) isLocal(s *definitions.Step) bool {
	if s.Local != nil {
		return *s.Local
	}
	if c := r.in.Registry.Lookup(s.Connector); c != nil {
		if a := c.Action(s.Action); a != nil {
			return a.Short
		}
	}
	return false
}

func evalParams(s *definitions.Step, env *definitions.Env) (map[string]any, error) {
	v, err := s.With.Eval(env)
	if err != nil {
		return nil, fmt.Errorf("evaluating with: %w", err)
	}
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("with: gave %T, want a mapping", v)
	}
	return m, nil
}

// failedAttempts reads the attempt number the activity put in its failure.
func failedAttempts(err error) int32 {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.HasDetails() {
		return 0
	}
	var attempt int32
	if appErr.Details(&attempt) != nil {
		return 0
	}
	return attempt
}

func retryPolicy(p *definitions.RetryPolicy) *temporal.RetryPolicy {
	out := &temporal.RetryPolicy{
		InitialInterval:    defaultInitialInterval,
		BackoffCoefficient: defaultBackoff,
		MaximumInterval:    defaultMaxInterval,
		MaximumAttempts:    defaultMaxAttempts,
	}
	if p == nil {
		return out
	}
	if p.MaxAttempts > 0 {
		out.MaximumAttempts = int32(p.MaxAttempts)
	}
	if p.InitialInterval > 0 {
		out.InitialInterval = p.InitialInterval
	}
	if p.MaxInterval > 0 {
		out.MaximumInterval = p.MaxInterval
	}
	if p.BackoffCoefficient >= 1 {
		out.BackoffCoefficient = p.BackoffCoefficient
	}
	out.NonRetryableErrorTypes = p.NonRetryable
	return out
}

// parallel runs the branches concurrently; the first failure cancels the
// other branches and becomes the step's failure.
func (r *runner) parallel(ctx workflow.Context, sc *scope, s *definitions.Step, prefix string) error {
	bctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	wg := workflow.NewWaitGroup(ctx)
	var first error
	for _, b := range s.Branches {
		wg.Add(1)
		workflow.Go(bctx, func(gctx workflow.Context) {
			defer wg.Done()
			if err := r.runSteps(gctx, sc, b.Steps, prefix, false); err != nil && first == nil {
				first = err
				cancel()
			}
		})
	}
	wg.Wait(ctx)
	if first == nil && ctx.Err() != nil {
		return temporal.NewCanceledError()
	}
	return first
}

// wait blocks until a matching event arrives or the timeout passes. Events
// that arrived earlier are kept in r.pending and consumed here.
func (r *runner) wait(ctx workflow.Context, sc *scope, s *definitions.Step) (any, error) {
	key := ""
	if s.Wait.Correlation != nil {
		v, err := s.Wait.Correlation.Eval(r.env(sc))
		if err != nil {
			return nil, fmt.Errorf("correlation: %w", err)
		}
		key = definitions.Text(v)
	}
	match := func() int {
		for i, ev := range r.pending {
			if ev.Name == s.Wait.Event && (s.Wait.Correlation == nil || ev.Key == key) {
				return i
			}
		}
		return -1
	}
	ready := func() bool { return match() >= 0 }
	take := func() any {
		i := match()
		ev := r.pending[i]
		r.pending = append(r.pending[:i], r.pending[i+1:]...)
		return ev.Data
	}
	if r.generation >= genPromptWait {
		// Events wait in the signal channel until a wait looks: one that
		// came in the very workflow task this wait starts in is seen too,
		// and then the run never waits.
		ready = func() bool {
			r.drainEvents()
			return match() >= 0
		}
		if ready() {
			return take(), nil
		}
	}
	r.waiting++
	r.refreshState(ctx)
	defer func() {
		r.waiting--
		r.refreshState(ctx)
	}()
	switch {
	case s.Wait.Timeout > 0 && r.generation >= genPromptWait:
		ok, err := awaitCancelTimer(ctx, s.Wait.Timeout, "wait "+s.ID, ready)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, waitTimeout(s)
		}
	case s.Wait.Timeout > 0:
		// Generation 0 leaves the timer running once the event came.
		ok, err := workflow.AwaitWithTimeout(ctx, s.Wait.Timeout, ready)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, waitTimeout(s)
		}
	default:
		if err := workflow.Await(ctx, ready); err != nil {
			return nil, err
		}
	}
	return take(), nil
}

func waitTimeout(s *definitions.Step) error {
	return &stepError{Step: s.ID, Type: ErrorTypeWaitTimeout, Msg: fmt.Sprintf("no %q event within %s", s.Wait.Event, s.Wait.Timeout)}
}

// awaitCancelTimer waits until ready or the timeout, and cancels the timer
// when ready came first, so it does not wake the run later for nothing. It
// reports whether ready came.
func awaitCancelTimer(ctx workflow.Context, timeout time.Duration, summary string, ready func() bool) (bool, error) {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	timer := workflow.NewTimerWithOptions(tctx, timeout, workflow.TimerOptions{Summary: summary})
	if err := workflow.Await(ctx, func() bool { return ready() || timer.IsReady() }); err != nil {
		return false, err
	}
	return ready(), nil
}

// receiveEvents moves every EventSignal into r.pending for waits to take
// (generation 0). A goroutine blocked on the channel takes a signal as it
// comes, before the next wait's first look, so from generation 1 waits
// drain the channel themselves.
func (r *runner) receiveEvents(ctx workflow.Context) {
	workflow.Go(ctx, func(gctx workflow.Context) {
		for {
			var ev Event
			if !r.events.Receive(gctx, &ev) {
				return
			}
			r.accept(ev)
		}
	})
}

// drainEvents moves the events in the signal channel into r.pending.
func (r *runner) drainEvents() {
	for {
		var ev Event
		if ok := r.events.ReceiveAsync(&ev); !ok {
			return
		}
		r.accept(ev)
	}
}

// accept keeps an event for a wait, dropping one whose ID was seen.
func (r *runner) accept(ev Event) {
	if ev.ID != "" {
		if r.seenEvents[ev.ID] {
			return
		}
		r.seenEvents[ev.ID] = true
	}
	r.pending = append(r.pending, ev)
}

// childFailure is the step error a child run failed with, read from its
// failure (generation 3 on; see failure), or nil when it failed otherwise
// (a timeout, a cancellation, a bad input).
func childFailure(err error) *stepError {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrorTypeStepFailed {
		return nil
	}
	var step, typ string
	var se stepError
	if appErr.Details(&step, &typ, &se) != nil || se.Path == "" {
		return nil
	}
	return &se
}

// retriesUnder is the operator retries counted for the calls whose paths
// begin with prefix, for a child run to key those calls as this run would
// (see retryWithFreshKey); nil when there are none. A foreach's batch
// child (prefix path+"[", generation 2 on) shares this run's idempotency
// base and takes them by their full paths; a `flow:` step's child (prefix
// path+"/", generation 3 on) has a base of its own and takes them by its
// own paths, with strip set to cut the prefix.
func (r *runner) retriesUnder(prefix string, strip bool) map[string]int {
	var out map[string]int
	for _, p := range sortedKeys(r.retries) {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue
		}
		if out == nil {
			out = map[string]int{}
		}
		k := p
		if strip {
			k = rest
		}
		out[k] = r.retries[p]
	}
	return out
}

func (r *runner) subflow(ctx workflow.Context, sc *scope, s *definitions.Step, path string) (any, error) {
	src, ok := r.subflows[s.Flow]
	if !ok {
		return nil, fmt.Errorf("flow %q was not pinned with this run; start the run again so it carries its sub-flows", s.Flow)
	}
	params, err := evalParams(s, r.env(sc))
	if err != nil {
		return nil, err
	}
	opts := workflow.ChildWorkflowOptions{
		WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + path,
	}
	if s.Timeout > 0 {
		opts.WorkflowExecutionTimeout = s.Timeout
	}
	if s.Retry != nil {
		opts.RetryPolicy = retryPolicy(s.Retry)
	}
	child := RunInput{Generation: r.generation, Flow: src, Subflows: r.subflows, Input: params, IdempotencyBase: r.idempotencyBase + "/" + path}
	if r.generation >= genChildFailures {
		child.Retries = r.retriesUnder(path+"/", true)
	}
	var res RunResult
	if err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, opts), RunWorkflow, child).Get(ctx, &res); err != nil {
		if r.generation >= genChildFailures {
			if se := childFailure(err); se != nil {
				out := &stepError{Step: s.ID, Path: path + "/" + se.Path, Type: se.Type, Msg: se.Msg}
				for _, p := range se.Compensated {
					out.Compensated = append(out.Compensated, path+"/"+p)
				}
				out.CompensatedCut = se.CompensatedCut
				return nil, out
			}
		}
		return nil, err
	}
	// The child's definition says which result it returned: an output may
	// be null. It parsed in the child (cached by hash here), so an error is
	// not expected, but it is not hidden either.
	f, err := r.in.parse(src)
	if err != nil {
		return nil, fmt.Errorf("definition of flow %q: %w", s.Flow, err)
	}
	if f.Output != nil {
		return res.Output, nil
	}
	return map[string]any{"outputs": res.Outputs, "vars": res.Vars}, nil
}
