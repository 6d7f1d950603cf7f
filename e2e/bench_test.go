package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/relay-dev/relay/activities"
	"github.com/relay-dev/relay/apiserver"
	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/builtin"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/triggers"
	"github.com/relay-dev/relay/triggers/verify"
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

// BenchmarkWebhookIngest sends signed webhooks to the receiver, each a new
// delivery, at several concurrencies, against a bare ExecuteWorkflow loop
// starting the same runs on the same server, and reports both rates, their
// ratio and the receiver's p50/p99 latency. Every 202 is checked to have
// started exactly one run.
//
//	go test ./e2e -run '^$' -bench WebhookIngest -benchtime 200x
func BenchmarkWebhookIngest(b *testing.B) {
	b.Setenv("E2E_SHOP_SECRET", shopSecret)
	e := startEnv(b, "", nil)
	flow := e.load(b, webhookFlow, "")
	secretsByRef := map[string]string{"env:E2E_SHOP_SECRET": shopSecret, "env:E2E_STRIPE_SECRET": stripeSecret}
	recv, err := triggers.NewReceiver([]*definitions.Flow{flow}, e.runs, func(ref string) (string, error) { return secretsByRef[ref], nil }, nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer((&apiserver.Server{Webhooks: recv}).Handler())
	defer srv.Close()
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	cfg := verify.Config{Scheme: "standard_webhooks", Secrets: []string{shopSecret}}
	ctx := context.Background()
	prefix := 0
	for _, conc := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("c%d", conc), func(b *testing.B) {
			prefix++
			n := b.N
			hookLatencies := make([]time.Duration, n)
			var accepted, lost atomic.Int64
			hook := func(i int) {
				body := order(fmt.Sprintf("bench-%d-%d", prefix, i), "order.created")
				h, err := verify.Sign(cfg, body, time.Now(), fmt.Sprintf("msg_%d_%d", prefix, i))
				if err != nil {
					b.Error(err)
					return
				}
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/shop/orders", bytes.NewReader(body))
				for k, vs := range h {
					req.Header[k] = vs
				}
				t0 := time.Now()
				resp, err := httpClient.Do(req)
				if err != nil {
					lost.Add(1)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				hookLatencies[i] = time.Since(t0)
				if resp.StatusCode == http.StatusAccepted {
					accepted.Add(1)
				} else {
					lost.Add(1)
				}
			}
			bare := func(i int) {
				in, err := e.runs.Input(flow, map[string]any{"order_id": fmt.Sprint(i), "total": 1.0})
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := e.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("bare-%d-%d", prefix, i), TaskQueue: worker.DefaultTaskQueue}, workflows.RunWorkflow, in); err != nil {
					b.Error(err)
				}
			}
			b.ResetTimer()
			hookTime := runConcurrently(n, conc, hook)
			bareTime := runConcurrently(n, conc, bare)
			b.StopTimer()
			if accepted.Load() != int64(n) || lost.Load() != 0 {
				b.Fatalf("%d deliveries: %d accepted, %d lost", n, accepted.Load(), lost.Load())
			}
			// Every accepted delivery has exactly one run.
			for i := range n {
				if _, err := e.client.DescribeWorkflowExecution(ctx, fmt.Sprintf("shop-order/bench-%d-%d", prefix, i), ""); err != nil {
					b.Fatalf("delivery %d accepted but its run is missing: %v", i, err)
				}
			}
			slices.Sort(hookLatencies)
			hookRate := float64(n) / hookTime.Seconds()
			bareRate := float64(n) / bareTime.Seconds()
			b.ReportMetric(hookRate, "webhooks/s")
			b.ReportMetric(bareRate, "bare-starts/s")
			b.ReportMetric(hookRate/bareRate, "ratio")
			b.ReportMetric(float64(hookLatencies[n/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(hookLatencies[n*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// runConcurrently calls fn(0..n-1) from conc goroutines and returns the
// time it took.
func runConcurrently(n, conc int, fn func(i int)) time.Duration {
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
	return time.Since(t0)
}
