package worker_test

import (
	"strings"
	"testing"

	"github.com/relay-dev/relay/worker"
)

func TestNegativeWorkflowCacheSizeIsRefused(t *testing.T) {
	if err := worker.SetWorkflowCacheSize(-1); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("SetWorkflowCacheSize(-1) = %v, want an error", err)
	}
	for _, size := range []int{0, 1, worker.DefaultWorkflowCacheSize} {
		if err := worker.SetWorkflowCacheSize(size); err != nil {
			t.Errorf("SetWorkflowCacheSize(%d) = %v", size, err)
		}
	}
}
