// Package definitions is relay's flow language: YAML files parsed into a
// typed, validated, immutable Flow whose expressions are compiled once.
// Every problem found while loading carries file:line:col and the field path.
package definitions

import (
	"time"

	"github.com/relay-dev/relay/connectors"
)

// Flow is one parsed and validated definition. It is never modified after
// Parse returns, so workflows may share it.
type Flow struct {
	ID          string
	Version     int
	Description string
	// Inputs are declared in file order.
	Inputs []*Input
	// Connections by name.
	Connections map[string]*Connection
	// Trigger starts runs; nil when runs are only started by hand.
	Trigger *Trigger
	// Events route webhooks to waiting runs.
	Events []*EventRoute
	// Steps run in order.
	Steps []*Step
	// Output, when declared, is what a completed run returns (and a
	// `flow:` step outputs), evaluated once every step is done; without
	// it a run returns every step's output and the variables.
	Output *Value
	// Source is the file the flow was parsed from; its bytes and hash are
	// what runs pin in their input.
	Source Source
}

// Source is a definition file's content. Workflows receive it in their input
// and parse it again, so a run never depends on files that may have changed.
type Source struct {
	// File is the path the flow was loaded from, for messages.
	File string `json:"file"`
	// Content is the raw YAML; read-only, as runs of a flow may share it.
	Content []byte `json:"content"`
	// Hash is the hex SHA-256 of Content.
	Hash string `json:"hash"`
}

// Pos is a position in a definition file (1-based line and column).
type Pos struct {
	Line int
	Col  int
}

// Input is one declared flow input.
type Input struct {
	Name        string
	Type        string // string, number, integer, boolean, object, array, any
	Required    bool
	Default     any
	Description string
	Pos         Pos
}

// Connection is one declared connection to a partner API.
type Connection struct {
	Name   string
	Config connectors.ConnectionConfig
	Pos    Pos
}

// StepKind says which kind of step a Step is; exactly one kind per step.
type StepKind string

// Step kinds.
const (
	KindCall     StepKind = "call"
	KindSet      StepKind = "set"
	KindIf       StepKind = "if"
	KindSwitch   StepKind = "switch"
	KindParallel StepKind = "parallel"
	KindForeach  StepKind = "foreach"
	KindSleep    StepKind = "sleep"
	KindWait     StepKind = "wait"
	KindFlow     StepKind = "flow"
)

// Step is one node of a flow. Only the fields of its Kind are set.
type Step struct {
	ID          string
	Kind        StepKind
	Description string
	Pos         Pos

	// call: `call: <connection>.<action>` with `with:` parameters.
	Connection string
	Action     string
	// Connector is the connection's connector name, resolved at load.
	Connector string
	// Local runs the call as a local activity; nil means the action's Short.
	Local *bool
	// With is the parameter mapping of call and flow steps.
	With *Value

	// set: variables assigned in order.
	Set []*Assignment

	// if: Cond chooses Then or Else.
	Cond *Expr
	Then []*Step
	Else []*Step

	// switch: the first case whose When is true runs; else Default.
	Cases   []*Case
	Default []*Step

	// parallel: branches run concurrently; the step fails if one fails.
	Branches []*Branch

	// foreach: Items is evaluated to a list; Body runs once per item with
	// `item` and `index` bound, at most Concurrency at a time (default 1).
	Items       *Expr
	Concurrency int
	Body        []*Step

	// sleep
	Duration time.Duration

	// wait
	Wait *Wait

	// flow: runs the named flow as a child workflow with With as input.
	Flow string

	// Error handling, for any step kind.
	Retry      *RetryPolicy
	Timeout    time.Duration
	OnError    OnError
	Compensate []*Step
}

// Assignment is one `set:` entry.
type Assignment struct {
	Name  string
	Value *Value
	Pos   Pos
}

// Case is one `switch:` branch.
type Case struct {
	When  *Expr
	Steps []*Step
	Pos   Pos
}

// Branch is one `parallel:` branch.
type Branch struct {
	Name  string
	Steps []*Step
	Pos   Pos
}

// Wait waits for an event delivered to the run.
type Wait struct {
	// Event is the event name, e.g. `payment.succeeded`.
	Event string
	// Correlation, if set, must equal the event's key.
	Correlation *Expr
	// Timeout, zero for none.
	Timeout time.Duration
	// OnTimeout is what happens when Timeout passes: fail (default),
	// continue (output nil) or goto a step.
	OnTimeout OnError
}

// RetryPolicy bounds the attempts of a call or flow step.
type RetryPolicy struct {
	MaxAttempts        int
	InitialInterval    time.Duration
	MaxInterval        time.Duration
	BackoffCoefficient float64
	// Jitter spreads each retry delay by up to this fraction (0 to 1).
	Jitter float64
	// NonRetryable lists error types that end retries at once.
	NonRetryable []string
}

// OnErrorAction is what happens when a step fails after its retries.
type OnErrorAction string

// On-error actions.
const (
	OnErrorFail     OnErrorAction = "fail"
	OnErrorContinue OnErrorAction = "continue"
	OnErrorGoto     OnErrorAction = "goto"
	// OnErrorPark keeps the run open, parked, until an operator retries
	// the step, skips it with an output, or cancels the run.
	OnErrorPark OnErrorAction = "park"
	// OnErrorHalt fails the run at once without running compensations, so
	// it can be replayed from this step with the earlier steps' effects
	// intact.
	OnErrorHalt OnErrorAction = "halt"
)

// OnError is a step's `on_error:` (or a wait's `on_timeout:`). The zero
// value means fail.
type OnError struct {
	Action OnErrorAction
	// Goto is the target step ID when Action is goto; it is a step of the
	// same sequence.
	Goto string
}

// Webhooks are the flow's webhook routes: its trigger's, then its
// events', in file order.
func (f *Flow) Webhooks() []*Webhook {
	var out []*Webhook
	if f.Trigger != nil && f.Trigger.Webhook != nil {
		out = append(out, f.Trigger.Webhook)
	}
	for _, ev := range f.Events {
		if ev.Webhook != nil {
			out = append(out, ev.Webhook)
		}
	}
	return out
}

// Gotos are the steps s may go to when it fails (on_error) or, for a
// wait, when it times out (on_timeout).
func (s *Step) Gotos() []string {
	var out []string
	handlers := []OnError{s.OnError}
	if s.Kind == KindWait && s.Wait != nil {
		handlers = append(handlers, s.Wait.OnTimeout)
	}
	for _, h := range handlers {
		if h.Action == OnErrorGoto {
			out = append(out, h.Goto)
		}
	}
	return out
}

// Step returns the step with the given ID anywhere in the flow, or nil.
func (f *Flow) Step(id string) *Step {
	var found *Step
	Walk(f.Steps, func(s *Step) bool {
		if s.ID == id {
			found = s
			return false
		}
		return true
	})
	return found
}

// Walk calls fn for every step in depth-first document order, including
// nested and compensation steps, until fn returns false.
func Walk(steps []*Step, fn func(*Step) bool) bool {
	for _, s := range steps {
		if !fn(s) {
			return false
		}
		children := [][]*Step{s.Then, s.Else, s.Default, s.Body, s.Compensate}
		for _, c := range s.Cases {
			children = append(children, c.Steps)
		}
		for _, b := range s.Branches {
			children = append(children, b.Steps)
		}
		for _, c := range children {
			if !Walk(c, fn) {
				return false
			}
		}
	}
	return true
}
