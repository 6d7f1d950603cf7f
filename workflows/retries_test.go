package workflows

import (
	"reflect"
	"testing"
)

// TestRetriesUnder: a batch child takes the retries under its foreach by
// full paths, a `flow:` step's child by its own (the prefix cut); other
// paths, and a path that merely begins with the step's ID, are left out.
func TestRetriesUnder(t *testing.T) {
	r := &runner{retries: map[string]int{
		"lines":            1,
		"lines[3].charge":  2,
		"lines[12].charge": 1,
		"linesx[1].charge": 1,
		"sub":              1,
		"sub/group/charge": 2,
		"subx/charge":      1,
	}}
	tests := []struct {
		prefix string
		strip  bool
		want   map[string]int
	}{
		{"lines[", false, map[string]int{"lines[3].charge": 2, "lines[12].charge": 1}},
		{"sub/", true, map[string]int{"group/charge": 2}},
		{"other[", false, nil},
		{"other/", true, nil},
	}
	for _, tt := range tests {
		if got := r.retriesUnder(tt.prefix, tt.strip); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("retriesUnder(%q, %v) = %v, want %v", tt.prefix, tt.strip, got, tt.want)
		}
	}
}
