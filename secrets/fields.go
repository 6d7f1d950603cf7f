package secrets

import (
	"encoding/json"
	"strings"
)

// FieldRedactor hides personal data by field name (email, phone, …) in the
// run data relay shows: inputs, outputs, trigger bodies. A nil
// *FieldRedactor redacts nothing.
type FieldRedactor struct {
	fields map[string]bool
}

// NewFieldRedactor redacts the named fields, compared case-insensitively.
// It returns nil when names is empty.
func NewFieldRedactor(names []string) *FieldRedactor {
	fields := map[string]bool{}
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			fields[n] = true
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return &FieldRedactor{fields: fields}
}

// Field reports whether values under the name are redacted.
func (r *FieldRedactor) Field(name string) bool {
	return r != nil && r.fields[strings.ToLower(name)]
}

// Value returns a copy of v (JSON-shaped: maps, slices, scalars) in which
// the value of every redacted field, at any depth, is Placeholder.
func (r *FieldRedactor) Value(v any) any { return r.Scrub(v, nil) }

// Collect adds to known every string found under a redacted field in vs, so
// that Scrub hides the same data where it appears under other names (an
// email address in a recipient list or a message).
func (r *FieldRedactor) Collect(known *Redactor, vs ...any) {
	if r == nil {
		return
	}
	var walk func(v any, hidden bool)
	walk = func(v any, hidden bool) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				walk(val, hidden || r.Field(k))
			}
		case []any:
			for _, val := range x {
				walk(val, hidden)
			}
		case string:
			if hidden && x != "" {
				known.Add(x)
			}
		}
	}
	for _, v := range vs {
		walk(v, false)
	}
}

// Scrub is Value that also replaces, in every string, the values known
// holds (nil: none).
func (r *FieldRedactor) Scrub(v any, known *Redactor) any {
	if r == nil {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if r.Field(k) {
				out[k] = Placeholder
			} else {
				out[k] = r.Scrub(val, known)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = r.Scrub(val, known)
		}
		return out
	case string:
		if known != nil {
			return known.Redact(x)
		}
		return x
	default:
		return v
	}
}

// JSON redacts a JSON document; a document that does not parse is returned
// whole only when nothing is configured, else replaced by Placeholder.
func (r *FieldRedactor) JSON(doc []byte, known *Redactor) []byte {
	if r == nil {
		return doc
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return []byte(`"` + Placeholder + `"`)
	}
	b, err := json.Marshal(r.Scrub(v, known))
	if err != nil {
		return []byte(`"` + Placeholder + `"`)
	}
	return b
}
