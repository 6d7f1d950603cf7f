package runs

import (
	"context"
	"errors"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/workflows"
)

// TestRedoIdempotencyKey: a replay or rerun sent again with the same
// idempotency key starts nothing and returns the run the first one
// started; without a key, or under another, each starts its own run.
func TestRedoIdempotencyKey(t *testing.T) {
	const original = "sync/order-1"
	tests := []struct {
		name         string
		op           string // replay or rerun
		keys         []string
		wantStarted  int
		wantExisting []bool
	}{
		{name: "replay, same key", op: "replay", keys: []string{"k", "k", "k"}, wantStarted: 1, wantExisting: []bool{false, true, true}},
		{name: "replay, two keys", op: "replay", keys: []string{"k", "l"}, wantStarted: 2, wantExisting: []bool{false, false}},
		{name: "replay, no key", op: "replay", keys: []string{"", ""}, wantStarted: 2, wantExisting: []bool{false, false}},
		{name: "rerun, same key", op: "rerun", keys: []string{"k", "k"}, wantStarted: 1, wantExisting: []bool{false, true}},
		{name: "rerun, no key", op: "rerun", keys: []string{"", ""}, wantStarted: 2, wantExisting: []bool{false, false}},
		{name: "a replay and a rerun under one key", op: "both", keys: []string{"k", "k"}, wantStarted: 2, wantExisting: []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeTemporal()
			f := parseSample(t)
			ft.addFailed(f, original, "")
			c := fakeClient(ft, f)
			var first Run
			for i, key := range tt.keys {
				var run Run
				var err error
				if op := tt.op; op == "replay" || op == "both" && i == 0 {
					_, run, err = c.Replay(context.Background(), original, ReplayOptions{IdempotencyKey: key})
				} else {
					run, err = c.Rerun(context.Background(), original, RerunOptions{IdempotencyKey: key})
				}
				if err != nil {
					t.Fatalf("call %d: %v", i+1, err)
				}
				if run.Existing != tt.wantExisting[i] || !strings.HasPrefix(run.WorkflowID, original+"/") || run.RunID == "" {
					t.Errorf("call %d: run %+v, want existing %v", i+1, run, tt.wantExisting[i])
				}
				if i == 0 {
					first = run
				} else if run.Existing && (run.WorkflowID != first.WorkflowID || run.RunID != first.RunID) {
					t.Errorf("call %d returned %+v, not the first call's run %+v", i+1, run, first)
				}
			}
			if got := ft.startedIDs(); len(got) != tt.wantStarted {
				t.Errorf("started %v, want %d runs", got, tt.wantStarted)
			}
		})
	}
}

