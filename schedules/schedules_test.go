package schedules

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/workflows"
)

// flow parses a flow whose trigger is `trigger` (YAML under trigger:).
func flow(t *testing.T, id, trigger string) *definitions.Flow {
	t.Helper()
	src := fmt.Sprintf("id: %s\nversion: 1\ninputs:\n  region: {type: string, required: true}\n  days: {type: integer, default: 1}\n%s\nsteps:\n  - {id: a, set: {x: 1}}\n", id, trigger)
	f, err := definitions.Parse(id+".yaml", []byte(src), nil)
	if err != nil {
		t.Fatalf("test flow:\n%v", err)
	}
	return f
}

func runsClient(flows ...*definitions.Flow) *runs.Client {
	rc := &runs.Client{Namespace: "default", TaskQueue: "relay", Flows: map[string]*definitions.Flow{}}
	for _, f := range flows {
		rc.Flows[f.ID] = f
	}
	return rc
}

func TestScheduleBuild(t *testing.T) {
	tests := []struct {
		name    string
		trigger string
		check   func(t *testing.T, d *Desired)
	}{
		{"cron with time zone", `trigger: {schedule: {cron: "0 6 * * mon-fri", timezone: Europe/Berlin, input: {region: eu}}}`, func(t *testing.T, d *Desired) {
			if fmt.Sprint(d.Spec.CronExpressions) != "[0 6 * * mon-fri]" || d.Spec.TimeZoneName != "Europe/Berlin" || len(d.Spec.Intervals) != 0 {
				t.Errorf("spec = %+v", d.Spec)
			}
		}},
		{"cron defaults", `trigger: {schedule: {cron: "  @daily ", input: {region: eu}}}`, func(t *testing.T, d *Desired) {
			if fmt.Sprint(d.Spec.CronExpressions) != "[@daily]" || d.Spec.TimeZoneName != "UTC" {
				t.Errorf("spec = %+v", d.Spec)
			}
			want := client.SchedulePolicies{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP}
			if d.Policy != want || d.Spec.Jitter != 0 {
				t.Errorf("policy = %+v, jitter %s; want skip, Temporal's catchup window, no pause, no jitter", d.Policy, d.Spec.Jitter)
			}
		}},
		{"interval with offset", `trigger: {schedule: {interval: 1h, offset: 5m, input: {region: eu}}}`, func(t *testing.T, d *Desired) {
			want := []client.ScheduleIntervalSpec{{Every: time.Hour, Offset: 5 * time.Minute}}
			if fmt.Sprint(d.Spec.Intervals) != fmt.Sprint(want) || len(d.Spec.CronExpressions) != 0 || d.Spec.TimeZoneName != "" {
				t.Errorf("spec = %+v", d.Spec)
			}
		}},
		{"policies", `trigger: {schedule: {interval: 15m, overlap: buffer_all, catchup_window: 1h, pause_on_failure: true, jitter: 30s, input: {region: eu}}}`, func(t *testing.T, d *Desired) {
			want := client.SchedulePolicies{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL, CatchupWindow: time.Hour, PauseOnFailure: true}
			if d.Policy != want || d.Spec.Jitter != 30*time.Second {
				t.Errorf("policy = %+v, jitter %s", d.Policy, d.Spec.Jitter)
			}
			o := d.Options()
			if o.ID != "relay/f" || o.Overlap != want.Overlap || o.CatchupWindow != time.Hour || !o.PauseOnFailure || o.Paused {
				t.Errorf("options = %+v", o)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := flow(t, "f", tt.trigger)
			d, err := Build(runsClient(f), f)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, d)
			a := d.Action
			if d.ID != "relay/f" || a.ID != "f/scheduled" || a.Workflow != workflows.RunWorkflow || a.TaskQueue != "relay" {
				t.Errorf("id %s, action %s %v on %s", d.ID, a.ID, a.Workflow, a.TaskQueue)
			}
			if v, ok := a.TypedSearchAttributes.GetKeyword(temporal.NewSearchAttributeKeyKeyword(runs.SearchAttributeFlow)); !ok || v != "f" {
				t.Errorf("search attribute RelayFlow = %q, %v", v, ok)
			}
			in, ok := a.Args[0].(workflows.RunInput)
			if !ok || len(a.Args) != 1 {
				t.Fatalf("args = %#v", a.Args)
			}
			if in.Flow.Hash != f.Source.Hash || fmt.Sprint(in.Input) != "map[days:1 region:eu]" {
				t.Errorf("pinned input: hash %s, input %v", in.Flow.Hash, in.Input)
			}
			if a.Memo[memoScheduleHash] != d.Hash || a.Memo[memoDefinitionHash] != f.Source.Hash || a.Memo[memoFlowVersion] != 1 {
				t.Errorf("memo = %v", a.Memo)
			}
		})
	}
}

