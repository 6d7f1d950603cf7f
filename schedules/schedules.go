// Package schedules keeps Temporal Schedules in step with the flows'
// `trigger.schedule`: one schedule per flow, ID `relay/<flow>`, whose action
// starts `relay.run` with the definition pinned in its input. Temporal holds
// the schedules; Reconcile only compares and writes them, so any number of
// relay servers may run it.
package schedules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/workflows"
)

// Prefix starts the ID of every schedule relay manages. Reconcile deletes
// the prefixed schedules no loaded flow asks for.
const Prefix = "relay/"

// ID returns the schedule ID of a flow. An ID that already has the prefix
// is returned as is.
func ID(flow string) string {
	if strings.HasPrefix(flow, Prefix) {
		return flow
	}
	return Prefix + flow
}

// WorkflowIDPrefix is the workflow ID of a flow's scheduled runs; Temporal
// appends the scheduled time (`<flow>/scheduled-2025-01-02T06:00:00Z`).
func WorkflowIDPrefix(flow string) string { return flow + "/scheduled" }

// Memo keys of a schedule's action, which describe the schedule: the flow
// version and definition hash it runs, its spec, and the hash Reconcile
// compares. The schedule's own memo cannot be updated, which is why they
// live here. Temporal copies the action's memo onto every run it starts;
// a scheduled run is rare beside webhook runs, which carry no memo.
const (
	memoFlowVersion    = "flow_version"
	memoDefinitionHash = "definition_hash"
	memoScheduleHash   = "schedule_hash"
	memoSpec           = "schedule"
)

// hashFormat changes when relay builds schedules differently, so that
// Reconcile rewrites the schedules an older relay made.
const hashFormat = 1

var flowKey = temporal.NewSearchAttributeKeyKeyword(runs.SearchAttributeFlow)

var overlaps = map[string]enumspb.ScheduleOverlapPolicy{
	definitions.OverlapSkip:           enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	definitions.OverlapBufferOne:      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
	definitions.OverlapBufferAll:      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL,
	definitions.OverlapCancelOther:    enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER,
	definitions.OverlapTerminateOther: enumspb.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER,
	definitions.OverlapAllowAll:       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
}

// Overlap returns Temporal's overlap policy for a name of
// definitions.ScheduleOverlaps; "" is unspecified (the schedule's own).
func Overlap(name string) (enumspb.ScheduleOverlapPolicy, error) {
	if name == "" {
		return enumspb.SCHEDULE_OVERLAP_POLICY_UNSPECIFIED, nil
	}
	p, ok := overlaps[name]
	if !ok {
		return 0, fmt.Errorf("unknown overlap policy %q (want one of %s)", name, strings.Join(definitions.ScheduleOverlaps, ", "))
	}
	return p, nil
}

// overlapName is the inverse of Overlap.
func overlapName(p enumspb.ScheduleOverlapPolicy) string {
	for name, v := range overlaps {
		if v == p {
			return name
		}
	}
	return definitions.OverlapSkip // Temporal's default
}

// Desired is the Temporal schedule a flow asks for.
type Desired struct {
	ID     string
	Flow   string
	Spec   client.ScheduleSpec
	Action *client.ScheduleWorkflowAction
	Policy client.SchedulePolicies
	// Hash covers everything above; it is kept in the action's memo.
	Hash string
}

