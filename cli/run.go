package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/temporal"

	"github.com/relay-dev/relay/runs"
)

// runsClient connects to Temporal and loads the flows.
func (a *app) runsClient(t *temporalFlags, f *flowFlags) (*runs.Client, *catalog, func(), error) {
	cat, _, err := f.load(io.Discard)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := t.dial(a.logger())
	if err != nil {
		return nil, nil, nil, err
	}
	return &runs.Client{Temporal: c, Namespace: t.namespace, TaskQueue: t.taskQueue, Flows: cat.flows}, cat, c.Close, nil
}

func readInput(file, inline string) (map[string]any, error) {
	var data []byte
	switch {
	case file != "" && inline != "":
		return nil, fmt.Errorf("--input and --input-json do not go together")
	case file == "-":
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, fmt.Errorf("reading input from stdin: %w", err)
		}
		data = b
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading input: %w", err)
		}
		data = b
	case inline != "":
		data = []byte(inline)
	default:
		return map[string]any{}, nil
	}
	var in map[string]any
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("input must be a JSON object: %w", err)
	}
	return in, nil
}

func (a *app) runCommand() *cobra.Command {
	var (
		t                temporalFlags
		f                flowFlags
		inputFile, input string
		wait             bool
		id               string
	)
	cmd := &cobra.Command{
		Use:   "run FLOW",
		Short: "Start a run of a flow",
		Long:  "Start a run of a flow (by ID, or a path to a .yaml file) and print its ID; with --wait, wait for its result.",
		Example: `  relay run hello --input-json '{"name":"Ada"}' --wait
  relay run order-to-invoice --input order.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := readInput(inputFile, input)
			if err != nil {
				return err
			}
			rc, cat, closeFn, err := a.runsClient(&t, &f)
			if err != nil {
				return err
			}
			defer closeFn()
			fl, err := cat.flow(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			run, err := rc.Start(ctx, fl, in, runs.StartOptions{WorkflowID: id})
			if err != nil {
				return err
			}
			if !wait {
				return a.print(run, func(w io.Writer) { fmt.Fprintln(w, run.WorkflowID) })
			}
			res, runErr := rc.Result(ctx, run.WorkflowID)
			out := struct {
				runs.Run
				Status string `json:"status"`
				Result any    `json:"result,omitempty"`
				Error  string `json:"error,omitempty"`
			}{Run: run, Status: "completed", Result: res}
			if runErr != nil {
				out.Status, out.Result = "failed", nil
				out.Error = failureText(runErr)
			}
			if err := a.print(out, func(w io.Writer) {
				fmt.Fprintf(w, "run %s %s\n", run.WorkflowID, out.Status)
				if runErr != nil {
					fmt.Fprintf(w, "error: %s\n", out.Error)
					return
				}
				b, _ := json.MarshalIndent(res, "", "  ")
				fmt.Fprintf(w, "%s\n", b)
			}); err != nil {
				return err
			}
			if runErr != nil {
				return fmt.Errorf("run %s failed", run.WorkflowID)
			}
			return nil
		},
	}
	t.register(cmd)
	f.register(cmd)
	cmd.Flags().StringVar(&inputFile, "input", "", "JSON file with the flow's input (- for stdin)")
	cmd.Flags().StringVar(&input, "input-json", "", "the flow's input as inline JSON")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the run to end and print its result or error")
	cmd.Flags().StringVar(&id, "id", "", "workflow ID for the run (default <flow>/<uuid>)")
	return cmd
}

func failureText(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

func (a *app) runsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List and inspect runs",
	}
	cmd.AddCommand(a.runsListCommand(), a.runsShowCommand())
	return cmd
}

func (a *app) runsListCommand() *cobra.Command {
	var (
		t      temporalFlags
		f      flowFlags
		filter runs.Filter
		cursor string
	)
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List runs, newest first",
		Example: "  relay runs list --flow order-to-invoice --status failed",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rc, _, closeFn, err := a.runsClient(&t, &f)
			if err != nil {
				return err
			}
			defer closeFn()
			if cursor != "" {
				filter.Cursor = []byte(cursor)
			}
			list, next, err := rc.List(cmd.Context(), filter)
			if err != nil {
				return err
			}
			page := struct {
				Runs       []runs.Summary `json:"runs"`
				NextCursor string         `json:"next_cursor,omitempty"`
			}{Runs: list, NextCursor: string(next)}
			return a.print(page, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
				fmt.Fprintln(tw, "RUN\tFLOW\tSTATUS\tSTARTED\tDURATION")
				for _, r := range list {
					dur := "-"
					if !r.ClosedAt.IsZero() {
						dur = r.ClosedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.WorkflowID, r.Flow, r.Status, r.StartedAt.Local().Format(time.DateTime), dur)
				}
				tw.Flush()
				if len(next) > 0 {
					fmt.Fprintf(w, "more: --cursor %q\n", string(next))
				}
			})
		},
	}
	t.register(cmd)
	f.register(cmd)
	cmd.Flags().StringVar(&filter.Flow, "flow", "", "only runs of this flow")
	cmd.Flags().StringVar(&filter.Status, "status", "", "only runs with this status: running, completed, failed, cancelled, terminated, timed_out")
	cmd.Flags().IntVar(&filter.PageSize, "limit", 50, "runs per page")
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue from a previous page")
	return cmd
}

func (a *app) runsShowCommand() *cobra.Command {
	var (
		t temporalFlags
		f flowFlags
	)
	cmd := &cobra.Command{
		Use:   "show RUN",
		Short: "Show a run: status, steps with attempts, durations and errors",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rc, _, closeFn, err := a.runsClient(&t, &f)
			if err != nil {
				return err
			}
			defer closeFn()
			d, err := rc.Show(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.print(d, func(w io.Writer) {
				fmt.Fprintf(w, "run      %s\nflow     %s (version %d)\nstatus   %s\nstarted  %s\n", d.WorkflowID, d.Flow, d.FlowVersion, d.Status, d.StartedAt.Local().Format(time.DateTime))
				if d.Failure != "" {
					fmt.Fprintf(w, "failure  %s\n", d.Failure)
				}
				if d.StepsError != "" {
					fmt.Fprintf(w, "steps    unavailable: %s\n", d.StepsError)
					return
				}
				fmt.Fprintln(w)
				tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
				fmt.Fprintln(tw, "STEP\tKIND\tSTATUS\tATTEMPTS\tDURATION\tERROR")
				for _, s := range d.Steps {
					dur := "-"
					if !s.EndedAt.IsZero() {
						dur = s.EndedAt.Sub(s.StartedAt).Round(time.Millisecond).String()
					}
					name := s.Path
					if s.Compensation {
						name += " (compensation)"
					}
					errText := ""
					if s.Error != "" {
						errText = s.ErrorType + ": " + strings.ReplaceAll(s.Error, "\n", " ")
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", name, s.Kind, s.Status, s.Attempts, dur, errText)
				}
				tw.Flush()
			})
		},
	}
	t.register(cmd)
	f.register(cmd)
	return cmd
}
