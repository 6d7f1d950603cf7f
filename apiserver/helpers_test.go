package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/relay-dev/relay/connectors/builtin"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/workflows"
)

// fakeRuns is the runs backend of the handler tests: runs in memory, the
// calls it received, and errors to answer with.
type fakeRuns struct {
	mu    sync.Mutex
	runs  map[string]*runs.Detail
	calls []string
	// errs answers the named method ("Start", "Show", …) with an error.
	errs map[string]error
	// plan is what Replay returns.
	plan runs.ReplayPlan
	// onShow, if set, changes a run before Show copies it.
	onShow  func(n int, d *runs.Detail)
	shows   int
	filter  runs.Filter
	skipped any
	bulk    runs.BulkReplayOptions
	started map[string]any
	// starts counts the runs Start started; redos the replays and reruns,
	// which are numbered. keyed holds the runs started under an
	// idempotency key, by kind, run (or flow) and key.
	starts int
	redos  int
	keyed  map[string]runs.Run
	// stepKeys are the idempotency keys RetryStep and SkipStep received.
	stepKeys []string
}

var _ Runs = (*fakeRuns)(nil)

const sampleRun = "order-to-invoice/order-1001"

func newFakeRuns() *fakeRuns {
	started := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	return &fakeRuns{
		errs: map[string]error{},
		runs: map[string]*runs.Detail{sampleRun: {
			Summary:     runs.Summary{WorkflowID: sampleRun, RunID: "r1", Flow: "order-to-invoice", Status: "failed", FailedStep: "invoice", ErrorType: "erpnext.LinkValidationError", StartedAt: started, ClosedAt: started.Add(time.Minute)},
			FlowVersion: 1, DefinitionHash: "abc",
			Steps: []*workflows.StepRecord{
				{ID: "totals", Path: "totals", Kind: "set", Status: "completed", Output: map[string]any{"total": 42.5}, StartedAt: started, EndedAt: started},
				{ID: "invoice", Path: "invoice", Kind: "call", Status: "failed", Attempts: 3, Error: "link validation", ErrorType: "erpnext.LinkValidationError", StartedAt: started},
			},
			Failure: "step invoice failed",
			Input:   map[string]any{"order_id": "order-1001"},
			Trigger: &workflows.TriggerEvent{Path: "/hooks/shop/orders", Delivery: "msg_1", Headers: map[string]string{"Webhook-Id": "msg_1"}, Body: json.RawMessage(`{"data":{"id":"order-1001"}}`)},
			Replays: []string{sampleRun + "/replay-0"},
		}},
		plan: runs.ReplayPlan{Original: sampleRun, From: "invoice", Reused: []string{"totals"}, Run: []string{"invoice", "notify"}, Calls: []string{"erpnext.create_invoice"}},
	}
}

func (f *fakeRuns) call(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	if err := f.errs[name]; err != nil {
		if p, ok := err.(panicError); ok {
			panic(string(p))
		}
		return err
	}
	return nil
}

type panicError string

func (p panicError) Error() string { return string(p) }

