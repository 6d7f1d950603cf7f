package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/worker"
)

// TestConnectionRateLimit runs 20 calls at once on a connection limited to
// 5 requests/s: Temporal's task-queue rate limit, not the process, paces
// them.
func TestConnectionRateLimit(t *testing.T) {
	e := startEnv(t, "", nil)
	p := newPartner(t, "")
	flow := e.load(t, `
id: e2e-rate
version: 1
connections:
  slow:
    connector: http
    base_url: {{PARTNER}}
    rate_limit: 5/s
steps:
  - id: calls
    foreach: 1..20
    concurrency: 20
    steps:
      - {id: ping, call: slow.request, with: {url: /ping}}
`, p.URL)
	const queue = "rate-test"
	w, err := worker.New(e.client, worker.Options{TaskQueue: queue, Registry: e.reg, Flows: []*definitions.Flow{flow}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got := w.Queues(); len(got) != 2 || got[1] != queue+"@e2e-rate.slow" {
		t.Fatalf("worker queues = %v, want the run queue and the connection's", got)
	}
	rc := *e.runs
	rc.TaskQueue = queue
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := rc.Start(ctx, flow, nil, runs.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Result(ctx, run.WorkflowID); err != nil {
		t.Fatalf("run failed: %v", err)
	}
	times := p.times("GET", "/ping")
	if len(times) != 20 {
		t.Fatalf("partner saw %d calls, want 20", len(times))
	}
	span := times[len(times)-1].Sub(times[0])
	most := 0
	for i := range times {
		n := 0
		for j := i; j < len(times) && times[j].Sub(times[i]) < time.Second; j++ {
			n++
		}
		most = max(most, n)
	}
	t.Logf("20 calls at 5/s took %s; at most %d in any one second", span.Round(time.Millisecond), most)
	// 20 calls at 5/s need about 3s after a first burst; allow for the
	// limiter's burst but not for an unpaced run.
	if span < 2*time.Second || most > 10 {
		t.Errorf("calls were not paced: span %s, %d in one second", span, most)
	}
}
