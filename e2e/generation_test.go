package e2e_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/relay-dev/relay/workflows"
)

// TestNewerGenerationWaitsForAnUpgradedWorker: a run started for an
// interpreter generation this worker does not know fails its workflow
// task, saying why, and stays open for a worker that knows it; it is
// neither run with the wrong behaviour nor failed.
func TestNewerGenerationWaitsForAnUpgradedWorker(t *testing.T) {
	e := startEnv(t, "", nil)
	flow := e.load(t, `
id: from-the-future
version: 1
steps:
  - {id: a, set: {x: 1}}
`, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := e.runs.Input(flow, nil)
	if err != nil {
		t.Fatal(err)
	}
	in.Generation = workflows.Generation + 1
	const id = "from-the-future/1"
	if _, err := e.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: e.runs.TaskQueue}, workflows.RunWorkflow, in); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.client.TerminateWorkflow(context.Background(), id, "", "test over") }()

	var failure string
	eventually(t, "the run's workflow task failure", func() error {
		for _, ev := range history(t, e, id).GetEvents() {
			if a := ev.GetWorkflowTaskFailedEventAttributes(); a != nil {
				failure = a.GetFailure().GetMessage()
				return nil
			}
		}
		return errors.New("no workflow task failure recorded")
	})
	if !strings.Contains(failure, "generation") || !strings.Contains(failure, "upgrade it") {
		t.Errorf("workflow task failure %q does not say the worker is too old", failure)
	}
	desc, err := e.client.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("run is %s, want still running, for a worker that knows its generation", st)
	}
}
