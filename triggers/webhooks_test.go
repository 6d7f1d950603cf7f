package triggers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/relay-dev/relay/apiserver"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/triggers"
	"github.com/relay-dev/relay/triggers/verify"
	"github.com/relay-dev/relay/workflows"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// fakeTemporal is the Temporal the receiver talks to: runs by workflow ID,
// open or ended, and what it was asked.
type fakeTemporal struct {
	client.Client
	mu sync.Mutex
	// runs holds a workflow ID's run: true while it is open, false once it
	// has ended; a workflow ID not in it has no run.
	runs map[string]bool
	// errs fails the start or signal of a workflow ID with an error.
	errs     map[string]error
	starts   []workflows.RunInput
	startIDs []string
	signals  []signalled
	// describes and counts are the describes and visibility counts made;
	// countErr fails every count.
	describes, counts int
	countErr          error
}

// signalled is an event as a run received it.
type signalled struct {
	workflowID string
	event      workflows.Event
}

func newFakeTemporal(runs map[string]bool) *fakeTemporal {
	if runs == nil {
		runs = map[string]bool{}
	}
	return &fakeTemporal{runs: runs, errs: map[string]error{}}
}

type fakeRun struct {
	client.WorkflowRun
	id string
}

func (r fakeRun) GetID() string    { return r.id }
func (r fakeRun) GetRunID() string { return "run-" + r.id }

func (f *fakeTemporal) ExecuteWorkflow(ctx context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[o.ID]; err != nil {
		return nil, err
	}
	if _, ok := f.runs[o.ID]; ok {
		return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already started", "", "run-"+o.ID)
	}
	f.runs[o.ID] = true
	f.starts = append(f.starts, args[0].(workflows.RunInput))
	f.startIDs = append(f.startIDs, o.ID)
	return fakeRun{id: o.ID}, nil
}

func (f *fakeTemporal) SignalWorkflow(ctx context.Context, id, runID, name string, arg any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[id]; err != nil {
		return err
	}
	if !f.runs[id] {
		return serviceerror.NewNotFound("workflow execution not found or already completed")
	}
	f.signals = append(f.signals, signalled{id, arg.(workflows.Event)})
	return nil
}

func (f *fakeTemporal) SignalWithStartWorkflow(ctx context.Context, id, name string, arg any, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[id]; err != nil {
		return nil, err
	}
	open, ok := f.runs[id]
	if ok && !open {
		return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already ended", "", "run-"+id)
	}
	if !ok {
		f.runs[id] = true
		f.starts = append(f.starts, args[0].(workflows.RunInput))
		f.startIDs = append(f.startIDs, id)
	}
	f.signals = append(f.signals, signalled{id, arg.(workflows.Event)})
	return fakeRun{id: id}, nil
}

func (f *fakeTemporal) DescribeWorkflowExecution(ctx context.Context, id, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describes++
	if _, ok := f.runs[id]; !ok {
		return nil, serviceerror.NewNotFound("no such workflow")
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{}, nil
}

// startsWith is a clause of the one kind of visibility query the fake
// answers: clauses `WorkflowId STARTS_WITH "prefix"` joined by OR.
var startsWith = regexp.MustCompile(`^WorkflowId STARTS_WITH "([^"]*)"$`)

func (f *fakeTemporal) CountWorkflow(ctx context.Context, req *workflowservice.CountWorkflowExecutionsRequest) (*workflowservice.CountWorkflowExecutionsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts++
	if f.countErr != nil {
		return nil, f.countErr
	}
	var prefixes []string
	for _, clause := range strings.Split(req.GetQuery(), " OR ") {
		m := startsWith.FindStringSubmatch(clause)
		if m == nil {
			return nil, serviceerror.NewInvalidArgument("the fake does not answer " + clause)
		}
		prefixes = append(prefixes, m[1])
	}
	var n int64
	for id := range f.runs {
		if slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(id, p) }) {
			n++
		}
	}
	return &workflowservice.CountWorkflowExecutionsResponse{Count: n}, nil
}

func (f *fakeTemporal) asked() (describes, counts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.describes, f.counts
}

func (f *fakeTemporal) received() []signalled {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.signals)
}

func parseFlows(t *testing.T, srcs ...string) []*definitions.Flow {
	t.Helper()
	var out []*definitions.Flow
	for _, src := range srcs {
		f, err := definitions.Parse("flow.yaml", []byte(src), nil)
		if err != nil {
			t.Fatalf("parsing flow: %v\n%s", err, src)
		}
		out = append(out, f)
	}
	return out
}

// serve runs the receiver for flows behind relay's server on 127.0.0.1.
func serve(t *testing.T, ft *fakeTemporal, flows []*definitions.Flow) string {
	t.Helper()
	return serveLogged(t, ft, flows, nil)
}

