package workflows_test

import (
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/relay-dev/relay/activities"
	"github.com/relay-dev/relay/connectors/builtin"
	"github.com/relay-dev/relay/worker"
)

// replayer adapts a WorkflowReplayer to worker.Registrar; activities are not
// needed to replay.
type replayer struct{ sdkworker.WorkflowReplayer }

func (replayer) RegisterActivityWithOptions(any, activity.RegisterOptions) {}

func (r replayer) RegisterWorkflowWithOptions(w any, o workflow.RegisterOptions) {
	r.WorkflowReplayer.RegisterWorkflowWithOptions(w, o)
}

// TestReplayRecordedHistories replays histories recorded from real runs on
// the embedded server (see e2e, -record-histories). A change to the
// interpreter that would break runs in flight fails here.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/replay/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories under testdata/replay; record them with: go test ./e2e -run 'TestOrderFlow|TestParkedRun|TestForeachBatchesKeepVars|TestRetryParkedFlowStep|TestRetryParkedIfStepUndoesOnce' -record-histories")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := sdkworker.NewWorkflowReplayer()
			reg := builtin.Registry()
			worker.Register(replayer{r}, reg, &activities.Activities{Registry: reg})
			file, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer file.Close()
			h, err := client.HistoryFromJSON(file, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatalf("reading %s: %v", f, err)
			}
			// Child workflow IDs derive from the run's own ID: replay under it.
			started := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
			opts := sdkworker.ReplayWorkflowHistoryOptions{OriginalExecution: workflow.Execution{ID: started.GetWorkflowId(), RunID: started.GetOriginalExecutionRunId()}}
			if err := r.ReplayWorkflowHistoryWithOptions(nil, h, opts); err != nil {
				t.Fatalf("replaying %s: %v", f, err)
			}
		})
	}
}