// Build returns the schedule of a flow with a trigger.schedule: its input
// bound and pinned by rc.Input, on rc.TaskQueue.
func Build(rc *runs.Client, f *definitions.Flow) (*Desired, error) {
	if f.Trigger == nil || f.Trigger.Schedule == nil {
		return nil, fmt.Errorf("flow %s has no trigger.schedule", f.ID)
	}
	s := f.Trigger.Schedule
	in, err := rc.Input(f, s.Input)
	if err != nil {
		return nil, fmt.Errorf("schedule of flow %s (%s:%d:%d): %w", f.ID, f.Source.File, s.Pos.Line, s.Pos.Col, err)
	}
	overlap, err := Overlap(s.Overlap)
	if err != nil {
		return nil, fmt.Errorf("schedule of flow %s: %w", f.ID, err)
	}
	d := &Desired{
		ID:     ID(f.ID),
		Flow:   f.ID,
		Spec:   client.ScheduleSpec{Jitter: s.Jitter},
		Policy: client.SchedulePolicies{Overlap: overlap, CatchupWindow: s.CatchupWindow, PauseOnFailure: s.PauseOnFailure},
	}
	if s.Cron != "" {
		d.Spec.CronExpressions = []string{s.Cron}
		d.Spec.TimeZoneName = s.Timezone
	} else {
		d.Spec.Intervals = []client.ScheduleIntervalSpec{{Every: s.Interval, Offset: s.Offset}}
	}
	d.Hash, err = hash(s, rc.TaskQueue, WorkflowIDPrefix(f.ID), in)
	if err != nil {
		return nil, fmt.Errorf("schedule of flow %s: %w", f.ID, err)
	}
	d.Action = &client.ScheduleWorkflowAction{
		ID:        WorkflowIDPrefix(f.ID),
		Workflow:  workflows.RunWorkflow,
		Args:      []any{in},
		TaskQueue: rc.TaskQueue,
		Memo: map[string]any{
			memoFlowVersion:    f.Version,
			memoDefinitionHash: f.Source.Hash,
			memoScheduleHash:   d.Hash,
			memoSpec:           SpecText(s),
		},
		TypedSearchAttributes: temporal.NewSearchAttributes(flowKey.ValueSet(f.ID)),
	}
	return d, nil
}

// SpecText describes when a schedule fires: "cron 0 6 * * * Europe/Berlin"
// or "every 1h offset 5m".
func SpecText(s *definitions.Schedule) string {
	if s.Cron != "" {
		return fmt.Sprintf("cron %s %s", s.Cron, s.Timezone)
	}
	if s.Offset > 0 {
		return fmt.Sprintf("every %s offset %s", short(s.Interval), short(s.Offset))
	}
	return "every " + short(s.Interval)
}

