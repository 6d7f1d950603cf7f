package apiserver

import (
	"bytes"
	_ "embed"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/flowgraph"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3.1 document of the /v1 API.
func OpenAPI() []byte { return bytes.Clone(openAPIDoc) }

func (a *API) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDoc)
	return nil
}

// FlowSummary is a flow as GET /v1/flows lists it.
type FlowSummary struct {
	ID          string       `json:"id"`
	Version     int          `json:"version"`
	Description string       `json:"description,omitempty"`
	Hash        string       `json:"hash"`
	Inputs      []FlowInput  `json:"inputs"`
	Trigger     *FlowTrigger `json:"trigger,omitempty"`
	Events      []string     `json:"events,omitempty"`
}

// FlowInput is one declared input.
type FlowInput struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Required    bool   `json:"required"`
	Default     any    `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
}

// FlowTrigger says what starts a flow's runs.
type FlowTrigger struct {
	// Webhook is the path relay receives the flow's webhook at.
	Webhook string `json:"webhook,omitempty"`
	// Schedule is a cron expression or `every <interval>`.
	Schedule string `json:"schedule,omitempty"`
}

// FlowDetail is a flow as GET /v1/flows/{id} shows it. Connections show
// their connector only: a base URL may hold a token (a Slack webhook URL).
type FlowDetail struct {
	FlowSummary
	Connections []FlowConnection `json:"connections"`
	Steps       []FlowStep       `json:"steps"`
}

// FlowConnection is one declared connection.
type FlowConnection struct {
	Name      string `json:"name"`
	Connector string `json:"connector"`
}

// FlowStep is one step and the steps nested in it.
type FlowStep struct {
	ID          string       `json:"id"`
	Kind        string       `json:"kind"`
	Description string       `json:"description,omitempty"`
	Call        string       `json:"call,omitempty"`
	Flow        string       `json:"flow,omitempty"`
	Event       string       `json:"event,omitempty"`
	OnError     string       `json:"on_error,omitempty"`
	Branches    []FlowBranch `json:"branches,omitempty"`
	Compensate  []FlowStep   `json:"compensate,omitempty"`
}

// FlowBranch is a nested list of steps: then, else, a switch case, a
// parallel branch or a foreach body.
type FlowBranch struct {
	Name  string     `json:"name"`
	Steps []FlowStep `json:"steps"`
}

func summary(f *definitions.Flow) FlowSummary {
	s := FlowSummary{ID: f.ID, Version: f.Version, Description: f.Description, Hash: f.Source.Hash, Inputs: []FlowInput{}}
	for _, in := range f.Inputs {
		s.Inputs = append(s.Inputs, FlowInput{Name: in.Name, Type: in.Type, Required: in.Required, Default: in.Default, Description: in.Description})
	}
	if t := f.Trigger; t != nil {
		s.Trigger = &FlowTrigger{}
		if t.Webhook != nil {
			s.Trigger.Webhook = t.Webhook.Path
		}
		if sc := t.Schedule; sc != nil {
			s.Trigger.Schedule = sc.Cron
			if sc.Cron == "" {
				s.Trigger.Schedule = "every " + sc.Interval.String()
			}
		}
	}
	for _, e := range f.Events {
		s.Events = append(s.Events, e.Name)
	}
	return s
}

func flowSteps(steps []*definitions.Step) []FlowStep {
	out := make([]FlowStep, 0, len(steps))
	for _, s := range steps {
		fs := FlowStep{ID: s.ID, Kind: string(s.Kind), Description: s.Description, Flow: s.Flow}
		if s.Kind == definitions.KindCall {
			fs.Call = s.Connection + "." + s.Action
		}
		if s.Wait != nil {
			fs.Event = s.Wait.Event
		}
		switch s.OnError.Action {
		case "", definitions.OnErrorFail:
		case definitions.OnErrorGoto:
			fs.OnError = "goto " + s.OnError.Goto
		default:
			fs.OnError = string(s.OnError.Action)
		}
		branch := func(name string, steps []*definitions.Step) {
			if len(steps) > 0 {
				fs.Branches = append(fs.Branches, FlowBranch{Name: name, Steps: flowSteps(steps)})
			}
		}
		branch("then", s.Then)
		branch("else", s.Else)
		for i, c := range s.Cases {
			name := "case " + strconv.Itoa(i+1)
			if c.When != nil {
				name = "when " + c.When.Source
			}
			branch(name, c.Steps)
		}
		branch("default", s.Default)
		for _, b := range s.Branches {
			branch(b.Name, b.Steps)
		}
		branch("each", s.Body)
		if len(s.Compensate) > 0 {
			fs.Compensate = flowSteps(s.Compensate)
		}
		out = append(out, fs)
	}
	return out
}

func (a *API) listFlows(w http.ResponseWriter, r *http.Request) error {
	out := make([]FlowSummary, 0, len(a.Flows))
	for _, f := range a.Flows {
		out = append(out, summary(f))
	}
	slices.SortFunc(out, func(x, y FlowSummary) int { return strings.Compare(x.ID, y.ID) })
	WriteJSON(w, http.StatusOK, map[string]any{"flows": out})
	return nil
}

func (a *API) flow(r *http.Request) (*definitions.Flow, error) {
	id := r.PathValue("id")
	f, ok := a.flows[id]
	if !ok {
		return nil, notFound("no flow %q", id)
	}
	return f, nil
}

func (a *API) getFlow(w http.ResponseWriter, r *http.Request) error {
	f, err := a.flow(r)
	if err != nil {
		return err
	}
	d := FlowDetail{FlowSummary: summary(f), Connections: []FlowConnection{}, Steps: flowSteps(f.Steps)}
	for _, name := range sortedKeys(f.Connections) {
		d.Connections = append(d.Connections, FlowConnection{Name: name, Connector: f.Connections[name].Config.Connector})
	}
	WriteJSON(w, http.StatusOK, d)
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (a *API) flowGraph(w http.ResponseWriter, r *http.Request) error {
	f, err := a.flow(r)
	if err != nil {
		return err
	}
	var out string
	switch format := r.URL.Query().Get("format"); format {
	case "", "mermaid":
		out = flowgraph.Mermaid(f)
	case "dot":
		out = flowgraph.DOT(f)
	default:
		return invalid("format", "unknown format %q (want mermaid or dot)", format)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(out))
	return nil
}

// Problem is one problem of a validated definition.
type Problem struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// Error is the whole problem as `relay validate` prints it:
	// file:line:col: field: message.
	Error string `json:"error"`
}

// Validation is the answer of POST /v1/flows/validate.
type Validation struct {
	Valid    bool      `json:"valid"`
	Flow     string    `json:"flow,omitempty"`
	Problems []Problem `json:"problems"`
}

// validateFlow checks a YAML definition as `relay validate` does, and its
// `flow:` steps against the loaded flows.
func (a *API) validateFlow(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid("body", "empty; send the YAML of a flow definition")
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "flow.yaml"
	}
	if strings.ContainsAny(name, "/\\") || len(name) > 100 {
		return invalid("name", "must be a file name without folders, at most 100 characters")
	}
	f, err := definitions.Parse(name, body, a.Registry)
	if err == nil {
		// The cross-file rules (`flow:` steps name a loaded flow, with the
		// inputs it declares) need the other flows beside this one.
		sources := []definitions.Source{{File: name, Content: body}}
		for _, other := range a.Flows {
			if other.ID != f.ID {
				sources = append(sources, definitions.Source{File: "loaded/" + other.ID + ".yaml", Content: other.Source.Content})
			}
		}
		_, err = definitions.LoadSources(sources, a.Registry)
	}
	v := Validation{Valid: true, Problems: []Problem{}}
	if f != nil {
		v.Flow = f.ID
	}
	var errs definitions.Errors
	if err != nil && !errors.As(err, &errs) {
		return err
	}
	for _, e := range errs {
		if e.File != name {
			continue
		}
		v.Problems = append(v.Problems, Problem{Line: e.Pos.Line, Column: e.Pos.Col, Field: e.Path, Message: e.Msg, Error: e.Error()})
	}
	v.Valid = len(v.Problems) == 0
	WriteJSON(w, http.StatusOK, v)
	return nil
}
