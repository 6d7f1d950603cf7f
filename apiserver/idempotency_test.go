package apiserver

import (
	"cmp"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestRunIdempotencyKey: a client that sends a start, replay or rerun
// again after a timeout, with the same Idempotency-Key, gets the run the
// first request started (200, Idempotent-Replayed) and no second run, which
// would repeat the steps' side effects under fresh idempotency keys. A
// start whose body has an id is deduplicated by it already (a repeat
// answers 409), so a key with an id is refused rather than one of them
// silently ignored.
func TestRunIdempotencyKey(t *testing.T) {
	const replay, rerun, start = escapedRun + "/replay", escapedRun + "/rerun", "/v1/runs"
	const confirm, hello = `{"confirm":true}`, `{"flow":"hello"}`
	tests := []struct {
		name, path, body string
		keys             []string // one request per key; "" sends none
		wantStatus       []int
		wantRuns         int // distinct runs named in the answers
		wantStarted      int // runs, replays and reruns started
	}{
		{name: "replay retried with its key", path: replay, body: `{}`, keys: []string{"k-1", "k-1"}, wantStatus: []int{201, 200}, wantRuns: 1, wantStarted: 1},
		{name: "replay retried three times", path: replay, keys: []string{"k-1", "k-1", "k-1"}, wantStatus: []int{201, 200, 200}, wantRuns: 1, wantStarted: 1},
		{name: "replays under two keys", path: replay, keys: []string{"k-1", "k-2"}, wantStatus: []int{201, 201}, wantRuns: 2, wantStarted: 2},
		{name: "replays without a key", path: replay, keys: []string{"", ""}, wantStatus: []int{201, 201}, wantRuns: 2, wantStarted: 2},
		{name: "rerun retried with its key", path: rerun, body: confirm, keys: []string{"k-1", "k-1"}, wantStatus: []int{201, 200}, wantRuns: 1, wantStarted: 1},
		{name: "reruns under two keys", path: rerun, body: confirm, keys: []string{"k-1", "k-2"}, wantStatus: []int{201, 201}, wantRuns: 2, wantStarted: 2},
		{name: "start retried with its key", path: start, body: `{"flow":"hello","input":{"name":"Ada"}}`, keys: []string{"k-1", "k-1"}, wantStatus: []int{201, 200}, wantRuns: 1, wantStarted: 1},
		{name: "start retried three times", path: start, body: hello, keys: []string{"k-1", "k-1", "k-1"}, wantStatus: []int{201, 200, 200}, wantRuns: 1, wantStarted: 1},
		{name: "starts under two keys", path: start, body: hello, keys: []string{"k-1", "k-2"}, wantStatus: []int{201, 201}, wantRuns: 2, wantStarted: 2},
		{name: "starts without a key", path: start, body: hello, keys: []string{"", ""}, wantStatus: []int{201, 201}, wantRuns: 2, wantStarted: 2},
		{name: "a start with a key and an id", path: start, body: `{"flow":"hello","id":"hello/ada"}`, keys: []string{"k-1"}, wantStatus: []int{400}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFakeRuns()
			h := testServer(t, fr).Handler()
			runsSeen := map[string]bool{}
			for i, key := range tt.keys {
				req := request{method: "POST", path: tt.path, body: tt.body, header: map[string]string{}}
				if key != "" {
					req.header["Idempotency-Key"] = key
				}
				rec := do(t, h, req)
				if rec.Code != tt.wantStatus[i] {
					t.Fatalf("request %d: status %d, want %d: %s", i+1, rec.Code, tt.wantStatus[i], rec.Body)
				}
				if rec.Code == http.StatusBadRequest {
					if e := errorBody(t, rec); e.Field != "Idempotency-Key" || !strings.Contains(e.Message, "id") {
						t.Errorf("request %d: error %+v, want the header and id named", i+1, e)
					}
					continue
				}
				if replayed := rec.Header().Get("Idempotent-Replayed") == "true"; replayed != (rec.Code == http.StatusOK) {
					t.Errorf("request %d: Idempotent-Replayed %q with status %d", i+1, rec.Header().Get("Idempotent-Replayed"), rec.Code)
				}
				// A start answers with the run; a replay or rerun with
				// {"run": ...}.
				var body struct {
					WorkflowID string `json:"workflow_id"`
					Run        struct {
						WorkflowID string `json:"workflow_id"`
					} `json:"run"`
				}
				err := json.Unmarshal(rec.Body.Bytes(), &body)
				id := cmp.Or(body.WorkflowID, body.Run.WorkflowID)
				if err != nil || id == "" {
					t.Fatalf("request %d: no run in %s", i+1, rec.Body)
				}
				if loc := rec.Header().Get("Location"); loc != runPath(id) {
					t.Errorf("request %d: Location %q for run %s", i+1, loc, id)
				}
				runsSeen[id] = true
			}
			if started := fr.starts + fr.redos; len(runsSeen) != tt.wantRuns || started != tt.wantStarted {
				t.Errorf("answers named %d runs and %d were started, want %d and %d", len(runsSeen), started, tt.wantRuns, tt.wantStarted)
			}
		})
	}
}

