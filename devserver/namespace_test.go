package devserver

import (
	"maps"
	"strings"
	"testing"

	enums "go.temporal.io/api/enums/v1"
)

func TestAssignSearchAttributes(t *testing.T) {
	keyword := enums.INDEXED_VALUE_TYPE_KEYWORD
	tests := []struct {
		name    string
		current map[string]string
		want    map[string]enums.IndexedValueType
		result  map[string]string
		err     string
	}{
		{name: "none", result: map[string]string{}},
		{
			name:   "new attributes take the first free columns in name order",
			want:   map[string]enums.IndexedValueType{"B": keyword, "A": keyword, "N": enums.INDEXED_VALUE_TYPE_INT},
			result: map[string]string{"Keyword01": "A", "Keyword02": "B", "Int01": "N"},
		},
		{
			name:    "existing attribute is kept",
			current: map[string]string{"Keyword01": "A"},
			want:    map[string]enums.IndexedValueType{"A": keyword, "B": keyword},
			result:  map[string]string{"Keyword01": "A", "Keyword02": "B"},
		},
		{
			name:    "existing attribute with another type",
			current: map[string]string{"Keyword01": "A"},
			want:    map[string]enums.IndexedValueType{"A": enums.INDEXED_VALUE_TYPE_BOOL},
			err:     `search attribute "A": already registered as Keyword, want Bool`,
		},
		{
			name: "reserved and column names",
			want: map[string]enums.IndexedValueType{"WorkflowType": keyword, "Keyword03": keyword},
			err: "search attribute \"Keyword03\": name is a storage column name\n" +
				"search attribute \"WorkflowType\": name is reserved",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := maps.Clone(tt.current)
			got, err := assignSearchAttributes(tt.current, tt.want)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !maps.Equal(got, tt.result) {
				t.Errorf("aliases = %v, want %v", got, tt.result)
			}
			if !maps.Equal(before, tt.current) {
				t.Errorf("current was modified: %v", tt.current)
			}
		})
	}
}

func TestAssignSearchAttributesRunsOutOfSlots(t *testing.T) {
	want := map[string]enums.IndexedValueType{}
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZ" {
		want[string(c)] = enums.INDEXED_VALUE_TYPE_BOOL
	}
	_, err := assignSearchAttributes(nil, want)
	if err == nil || !strings.Contains(err.Error(), "no free Bool slot left") {
		t.Fatalf("error = %v, want one about running out of Bool slots", err)
	}
}