func serveLogged(t *testing.T, ft *fakeTemporal, flows []*definitions.Flow, logger *slog.Logger) string {
	t.Helper()
	byID := map[string]*definitions.Flow{}
	for _, f := range flows {
		byID[f.ID] = f
	}
	rc := &runs.Client{Temporal: ft, TaskQueue: "relay", Flows: byID}
	recv, err := triggers.NewReceiver(flows, rc, func(string) (string, error) { return testSecret, nil }, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&apiserver.Server{Webhooks: recv}).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// answer is a receiver's response.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// post sends body to path signed with scheme; id is the delivery ID of
// schemes that carry one.
func post(t *testing.T, url, path, scheme, id, body string) answer {
	t.Helper()
	h, err := verify.Sign(verify.Config{Scheme: scheme, Secrets: []string{testSecret}}, []byte(body), time.Now(), id)
	if err != nil {
		t.Fatal(err)
	}
	return postHeaders(t, url, path, h, body)
}

func postHeaders(t *testing.T, url, path string, h http.Header, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+path, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: strings.TrimSpace(string(b))}
	if err := json.Unmarshal(b, &a.body); err != nil {
		t.Fatalf("%s %s: %d, body not JSON: %q", http.MethodPost, path, resp.StatusCode, b)
	}
	return a
}

// errorCode is the code of an error answer, checking it carries the
// request ID; "" for an answer that is not an error.
func (a answer) errorCode(t *testing.T) string {
	t.Helper()
	e, ok := a.body["error"].(map[string]any)
	if !ok {
		return ""
	}
	if id := a.header.Get(apiserver.RequestIDHeader); id == "" || e["request_id"] != id {
		t.Errorf("error %s: request_id %v, header %q", a.raw, e["request_id"], id)
	}
	return e["code"].(string)
}

// routeStatuses is each route's "flow[/event]=status" of a path with
// several routes.
func (a answer) routeStatuses() []string {
	var out []string
	rs, _ := a.body["routes"].([]any)
	for _, r := range rs {
		m := r.(map[string]any)
		name := m["flow"].(string)
		if ev, ok := m["event"].(string); ok {
			name += "/" + ev
		}
		out = append(out, name+"="+m["status"].(string))
	}
	return out
}

// TestReceiverKeys: dedupe, run and event keys are the text a wait step
// compares (definitions.Text), numbers included.
// ordersByID starts a run per order ID (body.id); ordersPaid wakes the
// run of body.order_id with the event paid, keyed body.key.
const (
	ordersByID = `
id: orders
version: 1
trigger:
  webhook: {path: /hooks/o, verify: {scheme: standard_webhooks, secrets: [env:S]}, dedupe: body.id, input: {}}
steps:
  - {id: s, set: {a: 1}}
`
	ordersPaid = `
id: orders
version: 1
inputs: {order_id: {type: number, required: true}}
events:
  - name: paid
    webhook: {path: /hooks/pay, verify: {scheme: stripe, secrets: [env:S]}}
    run: body.order_id
    key: body.key
steps:
  - id: w
    wait: {event: paid, correlation: input.order_id}
`
)

