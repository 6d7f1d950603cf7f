package secrets

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestFieldRedactor(t *testing.T) {
	r := NewFieldRedactor([]string{"Email", " phone ", ""})
	in := map[string]any{
		"order_id": "o-1",
		"email":    "ada@example.com",
		"customer": map[string]any{"EMAIL": "ada@example.com", "name": "Ada"},
		"lines":    []any{map[string]any{"phone": "+44"}, "x"},
	}
	want := map[string]any{
		"order_id": "o-1",
		"email":    Placeholder,
		"customer": map[string]any{"EMAIL": Placeholder, "name": "Ada"},
		"lines":    []any{map[string]any{"phone": Placeholder}, "x"},
	}
	if got := r.Value(in); !reflect.DeepEqual(got, want) {
		t.Errorf("Value = %v, want %v", got, want)
	}
	if in["email"] != "ada@example.com" {
		t.Error("Value changed its input")
	}
	var doc map[string]any
	if err := json.Unmarshal(r.JSON([]byte(`{"data":{"customer":{"email":"a@b.c"}}}`), nil), &doc); err != nil || doc["data"].(map[string]any)["customer"].(map[string]any)["email"] != Placeholder {
		t.Errorf("JSON = %v (%v)", doc, err)
	}
	if string(r.JSON([]byte(`{not json`), nil)) != `"`+Placeholder+`"` {
		t.Error("unparsable JSON was not hidden")
	}
	var none *FieldRedactor
	if NewFieldRedactor(nil) != nil || none.Field("email") || none.Value(in).(map[string]any)["email"] != "ada@example.com" {
		t.Error("an empty redactor redacts")
	}
}

func TestFieldRedactorScrubsKnownValues(t *testing.T) {
	r := NewFieldRedactor([]string{"email"})
	input := map[string]any{"email": "ada@example.com"}
	output := map[string]any{"accepted": []any{"ada@example.com"}, "text": "sent to ada@example.com"}
	var known Redactor
	r.Collect(&known, input, output)
	got := r.Scrub(output, &known).(map[string]any)
	if got["accepted"].([]any)[0] != Placeholder || got["text"] != "sent to "+Placeholder {
		t.Errorf("Scrub = %v", got)
	}
}
