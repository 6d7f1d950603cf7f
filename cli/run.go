package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/temporal"

	"github.com/relay-dev/relay/runs"
)

// runsClient connects to Temporal and loads the flows.
func (a *app) runsClient(t *temporalFlags, f *flowFlags) (*runs.Client, *catalog, func(), error) {
	cat, err := f.load(io.Discard)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := t.dial(a.logger())
	if err != nil {
		return nil, nil, nil, err
	}
	return &runs.Client{Temporal: c, Namespace: t.namespace, TaskQueue: t.taskQueue, Flows: cat.flows, DataConverter: t.dataConverter(), Redact: a.redactor()}, cat, c.Close, nil
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
		Short: "List, inspect, replay and fix runs",
	}
	cmd.AddCommand(a.runsListCommand(), a.runsShowCommand(), a.runsReplayCommand(), a.runsRerunCommand(),
		a.runsActionCommand("cancel", "Cancel a run; the compensations of its completed steps run", func(rc *runs.Client, cmd *cobra.Command, id string) error {
			return rc.Cancel(cmd.Context(), id)
		}),
		a.runsActionCommand("retry-step", "Retry the step a parked run is parked at (with fresh idempotency keys)", func(rc *runs.Client, cmd *cobra.Command, id string) error {
			return rc.RetryStep(cmd.Context(), id, runs.StepOptions{})
		}),
		a.runsSkipStepCommand())
	return cmd
}

func (a *app) runsListCommand() *cobra.Command {
	var (
		t      temporalFlags
		f      flowFlags
		filter runs.Filter
		cursor string
		since  time.Duration
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
			if since > 0 {
				filter.Since = time.Now().Add(-since)
			}
			window := since.String()
			if cursor != "" {
				// The window stays the first page's: --since 2h is two
				// hours before it, on every page.
				switch err := filter.Continue(cursor, window); {
				case errors.Is(err, runs.ErrCursorFilters):
					return fmt.Errorf("--cursor was printed for other filters: give it with the first page's --flow, --status, --since, --failed-step, --error-type and --key (only --limit may change)")
				case err != nil:
					return fmt.Errorf("--cursor %q: %w", cursor, err)
				}
			}
			list, next, err := rc.List(cmd.Context(), filter)
			if err != nil {
				return err
			}
			nextCursor := filter.NextCursor(next, window)
			page := struct {
				Runs       []runs.Summary `json:"runs"`
				NextCursor string         `json:"next_cursor,omitempty"`
			}{Runs: list, NextCursor: nextCursor}
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
				if nextCursor != "" {
					fmt.Fprintf(w, "more: --cursor %s\n", nextCursor)
				}
			})
		},
	}
	t.register(cmd)
	f.register(cmd)
	cmd.Flags().StringVar(&filter.Flow, "flow", "", "only runs of this flow")
	cmd.Flags().StringVar(&filter.Status, "status", "", "only runs with this status: running, waiting, parked, completed, failed, cancelled, terminated, timed_out")
	cmd.Flags().DurationVar(&since, "since", 0, "only runs started this long ago or later (e.g. 2h)")
	cmd.Flags().StringVar(&filter.FailedStep, "failed-step", "", "only runs that failed at this step")
	cmd.Flags().StringVar(&filter.ErrorType, "error-type", "", "only runs that failed with this error type (e.g. http.503)")
	cmd.Flags().StringVar(&filter.BusinessKey, "key", "", "only runs with this business key (e.g. the order ID)")
	cmd.Flags().IntVar(&filter.PageSize, "limit", 50, "runs per page")
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue from a previous page")
	return cmd
}

