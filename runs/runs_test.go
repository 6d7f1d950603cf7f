package runs

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/workflows"
)

func TestFilterQuery(t *testing.T) {
	since := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		f       Filter
		flows   []string
		want    string
		wantErr string
	}{
		{name: "all", want: `WorkflowType = "relay.run"`},
		{name: "flow and status", f: Filter{Flow: "order-to-invoice", Status: "failed"},
			want: `WorkflowType = "relay.run" AND (RelayFlow = "order-to-invoice" OR (RelayFlow IS NULL AND ParentWorkflowId IS NULL AND WorkflowId STARTS_WITH "order-to-invoice/")) AND ExecutionStatus = "Failed"`},
		{name: "parked is an open run in state parked", f: Filter{Status: "parked"},
			want: `WorkflowType = "relay.run" AND ExecutionStatus = "Running" AND RelayState = "parked"`},
		{name: "failure filters and time", f: Filter{FailedStep: "invoice", ErrorType: "http.500", Since: since},
			want: `WorkflowType = "relay.run" AND RelayErrorType = "http.500" AND RelayFailedStep = "invoice" AND StartTime >= "2026-11-22T08:00:00Z"`},
		{name: "business key under every known flow", f: Filter{BusinessKey: "order-1"}, flows: []string{"refunds", "order-to-invoice"},
			want: `WorkflowType = "relay.run" AND (RelayBusinessKey = "order-1" OR (RelayBusinessKey IS NULL AND ParentWorkflowId IS NULL AND WorkflowId IN ("order-to-invoice/order-1", "refunds/order-1")))`},
		{name: "business key under the filter's flow only", f: Filter{Flow: "refunds", BusinessKey: "order-1"}, flows: []string{"refunds", "order-to-invoice"},
			want: `WorkflowType = "relay.run" AND (RelayBusinessKey = "order-1" OR (RelayBusinessKey IS NULL AND ParentWorkflowId IS NULL AND WorkflowId IN ("refunds/order-1"))) AND (RelayFlow = "refunds" OR (RelayFlow IS NULL AND ParentWorkflowId IS NULL AND WorkflowId STARTS_WITH "refunds/"))`},
		{name: "business key with no flow known", f: Filter{BusinessKey: "order-1"},
			want: `WorkflowType = "relay.run" AND RelayBusinessKey = "order-1"`},
		{name: "quotes in a key stay quoted", f: Filter{BusinessKey: `a"b`}, flows: []string{"f"},
			want: `WorkflowType = "relay.run" AND (RelayBusinessKey = "a\"b" OR (RelayBusinessKey IS NULL AND ParentWorkflowId IS NULL AND WorkflowId IN ("f/a\"b")))`},
		{name: "unknown status", f: Filter{Status: "exploded"}, wantErr: `unknown status "exploded"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 5 { // the same query every time, whatever the map order
				got, err := tt.f.Query(tt.flows)
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("error = %v, want %q", err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Fatalf("query =\n%s\nwant\n%s", got, tt.want)
				}
			}
		})
	}
}

func TestStartAttributes(t *testing.T) {
	tests := []struct {
		name string
		id   string
		opts StartOptions
		want map[string]string // search attribute → value
	}{
		{name: "the ID says flow and key", id: "order-to-invoice/order-1", want: map[string]string{}},
		{name: "a key of its own", id: "order-to-invoice/order-1/rerun-1", opts: StartOptions{BusinessKey: "order-1"},
			want: map[string]string{"RelayBusinessKey": "order-1"}},
		{name: "the key the ID says, given", id: "order-to-invoice/order-1", opts: StartOptions{BusinessKey: "order-1"}, want: map[string]string{}},
		{name: "an ID of the caller's", id: "nightly-import", want: map[string]string{"RelayFlow": "order-to-invoice", "RelayBusinessKey": "nightly-import"}},
		{name: "another flow's prefix", id: "refunds/order-1", opts: StartOptions{BusinessKey: "order-1"},
			want: map[string]string{"RelayFlow": "order-to-invoice", "RelayBusinessKey": "order-1"}},
		{name: "a replay", id: "order-to-invoice/order-1/replay-1", opts: StartOptions{BusinessKey: "order-1", Replay: &workflows.Replay{Original: "order-to-invoice/order-1"}},
			want: map[string]string{"RelayBusinessKey": "order-1", "RelayReplayOf": "order-to-invoice/order-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]string{}
			sa := temporal.NewSearchAttributes(startAttributes("order-to-invoice", tt.id, tt.opts)...)
			for k, v := range sa.GetUntypedValues() {
				got[k.GetName()] = v.(string)
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("search attributes %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadAttributesFromID(t *testing.T) {
	payload := func(v string) *commonpb.Payload {
		p, err := converter.GetDefaultDataConverter().ToPayload(v)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name              string
		id                string
		attrs             map[string]*commonpb.Payload
		child             bool
		wantFlow, wantKey string
	}{
		{name: "from the ID", id: "order-to-invoice/order-1", wantFlow: "order-to-invoice", wantKey: "order-1"},
		{name: "a key with a slash", id: "order-to-invoice/eu/order-1", wantFlow: "order-to-invoice", wantKey: "eu/order-1"},
		{name: "the search attributes win", id: "nightly", attrs: map[string]*commonpb.Payload{SearchAttributeFlow: payload("refunds"), workflows.SearchAttributeBusinessKey: payload("r-9")}, wantFlow: "refunds", wantKey: "r-9"},
		{name: "a replay keeps its original's key", id: "order-to-invoice/order-1/replay-1a2b3c4d/rerun-5e6f7a8b", attrs: map[string]*commonpb.Payload{workflows.SearchAttributeBusinessKey: payload("order-1")}, wantFlow: "order-to-invoice", wantKey: "order-1"},
		{name: "an ID under another flow than its attribute", id: "refunds/r-9", attrs: map[string]*commonpb.Payload{SearchAttributeFlow: payload("order-to-invoice")}, wantFlow: "order-to-invoice"},
		{name: "a child's ID is its parent's", id: "order-to-invoice/order-1/ship", child: true},
		{name: "an ID without a flow", id: "nightly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summary{WorkflowID: tt.id}
			readAttributes(tt.attrs, tt.child, &s)
			if s.Flow != tt.wantFlow || s.BusinessKey != tt.wantKey {
				t.Fatalf("flow %q, key %q; want %q, %q", s.Flow, s.BusinessKey, tt.wantFlow, tt.wantKey)
			}
		})
	}
}

func TestPinnedFlow(t *testing.T) {
	parse := func(yaml string) *definitions.Flow {
		t.Helper()
		f, err := definitions.Parse("hello.yaml", []byte(yaml), nil)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	const v1 = "id: hello\nversion: 1\nsteps:\n  - id: greet\n    set: {msg: hi}\n"
	const v2 = "id: hello\nversion: 2\nsteps:\n  - id: greet\n    set: {msg: hello}\n"
	loaded := parse(v2)
	c := &Client{Flows: map[string]*definitions.Flow{"hello": loaded}}
	tests := []struct {
		name        string
		flowID      string
		src         definitions.Source
		wantLoaded  bool
		wantVersion int
		wantErr     string
	}{
		{"the loaded definition", "hello", loaded.Source, true, 2, ""},
		{"an older definition is read back", "hello", parse(v1).Source, false, 1, ""},
		{"a flow not loaded", "gone", parse(v1).Source, false, 1, ""},
		{"no flow known", "", loaded.Source, false, 2, ""},
		{"a definition that does not parse", "hello", definitions.Source{File: "x.yaml", Content: []byte("id: [x\n"), Hash: "sha256:x"}, false, 0, "x.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := c.pinnedFlow(tt.flowID, tt.src)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("pinnedFlow error = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (f == loaded) != tt.wantLoaded || f.Version != tt.wantVersion || f.Source.Hash != tt.src.Hash {
				t.Errorf("pinnedFlow = version %d, hash %s, the loaded flow %v; want version %d, hash %s, the loaded flow %v",
					f.Version, f.Source.Hash, f == loaded, tt.wantVersion, tt.src.Hash, tt.wantLoaded)
			}
		})
	}
}

func TestMayCall(t *testing.T) {
	const flow = `id: sync
version: 1
connections:
  api: {connector: http, base_url: "https://api.example.com"}
steps:
  - {id: login, call: api.request, with: {method: POST, path: /login}}
  - {id: list, call: api.request, with: {path: /orders}}
  - {id: fetch, call: api.request, with: {path: /orders/1}, on_error: {goto: list}}
  - {id: wait, wait: {event: order.paid, correlation: "\"1\"", timeout: 1h, on_timeout: {goto: login}}}
  - {id: notify, call: api.request, with: {method: POST, path: /notify}}
`
	f, err := definitions.Parse("sync.yaml", []byte(flow), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		from string
		want int // calls
	}{
		{"notify", 1},
		{"fetch", 4}, // its goto goes back to list; the wait's to login
		{"login", 4},
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			from := slices.IndexFunc(f.Steps, func(s *definitions.Step) bool { return s.ID == tt.from })
			if got := mayCall(f.Steps, from); len(got) != tt.want {
				t.Fatalf("replay from %s may call %v, want %d calls", tt.from, got, tt.want)
			}
		})
	}
}

func TestWithoutSignatures(t *testing.T) {
	hmacFlow, err := definitions.Parse("hmac.yaml", []byte(`
id: signed
version: 1
trigger:
  webhook: {path: /hooks/signed, verify: {scheme: hmac, secrets: [env:S], header: X-Sig, timestamp_header: X-Ts, template: "{timestamp}.{body}"}, input: {}}
steps:
  - {id: s, set: {a: 1}}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		headers    map[string]string
		want       map[string]string
		flow       *definitions.Flow // the run's definition; nil when it did not parse
	}{
		{"standard webhooks", "/hooks/shop/orders",
			map[string]string{"Webhook-Id": "msg_1", "Webhook-Signature": "v1,AA==", "Webhook-Timestamp": "1", "Content-Type": "application/json"},
			map[string]string{"Webhook-Id": "msg_1", "Content-Type": "application/json"}, hmacFlow},
		{"github", "/hooks/gh",
			map[string]string{"X-Github-Delivery": "d-1", "X-Hub-Signature-256": "sha256=00", "X-Hub-Signature": "sha1=00", "X-Github-Event": "push"},
			map[string]string{"X-Github-Delivery": "d-1", "X-Github-Event": "push"}, hmacFlow},
		{"providers' headers on any path", "/hooks/other",
			map[string]string{"Stripe-Signature": "t=1,v1=00", "X-Shopify-Hmac-Sha256": "AA==", "X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": "1", "X-Shopify-Webhook-Id": "w-1"},
			map[string]string{"X-Shopify-Webhook-Id": "w-1"}, hmacFlow},
		{"an hmac route's own headers", "/hooks/signed",
			map[string]string{"X-Sig": "00", "X-Ts": "1", "X-Id": "i-1"},
			map[string]string{"X-Id": "i-1"}, hmacFlow},
		{"an hmac route's headers on another path are not signatures", "/hooks/other",
			map[string]string{"X-Sig": "00"},
			map[string]string{"X-Sig": "00"}, hmacFlow},
		{"a definition that did not parse: the providers' headers still go", "/hooks/signed",
			map[string]string{"X-Sig": "00", "Stripe-Signature": "t=1,v1=00"},
			map[string]string{"X-Sig": "00"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &workflows.TriggerEvent{Path: tt.path, Headers: tt.headers}
			n := len(tt.headers)
			if got := withoutSignatures(in, tt.flow); !maps.Equal(got.Headers, tt.want) || got.Path != tt.path {
				t.Errorf("trigger %+v, want headers %v", got, tt.want)
			}
			if len(in.Headers) != n {
				t.Error("the run's own headers were changed")
			}
		})
	}
}

