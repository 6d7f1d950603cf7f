package runs

import (
	"strings"
	"testing"
	"time"
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