func TestScheduleBuildRefusesInput(t *testing.T) {
	f := flow(t, "f", `trigger: {schedule: {interval: 1m, input: {region: eu}}}`)
	// Parse refuses it now; a flow built otherwise is still refused here.
	f.Trigger.Schedule.Input = map[string]any{"days": 2}
	_, err := Build(runsClient(f), f)
	if err == nil || !strings.Contains(err.Error(), `input "region" is required`) || !strings.Contains(err.Error(), "f.yaml:") {
		t.Errorf("err = %v, want the missing required input with the file position", err)
	}
}

// TestScheduleInputCheckedAtLoad: a schedule's static input that its flow
// would refuse (a required input missing, a value of the wrong type) is
// refused when the file loads, with file, line and field, as relay
// validate reports it, not first when relay serve reconciles.
func TestScheduleInputCheckedAtLoad(t *testing.T) {
	tests := []struct {
		name  string
		input string // YAML under schedule: after input:, "" for none
		want  []string
	}{
		{"required missing", `{days: 2}`, []string{"f.yaml:", "trigger.schedule.input", `missing required input "region"`}},
		{"no input at all", ``, []string{"trigger.schedule", `missing required input "region"`}},
		{"required null", `{region: null}`, []string{`missing required input "region"`}},
		{"wrong type", `{region: eu, days: two}`, []string{"trigger.schedule.input.days", "want an integer"}},
		{"fine", `{region: eu}`, nil},
		{"fine with default taken", `{region: eu, days: 3}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sched := "{interval: 1m}"
			if tt.input != "" {
				sched = "{interval: 1m, input: " + tt.input + "}"
			}
			src := fmt.Sprintf("id: f\nversion: 1\ninputs:\n  region: {type: string, required: true}\n  days: {type: integer, default: 1}\ntrigger: {schedule: %s}\nsteps:\n  - {id: a, set: {x: 1}}\n", sched)
			// Runs pinned to a definition that loaded before keep running.
			if _, err := definitions.ParsePinned("f.yaml", []byte(src), nil); err != nil {
				t.Errorf("ParsePinned refused: %v", err)
			}
			_, err := definitions.Parse("f.yaml", []byte(src), nil)
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted at load; want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want %q in it", err, w)
				}
			}
		})
	}
}

func TestScheduleOverlap(t *testing.T) {
	seen := map[enumspb.ScheduleOverlapPolicy]bool{}
	for _, name := range definitions.ScheduleOverlaps {
		p, err := Overlap(name)
		if err != nil || p == enumspb.SCHEDULE_OVERLAP_POLICY_UNSPECIFIED || seen[p] {
			t.Errorf("Overlap(%q) = %v, %v", name, p, err)
		}
		seen[p] = true
		if overlapName(p) != name {
			t.Errorf("overlapName(%v) = %q, want %q", p, overlapName(p), name)
		}
		if want := "SCHEDULE_OVERLAP_POLICY_" + strings.ToUpper(name); enumspb.ScheduleOverlapPolicy_name[int32(p)] != want {
			t.Errorf("%s maps to %s, want %s", name, enumspb.ScheduleOverlapPolicy_name[int32(p)], want)
		}
	}
	if p, err := Overlap(""); err != nil || p != enumspb.SCHEDULE_OVERLAP_POLICY_UNSPECIFIED {
		t.Errorf(`Overlap("") = %v, %v`, p, err)
	}
	if _, err := Overlap("queue"); err == nil || !strings.Contains(err.Error(), "skip, buffer_one") {
		t.Errorf("unknown overlap: %v", err)
	}
}

// TestCron checks the cron validation of the flow language: what it
// accepts is what Temporal's parser accepts for five fields.
func TestScheduleCron(t *testing.T) {
	valid := []string{
		"0 6 * * *", "*/15 * * * *", "0 9-17/2 * * mon-fri", "0 0 1 jan,jul *", "0 0 1 January *",
		"30 4 1,15 * *", "0 0 * * 0-6", "0 0 */2 * mon", "0 0 1 * *", "5/10 * * * *", "@daily", "@hourly", "@yearly", "0 12 * * MON-WED,FRI",
		"0 0 29 2 *", "0 0 30,31 1-3 *", "0 0 31 */2 *",
	}
	invalid := map[string]string{
		"0 6 * *":          "has 4 fields",
		"0 0 6 * * *":      "has 6 fields",
		"60 * * * *":       `minute "60" must be 0-59`,
		"* 24 * * *":       `hour "24" must be 0-23`,
		"* * 0 * *":        `day of month "0" must be 1-31`,
		"* * * 13 *":       `month "13" must be 1-12 or a name such as feb`,
		"* * * * 8":        `day of week "8" must be 0-7`,
		"*/0 * * * *":      `minute step "0"`,
		"5/ * * * *":       `minute step ""`,
		"5-1 * * * *":      `minute range "5-1" ends before it starts`,
		"1,,2 * * * *":     `minute ""`,
		"* * * * funday":   `day of week "funday"`,
		"@every 5m":        "use interval:",
		"TZ=UTC 0 6 * * *": "timezone:",
		"@fortnightly":     "unknown shorthand",
		// cron runs on the days either field matches, Temporal on the days
		// both match: "the 1st and 15th, and Sundays" would run on neither.
		"30 4 1,15 * 7":  `day of month "1,15" and day of week "7" are both set`,
		"0 9 1-7 * mon":  "Temporal only on the days both match",
		"0 0 L * fri":    `day of month "L"`,
		"0 0 15 jan 1-5": "make one of them *",
		// Days no month of the expression has: it would never run.
		"0 0 31 2 *":         `day of month "31" falls in none of the months "2": it never runs`,
		"0 0 30,31 feb *":    "it never runs",
		"0 0 31 apr,jun,9 *": "it never runs",
	}
	parse := func(cron string) error {
		_, err := definitions.Parse("c.yaml", []byte(fmt.Sprintf("id: c\nversion: 1\ntrigger: {schedule: {cron: %q}}\nsteps: [{id: a, set: {x: 1}}]\n", cron)), nil)
		return err
	}
	for _, c := range valid {
		if err := parse(c); err != nil {
			t.Errorf("%q refused: %v", c, err)
		}
	}
	for c, want := range invalid {
		if err := parse(c); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", c, err, want)
		}
	}
	// Runs pinned to a definition that loaded before keep running.
	for _, c := range []string{"30 4 1,15 * 7", "0 9 1-7 * mon", "0 0 31 2 *"} {
		src := fmt.Sprintf("id: c\nversion: 1\ntrigger: {schedule: {cron: %q}}\nsteps: [{id: a, set: {x: 1}}]\n", c)
		if _, err := definitions.ParsePinned("c.yaml", []byte(src), nil); err != nil {
			t.Errorf("%q: ParsePinned refused: %v", c, err)
		}
	}
}

// TestScheduleCronDST: Temporal reads a cron in its time zone by the wall
// clock, so a run at a time the clocks skip does not happen that day, and
// a run at a time they repeat happens twice (two scheduled runs, two
// workflow IDs, every side effect twice), where cron runs such jobs once.
// A cron at a fixed hour that meets a daylight saving change is refused.
func TestScheduleCronDST(t *testing.T) {
	tests := []struct {
		cron, timezone string
		want           []string // substrings of the error; none: accepted
	}{
		{"30 2 * * *", "Europe/Berlin", []string{"02:30", "Europe/Berlin", "twice", "does not happen", "schedule.cron"}},
		{"0 2 * * sun", "Europe/Berlin", []string{"02:00", "twice", "does not happen"}},
		{"30 1 * * *", "America/New_York", []string{"01:30", "twice"}},
		{"30 2 * * *", "America/New_York", []string{"02:30", "does not happen"}},
		{"15 1-3 * * *", "America/New_York", []string{"01:15", "twice", "02:15", "does not happen"}},
		{"30 2 * * *", "UTC", nil},
		{"30 2 * * *", "Asia/Tokyo", nil},
		{"0 6 * * *", "Europe/Berlin", nil},
		{"0 2 * * mon-fri", "Europe/Berlin", nil}, // the clocks change on a Sunday
		{"30 2 1 * *", "Europe/Berlin", nil},      // never the last Sunday of a month
		{"*/15 * * * *", "Europe/Berlin", nil},    // every hour that exists, once
		{"0 * * * *", "America/New_York", nil},
		{"0 0-23 * * *", "America/New_York", nil},
		{"@daily", "Europe/Berlin", nil},
	}
	for _, tt := range tests {
		t.Run(tt.cron+" "+tt.timezone, func(t *testing.T) {
			src := fmt.Sprintf("id: c\nversion: 1\ntrigger: {schedule: {cron: %q, timezone: %s}}\nsteps: [{id: a, set: {x: 1}}]\n", tt.cron, tt.timezone)
			// Runs pinned to a definition that loaded before keep running.
			if _, err := definitions.ParsePinned("c.yaml", []byte(src), nil); err != nil {
				t.Errorf("ParsePinned refused: %v", err)
			}
			_, err := definitions.Parse("c.yaml", []byte(src), nil)
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want it refused: %v", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want %q in it", err, w)
				}
			}
		})
	}
}

func TestScheduleHashIgnoresFilePath(t *testing.T) {
	src := "id: f\nversion: 1\ntrigger: {schedule: {interval: 1m}}\nsteps: [{id: a, set: {x: 1}}]\n"
	a, _ := definitions.Parse("one/f.yaml", []byte(src), nil)
	b, _ := definitions.Parse("/elsewhere/f.yaml", []byte(src), nil)
	da, err := Build(runsClient(a), a)
	if err != nil {
		t.Fatal(err)
	}
	db, _ := Build(runsClient(b), b)
	if da.Hash != db.Hash {
		t.Error("the same definition loaded from two folders hashes differently: servers would rewrite each other's schedules")
	}
	c, _ := definitions.Parse("f.yaml", []byte(strings.Replace(src, "1m", "2m", 1)), nil)
	dc, _ := Build(runsClient(c), c)
	for d, want := range map[time.Duration]string{time.Hour: "1h", 2 * time.Minute: "2m", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s", 3 * time.Second: "3s"} {
		if got := short(d); got != want {
			t.Errorf("short(%s) = %q, want %q", d, got, want)
		}
	}
	if dc.Hash == da.Hash {
		t.Error("a different interval hashes the same")
	}
	rc := runsClient(a)
	rc.TaskQueue = "other"
	if dq, _ := Build(rc, a); dq.Hash == da.Hash {
		t.Error("a different task queue hashes the same")
	}
}

func TestScheduleReconcile(t *testing.T) {
	ctx := context.Background()
	fake := newFake()
	c := fakeTemporal{sc: fake}
	// A schedule of a flow that is gone, and one relay does not manage.
	for _, id := range []string{"relay/gone", "someone-else"} {
		if _, err := fake.Create(ctx, client.ScheduleOptions{ID: id, Action: &client.ScheduleWorkflowAction{}}); err != nil {
			t.Fatal(err)
		}
	}
	a := flow(t, "a", `trigger: {schedule: {interval: 1m, input: {region: eu}}}`)
	b := flow(t, "b", `trigger: {schedule: {cron: "0 6 * * *", timezone: Europe/Berlin, input: {region: us}}}`)
	plain := flow(t, "plain", "")
	flows := []*definitions.Flow{b, plain, a}
	reconcile := func(flows ...*definitions.Flow) Report {
		t.Helper()
		fake.writes = nil
		rep, err := Reconcile(ctx, c, runsClient(flows...), flows)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	check := func(step string, rep Report, want string) {
		t.Helper()
		if rep.String() != want {
			t.Errorf("%s: report %q, want %q", step, rep, want)
		}
	}

	check("first", reconcile(flows...), "created relay/a, relay/b; deleted relay/gone")
	if got := fake.ids(); fmt.Sprint(got) != "[relay/a relay/b someone-else]" {
		t.Errorf("schedules = %v", got)
	}
	check("again", reconcile(flows...), "unchanged relay/a, relay/b")
	if len(fake.writes) != 0 {
		t.Errorf("a second reconcile wrote %v", fake.writes)
	}

	if err := Pause(ctx, c, "a", "partner maintenance"); err != nil {
		t.Fatal(err)
	}
	a2 := flow(t, "a", `trigger: {schedule: {interval: 2m, input: {region: eu}}}`)
	check("interval changed", reconcile(b, plain, a2), "updated relay/a; unchanged relay/b")
	s, err := Describe(ctx, c, nil, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Paused || s.Note != "partner maintenance" || s.Spec != "every 2m" || s.FlowVersion != 1 {
		t.Errorf("after the update: %+v; want still paused with its note, every 2m", s)
	}
	d := fake.byID["relay/a"]
	if d.Schedule.Spec.Intervals[0].Every != 2*time.Minute {
		t.Errorf("spec = %+v", d.Schedule.Spec)
	}

	b2 := flow(t, "b", `trigger: {schedule: {cron: "0 6 * * *", timezone: Europe/Berlin, input: {region: eu}}}`)
	check("input changed", reconcile(b2, a2), "updated relay/b; unchanged relay/a")

	// A flow whose schedule cannot be built keeps its schedule.
	bad := flow(t, "b", `trigger: {schedule: {cron: "0 6 * * *", input: {region: us}}}`)
	bad.Trigger.Schedule.Input = map[string]any{"days": 3} // as only Build sees it
	fake.writes = nil
	rep, err := Reconcile(ctx, c, runsClient(bad, a2), []*definitions.Flow{bad, a2})
	if err == nil || !strings.Contains(err.Error(), `input "region" is required`) {
		t.Errorf("err = %v", err)
	}
	check("bad input", rep, "unchanged relay/a")
	if _, ok := fake.byID["relay/b"]; !ok {
		t.Error("the schedule of a flow with a bad schedule input was deleted")
	}

	check("flow removed", reconcile(a2), "deleted relay/b; unchanged relay/a")
	check("no flows", reconcile(), "deleted relay/a")
	if got := fake.ids(); fmt.Sprint(got) != "[someone-else]" {
		t.Errorf("schedules = %v", got)
	}
}

// TestScheduleReconcileKeepUnknown: when definition files were refused,
// the schedules of flows that did not load are kept (a typo in a flow
// file must not delete its schedule, its pause and its history), and
// reported as kept; the loaded flows are still reconciled.
func TestScheduleReconcileKeepUnknown(t *testing.T) {
	ctx := context.Background()
	a := flow(t, "a", `trigger: {schedule: {interval: 1m, input: {region: eu}}}`)
	b := flow(t, "b", `trigger: {schedule: {cron: "0 6 * * *", input: {region: us}}}`)
	a2 := flow(t, "a", `trigger: {schedule: {interval: 2m, input: {region: eu}}}`)
	tests := []struct {
		name        string
		keep        bool
		want        string
		wantStored  string
		wantChanged bool
	}{
		{"refused files: keep", true, "updated relay/a; kept relay/b", "[relay/a relay/b]", true},
		{"all loaded: delete", false, "updated relay/a; deleted relay/b", "[relay/a]", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			c := fakeTemporal{sc: fake}
			if _, err := Reconcile(ctx, c, runsClient(a, b), []*definitions.Flow{a, b}); err != nil {
				t.Fatal(err)
			}
			if err := Pause(ctx, c, "b", "ERP maintenance"); err != nil {
				t.Fatal(err)
			}
			// b's file now has a mistake and is refused: only a loads.
			rep, err := ReconcileWith(ctx, c, runsClient(a2), []*definitions.Flow{a2}, Options{KeepUnknown: tt.keep})
			if err != nil {
				t.Fatal(err)
			}
			if rep.String() != tt.want || rep.Changed() != tt.wantChanged {
				t.Errorf("report %q (changed %v), want %q", rep, rep.Changed(), tt.want)
			}
			if got := fmt.Sprint(fake.ids()); got != tt.wantStored {
				t.Errorf("schedules = %s, want %s", got, tt.wantStored)
			}
			if tt.keep {
				if s, err := Describe(ctx, c, nil, "b"); err != nil || !s.Paused || s.Note != "ERP maintenance" {
					t.Errorf("kept schedule: %+v, %v; want still paused with its note", s, err)
				}
			}
		})
	}
}

func TestScheduleReconcileCreatedMeanwhile(t *testing.T) {
	ctx := context.Background()
	fake := newFake()
	a := flow(t, "a", `trigger: {schedule: {interval: 1m, input: {region: eu}}}`)
	d, err := Build(runsClient(a), a)
	if err != nil {
		t.Fatal(err)
	}
	// Describe says not found, then another relay creates it first.
	fake.beforeCreate = func() { fake.put(d.Options()) }
	rep, err := Reconcile(ctx, fakeTemporal{sc: fake}, runsClient(a), []*definitions.Flow{a})
	if err != nil || rep.String() != "unchanged relay/a" {
		t.Errorf("report %q, err %v", rep, err)
	}
}

func TestScheduleHelpersNotFound(t *testing.T) {
	c := fakeTemporal{sc: newFake()}
	ctx := context.Background()
	for name, err := range map[string]error{
		"trigger":  Trigger(ctx, c, "nope", ""),
		"pause":    Pause(ctx, c, "nope", ""),
		"unpause":  Unpause(ctx, c, "nope", ""),
		"backfill": Backfill(ctx, c, "nope", time.Unix(0, 0), time.Unix(3600, 0), ""),
	} {
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "relay/nope") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Describe(ctx, c, nil, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("describe: %v", err)
	}
	if err := Backfill(ctx, c, "x", time.Unix(10, 0), time.Unix(5, 0), ""); err == nil || !strings.Contains(err.Error(), "is not before") {
		t.Errorf("backfill with from after to: %v", err)
	}
}

// fakeTemporal is a client whose only working part is ScheduleClient.
type fakeTemporal struct {
	client.Client
	sc *fakeSchedules
}

func (f fakeTemporal) ScheduleClient() client.ScheduleClient { return f.sc }

// fakeSchedules keeps schedules in memory, as Temporal returns them:
// action memo values come back as payloads.
type fakeSchedules struct {
	mu           sync.Mutex
	byID         map[string]*client.ScheduleDescription
	writes       []string
	beforeCreate func()
}

func newFake() *fakeSchedules {
	return &fakeSchedules{byID: map[string]*client.ScheduleDescription{}}
}

func (f *fakeSchedules) ids() []string {
	var ids []string
	for id := range f.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func storedAction(a client.ScheduleAction) client.ScheduleAction {
	wa, ok := a.(*client.ScheduleWorkflowAction)
	if !ok {
		return a
	}
	cp := *wa
	cp.Memo = map[string]any{}
	for k, v := range wa.Memo {
		p, err := converter.GetDefaultDataConverter().ToPayload(v)
		if err != nil {
			panic(err)
		}
		cp.Memo[k] = p
	}
	return &cp
}

func (f *fakeSchedules) put(o client.ScheduleOptions) {
	spec := o.Spec
	f.byID[o.ID] = &client.ScheduleDescription{Schedule: client.Schedule{
		Action: storedAction(o.Action),
		Spec:   &spec,
		Policy: &client.SchedulePolicies{Overlap: o.Overlap, CatchupWindow: o.CatchupWindow, PauseOnFailure: o.PauseOnFailure},
		State:  &client.ScheduleState{Paused: o.Paused, Note: o.Note},
	}}
}

func (f *fakeSchedules) Create(_ context.Context, o client.ScheduleOptions) (client.ScheduleHandle, error) {
	if f.beforeCreate != nil {
		f.beforeCreate()
		f.beforeCreate = nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.byID[o.ID]; ok {
		return nil, temporal.ErrScheduleAlreadyRunning
	}
	f.writes = append(f.writes, "create "+o.ID)
	f.put(o)
	return &fakeHandle{f: f, id: o.ID}, nil
}

func (f *fakeSchedules) List(context.Context, client.ScheduleListOptions) (client.ScheduleListIterator, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &fakeIterator{ids: f.ids()}, nil
}

func (f *fakeSchedules) GetHandle(_ context.Context, id string) client.ScheduleHandle {
	return &fakeHandle{f: f, id: id}
}

type fakeIterator struct{ ids []string }

func (it *fakeIterator) HasNext() bool { return len(it.ids) > 0 }
func (it *fakeIterator) Next() (*client.ScheduleListEntry, error) {
	id := it.ids[0]
	it.ids = it.ids[1:]
	return &client.ScheduleListEntry{ID: id}, nil
}

type fakeHandle struct {
	f  *fakeSchedules
	id string
}

func (h *fakeHandle) GetID() string { return h.id }

// get returns the schedule, or NotFound as Temporal does. The caller holds mu.
func (h *fakeHandle) get() (*client.ScheduleDescription, error) {
	d, ok := h.f.byID[h.id]
	if !ok {
		return nil, serviceerror.NewNotFound("schedule not found")
	}
	return d, nil
}

func (h *fakeHandle) Describe(context.Context) (*client.ScheduleDescription, error) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	d, err := h.get()
	if err != nil {
		return nil, err
	}
	cp := *d
	state := *d.Schedule.State
	cp.Schedule.State = &state
	return &cp, nil
}

func (h *fakeHandle) Delete(context.Context) error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if _, err := h.get(); err != nil {
		return err
	}
	h.f.writes = append(h.f.writes, "delete "+h.id)
	delete(h.f.byID, h.id)
	return nil
}

func (h *fakeHandle) Update(ctx context.Context, o client.ScheduleUpdateOptions) error {
	desc, err := h.Describe(ctx)
	if err != nil {
		return err
	}
	u, err := o.DoUpdate(client.ScheduleUpdateInput{Description: *desc})
	if errors.Is(err, temporal.ErrSkipScheduleUpdate) {
		return nil
	}
	if err != nil {
		return err
	}
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	h.f.writes = append(h.f.writes, "update "+h.id)
	s := *u.Schedule
	s.Action = storedAction(s.Action)
	h.f.byID[h.id] = &client.ScheduleDescription{Schedule: s}
	return nil
}

func (h *fakeHandle) setPaused(paused bool, note string) error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	d, err := h.get()
	if err != nil {
		return err
	}
	d.Schedule.State.Paused, d.Schedule.State.Note = paused, note
	return nil
}

func (h *fakeHandle) Pause(_ context.Context, o client.SchedulePauseOptions) error {
	return h.setPaused(true, o.Note)
}

func (h *fakeHandle) Unpause(_ context.Context, o client.ScheduleUnpauseOptions) error {
	return h.setPaused(false, o.Note)
}

func (h *fakeHandle) Trigger(context.Context, client.ScheduleTriggerOptions) error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	_, err := h.get()
	return err
}

func (h *fakeHandle) Backfill(context.Context, client.ScheduleBackfillOptions) error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	_, err := h.get()
	return err
}
