package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/workflows"
)

// fakeTemporal is the Temporal client of the operation tests: runs in
// memory, answering the calls runs.Client makes as Temporal does. The
// embedded client is nil, so a call the fake lacks panics.
type fakeTemporal struct {
	client.Client

	mu   sync.Mutex
	runs map[string]*fakeRun
	// order is the workflow IDs in start order.
	order   []string
	started []string
	updates []client.UpdateWorkflowOptions
	// updateErr, if set, answers every update of a running run.
	updateErr error
	// queryErr, if set, answers every query.
	queryErr error
	// failStarts makes the runs ExecuteWorkflow starts fail at b, as
	// their originals did.
	failStarts bool
	cancels    []string
	seq        int
}

type fakeRun struct {
	id, runID string
	seq       int // the order runs were added in: their start times
	status    enumspb.WorkflowExecutionStatus
	input     workflows.RunInput
	steps     []*workflows.StepRecord
	replayOf  string
	// unlisted keeps a failed run out of the failed runs' listing, as
	// visibility does for a moment after a run closes.
	unlisted bool
	// invisible keeps the run out of every listing, as visibility does for
	// a moment after a run starts.
	invisible bool
	// updates are the IDs of the updates the run completed, and their errors.
	updates map[string]error
}

func newFakeTemporal() *fakeTemporal {
	return &fakeTemporal{runs: map[string]*fakeRun{}}
}

// sampleFlow has two steps; its sample failed run failed at the second.
const sampleFlow = "id: sync\nversion: 1\nsteps:\n  - {id: a, set: {x: 1}}\n  - {id: b, set: {y: 2}}\n"

func parseSample(t testing.TB) *definitions.Flow {
	t.Helper()
	f, err := definitions.Parse("sync.yaml", []byte(sampleFlow), nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// addFailed adds a failed run of f under id, a replay of replayOf when
// that is set.
func (ft *fakeTemporal) addFailed(f *definitions.Flow, id, replayOf string) {
	ft.add(&fakeRun{id: id, status: enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, replayOf: replayOf,
		input: workflows.RunInput{Generation: workflows.Generation, Flow: f.Source, Input: map[string]any{}},
		steps: failedSteps()})
}

// failedSteps are the steps of a run of sampleFlow that failed at b.
func failedSteps() []*workflows.StepRecord {
	return []*workflows.StepRecord{
		{ID: "a", Path: "a", Kind: "set", Status: workflows.StatusCompleted, Output: map[string]any{"x": 1}},
		{ID: "b", Path: "b", Kind: "set", Status: workflows.StatusFailed, Error: "boom"},
	}
}

// addCompleted adds a completed run of f under id, a replay of replayOf
// when that is set.
func (ft *fakeTemporal) addCompleted(f *definitions.Flow, id, replayOf string) {
	ft.add(&fakeRun{id: id, status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, replayOf: replayOf,
		input: workflows.RunInput{Generation: workflows.Generation, Flow: f.Source, Input: map[string]any{}}})
}

func (ft *fakeTemporal) add(r *fakeRun) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.seq++
	r.seq = ft.seq
	if r.runID == "" {
		r.runID = "run-" + strconv.Itoa(ft.seq)
	}
	r.updates = map[string]error{}
	ft.runs[r.id] = r
	ft.order = append(ft.order, r.id)
}

func (ft *fakeTemporal) run(id string) (*fakeRun, error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	r, ok := ft.runs[id]
	if !ok {
		return nil, serviceerror.NewNotFound("workflow execution not found")
	}
	return r, nil
}

func (r *fakeRun) info() *workflowpb.WorkflowExecutionInfo {
	start := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC).Add(time.Duration(r.seq) * time.Second)
	e := &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: r.id, RunId: r.runID},
		Status:    r.status,
		StartTime: timestamppb.New(start),
	}
	if r.status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		e.CloseTime = timestamppb.New(start.Add(time.Minute))
	}
	if r.replayOf != "" {
		p, _ := converter.GetDefaultDataConverter().ToPayload(r.replayOf)
		e.SearchAttributes = &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{workflows.SearchAttributeReplayOf: p}}
	}
	return e
}

func (ft *fakeTemporal) DescribeWorkflowExecution(ctx context.Context, id, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	r, err := ft.run(id)
	if err != nil {
		return nil, err
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: r.info()}, nil
}

// ListWorkflow answers the two queries the operations make: the replays
// of a run, and failed runs.
func (ft *fakeTemporal) ListWorkflow(ctx context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	for i := len(ft.order) - 1; i >= 0; i-- { // newest first
		r := ft.runs[ft.order[i]]
		if r.invisible {
			continue
		}
		var match bool
		if _, of, ok := strings.Cut(req.Query, workflows.SearchAttributeReplayOf+" = "); ok {
			match = r.replayOf != "" && strings.HasPrefix(of, strconv.Quote(r.replayOf))
		} else {
			match = strings.Contains(req.Query, `ExecutionStatus = "Failed"`) && r.status == enumspb.WORKFLOW_EXECUTION_STATUS_FAILED && !r.unlisted
		}
		if match {
			resp.Executions = append(resp.Executions, r.info())
		}
	}
	return resp, nil
}

type fakeHistory struct {
	events []*historypb.HistoryEvent
}

