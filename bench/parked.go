package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relay-dev/relay/connectors/builtin"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/worker"
)

// parkedFlow waits for an event that never comes.
const parkedFlow = `id: bench-parked
version: 1
inputs:
  key: {type: string, required: true}
steps:
  - id: parked
    wait: {event: bench.wake, correlation: input.key, timeout: 24h}
`

// ParkedResult is the memory N runs waiting for an event cost.
type ParkedResult struct {
	Runs int `json:"runs"`
	// StartSeconds is the time to start every run; ParkedSeconds until
	// every run was seen waiting.
	StartSeconds  float64 `json:"start_seconds"`
	ParkedSeconds float64 `json:"parked_seconds"`
	// Worker* are this process's VmRSS: it runs the worker (and the load
	// generator), not the server.
	WorkerRSSBeforeMiB float64 `json:"worker_rss_before_mib"`
	WorkerRSSAfterMiB  float64 `json:"worker_rss_after_mib"`
	WorkerRSSDeltaMiB  float64 `json:"worker_rss_delta_mib"`
	// WorkerHeapMiB is the Go heap in use after the runs parked.
	WorkerHeapMiB float64 `json:"worker_heap_mib"`
	// WorkerKiBPerRun is the RSS delta per parked run, to extrapolate.
	WorkerKiBPerRun float64 `json:"worker_kib_per_run"`
	// Server says which server held the runs; its RSS is known only for a
	// `relay dev` child process.
	Server             string  `json:"server"`
	ServerRSSBeforeMiB float64 `json:"server_rss_before_mib"`
	ServerRSSAfterMiB  float64 `json:"server_rss_after_mib"`
	ServerKiBPerRun    float64 `json:"server_kib_per_run"`
	TerminateSeconds   float64 `json:"terminate_seconds"`
}

// parkedSection parks o.Parked runs. The server is a `relay dev` child
// process (or --temporal-address), so that this process's RSS is the
// worker's alone.
func parkedSection(ctx context.Context, o *Options, tag string, r *Report) error {
	res := &ParkedResult{Runs: o.Parked}
	var t *server
	var child *devProcess
	if o.TemporalAddress != "" {
		var err error
		if t, err = startTemporal(ctx, o); err != nil {
			return err
		}
		res.Server = t.store
	} else {
		args := []string{"--no-sandbox", "--namespace", o.Namespace}
		if o.Store == StoreMemory {
			args = append(args, "--ephemeral")
		} else {
			args = append(args, "--data-dir", filepath.Join(o.DataDir, "parked"))
		}
		var err error
		if child, err = startDev(o.Self, args...); err != nil {
			return err
		}
		defer child.stop()
		if err := child.waitReady(ctx, 2*time.Minute); err != nil {
			return err
		}
		c, err := dial(child.frontend, o.Namespace, nil)
		if err != nil {
			return err
		}
		t = &server{client: c, namespace: o.Namespace, stop: c.Close}
		res.Server = "relay dev child process (" + o.Store + " store)"
	}
	defer t.stop()

	reg := builtin.Registry()
	flow, err := definitions.Parse("bench-parked.yaml", []byte(parkedFlow), reg)
	if err != nil {
		return fmt.Errorf("parked flow:\n%w", err)
	}
	w, err := worker.New(t.client, worker.Options{TaskQueue: TaskQueue, Registry: reg, Resolve: resolve, Logger: o.Logger})
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("starting the worker: %w", err)
	}
	defer w.Stop()
	rc := &runs.Client{Temporal: t.client, Namespace: t.namespace, TaskQueue: TaskQueue}

	rss := func(pid string) float64 {
		b, err := rssBytes(pid)
		if err != nil {
			o.Logger.Warn("reading RSS", "pid", pid, "err", err)
		}
		return mib(b)
	}
	runtime.GC()
	debug.FreeOSMemory()
	res.WorkerRSSBeforeMiB = rss("self")
	if child != nil {
		res.ServerRSSBeforeMiB = rss(child.pid())
	}

	prefix := fmt.Sprintf("%s/%s-", flow.ID, tag)
	ids := make([]string, o.Parked)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	t0 := time.Now()
	if err := forEach(ctx, ids, func(ctx context.Context, i int, id string) error {
		_, err := rc.Start(ctx, flow, map[string]any{"key": fmt.Sprint(i)}, runs.StartOptions{WorkflowID: id})
		return err
	}); err != nil {
		return fmt.Errorf("starting parked runs: %w", err)
	}
	res.StartSeconds = round(time.Since(t0).Seconds(), 4)
	query := fmt.Sprintf("WorkflowId STARTS_WITH %q AND RelayState = 'waiting'", prefix)
	n, err := countRuns(ctx, t.client, t.namespace, query, o.Parked, 5*time.Minute)
	if err != nil {
		return err
	}
	if n < o.Parked {
		return fmt.Errorf("only %d of %d runs were waiting after 5 minutes", n, o.Parked)
	}
	res.ParkedSeconds = round(time.Since(t0).Seconds(), 4)
	res.WorkerRSSAfterMiB = rss("self")
	res.WorkerRSSDeltaMiB = round(res.WorkerRSSAfterMiB-res.WorkerRSSBeforeMiB, 4)
	res.WorkerKiBPerRun = round(res.WorkerRSSDeltaMiB*1024/float64(o.Parked), 3)
	if child != nil {
		res.ServerRSSAfterMiB = rss(child.pid())
		res.ServerKiBPerRun = round((res.ServerRSSAfterMiB-res.ServerRSSBeforeMiB)*1024/float64(o.Parked), 3)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.WorkerHeapMiB = mib(int64(ms.HeapInuse))
	o.progress("parked %d runs: worker RSS %.0f -> %.0f MiB (+%.0f), server RSS %.0f -> %.0f MiB", o.Parked, res.WorkerRSSBeforeMiB, res.WorkerRSSAfterMiB, res.WorkerRSSDeltaMiB, res.ServerRSSBeforeMiB, res.ServerRSSAfterMiB)

	t1 := time.Now()
	if err := forEach(ctx, ids, func(ctx context.Context, _ int, id string) error {
		return t.client.TerminateWorkflow(ctx, id, "", "relay bench: parked runs measured")
	}); err != nil {
		return fmt.Errorf("terminating parked runs: %w", err)
	}
	res.TerminateSeconds = round(time.Since(t1).Seconds(), 4)
	r.Parked = res
	return nil
}

// forEach calls fn for every item from 64 goroutines and returns the
// first error, after every call returned.
func forEach(ctx context.Context, items []string, fn func(ctx context.Context, i int, item string) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(64, len(items)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(items) || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i, items[i]); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
