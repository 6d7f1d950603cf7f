package definitions

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/valid/*.yaml", "testdata/invalid/*.yaml", "flows/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	reg := testRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		flow, err := Parse("fuzz.yaml", data, reg)
		if err != nil {
			if flow != nil {
				t.Fatal("a flow returned with errors")
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T is not a non-empty Errors", err)
			}
			for _, e := range errs {
				if e.Pos.Line < 1 || e.Pos.Col < 1 || e.Msg == "" {
					t.Fatalf("error without position or message: %#v", e)
				}
			}
			_ = err.Error()
			return
		}
		if flow == nil || flow.ID == "" || len(flow.Steps) == 0 {
			t.Fatalf("valid flow is incomplete: %+v", flow)
		}
		Walk(flow.Steps, func(s *Step) bool {
			if s.ID == "" || s.Kind == "" {
				t.Fatalf("step without id or kind: %+v", s)
			}
			return true
		})
		_, _ = flow.BindInput(nil)
	})
}

// FuzzCompileExpr compiles and runs arbitrary expressions: errors, never
// panics, and the same result every time (no clock, no map order).
func FuzzCompileExpr(f *testing.F) {
	for _, s := range []string{
		`input.amount * 2`, `steps.charge.output.id`, `len(input.items) > 3 ? "many" : "few"`,
		`keys({"b": 1, "a": 2})`, `toPairs({"b": 1, "a": 2})`, `date("2026-11-22").Add(duration("1h"))`,
		`map(1..5, # * 2)`, `sum(map(input.lines, #.qty * #.price))`, `now()`, `"a" + `, `${{ vars.x }}`,
		`1..100000`, `repeat("ab", 1000)`,
	} {
		f.Add(s)
	}
	env := &Env{
		Input: map[string]any{"amount": 2.5, "items": []any{1, 2}, "lines": []any{map[string]any{"qty": 1.0, "price": 2.0}}},
		Steps: map[string]StepView{"charge": {Output: map[string]any{"id": "pi_1"}, Status: "completed"}},
		Vars:  map[string]any{"x": 1.0, "m": map[string]any{"b": 1, "a": 2}},
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := CompileExpr(src, Pos{Line: 1, Col: 1})
		if err != nil {
			return
		}
		first, err1 := e.Eval(env)
		second, err2 := e.Eval(env)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("%q: errors differ between runs: %v / %v", src, err1, err2)
		}
		if err1 == nil && fmt.Sprint(first) != fmt.Sprint(second) {
			t.Fatalf("%q: results differ between runs: %v / %v", src, first, second)
		}
	})
}