// TestBulkReplaySkipsReplayedRuns: a bulk replay leaves out the failed runs
// that already have a replay, so that sending it again (after a client
// timeout, or to retry the runs that failed) does not replay them a second
// time under fresh idempotency keys; a replay that failed is replayed, as
// the latest run of its chain. The canary is the first run replayed, not
// the first listed.
func TestBulkReplaySkipsReplayedRuns(t *testing.T) {
	type run struct {
		id, replayOf string
		failed       bool
		unlisted     bool // failed, but not listed yet (visibility lags)
		invisible    bool // not listed at all yet, not even as a replay
	}
	tests := []struct {
		name   string
		runs   []run // oldest first; failed runs are listed newest first
		canary int
		// failReplays makes every replay fail.
		failReplays bool
		// times is how often the bulk replay is sent (default once); want
		// is what the last one did to each failed run.
		times       int
		want        map[string]string
		wantStarted int
	}{
		{name: "a replayed run is skipped",
			runs: []run{{id: "sync/1", failed: true}, {id: "sync/1/replay-1", replayOf: "sync/1"}, {id: "sync/2", failed: true}},
			want: map[string]string{"sync/1": "skipped: already replayed by sync/1/replay-1", "sync/2": "completed"}, wantStarted: 1},
		{name: "sent twice, each run is replayed once",
			runs:  []run{{id: "sync/1", failed: true}, {id: "sync/2", failed: true}},
			times: 2,
			want:  map[string]string{"sync/1": "skipped: already replayed by sync/1/replay-", "sync/2": "skipped: already replayed by sync/2/replay-"}, wantStarted: 2},
		{name: "a failed replay is replayed, its original is not",
			runs: []run{{id: "sync/1", failed: true}, {id: "sync/1/replay-1", replayOf: "sync/1", failed: true}},
			want: map[string]string{"sync/1": "skipped: already replayed by sync/1/replay-1", "sync/1/replay-1": "completed"}, wantStarted: 1},
		{name: "a failed replay not listed yet is replayed through its original",
			runs: []run{{id: "sync/1", failed: true}, {id: "sync/1/replay-1", replayOf: "sync/1", failed: true, unlisted: true}},
			want: map[string]string{"sync/1": "completed"}, wantStarted: 1},
		{name: "a chain of failed replays replays the newest",
			runs: []run{{id: "sync/1", failed: true}, {id: "sync/1/replay-1", replayOf: "sync/1", failed: true}, {id: "sync/1/replay-1/replay-2", replayOf: "sync/1/replay-1", failed: true, unlisted: true}},
			want: map[string]string{"sync/1": "skipped: already replayed by sync/1/replay-1/replay-2/replay-", "sync/1/replay-1": "completed"}, wantStarted: 1},
		{name: "a replay another bulk replay started, not listed yet, is not started again",
			runs: []run{{id: "sync/1", failed: true}, {id: redo("sync/1", "", "replay", bulkReplayKey("sync/1")).WorkflowID, unlisted: true}},
			want: map[string]string{"sync/1": "skipped: already replayed by sync/1/replay-"}, wantStarted: 0},
		{name: "a failed replay an earlier bulk replay started, not listed at all yet, is replayed",
			runs: []run{{id: "sync/1", failed: true}, {id: keyedID("sync/1", "replay", bulkReplayKey("sync/1")), replayOf: "sync/1", failed: true, invisible: true}},
			want: map[string]string{"sync/1": "completed"}, wantStarted: 1},
		{name: "a replay newer than the bulk replay's is followed",
			runs: []run{{id: "sync/1", failed: true}, {id: keyedID("sync/1", "replay", bulkReplayKey("sync/1")), replayOf: "sync/1", failed: true}, {id: "sync/1/replay-2", replayOf: "sync/1"}},
			want: map[string]string{"sync/1": "skipped: already replayed by sync/1/replay-2", keyedID("sync/1", "replay", bulkReplayKey("sync/1")): "skipped: already replayed by sync/1/replay-2"}, wantStarted: 0},
		{name: "the canary is the first run replayed",
			runs:   []run{{id: "sync/1", failed: true}, {id: "sync/2", failed: true}, {id: "sync/3", failed: true}, {id: "sync/3/replay-1", replayOf: "sync/3"}},
			canary: 1, failReplays: true,
			want: map[string]string{"sync/3": "skipped: already replayed by sync/3/replay-1", "sync/2": "failed", "sync/1": "skipped: stopped: a canary replay failed"}, wantStarted: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeTemporal()
			f := parseSample(t)
			for _, r := range tt.runs {
				if r.failed {
					ft.addFailed(f, r.id, r.replayOf)
					ft.runs[r.id].unlisted = r.unlisted
				} else {
					ft.addCompleted(f, r.id, r.replayOf)
				}
				ft.runs[r.id].invisible = r.invisible
			}
			ft.failStarts = tt.failReplays
			c := fakeClient(ft, f)
			var results []BulkResult
			for range max(tt.times, 1) {
				var err error
				results, err = c.BulkReplay(context.Background(), BulkReplayOptions{Flow: "sync", Rate: 1000, Canary: tt.canary}, nil)
				if err != nil {
					t.Fatal(err)
				}
			}
			got := map[string]string{}
			for _, r := range results {
				got[r.Original] = r.Status
				if r.Reason != "" && r.Status == "skipped" {
					got[r.Original] += ": " + r.Reason
				}
			}
			for id, want := range tt.want {
				if !strings.HasPrefix(got[id], want) {
					t.Errorf("%s: %q, want %q", id, got[id], want)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("results %v, want %v", got, tt.want)
			}
			if started := ft.startedIDs(); len(started) != tt.wantStarted {
				t.Errorf("started %v, want %d replays", started, tt.wantStarted)
			}
		})
	}
}

