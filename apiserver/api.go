package apiserver

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/relay-dev/relay/apikeys"
	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/runs"
)

// Runs is what the API needs of runs.Client; tests use a fake.
type Runs interface {
	Start(ctx context.Context, flow *definitions.Flow, input map[string]any, opts runs.StartOptions) (runs.Run, error)
	List(ctx context.Context, f runs.Filter) ([]runs.Summary, []byte, error)
	Show(ctx context.Context, workflowID string) (*runs.Detail, error)
	Summary(ctx context.Context, workflowID string) (runs.Summary, error)
	Replay(ctx context.Context, workflowID string, opts runs.ReplayOptions) (runs.ReplayPlan, runs.Run, error)
	Rerun(ctx context.Context, workflowID string, opts runs.RerunOptions) (runs.Run, error)
	Cancel(ctx context.Context, workflowID string) error
	RetryStep(ctx context.Context, workflowID string, opts runs.StepOptions) error
	SkipStep(ctx context.Context, workflowID string, output any, opts runs.StepOptions) error
	BulkReplay(ctx context.Context, opts runs.BulkReplayOptions, progress func(runs.BulkResult)) ([]runs.BulkResult, error)
}

var _ Runs = (*runs.Client)(nil)

// API is relay's versioned HTTP API under /v1. Run IDs contain '/'
// (`order-to-invoice/order-1001`): in paths they are one segment, with the
// '/' escaped as %2F (`/v1/runs/order-to-invoice%2Forder-1001`).
type API struct {
	Runs Runs
	// Flows are the loaded definitions.
	Flows []*definitions.Flow
	// Registry checks the connectors and actions of flows sent to
	// /v1/flows/validate; nil skips those checks.
	Registry *connectors.Registry
	// Keys protect the API once its file holds a key: every /v1 route but
	// /v1/openapi.json then needs `Authorization: Bearer rk_...` with the
	// route's scope. Nil, or a file without keys, leaves the API open.
	Keys *apikeys.Store
	// Rate and Burst size each key's token bucket (default 20 requests a
	// second, bursts of 40).
	Rate  float64
	Burst int
	// EventPoll is how often an events stream reads its run (default
	// 500ms), EventMax how long one stream lasts at most (default 30m), and
	// MaxStreams how many streams may be open at once (default 100).
	EventPoll  time.Duration
	EventMax   time.Duration
	MaxStreams int
	// Codec, if set, is the remote codec endpoint the Temporal Web UI calls
	// to show encrypted payloads, served under /codec/ behind the
	// runs:read scope (browser preflights pass: they carry no key).
	Codec http.Handler

	once    sync.Once
	flows   map[string]*definitions.Flow
	limiter *limiter
	streams chan struct{}
	log     *slog.Logger
}

// Defaults of the API's limits.
const (
	DefaultRate       = 20
	DefaultBurst      = 40
	DefaultEventPoll  = 500 * time.Millisecond
	DefaultEventMax   = 30 * time.Minute
	DefaultMaxStreams = 100
	// MaxBody bounds every request body.
	MaxBody = 1 << 20
)

// route is one /v1 operation and the scope it needs; "" needs no key.
type route struct {
	method, path string
	scope        apikeys.Scope
	handle       func(a *API, w http.ResponseWriter, r *http.Request) error
}

// routes lists every /v1 operation; openapi.json documents each.
var routes = []route{
	{"GET", "/v1/openapi.json", "", (*API).openapi},
	{"GET", "/v1/flows", apikeys.FlowsRead, (*API).listFlows},
	{"POST", "/v1/flows/validate", apikeys.FlowsRead, (*API).validateFlow},
	{"GET", "/v1/flows/{id}", apikeys.FlowsRead, (*API).getFlow},
	{"GET", "/v1/flows/{id}/graph", apikeys.FlowsRead, (*API).flowGraph},
	{"POST", "/v1/runs", apikeys.RunsWrite, (*API).startRun},
	{"GET", "/v1/runs", apikeys.RunsRead, (*API).listRuns},
	{"GET", "/v1/runs/{id}", apikeys.RunsRead, (*API).getRun},
	{"GET", "/v1/runs/{id}/events", apikeys.RunsRead, (*API).runEvents},
	{"HEAD", "/v1/runs/{id}/events", apikeys.RunsRead, (*API).headRunEvents},
	{"POST", "/v1/runs/{id}/replay", apikeys.RunsReplay, (*API).replay},
	{"POST", "/v1/runs/{id}/rerun", apikeys.RunsReplay, (*API).rerun},
	{"POST", "/v1/runs/{id}/cancel", apikeys.RunsWrite, (*API).cancel},
	{"POST", "/v1/runs/{id}/retry-step", apikeys.RunsWrite, (*API).retryStep},
	{"POST", "/v1/runs/{id}/skip-step", apikeys.RunsWrite, (*API).skipStep},
	{"POST", "/v1/replays", apikeys.RunsReplay, (*API).bulkReplay},
}

func (a *API) init(logger *slog.Logger) {
	a.once.Do(func() {
		a.log = logger
		a.flows = make(map[string]*definitions.Flow, len(a.Flows))
		for _, f := range a.Flows {
			a.flows[f.ID] = f
		}
		rate, burst := a.Rate, a.Burst
		if rate <= 0 {
			rate = DefaultRate
		}
		if burst <= 0 {
			burst = DefaultBurst
		}
		a.limiter = newLimiter(rate, burst, time.Now)
		if a.EventPoll <= 0 {
			a.EventPoll = DefaultEventPoll
		}
		if a.EventMax <= 0 {
			a.EventMax = DefaultEventMax
		}
		if a.MaxStreams <= 0 {
			a.MaxStreams = DefaultMaxStreams
		}
		a.streams = make(chan struct{}, a.MaxStreams)
	})
}

// mount registers the /v1 routes on mux.
func (a *API) mount(mux *http.ServeMux, logger *slog.Logger) {
	a.init(logger)
	for _, rt := range routes {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := rt.handle(a, w, r); err != nil {
				a.writeError(w, r, err)
			}
		})
		if rt.scope == "" {
			mux.Handle(rt.method+" "+rt.path, h)
		} else {
			mux.Handle(rt.method+" "+rt.path, a.authorize(rt.scope, h))
		}
	}
	if a.Codec != nil {
		guarded := a.authorize(apikeys.RunsRead, a.Codec)
		mux.Handle("/codec/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions {
				a.Codec.ServeHTTP(w, r)
				return
			}
			guarded.ServeHTTP(w, r)
		}))
	}
	// Anything else under /v1 needs a valid key too, so that the routes of
	// a protected API are not probed without one.
	mux.Handle("/v1/", a.authorize("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, unmatched(mux, r))
	})))
}

// unmatched explains why no route took r: 405 with Allow when the path
// exists with other methods, else 404.
func unmatched(mux *http.ServeMux, r *http.Request) error {
	var allow []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/v1/" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		return &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed",
			msg: r.Method + " is not allowed here; use " + strings.Join(allow, " or "), allow: strings.Join(allow, ", ")}
	}
	msg := "no such endpoint; see /v1/openapi.json"
	if strings.HasPrefix(r.URL.Path, "/v1/runs/") && strings.Count(r.URL.Path, "/") > 3 {
		msg += " (a run ID's '/' must be escaped as %2F: /v1/runs/order-to-invoice%2Forder-1001)"
	}
	return &apiError{status: http.StatusNotFound, code: "not_found", msg: msg}
}