// short writes 1h and 2m rather than 1h0m0s and 2m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// hash fingerprints what the schedule does. The pinned sources' file paths
// are left out: they are for messages, and two servers that load the same
// files from different folders must not rewrite each other's schedules.
func hash(s *definitions.Schedule, taskQueue, workflowID string, in workflows.RunInput) (string, error) {
	in.Flow.File = ""
	if len(in.Subflows) > 0 {
		subs := make(map[string]definitions.Source, len(in.Subflows))
		for id, src := range in.Subflows {
			src.File = ""
			subs[id] = src
		}
		in.Subflows = subs
	}
	b, err := json.Marshal(struct {
		Format     int
		Schedule   definitions.Schedule
		TaskQueue  string
		WorkflowID string
		Input      workflows.RunInput
	}{hashFormat, *s, taskQueue, workflowID, in})
	if err != nil {
		return "", fmt.Errorf("hashing schedule: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Options are the options that create d.
func (d *Desired) Options() client.ScheduleOptions {
	return client.ScheduleOptions{
		ID:             d.ID,
		Spec:           d.Spec,
		Action:         d.Action,
		Overlap:        d.Policy.Overlap,
		CatchupWindow:  d.Policy.CatchupWindow,
		PauseOnFailure: d.Policy.PauseOnFailure,
		Memo:           map[string]any{"flow": d.Flow},
	}
}

// schedule is d as an update; state (paused, note) is kept as it is, so
// that a reconcile never undoes an operator's pause.
func (d *Desired) schedule(state *client.ScheduleState) *client.Schedule {
	if state == nil {
		state = &client.ScheduleState{}
	}
	spec, policy := d.Spec, d.Policy
	return &client.Schedule{Action: d.Action, Spec: &spec, Policy: &policy, State: state}
}

// Report says what Reconcile did, by schedule ID.
type Report struct {
	Created   []string `json:"created"`
	Updated   []string `json:"updated"`
	Deleted   []string `json:"deleted"`
	Unchanged []string `json:"unchanged"`
	// Kept are the `relay/` schedules no loaded flow asks for, left in
	// place because Options.KeepUnknown was set.
	Kept []string `json:"kept,omitempty"`
}

// Changed reports whether Reconcile wrote anything.
func (r Report) Changed() bool {
	return len(r.Created)+len(r.Updated)+len(r.Deleted) > 0
}

func (r Report) String() string {
	var parts []string
	for _, g := range []struct {
		name string
		ids  []string
	}{{"created", r.Created}, {"updated", r.Updated}, {"deleted", r.Deleted}, {"unchanged", r.Unchanged}, {"kept", r.Kept}} {
		if len(g.ids) > 0 {
			parts = append(parts, g.name+" "+strings.Join(g.ids, ", "))
		}
	}
	if len(parts) == 0 {
		return "no schedules"
	}
	return strings.Join(parts, "; ")
}

// Options tune ReconcileWith.
type Options struct {
	// KeepUnknown keeps the `relay/` schedules no flow asks for, reporting
	// them as Kept, rather than deleting them. Set it when some definition
	// files were refused: the flow of a file with a mistake in it is not
	// among flows, and its schedule (its pause, note and history) must
	// outlive the mistake, as it outlives an input its flow refuses.
	KeepUnknown bool
}

// Reconcile makes the `relay/` schedules match the flows: it creates the
// schedule of every flow with a trigger.schedule, updates those whose hash
// differs (keeping their paused state and note), and deletes `relay/`
// schedules no flow asks for. A second call with the same flows changes
// nothing. A flow whose schedule cannot be built (an input its BindInput
// refuses) is reported in the error and its existing schedule is kept;
// the other flows are still reconciled.
func Reconcile(ctx context.Context, c client.Client, rc *runs.Client, flows []*definitions.Flow) (Report, error) {
	return ReconcileWith(ctx, c, rc, flows, Options{})
}

// ReconcileWith is Reconcile tuned by o.
func ReconcileWith(ctx context.Context, c client.Client, rc *runs.Client, flows []*definitions.Flow, o Options) (Report, error) {
	sc := c.ScheduleClient()
	var (
		rep  Report
		errs []error
		keep = map[string]bool{}
	)
	sorted := append([]*definitions.Flow(nil), flows...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	for _, f := range sorted {
		if f.Trigger == nil || f.Trigger.Schedule == nil {
			continue
		}
		keep[ID(f.ID)] = true
		d, err := Build(rc, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch outcome, err := ensure(ctx, sc, rc.Converter(), d); {
		case err != nil:
			errs = append(errs, err)
		case outcome == created:
			rep.Created = append(rep.Created, d.ID)
		case outcome == updated:
			rep.Updated = append(rep.Updated, d.ID)
		default:
			rep.Unchanged = append(rep.Unchanged, d.ID)
		}
	}
	ids, err := listIDs(ctx, sc)
	if err != nil {
		errs = append(errs, err)
		return rep, errors.Join(errs...)
	}
	for _, id := range ids {
		if keep[id] {
			continue
		}
		if o.KeepUnknown {
			rep.Kept = append(rep.Kept, id)
			continue
		}
		switch err := sc.GetHandle(ctx, id).Delete(ctx); {
		case isNotFound(err): // deleted meanwhile; visibility lags
		case err != nil:
			errs = append(errs, fmt.Errorf("deleting schedule %s: %w", id, err))
		default:
			rep.Deleted = append(rep.Deleted, id)
		}
	}
	return rep, errors.Join(errs...)
}

type outcome int

const (
	unchanged outcome = iota
	created
	updated
)

// ensure creates or updates one schedule.
func ensure(ctx context.Context, sc client.ScheduleClient, dc converter.DataConverter, d *Desired) (outcome, error) {
	h := sc.GetHandle(ctx, d.ID)
	desc, err := h.Describe(ctx)
	if isNotFound(err) {
		_, err = sc.Create(ctx, d.Options())
		if err == nil {
			return created, nil
		}
		if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
			return 0, fmt.Errorf("creating schedule %s: %w", d.ID, err)
		}
		// Another relay created it meanwhile: compare with theirs.
		desc, err = h.Describe(ctx)
	}
	if err != nil {
		return 0, fmt.Errorf("describing schedule %s: %w", d.ID, err)
	}
	if scheduleHash(dc, desc) == d.Hash {
		return unchanged, nil
	}
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		return &client.ScheduleUpdate{Schedule: d.schedule(in.Description.Schedule.State)}, nil
	}})
	if err != nil {
		return 0, fmt.Errorf("updating schedule %s: %w", d.ID, err)
	}
	return updated, nil
}

// scheduleHash is the hash Build stored in a schedule's action, or "".
func scheduleHash(dc converter.DataConverter, desc *client.ScheduleDescription) string {
	var h string
	if a, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		memoValue(dc, a.Memo[memoScheduleHash], &h)
	}
	return h
}