func (f *fakeRuns) Start(ctx context.Context, flow *definitions.Flow, input map[string]any, opts runs.StartOptions) (runs.Run, error) {
	if err := f.call("Start"); err != nil {
		return runs.Run{}, err
	}
	// As runs.Client binds the input.
	if _, err := flow.BindInput(input); err != nil {
		return runs.Run{}, &runs.InputError{Flow: flow.ID, Err: err}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// As runs.Client does, a start under a key used before returns the run
	// started then.
	keyed := "start\x00" + flow.ID + "\x00" + opts.IdempotencyKey
	if r, ok := f.keyed[keyed]; ok && opts.IdempotencyKey != "" {
		r.Existing = true
		return r, nil
	}
	f.starts++
	id := opts.WorkflowID
	if id == "" {
		id = fmt.Sprintf("%s/generated-%d", flow.ID, f.starts)
	}
	f.started = input
	r := runs.Run{WorkflowID: id, RunID: fmt.Sprintf("r-new-%d", f.starts), Flow: flow.ID}
	if opts.IdempotencyKey != "" {
		if f.keyed == nil {
			f.keyed = map[string]runs.Run{}
		}
		f.keyed[keyed] = r
	}
	return r, nil
}

func (f *fakeRuns) List(ctx context.Context, filter runs.Filter) ([]runs.Summary, []byte, error) {
	if err := f.call("List"); err != nil {
		return nil, nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filter = filter
	var out []runs.Summary
	for _, d := range f.runs {
		out = append(out, d.Summary)
	}
	if filter.Cursor == nil {
		return out, []byte("page-2\x00\xff"), nil
	}
	return out, nil, nil
}

func (f *fakeRuns) Summary(ctx context.Context, id string) (runs.Summary, error) {
	if err := f.call("Summary"); err != nil {
		return runs.Summary{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.runs[id]
	if !ok {
		return runs.Summary{}, fmt.Errorf("%w: %s", runs.ErrNotFound, id)
	}
	return d.Summary, nil
}

func (f *fakeRuns) Show(ctx context.Context, id string) (*runs.Detail, error) {
	if err := f.call("Show"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.runs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", runs.ErrNotFound, id)
	}
	f.shows++
	if f.onShow != nil {
		f.onShow(f.shows, d)
	}
	c := *d
	c.Steps = nil
	for _, s := range d.Steps {
		cs := *s
		c.Steps = append(c.Steps, &cs)
	}
	return &c, nil
}

func (f *fakeRuns) known(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.runs[id]; !ok {
		return fmt.Errorf("%w: %s", runs.ErrNotFound, id)
	}
	return nil
}

func (f *fakeRuns) Replay(ctx context.Context, id string, opts runs.ReplayOptions) (runs.ReplayPlan, runs.Run, error) {
	if err := f.call("Replay"); err != nil {
		return f.plan, runs.Run{}, err
	}
	if err := f.known(id); err != nil {
		return runs.ReplayPlan{}, runs.Run{}, err
	}
	if opts.DryRun {
		return f.plan, runs.Run{}, nil
	}
	return f.plan, f.redo(id, "replay", opts.IdempotencyKey), nil
}

// redo starts a replay or rerun of id; under an idempotency key used
// before, as runs.Client does, it returns the run started then.
func (f *fakeRuns) redo(id, kind, key string) runs.Run {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.keyed[kind+"\x00"+id+"\x00"+key]; ok && key != "" {
		r.Existing = true
		return r
	}
	f.redos++
	r := runs.Run{WorkflowID: fmt.Sprintf("%s/%s-%d", id, kind, f.redos), RunID: fmt.Sprintf("r-%s-%d", kind, f.redos), Flow: "order-to-invoice"}
	if key != "" {
		if f.keyed == nil {
			f.keyed = map[string]runs.Run{}
		}
		f.keyed[kind+"\x00"+id+"\x00"+key] = r
	}
	return r
}

func (f *fakeRuns) Rerun(ctx context.Context, id string, opts runs.RerunOptions) (runs.Run, error) {
	if err := f.call("Rerun"); err != nil {
		return runs.Run{}, err
	}
	if err := f.known(id); err != nil {
		return runs.Run{}, err
	}
	return f.redo(id, "rerun", opts.IdempotencyKey), nil
}

func (f *fakeRuns) Cancel(ctx context.Context, id string) error {
	if err := f.call("Cancel"); err != nil {
		return err
	}
	return f.known(id)
}

func (f *fakeRuns) RetryStep(ctx context.Context, id string, opts runs.StepOptions) error {
	if err := f.call("RetryStep"); err != nil {
		return err
	}
	f.mu.Lock()
	f.stepKeys = append(f.stepKeys, opts.IdempotencyKey)
	f.mu.Unlock()
	return f.known(id)
}

func (f *fakeRuns) SkipStep(ctx context.Context, id string, output any, opts runs.StepOptions) error {
	if err := f.call("SkipStep"); err != nil {
		return err
	}
	f.mu.Lock()
	f.stepKeys = append(f.stepKeys, opts.IdempotencyKey)
	f.skipped = output
	f.mu.Unlock()
	return f.known(id)
}

func (f *fakeRuns) BulkReplay(ctx context.Context, opts runs.BulkReplayOptions, progress func(runs.BulkResult)) ([]runs.BulkResult, error) {
	if err := f.call("BulkReplay"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.bulk = opts
	f.mu.Unlock()
	res := []runs.BulkResult{{Original: sampleRun, Replay: sampleRun + "/replay-1", Status: "replayed"}, {Original: "order-to-invoice/order-1002", Status: "skipped", Reason: "not failed"}}
	for _, r := range res {
		progress(r)
	}
	return res, nil
}

// bundledFlows are the flows relay ships with.
func bundledFlows(t testing.TB) []*definitions.Flow {
	t.Helper()
	flows, err := definitions.LoadFS(definitions.Bundled(), builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	return flows
}

// testServer is a Server with the API over fake runs.
func testServer(t testing.TB, fr *fakeRuns) *Server {
	t.Helper()
	return &Server{API: &API{Runs: fr, Flows: bundledFlows(t), Registry: builtin.Registry(), EventPoll: 5 * time.Millisecond}}
}

// request is one call to the API in a test.
type request struct {
	method, path, body string
	header             map[string]string
}

// do serves req and checks the response against the OpenAPI document: its
// status is documented for the route, and its JSON body matches the schema.
func do(t testing.TB, h http.Handler, req request) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	r := httptest.NewRequest(req.method, req.path, body)
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	oas(t).check(t, req.method, r.URL, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
	return rec
}

// openAPI is the parsed document and its compiled schemas.
type openAPI struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	patterns *http.ServeMux
	mu       sync.Mutex
	schemas  map[string]*jsonschema.Schema
}

var (
	oasOnce sync.Once
	oasDoc  *openAPI
	oasErr  error
)

const oasURL = "https://relay.invalid/openapi.json"

func oas(t testing.TB) *openAPI {
	t.Helper()
	oasOnce.Do(func() {
		raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(openAPIDoc))
		if err != nil {
			oasErr = err
			return
		}
		o := &openAPI{compiler: jsonschema.NewCompiler(), patterns: http.NewServeMux(), schemas: map[string]*jsonschema.Schema{}}
		o.doc, _ = raw.(map[string]any)
		o.compiler.DefaultDraft(jsonschema.Draft2020)
		if err := o.compiler.AddResource(oasURL, raw); err != nil {
			oasErr = err
			return
		}
		for p, item := range o.doc["paths"].(map[string]any) {
			for m := range item.(map[string]any) {
				pattern := strings.ToUpper(m) + " " + p
				o.patterns.HandleFunc(pattern, func(http.ResponseWriter, *http.Request) {})
			}
		}
		oasDoc = o
	})
	if oasErr != nil {
		t.Fatalf("openapi.json: %v", oasErr)
	}
	return oasDoc
}

// operation finds the documented operation serving method and u, with its
// path template.
func (o *openAPI) operation(method string, u *url.URL) (map[string]any, string) {
	r := &http.Request{Method: method, URL: u, Host: "relay"}
	_, pattern := o.patterns.Handler(r)
	if pattern == "" {
		return nil, ""
	}
	_, path, _ := strings.Cut(pattern, " ")
	op, _ := o.doc["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
	return op, path
}

// resolve follows a local $ref.
func (o *openAPI) resolve(v any) (map[string]any, string) {
	m, _ := v.(map[string]any)
	ref, ok := m["$ref"].(string)
	if !ok {
		return m, ""
	}
	var cur any = o.doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		cur = cur.(map[string]any)[part]
	}
	out, _ := cur.(map[string]any)
	return out, strings.TrimPrefix(ref, "#")
}

func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func (o *openAPI) schema(t testing.TB, loc string) *jsonschema.Schema {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.schemas[loc]; ok {
		return s
	}
	s, err := o.compiler.Compile(oasURL + "#" + loc)
	if err != nil {
		t.Fatalf("compiling the schema at %s: %v", loc, err)
	}
	o.schemas[loc] = s
	return s
}

// check fails t unless the response is documented: the operation exists,
// lists the status, the content type, and the body matches the schema.
func (o *openAPI) check(t testing.TB, method string, u *url.URL, status int, ctype string, body []byte) {
	t.Helper()
	if !strings.HasPrefix(u.Path, "/v1/") {
		return
	}
	op, path := o.operation(method, u)
	if op == nil {
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed && status != http.StatusUnauthorized {
			t.Errorf("%s %s answered %d but is not documented", method, u.Path, status)
		}
		o.checkError(t, method, u, status, body)
		return
	}
	resp, respLoc := o.resolve(op["responses"].(map[string]any)[fmt.Sprint(status)])
	if resp == nil {
		t.Errorf("%s %s answered %d, which openapi.json does not document for %s %s:\n%s", method, u.Path, status, method, path, body)
		return
	}
	if respLoc == "" {
		respLoc = "/paths/" + pointerEscape(path) + "/" + strings.ToLower(method) + "/responses/" + fmt.Sprint(status)
	}
	media, _, _ := strings.Cut(ctype, ";")
	content, _ := resp["content"].(map[string]any)
	if _, ok := content[media]; !ok {
		t.Errorf("%s %s answered %d with Content-Type %q; documented: %v", method, u.Path, status, ctype, keys(content))
		return
	}
	if media != "application/json" {
		return
	}
	o.validate(t, respLoc+"/content/"+pointerEscape(media)+"/schema", method+" "+u.Path, body)
}

// checkError validates an undocumented route's error body as an Error.
func (o *openAPI) checkError(t testing.TB, method string, u *url.URL, status int, body []byte) {
	t.Helper()
	o.validate(t, "/components/schemas/Error", method+" "+u.Path, body)
}

func (o *openAPI) validate(t testing.TB, loc, what string, body []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s: body is not JSON: %v\n%s", what, err, body)
		return
	}
	if err := o.schema(t, loc).Validate(inst); err != nil {
		t.Errorf("%s: body does not match its schema %s: %v\n%s", what, loc, err, body)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// errorBody decodes an error envelope.
func errorBody(t testing.TB, rec *httptest.ResponseRecorder) ErrorDetail {
	t.Helper()
	var b ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body: %v\n%s", err, rec.Body)
	}
	if b.Error.RequestID == "" || b.Error.RequestID != rec.Header().Get(RequestIDHeader) {
		t.Errorf("request ID %q, header %q", b.Error.RequestID, rec.Header().Get(RequestIDHeader))
	}
	return b.Error
}
