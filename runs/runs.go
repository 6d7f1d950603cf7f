// Package runs starts, lists and inspects flow runs. Temporal holds every
// run; this package only speaks to it, for the CLI and relay's HTTP API.
package runs

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/secrets"
	"github.com/relay-dev/relay/triggers/verify"
	"github.com/relay-dev/relay/workflows"
)

// SearchAttributeFlow is the keyword search attribute that carries a run's
// flow ID. `relay dev` registers it and the others in
// workflows.SearchAttributes; on a cluster, register each once with
// `temporal operator search-attribute create --name RelayFlow --type Keyword`.
const SearchAttributeFlow = workflows.SearchAttributeFlow

var (
	flowKey        = temporal.NewSearchAttributeKeyKeyword(SearchAttributeFlow)
	businessKeyKey = temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttributeBusinessKey)
	replayOfKey    = temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttributeReplayOf)
)

// SearchAttributeTypes are the search attributes to register on a
// namespace, all keywords.
func SearchAttributeTypes() map[string]enumspb.IndexedValueType {
	out := map[string]enumspb.IndexedValueType{}
	for _, name := range workflows.SearchAttributes {
		out[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return out
}

// Client starts and inspects runs.
type Client struct {
	Temporal  client.Client
	Namespace string
	// TaskQueue the runs are started on; must match the workers'.
	TaskQueue string
	// Flows are the loaded definitions by ID, for pinning sub-flows.
	Flows map[string]*definitions.Flow
	// DataConverter decodes inputs and memos read back from Temporal; nil
	// means the default. Set it to the client's when payloads are encrypted.
	DataConverter converter.DataConverter
	// Redact hides personal data by field name in what Show returns
	// (input, trigger body, step outputs, result); nil shows everything.
	Redact *secrets.FieldRedactor
}

// Converter returns the data converter runs are read with.
func (c *Client) Converter() converter.DataConverter {
	if c.DataConverter != nil {
		return c.DataConverter
	}
	return converter.GetDefaultDataConverter()
}

// Run names one run.
type Run struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Flow       string `json:"flow"`
	// Existing says that an earlier call under the same idempotency key
	// started the run, and this one started nothing (see
	// ReplayOptions.IdempotencyKey).
	Existing bool `json:"-"`
}

// StartOptions tune Start.
type StartOptions struct {
	// WorkflowID defaults to "<flow>/<random UUID>".
	WorkflowID string
	// Dedupe refuses a second run with the same workflow ID, running or
	// closed, with *serviceerror.WorkflowExecutionAlreadyStarted.
	Dedupe bool
	// IdempotencyKey, when set, names the run after it, in place of
	// WorkflowID (Start refuses both): a start of the same flow under the
	// same key starts nothing and returns the run the first one started,
	// with Existing set, whether it is still running or has closed. A
	// client that sends a start again after a timeout so gets one run.
	IdempotencyKey string
	// Trigger is the delivery that starts the run, kept in its history.
	Trigger *workflows.TriggerEvent
	// BusinessKey is searchable with Filter.BusinessKey (an order ID); by
	// default the part of WorkflowID after "<flow>/".
	BusinessKey string
	// Replay makes the run a replay (see Client.Replay).
	Replay *workflows.Replay
}

// InputError is an input that does not fit its flow's inputs: the
// caller's to fix, not a reason to retry.
type InputError struct {
	Flow string
	Err  error
}

func (e *InputError) Error() string { return fmt.Sprintf("input of flow %s: %v", e.Flow, e.Err) }
func (e *InputError) Unwrap() error { return e.Err }

// FlowNotLoadedError refuses a run of a flow whose `flow:` step starts a
// flow this process has not loaded (its file was refused or removed since
// the step's flow loaded): the operator must load it; no retry of the
// request can succeed before.
type FlowNotLoadedError struct {
	Flow, Step string
	// Missing is the flow the step starts.
	Missing string
}

func (e *FlowNotLoadedError) Error() string {
	return fmt.Sprintf("flow %s step %q starts flow %q, which is not loaded", e.Flow, e.Step, e.Missing)
}

// Input pins a flow and every flow its `flow:` steps may start, and binds
// the input. The result is the complete input of `relay.run`; an input
// that does not fit is an *InputError.
func (c *Client) Input(flow *definitions.Flow, input map[string]any) (workflows.RunInput, error) {
	bound, err := flow.BindInput(input)
	if err != nil {
		return workflows.RunInput{}, &InputError{Flow: flow.ID, Err: err}
	}
	subflows := map[string]definitions.Source{}
	var pin func(f *definitions.Flow) error
	pin = func(f *definitions.Flow) error {
		var missing error
		definitions.Walk(f.Steps, func(s *definitions.Step) bool {
			if s.Kind != definitions.KindFlow {
				return true
			}
			if _, done := subflows[s.Flow]; done {
				return true
			}
			sub := c.Flows[s.Flow]
			if sub == nil {
				missing = &FlowNotLoadedError{Flow: f.ID, Step: s.ID, Missing: s.Flow}
				return false
			}
			subflows[s.Flow] = sub.Source
			if err := pin(sub); err != nil {
				missing = err
				return false
			}
			return true
		})
		return missing
	}
	if err := pin(flow); err != nil {
		return workflows.RunInput{}, err
	}
	if len(subflows) == 0 {
		subflows = nil
	}
	return workflows.RunInput{Generation: workflows.Generation, Flow: flow.Source, Subflows: subflows, Input: bound}, nil
}

// Start starts a run of flow with input. It returns once Temporal has
// accepted the run or, under an idempotency key an earlier start of flow
// used, with the run that start started (see StartOptions.IdempotencyKey).
func (c *Client) Start(ctx context.Context, flow *definitions.Flow, input map[string]any, opts StartOptions) (Run, error) {
	if opts.IdempotencyKey != "" {
		if opts.WorkflowID != "" {
			return Run{}, fmt.Errorf("starting flow %s: a workflow ID and an idempotency key both name the run; give one", flow.ID)
		}
		opts.WorkflowID, opts.Dedupe = keyedID(flow.ID, "key", opts.IdempotencyKey), true
	}
	in, err := c.Input(flow, input)
	if err != nil {
		return Run{}, err
	}
	in.Trigger = opts.Trigger
	run, err := c.start(ctx, flow, in, opts)
	if err == nil && run.Existing {
		// As Stripe does: a key names one request, so a repeat that asks
		// for something else is a client's mistake, not a retry.
		first, err := c.startInput(ctx, run.WorkflowID, run.RunID)
		if err != nil {
			return Run{}, err
		}
		if !sameJSON(first.Input, in.Input) {
			return Run{}, fmt.Errorf("%w: run %s was started under it with other input", ErrKeyReused, run.WorkflowID)
		}
	}
	return run, err
}

// ErrKeyReused is returned for a start, replay or rerun sent under an
// idempotency key an earlier one used with other parameters.
var ErrKeyReused = errors.New("idempotency key reused with other parameters: send a new key for a new request")

// sameJSON reports whether a and b are the same as JSON (a run's input
// read back from its history holds float64s where a bound one may hold
// ints).
func sameJSON(a, b any) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && bytes.Equal(ja, jb)
}

