package connectors

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Params reads the evaluated parameters of one call with the types an
// action expects. Every mistake is a permanent invalid_params error whose
// message starts with the activity type: `hubspot.create_deal: amount must
// be a number, got boolean`. Messages name the JSON type of a wrong value,
// never a string's text, which may be personal data or a secret.
type Params struct {
	prefix string
	m      map[string]any
}

// ReadParams returns a reader of m, the parameters of a call of the action
// of connector; apply ParamDefaults first.
func ReadParams(connector, action string, m map[string]any) Params {
	return Params{prefix: ActivityType(connector, action), m: m}
}

// Invalid returns a permanent invalid_params error about the call.
func (p Params) Invalid(format string, args ...any) *Error {
	return Permanent("invalid_params", "%s: %s", p.prefix, fmt.Sprintf(format, args...))
}

// Mistyped returns the error for a value of the wrong type: `name must be
// want, got <JSON type>`. name may be a path such as items[0].qty.
func (p Params) Mistyped(name, want string, got any) *Error {
	return p.Invalid("%s must be %s, got %s", name, want, JSONType(got))
}

// Any returns the value as it is, nil when absent.
func (p Params) Any(name string) any {
	return p.m[name]
}

// String returns an optional string; absent or null is "".
func (p Params) String(name string) (string, error) {
	switch v := p.m[name].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", p.Mistyped(name, "a string", v)
	}
}

// RequiredString returns a string that must be present and not blank. It
// is returned as given, spaces included.
func (p Params) RequiredString(name string) (string, error) {
	if p.m[name] == nil {
		return "", p.Invalid("%s is required", name)
	}
	s, err := p.String(name)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", p.Invalid("%s must not be empty", name)
	}
	return s, nil
}

// Number returns an optional number, given as a number or a numeric
// string; ok is false when it is absent or null.
func (p Params) Number(name string) (n float64, ok bool, err error) {
	v := p.m[name]
	if v == nil {
		return 0, false, nil
	}
	if n, ok := ParseNumber(v); ok {
		return n, true, nil
	}
	if _, isString := v.(string); isString {
		return 0, false, p.Invalid("%s must be a number, got a non-numeric string", name)
	}
	return 0, false, p.Mistyped(name, "a number", v)
}

// Int returns an optional integer, given as a whole number or a string of
// one; ok is false when it is absent or null.
func (p Params) Int(name string) (n int64, ok bool, err error) {
	v := p.m[name]
	if v == nil {
		return 0, false, nil
	}
	if n, ok := ParseInt(v); ok {
		return n, true, nil
	}
	if _, isString := v.(string); isString {
		return 0, false, p.Invalid("%s must be an integer, got a non-integer string", name)
	}
	if f, isNumber := ParseNumber(v); isNumber {
		return 0, false, p.Invalid("%s must be an integer, got %v", name, f)
	}
	return 0, false, p.Mistyped(name, "an integer", v)
}

// Bool returns an optional boolean; ok is false when it is absent or null.
func (p Params) Bool(name string) (b, ok bool, err error) {
	switch v := p.m[name].(type) {
	case nil:
		return false, false, nil
	case bool:
		return v, true, nil
	default:
		return false, false, p.Mistyped(name, "a boolean", v)
	}
}

// Object returns an optional object; absent or null is nil.
func (p Params) Object(name string) (map[string]any, error) {
	switch v := p.m[name].(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return v, nil
	default:
		return nil, p.Mistyped(name, "an object", v)
	}
}

// List returns an optional array; absent or null is nil.
func (p Params) List(name string) ([]any, error) {
	switch v := p.m[name].(type) {
	case nil:
		return nil, nil
	case []any:
		return v, nil
	default:
		return nil, p.Mistyped(name, "an array", v)
	}
}

// StringList returns an optional array of strings; absent or null is nil.
func (p Params) StringList(name string) ([]string, error) {
	list, err := p.List(name)
	if err != nil || list == nil {
		return nil, err
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, p.Mistyped(fmt.Sprintf("%s[%d]", name, i), "a string", e)
		}
		out[i] = s
	}
	return out, nil
}

// JSONType names the JSON type of a decoded value for messages: null,
// string, number, boolean, array or object (the Go type for anything else).
func JSONType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64, float32, int, int32, int64, uint, uint32, uint64, json.Number:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// ParseNumber reads a finite number given as a JSON number, a Go integer or
// a numeric string (partners such as EasyPost send amounts as "7.53").
func ParseNumber(v any) (float64, bool) {
	var f float64
	switch v := v.(type) {
	case float64:
		f = v
	case int:
		return float64(v), true
	case int32:
		return float64(v), true
	case int64:
		return float64(v), true
	case json.Number:
		var err error
		if f, err = v.Float64(); err != nil {
			return 0, false
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// ParseInt reads an integer given as a whole JSON number, a Go integer or a
// base-10 string.
func ParseInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case float64:
		// 2^63 itself does not fit; every float64 below it that is whole does.
		if v != math.Trunc(v) || v < math.MinInt64 || v >= math.MaxInt64 {
			return 0, false
		}
		return int64(v), true
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// ScalarString formats a string, number or boolean as the text of a header,
// query or form value: numbers in plain decimal (1e21 is
// 1000000000000000000000). Anything else is not a scalar.
func ScalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case int, int32, int64, uint, uint32, uint64, json.Number:
		return fmt.Sprint(v), true
	}
	return "", false
}
