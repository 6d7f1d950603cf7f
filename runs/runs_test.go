package runs

import (
	"strings"
	"testing"
	"time"

	"github.com/relay-dev/relay/definitions"
)

func TestFilterQuery(t *testing.T) {
	since := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		f       Filter
		want    string
		wantErr string
	}{
		{name: "all", want: `WorkflowType = "relay.run"`},
		{name: "flow and status", f: Filter{Flow: "order-to-invoice", Status: "failed"},
			want: `WorkflowType = "relay.run" AND ExecutionStatus = "Failed" AND RelayFlow = "order-to-invoice"`},
		{name: "parked is an open run in state parked", f: Filter{Status: "parked"},
			want: `WorkflowType = "relay.run" AND ExecutionStatus = "Running" AND RelayState = "parked"`},
		{name: "failure filters and time", f: Filter{FailedStep: "invoice", ErrorType: "http.500", BusinessKey: "order-1", Since: since},
			want: `WorkflowType = "relay.run" AND RelayBusinessKey = "order-1" AND RelayErrorType = "http.500" AND RelayFailedStep = "invoice" AND StartTime >= "2026-11-22T08:00:00Z"`},
		{name: "unknown status", f: Filter{Status: "exploded"}, wantErr: `unknown status "exploded"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 5 { // the same query every time, whatever the map order
				got, err := tt.f.Query()
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
