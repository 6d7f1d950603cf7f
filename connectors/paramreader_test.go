package connectors

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

func TestParams(t *testing.T) {
	p := ReadParams("shop", "create_order", map[string]any{
		"name":    "Ada",
		"blank":   "  ",
		"null":    nil,
		"count":   3.0,
		"half":    2.5,
		"numeric": " 7.53 ",
		"intText": "42",
		"word":    "lots",
		"big":     1e19,
		"flag":    true,
		"object":  map[string]any{"a": 1.0},
		"list":    []any{"x", "y"},
		"mixed":   []any{"x", 2.0},
		"jsonNum": json.Number("12"),
		"goInt":   int64(9),
		"nan":     "NaN",
	})
	read := map[string]func(name string) (any, error){
		"String":         func(n string) (any, error) { return p.String(n) },
		"RequiredString": func(n string) (any, error) { return p.RequiredString(n) },
		"Number": func(n string) (any, error) {
			v, ok, err := p.Number(n)
			return []any{v, ok}, err
		},
		"Int": func(n string) (any, error) {
			v, ok, err := p.Int(n)
			return []any{v, ok}, err
		},
		"Bool": func(n string) (any, error) {
			v, ok, err := p.Bool(n)
			return []any{v, ok}, err
		},
		"Object":     func(n string) (any, error) { return p.Object(n) },
		"List":       func(n string) (any, error) { return p.List(n) },
		"StringList": func(n string) (any, error) { return p.StringList(n) },
	}
	tests := []struct {
		method, name string
		want         any
		wantErr      string
	}{
		{"String", "name", "Ada", ""},
		{"String", "absent", "", ""},
		{"String", "null", "", ""},
		{"String", "count", "", "shop.create_order: count must be a string, got number"},
		{"RequiredString", "name", "Ada", ""},
		{"RequiredString", "absent", "", "shop.create_order: absent is required"},
		{"RequiredString", "null", "", "shop.create_order: null is required"},
		{"RequiredString", "blank", "", "shop.create_order: blank must not be empty"},
		{"RequiredString", "flag", "", "shop.create_order: flag must be a string, got boolean"},
		{"Number", "count", []any{3.0, true}, ""},
		{"Number", "numeric", []any{7.53, true}, ""},
		{"Number", "jsonNum", []any{12.0, true}, ""},
		{"Number", "goInt", []any{9.0, true}, ""},
		{"Number", "absent", []any{0.0, false}, ""},
		{"Number", "word", nil, "shop.create_order: word must be a number, got a non-numeric string"},
		{"Number", "nan", nil, "shop.create_order: nan must be a number, got a non-numeric string"},
		{"Number", "object", nil, "shop.create_order: object must be a number, got object"},
		{"Int", "count", []any{int64(3), true}, ""},
		{"Int", "intText", []any{int64(42), true}, ""},
		{"Int", "jsonNum", []any{int64(12), true}, ""},
		{"Int", "null", []any{int64(0), false}, ""},
		{"Int", "half", nil, "shop.create_order: half must be an integer, got 2.5"},
		{"Int", "big", nil, "shop.create_order: big must be an integer, got 1e+19"},
		{"Int", "numeric", nil, "shop.create_order: numeric must be an integer, got a non-integer string"},
		{"Int", "flag", nil, "shop.create_order: flag must be an integer, got boolean"},
		{"Bool", "flag", []any{true, true}, ""},
		{"Bool", "absent", []any{false, false}, ""},
		{"Bool", "name", nil, "shop.create_order: name must be a boolean, got string"},
		{"Object", "object", map[string]any{"a": 1.0}, ""},
		{"Object", "absent", map[string]any(nil), ""},
		{"Object", "list", nil, "shop.create_order: list must be an object, got array"},
		{"List", "list", []any{"x", "y"}, ""},
		{"List", "null", []any(nil), ""},
		{"List", "name", nil, "shop.create_order: name must be an array, got string"},
		{"StringList", "list", []string{"x", "y"}, ""},
		{"StringList", "absent", []string(nil), ""},
		{"StringList", "mixed", nil, "shop.create_order: mixed[1] must be a string, got number"},
		{"StringList", "object", nil, "shop.create_order: object must be an array, got object"},
	}
	for _, tt := range tests {
		t.Run(tt.method+"/"+tt.name, func(t *testing.T) {
			got, err := read[tt.method](tt.name)
			if tt.wantErr != "" {
				ce, ok := AsError(err)
				if !ok || ce.Type != "invalid_params" || ce.Retryable || ce.Message != tt.wantErr {
					t.Fatalf("%s(%q) error = %#v, want permanent invalid_params %q", tt.method, tt.name, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s(%q): %v", tt.method, tt.name, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s(%q) = %#v, want %#v", tt.method, tt.name, got, tt.want)
			}
		})
	}
}

func TestParamsInvalid(t *testing.T) {
	p := ReadParams("hubspot", "associate", map[string]any{"to_id": 1.5})
	if got := p.Mistyped("to_id", "an ID", p.Any("to_id")).Message; got != "hubspot.associate: to_id must be an ID, got number" {
		t.Errorf("Mistyped = %q", got)
	}
	if got := p.Invalid("path must be %s", "relative"); got.Message != "hubspot.associate: path must be relative" || got.Type != "invalid_params" || got.Retryable {
		t.Errorf("Invalid = %#v", got)
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   any
		want float64
		ok   bool
	}{
		{7.5, 7.5, true},
		{3, 3, true},
		{int32(-4), -4, true},
		{int64(1 << 40), 1 << 40, true},
		{json.Number("1e3"), 1000, true},
		{"7.53", 7.53, true},
		{" 12 ", 12, true},
		{"", 0, false},
		{"7 USD", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"1e400", 0, false},
		{math.Inf(1), 0, false},
		{math.NaN(), 0, false},
		{json.Number("x"), 0, false},
		{true, 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseNumber(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("ParseNumber(%#v) = %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   any
		want int64
		ok   bool
	}{
		{2000.0, 2000, true},
		{-3.0, -3, true},
		{7, 7, true},
		{int32(8), 8, true},
		{int64(math.MaxInt64), math.MaxInt64, true},
		{-9223372036854775808.0, math.MinInt64, true},
		{json.Number("12"), 12, true},
		{"42", 42, true},
		{" 42 ", 42, true},
		{20.5, 0, false},
		{9223372036854775808.0, 0, false},
		{math.Inf(-1), 0, false},
		{math.NaN(), 0, false},
		{json.Number("1.5"), 0, false},
		{"20 EUR", 0, false},
		{"1.0", 0, false},
		{false, 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseInt(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseInt(%#v) = %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestScalarString(t *testing.T) {
	tests := []struct {
		in   any
		want string
		ok   bool
	}{
		{"a b", "a b", true},
		{true, "true", true},
		{2.5, "2.5", true},
		{1e21, "1000000000000000000000", true},
		{42, "42", true},
		{uint64(7), "7", true},
		{json.Number("3.10"), "3.10", true},
		{nil, "", false},
		{[]any{"a"}, "", false},
		{map[string]any{}, "", false},
	}
	for _, tt := range tests {
		got, ok := ScalarString(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ScalarString(%#v) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestJSONType(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, "null"},
		{"", "string"},
		{false, "boolean"},
		{1.0, "number"},
		{int64(1), "number"},
		{json.Number("1"), "number"},
		{[]any{}, "array"},
		{map[string]any{}, "object"},
		{[]string{}, "[]string"},
	}
	for _, tt := range tests {
		if got := JSONType(tt.in); got != tt.want {
			t.Errorf("JSONType(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
