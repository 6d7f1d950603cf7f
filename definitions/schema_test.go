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
