package definitions

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

const schemaURL = "https://github.com/relay-dev/relay/definitions/flow.schema.json"

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("Schema() is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaURL, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		t.Fatalf("Schema() does not compile: %v", err)
	}
	return sch
}

// yamlToJSON converts a definition file to the JSON instance an editor
// would validate.
func yamlToJSON(t *testing.T, file string) any {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func TestSchemaAcceptsValidFixtures(t *testing.T) {
	sch := compileSchema(t)
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	bundled, _ := filepath.Glob("flows/*.yaml")
	for _, file := range append(files, bundled...) {
		t.Run(file, func(t *testing.T) {
			if err := sch.Validate(yamlToJSON(t, file)); err != nil {
				t.Errorf("schema refuses %s:\n%v", file, err)
			}
		})
	}
}

func TestSchemaRefusesInvalidFixtures(t *testing.T) {
	sch := compileSchema(t)
	for _, name := range []string{
		"root", "version", "not_mapping", "unknown_fields", "kinds", "empty_lists",
		"goto", "calls", "connections", "auth", "durations", "step_ids", "merge",
	} {
		t.Run(name, func(t *testing.T) {
			if err := sch.Validate(yamlToJSON(t, "testdata/invalid/"+name+".yaml")); err == nil {
				t.Errorf("schema accepts testdata/invalid/%s.yaml", name)
			}
		})
	}
}

func TestSchemaIsStable(t *testing.T) {
	if !bytes.Equal(Schema(), Schema()) {
		t.Error("Schema() differs between calls")
	}
}

func TestSchemaRules(t *testing.T) {
	sch := compileSchema(t)
	const head = "id: x\nversion: 1\n"
	tests := []struct {
		name  string
		yaml  string
		valid bool
	}{
		{"minimal", head + "steps: [{id: a, sleep: 1s}]", true},
		{"if with then and else", head + "steps: [{id: a, if: 'true', then: [{id: b, sleep: 1s}], else: [{id: c, sleep: 1s}]}]", true},
		{"goto", head + "steps: [{id: a, sleep: 1s, on_error: {goto: a}}]", true},
		{"missing id", head + "steps: [{sleep: 1s}]", false},
		{"no kind", head + "steps: [{id: a}]", false},
		{"two kinds", head + "steps: [{id: a, sleep: 1s, set: {x: 1}}]", false},
		{"then without if", head + "steps: [{id: a, sleep: 1s, then: [{id: b, sleep: 1s}]}]", false},
		{"if without then", head + "steps: [{id: a, if: 'true'}]", false},
		{"with on set", head + "steps: [{id: a, set: {x: 1}, with: {y: 1}}]", false},
		{"bad duration", head + "steps: [{id: a, sleep: 10 minutes}]", false},
		{"bad step id", head + "steps: [{id: a-b, sleep: 1s}]", false},
		{"bad on_error", head + "steps: [{id: a, sleep: 1s, on_error: retry}]", false},
		{"literal secret", head + "connections: {c: {connector: http, auth: {kind: bearer, token: abc}}}\nsteps: [{id: a, sleep: 1s}]", false},
		{"secret ref", head + "connections: {c: {connector: http, auth: {kind: bearer, token: 'env:T'}}}\nsteps: [{id: a, sleep: 1s}]", true},
		{"auth field of another kind", head + "connections: {c: {connector: http, auth: {kind: bearer, token: 'env:T', username: u}}}\nsteps: [{id: a, sleep: 1s}]", false},
		{"bad rate limit", head + "connections: {c: {connector: http, rate_limit: 10/d}}\nsteps: [{id: a, sleep: 1s}]", false},
		{"unknown input type", head + "inputs: {a: {type: text}}\nsteps: [{id: a, sleep: 1s}]", false},
		{"empty steps", head + "steps: []", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := yaml.Unmarshal([]byte(tt.yaml), &v); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(v)
			inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			err := sch.Validate(inst)
			if tt.valid && err != nil {
				t.Errorf("schema refuses it: %v", err)
			}
			if !tt.valid && err == nil {
				t.Error("schema accepts it")
			}
			_, perr := Parse("x.yaml", []byte(tt.yaml), testRegistry())
			if (perr == nil) != tt.valid {
				t.Errorf("Parse disagrees with the schema: %v", perr)
			}
		})
	}
}
