package workflows_test

import (
	"encoding/json"
	"slices"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/relay-dev/relay/workflows"
)

func TestFlowOutput(t *testing.T) {
	tests := []struct {
		name  string
		flow  string
		input map[string]any
		want  string // the result as JSON
	}{
		{"no output: every step's output and the variables", header + `
steps:
  - {id: a, set: {x: 1}}
`, nil, `{"outputs":{"a":{"x":1}},"vars":{"x":1}}`},
		{"a mapping over steps, nested steps and vars", header + `
inputs:
  who: {type: string}
steps:
  - {id: greet, call: t.quick, with: {name: greet, value: "hello ${{ input.who }}"}}
  - id: branch
    if: "true"
    then:
      - {id: big, set: {size: big}}
output:
  greeting: ${{ steps.greet.output }}
  size: ${{ steps.big.output.size }}
  var: ${{ vars.size }}
  who: ${{ input.who }}
`, map[string]any{"who": "ada"}, `{"output":{"greeting":"hello ada","size":"big","var":"big","who":"ada"}}`},
		{"a single expression", header + `
steps:
  - {id: a, set: {x: 2}}
output: ${{ vars.x * 21 }}
`, nil, `{"output":42}`},
		{"null: nothing returned, not every output", header + `
steps:
  - {id: a, set: {x: 2}}
output: ${{ nil }}
`, nil, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			res, err := h.run(t, tt.flow, tt.input)
			if err != nil {
				t.Fatalf("run failed: %v", err)
			}
			got, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("result = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestFlowOutputFailureCompensatesNothing: when every step completed but
// the output cannot be evaluated, the run fails and undoes nothing.
func TestFlowOutputFailureCompensatesNothing(t *testing.T) {
	h := newHarness(t)
	_, err := h.run(t, header+`
steps:
  - id: charge
    call: t.echo
    with: {name: charge}
    compensate:
      - {id: refund, call: t.echo, with: {name: refund}}
output: ${{ steps.charge.output.name + 1 }}
`, nil)
	var appErr *temporal.ApplicationError
	if !errorsAs(err, &appErr) || appErr.Type() != workflows.ErrorTypeOutputFailed {
		t.Fatalf("error = %v, want %s", err, workflows.ErrorTypeOutputFailed)
	}
	if got := h.calls.list(); !slices.Equal(got, []string{"charge"}) {
		t.Errorf("calls = %v, want only charge: nothing is compensated", got)
	}
}