func TestReceiverKeys(t *testing.T) {
	tests := []struct {
		name, flow, path, scheme, body string
		wantStart                      string    // the workflow ID started
		wantSignal                     signalled // the event signalled
	}{
		{name: "numeric dedupe key", flow: ordersByID, path: "/hooks/o", scheme: "standard_webhooks", body: `{"id":12345678}`, wantStart: "orders/12345678"},
		{name: "fractional dedupe key", flow: ordersByID, path: "/hooks/o", scheme: "standard_webhooks", body: `{"id":12.5}`, wantStart: "orders/12.5"},
		{name: "string dedupe key", flow: ordersByID, path: "/hooks/o", scheme: "standard_webhooks", body: `{"id":"o-1"}`, wantStart: "orders/o-1"},
		{name: "numeric run and event keys", flow: ordersPaid, path: "/hooks/pay", scheme: "stripe", body: `{"id":"evt_1","order_id":12345678,"key":12345678}`,
			wantSignal: signalled{"orders/12345678", workflows.Event{ID: "evt_1", Name: "paid", Key: "12345678"}}},
		{name: "numeric run key below 2^53", flow: ordersPaid, path: "/hooks/pay", scheme: "stripe", body: `{"id":"evt_1","order_id":9007199254740991,"key":"k"}`,
			wantSignal: signalled{"orders/9007199254740991", workflows.Event{ID: "evt_1", Name: "paid", Key: "k"}}},
		{name: "null event key is the empty key", flow: ordersPaid, path: "/hooks/pay", scheme: "stripe", body: `{"id":"evt_1","order_id":7,"key":null}`,
			wantSignal: signalled{"orders/7", workflows.Event{ID: "evt_1", Name: "paid", Key: ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeTemporal(map[string]bool{tt.wantSignal.workflowID: true})
			url := serve(t, ft, parseFlows(t, tt.flow))
			a := post(t, url, tt.path, tt.scheme, "msg_1", tt.body)
			if a.status != http.StatusAccepted {
				t.Fatalf("%d %s", a.status, a.raw)
			}
			if tt.wantStart != "" {
				if a.body["workflow_id"] != tt.wantStart || !slices.Equal(ft.startIDs, []string{tt.wantStart}) {
					t.Errorf("started %q (answer %s), want %s", ft.startIDs, a.raw, tt.wantStart)
				}
				return
			}
			got := ft.received()
			if len(got) != 1 || got[0].workflowID != tt.wantSignal.workflowID || got[0].event.ID != tt.wantSignal.event.ID ||
				got[0].event.Name != tt.wantSignal.event.Name || got[0].event.Key != tt.wantSignal.event.Key {
				t.Errorf("signalled %+v, want %+v", got, tt.wantSignal)
			}
		})
	}
}

// TestReceiverFindsRunsOfEarlierRelays: a run an earlier relay started for
// a numeric key of a million or more is named with fmt's exponent text
// (orders/1.2345678e+07). A redelivery of its webhook is a duplicate, not
// a second run under orders/12345678, and its events reach it.
func TestReceiverFindsRunsOfEarlierRelays(t *testing.T) {
	const legacy, current = "orders/1.2345678e+07", "orders/12345678"
	tests := []struct {
		name, flow, path, scheme, body string
		runs                           map[string]bool
		wantStatus                     int
		wantID                         string // the run the answer names
		wantStarts                     []string
		wantSignalled                  string // the run signalled, if any
	}{
		{name: "a redelivery of an earlier relay's run", flow: ordersByID, path: "/hooks/o", scheme: "standard_webhooks", body: `{"id":12345678}`,
			runs: map[string]bool{legacy: false}, wantStatus: http.StatusOK, wantID: legacy},
		{name: "a delivery with no earlier run starts one as keys are written now", flow: ordersByID, path: "/hooks/o", scheme: "standard_webhooks", body: `{"id":12345678}`,
			wantStatus: http.StatusAccepted, wantID: current, wantStarts: []string{current}},
		{name: "a small number's text never changed", flow: ordersByID, path: "/hooks/o", scheme: "standard_webhooks", body: `{"id":123456}`,
			runs: map[string]bool{"orders/123456": true}, wantStatus: http.StatusOK, wantID: "orders/123456"},
		{name: "an event for an earlier relay's waiting run", flow: ordersPaid, path: "/hooks/pay", scheme: "stripe", body: `{"id":"evt_1","order_id":12345678,"key":"k"}`,
			runs: map[string]bool{legacy: true}, wantStatus: http.StatusAccepted, wantID: legacy, wantSignalled: legacy},
		{name: "an event for an earlier relay's ended run", flow: ordersPaid, path: "/hooks/pay", scheme: "stripe", body: `{"id":"evt_1","order_id":12345678,"key":"k"}`,
			runs: map[string]bool{legacy: false}, wantStatus: http.StatusOK, wantID: legacy},
		{name: "an event for a run of neither name", flow: ordersPaid, path: "/hooks/pay", scheme: "stripe", body: `{"id":"evt_1","order_id":12345678,"key":"k"}`,
			wantStatus: http.StatusConflict, wantID: current},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeTemporal(tt.runs)
			url := serve(t, ft, parseFlows(t, tt.flow))
			a := post(t, url, tt.path, tt.scheme, "msg_1", tt.body)
			if a.status != tt.wantStatus || !strings.Contains(a.raw, strconv.Quote(tt.wantID)) && !strings.Contains(a.raw, "run "+tt.wantID+" ") {
				t.Fatalf("answered %d: %s, want %d naming %s", a.status, a.raw, tt.wantStatus, tt.wantID)
			}
			if !slices.Equal(ft.startIDs, tt.wantStarts) {
				t.Errorf("started %q, want %q", ft.startIDs, tt.wantStarts)
			}
			got := ft.received()
			if tt.wantSignalled == "" && len(got) != 0 || tt.wantSignalled != "" && (len(got) != 1 || got[0].workflowID != tt.wantSignalled) {
				t.Errorf("signalled %+v, want %q", got, tt.wantSignalled)
			}
		})
	}
}

