// Package worker builds the Temporal worker that runs relay: the
// `relay.run` interpreter and one activity per connector action, all
// registered under stable names.
package worker

import (
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/relay-dev/relay/activities"
	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/workflows"
)

// DefaultTaskQueue is the task queue relay's runs and workers use unless
// told otherwise.
const DefaultTaskQueue = "relay"

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
	// Worker passes options through to the Temporal SDK worker.
	Worker sdkworker.Options
	Logger *slog.Logger
}

// Registrar is what Register needs: a Temporal worker, a test environment
// or a replayer.
type Registrar interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// New builds (but does not start) a worker polling opts.TaskQueue.
func New(c client.Client, opts Options) (sdkworker.Worker, error) {
	if opts.Registry == nil {
		return nil, fmt.Errorf("building worker: no connector registry")
	}
	tq := opts.TaskQueue
	if tq == "" {
		tq = DefaultTaskQueue
	}
	w := sdkworker.New(c, tq, opts.Worker)
	Register(w, opts.Registry, &activities.Activities{
		Registry:      opts.Registry,
		Resolve:       opts.Resolve,
		ClientOptions: opts.Client,
		Logger:        opts.Logger,
	})
	return w, nil
}

// Register registers the interpreter as `relay.run` and acts.Call as
// `<connector>.<action>` for every action in reg.
func Register(r Registrar, reg *connectors.Registry, acts *activities.Activities) {
	in := &workflows.Interpreter{Registry: reg}
	r.RegisterWorkflowWithOptions(in.Run, workflow.RegisterOptions{Name: workflows.RunWorkflow})
	for _, c := range reg.All() {
		for _, a := range c.Actions {
			r.RegisterActivityWithOptions(acts.Call, activity.RegisterOptions{Name: connectors.ActivityType(c.Name, a.Name)})
		}
	}
}