// TestIdempotencyKeyChecked: a key that cannot be one is refused with 400
// naming the header, before anything starts.
func TestIdempotencyKeyChecked(t *testing.T) {
	for name, key := range map[string]string{
		"too long":     strings.Repeat("k", 256),
		"control byte": "k\x01",
		"non-ASCII":    "clé",
	} {
		for _, path := range []string{"/v1/runs", escapedRun + "/replay", escapedRun + "/rerun", escapedRun + "/retry-step", escapedRun + "/skip-step"} {
			t.Run(name+" "+path, func(t *testing.T) {
				body := map[string]string{"runs": `{"flow":"hello"}`, "rerun": `{"confirm":true}`, "skip-step": `{"output":null}`}[path[strings.LastIndex(path, "/")+1:]]
				fr := newFakeRuns()
				rec := do(t, testServer(t, fr).Handler(), request{method: "POST", path: path, body: body, header: map[string]string{"Idempotency-Key": key}})
				if rec.Code != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %s", rec.Code, rec.Body)
				}
				if e := errorBody(t, rec); e.Field != "Idempotency-Key" || !strings.HasPrefix(e.Message, "Idempotency-Key: ") {
					t.Errorf("error %+v, want the header named", e)
				}
				if fr.starts != 0 || fr.redos != 0 || len(fr.calls) != 0 {
					t.Errorf("%d runs started, calls %v", fr.starts+fr.redos, fr.calls)
				}
			})
		}
	}
}

// TestStepIdempotencyKey: retry-step and skip-step pass the request's
// Idempotency-Key on, which makes Temporal apply a repeat of the same
// update once (runs.StepOptions).
func TestStepIdempotencyKey(t *testing.T) {
	tests := []struct {
		name, path, body, key string
	}{
		{name: "retry-step with a key", path: escapedRun + "/retry-step", key: "3f0c1a52-retry"},
		{name: "skip-step with a key", path: escapedRun + "/skip-step", body: `{"output":{"id":"INV-1"}}`, key: "3f0c1a52-skip"},
		{name: "retry-step without a key", path: escapedRun + "/retry-step"},
		{name: "skip-step without a key", path: escapedRun + "/skip-step", body: `{"output":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFakeRuns()
			req := request{method: "POST", path: tt.path, body: tt.body, header: map[string]string{}}
			if tt.key != "" {
				req.header["Idempotency-Key"] = tt.key
			}
			rec := do(t, testServer(t, fr).Handler(), req)
			if rec.Code != http.StatusAccepted {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if len(fr.stepKeys) != 1 || fr.stepKeys[0] != tt.key {
				t.Errorf("the backend got keys %q, want [%q]", fr.stepKeys, tt.key)
			}
		})
	}
}