// start starts a run of flow with in. A run named after an idempotency key
// (by Start or redo) that an earlier call started is returned, with
// Existing set, whether it is still running or has closed; a run named by
// a workflow ID of the caller's is refused as a duplicate, as opts.Dedupe
// says.
func (c *Client) start(ctx context.Context, flow *definitions.Flow, in workflows.RunInput, opts StartOptions) (Run, error) {
	in.Replay = opts.Replay
	so := c.startOptions(flow, opts)
	// Eager start: when a worker of this client polls the task queue (relay
	// dev, relay serve with a worker, relay bench), the server hands it the
	// first workflow task in the start's response, skipping matching and a
	// database write. Elsewhere the SDK ignores the flag.
	so.EnableEagerStart = true
	we, err := c.Temporal.ExecuteWorkflow(ctx, so, workflows.RunWorkflow, in)
	var dup *serviceerror.WorkflowExecutionAlreadyStarted
	if opts.IdempotencyKey != "" && errors.As(err, &dup) {
		return Run{WorkflowID: so.ID, RunID: dup.RunId, Flow: flow.ID, Existing: true}, nil
	}
	if err != nil {
		return Run{}, fmt.Errorf("starting flow %s: %w", flow.ID, err)
	}
	return Run{WorkflowID: we.GetID(), RunID: we.GetRunID(), Flow: flow.ID}, nil
}