// memoValue decodes a memo value as Describe returns it (a payload).
func memoValue(dc converter.DataConverter, v any, out any) {
	switch v := v.(type) {
	case *commonpb.Payload:
		if dc == nil {
			dc = converter.GetDefaultDataConverter()
		}
		_ = dc.FromPayload(v, out)
	case nil:
	default:
		b, err := json.Marshal(v)
		if err == nil {
			_ = json.Unmarshal(b, out)
		}
	}
}

// listIDs lists the IDs of the `relay/` schedules, sorted. Temporal lists
// schedules through visibility, which may lag a little behind.
func listIDs(ctx context.Context, sc client.ScheduleClient) ([]string, error) {
	it, err := sc.List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing schedules: %w", err)
	}
	var ids []string
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("listing schedules: %w", err)
		}
		if strings.HasPrefix(e.ID, Prefix) {
			ids = append(ids, e.ID)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// ErrNotFound is returned for a flow without a schedule in Temporal.
var ErrNotFound = errors.New("schedule not found")

// Summary is one relay schedule as List and Describe show it.
type Summary struct {
	ID             string      `json:"id"`
	Flow           string      `json:"flow"`
	Spec           string      `json:"spec"`
	Overlap        string      `json:"overlap"`
	Paused         bool        `json:"paused"`
	Note           string      `json:"note,omitempty"`
	FlowVersion    int         `json:"flow_version,omitempty"`
	DefinitionHash string      `json:"definition_hash,omitempty"`
	Actions        int         `json:"actions"`
	NextRuns       []time.Time `json:"next_runs,omitempty"`
	RecentRuns     []RecentRun `json:"recent_runs,omitempty"`
	Running        []string    `json:"running,omitempty"`
	CreatedAt      time.Time   `json:"created_at"`
	UpdatedAt      time.Time   `json:"updated_at,omitzero"`
}

// RecentRun is one run a schedule started.
type RecentRun struct {
	WorkflowID  string    `json:"workflow_id"`
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
}

// Describe returns the schedule of a flow (or a schedule ID).
// dc decodes memos (nil: the default converter).
func Describe(ctx context.Context, c client.Client, dc converter.DataConverter, flow string) (*Summary, error) {
	id := ID(flow)
	desc, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	if err != nil {
		return nil, wrap("describing", id, err)
	}
	return summarize(dc, id, desc), nil
}

// List describes every `relay/` schedule, sorted by ID.
// dc decodes memos (nil: the default converter).
func List(ctx context.Context, c client.Client, dc converter.DataConverter) ([]Summary, error) {
	sc := c.ScheduleClient()
	ids, err := listIDs(ctx, sc)
	if err != nil {
		return nil, err
	}
	out := make([]Summary, 0, len(ids))
	for _, id := range ids {
		desc, err := sc.GetHandle(ctx, id).Describe(ctx)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("describing schedule %s: %w", id, err)
		}
		out = append(out, *summarize(dc, id, desc))
	}
	return out, nil
}