// TestStartIdempotencyKey: a start sent again with the same idempotency
// key starts nothing and returns the run the first one started, running or
// closed; without a key, under another key or for another flow, each start
// starts its own run. A key and a workflow ID together are refused.
func TestStartIdempotencyKey(t *testing.T) {
	type start struct {
		flow string // "sync" or "other"
		key  string
	}
	tests := []struct {
		name         string
		starts       []start
		wantStarted  int
		wantExisting []bool
	}{
		{name: "same key", starts: []start{{"sync", "k"}, {"sync", "k"}, {"sync", "k"}}, wantStarted: 1, wantExisting: []bool{false, true, true}},
		{name: "two keys", starts: []start{{"sync", "k"}, {"sync", "l"}}, wantStarted: 2, wantExisting: []bool{false, false}},
		{name: "no key", starts: []start{{"sync", ""}, {"sync", ""}}, wantStarted: 2, wantExisting: []bool{false, false}},
		{name: "one key, two flows", starts: []start{{"sync", "k"}, {"other", "k"}}, wantStarted: 2, wantExisting: []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeTemporal()
			f := parseSample(t)
			other, err := definitions.Parse("other.yaml", []byte(strings.ReplaceAll(sampleFlow, "id: sync", "id: other")), nil)
			if err != nil {
				t.Fatal(err)
			}
			c := fakeClient(ft, f)
			flows := map[string]*definitions.Flow{"sync": f, "other": other}
			var got []Run
			for i, s := range tt.starts {
				run, err := c.Start(context.Background(), flows[s.flow], nil, StartOptions{IdempotencyKey: s.key})
				if err != nil {
					t.Fatalf("start %d: %v", i+1, err)
				}
				if run.Existing != tt.wantExisting[i] || !strings.HasPrefix(run.WorkflowID, s.flow+"/") || run.RunID == "" || run.Flow != s.flow {
					t.Errorf("start %d: run %+v, want existing %v", i+1, run, tt.wantExisting[i])
				}
				if run.Existing && (run.WorkflowID != got[0].WorkflowID || run.RunID != got[0].RunID) {
					t.Errorf("start %d returned %+v, not the first start's run %+v", i+1, run, got[0])
				}
				got = append(got, run)
			}
			if started := ft.startedIDs(); len(started) != tt.wantStarted {
				t.Errorf("started %v, want %d runs", started, tt.wantStarted)
			}
		})
	}
	t.Run("key and workflow ID", func(t *testing.T) {
		ft := newFakeTemporal()
		f := parseSample(t)
		_, err := fakeClient(ft, f).Start(context.Background(), f, nil, StartOptions{WorkflowID: "sync/1", IdempotencyKey: "k"})
		if err == nil || len(ft.startedIDs()) != 0 {
			t.Errorf("started %v, error %v; want a refusal", ft.startedIDs(), err)
		}
	})
}