// TestReceiverLooksForEarlierNamesOnlyWhereTheyExist: a start route's
// numeric keys of a million or more cost a describe of their earlier name
// only while visibility counts runs named in that form: none on a store
// no earlier relay wrote, one per delivery where one did; a count that
// fails looks for each delivery's, as before. The count is made once,
// a failed one too (it is not made again for legacyRetry).
func TestReceiverLooksForEarlierNamesOnlyWhereTheyExist(t *testing.T) {
	tests := []struct {
		name          string
		runs          map[string]bool
		countErr      error
		wantDescribes int
	}{
		{name: "a store no earlier relay wrote", wantDescribes: 0},
		{name: "runs of another flow named so", runs: map[string]bool{"other/1.2e+07": false}, wantDescribes: 0},
		{name: "a run of this flow an earlier relay named", runs: map[string]bool{"orders/1.2e+07": false}, wantDescribes: 3},
		{name: "one with the short exponent form", runs: map[string]bool{"orders/1e+07": false}, wantDescribes: 3},
		{name: "visibility cannot count", countErr: serviceerror.NewUnavailable("visibility down"), wantDescribes: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeTemporal(tt.runs)
			ft.countErr = tt.countErr
			url := serve(t, ft, parseFlows(t, ordersByID))
			for i, id := range []int{23456789, 34567890, 5123456789012} {
				body := fmt.Sprintf(`{"id":%d}`, id)
				if a := post(t, url, "/hooks/o", "standard_webhooks", fmt.Sprint("msg_", i), body); a.status != http.StatusAccepted {
					t.Fatalf("delivery %d: %d %s, want 202", id, a.status, a.raw)
				}
			}
			if describes, counts := ft.asked(); describes != tt.wantDescribes || counts != 1 {
				t.Errorf("%d describes and %d counts for 3 deliveries, want %d and 1", describes, counts, tt.wantDescribes)
			}
		})
	}
}

// TestLegacyCountExpires: a flow's count of runs an earlier relay named in
// exponent form is trusted for LegacyRecheck, then made again (an earlier
// relay beside this one may have started such runs since, or retention
// removed the last); a failed count answers yes and is made again after
// LegacyRetry, not on every delivery.
func TestLegacyCountExpires(t *testing.T) {
	const run = "orders/1.2e+07"
	type step struct {
		at         time.Duration   // after the first look
		runs       map[string]bool // the runs from this step on; nil keeps them
		countErr   error           // fails this step's count, if it makes one
		want       bool
		wantCounts int
	}
	down := serviceerror.NewUnavailable("visibility down")
	tests := []struct {
		name  string
		steps []step
	}{
		{"a run past retention is forgotten at the next count", []step{
			{at: 0, runs: map[string]bool{run: false}, want: true, wantCounts: 1},
			{at: triggers.LegacyRecheck - time.Second, runs: map[string]bool{}, want: true, wantCounts: 1},
			{at: triggers.LegacyRecheck, want: false, wantCounts: 2},
		}},
		{"a run an earlier relay starts later is seen at the next count", []step{
			{at: 0, want: false, wantCounts: 1},
			{at: time.Minute, runs: map[string]bool{run: true}, want: false, wantCounts: 1},
			{at: triggers.LegacyRecheck, want: true, wantCounts: 2},
			{at: 2*triggers.LegacyRecheck - time.Second, want: true, wantCounts: 2},
		}},
		{"a failed count is made again after the retry wait", []step{
			{at: 0, countErr: down, want: true, wantCounts: 1},
			{at: triggers.LegacyRetry - time.Second, want: true, wantCounts: 1},
			{at: triggers.LegacyRetry, want: false, wantCounts: 2},
			{at: triggers.LegacyRetry + triggers.LegacyRecheck - time.Second, want: false, wantCounts: 2},
		}},
		{"a count failing again keeps answering yes", []step{
			{at: 0, countErr: down, want: true, wantCounts: 1},
			{at: triggers.LegacyRetry, countErr: down, want: true, wantCounts: 2},
			{at: 2 * triggers.LegacyRetry, countErr: down, want: true, wantCounts: 3},
		}},
	}
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeTemporal(nil)
			flows := parseFlows(t, ordersByID)
			rc := &runs.Client{Temporal: ft, TaskQueue: "relay", Flows: map[string]*definitions.Flow{flows[0].ID: flows[0]}}
			recv, err := triggers.NewReceiver(flows, rc, func(string) (string, error) { return testSecret, nil }, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range tt.steps {
				ft.mu.Lock()
				if st.runs != nil {
					ft.runs = st.runs
				}
				ft.countErr = st.countErr
				ft.mu.Unlock()
				if got := recv.MayHaveLegacyAt(context.Background(), "orders", t0.Add(st.at)); got != st.want {
					t.Errorf("at +%s: may have runs of an earlier relay = %v, want %v", st.at, got, st.want)
				}
				if _, counts := ft.asked(); counts != st.wantCounts {
					t.Errorf("at +%s: %d counts, want %d", st.at, counts, st.wantCounts)
				}
			}
		})
	}
}

