package cli

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/runs"
)

// TestReconcileSchedulesRetries: a reconcile at start that fails (Temporal
// unreachable longer than the SDK retries) is retried in the background
// until one succeeds, rather than leaving the schedules as they were until
// the next restart; and the retries stop with ctx.
func TestReconcileSchedulesRetries(t *testing.T) {
	defer func(first, most time.Duration) { reconcileRetry, reconcileRetryMax = first, most }(reconcileRetry, reconcileRetryMax)
	reconcileRetry, reconcileRetryMax = time.Millisecond, 4*time.Millisecond
	f, err := definitions.Parse("nightly.yaml", []byte("id: nightly\nversion: 1\ntrigger: {schedule: {cron: \"0 6 * * *\"}}\nsteps: [{id: a, set: {x: 1}}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cat := &catalog{flows: map[string]*definitions.Flow{f.ID: f}}
	rc := &runs.Client{Namespace: "default", TaskQueue: "relay", Flows: cat.flows}
	tests := []struct {
		name     string
		failures int // Describe calls that fail before Temporal answers
		retried  bool
	}{
		{"first attempt succeeds", 0, false},
		{"one failure", 1, true},
		{"several failures", 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &unreachableSchedules{failures: tt.failures}
			logs := &lockedBuffer{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			reconcileSchedules(ctx, scheduleOnlyClient{sc: sc}, rc, cat, slog.New(slog.NewTextHandler(logs, nil)))
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(logs.String(), "schedules reconciled") && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := sc.createdIDs(); got != "relay/nightly" {
				t.Fatalf("created %q, want relay/nightly; log:\n%s", got, logs.String())
			}
			if retried := strings.Contains(logs.String(), "retrying"); retried != tt.retried {
				t.Errorf("log says retrying: %v, want %v; log:\n%s", retried, tt.retried, logs.String())
			}
		})
	}

	t.Run("stops with ctx", func(t *testing.T) {
		sc := &unreachableSchedules{failures: 1 << 30}
		ctx, cancel := context.WithCancel(context.Background())
		reconcileSchedules(ctx, scheduleOnlyClient{sc: sc}, rc, cat, slog.New(slog.DiscardHandler))
		cancel()
		time.Sleep(20 * time.Millisecond)
		before := sc.calls()
		time.Sleep(50 * time.Millisecond)
		if after := sc.calls(); after != before {
			t.Errorf("still reconciling after ctx ended: %d calls, then %d", before, after)
		}
	})
}

// lockedBuffer is a bytes.Buffer that a logger may write while a test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// scheduleOnlyClient is a Temporal client whose only working part is
// ScheduleClient.
type scheduleOnlyClient struct {
	client.Client
	sc client.ScheduleClient
}

func (c scheduleOnlyClient) ScheduleClient() client.ScheduleClient { return c.sc }

// unreachableSchedules fails its first failures Describe calls as an
// unreachable Temporal does, then has no schedules and creates them.
type unreachableSchedules struct {
	client.ScheduleClient
	mu        sync.Mutex
	failures  int
	describes int
	created   []string
}

func (s *unreachableSchedules) createdIDs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.created, ",")
}

func (s *unreachableSchedules) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.describes
}

func (s *unreachableSchedules) GetHandle(_ context.Context, id string) client.ScheduleHandle {
	return &unreachableHandle{s: s, id: id}
}

func (s *unreachableSchedules) Create(_ context.Context, o client.ScheduleOptions) (client.ScheduleHandle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.created = append(s.created, o.ID)
	return &unreachableHandle{s: s, id: o.ID}, nil
}

func (s *unreachableSchedules) List(context.Context, client.ScheduleListOptions) (client.ScheduleListIterator, error) {
	return noSchedules{}, nil
}

type noSchedules struct{}

func (noSchedules) HasNext() bool                            { return false }
func (noSchedules) Next() (*client.ScheduleListEntry, error) { return nil, nil }

type unreachableHandle struct {
	client.ScheduleHandle
	s  *unreachableSchedules
	id string
}

func (h *unreachableHandle) Describe(context.Context) (*client.ScheduleDescription, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	h.s.describes++
	if h.s.failures > 0 {
		h.s.failures--
		return nil, serviceerror.NewUnavailable("connection refused")
	}
	return nil, serviceerror.NewNotFound("schedule not found")
}

// TestKeepSchedules: reconcile deletes no schedule when the loaded flows
// are likely not all the operator deployed: refused files, the bundled
// examples (no definitions folder in the working directory), or none.
func TestKeepSchedules(t *testing.T) {
	one := map[string]*definitions.Flow{"a": {ID: "a"}}
	tests := []struct {
		name string
		cat  catalog
		keep bool
	}{
		{"the deployed flows", catalog{flows: one, source: "flows"}, false},
		{"a refused file", catalog{flows: one, source: "flows", refused: 1}, true},
		{"the bundled examples", catalog{flows: one, source: "bundled flows", bundled: true}, true},
		{"an empty folder", catalog{flows: map[string]*definitions.Flow{}, source: "flows"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cat.keepSchedules(); (got != "") != tt.keep {
				t.Errorf("keepSchedules() = %q, want a reason: %v", got, tt.keep)
			}
		})
	}
}
