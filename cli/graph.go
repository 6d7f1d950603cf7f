package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/relay-dev/relay/flowgraph"
)

func (a *app) graphCommand() *cobra.Command {
	var (
		f      flowFlags
		format string
	)
	cmd := &cobra.Command{
		Use:   "graph FLOW",
		Short: "Print a flow as a Mermaid or Graphviz graph",
		Long: `Print a flow (by ID, or a path to a .yaml file) as a graph: steps in order,
the branches of if, switch, parallel and foreach, waits with their event,
on_error and on_timeout jumps dotted, compensations dashed.`,
		Example: "  relay graph order-to-invoice\n  relay graph order-to-invoice --format dot | dot -Tsvg > flow.svg",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := f.load(a.stderr)
			if err != nil {
				return err
			}
			fl, err := cat.flow(args[0])
			if err != nil {
				return err
			}
			switch format {
			case "mermaid":
				_, err = fmt.Fprint(a.stdout, flowgraph.Mermaid(fl))
			case "dot":
				_, err = fmt.Fprint(a.stdout, flowgraph.DOT(fl))
			default:
				return fmt.Errorf("unknown --format %q (want mermaid or dot)", format)
			}
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&format, "format", "mermaid", "mermaid or dot")
	return cmd
}
