package workflows

import (
	"fmt"
	"reflect"
	"testing"
)

// TestFailureDetail: a run's failure lists the steps it undid only for a
// parent's `flow:` step, and at most maxCompensatedPaths of them, counting
// those it leaves out, so that a long compensating foreach cannot make the
// failure too large for Temporal.
func TestFailureDetail(t *testing.T) {
	paths := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("lines[%d].order", i)
		}
		return out
	}
	tests := []struct {
		name     string
		se       stepError
		child    bool
		want     []string
		wantCut  int
		wantSame bool // the detail is the step error as it is
	}{
		{"not a child", stepError{Step: "ship", Path: "ship", Compensated: paths(3)}, false, nil, 0, false},
		{"not a child, cut below", stepError{Step: "ship", Path: "ship", Compensated: paths(3), CompensatedCut: 7}, false, nil, 0, false},
		{"child", stepError{Step: "ship", Path: "ship", Compensated: paths(3)}, true, paths(3), 0, true},
		{"child at the bound", stepError{Step: "ship", Path: "ship", Compensated: paths(maxCompensatedPaths)}, true, paths(maxCompensatedPaths), 0, true},
		{"child over the bound", stepError{Step: "ship", Path: "ship", Compensated: paths(2500)}, true, paths(maxCompensatedPaths), 1500, false},
		{"child over the bound, cut below", stepError{Step: "ship", Path: "ship", Compensated: paths(1001), CompensatedCut: 4}, true, paths(maxCompensatedPaths), 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.se
			before.Compensated = append([]string(nil), tt.se.Compensated...)
			d := failureDetail(&tt.se, tt.child)
			if !reflect.DeepEqual(d.Compensated, tt.want) || d.CompensatedCut != tt.wantCut {
				t.Errorf("detail lists %d paths, %d cut; want %d, %d cut", len(d.Compensated), d.CompensatedCut, len(tt.want), tt.wantCut)
			}
			if d.Step != tt.se.Step || d.Path != tt.se.Path {
				t.Errorf("detail names %s at %s, want %s at %s", d.Step, d.Path, tt.se.Step, tt.se.Path)
			}
			if tt.wantSame && !reflect.DeepEqual(*d, tt.se) {
				t.Errorf("detail %+v, want the step error %+v", *d, tt.se)
			}
			if !reflect.DeepEqual(tt.se, before) {
				t.Error("failureDetail changed the run's step error")
			}
		})
	}
}

// TestRetryAfterCutList: retry-step on a `flow:` step whose child undid
// more steps than its failure lists keys afresh the listed ones only; the
// others are unknown, and a fresh key for a call the child did not undo
// would do it twice.
func TestRetryAfterCutList(t *testing.T) {
	r := &runner{generation: genChildFailures, retries: map[string]int{}}
	r.retryWithFreshKey("pay", &stepError{Path: "pay/charge", Compensated: []string{"pay/lines[1].order", "pay/lines[0].order"}, CompensatedCut: 3})
	want := map[string]int{"pay": 1, "pay/charge": 1, "pay/lines[1].order": 1, "pay/lines[0].order": 1}
	if !reflect.DeepEqual(r.retries, want) {
		t.Errorf("retries %v, want %v", r.retries, want)
	}
}