// SignalWithStart delivers ev to the run opts.WorkflowID, starting it with
// input first if it does not exist.
func (c *Client) SignalWithStart(ctx context.Context, flow *definitions.Flow, input map[string]any, opts StartOptions, ev workflows.Event) (Run, error) {
	in, err := c.Input(flow, input)
	if err != nil {
		return Run{}, err
	}
	in.Trigger = opts.Trigger
	so := c.startOptions(flow, opts)
	so.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	// A run that already ended is not started again by a late event.
	so.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
	we, err := c.Temporal.SignalWithStartWorkflow(ctx, so.ID, workflows.EventSignal, ev, so, workflows.RunWorkflow, in)
	if err != nil {
		return Run{}, fmt.Errorf("signal-with-start of flow %s: %w", flow.ID, err)
	}
	return Run{WorkflowID: we.GetID(), RunID: we.GetRunID(), Flow: flow.ID}, nil
}

// WorkflowID is the workflow ID of flow's run for business key key,
// `<flow>/<key>`. Webhooks, events and starters name runs so, and List
// finds a run by its flow and key in it (see Filter.Query), so a run so
// named starts with no search attribute for them (see startAttributes).
func WorkflowID(flow, key string) string { return flow + "/" + key }

// keyInID returns the business key workflowID says, and whether it is an
// ID of flow's; when it is not, the key is the whole ID.
func keyInID(flow, workflowID string) (string, bool) {
	return strings.CutPrefix(workflowID, WorkflowID(flow, ""))
}

// flowInID returns the flow a top-level run's workflow ID says, if any.
func flowInID(workflowID string) (string, bool) {
	flow, _, ok := strings.Cut(workflowID, "/")
	return flow, ok
}

func (c *Client) startOptions(flow *definitions.Flow, opts StartOptions) client.StartWorkflowOptions {
	id := opts.WorkflowID
	if id == "" {
		id = WorkflowID(flow.ID, uuid.NewString())
	}
	so := client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             c.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(startAttributes(flow.ID, id, opts)...),
		// No memo: the run's input holds its definition, which is where
		// Show reads the version and hash. A memo cost every run about
		// 0.3 ms of CPU (relay bench, 4-call flow at c16).
	}
	if opts.Dedupe {
		so.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
		so.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL
		so.WorkflowExecutionErrorWhenAlreadyStarted = true
	}
	return so
}

// startAttributes are the search attributes a run of flow starts with
// under workflow ID id: only what the ID does not say (see WorkflowID).
// Any search attribute costs every run: with one, Temporal validates it at
// the start and the embedded visibility store writes the row's indexed
// columns from it at the close (relay bench, 4-call flow at c1, seven
// interleaved pairs: CPU per run above Go's 0.56 ms with RelayFlow and
// RelayBusinessKey, 0.06 ms without; mean ratio 0.943 → 0.976).
func startAttributes(flow, id string, opts StartOptions) []temporal.SearchAttributeUpdate {
	var attrs []temporal.SearchAttributeUpdate
	idKey, ok := keyInID(flow, id)
	if !ok {
		attrs = append(attrs, flowKey.ValueSet(flow))
	}
	if key := cmp.Or(opts.BusinessKey, idKey); !ok || key != idKey {
		attrs = append(attrs, businessKeyKey.ValueSet(key))
	}
	if opts.Replay != nil {
		attrs = append(attrs, replayOfKey.ValueSet(opts.Replay.Original))
	}
	return attrs
}

