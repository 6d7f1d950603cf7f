package definitions_test

import (
	"testing"

	"github.com/relay-dev/relay/definitions"
)

// TestText pins the text Text gives: recorded histories hold it (keys
// that waits compare, strings that mappings build), so none may ever
// change.
func TestText(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, ""},
		{"string", "o-1", "o-1"},
		{"empty string", "", ""},
		{"JSON integer", 12345678.0, "12345678"},
		{"JSON integer at 2^53", 9007199254740992.0, "9007199254740992"},
		{"large JSON number", 1e21, "1000000000000000000000"},
		{"negative", -42.0, "-42"},
		{"fraction", 0.5, "0.5"},
		{"Go int", 7, "7"},
		{"Go int64", int64(12345678), "12345678"},
		{"bool", true, "true"},
		{"list", []any{1.0, "a"}, "[1 a]"},
		{"mapping", map[string]any{"b": 2.0, "a": 1.0}, "map[a:1 b:2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := definitions.Text(tt.in); got != tt.want {
				t.Errorf("Text(%#v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
