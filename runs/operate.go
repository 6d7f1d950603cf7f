package runs

import (
	"context"
	"errors"
	"time"
)

// ReplayOptions say how to replay a run.
type ReplayOptions struct {
	// From is the top-level step to restart at; empty means the step the
	// run failed at. Steps before it reuse their recorded outputs and make
	// no calls.
	From string `json:"from,omitempty"`
	// Definition is "original" (default: the definition the run pinned) or
	// "current" (the loaded one, so a fix applies).
	Definition string `json:"definition,omitempty"`
	// Input, when set, is merged over the original input.
	Input map[string]any `json:"input,omitempty"`
	// DryRun plans without starting anything.
	DryRun bool `json:"dry_run,omitempty"`
}

// ReplayPlan is what a replay will do.
type ReplayPlan struct {
	Original string `json:"original"`
	From     string `json:"from"`
	// Reused are the steps whose recorded outputs are reused.
	Reused []string `json:"reused"`
	// Run are the top-level steps that run again.
	Run []string `json:"run"`
	// Calls are the connector actions the steps that run may call.
	Calls []string `json:"calls"`
	// Problems make the plan impossible; a replay with problems is refused.
	Problems []string `json:"problems,omitempty"`
}

// ErrPlanRefused is returned when a replay plan has problems.
var ErrPlanRefused = errors.New("replay plan refused")

// BulkReplayOptions select failed runs and pace their replays.
type BulkReplayOptions struct {
	Flow       string
	Since      time.Duration
	FailedStep string
	ErrorType  string
	// Rate is replays started per second (default 5).
	Rate float64
	// Canary replays this many first and waits for them to end; the rest
	// go ahead only if they all completed.
	Canary int
	// StopAfterFailures stops when more than this fraction of the replays
	// that ended have failed (0 means never).
	StopAfterFailures float64
	Replay            ReplayOptions
}

// BulkResult is what happened to one run of a bulk replay.
type BulkResult struct {
	Original string `json:"original"`
	Replay   string `json:"replay,omitempty"`
	// Status: replayed, completed, failed, skipped or planned (dry run).
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

var errNotYet = errors.New("not available yet")

// Replay starts a new run linked to workflowID that reuses the outputs of
// the steps before the restart point. With opts.DryRun it only plans.
func (c *Client) Replay(ctx context.Context, workflowID string, opts ReplayOptions) (ReplayPlan, Run, error) {
	return ReplayPlan{}, Run{}, errNotYet
}

// Rerun starts the run again from scratch with the same input, under new
// idempotency keys: every side effect is repeated.
func (c *Client) Rerun(ctx context.Context, workflowID string) (Run, error) {
	return Run{}, errNotYet
}

// Cancel cancels a run; its completed steps' compensations run.
func (c *Client) Cancel(ctx context.Context, workflowID string) error {
	return errNotYet
}

// RetryStep retries the step a parked run is parked at.
func (c *Client) RetryStep(ctx context.Context, workflowID string) error {
	return errNotYet
}

// SkipStep completes the step a parked run is parked at with output, and
// the run goes on.
func (c *Client) SkipStep(ctx context.Context, workflowID string, output any) error {
	return errNotYet
}

// BulkReplay replays the failed runs opts selects, paced, canary first, and
// reports each through progress as it goes.
func (c *Client) BulkReplay(ctx context.Context, opts BulkReplayOptions, progress func(BulkResult)) ([]BulkResult, error) {
	return nil, errNotYet
}
