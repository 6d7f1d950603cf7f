package flowgraph

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/builtin"
	"github.com/relay-dev/relay/definitions"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestGolden(t *testing.T) {
	for src, reg := range map[string]*connectors.Registry{
		"../definitions/flows/order-to-invoice.yaml": builtin.Registry(),
		// full.yaml uses every step kind; its calls are not checked.
		"../definitions/testdata/valid/full.yaml": nil,
	} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		f, err := definitions.Parse(src, data, reg)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(src), ".yaml")
		for ext, render := range map[string]func(*definitions.Flow) string{"mmd": Mermaid, "dot": DOT} {
			t.Run(name+"."+ext, func(t *testing.T) {
				got := render(f)
				if again := render(f); again != got {
					t.Fatal("output differs between two calls")
				}
				golden := filepath.Join("testdata", name+"."+ext)
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./flowgraph -update)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs from the golden file (go test ./flowgraph -update, then review the diff):\n%s", golden, got)
				}
			})
		}
	}
}

func TestGraphParts(t *testing.T) {
	f, err := definitions.Parse("t.yaml", []byte(`
id: parts
version: 2
steps:
  - id: ask
    if: 1 > 0
    then:
      - {id: yes_step, set: {a: 1}}
  - id: each
    foreach: '[1, 2]'
    steps:
      - {id: body, set: {b: "${{ item }}"}}
  - id: hold
    wait: {event: "x.\"done\"", timeout: 90m, on_timeout: {goto: last}}
  - id: last
    sleep: 2h
`), builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	m := Mermaid(f)
	for _, want := range []string{
		`s1{"ask<br/>if 1 #gt; 0"}`,
		`s1 -->|"then"| s2`,
		`s1 -->|"else"| s3`,
		`s3{{"each<br/>foreach [1, 2]"}}`,
		`s4 --> s3`,
		`s3 -->|"done"| s5`,
		`s5[/"hold<br/>wait x.#quot;done#quot;, timeout 1h30m"/]`,
		`s5 -.->|"timeout"| s6`,
		`s6 --> finish`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("mermaid lacks %q:\n%s", want, m)
		}
	}
	d := DOT(f)
	for _, want := range []string{
		`s5 [shape=parallelogram, style=solid, label="hold\nwait x.\"done\", timeout 1h30m"];`,
		`s5 -> s6 [label="timeout", style=dotted];`,
	} {
		if !strings.Contains(d, want) {
			t.Errorf("dot lacks %q:\n%s", want, d)
		}
	}
}