// TestInputFlowNotLoaded: a flow whose `flow:` step starts a flow this
// process has not loaded is refused with a FlowNotLoadedError naming the
// step (an API 409), at any depth.
func TestInputFlowNotLoaded(t *testing.T) {
	parse := func(file, yaml string) *definitions.Flow {
		t.Helper()
		f, err := definitions.Parse(file, []byte(yaml), nil)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	order := parse("order.yaml", "id: order\nversion: 1\nsteps:\n  - {id: bill, flow: invoice}\n")
	invoice := parse("invoice.yaml", "id: invoice\nversion: 1\nsteps:\n  - {id: send, flow: mail}\n")
	mail := parse("mail.yaml", "id: mail\nversion: 1\nsteps:\n  - {id: ok, set: {sent: true}}\n")
	tests := []struct {
		name   string
		loaded []*definitions.Flow
		want   *FlowNotLoadedError // nil: the input pins every flow
	}{
		{"all loaded", []*definitions.Flow{order, invoice, mail}, nil},
		{"the child missing", []*definitions.Flow{order, mail}, &FlowNotLoadedError{Flow: "order", Step: "bill", Missing: "invoice"}},
		{"the grandchild missing", []*definitions.Flow{order, invoice}, &FlowNotLoadedError{Flow: "invoice", Step: "send", Missing: "mail"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{Flows: map[string]*definitions.Flow{}}
			for _, f := range tt.loaded {
				c.Flows[f.ID] = f
			}
			in, err := c.Input(order, nil)
			if tt.want == nil {
				if err != nil || len(in.Subflows) != 2 {
					t.Fatalf("Input = %d subflows, %v; want invoice and mail pinned", len(in.Subflows), err)
				}
				return
			}
			var got *FlowNotLoadedError
			if !errors.As(err, &got) || *got != *tt.want {
				t.Fatalf("Input error = %v, want %+v", err, tt.want)
			}
		})
	}
}
