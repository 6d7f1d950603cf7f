package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/builtin"
	"github.com/relay-dev/relay/definitions"
)

// defaultDefinitions is where relay looks for flows; when it does not
// exist, the flows bundled in the binary are used.
const defaultDefinitions = "definitions"

type flowFlags struct {
	dir string
}

func (f *flowFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dir, "definitions", envOr("RELAY_DEFINITIONS", defaultDefinitions), "folder of flow definitions (*.yaml); the bundled flows when the default folder does not exist (env RELAY_DEFINITIONS)")
}

// catalog is the loaded flows.
type catalog struct {
	registry *connectors.Registry
	flows    map[string]*definitions.Flow
	source   string // where they came from, for messages
	refused  int    // definition files refused, whose flows are missing
	// bundled says the flows are the examples bundled in the binary: the
	// default definitions folder does not exist here.
	bundled bool
}

// keepSchedules says why the schedules of flows missing from c must not
// be deleted, or "" when c is the whole of what the operator deployed: a
// refused file's flow is missing only until the file is fixed, and the
// bundled examples or an empty folder are far likelier a wrong working
// directory or mount than the wish to delete every schedule.
func (c *catalog) keepSchedules() string {
	switch {
	case c.refused > 0:
		return fmt.Sprintf("%d definition file(s) were refused: fix them", c.refused)
	case c.bundled:
		return "the flows are the bundled examples (there is no ./" + defaultDefinitions + " folder here): pass --definitions"
	case len(c.flows) == 0:
		return "no flow was loaded from " + c.source
	}
	return ""
}

func (c *catalog) ids() []string {
	ids := make([]string, 0, len(c.flows))
	for id := range c.flows {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// list returns the flows sorted by ID.
func (c *catalog) list() []*definitions.Flow {
	out := make([]*definitions.Flow, 0, len(c.flows))
	for _, id := range c.ids() {
		out = append(out, c.flows[id])
	}
	return out
}

// load loads the definitions. Files that fail validation are refused and
// reported on stderr, loudly; the others load. The catalog counts them.
func (f *flowFlags) load(stderr io.Writer) (*catalog, error) {
	reg := builtin.Registry()
	var (
		flows   []*definitions.Flow
		err     error
		source  = f.dir
		bundled bool
	)
	if _, statErr := os.Stat(f.dir); errors.Is(statErr, fs.ErrNotExist) && f.dir == defaultDefinitions {
		source, bundled = "bundled flows", true
		flows, err = definitions.LoadFS(definitions.Bundled(), reg)
	} else {
		flows, err = definitions.LoadDir(f.dir, reg)
	}
	refused := 0
	if err != nil {
		var errs definitions.Errors
		if !errors.As(err, &errs) {
			return nil, fmt.Errorf("loading definitions from %s: %w", source, err)
		}
		files := map[string]bool{}
		for _, e := range errs {
			files[e.File] = true
		}
		refused = len(files)
		fmt.Fprintf(stderr, "\n!!! relay refused %d definition file(s) from %s; they will not run:\n%s\n\n", refused, source, err)
	}
	c := &catalog{registry: reg, flows: map[string]*definitions.Flow{}, source: source, refused: refused, bundled: bundled}
	for _, fl := range flows {
		c.flows[fl.ID] = fl
	}
	return c, nil
}

// flow finds a flow by ID, or parses the YAML file at ref.
func (c *catalog) flow(ref string) (*definitions.Flow, error) {
	if fl, ok := c.flows[ref]; ok {
		return fl, nil
	}
	if strings.HasSuffix(ref, ".yaml") || strings.HasSuffix(ref, ".yml") {
		data, err := os.ReadFile(ref)
		if err != nil {
			return nil, fmt.Errorf("reading flow: %w", err)
		}
		return definitions.Parse(ref, data, c.registry)
	}
	return nil, fmt.Errorf("no flow %q in %s (loaded: %s)", ref, c.source, strings.Join(c.ids(), ", "))
}