// TestReceiverDedupesByWhatIsSigned: a delivery is named by what its
// signature covers. A captured GitHub or Shopify delivery (whose
// signature covers the body only) sent again under a fresh delivery ID
// is a duplicate, not a second run; a Standard Webhooks delivery signed
// under a new ID is a new delivery.
func TestReceiverDedupesByWhatIsSigned(t *testing.T) {
	tests := []struct {
		scheme      string
		body2       string // the second delivery's body, under a new ID
		wantStarted int
	}{
		{"github", `{"order":"o-1"}`, 1},
		{"shopify", `{"order":"o-1"}`, 1},
		{"github", `{"order":"o-2"}`, 2},
		{"shopify", `{"order":"o-2"}`, 2},
		{"standard_webhooks", `{"order":"o-1"}`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.scheme+" "+tt.body2, func(t *testing.T) {
			ft := newFakeTemporal(nil)
			url := serve(t, ft, parseFlows(t, `
id: f
version: 1
trigger:
  webhook: {path: /hooks/h, verify: {scheme: `+tt.scheme+`, secrets: [env:S]}, input: {}}
steps:
  - {id: s, set: {a: 1}}
`))
			if a := post(t, url, "/hooks/h", tt.scheme, "d-1", `{"order":"o-1"}`); a.status != http.StatusAccepted {
				t.Fatalf("first delivery: %d %s", a.status, a.raw)
			}
			want := http.StatusAccepted
			if tt.wantStarted == 1 {
				want = http.StatusOK
			}
			if a := post(t, url, "/hooks/h", tt.scheme, "d-2", tt.body2); a.status != want {
				t.Fatalf("second delivery under a new ID: %d %s, want %d", a.status, a.raw, want)
			}
			if len(ft.startIDs) != tt.wantStarted {
				t.Errorf("started %v, want %d runs", ft.startIDs, tt.wantStarted)
			}
		})
	}
}

// TestReceiverRefusesInexactKeys: a numeric key of 2^53 or more may not be
// the number the partner sent (JSON numbers decode as float64), so it
// would name or wake another order's run: the delivery is refused with
// 422, saying to send it as a string, and nothing is started or signalled.
func TestReceiverRefusesInexactKeys(t *testing.T) {
	tests := []struct {
		name, flow, path, scheme, body, code string
	}{
		{"dedupe key", ordersByID, "/hooks/o", "standard_webhooks", `{"id":9007199254740993}`, "no_dedupe_key"},
		{"run key", ordersPaid, "/hooks/pay", "stripe", `{"id":"evt_1","order_id":9007199254740993,"key":"k"}`, "no_run_key"},
		{"event key", ordersPaid, "/hooks/pay", "stripe", `{"id":"evt_1","order_id":"o-1","key":-9007199254740993}`, "no_event_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeTemporal(map[string]bool{"orders/o-1": true})
			url := serve(t, ft, parseFlows(t, tt.flow))
			a := post(t, url, tt.path, tt.scheme, "msg_1", tt.body)
			if code := a.errorCode(t); a.status != http.StatusUnprocessableEntity || code != tt.code {
				t.Fatalf("%d %s, want 422 %s", a.status, a.raw, tt.code)
			}
			if !strings.Contains(a.raw, "send it as a string") {
				t.Errorf("answer %s does not say to send the number as a string", a.raw)
			}
			if len(ft.startIDs) != 0 || len(ft.received()) != 0 {
				t.Errorf("started %v, signalled %v: want nothing", ft.startIDs, ft.received())
			}
		})
	}
}

