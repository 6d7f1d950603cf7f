package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/relay-dev/relay/runs"
)

// StartRequest is the body of POST /v1/runs.
type StartRequest struct {
	Flow  string         `json:"flow"`
	Input map[string]any `json:"input"`
	// ID is the run's workflow ID (default `<flow>/<uuid>`). A run with
	// the same ID, open or closed, makes the start answer 409, so a client
	// may retry a start safely. An Idempotency-Key header does the same
	// for a start without an ID; a start may not have both.
	ID string `json:"id,omitempty"`
}

// RunList is the answer of GET /v1/runs.
type RunList struct {
	Runs []runs.Summary `json:"runs"`
	// NextCursor continues the list; absent on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// ReplayResponse is the answer of POST /v1/runs/{id}/replay: the plan, and
// the new run unless it was a dry run.
type ReplayResponse struct {
	Plan runs.ReplayPlan `json:"plan"`
	Run  *runs.Run       `json:"run,omitempty"`
}

// RerunRequest is the body of POST /v1/runs/{id}/rerun.
type RerunRequest struct {
	// Confirm must be true: a rerun repeats every side effect.
	Confirm bool `json:"confirm"`
}

// SkipStepRequest is the body of POST /v1/runs/{id}/skip-step.
type SkipStepRequest struct {
	// Output stands in for the parked step's output; required, null
	// allowed.
	Output json.RawMessage `json:"output"`
}

// Accepted is the answer of the operations Temporal carries out after
// answering: cancel, retry-step, skip-step.
type Accepted struct {
	WorkflowID string `json:"workflow_id"`
	Action     string `json:"action"`
	Status     string `json:"status"`
}

// BulkReplayRequest is the body of POST /v1/replays.
type BulkReplayRequest struct {
	Flow string `json:"flow"`
	// Since keeps runs that started within this duration (`2h`).
	Since      string `json:"since,omitempty"`
	FailedStep string `json:"failed_step,omitempty"`
	ErrorType  string `json:"error_type,omitempty"`
	// Rate is replays started per second (default 5).
	Rate   float64 `json:"rate,omitempty"`
	Canary int     `json:"canary,omitempty"`
	// StopAfterFailures is a fraction: 0.1 stops once more than 10% of
	// the replays that ended have failed.
	StopAfterFailures float64            `json:"stop_after_failures,omitempty"`
	Replay            runs.ReplayOptions `json:"replay"`
}

// BulkReplayResponse is the answer of POST /v1/replays.
type BulkReplayResponse struct {
	Results []runs.BulkResult `json:"results"`
	// Stopped says why the bulk replay ended before every run was handled.
	Stopped string `json:"stopped,omitempty"`
}

// bulkReplayMax bounds one bulk replay request.
const bulkReplayMax = time.Hour

func runPath(id string) string { return "/v1/runs/" + url.PathEscape(id) }

// runID is the {id} of the path: one segment, with '/' sent as %2F.
func runID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if err := checkWorkflowID(id); err != nil {
		return "", invalid("id", "%s", err)
	}
	return id, nil
}

// IdempotencyKeyHeader names the header that makes a start, replay,
// rerun, retry-step or skip-step safe to send again: the same key answers
// with what the first request did, and does nothing more.
const IdempotencyKeyHeader = "Idempotency-Key"

// idempotencyKey is the request's Idempotency-Key: "" when there is none,
// else at most 255 printable ASCII characters.
func idempotencyKey(r *http.Request) (string, error) {
	key := r.Header.Get(IdempotencyKeyHeader)
	if len(key) > 255 {
		return "", invalid(IdempotencyKeyHeader, "longer than 255 characters")
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return "", invalid(IdempotencyKeyHeader, "must be printable ASCII (a UUID, say)")
		}
	}
	return key, nil
}

// writeStarted answers a start, replay or rerun that started run, or,
// under an idempotency key an earlier request used, found it: 201, or 200
// with Idempotent-Replayed.
func writeStarted(w http.ResponseWriter, run runs.Run, body any) {
	w.Header().Set("Location", runPath(run.WorkflowID))
	if run.Existing {
		w.Header().Set("Idempotent-Replayed", "true")
		WriteJSON(w, http.StatusOK, body)
		return
	}
	WriteJSON(w, http.StatusCreated, body)
}

func checkWorkflowID(id string) error {
	if id == "" {
		return errors.New("empty")
	}
	if len(id) > 1000 {
		return errors.New("longer than 1000 bytes")
	}
	for _, c := range id {
		if !unicode.IsPrint(c) {
			return errors.New("has a control character")
		}
	}
	return nil
}