func (h *fakeHistory) HasNext() bool { return len(h.events) > 0 }
func (h *fakeHistory) Next() (*historypb.HistoryEvent, error) {
	e := h.events[0]
	h.events = h.events[1:]
	return e, nil
}

func (ft *fakeTemporal) GetWorkflowHistory(ctx context.Context, id, runID string, long bool, filter enumspb.HistoryEventFilterType) client.HistoryEventIterator {
	r, err := ft.run(id)
	if err != nil {
		return &fakeHistory{}
	}
	p, err := converter.GetDefaultDataConverter().ToPayloads(r.input)
	if err != nil {
		panic(err)
	}
	return &fakeHistory{events: []*historypb.HistoryEvent{{Attributes: &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{
		WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{Input: p}}}}}
}

// jsonValue is an encoded value, round-tripped through JSON.
type jsonValue struct{ v any }

func (j jsonValue) HasValue() bool { return j.v != nil }
func (j jsonValue) Get(ptr any) error {
	b, err := json.Marshal(j.v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, ptr)
}

func (ft *fakeTemporal) QueryWorkflow(ctx context.Context, id, runID, queryType string, args ...any) (converter.EncodedValue, error) {
	r, err := ft.run(id)
	if err != nil {
		return nil, err
	}
	if ft.queryErr != nil {
		return nil, ft.queryErr
	}
	return jsonValue{r.steps}, nil
}

// fakeWorkflowRun is a run's handle; Get answers at once: the failed
// step's error for failed runs, an empty result otherwise.
type fakeWorkflowRun struct {
	ft        *fakeTemporal
	id, runID string
}

func (w fakeWorkflowRun) GetID() string                  { return w.id }
func (w fakeWorkflowRun) GetRunID() string               { return w.runID }
func (w fakeWorkflowRun) GetFirstExecutionRunID() string { return w.runID }
func (w fakeWorkflowRun) Get(ctx context.Context, ptr any) error {
	r, err := w.ft.run(w.id)
	if err != nil {
		return err
	}
	if r.status == enumspb.WORKFLOW_EXECUTION_STATUS_FAILED {
		return temporal.NewApplicationError("step b failed", "relay.step_failed")
	}
	return nil
}
func (w fakeWorkflowRun) GetWithOptions(ctx context.Context, ptr any, _ client.WorkflowRunGetOptions) error {
	return w.Get(ctx, ptr)
}

func (ft *fakeTemporal) GetWorkflow(ctx context.Context, id, runID string) client.WorkflowRun {
	return fakeWorkflowRun{ft: ft, id: id, runID: runID}
}

// ExecuteWorkflow starts a run that completes at once, refusing an ID in
// use as Temporal does under the options.
func (ft *fakeTemporal) ExecuteWorkflow(ctx context.Context, so client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	in := args[0].(workflows.RunInput)
	ft.mu.Lock()
	if r, ok := ft.runs[so.ID]; ok {
		ft.mu.Unlock()
		if so.WorkflowIDReusePolicy == enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE || r.status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("workflow execution already started", "", r.runID)
		}
		return nil, fmt.Errorf("the fake does not start a closed run's ID again")
	}
	ft.started = append(ft.started, so.ID)
	r := &fakeRun{id: so.ID, status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, input: in}
	if ft.failStarts {
		r.status, r.steps = enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, failedSteps()
	}
	ft.mu.Unlock()
	if in.Replay != nil {
		r.replayOf = in.Replay.Original
	}
	ft.add(r)
	return fakeWorkflowRun{ft: ft, id: r.id, runID: r.runID}, nil
}

type fakeUpdateHandle struct {
	id, runID, updateID string
	err                 error
}

func (h fakeUpdateHandle) WorkflowID() string                   { return h.id }
func (h fakeUpdateHandle) RunID() string                        { return h.runID }
func (h fakeUpdateHandle) UpdateID() string                     { return h.updateID }
func (h fakeUpdateHandle) Get(ctx context.Context, _ any) error { return h.err }

// UpdateWorkflow applies an update as Temporal does: a repeated update ID
// gets the first one's outcome, even once the run has closed; a closed
// run refuses any other with NotFound.
func (ft *fakeTemporal) UpdateWorkflow(ctx context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	r, err := ft.run(o.WorkflowID)
	if err != nil {
		return nil, err
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if err, ok := r.updates[o.UpdateID]; ok && o.UpdateID != "" {
		return fakeUpdateHandle{r.id, r.runID, o.UpdateID, err}, nil
	}
	if r.status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return nil, serviceerror.NewNotFound("workflow execution already completed")
	}
	ft.updates = append(ft.updates, o)
	if o.UpdateID != "" {
		r.updates[o.UpdateID] = ft.updateErr
	}
	return fakeUpdateHandle{r.id, r.runID, o.UpdateID, ft.updateErr}, nil
}

// CancelWorkflow succeeds on a closed run, as Temporal does.
func (ft *fakeTemporal) CancelWorkflow(ctx context.Context, id, runID string) error {
	if _, err := ft.run(id); err != nil {
		return err
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.cancels = append(ft.cancels, id)
	return nil
}

func (ft *fakeTemporal) startedIDs() []string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return append([]string(nil), ft.started...)
}

// fakeClient is a runs client over ft with f loaded.
func fakeClient(ft *fakeTemporal, f *definitions.Flow) *Client {
	return &Client{Temporal: ft, Namespace: "default", TaskQueue: "relay", Flows: map[string]*definitions.Flow{f.ID: f}}
}
