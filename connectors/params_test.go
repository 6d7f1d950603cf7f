package connectors

import (
	"context"
	"reflect"
	"testing"
)

func TestParamDefaults(t *testing.T) {
	action := &Action{
		Name: "create_order",
		Params: []Param{
			{Name: "customer", Required: true},
			{Name: "currency", Default: "EUR"},
			{Name: "lines", Required: true},
			{Name: "options", Default: map[string]any{"notify": true}},
			{Name: "note"},
		},
		Do: func(context.Context, *Call) (any, error) { return nil, nil },
	}
	tests := []struct {
		name    string
		params  map[string]any
		want    map[string]any
		wantErr string
	}{
		{
			name:   "defaults filled",
			params: map[string]any{"customer": "c-1", "lines": []any{}},
			want:   map[string]any{"customer": "c-1", "lines": []any{}, "currency": "EUR", "options": map[string]any{"notify": true}},
		},
		{
			name:   "given values kept, extras passed through",
			params: map[string]any{"customer": "c-1", "lines": []any{1.0}, "currency": "USD", "extra": 1.0},
			want:   map[string]any{"customer": "c-1", "lines": []any{1.0}, "currency": "USD", "extra": 1.0, "options": map[string]any{"notify": true}},
		},
		{
			name:   "null takes the default",
			params: map[string]any{"customer": "c-1", "lines": []any{}, "currency": nil},
			want:   map[string]any{"customer": "c-1", "lines": []any{}, "currency": "EUR", "options": map[string]any{"notify": true}},
		},
		{name: "one missing", params: map[string]any{"customer": "c-1"}, wantErr: `action "create_order": missing required parameter "lines"`},
		{name: "all missing named", params: nil, wantErr: `action "create_order": missing required parameters "customer", "lines"`},
		{name: "null required", params: map[string]any{"customer": nil, "lines": []any{}}, wantErr: `action "create_order": missing required parameter "customer"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParamDefaults(action, tt.params)
			if tt.wantErr != "" {
				ce, ok := AsError(err)
				if !ok || ce.Type != "invalid_params" || ce.Retryable || ce.Message != tt.wantErr {
					t.Fatalf("ParamDefaults error = %#v, want permanent invalid_params %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParamDefaults: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParamDefaults = %#v, want %#v", got, tt.want)
			}
		})
	}

	got, _ := ParamDefaults(action, map[string]any{"customer": "c", "lines": []any{}})
	got["options"].(map[string]any)["notify"] = false
	if action.Params[3].Default.(map[string]any)["notify"] != true {
		t.Error("changing a call's params changed the action's default")
	}
	in := map[string]any{"customer": "c", "lines": []any{}}
	ParamDefaults(action, in)
	if _, ok := in["currency"]; ok {
		t.Error("ParamDefaults changed its input")
	}
}