// Result waits for the run to end and returns its result or failure.
func (c *Client) Result(ctx context.Context, workflowID string) (*workflows.RunResult, error) {
	var res workflows.RunResult
	if err := c.Temporal.GetWorkflow(ctx, workflowID, "").Get(ctx, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Filter selects runs for List.
type Filter struct {
	Flow   string
	Status string // running, waiting, parked, completed, failed, cancelled, terminated, timed_out
	// Since keeps runs started at or after it; zero means any time.
	Since      time.Time
	Until      time.Time
	FailedStep string
	ErrorType  string
	// BusinessKey is the run's dedupe key, such as an order ID.
	BusinessKey string
	// ReplayOf keeps the replays of one run.
	ReplayOf string
	// PageSize defaults to 50.
	PageSize int
	// Cursor is the next page token of a previous List, which it
	// continues (see Continue).
	Cursor []byte
}

// Summary is one run as List shows it.
type Summary struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Flow       string `json:"flow"`
	// BusinessKey is the key the run was started for (an order ID): its
	// RelayBusinessKey, else what its workflow ID says (see WorkflowID).
	// A child run has none of its own.
	BusinessKey string `json:"business_key,omitempty"`
	// Status is Temporal's, refined to waiting or parked for open runs.
	Status     string    `json:"status"`
	FailedStep string    `json:"failed_step,omitempty"`
	ErrorType  string    `json:"error_type,omitempty"`
	ReplayOf   string    `json:"replay_of,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	ClosedAt   time.Time `json:"closed_at,omitzero"`
}

var statuses = map[string]string{
	"running":    "Running",
	"waiting":    "Running",
	"parked":     "Running",
	"completed":  "Completed",
	"failed":     "Failed",
	"cancelled":  "Canceled",
	"canceled":   "Canceled",
	"terminated": "Terminated",
	"timed_out":  "TimedOut",
}

// Query renders the filter as a Temporal visibility query. A business key
// is looked for in the workflow IDs of f.Flow, or of flows when f names no
// flow (the flow IDs List's client knows), and in RelayBusinessKey.
//
// Most runs carry their flow and business key only in their workflow ID
// (see WorkflowID): a run matches a flow by that ID
// when it has no RelayFlow and no parent (a child's ID extends its
// parent's), and a key when it has no RelayBusinessKey. Runs whose ID says
// neither, and runs started before relay left them out, match by the
// search attributes. No index serves the OR on the embedded SQLite store:
// it reads relay's runs newest first until a page is full.
func (f Filter) Query(flows []string) (string, error) {
	clauses := []string{fmt.Sprintf("WorkflowType = %q", workflows.RunWorkflow)}
	if f.Flow != "" {
		clauses = append(clauses, fmt.Sprintf("(%s = %q OR (%s IS NULL AND ParentWorkflowId IS NULL AND WorkflowId STARTS_WITH %q))",
			SearchAttributeFlow, f.Flow, SearchAttributeFlow, WorkflowID(f.Flow, "")))
	}
	if f.BusinessKey != "" {
		if f.Flow != "" {
			flows = []string{f.Flow}
		}
		clause := fmt.Sprintf("%s = %q", workflows.SearchAttributeBusinessKey, f.BusinessKey)
		if len(flows) > 0 {
			ids := make([]string, len(flows))
			for i, fl := range flows {
				ids[i] = strconv.Quote(WorkflowID(fl, f.BusinessKey))
			}
			sort.Strings(ids)
			clause = fmt.Sprintf("(%s OR (%s IS NULL AND ParentWorkflowId IS NULL AND WorkflowId IN (%s)))",
				clause, workflows.SearchAttributeBusinessKey, strings.Join(ids, ", "))
		}
		clauses = append(clauses, clause)
	}
	if f.Status != "" {
		s, ok := statuses[strings.ToLower(f.Status)]
		if !ok {
			known := make([]string, 0, len(statuses))
			for k := range statuses {
				known = append(known, k)
			}
			sort.Strings(known)
			return "", fmt.Errorf("unknown status %q (want one of %s)", f.Status, strings.Join(known, ", "))
		}
		clauses = append(clauses, fmt.Sprintf("ExecutionStatus = %q", s))
		if st := strings.ToLower(f.Status); st == workflows.StateWaiting || st == workflows.StateParked {
			clauses = append(clauses, fmt.Sprintf("%s = %q", workflows.SearchAttributeState, st))
		}
	}
	for attr, v := range map[string]string{
		workflows.SearchAttributeFailedStep: f.FailedStep,
		workflows.SearchAttributeErrorType:  f.ErrorType,
		workflows.SearchAttributeReplayOf:   f.ReplayOf,
	} {
		if v != "" {
			clauses = append(clauses, fmt.Sprintf("%s = %q", attr, v))
		}
	}
	if !f.Since.IsZero() {
		clauses = append(clauses, fmt.Sprintf("StartTime >= %q", f.Since.UTC().Format(time.RFC3339Nano)))
	}
	if !f.Until.IsZero() {
		clauses = append(clauses, fmt.Sprintf("StartTime < %q", f.Until.UTC().Format(time.RFC3339Nano)))
	}
	sort.Strings(clauses[1:])
	return strings.Join(clauses, " AND "), nil
}

// List returns runs matching f, newest first, and the cursor of the next
// page (nil at the end).
func (c *Client) List(ctx context.Context, f Filter) ([]Summary, []byte, error) {
	q, err := f.Query(slices.Collect(maps.Keys(c.Flows)))
	if err != nil {
		return nil, nil, err
	}
	size := f.PageSize
	if size <= 0 {
		size = 50
	}
	resp, err := c.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace:     c.Namespace,
		PageSize:      int32(size),
		NextPageToken: f.Cursor,
		Query:         q,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listing runs (%s): %w", q, err)
	}
	out := make([]Summary, 0, len(resp.Executions))
	for _, e := range resp.Executions {
		out = append(out, summaryOf(e))
	}
	return out, resp.NextPageToken, nil
}

// open reports whether the run is still going: running, waiting or parked.
func (s Summary) open() bool {
	return s.Status == "running" || s.Status == workflows.StateWaiting || s.Status == workflows.StateParked
}

// summaryOf is what Temporal's record of a run says of it.
func summaryOf(e *workflowpb.WorkflowExecutionInfo) Summary {
	s := Summary{
		WorkflowID: e.GetExecution().GetWorkflowId(),
		RunID:      e.GetExecution().GetRunId(),
		Status:     statusName(e.GetStatus()),
		StartedAt:  e.GetStartTime().AsTime(),
	}
	if e.GetCloseTime() != nil {
		s.ClosedAt = e.GetCloseTime().AsTime()
	}
	readAttributes(e.GetSearchAttributes().GetIndexedFields(), e.GetParentExecution() != nil, &s)
	return s
}

// describe is Temporal's record of the run workflowID; ErrNotFound when
// there is none.
func (c *Client) describe(ctx context.Context, workflowID string) (*workflowpb.WorkflowExecutionInfo, error) {
	desc, err := c.Temporal.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, workflowID)
		}
		return nil, fmt.Errorf("describing run %s: %w", workflowID, err)
	}
	return desc.GetWorkflowExecutionInfo(), nil
}

// Detail is one run as Show shows it.
type Detail struct {
	Summary
	FlowVersion    int                     `json:"flow_version,omitempty"`
	DefinitionHash string                  `json:"definition_hash,omitempty"`
	Steps          []*workflows.StepRecord `json:"steps"`
	// StepsError says why the step timeline could not be read.
	StepsError string               `json:"steps_error,omitempty"`
	Result     *workflows.RunResult `json:"result,omitempty"`
	Failure    string               `json:"failure,omitempty"`
	// Input is what the run started with; Trigger the delivery that
	// started it, if a webhook did.
	Input   map[string]any          `json:"input,omitempty"`
	Trigger *workflows.TriggerEvent `json:"trigger,omitempty"`
	// Replays are the runs that replay this one.
	Replays []string `json:"replays,omitempty"`

	// stepsErr is the error StepsError says, kept for a replay to wrap:
	// whether it is transient (no worker polls, Temporal timed out) is in
	// its type, not its text.
	stepsErr error
}

// startInput reads the input a run started with from its first event.
func (c *Client) startInput(ctx context.Context, workflowID, runID string) (workflows.RunInput, error) {
	var in workflows.RunInput
	it := c.Temporal.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return in, fmt.Errorf("run %s has no history", workflowID)
	}
	ev, err := it.Next()
	if err != nil {
		return in, fmt.Errorf("reading the history of %s: %w", workflowID, err)
	}
	payloads := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	if len(payloads) == 0 {
		return in, fmt.Errorf("run %s started without input", workflowID)
	}
	if err := c.Converter().FromPayload(payloads[0], &in); err != nil {
		return in, fmt.Errorf("decoding the input of %s: %w", workflowID, err)
	}
	return in, nil
}

// withoutSignatures is t without the headers that carry a signature or a
// signed timestamp: every provider scheme's, and those of the hmac routes
// the run's definition f (nil when it did not parse) declares on t's path.
// The webhook receiver no longer keeps them in a run's trigger, but runs
// it started before still hold them; with the body they are a delivery
// anyone who can read the run could send again, so neither Show nor a
// replay or rerun (which copy the trigger) passes them on.
func withoutSignatures(t *workflows.TriggerEvent, f *definitions.Flow) *workflows.TriggerEvent {
	if t == nil || len(t.Headers) == 0 {
		return t
	}
	drop := verify.SignatureHeaders(verify.Config{})
	if f != nil {
		for _, h := range f.Webhooks() {
			if h.Path == t.Path {
				drop = append(drop, verify.SignatureHeaders(verify.Config{Header: h.Verify.Header, TimestampHeader: h.Verify.TimestampHeader})...)
			}
		}
	}
	out := *t
	out.Headers = make(map[string]string, len(t.Headers))
	for k, v := range t.Headers {
		if !slices.Contains(drop, http.CanonicalHeaderKey(k)) {
			out.Headers[k] = v
		}
	}
	return &out
}

// started is what a run started with.
type started struct {
	in   workflows.RunInput
	flow *definitions.Flow // the definition pinned in in
	err  error             // why in or flow could not be read
}

// startedWith reads what the run of flowID (empty if unknown) started
// with: its input and the definition pinned in it.
func (c *Client) startedWith(ctx context.Context, workflowID, runID, flowID string) started {
	in, err := c.startInput(ctx, workflowID, runID)
	if err != nil {
		return started{err: err}
	}
	f, err := c.pinnedFlow(flowID, in.Flow)
	in.Trigger = withoutSignatures(in.Trigger, f)
	if err != nil {
		return started{in: in, err: fmt.Errorf("parsing the definition %s pinned: %w", workflowID, err)}
	}
	return started{in: in, flow: f}
}

// pinnedFlow is the definition src holds: the loaded flow flowID when it is
// the same definition, else src parsed again (connectors need no registry
// to be read back).
func (c *Client) pinnedFlow(flowID string, src definitions.Source) (*definitions.Flow, error) {
	if f := c.Flows[flowID]; f != nil && src.Hash != "" && f.Source.Hash == src.Hash {
		return f, nil
	}
	return definitions.ParsePinned(src.File, src.Content, nil)
}

// ErrNotFound is returned by Show for an unknown run.
var ErrNotFound = errors.New("run not found")

// Summary is what Temporal's record of the run workflowID says of it, in
// one read; ErrNotFound when there is none.
func (c *Client) Summary(ctx context.Context, workflowID string) (Summary, error) {
	info, err := c.describe(ctx, workflowID)
	if err != nil {
		return Summary{}, err
	}
	return summaryOf(info), nil
}

// Show describes one run: status, the step timeline (from the run's query)
// and, for closed runs, the result or failure.
func (c *Client) Show(ctx context.Context, workflowID string) (*Detail, error) {
	d, _, err := c.show(ctx, workflowID)
	if err != nil {
		return nil, err
	}
	c.redact(d)
	return d, nil
}

// show is Show without redaction.
func (c *Client) show(ctx context.Context, workflowID string) (*Detail, started, error) {
	d, st, err := c.read(ctx, workflowID)
	if err != nil {
		return nil, started{}, err
	}
	if replays, _, err := c.List(ctx, Filter{ReplayOf: workflowID, PageSize: 100}); err == nil {
		for _, r := range replays {
			d.Replays = append(d.Replays, r.WorkflowID)
		}
	}
	if !d.open() {
		res, err := c.Result(ctx, workflowID)
		if err != nil {
			d.Failure = failureMessage(err)
		} else {
			d.Result = res
		}
	}
	return d, st, nil
}

// read is what a replay needs of a run, unredacted: its summary, its step
// timeline with the real outputs, and what it started with. Show adds its
// replays and its result.
func (c *Client) read(ctx context.Context, workflowID string) (*Detail, started, error) {
	info, err := c.describe(ctx, workflowID)
	if err != nil {
		return nil, started{}, err
	}
	d := &Detail{Summary: summaryOf(info)}
	st := c.startedWith(ctx, workflowID, d.RunID, d.Flow)
	d.Input, d.Trigger, d.DefinitionHash = st.in.Input, st.in.Trigger, st.in.Flow.Hash
	if st.flow != nil {
		d.FlowVersion = st.flow.Version
	}
	v, err := c.Temporal.QueryWorkflow(ctx, workflowID, d.RunID, workflows.StepsQuery)
	if err == nil {
		err = v.Get(&d.Steps)
	}
	if err != nil {
		d.StepsError, d.stepsErr = err.Error(), err
	}
	return d, st, nil
}

// redact hides the configured personal-data fields of a detail.
func (c *Client) redact(d *Detail) {
	r := c.Redact
	if r == nil {
		return
	}
	// What a redacted field holds is hidden wherever else it shows too.
	var known secrets.Redactor
	var trigger any
	if d.Trigger != nil {
		_ = json.Unmarshal(d.Trigger.Body, &trigger)
	}
	r.Collect(&known, d.Input, trigger)
	for _, s := range d.Steps {
		r.Collect(&known, s.Output)
	}
	if d.Input != nil {
		d.Input, _ = r.Scrub(d.Input, &known).(map[string]any)
	}
	if d.Trigger != nil {
		t := *d.Trigger
		t.Body = r.JSON(t.Body, &known)
		d.Trigger = &t
	}
	for i, s := range d.Steps {
		cp := *s
		cp.Output = r.Scrub(s.Output, &known)
		cp.Error = known.Redact(s.Error)
		d.Steps[i] = &cp
	}
	d.Failure = known.Redact(d.Failure)
	if d.Result != nil {
		res := *d.Result
		res.Output = r.Scrub(res.Output, &known)
		res.Outputs, _ = r.Scrub(res.Outputs, &known).(map[string]any)
		res.Vars, _ = r.Scrub(res.Vars, &known).(map[string]any)
		res.Items, _ = r.Scrub(res.Items, &known).([]any)
		d.Result = &res
	}
}

// readAttributes fills a summary from a run's search attributes and, for
// a run without RelayFlow or RelayBusinessKey and without a parent, from
// its workflow ID (see WorkflowID). A child's ID extends its parent's and
// says nothing of its own flow or key.
func readAttributes(attrs map[string]*commonpb.Payload, child bool, s *Summary) {
	decode(attrs[SearchAttributeFlow], &s.Flow)
	if flow, ok := flowInID(s.WorkflowID); s.Flow == "" && !child && ok {
		s.Flow = flow
	}
	decode(attrs[workflows.SearchAttributeBusinessKey], &s.BusinessKey)
	if key, ok := keyInID(s.Flow, s.WorkflowID); s.BusinessKey == "" && !child && s.Flow != "" && ok {
		s.BusinessKey = key
	}
	decode(attrs[workflows.SearchAttributeFailedStep], &s.FailedStep)
	decode(attrs[workflows.SearchAttributeErrorType], &s.ErrorType)
	decode(attrs[workflows.SearchAttributeReplayOf], &s.ReplayOf)
	var state string
	decode(attrs[workflows.SearchAttributeState], &state)
	if s.Status == "running" && (state == workflows.StateWaiting || state == workflows.StateParked) {
		s.Status = state
	}
}

// decode reads a search attribute payload (never encrypted); a missing or
// undecodable one leaves v as it was.
func decode(p *commonpb.Payload, v any) {
	if p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, v)
	}
}

// failureMessage is the run's own failure, without the SDK's wrapping.
func failureMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

func statusName(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "cancelled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed_out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "continued_as_new"
	default:
		return "unknown"
	}
}
