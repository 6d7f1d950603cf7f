// Package worker builds the Temporal worker that runs relay: the
// `relay.run` interpreter and one activity per connector action, all
// registered under stable names.
package worker

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/relay-dev/relay/activities"
	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/telemetry"
	"github.com/relay-dev/relay/workflows"
)

// DefaultTaskQueue is the task queue relay's runs and workers use unless
// told otherwise.
const DefaultTaskQueue = "relay"

// DefaultWorkflowCacheSize is how many runs a worker process keeps in
// memory between their workflow tasks unless told otherwise. With the SDK's
// default of 10,000, a worker with 10,000 runs waiting for an event held
// 650 MiB RSS; with 1,000, 230 MiB (relay bench --only parked --parked
// 10000). See SetWorkflowCacheSize.
const DefaultWorkflowCacheSize = 1000

// DefaultStopTimeout is how long Stop lets the activities in flight finish
// unless Options.Worker sets WorkerStopTimeout: a worker stopped by a
// deploy (SIGTERM) stops polling at once, then waits up to this long for
// its partner calls before it cancels them. The SDK's default, 0, cancels
// them at once: the attempt fails, and a step with no attempts left fails
// its run. It stays below Kubernetes' default grace period of 30s, which
// also covers the HTTP server's shutdown.
const DefaultStopTimeout = 15 * time.Second

// newSDKWorker builds each SDK worker; tests replace it to see the options.
var newSDKWorker = sdkworker.New

// InlinePayloads is the SDK client setting for external payload storage
// that relay's processes use: every payload stays in history, as relay
// configures no storage driver, and the SDK visits a message's payloads on
// the calling goroutine. The SDK's default, 8 operations per message, suits
// drivers that upload over the network; without a driver its goroutines
// only cost. In a webhook ingest profile at concurrency 16 (relay bench
// --only ingest --cpuprofile) the SDK's payload visits took 1.79 % of the
// process's CPU with the default and 1.47 % with this; most of the rest is
// growing the stack of the goroutine the SDK starts for each workflow
// task, which no setting avoids. A worker takes the setting from the client
// it is built on.
func InlinePayloads() converter.ExternalStorage {
	return converter.ExternalStorage{Concurrency: converter.ExternalStorageConcurrency{MaxOperationsPerMessage: 1}}
}

// Options configure a worker.
type Options struct {
	// TaskQueue defaults to DefaultTaskQueue.
	TaskQueue string
	// Registry holds the connectors whose actions the worker runs.
	Registry *connectors.Registry
	// Client configures connector HTTP clients.
	Client connectors.ClientOptions
	// Resolve resolves secret references; nil means secrets.Resolve.
	Resolve func(ref string) (string, error)
	// Worker passes options through to the Temporal SDK worker. Its
	// WorkerStopTimeout (DefaultStopTimeout when 0) applies to the limited
	// connections' workers too.
	Worker sdkworker.Options
	// Flows are the loaded definitions. Each connection with a rate limit
	// or a concurrency cap gets its own activity task queue, polled here
	// with that limit; Temporal enforces the rate across all workers.
	Flows  []*definitions.Flow
	Logger *slog.Logger
	// Metrics, if set, receives the activities' and connector clients'
	// metrics. The SDK's own metrics, relay_runs_total included, go
	// through the client's MetricsHandler.
	Metrics *telemetry.Metrics
}

// Worker is relay's worker: the main one, which runs workflows and the
// activities of unlimited connections, and one per limited connection.
type Worker struct {
	main    sdkworker.Worker
	limited []sdkworker.Worker
	queues  []string
}

// Main returns the worker that polls the run task queue, for registering
// more workflows (tests, benchmarks).
func (w *Worker) Main() sdkworker.Worker { return w.main }

// Queues lists every task queue the worker polls.
func (w *Worker) Queues() []string { return w.queues }

// Start starts every worker; on failure the started ones are stopped.
func (w *Worker) Start() error {
	all := append([]sdkworker.Worker{w.main}, w.limited...)
	for i, sw := range all {
		if err := sw.Start(); err != nil {
			for _, started := range all[:i] {
				started.Stop()
			}
			return fmt.Errorf("starting worker on %s: %w", w.queues[i], err)
		}
	}
	return nil
}

