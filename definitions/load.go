package definitions

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/relay-dev/relay/connectors"
)

//go:embed flows/*.yaml
var bundled embed.FS

// Bundled returns the flows that ship with relay, one YAML file each.
func Bundled() fs.FS {
	sub, err := fs.Sub(bundled, "flows")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return sub
}

// LoadDir loads every *.yaml and *.yml file under dir, recursively, skipping
// folders named testdata and hidden ones. See LoadFS.
func LoadDir(dir string, reg *connectors.Registry) ([]*Flow, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("loading definitions: %w", err)
	}
	return load(os.DirFS(dir), func(p string) string { return filepath.Join(dir, filepath.FromSlash(p)) }, reg)
}

// LoadFS loads every *.yaml and *.yml file of fsys, sorted by path, and
// checks the rules that span files: flow IDs are unique and `flow:` steps
// name a flow that exists, with inputs it declares. It returns the valid
// flows; err is Errors holding the problems of every refused file, or an
// I/O error.
func LoadFS(fsys fs.FS, reg *connectors.Registry) ([]*Flow, error) {
	return load(fsys, func(p string) string { return p }, reg)
}

// LoadSources checks in-memory definitions together, as LoadFS checks the
// files of a folder: each is parsed and validated, and the rules that span
// files apply across them. Source.File names each in messages.
func LoadSources(sources []Source, reg *connectors.Registry) ([]*Flow, error) {
	return check(sources, reg)
}

func load(fsys fs.FS, name func(string) string, reg *connectors.Registry) ([]*Flow, error) {
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return fs.SkipDir
			}
			return nil
		}
		if ext := path.Ext(p); ext == ".yaml" || ext == ".yml" {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading definitions: %w", err)
	}
	sources := make([]Source, 0, len(files))
	for _, p := range files {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("loading definitions: %w", err)
		}
		sources = append(sources, Source{File: name(p), Content: data})
	}
	return check(sources, reg)
}

// check parses each source and applies the rules that span files.
func check(sources []Source, reg *connectors.Registry) ([]*Flow, error) {
	type loaded struct {
		flow *Flow
		p    *parser
	}
	var all []loaded
	var errs Errors
	// declared holds every flow ID a file declares, valid or not, so that a
	// broken child flow does not also make its parents fail.
	declared := map[string]*Flow{}
	first := map[string]string{}
	for _, src := range sources {
		f, ps := parse(src.File, src.Content, reg, false)
		errs = append(errs, ps.errs...)
		if f == nil || f.ID == "" {
			continue
		}
		if at, dup := first[f.ID]; dup {
			ps.errs = append(ps.errs, &Error{File: src.File, Pos: ps.idPos, Path: "id", Msg: fmt.Sprintf("duplicate flow id %q (first in %s)", f.ID, at)})
			errs = append(errs, ps.errs[len(ps.errs)-1])
		} else {
			first[f.ID] = src.File
			declared[f.ID] = f
		}
		all = append(all, loaded{f, ps})
	}

	var flows []*Flow
	for _, l := range all {
		for _, ref := range l.p.refs {
			target, ok := declared[ref.flow]
			if !ok {
				l.p.errs = append(l.p.errs, &Error{File: l.flow.Source.File, Pos: ref.pos, Path: ref.path, Msg: fmt.Sprintf("unknown flow %q: no file defines it", ref.flow)})
				errs = append(errs, l.p.errs[len(l.p.errs)-1])
				continue
			}
			for _, e := range childInputProblems(l.flow, ref, target) {
				l.p.errs = append(l.p.errs, e)
				errs = append(errs, e)
			}
		}
		if len(l.p.errs) == 0 {
			flows = append(flows, l.flow)
		}
	}
	return flows, errs.err()
}

// childInputProblems checks the `with:` of a flow step against the inputs of
// the flow it starts, when the with is a mapping.
func childInputProblems(parent *Flow, ref flowRef, child *Flow) Errors {
	var errs Errors
	given := map[string]bool{}
	if ref.with != nil {
		if !ref.with.IsMap {
			return nil
		}
		names := make([]string, len(child.Inputs))
		for i, in := range child.Inputs {
			names[i] = in.Name
		}
		for _, e := range ref.with.Map {
			given[e.Key] = true
			if !contains(names, e.Key) {
				list := "it declares no inputs"
				if len(names) > 0 {
					list = "inputs: " + strings.Join(names, ", ")
				}
				errs = append(errs, &Error{File: parent.Source.File, Pos: e.Value.Pos, Path: join(ref.withPath, e.Key), Msg: fmt.Sprintf("flow %s has no input %q; %s", child.ID, e.Key, list)})
			}
		}
	}
	for _, in := range child.Inputs {
		if in.Required && !given[in.Name] {
			pos := ref.pos
			if ref.with != nil {
				pos = ref.with.Pos
			}
			errs = append(errs, &Error{File: parent.Source.File, Pos: pos, Path: ref.withPath, Msg: fmt.Sprintf("missing required input %q of flow %s", in.Name, child.ID)})
		}
	}
	return errs
}
