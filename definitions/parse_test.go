package definitions

import (
	"context"
	"errors"
	"flag"
	"fmt"
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

func TestUnknownAnchorPosition(t *testing.T) {
	head := "id: x\nversion: 1\nsteps:\n  - id: a\n"
	tests := []struct {
		name string
		body string
		want string // file:line:col of the one error
	}{
		{"mapping value", "    set: {x: 1}\nx: *nope\n", "x.yaml:6:4:"},
		{"after comment, quotes and block text", "    # *nope\n    description: '*nope and \"*nope\"'\n    set:\n      note: |\n        *nope\n      x: [1, *nope]\n", "x.yaml:10:14:"},
		{"longer anchor first", "    set: {x: 1}\nz: &nopey 1\ny: *nopey\nx: *nope\n", "x.yaml:8:4:"},
		{"key", "    set: {x: 1}\nx: {*nope : 1}\n", "x.yaml:6:5:"},
		{"second undefined anchor after it", "    set: {x: 1}\nx: *nope\ny: *other\n", "x.yaml:6:4:"},
		{"defined after use", "    set: {x: 1}\nx: *nope\ny: &nope 1\nz: *nope\n", "x.yaml:6:4:"},
		{"in a flow sequence", "    set: {x: 1}\nx: [a, b,\n   *nope]\n", "x.yaml:7:4:"},
		{"after its text in quotes on the same line", "    set: {x: 1}\nx: [\"*nope\", *nope]\n", "x.yaml:6:14:"},
		{"nine undefined anchors after it", "    set: {x: 1}\nx: *nope\ny: [*u1, *u2, *u3, *u4, *u5, *u6, *u7, *u8, *u9]\n", "x.yaml:6:4:"},
		{"a tagged alias after it", "    set: {x: 1}\nx: *nope\ny: !!str *other\n", "x.yaml:6:4:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(head+tt.body), nil)
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("err = %v, want one error", err)
			}
			want := tt.want + " invalid YAML: unknown anchor '"
			if got := errs[0].Error(); !strings.HasPrefix(got, want) {
				t.Errorf("got %q, want it to start with %q", got, want)
			}
		})
	}
}

// TestParsePinned: what Parse now refuses but a run in flight may be
// pinned to still loads for that run, and runs as it did; what no run
// could run stays refused.
func TestParsePinned(t *testing.T) {
	const head = "id: pinned\nversion: 1\n"
	tests := []struct {
		name       string
		yaml       string
		pinnedLoad bool
	}{
		{"a foreach body's step read after the loop", head + `steps:
  - id: lines
    foreach: ${{ [1, 2] }}
    steps:
      - {id: line, set: {x: "${{ item }}"}}
  - {id: after, set: {last: "${{ steps.line.output }}"}}
`, true},
		{"the name event", head + `steps:
  - {id: a, set: {amount: "${{ event.amount }}"}}
`, true},
		{"a webhook input that is not declared", head + `inputs:
  order_id: {type: string, required: true}
trigger:
  webhook:
    path: /hooks/x
    verify: {scheme: standard_webhooks, secrets: ["env:HOOK_SECRET"]}
    input: {order_idd: "${{ body.id }}"}
steps:
  - {id: a, set: {x: 1}}
`, true},
		{"a retry initial_interval beyond the default max_interval", head + `steps:
  - {id: a, flow: other, retry: {initial_interval: 5m}}
`, true},
		{"a retry max_interval under the default initial_interval", head + `steps:
  - {id: a, flow: other, retry: {max_interval: 500ms}}
`, true},
		{"a jitter that overflows max_interval", head + `steps:
  - {id: a, flow: other, retry: {max_interval: 2000000h, jitter: 1}}
`, true},
		{"max_attempts beyond 32 bits", head + `steps:
  - {id: a, flow: other, retry: {max_attempts: 4294967297}}
`, true},
		{"a step that reads a later one", head + `steps:
  - {id: a, set: {x: "${{ steps.b.output }}"}}
  - {id: b, set: {y: 1}}
`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse("pinned.yaml", []byte(tt.yaml), nil); err == nil {
				t.Fatal("Parse accepted it")
			}
			_, err := ParsePinned("pinned.yaml", []byte(tt.yaml), nil)
			if loaded := err == nil; loaded != tt.pinnedLoad {
				t.Fatalf("ParsePinned loaded %v, want %v (%v)", loaded, tt.pinnedLoad, err)
			}
		})
	}
}

// deepFlow is a flow whose steps are nested depth deep, each level written
// as open (with %d for the level) around the next and closed by close.
func deepFlow(depth int, open, close string) []byte {
	var b strings.Builder
	b.WriteString("id: deep\nversion: 1\nsteps: [")
	for i := range depth {
		fmt.Fprintf(&b, open, i)
	}
	b.WriteString("{id: last, set: {a: 1}}" + strings.Repeat(close, depth) + "]\n")
	return []byte(b.String())
}

// deepNestings are the nested step kinds TestDeepNestingParsesLinearly
// and BenchmarkParseDeepNesting build.
var deepNestings = []struct {
	name        string
	open, close string
	pinned      bool
}{
	{"if then", "{id: s%d, if: 'true', then: [", "]}", false},
	{"if else", "{id: s%d, if: 'true', then: [{id: t%[1]d, set: {a: 1}}], else: [", "]}", false},
	{"switch default", "{id: s%d, switch: [{when: 'true', steps: [{id: c%[1]d, set: {a: 1}}]}], default: [", "]}", false},
	{"pinned foreach", "{id: s%d, foreach: '[1]', steps: [", "]}", true},
}

// TestDeepNestingParsesLinearly: steps nested a thousand deep parse, and
// the work grows with the depth, not its square. The loader used to copy
// the steps each level may read at every level above, so that a 50 KiB
// file (POST /v1/flows/validate takes one from any key allowed to read
// flows) took about 5 s to check, twice per request. Allocations stand for
// the work: doubling the depth must not quadruple them (it did).
func TestDeepNestingParsesLinearly(t *testing.T) {
	for _, tc := range deepNestings {
		t.Run(tc.name, func(t *testing.T) {
			parse := Parse
			if tc.pinned {
				parse = ParsePinned
			}
			allocs := func(depth int) float64 {
				src := deepFlow(depth, tc.open, tc.close)
				return testing.AllocsPerRun(1, func() {
					if _, err := parse("deep.yaml", src, testRegistry()); err != nil {
						t.Fatal(err)
					}
				})
			}
			small, large := allocs(500), allocs(1000)
			t.Logf("allocations: %.0f at 500 levels, %.0f at 1000", small, large)
			if ratio := large / small; ratio > 3 {
				t.Errorf("allocations grew %.1f times from 500 to 1000 levels (%.0f to %.0f): quadratic in the depth", ratio, small, large)
			}
		})
	}
}

// BenchmarkParseDeepNesting parses steps nested 1,500 deep.
func BenchmarkParseDeepNesting(b *testing.B) {
	for _, tc := range deepNestings {
		src := deepFlow(1500, tc.open, tc.close)
		parse := Parse
		if tc.pinned {
			parse = ParsePinned
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parse("deep.yaml", src, testRegistry()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
