package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/relay-dev/relay/activities"
	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/builtin"
	"github.com/relay-dev/relay/worker"
	"github.com/relay-dev/relay/workflows"
)

// benchConcurrency is how many runs are in flight at once.
const benchConcurrency = 16

// handWritten is what a Go developer would write by hand for the bench
// flow: five calls of the same activity, with the same options relay uses.
func handWritten(ctx workflow.Context, local bool) (map[string]any, error) {
	policy := &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10}
	out := map[string]any{}
	for i := 1; i <= 5; i++ {
		in := activities.CallInput{Flow: "bench-five", Step: fmt.Sprintf("s%d", i), Connection: "b", Config: connectors.ConnectionConfig{Connector: "bench"},
			Connector: "bench", Action: "noop", Params: map[string]any{"n": float64(i)}, IdempotencyKey: fmt.Sprintf("%s/s%d", workflow.GetInfo(ctx).WorkflowExecution.ID, i)}
		var fut workflow.Future
		if local {
			fut = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Minute, RetryPolicy: policy}), "bench.noop", in)
		} else {
			fut = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, RetryPolicy: policy}), "bench.noop", in)
		}
		var res activities.CallResult
		if err := fut.Get(ctx, &res); err != nil {
			return nil, err
		}
		out[in.Step] = res.Output
	}
	return out, nil
}

func benchFlow(local bool) string {
	var b strings.Builder
	b.WriteString("id: bench-five\nversion: 1\nconnections:\n  b: {connector: bench}\nsteps:\n")
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&b, "  - {id: s%d, call: b.noop, local: %t, with: {n: %d}}\n", i, local, i)
	}
	return b.String()
}

// BenchmarkFiveSteps runs a five-step flow through relay.run and the same
// five activity calls through a hand-written workflow, alternating batches
// on the same embedded server, and reports both rates and their ratio.
//
//	go test ./e2e -run '^$' -bench FiveSteps -benchtime 20x
func BenchmarkFiveSteps(b *testing.B) {
	for _, local := range []bool{false, true} {
		name := "regular"
		if local {
			name = "local"
		}
		b.Run(name, func(b *testing.B) {
			reg := builtin.Registry()
			if err := reg.Register(&connectors.Connector{Name: "bench", Actions: []*connectors.Action{{
				Name: "noop", Params: []connectors.Param{{Name: "n", Type: "number"}},
				Do: func(ctx context.Context, call *connectors.Call) (any, error) { return call.Params["n"], nil },
			}}}); err != nil {
				b.Fatal(err)
			}
			e := startEnv(b, "", reg, func(w sdkworker.Worker) {
				w.RegisterWorkflowWithOptions(handWritten, workflow.RegisterOptions{Name: "bench.handwritten"})
			})
			flow := e.load(b, benchFlow(local), "")
			ctx := context.Background()
			startRelay := func(id string) (client.WorkflowRun, error) {
				in, err := e.runs.Input(flow, nil)
				if err != nil {
					return nil, err
				}
				return e.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: worker.DefaultTaskQueue}, workflows.RunWorkflow, in)
			}
			startGo := func(id string) (client.WorkflowRun, error) {
				return e.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: worker.DefaultTaskQueue}, "bench.handwritten", local)
			}
			batch := func(prefix string, start func(string) (client.WorkflowRun, error)) time.Duration {
				t0 := time.Now()
				var wg sync.WaitGroup
				errs := make(chan error, benchConcurrency)
				for i := range benchConcurrency {
					wg.Add(1)
					go func() {
						defer wg.Done()
						run, err := start(fmt.Sprintf("%s-%d", prefix, i))
						if err == nil {
							err = run.Get(ctx, nil)
						}
						if err != nil {
							errs <- err
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			// Warm up both paths (workflow caches, connections).
			batch("warm-relay", startRelay)
			batch("warm-go", startGo)
			var relayTime, goTime time.Duration
			n := 0
			b.ResetTimer()
			for b.Loop() {
				relayTime += batch(fmt.Sprintf("relay-%d", n), startRelay)
				goTime += batch(fmt.Sprintf("go-%d", n), startGo)
				n++
			}
			runsDone := float64(n * benchConcurrency)
			relayRate := runsDone / relayTime.Seconds()
			goRate := runsDone / goTime.Seconds()
			b.ReportMetric(relayRate, "relay-runs/s")
			b.ReportMetric(goRate, "go-runs/s")
			b.ReportMetric(relayRate/goRate, "ratio")
		})
	}
}
