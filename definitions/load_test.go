package definitions

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relay-dev/relay/connectors/builtin"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.yaml":             "id: alpha\nversion: 1\nsteps:\n  - {id: run_beta, flow: beta, with: {x: 1}}\n",
		"b.yml":              "id: beta\nversion: 1\ninputs:\n  x: {type: integer, required: true}\nsteps:\n  - {id: a, sleep: 1s}\n",
		"sub/c.yaml":         "id: gamma\nversion: 1\nsteps:\n  - {id: a, sleep: 1s}\n",
		"dup.yaml":           "id: alpha\nversion: 2\nsteps:\n  - {id: a, sleep: 1s}\n",
		"bad.yaml":           "id: bad\nversion: 1\nsteps:\n  - {id: a, sleep: 1s, colour: red}\n",
		"orphan.yaml":        "id: orphan\nversion: 1\nsteps:\n  - {id: a, flow: nope}\n",
		"wrong_input.yaml":   "id: wrong-input\nversion: 1\nsteps:\n  - {id: a, flow: beta, with: {y: 2}}\n",
		"broken_child.yaml":  "id: uses-broken\nversion: 1\nsteps:\n  - {id: a, flow: bad}\n",
		"testdata/x.yaml":    "not: [a flow",
		".hidden/y.yaml":     "not: [a flow",
		"notes.txt":          "not yaml",
		"sub/deeper/d.yml":   "id: delta\nversion: 1\nsteps:\n  - {id: a, flow: gamma}\n",
		"sub/testdata/z.yml": "broken: [",
	})
	flows, err := LoadDir(dir, testRegistry())
	var ids []string
	for _, f := range flows {
		ids = append(ids, f.ID)
	}
	if got, want := strings.Join(ids, ","), "alpha,beta,uses-broken,gamma,delta"; got != want {
		t.Errorf("flows = %s, want %s", got, want)
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %T %v, want Errors", err, err)
	}
	want := []string{
		filepath.Join(dir, "bad.yaml") + `:4:24: steps[0].colour: unknown field "colour"`,
		filepath.Join(dir, "dup.yaml") + `:1:5: id: duplicate flow id "alpha" (first in ` + filepath.Join(dir, "a.yaml") + `)`,
		filepath.Join(dir, "orphan.yaml") + `:4:19: steps[0].flow: unknown flow "nope": no file defines it`,
		filepath.Join(dir, "wrong_input.yaml") + `:4:35: steps[0].with.y: flow beta has no input "y"; inputs: x`,
		filepath.Join(dir, "wrong_input.yaml") + `:4:31: steps[0].with: missing required input "x" of flow beta`,
	}
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors do not contain %q:\n%v", w, err)
		}
	}
}

func TestLoadDirMissing(t *testing.T) {
	_, err := LoadDir(filepath.Join(t.TempDir(), "nope"), testRegistry())
	var errs Errors
	if err == nil || errors.As(err, &errs) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want a wrapped not-exist error", err)
	}
}

func TestLoadValidFixtures(t *testing.T) {
	flows, err := LoadDir("testdata/valid", testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if len(flows) != 5 {
		t.Errorf("loaded %d flows, want 5", len(flows))
	}
}

func TestBundled(t *testing.T) {
	flows, err := LoadFS(Bundled(), builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	var hello *Flow
	for _, f := range flows {
		if f.ID == "hello" {
			hello = f
		}
	}
	if hello == nil {
		t.Fatalf("bundled flows %v lack hello", flows)
	}
	if hello.Source.File != "hello.yaml" {
		t.Errorf("hello source = %q", hello.Source.File)
	}
	in, err := hello.BindInput(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := hello.Steps[0].Set[0].Value.Eval(&Env{Input: in})
	if err != nil || got != "Hello, world!" {
		t.Errorf("greeting = %v, %v", got, err)
	}
}