// TestReceiverRoutes: every route of a path gets the delivery, and the
// answer sums their outcomes up.
func TestReceiverRoutes(t *testing.T) {
	waits := func(id, extra string) string {
		return waitingFlow(id, "{path: /hooks/stripe, verify: {scheme: stripe, secrets: [env:S]}}", "body.order"+extra)
	}
	starts := `
id: s
version: 1
trigger:
  webhook: {path: /hooks/stripe, verify: {scheme: stripe, secrets: [env:S]}, filter: body.type == "order", dedupe: body.order, input: {}}
steps:
  - {id: s, set: {a: 1}}
`
	unavailable := serviceerror.NewUnavailable("connection refused")
	tests := []struct {
		name       string
		flows      []string
		runs       map[string]bool  // open (true) or ended runs
		errs       map[string]error // Temporal errors by workflow ID
		body       string
		status     int
		want       string   // the answer's status, or its error code
		routes     []string // each route's outcome
		signalled  []string // the runs the event reached
		started    []string // the runs started
		retryAfter bool
	}{
		{
			name:  "a's run ended, b's waits: b gets the event",
			flows: []string{waits("a", ""), waits("b", "")}, runs: map[string]bool{"a/o-1": false, "b/o-1": true},
			status: http.StatusAccepted, want: "delivered", routes: []string{"a/paid=run_ended", "b/paid=delivered"}, signalled: []string{"b/o-1"},
		},
		{
			name:  "both runs ended",
			flows: []string{waits("a", ""), waits("b", "")}, runs: map[string]bool{"a/o-1": false, "b/o-1": false},
			status: http.StatusOK, want: "run_ended", routes: []string{"a/paid=run_ended", "b/paid=run_ended"},
		},
		{
			name:  "a's key does not resolve: b still gets the event",
			flows: []string{waits("a", "_missing"), waits("b", "")}, runs: map[string]bool{"b/o-1": true},
			status: http.StatusAccepted, want: "delivered", routes: []string{"a/paid=refused", "b/paid=delivered"}, signalled: []string{"b/o-1"},
		},
		{
			name:   "no route's key resolves",
			flows:  []string{waits("a", "_missing"), waits("b", "_missing")},
			status: http.StatusUnprocessableEntity, want: "no_run_key", routes: []string{"a/paid=refused", "b/paid=refused"},
		},
		{
			name:  "b's run is not there yet: 409, a still gets the event",
			flows: []string{waits("a", ""), waits("b", "")}, runs: map[string]bool{"a/o-1": true},
			status: http.StatusConflict, want: "no_waiting_run", routes: []string{"a/paid=delivered", "b/paid=no_waiting_run"}, signalled: []string{"a/o-1"},
		},
		{
			name:  "Temporal cannot take b's event: 503, a still gets it",
			flows: []string{waits("a", ""), waits("b", "")}, runs: map[string]bool{"a/o-1": true, "b/o-1": true}, errs: map[string]error{"b/o-1": unavailable},
			status: http.StatusServiceUnavailable, want: "unavailable", routes: []string{"a/paid=delivered", "b/paid=unavailable"}, signalled: []string{"a/o-1"}, retryAfter: true,
		},
		{
			name:  "503 outranks 409",
			flows: []string{waits("a", ""), waits("b", "")}, runs: map[string]bool{"b/o-1": true}, errs: map[string]error{"b/o-1": unavailable},
			status: http.StatusServiceUnavailable, want: "unavailable", routes: []string{"a/paid=no_waiting_run", "b/paid=unavailable"}, retryAfter: true,
		},
		{
			name:  "a start route and an event route: the run starts and the event is delivered",
			flows: []string{starts, waits("b", "")}, runs: map[string]bool{"b/o-1": true}, body: `{"id":"evt_1","type":"order","order":"o-1"}`,
			status: http.StatusAccepted, want: "started", routes: []string{"s=started", "b/paid=delivered"}, signalled: []string{"b/o-1"}, started: []string{"s/o-1"},
		},
		{
			name:  "the start route filters the delivery out: the event route still gets it",
			flows: []string{starts, waits("b", "")}, runs: map[string]bool{"b/o-1": true},
			status: http.StatusAccepted, want: "delivered", routes: []string{"s=ignored", "b/paid=delivered"}, signalled: []string{"b/o-1"},
		},
		{
			name:  "the run was started already, the waiting run ended",
			flows: []string{starts, waits("b", "")}, runs: map[string]bool{"s/o-1": true, "b/o-1": false}, body: `{"id":"evt_1","type":"order","order":"o-1"}`,
			status: http.StatusOK, want: "duplicate", routes: []string{"s=duplicate", "b/paid=run_ended"},
		},
		{
			name:  "single route: no routes in the answer",
			flows: []string{waits("b", "")}, runs: map[string]bool{"b/o-1": true},
			status: http.StatusAccepted, want: "delivered", signalled: []string{"b/o-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeTemporal(tt.runs)
			for id, err := range tt.errs {
				ft.errs[id] = err
			}
			url := serve(t, ft, parseFlows(t, tt.flows...))
			body := tt.body
			if body == "" {
				body = `{"id":"evt_1","type":"payment","order":"o-1"}`
			}
			a := post(t, url, "/hooks/stripe", "stripe", "", body)
			got := a.errorCode(t)
			if got == "" {
				got, _ = a.body["status"].(string)
				if a.body["request_id"] != a.header.Get(apiserver.RequestIDHeader) {
					t.Errorf("request_id %v, header %q", a.body["request_id"], a.header.Get(apiserver.RequestIDHeader))
				}
			}
			if a.status != tt.status || got != tt.want {
				t.Errorf("answer %d %s, want %d %s", a.status, a.raw, tt.status, tt.want)
			}
			if rs := a.routeStatuses(); !slices.Equal(rs, tt.routes) {
				t.Errorf("routes %q, want %q", rs, tt.routes)
			}
			if (a.header.Get("Retry-After") != "") != tt.retryAfter {
				t.Errorf("Retry-After %q", a.header.Get("Retry-After"))
			}
			var signalled []string
			for _, s := range ft.received() {
				signalled = append(signalled, s.workflowID)
			}
			if !slices.Equal(signalled, tt.signalled) {
				t.Errorf("signalled %q, want %q", signalled, tt.signalled)
			}
			if !slices.Equal(ft.startIDs, tt.started) {
				t.Errorf("started %q, want %q", ft.startIDs, tt.started)
			}
		})
	}
}

