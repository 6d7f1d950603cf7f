package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/schedules"
)

// reconcileRetry and reconcileRetryMax space the retries of a reconcile
// that failed: the wait doubles from the first to the most.
var (
	reconcileRetry    = 10 * time.Second
	reconcileRetryMax = 5 * time.Minute
)

// reconcileSchedules brings the Temporal Schedules in line with the flows
// at start. A failure is logged loudly and does not stop the server: the
// reconcile is retried in the background until one succeeds or ctx ends,
// so that a Temporal that was unreachable for a while does not leave the
// schedules running old definitions until the next restart. When
// definition files were refused, or cat is the bundled examples or empty,
// no schedule is deleted (see catalog.keepSchedules).
func reconcileSchedules(ctx context.Context, c client.Client, rc *runs.Client, cat *catalog, logger *slog.Logger) {
	wait := reconcileRetry
	if reconcileOnce(ctx, c, rc, cat, logger, wait) {
		return
	}
	go func() {
		t := time.NewTimer(wait)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if ctx.Err() != nil {
				return
			}
			wait = min(2*wait, reconcileRetryMax)
			if reconcileOnce(ctx, c, rc, cat, logger, wait) {
				return
			}
			t.Reset(wait)
		}
	}()
}

// reconcileOnce reconciles the schedules once and logs the outcome; a
// failure says when the next attempt is. It reports whether it succeeded.
func reconcileOnce(ctx context.Context, c client.Client, rc *runs.Client, cat *catalog, logger *slog.Logger, next time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	keep := cat.keepSchedules()
	rep, err := schedules.ReconcileWith(ctx, c, rc, cat.list(), schedules.Options{KeepUnknown: keep != ""})
	if len(rep.Kept) > 0 {
		logger.Warn("!!! schedules kept although no loaded flow asks for them, because "+keep+" (or delete the schedules with Temporal)", "kept", rep.Kept)
	}
	if err != nil {
		logger.Error("!!! schedules NOT fully reconciled: scheduled runs may not start as the definitions say; retrying", "done", rep, "err", err, "retry_in", next)
		return false
	}
	logger.Info("schedules reconciled", "result", rep)
	return true
}

func (a *app) schedulesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "List and operate the schedules of flows with a trigger.schedule",
		Long: `Each flow with a trigger.schedule has a Temporal Schedule with the ID
relay/<flow>. relay dev and relay serve create, update and delete them at
start to match the definitions; these commands inspect and operate them.
A pause survives those updates.`,
		Example: `  relay schedules list
  relay schedules pause nightly-report --note "ERP maintenance"
  relay schedules backfill nightly-report --from 2025-01-01T00:00:00Z --to 2025-01-03T00:00:00Z`,
	}
	cmd.AddCommand(
		a.schedulesListCommand(),
		a.schedulesTriggerCommand(),
		a.schedulesPauseCommand(true),
		a.schedulesPauseCommand(false),
		a.schedulesBackfillCommand(),
	)
	return cmd
}

// scheduleCommand is a schedules subcommand that dials Temporal and runs fn
// with the client and the converter payloads are read with (the codec's
// under --codec-keys: schedules keep their description in an encrypted
// memo then).
func (a *app) scheduleCommand(cmd *cobra.Command, fn func(ctx context.Context, c client.Client, dc converter.DataConverter, args []string) error) *cobra.Command {
	var t temporalFlags
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if _, err := a.json(); err != nil {
			return err
		}
		c, err := t.dial(a.logger())
		if err != nil {
			return err
		}
		defer c.Close()
		return fn(cmd.Context(), c, t.dataConverter(), args)
	}
	t.register(cmd)
	return cmd
}

