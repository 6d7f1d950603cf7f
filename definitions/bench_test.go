package definitions

import (
	"io/fs"
	"testing"

	"github.com/relay-dev/relay/connectors/builtin"
)

// BenchmarkParseFlagship is loading the bundled order-to-invoice flow:
// YAML, validation and compiling every expression (target < 10 ms). A
// worker parses a definition once per hash; relay validate and relay dev
// once per file.
func BenchmarkParseFlagship(b *testing.B) {
	src, err := fs.ReadFile(Bundled(), "order-to-invoice.yaml")
	if err != nil {
		b.Fatal(err)
	}
	reg := builtin.Registry()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("order-to-invoice.yaml", src, reg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvalStepMappings is what a step's `with:` costs when it runs
// (target < 20 µs): the flagship's sales_order step, with upper() and a
// map() over the order lines.
func BenchmarkEvalStepMappings(b *testing.B) {
	src, err := fs.ReadFile(Bundled(), "order-to-invoice.yaml")
	if err != nil {
		b.Fatal(err)
	}
	flow, err := Parse("order-to-invoice.yaml", src, builtin.Registry())
	if err != nil {
		b.Fatal(err)
	}
	var step *Step
	for _, s := range flow.Steps {
		if s.ID == "sales_order" {
			step = s
		}
	}
	if step == nil || step.With == nil {
		b.Fatal("the flagship has no sales_order step with a mapping")
	}
	env := &Env{
		Input: map[string]any{
			"order_id": "ord_1001", "email": "ada@example.com", "currency": "eur", "delivery_date": "2026-11-25",
			"lines": []any{
				map[string]any{"sku": "MUG-01", "qty": 2.0, "price": 12.5},
				map[string]any{"sku": "TEE-42", "qty": 1.0, "price": 24.0},
			},
		},
		Steps: map[string]StepView{"customer": {Status: "completed", Output: map[string]any{"name": "Ada Lovelace"}}},
		Vars:  map[string]any{"amount_minor": 4900},
	}
	out, err := step.With.Eval(env)
	if err != nil {
		b.Fatal(err)
	}
	if m, _ := out.(map[string]any); m["currency"] != "EUR" || m["customer"] != "Ada Lovelace" {
		b.Fatalf("mapping gave %v", out)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := step.With.Eval(env); err != nil {
			b.Fatal(err)
		}
	}
}