func (a *app) runsShowCommand() *cobra.Command {
	var (
		t     temporalFlags
		f     flowFlags
		uiURL string
	)
	cmd := &cobra.Command{
		Use:   "show RUN",
		Short: "Show a run: status, input, trigger, replays, steps with attempts, durations and errors",
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
				fmt.Fprintf(w, "run      %s\nflow     %s (version %d)\n", d.WorkflowID, d.Flow, d.FlowVersion)
				if d.BusinessKey != "" {
					fmt.Fprintf(w, "key      %s\n", d.BusinessKey)
				}
				fmt.Fprintf(w, "status   %s\nstarted  %s\n", d.Status, d.StartedAt.Local().Format(time.DateTime))
				if d.Failure != "" {
					fmt.Fprintf(w, "failure  %s\n", d.Failure)
				}
				if d.ReplayOf != "" {
					fmt.Fprintf(w, "replays  %s\n", d.ReplayOf)
				}
				for _, r := range d.Replays {
					fmt.Fprintf(w, "replayed as %s\n", r)
				}
				if d.Trigger != nil {
					fmt.Fprintf(w, "trigger  %s (delivery %s, %d bytes)\n", d.Trigger.Path, d.Trigger.Delivery, len(d.Trigger.Body))
				}
				if in, err := json.Marshal(d.Input); err == nil && len(d.Input) > 0 {
					fmt.Fprintf(w, "input    %.300s\n", in)
				}
				if d.Result != nil {
					if res, err := json.Marshal(d.Result); err == nil {
						fmt.Fprintf(w, "result   %.300s\n", res)
					}
				}
				if uiURL != "" {
					fmt.Fprintf(w, "web UI   %s/namespaces/%s/workflows/%s\n", strings.TrimSuffix(uiURL, "/"), url.PathEscape(t.namespace), url.PathEscape(d.WorkflowID))
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
	cmd.Flags().StringVar(&uiURL, "ui-url", envOr("RELAY_UI_URL", "http://127.0.0.1:8233"), "Temporal Web UI address, for the run's link (env RELAY_UI_URL; empty hides it)")
	return cmd
}

func (a *app) runsActionCommand(name, short string, do func(rc *runs.Client, cmd *cobra.Command, id string) error) *cobra.Command {
	var (
		t temporalFlags
		f flowFlags
	)
	cmd := &cobra.Command{
		Use:   name + " RUN",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rc, _, closeFn, err := a.runsClient(&t, &f)
			if err != nil {
				return err
			}
			defer closeFn()
			if err := do(rc, cmd, args[0]); err != nil {
				return err
			}
			return a.print(map[string]string{"run": args[0], "action": name, "status": "accepted"}, func(w io.Writer) {
				fmt.Fprintf(w, "%s: %s accepted\n", args[0], name)
			})
		},
	}
	t.register(cmd)
	f.register(cmd)
	return cmd
}

func (a *app) runsSkipStepCommand() *cobra.Command {
	var outputFile string
	cmd := a.runsActionCommand("skip-step", "Complete the step a parked run is parked at with the output in --output-file, and go on", nil)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var output any
		if outputFile != "" {
			b, err := os.ReadFile(outputFile)
			if err != nil {
				return fmt.Errorf("reading the step output: %w", err)
			}
			if err := json.Unmarshal(b, &output); err != nil {
				return fmt.Errorf("the step output must be JSON: %w", err)
			}
		}
		return a.runsActionCommand("skip-step", "", func(rc *runs.Client, cmd *cobra.Command, id string) error {
			return rc.SkipStep(cmd.Context(), id, output, runs.StepOptions{})
		}).RunE(cmd, args)
	}
	cmd.Flags().StringVar(&outputFile, "output-file", "", "JSON file with the output the skipped step gives")
	return cmd
}