func (a *app) schedulesListCommand() *cobra.Command {
	return a.scheduleCommand(&cobra.Command{
		Use:     "list",
		Short:   "List relay's schedules: when they fire, paused or not, next and last runs",
		Example: "  relay schedules list\n  relay schedules list --output json",
		Args:    cobra.NoArgs,
	}, func(ctx context.Context, c client.Client, dc converter.DataConverter, _ []string) error {
		list, err := schedules.List(ctx, c, dc)
		if err != nil {
			return err
		}
		out := struct {
			Schedules []schedules.Summary `json:"schedules"`
		}{list}
		return a.print(out, func(w io.Writer) {
			if len(list) == 0 {
				fmt.Fprintln(w, "no schedules (flows declare them with trigger.schedule; relay dev and relay serve create them)")
				return
			}
			tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
			fmt.Fprintln(tw, "FLOW\tSCHEDULE\tOVERLAP\tSTATE\tNEXT RUN\tLAST RUN\tRUNS")
			for _, s := range list {
				state := "active"
				if s.Paused {
					state = "paused"
					if s.Note != "" {
						state += " (" + s.Note + ")"
					}
				}
				next, last := "-", "-"
				if len(s.NextRuns) > 0 && !s.Paused {
					next = s.NextRuns[0].Local().Format(time.DateTime)
				}
				if n := len(s.RecentRuns); n > 0 {
					last = s.RecentRuns[n-1].StartedAt.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", s.Flow, s.Spec, s.Overlap, state, next, last, s.Actions)
			}
			tw.Flush()
		})
	})
}

func (a *app) schedulesTriggerCommand() *cobra.Command {
	var overlap string
	cmd := a.scheduleCommand(&cobra.Command{
		Use:   "trigger FLOW",
		Short: "Start a run of a flow's schedule now",
		Long: `Start a run of a flow's schedule now, with the schedule's input. With the
schedule's overlap policy skip, nothing starts while a run is running;
--overlap allow_all starts one anyway.`,
		Example: "  relay schedules trigger nightly-report\n  relay schedules trigger nightly-report --overlap allow_all",
		Args:    cobra.ExactArgs(1),
	}, func(ctx context.Context, c client.Client, _ converter.DataConverter, args []string) error {
		if err := schedules.Trigger(ctx, c, args[0], overlap); err != nil {
			return err
		}
		out := map[string]any{"schedule": schedules.ID(args[0]), "triggered": true}
		return a.print(out, func(w io.Writer) { fmt.Fprintf(w, "triggered %s\n", schedules.ID(args[0])) })
	})
	cmd.Flags().StringVar(&overlap, "overlap", "", "overlap policy for this run: "+strings.Join(definitions.ScheduleOverlaps, ", ")+" (default the schedule's)")
	return cmd
}

func (a *app) schedulesPauseCommand(pause bool) *cobra.Command {
	var note string
	use, short, example := "pause FLOW", "Pause a flow's schedule; no runs start until it is unpaused", `  relay schedules pause nightly-report --note "ERP maintenance until 14:00"`
	if !pause {
		use, short, example = "unpause FLOW", "Resume a paused schedule", "  relay schedules unpause nightly-report"
	}
	cmd := a.scheduleCommand(&cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    cobra.ExactArgs(1),
	}, func(ctx context.Context, c client.Client, _ converter.DataConverter, args []string) error {
		op, err := "paused", error(nil)
		if pause {
			err = schedules.Pause(ctx, c, args[0], note)
		} else {
			op, err = "unpaused", schedules.Unpause(ctx, c, args[0], note)
		}
		if err != nil {
			return err
		}
		out := map[string]any{"schedule": schedules.ID(args[0]), "paused": pause, "note": note}
		return a.print(out, func(w io.Writer) { fmt.Fprintf(w, "%s %s\n", op, schedules.ID(args[0])) })
	})
	cmd.Flags().StringVar(&note, "note", "", "why, shown with the schedule")
	return cmd
}

func (a *app) schedulesBackfillCommand() *cobra.Command {
	var from, to, overlap string
	cmd := a.scheduleCommand(&cobra.Command{
		Use:   "backfill FLOW --from TIME --to TIME",
		Short: "Start now the runs a flow's schedule would have started in a past window",
		Long: `Start, all at once, the runs a flow's schedule would have started between
--from and --to (RFC 3339 times). Each run's workflow ID ends with the time
it stands for. With --overlap allow_all (the default) they all start
together; buffer_all runs them one after another.`,
		Example: "  relay schedules backfill nightly-report --from 2025-01-01T00:00:00Z --to 2025-01-08T00:00:00Z",
		Args:    cobra.ExactArgs(1),
	}, func(ctx context.Context, c client.Client, _ converter.DataConverter, args []string) error {
		start, err := time.Parse(time.RFC3339, from)
		if err != nil {
			return fmt.Errorf("--from: want an RFC 3339 time such as 2025-01-01T00:00:00Z: %w", err)
		}
		end, err := time.Parse(time.RFC3339, to)
		if err != nil {
			return fmt.Errorf("--to: want an RFC 3339 time such as 2025-01-02T00:00:00Z: %w", err)
		}
		if err := schedules.Backfill(ctx, c, args[0], start, end, overlap); err != nil {
			return err
		}
		out := map[string]any{"schedule": schedules.ID(args[0]), "from": start, "to": end, "overlap": overlap}
		return a.print(out, func(w io.Writer) {
			fmt.Fprintf(w, "backfilling %s from %s to %s\n", schedules.ID(args[0]), start.Format(time.RFC3339), end.Format(time.RFC3339))
		})
	})
	cmd.Flags().StringVar(&from, "from", "", "start of the window (RFC 3339)")
	cmd.Flags().StringVar(&to, "to", "", "end of the window (RFC 3339)")
	cmd.Flags().StringVar(&overlap, "overlap", definitions.OverlapAllowAll, "overlap policy of the backfilled runs: "+strings.Join(definitions.ScheduleOverlaps, ", "))
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}