func (a *API) startRun(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req StartRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.Flow == "" {
		return invalid("flow", "required")
	}
	f, ok := a.flows[req.Flow]
	if !ok {
		return unprocessable("flow", "no flow %q; loaded: %s", req.Flow, strings.Join(sortedKeys(a.flows), ", "))
	}
	if req.ID != "" {
		if err := checkWorkflowID(req.ID); err != nil {
			return invalid("id", "%s", err)
		}
		if key != "" {
			return invalid(IdempotencyKeyHeader, "cannot be sent with an id: the id already makes the start safe to send again (a repeat answers 409); send one or the other")
		}
	}
	if req.Input == nil {
		req.Input = map[string]any{}
	}
	run, err := a.Runs.Start(r.Context(), f, req.Input, runs.StartOptions{WorkflowID: req.ID, Dedupe: req.ID != "", IdempotencyKey: key})
	var bad *runs.InputError
	if errors.As(err, &bad) {
		msg := bad.Err.Error()
		e := unprocessable("input", "%s", strings.ReplaceAll(msg, "\n", "; "))
		e.problems = strings.Split(msg, "\n")
		return e
	}
	if err != nil {
		return err
	}
	writeStarted(w, run, run)
	return nil
}

// filterParams are the list parameters that select runs; a cursor must
// come back with the same ones.
var filterParams = []string{"flow", "status", "since", "until", "failed_step", "error_type", "business_key", "replay_of"}

var listParams = append(slices.Clone(filterParams), "cursor", "limit")

func (a *API) listRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for name := range q {
		if !slices.Contains(listParams, name) {
			return invalid(name, "unknown query parameter; known: %s", strings.Join(listParams, ", "))
		}
	}
	f := runs.Filter{
		Flow:        q.Get("flow"),
		Status:      q.Get("status"),
		FailedStep:  q.Get("failed_step"),
		ErrorType:   q.Get("error_type"),
		BusinessKey: q.Get("business_key"),
		ReplayOf:    q.Get("replay_of"),
		PageSize:    50,
	}
	if f.Status != "" {
		if _, err := (runs.Filter{Status: f.Status}).Query(nil); err != nil {
			return invalid("status", "%s", err)
		}
	}
	var err error
	if f.Since, err = timeParam(q.Get("since"), "since"); err != nil {
		return err
	}
	if f.Until, err = timeParam(q.Get("until"), "until"); err != nil {
		return err
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			return invalid("limit", "must be an integer from 1 to 200, got %q", s)
		}
		f.PageSize = n
	}
	window := fmt.Sprintf("since=%q until=%q", q.Get("since"), q.Get("until"))
	if c := q.Get("cursor"); c != "" {
		// The window stays the first page's: since=2h is two hours
		// before it, on every page.
		switch err := f.Continue(c, window); {
		case errors.Is(err, runs.ErrCursorFilters):
			return invalid("cursor", "made for other filters: send it with the parameters of the first page (%s); only limit may change", strings.Join(filterParams, ", "))
		case err != nil:
			return invalid("cursor", "%s", err)
		}
	}
	list, next, err := a.Runs.List(r.Context(), f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []runs.Summary{}
	}
	WriteJSON(w, http.StatusOK, RunList{Runs: list, NextCursor: f.NextCursor(next, window)})
	return nil
}

// timeParam reads an RFC 3339 time, or a duration meaning that long ago.
func timeParam(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, invalid(name, "must be an RFC 3339 time (2026-01-02T15:04:05Z) or a duration ago (2h), got %q", s)
}

func (a *API) getRun(w http.ResponseWriter, r *http.Request) error {
	id, err := runID(r)
	if err != nil {
		return err
	}
	d, err := a.Runs.Show(r.Context(), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, d)
	return nil
}

func checkReplayOptions(o runs.ReplayOptions, prefix string) error {
	switch o.Definition {
	case "", "original", "current":
		return nil
	}
	return invalid(prefix+"definition", "must be original or current, got %q", o.Definition)
}

func (a *API) replay(w http.ResponseWriter, r *http.Request) error {
	id, err := runID(r)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var opts runs.ReplayOptions
	if err := decodeBody(w, r, &opts, true); err != nil {
		return err
	}
	if err := checkReplayOptions(opts, ""); err != nil {
		return err
	}
	opts.IdempotencyKey = key
	plan, run, err := a.Runs.Replay(r.Context(), id, opts)
	if errors.Is(err, runs.ErrPlanRefused) {
		problems := plan.Problems
		if len(problems) == 0 {
			problems = []string{err.Error()}
		}
		return &apiError{status: http.StatusUnprocessableEntity, code: "plan_refused",
			msg: "replay plan refused: " + strings.Join(problems, "; "), problems: problems}
	}
	if err != nil {
		return err
	}
	if opts.DryRun {
		WriteJSON(w, http.StatusOK, ReplayResponse{Plan: plan})
		return nil
	}
	writeStarted(w, run, ReplayResponse{Plan: plan, Run: &run})
	return nil
}