func (a *app) runsRerunCommand() *cobra.Command {
	var (
		t   temporalFlags
		f   flowFlags
		yes bool
	)
	cmd := &cobra.Command{
		Use:   "rerun RUN",
		Short: "Start a run again from scratch with the same input: every side effect is repeated",
		Long: `Start a run again from scratch with the same input. The new run has new
idempotency keys, so partners see new requests: every side effect (payments,
orders, emails) happens again. To finish a failed run without repeating what
succeeded, use relay runs replay. Needs --yes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return fmt.Errorf("rerun repeats every side effect of %s under new idempotency keys; pass --yes if that is what you want (relay runs replay reuses what succeeded)", args[0])
			}
			rc, _, closeFn, err := a.runsClient(&t, &f)
			if err != nil {
				return err
			}
			defer closeFn()
			run, err := rc.Rerun(cmd.Context(), args[0], runs.RerunOptions{})
			if err != nil {
				return err
			}
			return a.print(run, func(w io.Writer) { fmt.Fprintln(w, run.WorkflowID) })
		},
	}
	t.register(cmd)
	f.register(cmd)
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm that side effects are repeated")
	return cmd
}

func (a *app) runsReplayCommand() *cobra.Command {
	var (
		t         temporalFlags
		f         flowFlags
		opts      runs.ReplayOptions
		bulk      runs.BulkReplayOptions
		inputFile string
		status    string
		rate      string
		stopAfter string
	)
	cmd := &cobra.Command{
		Use:   "replay [RUN]",
		Short: "Replay failed runs without repeating the side effects that succeeded",
		Long: `Replay a failed run: a new run, linked to the old one, reuses the recorded
outputs of the steps before the restart point (their partner calls are not
made again) and runs the rest. The restart point defaults to the failed
step. --definition current applies a fixed definition; --input patches the
input; --dry-run prints the plan.

Without RUN, replays every run that --flow and --status failed select,
paced at --rate, --canary runs first, and stops by itself when more than
--stop-after-failures of the replays fail.`,
		Example: `  relay runs replay order-to-invoice/order-1001 --dry-run
  relay runs replay order-to-invoice/order-1001 --definition current
  relay runs replay --flow order-to-invoice --status failed --since 2h --failed-step invoice --rate 5/s --canary 3 --stop-after-failures 10%`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if inputFile != "" {
				in, err := readInput(inputFile, "")
				if err != nil {
					return err
				}
				opts.Input = in
			}
			rc, _, closeFn, err := a.runsClient(&t, &f)
			if err != nil {
				return err
			}
			defer closeFn()
			if len(args) == 1 {
				plan, run, err := rc.Replay(cmd.Context(), args[0], opts)
				out := struct {
					Plan runs.ReplayPlan `json:"plan"`
					Run  *runs.Run       `json:"run,omitempty"`
				}{Plan: plan}
				if run.WorkflowID != "" {
					out.Run = &run
				}
				if perr := a.print(out, func(w io.Writer) { printPlan(w, plan, run) }); perr != nil {
					return perr
				}
				return err
			}
			if bulk.Flow == "" || status != "failed" {
				return fmt.Errorf("name a RUN, or select runs with --flow F --status failed")
			}
			if bulk.Rate, err = parseRate(rate); err != nil {
				return err
			}
			if bulk.StopAfterFailures, err = parsePercent(stopAfter); err != nil {
				return err
			}
			bulk.Replay = opts
			asJSON, _ := a.json()
			results, err := rc.BulkReplay(cmd.Context(), bulk, func(r runs.BulkResult) {
				if !asJSON {
					fmt.Fprintf(a.stdout, "%-10s %s %s %s\n", r.Status, r.Original, r.Replay, r.Reason)
				}
			})
			if asJSON {
				if perr := a.print(results, nil); perr != nil {
					return perr
				}
			}
			return err
		},
	}
	t.register(cmd)
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&opts.From, "from", "", "top-level step to restart at (default: the failed step)")
	fl.StringVar(&opts.Definition, "definition", "original", "original (the pinned definition) or current (the loaded one)")
	fl.StringVar(&inputFile, "input", "", "JSON file merged over the original input")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print the plan; start nothing")
	fl.StringVar(&bulk.Flow, "flow", "", "bulk: the flow whose failed runs to replay")
	fl.StringVar(&status, "status", "", "bulk: failed")
	fl.DurationVar(&bulk.Since, "since", 0, "bulk: only runs started this long ago or later")
	fl.StringVar(&bulk.FailedStep, "failed-step", "", "bulk: only runs that failed at this step")
	fl.StringVar(&bulk.ErrorType, "error-type", "", "bulk: only runs that failed with this error type")
	fl.StringVar(&rate, "rate", "5/s", "bulk: replays started per second (N/s or N/m)")
	fl.IntVar(&bulk.Canary, "canary", 0, "bulk: replay this many first, and go on only if they complete")
	fl.StringVar(&stopAfter, "stop-after-failures", "", "bulk: stop when more than this share of replays fail (e.g. 10%)")
	return cmd
}

func printPlan(w io.Writer, plan runs.ReplayPlan, run runs.Run) {
	fmt.Fprintf(w, "replay of %s from step %s\n", plan.Original, plan.From)
	fmt.Fprintf(w, "  reused (no calls):  %s\n", strings.Join(plan.Reused, ", "))
	fmt.Fprintf(w, "  run again:          %s\n", strings.Join(plan.Run, ", "))
	fmt.Fprintf(w, "  partner calls:      %s\n", strings.Join(plan.Calls, ", "))
	for _, p := range plan.Problems {
		fmt.Fprintf(w, "  REFUSED: %s\n", p)
	}
	if run.WorkflowID != "" {
		fmt.Fprintf(w, "started %s\n", run.WorkflowID)
	}
}

func parseRate(s string) (float64, error) {
	n, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	v, err := strconv.ParseFloat(n, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad --rate %q: write N/s or N/m", s)
	}
	switch unit {
	case "", "s":
		return v, nil
	case "m":
		return v / 60, nil
	}
	return 0, fmt.Errorf("bad --rate %q: write N/s or N/m", s)
}

func parsePercent(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || v < 0 || v > 100 {
		return 0, fmt.Errorf("bad --stop-after-failures %q: write a percentage such as 10%%", s)
	}
	return v / 100, nil
}