func summarize(dc converter.DataConverter, id string, desc *client.ScheduleDescription) *Summary {
	s := &Summary{
		ID:        id,
		Flow:      strings.TrimPrefix(id, Prefix),
		Actions:   desc.Info.NumActions,
		NextRuns:  desc.Info.NextActionTimes,
		CreatedAt: desc.Info.CreatedAt,
		UpdatedAt: desc.Info.LastUpdateAt,
	}
	if st := desc.Schedule.State; st != nil {
		s.Paused, s.Note = st.Paused, st.Note
	}
	if p := desc.Schedule.Policy; p != nil {
		s.Overlap = overlapName(p.Overlap)
	}
	if a, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		memoValue(dc, a.Memo[memoSpec], &s.Spec)
		memoValue(dc, a.Memo[memoFlowVersion], &s.FlowVersion)
		memoValue(dc, a.Memo[memoDefinitionHash], &s.DefinitionHash)
	}
	for _, r := range desc.Info.RecentActions {
		run := RecentRun{ScheduledAt: r.ScheduleTime, StartedAt: r.ActualTime}
		if r.StartWorkflowResult != nil {
			run.WorkflowID = r.StartWorkflowResult.WorkflowID
		}
		s.RecentRuns = append(s.RecentRuns, run)
	}
	for _, w := range desc.Info.RunningWorkflows {
		s.Running = append(s.Running, w.WorkflowID)
	}
	return s
}

// Trigger starts a run of a flow's schedule now. overlap "" uses the
// schedule's policy (with skip, nothing starts while a run is running).
func Trigger(ctx context.Context, c client.Client, flow, overlap string) error {
	p, err := Overlap(overlap)
	if err != nil {
		return err
	}
	id := ID(flow)
	return wrap("triggering", id, c.ScheduleClient().GetHandle(ctx, id).Trigger(ctx, client.ScheduleTriggerOptions{Overlap: p}))
}

// Pause pauses a flow's schedule; note says why. Reconcile keeps it paused.
func Pause(ctx context.Context, c client.Client, flow, note string) error {
	if note == "" {
		note = "paused with relay schedules pause"
	}
	id := ID(flow)
	return wrap("pausing", id, c.ScheduleClient().GetHandle(ctx, id).Pause(ctx, client.SchedulePauseOptions{Note: note}))
}

// Unpause resumes a paused schedule.
func Unpause(ctx context.Context, c client.Client, flow, note string) error {
	if note == "" {
		note = "unpaused with relay schedules unpause"
	}
	id := ID(flow)
	return wrap("unpausing", id, c.ScheduleClient().GetHandle(ctx, id).Unpause(ctx, client.ScheduleUnpauseOptions{Note: note}))
}

// Backfill starts, at once, the runs a flow's schedule would have started
// between from and to. overlap "" means allow_all: backfilled runs all start
// together, so skip would keep only the first.
func Backfill(ctx context.Context, c client.Client, flow string, from, to time.Time, overlap string) error {
	if !from.Before(to) {
		return fmt.Errorf("backfill window: from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if overlap == "" {
		overlap = definitions.OverlapAllowAll
	}
	p, err := Overlap(overlap)
	if err != nil {
		return err
	}
	id := ID(flow)
	err = c.ScheduleClient().GetHandle(ctx, id).Backfill(ctx, client.ScheduleBackfillOptions{
		Backfill: []client.ScheduleBackfill{{Start: from, End: to, Overlap: p}},
	})
	return wrap("backfilling", id, err)
}

// wrap names the operation and schedule, and turns NotFound into ErrNotFound.
func wrap(op, id string, err error) error {
	switch {
	case err == nil:
		return nil
	case isNotFound(err):
		return fmt.Errorf("%s %s: %w (does the flow have a trigger.schedule, and has relay dev or relay serve reconciled it?)", op, id, ErrNotFound)
	default:
		return fmt.Errorf("%s schedule %s: %w", op, id, err)
	}
}
