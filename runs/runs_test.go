package runs

import (
	"maps"
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

func TestReadAttributesFlowFromID(t *testing.T) {
	flowAttr, _ := converter.GetDefaultDataConverter().ToPayload("refunds")
	tests := []struct {
		name  string
		id    string
		attrs map[string]*commonpb.Payload
		child bool
		want  string
	}{
		{name: "from the ID", id: "order-to-invoice/order-1", want: "order-to-invoice"},
		{name: "the search attribute wins", id: "nightly", attrs: map[string]*commonpb.Payload{SearchAttributeFlow: flowAttr}, want: "refunds"},
		{name: "a child's ID is its parent's", id: "order-to-invoice/order-1/ship", child: true, want: ""},
		{name: "an ID without a flow", id: "nightly", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summary{WorkflowID: tt.id}
			readAttributes(tt.attrs, tt.child, &s)
			if s.Flow != tt.want {
				t.Fatalf("flow %q, want %q", s.Flow, tt.want)
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
