package definitions

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
)

// BindInput returns the run's input: in with defaults applied. It refuses
// a missing required input, a value of the wrong type and an input the flow
// does not declare; each error names the input. A nil value counts as
// absent.
func (f *Flow) BindInput(in map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(f.Inputs))
	var errs []error
	declared := map[string]bool{}
	for _, decl := range f.Inputs {
		declared[decl.Name] = true
		v, ok := in[decl.Name]
		switch {
		case ok && v != nil:
			if msg := checkType(decl.Type, v); msg != "" {
				errs = append(errs, fmt.Errorf("input %q: %s", decl.Name, msg))
				continue
			}
			out[decl.Name] = v
		case decl.Default != nil:
			out[decl.Name] = deepCopy(decl.Default)
		case decl.Required:
			errs = append(errs, fmt.Errorf("input %q is required", decl.Name))
		}
	}
	var unknown []string
	for name := range in {
		if !declared[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		names := sortedNames(declared)
		list := "the flow declares no inputs"
		if len(names) > 0 {
			list = "inputs: " + strings.Join(names, ", ")
		}
		for _, name := range sortedSlice(unknown) {
			errs = append(errs, fmt.Errorf("input %q is not declared by flow %s; %s", name, f.ID, list))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func sortedSlice(s []string) []string {
	m := make(map[string]bool, len(s))
	for _, x := range s {
		m[x] = true
	}
	return sortedNames(m)
}

// checkType returns what is wrong with v as a value of type typ, or "".
// An empty type is any. Integers may arrive as whole floats (JSON numbers).
func checkType(typ string, v any) string {
	want := map[string]string{
		"string":  "a string",
		"number":  "a number",
		"integer": "an integer",
		"boolean": "a boolean",
		"object":  "an object",
		"array":   "an array",
	}[typ]
	ok := true
	switch typ {
	case "", "any":
		return ""
	case "string":
		_, ok = v.(string)
	case "boolean":
		_, ok = v.(bool)
	case "number":
		_, ok = toFloat(v)
	case "integer":
		f, isNum := toFloat(v)
		ok = isNum && f == math.Trunc(f) && !math.IsInf(f, 0)
	case "object":
		rv := reflect.ValueOf(v)
		ok = v != nil && rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String
	case "array":
		rv := reflect.ValueOf(v)
		ok = v != nil && (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array)
	default:
		return fmt.Sprintf("unknown type %q", typ)
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("want %s, got %s", want, typeName(v))
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float32:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true
	}
	return 0, false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	if f, ok := toFloat(v); ok {
		if f == math.Trunc(f) {
			return "an integer"
		}
		return "a number"
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

// deepCopy copies the maps and lists of a default so that runs never share
// them with the Flow.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