// TestStepActionIdempotencyKey: a retry-step or skip-step sent again with
// the same idempotency key is applied once, and the repeat gets the first
// one's outcome, even once the run has closed; without a key, or under
// another, each is applied.
func TestStepActionIdempotencyKey(t *testing.T) {
	boom := errors.New("rejected: the run has no parked step")
	tests := []struct {
		name string
		op   string // retry or skip
		keys []string
		// closeAfter closes the run after this many calls (0: never).
		closeAfter int
		// updateErr is the outcome of every applied update.
		updateErr   error
		wantApplied int
		wantErr     []bool
		wantIDs     []string // the applied updates' IDs: the key's digest, never the key
	}{
		{name: "skip, same key", op: "skip", keys: []string{"k", "k"}, wantApplied: 1, wantErr: []bool{false, false}, wantIDs: []string{keyedName(workflows.SkipStepUpdate, "k")}},
		{name: "retry, same key", op: "retry", keys: []string{"k", "k", "k"}, wantApplied: 1, wantErr: []bool{false, false, false}, wantIDs: []string{keyedName(workflows.RetryStepUpdate, "k")}},
		{name: "skip, two keys", op: "skip", keys: []string{"k", "l"}, wantApplied: 2, wantErr: []bool{false, false}},
		{name: "skip, no key", op: "skip", keys: []string{"", ""}, wantApplied: 2, wantErr: []bool{false, false}, wantIDs: []string{"", ""}},
		{name: "the same key after the run closed", op: "skip", keys: []string{"k", "k"}, closeAfter: 1, wantApplied: 1, wantErr: []bool{false, false}},
		{name: "a refusal is repeated too", op: "retry", keys: []string{"k", "k"}, updateErr: boom, wantApplied: 1, wantErr: []bool{true, true}},
		{name: "a retry and a skip under one key", op: "both", keys: []string{"k", "k"}, wantApplied: 2, wantErr: []bool{false, false}, wantIDs: []string{keyedName(workflows.RetryStepUpdate, "k"), keyedName(workflows.SkipStepUpdate, "k")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeTemporal()
			ft.updateErr = tt.updateErr
			f := parseSample(t)
			ft.add(&fakeRun{id: "sync/1", status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING})
			c := fakeClient(ft, f)
			for i, key := range tt.keys {
				var err error
				if tt.op == "retry" || tt.op == "both" && i == 0 {
					err = c.RetryStep(context.Background(), "sync/1", StepOptions{IdempotencyKey: key})
				} else {
					err = c.SkipStep(context.Background(), "sync/1", map[string]any{"call": i}, StepOptions{IdempotencyKey: key})
				}
				if (err != nil) != tt.wantErr[i] {
					t.Errorf("call %d: error %v, want one: %v", i+1, err, tt.wantErr[i])
				}
				if i+1 == tt.closeAfter {
					ft.mu.Lock()
					ft.runs["sync/1"].status = enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
					ft.mu.Unlock()
				}
			}
			if len(ft.updates) != tt.wantApplied {
				t.Fatalf("%d updates applied, want %d", len(ft.updates), tt.wantApplied)
			}
			for i, id := range tt.wantIDs {
				if ft.updates[i].UpdateID != id {
					t.Errorf("update %d has ID %q, want %q", i+1, ft.updates[i].UpdateID, id)
				}
			}
		})
	}
}

// TestOperationsOnClosedRuns: cancel, retry-step and skip-step of a run
// that has closed say so with a *RunClosedError (the API's 409), not with
// Temporal's NotFound (404, as if there were no run) or, for a cancel,
// Temporal's success that does nothing; a run that does not exist is
// ErrNotFound.
func TestOperationsOnClosedRuns(t *testing.T) {
	ops := map[string]func(c *Client, id string) error{
		"cancel":     func(c *Client, id string) error { return c.Cancel(context.Background(), id) },
		"retry-step": func(c *Client, id string) error { return c.RetryStep(context.Background(), id, StepOptions{}) },
		"skip-step":  func(c *Client, id string) error { return c.SkipStep(context.Background(), id, nil, StepOptions{}) },
	}
	tests := []struct {
		name       string
		status     enumspb.WorkflowExecutionStatus // of sync/1
		id         string
		wantClosed string // the RunClosedError's status; "" for none
		wantNotFnd bool
	}{
		{name: "failed", status: enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, id: "sync/1", wantClosed: "failed"},
		{name: "completed", status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, id: "sync/1", wantClosed: "completed"},
		{name: "cancelled", status: enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, id: "sync/1", wantClosed: "cancelled"},
		{name: "open", status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, id: "sync/1"},
		{name: "no such run", status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, id: "sync/2", wantNotFnd: true},
	}
	for _, tt := range tests {
		for op, call := range ops {
			t.Run(tt.name+" "+op, func(t *testing.T) {
				ft := newFakeTemporal()
				ft.add(&fakeRun{id: "sync/1", status: tt.status})
				err := call(fakeClient(ft, parseSample(t)), tt.id)
				var closed *RunClosedError
				switch {
				case tt.wantClosed != "":
					if !errors.As(err, &closed) || closed.Status != tt.wantClosed || closed.WorkflowID != tt.id {
						t.Fatalf("error %v, want a RunClosedError for %s, %s", err, tt.id, tt.wantClosed)
					}
					if len(ft.cancels) != 0 || len(ft.updates) != 0 {
						t.Errorf("the closed run got cancels %v, updates %d", ft.cancels, len(ft.updates))
					}
				case tt.wantNotFnd:
					if errors.As(err, &closed) || err == nil {
						t.Fatalf("error %v, want a not-found one", err)
					}
					if !errors.Is(err, ErrNotFound) {
						t.Errorf("error %v is not ErrNotFound", err)
					}
				default:
					if err != nil {
						t.Fatalf("open run: %v", err)
					}
				}
			})
		}
	}
}

