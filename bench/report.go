package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report as tables.
func (r *Report) WriteText(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "relay bench: %d CPUs (%s), GOMAXPROCS %d, %d MiB, %s %s/%s, Temporal server %s, store %s\n",
		m.CPUs, orUnknown(m.CPUModel), m.GOMAXPROCS, m.MemoryMiB, m.GoVersion, m.OS, m.Arch, orUnknown(m.TemporalServer), m.Store)
	size := "duration " + r.Options.Duration + " per side"
	if r.Options.Runs > 0 {
		size = fmt.Sprintf("%d runs per side", r.Options.Runs)
	}
	fmt.Fprintf(w, "%s; took %.0fs\n", size, r.Seconds)

	table := func(title, header string, rows func(tw *tabwriter.Writer)) {
		fmt.Fprintf(w, "\n%s\n", title)
		tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, header)
		rows(tw)
		tw.Flush()
	}
	if len(r.Flows) > 0 {
		table("FLOWS: completed runs/s, webhook sent to run completed; relay vs a hand-written Go workflow on the same worker",
			"flow\tconc\trelay/s\tgo/s\tratio\trange\trelay p50 ms\tp99 ms\tgo p50 ms\tp99 ms\tcpu ms/run relay\tgo\terrors\t",
			func(tw *tabwriter.Writer) {
				for _, f := range r.Flows {
					fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.2f\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%d\t\n", f.Flow, f.Concurrency, f.Relay.PerSecond, f.Go.PerSecond, f.Ratio, rangeText(f.RatioRange),
						f.Relay.P50Ms, f.Relay.P99Ms, f.Go.P50Ms, f.Go.P99Ms, f.Relay.CPUMsPerRun, f.Go.CPUMsPerRun, f.Relay.Errors+f.Go.Errors)
				}
			})
	}
	if len(r.Histories) > 0 {
		table("HISTORY of one run: what the server writes and a replay reads",
			"flow	relay bytes	events	go bytes	events	ratio	",
			func(tw *tabwriter.Writer) {
				for _, h := range r.Histories {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.2f\t\n", h.Flow, h.RelayBytes, h.RelayEvents, h.GoBytes, h.GoEvents, ratio(float64(h.RelayBytes), float64(h.GoBytes)))
				}
			})
	}
	if len(r.Ingest) > 0 {
		table("INGEST: signed webhooks/s into started runs vs a bare client.ExecuteWorkflow loop, and vs a hand-written webhook handler starting the same runs",
			"conc\twebhooks/s\tbare/s\tratio\trange\thandler/s\tratio\thook p50 ms\tp99 ms\tbare p50 ms\tp99 ms\thandler p50 ms\taccepted\tlost\tduplicated\t",
			func(tw *tabwriter.Writer) {
				for _, in := range r.Ingest {
					fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t%.2f\t%s\t%.1f\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%d\t\n", in.Concurrency, in.Webhooks.PerSecond, in.Bare.PerSecond, in.Ratio, rangeText(in.RatioRange),
						in.Handler.PerSecond, in.HandlerRatio, in.Webhooks.P50Ms, in.Webhooks.P99Ms, in.Bare.P50Ms, in.Bare.P99Ms, in.Handler.P50Ms, in.Accepted, in.Lost, in.Duplicated)
				}
			})
	}
	if len(r.Scale) > 0 {
		table("SCALE: cost per step as flows grow; marginal = cost of the steps added since the previous size (history includes foreach batch children)",
			"shape\tsize\tconc\truns\truns/s\tsteps/s\tms/step\tmarginal\thistory bytes\tevents\tbytes/step\tmarginal\t",
			func(tw *tabwriter.Writer) {
				marginal := func(v float64, format string) string {
					if v == 0 {
						return "-"
					}
					return fmt.Sprintf(format, v)
				}
				for _, s := range r.Scale {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2f\t%.0f\t%.3f\t%s\t%d\t%d\t%.0f\t%s\t\n", s.Shape, s.Size, s.Concurrency, s.Runs, s.RunsPerSec, s.StepsPerSec, s.MsPerStep,
						marginal(s.MarginalMsPerStep, "%.3f"), s.HistoryBytes, s.HistoryEvents, s.BytesPerStep, marginal(s.MarginalBytesPerStep, "%.0f"))
				}
			})
	}
	if p := r.Parked; p != nil {
		fmt.Fprintf(w, "\nPARKED: %d runs waiting for an event (server: %s)\n", p.Runs, p.Server)
		fmt.Fprintf(w, "  started in %.1fs, all waiting after %.1fs, terminated in %.1fs\n", p.StartSeconds, p.ParkedSeconds, p.TerminateSeconds)
		fmt.Fprintf(w, "  worker RSS %.0f -> %.0f MiB (+%.0f MiB, %.1f KiB per run; Go heap %.0f MiB)\n", p.WorkerRSSBeforeMiB, p.WorkerRSSAfterMiB, p.WorkerRSSDeltaMiB, p.WorkerKiBPerRun, p.WorkerHeapMiB)
		if p.ServerRSSAfterMiB > 0 {
			fmt.Fprintf(w, "  server RSS %.0f -> %.0f MiB (%.1f KiB per run)\n", p.ServerRSSBeforeMiB, p.ServerRSSAfterMiB, p.ServerKiBPerRun)
		}
	}
	if s := r.Startup; s != nil {
		runs := make([]string, len(s.RunsMs))
		for i, v := range s.RunsMs {
			runs[i] = fmt.Sprintf("%.0f", v)
		}
		fmt.Fprintf(w, "\nSTARTUP: relay dev --ephemeral to /readyz 200: median %.0f ms (runs: %s ms)\n", s.MedianMs, strings.Join(runs, ", "))
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// rangeText renders a ratio range as 0.85-0.99, or - when there is none.
func rangeText(r []float64) string {
	if len(r) != 2 {
		return "-"
	}
	return fmt.Sprintf("%.2f-%.2f", r[0], r[1])
}
