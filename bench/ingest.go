package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/relay-dev/relay/workflows"
)

// IngestResult compares signed webhooks into started runs with a bare
// ExecuteWorkflow loop starting the same runs, and with a hand-written
// webhook handler starting them, at one concurrency.
type IngestResult struct {
	Concurrency int `json:"concurrency"`
	// Webhooks are signed deliveries to relay's receiver answered 2xx;
	// latency is the request's.
	Webhooks Side `json:"webhooks"`
	// Bare are client.ExecuteWorkflow calls; latency is the call's.
	Bare Side `json:"bare"`
	// Ratio is webhooks/s over bare calls/s.
	Ratio float64 `json:"ratio"`
	// RatioRange is the lowest and highest ratio over five windows of the
	// measurement (absent when it is too short to split).
	RatioRange []float64 `json:"ratio_range,omitempty"`
	// Handler are the same signed deliveries to a hand-written net/http
	// handler that verifies them and starts the same runs, deduplicated:
	// the bare loop plus HTTP, what relay's receiver replaces.
	Handler Side `json:"handler"`
	// HandlerRatio is webhooks/s over the handler's deliveries/s.
	HandlerRatio float64 `json:"handler_ratio"`
	// Accepted deliveries were answered 2xx; every one must have exactly
	// one run. Lost: a delivery never answered 2xx, or accepted without a
	// run. Duplicated: runs beyond one per accepted delivery.
	Accepted   int `json:"accepted"`
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
}

// deliveryAttempts is how often a delivery is sent before it counts as
// lost: partners retry on errors and 5xx.
const deliveryAttempts = 3

func (e *env) ingestSection(ctx context.Context, o *Options, r *Report) error {
	flow := e.flows[ingestID]
	// Warm up both paths.
	if err := e.ingestOnce(ctx, o, flow.ID, "warm", 2, plan{runs: 8}, nil); err != nil {
		return fmt.Errorf("warming up ingest: %w", err)
	}
	for k, conc := range o.IngestConcurrency {
		p := o.plan()
		p.bFirst = k%2 == 1
		// IDs unique per measurement: a concurrency listed twice must not
		// send deliveries the receiver already took.
		if err := e.ingestOnce(ctx, o, flow.ID, fmt.Sprintf("m%d-c%d", k, conc), conc, p, r); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// ingestOnce measures ingest at one concurrency; name makes the measurement's
// delivery and workflow IDs its own. A nil r is a warm-up.
func (e *env) ingestOnce(ctx context.Context, o *Options, flowID, name string, conc int, p plan, r *Report) error {
	flow := e.flows[flowID]
	prefix := fmt.Sprintf("%s-in-%s-", e.tag, name)
	barePrefix, handPrefix := fmt.Sprintf("%s-bare-%s-", e.tag, name), fmt.Sprintf("%s-hand-%s-", e.tag, name)
	var mu sync.Mutex
	var accepted []string
	hook := func(ctx context.Context, i int) error {
		id := fmt.Sprintf("%s%d", prefix, i)
		var last error
		for attempt := range deliveryAttempts {
			if attempt > 0 {
				time.Sleep(100 * time.Millisecond)
			}
			status, err := e.postOrder(ctx, e.relayURL+ingestPath, id)
			switch {
			case err != nil:
				last = err
			case status == http.StatusAccepted || status == http.StatusOK:
				mu.Lock()
				accepted = append(accepted, id)
				mu.Unlock()
				return nil
			case status >= 500 || status == http.StatusTooManyRequests:
				last = fmt.Errorf("status %d", status)
			default:
				return fmt.Errorf("delivery %s: status %d, want 202", id, status)
			}
		}
		return fmt.Errorf("delivery %s: %w", id, last)
	}
	bare := func(ctx context.Context, i int) error {
		in, err := e.ingestInput(fmt.Sprint(i), "bare@bench.example")
		if err != nil {
			return err
		}
		_, err = e.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("%s/%s%d", flow.ID, barePrefix, i), TaskQueue: TaskQueue, EnableEagerStart: true}, workflows.RunWorkflow, in)
		return err
	}
	handler := func(ctx context.Context, i int) error {
		id := fmt.Sprintf("%s%d", handPrefix, i)
		status, err := e.postOrder(ctx, e.handURL+ingestPath, id)
		if err != nil {
			return fmt.Errorf("delivery %s to the hand-written handler: %w", id, err)
		}
		if status != http.StatusAccepted {
			return fmt.Errorf("delivery %s to the hand-written handler: status %d, want 202", id, status)
		}
		return nil
	}
	all := alternateAll(ctx, p, conc, hook, bare, handler)
	hooks, bares, hands := all[0], all[1], all[2]
	if r == nil {
		for _, s := range all {
			if s.firstErr != nil {
				return s.firstErr
			}
		}
		return nil
	}
	res := IngestResult{Concurrency: conc, Webhooks: hooks.side(), Bare: bares.side(), Handler: hands.side(), Accepted: len(accepted), Lost: hooks.errors}
	res.Ratio = round(ratio(res.Webhooks.PerSecond, res.Bare.PerSecond), 3)
	res.RatioRange = ratioRange(hooks, bares, rangeWindows)
	res.HandlerRatio = round(ratio(res.Webhooks.PerSecond, res.Handler.PerSecond), 3)

	// Every accepted delivery has its run.
	for _, id := range accepted {
		if _, err := e.client.DescribeWorkflowExecution(ctx, flow.ID+"/"+id, ""); err != nil {
			res.Lost++
		}
	}
	// No delivery has two: count the runs per prefix once visibility
	// caught up with the accepted ones.
	runs, err := e.countRuns(ctx, fmt.Sprintf("WorkflowId STARTS_WITH %q", flow.ID+"/"+prefix), len(accepted))
	if err != nil {
		return fmt.Errorf("counting ingest runs: %w", err)
	}
	res.Duplicated = max(0, runs-len(accepted))
	r.Ingest = append(r.Ingest, res)
	o.progress("ingest c=%-4d webhooks %7.1f/s  bare %7.1f/s  ratio %.2f  handler %7.1f/s  ratio %.2f  p50 %.1f ms  p99 %.1f ms  lost %d  duplicated %d",
		conc, res.Webhooks.PerSecond, res.Bare.PerSecond, res.Ratio, res.Handler.PerSecond, res.HandlerRatio, res.Webhooks.P50Ms, res.Webhooks.P99Ms, res.Lost, res.Duplicated)
	return nil
}

// ingestInput is the ingest flow's run input for an order.
func (e *env) ingestInput(orderID, email string) (workflows.RunInput, error) {
	return e.runs.Input(e.flows[ingestID], map[string]any{"order_id": orderID, "email": email})
}

// countRuns counts the executions query matches, waiting up to 30s for
// visibility to reach at least want.
func (e *env) countRuns(ctx context.Context, query string, want int) (int, error) {
	return countRuns(ctx, e.client, e.namespace, query, want, 30*time.Second)
}

func countRuns(ctx context.Context, c client.Client, namespace, query string, want int, wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	for {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		if err != nil {
			return 0, fmt.Errorf("counting runs (%s): %w", query, err)
		}
		n := int(resp.GetCount())
		if n >= want || time.Now().After(deadline) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