// TestReceiverRetryAfterPartialFailure: a partner's retry of a delivery
// answered 503 reaches every route again, and the runs that had the event
// get it with the same ID, which they drop.
func TestReceiverRetryAfterPartialFailure(t *testing.T) {
	ft := newFakeTemporal(map[string]bool{"a/o-1": true, "b/o-1": true})
	ft.errs["b/o-1"] = serviceerror.NewUnavailable("connection refused")
	url := serve(t, ft, parseFlows(t, `
id: s
version: 1
trigger:
  webhook: {path: /hooks/h, verify: {scheme: standard_webhooks, secrets: [env:S]}, dedupe: body.order, input: {}}
steps:
  - {id: s, set: {a: 1}}
`, waitingFlow("a", hookH, "body.order"), waitingFlow("b", hookH, "body.order")))
	const body = `{"order":"o-1"}`
	if a := post(t, url, "/hooks/h", "standard_webhooks", "msg_1", body); a.status != http.StatusServiceUnavailable {
		t.Fatalf("first try: %d %s, want 503", a.status, a.raw)
	}
	delete(ft.errs, "b/o-1")
	a := post(t, url, "/hooks/h", "standard_webhooks", "msg_1", body)
	if a.status != http.StatusAccepted || a.body["status"] != "delivered" {
		t.Fatalf("retry: %d %s, want 202 delivered", a.status, a.raw)
	}
	if rs := a.routeStatuses(); !slices.Equal(rs, []string{"s=duplicate", "a/paid=delivered", "b/paid=delivered"}) {
		t.Errorf("retry's routes %q", rs)
	}
	if !slices.Equal(ft.startIDs, []string{"s/o-1"}) {
		t.Errorf("started %q, want s/o-1 once", ft.startIDs)
	}
	ids := map[string][]string{}
	for _, s := range ft.received() {
		ids[s.workflowID] = append(ids[s.workflowID], s.event.ID)
	}
	if !slices.Equal(ids["a/o-1"], []string{"msg_1", "msg_1"}) || !slices.Equal(ids["b/o-1"], []string{"msg_1"}) {
		t.Errorf("event IDs by run %v: a's second copy must carry the ID it drops", ids)
	}
}

// TestReceiverTemporalErrors: a Temporal refusal no retry fixes is a 422
// naming its cause; everything else is a 503 the partner retries.
func TestReceiverTemporalErrors(t *testing.T) {
	routes := []struct {
		name, flow, path, scheme, workflowID string
	}{
		{"start", `
id: f
version: 1
trigger:
  webhook: {path: /hooks/h, verify: {scheme: standard_webhooks, secrets: [env:S]}, input: {}}
steps:
  - {id: s, set: {a: 1}}
`, "/hooks/h", "standard_webhooks", "f/msg_1"},
		{"signal", `
id: f
version: 1
events:
  - name: paid
    webhook: {path: /hooks/h, verify: {scheme: standard_webhooks, secrets: [env:S]}}
    run: body.order
steps:
  - {id: w, wait: {event: paid}}
`, "/hooks/h", "standard_webhooks", "f/o-1"},
		{"signal-with-start", `
id: f
version: 1
events:
  - name: paid
    webhook: {path: /hooks/h, verify: {scheme: standard_webhooks, secrets: [env:S]}}
    run: body.order
    start: {}
steps:
  - {id: w, wait: {event: paid}}
`, "/hooks/h", "standard_webhooks", "f/o-1"},
	}
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		cause  string // in the message of a refusal
	}{
		{"payload over the blob limit", serviceerror.NewInvalidArgument("Blob data size exceeds limit."), http.StatusUnprocessableEntity, "rejected", "Blob data size exceeds limit."},
		{"workflow ID too long", serviceerror.NewInvalidArgument("WorkflowId length exceeds limit."), http.StatusUnprocessableEntity, "rejected", "WorkflowId length exceeds limit."},
		{"failed precondition", serviceerror.NewFailedPrecondition("workflow is not in a state to accept it"), http.StatusUnprocessableEntity, "rejected", "not in a state"},
		{"wrapped refusal", fmt.Errorf("starting: %w", serviceerror.NewInvalidArgument("Blob data size exceeds limit.")), http.StatusUnprocessableEntity, "rejected", "Blob data"},
		{"unavailable", serviceerror.NewUnavailable("connection refused"), http.StatusServiceUnavailable, "unavailable", ""},
		{"deadline exceeded", serviceerror.NewDeadlineExceeded("context deadline exceeded"), http.StatusServiceUnavailable, "unavailable", ""},
		{"context deadline", context.DeadlineExceeded, http.StatusServiceUnavailable, "unavailable", ""},
		{"resource exhausted", serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT, "rate limited"), http.StatusServiceUnavailable, "unavailable", ""},
		{"canceled", serviceerror.NewCanceled("canceled"), http.StatusServiceUnavailable, "unavailable", ""},
		{"namespace failing over", serviceerror.NewNamespaceNotActive("default", "a", "b"), http.StatusServiceUnavailable, "unavailable", ""},
		{"unknown", errors.New("something else"), http.StatusServiceUnavailable, "unavailable", ""},
	}
	for _, rt := range routes {
		for _, tt := range tests {
			t.Run(rt.name+"/"+tt.name, func(t *testing.T) {
				ft := newFakeTemporal(map[string]bool{"f/o-1": true})
				if rt.name == "start" {
					ft.runs = map[string]bool{}
				}
				ft.errs[rt.workflowID] = tt.err
				url := serve(t, ft, parseFlows(t, rt.flow))
				a := post(t, url, rt.path, rt.scheme, "msg_1", `{"order":"o-1"}`)
				if code := a.errorCode(t); a.status != tt.status || code != tt.code {
					t.Errorf("%d %s, want %d %s", a.status, a.raw, tt.status, tt.code)
				}
				msg, _ := a.body["error"].(map[string]any)["message"].(string)
				if !strings.Contains(msg, tt.cause) {
					t.Errorf("message %q does not name the cause %q", msg, tt.cause)
				}
				if retry := a.header.Get("Retry-After") != ""; retry != (tt.status == http.StatusServiceUnavailable) {
					t.Errorf("%d with Retry-After %q", a.status, a.header.Get("Retry-After"))
				}
			})
		}
	}
}