// Stop stops every worker, all at once: each waits up to its stop timeout
// for its activities in flight, so one after the other they would add up.
func (w *Worker) Stop() {
	var wg sync.WaitGroup
	for _, sw := range append([]sdkworker.Worker{w.main}, w.limited...) {
		wg.Go(sw.Stop)
	}
	wg.Wait()
}

// Registrar is what Register needs: a Temporal worker, a test environment
// or a replayer.
type Registrar interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// New builds (but does not start) a worker polling opts.TaskQueue, and one
// per limited connection of opts.Flows.
func New(c client.Client, opts Options) (*Worker, error) {
	if opts.Registry == nil {
		return nil, fmt.Errorf("building worker: no connector registry")
	}
	tq := opts.TaskQueue
	if tq == "" {
		tq = DefaultTaskQueue
	}
	acts := &activities.Activities{
		Registry:      opts.Registry,
		Resolve:       opts.Resolve,
		ClientOptions: opts.Client,
		Logger:        opts.Logger,
		Metrics:       opts.Metrics,
	}
	if opts.Worker.WorkerStopTimeout == 0 {
		opts.Worker.WorkerStopTimeout = DefaultStopTimeout
	}
	w := &Worker{main: newSDKWorker(c, tq, opts.Worker), queues: []string{tq}}
	Register(w.main, opts.Registry, acts)
	for _, f := range opts.Flows {
		names := make([]string, 0, len(f.Connections))
		for name := range f.Connections {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			cfg := f.Connections[name].Config
			if !workflows.Limited(cfg) {
				continue
			}
			q := workflows.ConnectionTaskQueue(tq, f.ID, name)
			lo := sdkworker.Options{
				TaskQueueActivitiesPerSecond:       cfg.RateLimit,
				MaxConcurrentActivityExecutionSize: cfg.MaxConcurrency,
				DisableWorkflowWorker:              true,
				WorkerStopTimeout:                  opts.Worker.WorkerStopTimeout,
			}
			lw := newSDKWorker(c, q, lo)
			registerActivities(lw, opts.Registry, acts)
			w.limited = append(w.limited, lw)
			w.queues = append(w.queues, q)
		}
	}
	return w, nil
}

// SetWorkflowCacheSize bounds how many runs the process keeps in memory
// (their interpreter state and goroutines) between workflow tasks; 0 means
// DefaultWorkflowCacheSize. A cached run goes on from where it stopped; one
// evicted to make room, a run waiting for an event or a timer above all,
// costs nothing until its next task, which replays its history first. Each
// cached run costs about 60 KiB; replay costs CPU in proportion to the
// history's length (measured: an evicted run with 30 timer steps behind it
// took 4 ms of worker CPU to wake, a cached one 2 ms). A cache smaller than
// the number of runs busy at once makes them replay at every step.
//
// The cache is the SDK's, one per process: the SDK builds it with the
// process's first worker, the system workers of an embedded Temporal
// server included, and a size set later changes nothing until every worker
// has stopped. Call it once when the process starts, before any worker; a
// process that never does gets the SDK's default, 10,000.
func SetWorkflowCacheSize(size int) error {
	switch {
	case size < 0:
		return fmt.Errorf("workflow cache size %d is negative", size)
	case size == 0:
		size = DefaultWorkflowCacheSize
	}
	sdkworker.SetStickyWorkflowCacheSize(size)
	return nil
}

// Register registers the interpreter as `relay.run` and acts.Call as
// `<connector>.<action>` for every action in reg.
func Register(r Registrar, reg *connectors.Registry, acts *activities.Activities) {
	in := &workflows.Interpreter{Registry: reg}
	r.RegisterWorkflowWithOptions(in.Run, workflow.RegisterOptions{Name: workflows.RunWorkflow})
	registerActivities(r, reg, acts)
}

func registerActivities(r interface {
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}, reg *connectors.Registry, acts *activities.Activities) {
	for _, c := range reg.All() {
		for _, a := range c.Actions {
			r.RegisterActivityWithOptions(acts.Call, activity.RegisterOptions{Name: connectors.ActivityType(c.Name, a.Name)})
		}
	}
}
