package definitions

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestBindInput(t *testing.T) {
	src := `id: bind
version: 1
inputs:
  order_id: {type: string, required: true}
  amount:   {type: number, default: 0}
  count:    {type: integer, default: 1}
  express:  {type: boolean, default: false}
  meta:     {type: object, default: {source: shop}}
  items:    {type: array}
  extra:    {type: any}
steps:
  - {id: a, sleep: 1s}
`
	f, err := Parse("bind.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]any{"amount": 0, "count": 1, "express": false, "meta": map[string]any{"source": "shop"}}
	with := func(extra map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range defaults {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name    string
		in      map[string]any
		want    map[string]any
		wantErr []string
	}{
		{name: "defaults applied", in: map[string]any{"order_id": "o1"}, want: with(map[string]any{"order_id": "o1"})},
		{name: "values kept", in: map[string]any{"order_id": "o1", "amount": 9.5, "count": 3, "express": true, "items": []any{1}, "extra": "x"},
			want: with(map[string]any{"order_id": "o1", "amount": 9.5, "count": 3, "express": true, "items": []any{1}, "extra": "x"})},
		{name: "json numbers", in: map[string]any{"order_id": "o1", "amount": json.Number("2.5"), "count": float64(4)},
			want: with(map[string]any{"order_id": "o1", "amount": json.Number("2.5"), "count": float64(4)})},
		{name: "null is absent", in: map[string]any{"order_id": "o1", "amount": nil}, want: with(map[string]any{"order_id": "o1"})},
		{name: "missing required", in: map[string]any{}, wantErr: []string{`input "order_id" is required`}},
		{name: "wrong types", in: map[string]any{"order_id": 5, "count": 1.5, "express": "yes", "meta": []any{}, "items": "x"},
			wantErr: []string{`input "order_id": want a string, got an integer`, `input "count": want an integer, got a number`,
				`input "express": want a boolean, got a string`, `input "meta": want an object, got an array`, `input "items": want an array, got a string`}},
		{name: "undeclared", in: map[string]any{"order_id": "o1", "colour": "red"},
			wantErr: []string{`input "colour" is not declared by flow bind; inputs: amount, count, express, extra, items, meta, order_id`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.BindInput(tt.in)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("BindInput = %v, want an error", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("BindInput = %#v, want %#v", got, tt.want)
			}
		})
	}

	got, _ := f.BindInput(map[string]any{"order_id": "o1"})
	got["meta"].(map[string]any)["source"] = "changed"
	if f.Inputs[4].Default.(map[string]any)["source"] != "shop" {
		t.Error("BindInput shares the default's map with the flow")
	}
}

func TestCheckType(t *testing.T) {
	tests := []struct {
		typ  string
		v    any
		want string
	}{
		{"string", "x", ""},
		{"number", 1, ""},
		{"number", int64(1), ""},
		{"number", "1", "want a number, got a string"},
		{"integer", 2.0, ""},
		{"integer", 2.5, "want an integer, got a number"},
		{"boolean", true, ""},
		{"object", map[string]int{"a": 1}, ""},
		{"object", nil, "want an object, got null"},
		{"array", []string{"a"}, ""},
		{"any", nil, ""},
		{"", struct{}{}, ""},
	}
	for _, tt := range tests {
		if got := checkType(tt.typ, tt.v); got != tt.want {
			t.Errorf("checkType(%q, %#v) = %q, want %q", tt.typ, tt.v, got, tt.want)
		}
	}
}
