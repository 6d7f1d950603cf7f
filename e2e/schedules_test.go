package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relay-dev/relay/cli"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/schedules"
)

const tickFlow = `
id: tick
version: 1
inputs:
  region: {type: string, required: true}
trigger:
  schedule: {interval: %s, input: {region: eu}}
steps:
  - id: hello
    set: {msg: "tick ${{ input.region }}"}
`

const hourlyFlow = `
id: hourly
version: 1
trigger:
  schedule: {cron: "0 * * * *", timezone: Europe/Berlin}
steps:
  - {id: a, set: {x: 1}}
`

func TestSchedules(t *testing.T) {
	e := startEnv(t, "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	reconcile := func(want string, flows ...*definitions.Flow) {
		t.Helper()
		rep, err := schedules.Reconcile(ctx, e.client, e.runs, flows)
		if err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		if rep.String() != want {
			t.Fatalf("reconcile: %q, want %q", rep, want)
		}
	}
	// waitRuns polls the completed runs of a flow until ok accepts them.
	waitRuns := func(flow string, within time.Duration, ok func([]runs.Summary) bool) []runs.Summary {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			list, _, err := e.runs.List(ctx, runs.Filter{Flow: flow, Status: "completed", PageSize: 100})
			if err != nil {
				t.Fatal(err)
			}
			if ok(list) {
				return list
			}
			if time.Now().After(deadline) {
				t.Fatalf("runs of %s after %s: %+v", flow, within, list)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	tick := e.load(t, fmt.Sprintf(tickFlow, "2s"), "")
	hourly := e.load(t, hourlyFlow, "")
	reconcile("created relay/hourly, relay/tick", tick, hourly)

	t.Run("an interval schedule runs the flow", func(t *testing.T) {
		list := waitRuns("tick", 10*time.Second, func(l []runs.Summary) bool { return len(l) > 0 })
		id := list[0].WorkflowID
		if !strings.HasPrefix(id, "tick/scheduled-") {
			t.Errorf("workflow ID %s, want tick/scheduled-<time>", id)
		}
		res, err := e.runs.Result(ctx, id)
		if err != nil || res.Vars["msg"] != "tick eu" {
			t.Errorf("result %+v, %v; want the schedule's input", res, err)
		}
		d, err := e.runs.Show(ctx, id)
		if err != nil || d.DefinitionHash != tick.Source.Hash || d.FlowVersion != 1 {
			t.Errorf("scheduled run's version and hash: %+v, %v", d, err)
		}
	})

	reconcile("unchanged relay/hourly, relay/tick", tick, hourly)
	tick = e.load(t, fmt.Sprintf(tickFlow, "3s"), "")
	reconcile("updated relay/tick; unchanged relay/hourly", tick, hourly)
	if s, err := schedules.Describe(ctx, e.client, nil, "tick"); err != nil || s.Spec != "every 3s" {
		t.Errorf("after the update: %+v, %v", s, err)
	}

	t.Run("backfill", func(t *testing.T) {
		hour := time.Now().UTC().Truncate(time.Hour).Add(-48 * time.Hour)
		from, to := hour.Add(30*time.Minute), hour.Add(3*time.Hour+30*time.Minute)
		if err := schedules.Backfill(ctx, e.client, "hourly", from, to, ""); err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := 1; i <= 3; i++ {
			want = append(want, "hourly/scheduled-"+hour.Add(time.Duration(i)*time.Hour).Format(time.RFC3339))
		}
		inWindow := func(l []runs.Summary) []string {
			var ids []string
			for _, r := range l {
				at, err := time.Parse(time.RFC3339, strings.TrimPrefix(r.WorkflowID, "hourly/scheduled-"))
				if err == nil && at.After(from) && at.Before(to) {
					ids = append(ids, r.WorkflowID)
				}
			}
			slices.Sort(ids)
			return ids
		}
		waitRuns("hourly", 15*time.Second, func(l []runs.Summary) bool { return len(inWindow(l)) >= 3 })
		time.Sleep(time.Second) // would a fourth come?
		list := waitRuns("hourly", time.Second, func([]runs.Summary) bool { return true })
		if got := inWindow(list); !slices.Equal(got, want) {
			t.Errorf("backfilled runs %v, want %v", got, want)
		}
	})

	t.Run("trigger", func(t *testing.T) {
		before := time.Now().Add(-time.Second)
		if err := schedules.Trigger(ctx, e.client, "hourly", definitions.OverlapAllowAll); err != nil {
			t.Fatal(err)
		}
		waitRuns("hourly", 10*time.Second, func(l []runs.Summary) bool {
			return slices.ContainsFunc(l, func(r runs.Summary) bool { return r.StartedAt.After(before) })
		})
	})

	t.Run("pause and unpause", func(t *testing.T) {
		if err := schedules.Pause(ctx, e.client, "hourly", "ERP maintenance"); err != nil {
			t.Fatal(err)
		}
		s, err := schedules.Describe(ctx, e.client, nil, "hourly")
		if err != nil || !s.Paused || s.Note != "ERP maintenance" {
			t.Fatalf("after pause: %+v, %v", s, err)
		}
		reconcile("unchanged relay/hourly, relay/tick", tick, hourly)
		if s, _ := schedules.Describe(ctx, e.client, nil, "hourly"); !s.Paused {
			t.Error("reconcile unpaused the schedule")
		}
		if err := schedules.Unpause(ctx, e.client, "hourly", ""); err != nil {
			t.Fatal(err)
		}
		if s, err := schedules.Describe(ctx, e.client, nil, "hourly"); err != nil || s.Paused {
			t.Errorf("after unpause: %+v, %v", s, err)
		}
	})

	t.Run("cli", func(t *testing.T) {
		relay := func(args ...string) string {
			t.Helper()
			var stdout, stderr bytes.Buffer
			args = append(args, "--address", e.srv.FrontendAddress(), "--namespace", e.srv.Namespace(), "--log-level", "error")
			if err := cli.Run(ctx, args, &stdout, &stderr); err != nil {
				t.Fatalf("relay %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
			}
			return stdout.String()
		}
		relay("schedules", "pause", "hourly", "--note", "from the CLI")
		var out struct{ Schedules []schedules.Summary }
		if err := json.Unmarshal([]byte(relay("schedules", "list", "--output", "json")), &out); err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(out.Schedules, func(s schedules.Summary) bool { return s.Flow == "hourly" })
		if i < 0 || !out.Schedules[i].Paused || out.Schedules[i].Note != "from the CLI" || out.Schedules[i].Spec != "cron 0 * * * * Europe/Berlin" {
			t.Errorf("schedules list: %+v", out.Schedules)
		}
		relay("schedules", "unpause", "hourly")
		if text := relay("schedules", "list"); !strings.Contains(text, "hourly") || !strings.Contains(text, "active") {
			t.Errorf("schedules list:\n%s", text)
		}
	})

	// Schedules are listed through visibility, which may lag a moment
	// behind a create; the deletion retries until it sees the schedule.
	deadline := time.Now().Add(10 * time.Second)
	for {
		rep, err := schedules.Reconcile(ctx, e.client, e.runs, []*definitions.Flow{hourly})
		if err != nil {
			t.Fatal(err)
		}
		if rep.String() == "deleted relay/tick; unchanged relay/hourly" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("removing the flow: %q", rep)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := schedules.Describe(ctx, e.client, nil, "tick"); err == nil {
		t.Error("the schedule of a removed flow is still there")
	}
}
