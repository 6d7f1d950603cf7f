package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Search attributes relay writes, all keywords. `relay dev` registers them;
// on a cluster register each once per namespace:
//
//	temporal operator search-attribute create --namespace NS --type Keyword --name RelayFlow
const (
	SearchAttributeFlow        = "RelayFlow"        // the flow ID
	SearchAttributeState       = "RelayState"       // running, waiting or parked
	SearchAttributeFailedStep  = "RelayFailedStep"  // the step a failed run failed at
	SearchAttributeErrorType   = "RelayErrorType"   // that step's error type
	SearchAttributeBusinessKey = "RelayBusinessKey" // the dedupe key (e.g. order ID)
	SearchAttributeReplayOf    = "RelayReplayOf"    // the run a replay replays
)

// SearchAttributes lists every search attribute relay uses.
var SearchAttributes = []string{
	SearchAttributeFlow, SearchAttributeState, SearchAttributeFailedStep,
	SearchAttributeErrorType, SearchAttributeBusinessKey, SearchAttributeReplayOf,
}

// Run states beyond Temporal's own status.
const (
	StateRunning = "running"
	StateWaiting = "waiting"
	StateParked  = "parked"
)

var (
	stateKey      = temporal.NewSearchAttributeKeyKeyword(SearchAttributeState)
	failedStepKey = temporal.NewSearchAttributeKeyKeyword(SearchAttributeFailedStep)
	errorTypeKey  = temporal.NewSearchAttributeKeyKeyword(SearchAttributeErrorType)
)

// searchAttributesChange gates the upserts: runs that started before
// relay wrote search attributes replay without them.
//
// The version is asked for only when a run first has a search attribute to
// write (it waits, parks or fails), not at the start of every run: the SDK
// records each GetVersion with a marker and an upsert of
// TemporalChangeVersion, which costs the server a visibility write per run.
// Runs recorded with the marker at their start still replay: the SDK reads
// version markers ahead of the code that asks for them.
const searchAttributesChange = "relay.search-attributes"

// writesSearchAttributes says whether this run writes search attributes,
// deciding it the first time it is asked.
func (r *runner) writesSearchAttributes(ctx workflow.Context) bool {
	if !r.upsertsDecided {
		r.upserts = workflow.GetVersion(ctx, searchAttributesChange, workflow.DefaultVersion, 1) >= 1
		r.upsertsDecided = true
	}
	return r.upserts
}

// refreshState writes the run's state when it changed: parked wins over
// waiting, waiting over running.
func (r *runner) refreshState(ctx workflow.Context) {
	state := StateRunning
	switch {
	case len(r.parked) > 0:
		state = StateParked
	case r.waiting > 0:
		state = StateWaiting
	}
	if state == r.state || !r.writesSearchAttributes(ctx) {
		return
	}
	r.state = state
	_ = workflow.UpsertTypedSearchAttributes(ctx, stateKey.ValueSet(state))
}

// recordFailure writes where the run failed, for `relay runs list`.
func (r *runner) recordFailure(ctx workflow.Context, se *stepError) {
	if se == nil || !r.writesSearchAttributes(ctx) {
		return
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, failedStepKey.ValueSet(se.Step), errorTypeKey.ValueSet(se.Type))
}