func (a *API) rerun(w http.ResponseWriter, r *http.Request) error {
	id, err := runID(r)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req RerunRequest
	if err := decodeBody(w, r, &req, true); err != nil {
		return err
	}
	if !req.Confirm {
		return &apiError{status: http.StatusBadRequest, code: "confirmation_required", field: "confirm",
			msg: `confirm: a rerun starts the run again from scratch under new idempotency keys, so every side effect (charges, orders, emails) is repeated; send {"confirm": true} to go ahead, or replay the run to reuse what already succeeded`}
	}
	run, err := a.Runs.Rerun(r.Context(), id, runs.RerunOptions{IdempotencyKey: key})
	if err != nil {
		return err
	}
	writeStarted(w, run, map[string]any{"run": run})
	return nil
}

func (a *API) cancel(w http.ResponseWriter, r *http.Request) error {
	return a.action(w, r, "cancel", a.Runs.Cancel)
}

func (a *API) retryStep(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	return a.action(w, r, "retry-step", func(ctx context.Context, id string) error {
		return a.Runs.RetryStep(ctx, id, runs.StepOptions{IdempotencyKey: key})
	})
}

// action runs an operation that takes no parameters; the body is empty or {}.
func (a *API) action(w http.ResponseWriter, r *http.Request, name string, op func(ctx context.Context, id string) error) error {
	id, err := runID(r)
	if err != nil {
		return err
	}
	var none struct{}
	if err := decodeBody(w, r, &none, true); err != nil {
		return err
	}
	if err := op(r.Context(), id); err != nil {
		return err
	}
	WriteJSON(w, http.StatusAccepted, Accepted{WorkflowID: id, Action: name, Status: "accepted"})
	return nil
}

func (a *API) skipStep(w http.ResponseWriter, r *http.Request) error {
	id, err := runID(r)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req SkipStepRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.Output == nil {
		return invalid("output", "required: the output the skipped step stands for (null for none)")
	}
	var output any
	if err := json.Unmarshal(req.Output, &output); err != nil {
		return invalid("output", "invalid JSON")
	}
	if err := a.Runs.SkipStep(r.Context(), id, output, runs.StepOptions{IdempotencyKey: key}); err != nil {
		return err
	}
	WriteJSON(w, http.StatusAccepted, Accepted{WorkflowID: id, Action: "skip-step", Status: "accepted"})
	return nil
}

func (a *API) bulkReplay(w http.ResponseWriter, r *http.Request) error {
	var req BulkReplayRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	opts := runs.BulkReplayOptions{Flow: req.Flow, FailedStep: req.FailedStep, ErrorType: req.ErrorType, Rate: req.Rate, Canary: req.Canary, StopAfterFailures: req.StopAfterFailures, Replay: req.Replay}
	switch {
	case req.Flow == "":
		return invalid("flow", "required")
	case req.Rate < 0 || req.Rate > 1000:
		return invalid("rate", "must be from 0 (default 5) to 1000 replays a second")
	case req.Canary < 0:
		return invalid("canary", "must not be negative")
	case req.StopAfterFailures < 0 || req.StopAfterFailures > 1:
		return invalid("stop_after_failures", "must be a fraction from 0 to 1 (0.1 is 10%%)")
	}
	if req.Since != "" {
		d, err := time.ParseDuration(req.Since)
		if err != nil || d <= 0 {
			return invalid("since", "must be a positive duration such as 2h, got %q", req.Since)
		}
		opts.Since = d
	}
	if err := checkReplayOptions(req.Replay, "replay."); err != nil {
		return err
	}
	// A paced bulk replay outlasts the server's write timeout; the request
	// context still ends it when the client goes away.
	extendDeadlines(http.NewResponseController(w), bulkReplayMax+time.Minute)
	ctx, cancel := context.WithTimeout(r.Context(), bulkReplayMax)
	defer cancel()
	results, err := a.Runs.BulkReplay(ctx, opts, func(runs.BulkResult) {})
	if err != nil && len(results) == 0 {
		return err
	}
	out := BulkReplayResponse{Results: results}
	if out.Results == nil {
		out.Results = []runs.BulkResult{}
	}
	if err != nil {
		a.log.Info("bulk replay stopped", "request_id", RequestID(r), "err", err)
		out.Stopped = classify(err).msg
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}
