package connectors

import (
	"fmt"
	"maps"
	"strings"
)

// ParamDefaults returns a copy of params with the action's defaults filled
// in for absent (or null) parameters. A required parameter that is still
// missing is a permanent invalid_params error naming all of them. Unknown
// parameters pass through: definitions are validated before they run.
func ParamDefaults(a *Action, params map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(params)+len(a.Params))
	maps.Copy(out, params)
	var missing []string
	for _, p := range a.Params {
		if v, ok := out[p.Name]; ok && v != nil {
			continue
		}
		switch {
		case p.Default != nil:
			out[p.Name] = cloneJSON(p.Default)
		case p.Required:
			missing = append(missing, fmt.Sprintf("%q", p.Name))
		}
	}
	if len(missing) > 0 {
		noun := "parameter"
		if len(missing) > 1 {
			noun += "s"
		}
		return nil, Permanent("invalid_params", "action %q: missing required %s %s", a.Name, noun, strings.Join(missing, ", "))
	}
	return out, nil
}

// cloneJSON copies maps and slices so a call cannot change a default.
func cloneJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = cloneJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneJSON(e)
		}
		return out
	default:
		return v
	}
}
