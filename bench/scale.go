package bench

import (
	"context"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/runs"
)

// ScaleResult is one size of one flow shape.
type ScaleResult struct {
	// Shape is steps (alternating set and call steps), foreach-set (a
	// foreach whose body is one set) or foreach-call (one local call).
	Shape string `json:"shape"`
	Size  int    `json:"size"`
	// Steps is how many steps one run executes.
	Steps       int     `json:"steps"`
	Concurrency int     `json:"concurrency"`
	Runs        int     `json:"runs"`
	Errors      int     `json:"errors"`
	RunsPerSec  float64 `json:"runs_per_second"`
	StepsPerSec float64 `json:"steps_per_second"`
	// MsPerStep is wall time per step at this concurrency: 1000/StepsPerSec.
	MsPerStep float64 `json:"ms_per_step"`
	P50Ms     float64 `json:"p50_ms"`
	// HistoryBytes is the sum of the proto sizes of every history event of
	// one run, child workflows (foreach batches) included.
	HistoryBytes  int64   `json:"history_bytes"`
	HistoryEvents int     `json:"history_events"`
	Workflows     int     `json:"workflows"`
	BytesPerStep  float64 `json:"bytes_per_step"`
	// Marginal* are the cost of the steps this size adds to the previous
	// size of the same shape (at the same concurrency): flat when a step
	// costs the same however long the flow is.
	MarginalMsPerStep    float64 `json:"marginal_ms_per_step,omitempty"`
	MarginalBytesPerStep float64 `json:"marginal_bytes_per_step,omitempty"`
}

// msPerRun is the mean run time by Little's law.
func (s *ScaleResult) msPerRun() float64 {
	return ratio(1000*float64(s.Concurrency), s.RunsPerSec)
}

type scaleCase struct {
	shape string
	size  int
	steps int
	yaml  string
}

func scaleCases(o *Options, sandboxAddr string) []scaleCase {
	header := func(id string) string {
		return fmt.Sprintf("id: %s\nversion: 1\nconnections:\n  chat: {connector: http, base_url: http://%s/slack}\nsteps:\n", id, sandboxAddr)
	}
	const call = `call: chat.request, with: {method: POST, url: /services/T0RELAY/B0BENCH/sandbox, body: {text: "step %s"}}`
	var out []scaleCase
	for _, n := range o.Steps {
		var b strings.Builder
		b.WriteString(header(fmt.Sprintf("bench-steps-%d", n)))
		for i := 1; i <= n; i++ {
			if i%2 == 1 {
				fmt.Fprintf(&b, "  - {id: s%d, set: {v%d: %d}}\n", i, i%7, i)
			} else {
				fmt.Fprintf(&b, "  - {id: s%d, %s}\n", i, fmt.Sprintf(call, fmt.Sprint(i)))
			}
		}
		out = append(out, scaleCase{shape: "steps", size: n, steps: n, yaml: b.String()})
	}
	foreach := func(shape string, n int, body string) scaleCase {
		y := header(fmt.Sprintf("bench-%s-%d", shape, n)) + fmt.Sprintf("  - id: each\n    foreach: 1..%d\n    steps:\n      - %s\n", n, body)
		return scaleCase{shape: shape, size: n, steps: n, yaml: y}
	}
	for _, n := range o.Items {
		out = append(out, foreach("foreach-set", n, `{id: body, set: {last: "${{ item }}"}}`))
	}
	for _, n := range o.CallItems {
		out = append(out, foreach("foreach-call", n, "{id: body, local: true, "+fmt.Sprintf(call, "${{ item }}")+"}"))
	}
	return out
}

// scaleConcurrency keeps large runs from crowding each other: a few runs
// at once for small flows, one at a time from 1,000 steps.
func scaleConcurrency(o *Options, steps int) int {
	return max(1, min(o.ScaleConcurrency, 1000/steps))
}