// TestReceiverStoredTrigger: the trigger a run keeps, which runs:read
// shows, holds no signature or signed timestamp of any scheme, but keeps
// the delivery ID and the content type.
func TestReceiverStoredTrigger(t *testing.T) {
	tests := []struct {
		scheme, verify string
		cfg            verify.Config // to sign with, beside the scheme and secret
		id             string        // the delivery ID header, kept
	}{
		{scheme: "standard_webhooks", id: "Webhook-Id"},
		{scheme: "stripe"},
		{scheme: "github", id: "X-Github-Delivery"},
		{scheme: "shopify", id: "X-Shopify-Webhook-Id"},
		{scheme: "slack"},
		{scheme: "hmac", verify: `, header: X-Sig, timestamp_header: X-Ts, template: "{timestamp}.{body}"`,
			cfg: verify.Config{Header: "X-Sig", TimestampHeader: "X-Ts", Template: "{timestamp}.{body}"}},
	}
	for _, tt := range tests {
		t.Run(tt.scheme, func(t *testing.T) {
			ft := newFakeTemporal(nil)
			url := serve(t, ft, parseFlows(t, `
id: f
version: 1
trigger:
  webhook: {path: /hooks/h, verify: {scheme: `+tt.scheme+`, secrets: [env:S]`+tt.verify+`}, input: {}}
steps:
  - {id: s, set: {a: 1}}
`))
			body := `{"id":"evt_1","order":"o-1"}`
			cfg := tt.cfg
			cfg.Scheme, cfg.Secrets = tt.scheme, []string{testSecret}
			h, err := verify.Sign(cfg, []byte(body), time.Now(), "d-1")
			if err != nil {
				t.Fatal(err)
			}
			// GitHub signs with SHA-1 too; Svix sends Standard Webhooks
			// under its own names.
			h.Set("X-Hub-Signature", "sha1=00")
			h.Set("Svix-Signature", "v1,AA==")
			h.Set("Authorization", "Bearer x")
			h.Set("User-Agent", "partner/1")
			if a := postHeaders(t, url, "/hooks/h", h, body); a.status != http.StatusAccepted {
				t.Fatalf("%d %s", a.status, a.raw)
			}
			if len(ft.starts) != 1 || ft.starts[0].Trigger == nil {
				t.Fatalf("started %+v", ft.starts)
			}
			kept := ft.starts[0].Trigger.Headers
			for name := range h {
				if _, ok := kept[name]; ok != (name == tt.id || name == "User-Agent") {
					t.Errorf("header %s kept: %v (trigger headers %v)", name, ok, kept)
				}
			}
			if kept["Content-Type"] != "application/json" {
				t.Errorf("content type not kept: %v", kept)
			}
		})
	}
}

// TestReceiverLogsEveryRoute: the delivery's log line says what became of
// it on each route, a refusal beside a delivery included.
func TestReceiverLogsEveryRoute(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	route := func(id, run string) string {
		return waitingFlow(id, hookH, run)
	}
	ft := newFakeTemporal(map[string]bool{"b/o-1": true})
	url := serveLogged(t, ft, parseFlows(t, route("a", "body.missing"), route("b", "body.order")), logger)
	if a := post(t, url, "/hooks/h", "standard_webhooks", "msg_1", `{"order":"o-1"}`); a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	// The line is written as the handler returns, which may be just after
	// the client has the answer.
	const want = `"routes":["a/paid=refused:no_run_key","b/paid=delivered"]`
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		logged := buf.String()
		mu.Unlock()
		if strings.Contains(logged, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log has no %s: %s", want, logged)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// hookH is the webhook of the tests' standard_webhooks path /hooks/h.
const hookH = "{path: /hooks/h, verify: {scheme: standard_webhooks, secrets: [env:S]}}"

// waitingFlow is a flow id whose runs wait for the event paid, delivered
// by webhook to the run the expression run names.
func waitingFlow(id, webhook, run string) string {
	return `
id: ` + id + `
version: 1
events:
  - name: paid
    webhook: ` + webhook + `
    run: ` + run + `
steps:
  - {id: w, wait: {event: paid}}
`
}
