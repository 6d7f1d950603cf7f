package cli

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/relay-dev/relay/bench"
	"github.com/relay-dev/relay/devserver"
)

func (a *app) benchCommand() *cobra.Command {
	o := bench.DefaultOptions()
	var (
		only, flows, conc, ingestConc, steps, items, callItems string
		quick                                                  bool
		cpuProfile, memProfile, tracePath                      string
		dynConfig                                              []string
	)
	join := func(ns []int) string {
		s := make([]string, len(ns))
		for i, n := range ns {
			s[i] = fmt.Sprint(n)
		}
		return strings.Join(s, ",")
	}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure relay on this machine, against hand-written Temporal code on the same server",
		Long: `Measure relay on this machine, like pgbench. relay bench starts an embedded
Temporal server (or uses --temporal-address) and the partner sandbox with
zero latency, warms up, and measures:

  flows    the bundled order-to-invoice flow and a webhook + 4 calls flow:
           completed runs/s and latency, against hand-written Go workflows
           making the same activity calls behind hand-written webhook handlers
  ingest   signed webhooks/s into started runs, against a bare
           client.ExecuteWorkflow loop and a hand-written webhook handler
           starting the same runs; lost and duplicated deliveries counted
  scale    runs/s, time and history bytes per step as flows and foreach grow
  parked   this process's RSS (the worker) and the server's with runs waiting
           for an event; the server is a relay dev child process
  startup  time from exec of relay dev --ephemeral to /readyz answering 200

Each ratio is measured side by side in one run: relay and the reference take
turns in batches. Defaults take about two minutes on two cores; the full
sizes of the performance issue are:

  relay bench --parked 10000 --duration 10s

(the defaults already use concurrency 1,16,128, ingest 1,16,64, flows of
5,20,100 steps and foreach over 10,1000,10000 items). Use --store memory for
the in-memory store, --runs N for a fixed number of runs per side.`,
		Example: "  relay bench\n  relay bench --only flows --concurrency 16 --store memory\n  relay bench --quick --output json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := a.json()
			if err != nil {
				return err
			}
			fl := cmd.Flags()
			if quick {
				q := map[string]func(){
					"duration":           func() { o.Duration = 500 * time.Millisecond },
					"concurrency":        func() { conc = "1,4" },
					"ingest-concurrency": func() { ingestConc = "1,4" },
					"steps":              func() { steps = "5,20" },
					"items":              func() { items = "10,100" },
					"call-items":         func() { callItems = "10" },
					"parked":             func() { o.Parked = 200 },
					"startup-runs":       func() { o.StartupRuns = 1 },
				}
				for name, set := range q {
					if !fl.Changed(name) {
						set()
					}
				}
			}
			for _, l := range []struct {
				flag, value string
				into        *[]int
			}{
				{"concurrency", conc, &o.Concurrency}, {"ingest-concurrency", ingestConc, &o.IngestConcurrency},
				{"steps", steps, &o.Steps}, {"items", items, &o.Items}, {"call-items", callItems, &o.CallItems},
			} {
				if *l.into, err = bench.ParseInts(l.value); err != nil {
					return fmt.Errorf("--%s: %w", l.flag, err)
				}
			}
			if o.DynamicConfig, err = devserver.ParseDynamicConfigValues(dynConfig); err != nil {
				return fmt.Errorf("--dynamic-config-value: %w", err)
			}
			if flows != "" {
				o.Flows = strings.Split(strings.ReplaceAll(flows, " ", ""), ",")
			}
			if only != "" {
				o.Only = strings.Split(strings.ReplaceAll(only, " ", ""), ",")
			}
			self, err := os.Executable()
			if err != nil {
				self = os.Args[0]
			}
			o.Self = []string{self}
			o.Logger = a.logger().With("component", "bench")
			o.Progress = a.stderr
			if !asJSON {
				o.Progress = a.stdout
			}
			if cpuProfile != "" {
				stop, err := record("--cpuprofile", cpuProfile, pprof.StartCPUProfile, pprof.StopCPUProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			if tracePath != "" {
				stop, err := record("--trace", tracePath, trace.Start, trace.Stop)
				if err != nil {
					return err
				}
				defer stop()
			}
			report, err := bench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			if memProfile != "" {
				if err := writeAllocsProfile(memProfile); err != nil {
					return err
				}
			}
			if !asJSON {
				fmt.Fprintln(a.stdout)
			}
			return a.print(report, report.WriteText)
		},
	}
	f := cmd.Flags()
	f.StringVar(&only, "only", "", "sections to run, comma separated: "+strings.Join(bench.Sections, ","))
	f.StringVar(&flows, "flows", "", "flows section: only these flows, comma separated (bench-hook4, order-to-invoice)")
	f.StringVar(&o.Store, "store", o.Store, "embedded server store: file (durable SQLite in a temporary folder) or memory")
	f.StringVar(&o.DataDir, "data-dir", "", "folder for the file stores (default: a temporary folder, removed afterwards)")
	f.StringVar(&o.TemporalAddress, "temporal-address", "", "use this Temporal frontend instead of an embedded server")
	f.StringVar(&o.Namespace, "namespace", o.Namespace, "Temporal namespace")
	f.DurationVar(&o.Duration, "duration", o.Duration, "how long each side of a measurement runs")
	f.IntVar(&o.Runs, "runs", 0, "run exactly this many operations per side of a measurement instead of --duration")
	f.StringVar(&conc, "concurrency", join(o.Concurrency), "flows: runs in flight")
	f.StringVar(&ingestConc, "ingest-concurrency", join(o.IngestConcurrency), "ingest: deliveries in flight")
	f.StringVar(&steps, "steps", join(o.Steps), "scale: flow lengths (alternating set and call steps)")
	f.StringVar(&items, "items", join(o.Items), "scale: foreach sizes with a set body")
	f.StringVar(&callItems, "call-items", join(o.CallItems), "scale: foreach sizes with a local call body")
	f.IntVar(&o.ScaleConcurrency, "scale-concurrency", o.ScaleConcurrency, "scale: runs in flight for small flows (flows of 1,000 steps run alone)")
	f.IntVar(&o.Parked, "parked", o.Parked, "parked: runs waiting for an event (the target is set for 10000)")
	f.IntVar(&o.StartupRuns, "startup-runs", o.StartupRuns, "startup: starts of relay dev; the median is reported")
	f.StringArrayVar(&dynConfig, "dynamic-config-value", nil, "override one of the embedded server's dynamic config settings, KEY=JSON_VALUE, repeatable")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole bench (server, worker, receiver, sandbox) to this file, for go tool pprof")
	f.StringVar(&memProfile, "memprofile", "", "write the allocations of the whole bench (server, worker, receiver, sandbox) to this file, for go tool pprof -sample_index=alloc_space")
	f.StringVar(&tracePath, "trace", "", "write a runtime execution trace of the whole bench to this file, for go tool trace (where goroutines wait: go tool trace -pprof=sched FILE)")
	f.BoolVar(&quick, "quick", false, "tiny sizes, to check that the command works (CI)")
	return cmd
}

// record starts recording this process into a new file at path (start,
// such as pprof.StartCPUProfile) until stop is called, which ends it and
// closes the file; flag names the option in errors.
func record(flag, path string, start func(io.Writer) error, end func()) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return func() {
		end()
		f.Close()
	}, nil
}

// writeAllocsProfile writes the process's allocations since it started.
func writeAllocsProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("--memprofile: %w", err)
	}
	return f.Close()
}
