package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/relay-dev/relay/workflows"
)

const evictedFlow = `
id: evicted
version: 1
inputs:
  key: {type: string, required: true}
steps:
  - id: before
    set: {key: "${{ input.key }}"}
  - id: paid
    wait: {event: payment.succeeded, correlation: input.key, timeout: 1h}
  - id: after
    set: {amount: "${{ steps.paid.output.amount }}", key: "${{ vars.key }}"}
`

// TestWaitingRunsEvictedFromTheCacheWake parks more runs than relay dev's
// workflow cache (--workflow-cache-size 2) holds: the worker drops the runs
// it cannot keep, and each one, woken by its event, replays its history and
// completes with the event's data. relay dev runs as a child process, alone
// with its cache: the SDK's cache is one per process.
func TestWaitingRunsEvictedFromTheCacheWake(t *testing.T) {
	const cacheSize, n = 2, 6
	defs := t.TempDir()
	if err := os.WriteFile(filepath.Join(defs, "evicted.yaml"), []byte(evictedFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	ports := distinctPorts(t, 3)
	frontend, api := localAddr(ports[0]), "http://"+localAddr(ports[2])
	dev := startRelay(t, "relay dev", t.TempDir(), nil, "dev", "--ephemeral", "--no-sandbox", "--definitions", defs, "--ui-port", "-1",
		"--port", strconv.Itoa(ports[0]), "--temporal-http-port", strconv.Itoa(ports[1]), "--http-addr", localAddr(ports[2]),
		"--workflow-cache-size", strconv.Itoa(cacheSize))
	dev.waitReady(t, api+"/readyz")
	c := dialTemporal(t, frontend)
	cwd := t.TempDir()

	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("evicted-%d", i)
		relayOK(t, cwd, "run", "evicted", "--id", ids[i], "--input-json", fmt.Sprintf(`{"key":"k%d"}`, i), "--address", frontend, "--definitions", defs)
	}
	for _, id := range ids {
		waitStep(t, c, id, "paid", workflows.StatusWaiting)
	}
	m := scrapeMetrics(t, api+"/metrics")
	if ev, _ := metricSum(m, "temporal_sticky_cache_total_forced_eviction_total", nil); ev < n-cacheSize {
		t.Fatalf("%v runs were evicted from a cache of %d with %d runs waiting, want at least %d", ev, cacheSize, n, n-cacheSize)
	}
	if size := metricMax(m, "temporal_sticky_cache_size"); size > cacheSize {
		t.Fatalf("the cache holds %v runs, more than its size %d", size, cacheSize)
	}
	missed, _ := metricSum(m, "temporal_sticky_cache_miss_total", nil)

	// Wake them oldest last, each first with an event for another key, which
	// the run must keep without waking.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for i := n - 1; i >= 0; i-- {
		for _, ev := range []workflows.Event{
			{Name: "payment.succeeded", Key: "someone-else", Data: map[string]any{"amount": -1}},
			{Name: "payment.succeeded", Key: fmt.Sprint("k", i), Data: map[string]any{"amount": 100 + i}},
		} {
			if err := c.SignalWorkflow(ctx, ids[i], "", workflows.EventSignal, ev); err != nil {
				t.Fatalf("signalling %s: %v", ids[i], err)
			}
		}
	}
	for i, id := range ids {
		var res workflows.RunResult
		if err := c.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
			t.Fatalf("run %s failed: %v", id, err)
		}
		if res.Vars["amount"] != float64(100+i) || res.Vars["key"] != fmt.Sprint("k", i) {
			t.Errorf("run %s ended with vars %v, want amount %d and key k%d", id, res.Vars, 100+i, i)
		}
	}
	m = scrapeMetrics(t, api+"/metrics")
	if now, _ := metricSum(m, "temporal_sticky_cache_miss_total", nil); now == missed {
		t.Error("no event's workflow task missed the cache: no woken run was replayed")
	}
	if size := metricMax(m, "temporal_sticky_cache_size"); size > cacheSize {
		t.Errorf("the cache holds %v runs, more than its size %d", size, cacheSize)
	}
}

// metricMax is the largest sample of name, 0 when there is none.
func metricMax(samples []promSample, name string) float64 {
	x := 0.0
	for _, s := range samples {
		if s.name == name {
			x = max(x, s.value)
		}
	}
	return x
}

// TestNegativeWorkflowCacheSizeIsRefused checks that relay dev and relay
// worker refuse a negative cache size before they start anything.
func TestNegativeWorkflowCacheSizeIsRefused(t *testing.T) {
	for _, cmd := range []string{"dev", "worker"} {
		t.Run(cmd, func(t *testing.T) {
			stdout, stderr, code := relayCmd(t, t.TempDir(), nil, cmd, "--workflow-cache-size", "-1", "--definitions", t.TempDir())
			want := "--workflow-cache-size: workflow cache size -1 is negative"
			if code == 0 || !strings.Contains(stderr, want) {
				t.Errorf("relay %s --workflow-cache-size -1: exit %d, stderr %q; want a failure saying %q\nstdout: %s", cmd, code, stderr, want, stdout)
			}
		})
	}
}
