package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/relay-dev/relay/connectors/builtin"
	"github.com/relay-dev/relay/definitions"
)

func (a *app) validateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate PATH...",
		Short: "Check flow definitions and report every problem",
		Long: `Check flow definition files or folders and report every problem as
file:line:col: field.path: message. Exits non-zero when any file is invalid.`,
		Example: "  relay validate definitions/\n  relay validate my-flow.yaml",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := builtin.Registry()
			type result struct {
				File   string   `json:"file"`
				Flows  []string `json:"flows,omitempty"`
				Errors []string `json:"errors,omitempty"`
			}
			var results []result
			invalid := 0
			for _, path := range args {
				info, err := os.Stat(path)
				if err != nil {
					return fmt.Errorf("validating %s: %w", path, err)
				}
				var flows []*definitions.Flow
				if info.IsDir() {
					flows, err = definitions.LoadDir(path, reg)
				} else {
					var data []byte
					if data, err = os.ReadFile(path); err != nil {
						return fmt.Errorf("validating %s: %w", path, err)
					}
					var fl *definitions.Flow
					if fl, err = definitions.Parse(path, data, reg); fl != nil {
						flows = append(flows, fl)
					}
				}
				r := result{File: path}
				for _, fl := range flows {
					r.Flows = append(r.Flows, fl.ID+" ("+fl.Source.File+")")
				}
				if err != nil {
					var errs definitions.Errors
					if !errors.As(err, &errs) {
						return fmt.Errorf("validating %s: %w", path, err)
					}
					for _, e := range errs {
						r.Errors = append(r.Errors, e.Error())
					}
					invalid += len(errs)
				}
				results = append(results, r)
			}
			if err := a.print(results, func(w io.Writer) {
				for _, r := range results {
					for _, e := range r.Errors {
						fmt.Fprintln(w, e)
					}
					for _, id := range r.Flows {
						fmt.Fprintf(w, "ok  %s\n", id)
					}
				}
			}); err != nil {
				return err
			}
			if invalid > 0 {
				return fmt.Errorf("%d problem(s) found", invalid)
			}
			return nil
		},
	}
}

func (a *app) schemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the flow language, for editors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := a.stdout.Write(definitions.Schema())
			return err
		},
	}
}