// TestReplayKeepsStepsError: a replay that cannot read the run's steps
// (the run's query failed: no worker polls, Temporal timed out) returns
// that error wrapped, so that the API can tell a transient failure (503)
// from a refusal; it was flattened into a string, which the API could only
// show raw.
func TestReplayKeepsStepsError(t *testing.T) {
	noPoller := status.Error(codes.FailedPrecondition, "no poller seen for task queue recently, worker may be down")
	tests := []struct {
		name string
		err  error
		want func(error) bool
	}{
		{name: "no worker polls", err: noPoller, want: func(err error) bool {
			st, ok := status.FromError(err)
			return ok && st.Code() == codes.FailedPrecondition
		}},
		{name: "Temporal timed out", err: serviceerror.NewDeadlineExceeded("query timed out"), want: func(err error) bool {
			var de *serviceerror.DeadlineExceeded
			return errors.As(err, &de)
		}},
		{name: "the context ended", err: context.DeadlineExceeded, want: func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{name: "Temporal unavailable", err: serviceerror.NewUnavailable("connection refused"), want: func(err error) bool {
			var u *serviceerror.Unavailable
			return errors.As(err, &u)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeTemporal()
			f := parseSample(t)
			ft.addFailed(f, "sync/1", "")
			ft.queryErr = tt.err
			_, _, err := fakeClient(ft, f).Replay(context.Background(), "sync/1", ReplayOptions{})
			if err == nil || !tt.want(err) || !strings.Contains(err.Error(), "reading the steps of sync/1") {
				t.Errorf("error %v (%T), want %v wrapped with the run named", err, err, tt.err)
			}
			if len(ft.startedIDs()) != 0 {
				t.Errorf("started %v", ft.startedIDs())
			}
		})
	}
}

// TestKeyReusedWithOtherParameters: as Stripe answers, a start or replay
// sent again under its idempotency key with other parameters is refused
// with ErrKeyReused and starts nothing, since a key names one request; a
// true repeat, or a replay that leaves a parameter to its default, gets
// the first run.
func TestKeyReusedWithOtherParameters(t *testing.T) {
	const original = "counted/order-1"
	type call struct {
		op     string // start or replay
		input  map[string]any
		from   string
		reused bool // want ErrKeyReused
	}
	tests := []struct {
		name  string
		calls []call
	}{
		{name: "a start repeated", calls: []call{{op: "start", input: map[string]any{"n": 1}}, {op: "start", input: map[string]any{"n": 1}}}},
		{name: "a start with other input", calls: []call{{op: "start", input: map[string]any{"n": 1}}, {op: "start", input: map[string]any{"n": 2}, reused: true}}},
		{name: "a start with an input left out", calls: []call{{op: "start", input: map[string]any{"n": 1}}, {op: "start", input: map[string]any{}, reused: true}}},
		{name: "a replay repeated", calls: []call{{op: "replay", from: "b", input: map[string]any{"n": 3}}, {op: "replay", from: "b", input: map[string]any{"n": 3}}}},
		{name: "a replay from another step", calls: []call{{op: "replay", from: "b"}, {op: "replay", from: "a", reused: true}}},
		{name: "a replay with other input", calls: []call{{op: "replay", input: map[string]any{"n": 3}}, {op: "replay", input: map[string]any{"n": 4}, reused: true}}},
		{name: "a replay repeated with the defaults", calls: []call{{op: "replay", from: "b", input: map[string]any{"n": 3}}, {op: "replay"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := definitions.Parse("counted.yaml", []byte("id: counted\nversion: 1\ninputs: {n: {type: integer}}\nsteps:\n  - {id: a, set: {x: 1}}\n  - {id: b, set: {y: 2}}\n"), nil)
			if err != nil {
				t.Fatal(err)
			}
			ft := newFakeTemporal()
			ft.addFailed(f, original, "")
			c := fakeClient(ft, f)
			for i, call := range tt.calls {
				var err error
				if call.op == "start" {
					_, err = c.Start(context.Background(), f, call.input, StartOptions{IdempotencyKey: "k"})
				} else {
					_, _, err = c.Replay(context.Background(), original, ReplayOptions{From: call.from, Input: call.input, IdempotencyKey: "k"})
				}
				if errors.Is(err, ErrKeyReused) != call.reused || err != nil && !call.reused {
					t.Fatalf("call %d: error %v, want ErrKeyReused: %v", i+1, err, call.reused)
				}
			}
			if got := ft.startedIDs(); len(got) != 1 {
				t.Errorf("started %v, want the first call's run alone", got)
			}
		})
	}
}