func (e *env) scaleSection(ctx context.Context, o *Options, r *Report) error {
	for _, c := range scaleCases(o, e.sbRelay.HTTPAddr()) {
		flow, err := definitions.Parse(fmt.Sprintf("bench-%s-%d.yaml", c.shape, c.size), []byte(c.yaml), e.reg)
		if err != nil {
			return fmt.Errorf("scale flow %s %d:\n%w", c.shape, c.size, err)
		}
		var first string
		run := func(ctx context.Context, i int) error {
			id := fmt.Sprintf("%s/%s-%d", flow.ID, e.tag, i)
			if i == 0 {
				first = id
			}
			if _, err := e.runs.Start(ctx, flow, nil, runs.StartOptions{WorkflowID: id}); err != nil {
				return err
			}
			return e.client.GetWorkflow(ctx, id, "").Get(ctx, nil)
		}
		// Warm up with a run of the same shape, unless it is long anyway.
		if c.steps < 10000 {
			if err := run(ctx, -1); err != nil {
				return fmt.Errorf("warming up scale %s %d: %w", c.shape, c.size, err)
			}
		}
		conc := scaleConcurrency(o, c.steps)
		p := o.plan()
		if p.runs > 0 {
			p.runs = min(p.runs, max(1, 20000/c.steps)) // a few large runs are long enough
		}
		s := repeat(ctx, p, conc, run)
		side := s.side()
		res := ScaleResult{Shape: c.shape, Size: c.size, Steps: c.steps, Concurrency: conc, Runs: side.Runs, Errors: side.Errors, RunsPerSec: side.PerSecond, P50Ms: side.P50Ms}
		res.StepsPerSec = round(res.RunsPerSec*float64(c.steps), 4)
		res.MsPerStep = round(ratio(1000, res.StepsPerSec), 4)
		if s.firstErr != nil {
			return fmt.Errorf("scale %s %d: %w", c.shape, c.size, s.firstErr)
		}
		h, err := historySize(ctx, e.client, first, "")
		if err != nil {
			return fmt.Errorf("reading the history of %s: %w", first, err)
		}
		res.HistoryBytes, res.HistoryEvents, res.Workflows = h.bytes, h.events, h.workflows
		res.BytesPerStep = round(ratio(float64(h.bytes), float64(c.steps)), 4)
		if n := len(r.Scale); n > 0 {
			if prev := r.Scale[n-1]; prev.Shape == res.Shape && prev.Concurrency == res.Concurrency && prev.Steps < res.Steps {
				added := float64(res.Steps - prev.Steps)
				res.MarginalMsPerStep = round((res.msPerRun()-prev.msPerRun())/added, 4)
				res.MarginalBytesPerStep = round(float64(res.HistoryBytes-prev.HistoryBytes)/added, 4)
			}
		}
		r.Scale = append(r.Scale, res)
		o.progress("scale  %-12s %6d  %7.1f steps/s  %.3f ms/step  %8d history bytes  %.0f bytes/step", c.shape, c.size, res.StepsPerSec, res.MsPerStep, res.HistoryBytes, res.BytesPerStep)
		e.sbRelay.Reset()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

type history struct {
	bytes     int64
	events    int
	workflows int
}

// historySize sums proto.Size of every event of a workflow and of the
// child workflows it started, recursively.
func historySize(ctx context.Context, c client.Client, workflowID, runID string) (history, error) {
	h := history{workflows: 1}
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return h, err
		}
		h.bytes += int64(proto.Size(ev))
		h.events++
		if a := ev.GetChildWorkflowExecutionStartedEventAttributes(); a != nil {
			child, err := historySize(ctx, c, a.GetWorkflowExecution().GetWorkflowId(), a.GetWorkflowExecution().GetRunId())
			if err != nil {
				return h, err
			}
			h.bytes += child.bytes
			h.events += child.events
			h.workflows += child.workflows
		}
	}
	return h, nil
}
