package definitions

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relay-dev/relay/connectors"
)

var update = flag.Bool("update", false, "rewrite the .golden files of testdata/invalid")

// testRegistry is an isolated registry with a fake http connector, so these
// tests do not depend on the real connectors.
func testRegistry() *connectors.Registry {
	do := func(context.Context, *connectors.Call) (any, error) { return nil, nil }
	return new(connectors.Registry).MustRegister(&connectors.Connector{
		Name: "http",
		Actions: []*connectors.Action{
			{Name: "request", Do: do, Params: []connectors.Param{
				{Name: "url", Type: "string", Required: true},
				{Name: "method", Type: "string", Default: "GET"},
				{Name: "body", Type: "any"},
				{Name: "timeout_ms", Type: "integer"},
				{Name: "api_key", Type: "string", Secret: true},
			}},
			{Name: "ping", Do: do, Short: true},
		},
	})
}

func TestInvalidGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid fixtures: %v", err)
	}
	reg := testRegistry()
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(filepath.Base(file), data, reg)
			if err == nil {
				t.Fatalf("Parse accepted an invalid definition")
			}
			if f != nil {
				t.Errorf("Parse returned a flow with errors")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want Errors", err)
			}
			for i := 1; i < len(errs); i++ {
				a, b := errs[i-1].Pos, errs[i].Pos
				if a.Line > b.Line || (a.Line == b.Line && a.Col > b.Col) {
					t.Errorf("errors not sorted: %v before %v", errs[i-1], errs[i])
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("messages differ from %s (run go test -update after checking them)\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func parseFile(t *testing.T, file string) *Flow {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(file, data, testRegistry())
	if err != nil {
		t.Fatalf("Parse(%s):\n%v", file, err)
	}
	return f
}

func TestValidFixturesParse(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no valid fixtures")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f := parseFile(t, file)
			if f.Source.File != file || len(f.Source.Content) == 0 || len(f.Source.Hash) != 64 {
				t.Errorf("Source = %q, %d bytes, hash %q", f.Source.File, len(f.Source.Content), f.Source.Hash)
			}
		})
	}
}

func TestParseNilRegistrySkipsConnectorChecks(t *testing.T) {
	src := "id: x\nversion: 1\nconnections:\n  crm: {connector: anything}\nsteps:\n  - {id: a, call: crm.whatever, with: {free: 1}}\n"
	f, err := Parse("x.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := f.Steps[0]; s.Connector != "anything" || s.Action != "whatever" {
		t.Errorf("call resolved to %s.%s", s.Connector, s.Action)
	}
}

func TestErrorFormat(t *testing.T) {
	errs := Errors{
		{File: "a.yaml", Pos: Pos{3, 7}, Path: "steps[0].id", Msg: "bad"},
		{File: "a.yaml", Pos: Pos{1, 1}, Msg: "file is empty"},
	}
	want := "a.yaml:3:7: steps[0].id: bad\na.yaml:1:1: file is empty"
	if got := errs.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if err := (Errors{}).err(); err != nil {
		t.Errorf("no problems gave error %v", err)
	}
}
