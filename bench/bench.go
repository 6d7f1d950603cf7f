// Package bench is `relay bench`: like pgbench, it measures relay on the
// machine it runs on. It starts an embedded Temporal server (or uses one
// given by address) and the partner sandbox with zero latency, and reports
// every figure that has a reference as a ratio measured side by side in
// the same run: relay and the reference take turns in batches, so noise
// on a shared machine hits both alike.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/relay-dev/relay/worker"
)

// Stores of the embedded server.
const (
	StoreMemory = "memory"
	StoreFile   = "file"
)

// Sections, in the order a report shows them.
var Sections = []string{"flows", "ingest", "scale", "parked", "startup"}

// Options size a bench run. DefaultOptions finishes in about two minutes
// on two cores; the full sizes are noted on each field.
type Options struct {
	// Only lists the sections to run; empty means all.
	Only []string
	// Store of the embedded server: file (durable, the default) or memory.
	Store string
	// DataDir holds the file stores; empty means a temporary folder,
	// removed afterwards.
	DataDir string
	// TemporalAddress, when set, is used instead of an embedded server.
	TemporalAddress string
	Namespace       string
	// DynamicConfig overrides the embedded server's dynamic config
	// (devserver.Options.DynamicConfig), to measure a setting.
	DynamicConfig map[string]any
	// Duration is how long each side of a measurement runs, in batches;
	// Runs, when above zero, is how many operations each side runs instead.
	Duration time.Duration
	Runs     int
	// Flows limits the flows section to these flow IDs (bench-hook4,
	// order-to-invoice); empty means both.
	Flows []string
	// Concurrency of the flows section (full: 1,16,128).
	Concurrency []int
	// IngestConcurrency of the ingest section (full: 1,16,64).
	IngestConcurrency []int
	// Steps are the flow lengths of the scale section (full: 5,20,100),
	// Items the foreach sizes with a set body (full: 10,1000,10000), and
	// CallItems those with a local call body (full: 10,1000).
	Steps, Items, CallItems []int
	// ScaleConcurrency is how many scale runs are in flight at once for
	// small flows; flows of 1,000 steps or more run one at a time. At 1,
	// the default, time per step compares across sizes.
	ScaleConcurrency int
	// Parked is how many waiting runs the parked section holds (full: 10000).
	Parked int
	// StartupRuns is how often `relay dev` is started; the median counts.
	StartupRuns int
	// Self is the command that runs relay (os.Executable()), for the
	// startup and parked sections, which start `relay dev`.
	Self []string
	// Logger receives the server's, worker's and sandbox's warnings.
	Logger *slog.Logger
	// Progress, if set, receives a line per measurement.
	Progress io.Writer
}

// DefaultOptions are the sizes `relay bench` uses without flags.
func DefaultOptions() Options {
	return Options{
		Store:             StoreFile,
		Namespace:         "default",
		Duration:          2 * time.Second,
		Concurrency:       []int{1, 16, 128},
		IngestConcurrency: []int{1, 16, 64},
		Steps:             []int{5, 20, 100},
		Items:             []int{10, 1000, 10000},
		CallItems:         []int{10, 1000},
		ScaleConcurrency:  1,
		Parked:            500,
		StartupRuns:       3,
	}
}

func (o *Options) want(section string) bool {
	return len(o.Only) == 0 || slices.Contains(o.Only, section)
}

func (o *Options) plan() plan { return plan{runs: o.Runs, duration: o.Duration} }

func (o *Options) progress(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

func (o *Options) validate() error {
	var errs []error
	for _, s := range o.Only {
		if !slices.Contains(Sections, s) {
			errs = append(errs, fmt.Errorf("unknown section %q (want some of %s)", s, strings.Join(Sections, ",")))
		}
	}
	for _, f := range o.Flows {
		if f != hook4ID && f != flagshipID {
			errs = append(errs, fmt.Errorf("unknown bench flow %q (want %s or %s)", f, hook4ID, flagshipID))
		}
	}
	if o.Store != StoreMemory && o.Store != StoreFile {
		errs = append(errs, fmt.Errorf("unknown store %q (want memory or file)", o.Store))
	}
	if o.Runs <= 0 && o.Duration <= 0 {
		errs = append(errs, errors.New("set a duration or a number of runs above zero"))
	}
	for name, list := range map[string][]int{"concurrency": o.Concurrency, "ingest concurrency": o.IngestConcurrency} {
		if len(list) == 0 && (o.want("flows") || o.want("ingest")) {
			errs = append(errs, fmt.Errorf("%s: give at least one", name))
		}
	}
	if o.want("parked") && o.Parked <= 0 {
		errs = append(errs, errors.New("parked runs must be above zero"))
	}
	if o.want("startup") && o.StartupRuns <= 0 {
		errs = append(errs, errors.New("startup runs must be above zero"))
	}
	if (o.want("startup") || (o.want("parked") && o.TemporalAddress == "")) && len(o.Self) == 0 {
		errs = append(errs, errors.New("the startup and parked sections start `relay dev`: no relay executable given"))
	}
	return errors.Join(errs...)
}

// Report is everything a bench run measured.
type Report struct {
	Machine Machine         `json:"machine"`
	Options ReportedOptions `json:"options"`
	Flows   []FlowResult    `json:"flows,omitempty"`
	// Histories are the history sizes of one run of each flow.
	Histories []HistoryResult `json:"histories,omitempty"`
	Ingest    []IngestResult  `json:"ingest,omitempty"`
	Scale     []ScaleResult   `json:"scale,omitempty"`
	Parked    *ParkedResult   `json:"parked,omitempty"`
	Startup   *StartupResult  `json:"startup,omitempty"`
	// Seconds is how long the whole bench took.
	Seconds float64 `json:"seconds"`
}

// Machine is what the figures were measured on.
type Machine struct {
	CPUs           int    `json:"cpus"`
	GOMAXPROCS     int    `json:"gomaxprocs"`
	CPUModel       string `json:"cpu_model,omitempty"`
	MemoryMiB      int64  `json:"memory_mib,omitempty"`
	GoVersion      string `json:"go_version"`
	OS             string `json:"os"`
	Arch           string `json:"arch"`
	TemporalServer string `json:"temporal_server,omitempty"`
	TemporalSDK    string `json:"temporal_sdk,omitempty"`
	Store          string `json:"store"`
}

// ReportedOptions are the sizes used.
type ReportedOptions struct {
	Sections          []string `json:"sections"`
	Duration          string   `json:"duration,omitempty"`
	Runs              int      `json:"runs,omitempty"`
	Concurrency       []int    `json:"concurrency"`
	IngestConcurrency []int    `json:"ingest_concurrency"`
	Steps             []int    `json:"steps"`
	Items             []int    `json:"items"`
	CallItems         []int    `json:"call_items"`
	ScaleConcurrency  int      `json:"scale_concurrency"`
	Parked            int      `json:"parked"`
	StartupRuns       int      `json:"startup_runs"`
}

// Run runs the selected sections and returns the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("invalid bench options: %w", err)
	}
	// relay's processes size the workflow cache once, before any worker
	// (the embedded server's included) builds it: the parked section's
	// RSS is that of relay's default.
	if err := worker.SetWorkflowCacheSize(0); err != nil {
		return nil, err
	}
	started := time.Now()
	if o.DataDir == "" {
		dir, err := os.MkdirTemp("", "relay-bench-")
		if err != nil {
			return nil, fmt.Errorf("creating a data dir: %w", err)
		}
		defer os.RemoveAll(dir)
		o.DataDir = dir
	}
	r := &Report{Machine: machine(), Options: reported(&o)}
	r.Machine.Store = "SQLite " + o.Store
	if o.TemporalAddress != "" {
		r.Machine.Store = "external (" + o.TemporalAddress + ")"
	}
	tag := randomTag()

	// The sections that start `relay dev` run first, while this process
	// holds no embedded server: the parked section reads its RSS.
	if o.want("startup") {
		if err := startupSection(ctx, &o, r); err != nil {
			return r, fmt.Errorf("startup: %w", err)
		}
	}
	if o.want("parked") {
		if err := parkedSection(ctx, &o, tag, r); err != nil {
			return r, fmt.Errorf("parked: %w", err)
		}
	}
	if o.want("flows") || o.want("ingest") || o.want("scale") {
		main := o
		main.DataDir = filepath.Join(o.DataDir, "main")
		t, err := startTemporal(ctx, &main)
		if err != nil {
			return r, err
		}
		defer t.stop()
		e, err := newEnv(ctx, &o, t, tag)
		if err != nil {
			return r, err
		}
		defer e.stop()
		for _, s := range []struct {
			name string
			run  func(context.Context, *Options, *Report) error
		}{{"flows", e.flowsSection}, {"ingest", e.ingestSection}, {"scale", e.scaleSection}} {
			if !o.want(s.name) {
				continue
			}
			if err := s.run(ctx, &o, r); err != nil {
				return r, fmt.Errorf("%s: %w", s.name, err)
			}
		}
	}
	r.Seconds = round(time.Since(started).Seconds(), 4)
	return r, nil
}

func reported(o *Options) ReportedOptions {
	ro := ReportedOptions{
		Runs: o.Runs, Concurrency: o.Concurrency, IngestConcurrency: o.IngestConcurrency,
		Steps: o.Steps, Items: o.Items, CallItems: o.CallItems, ScaleConcurrency: o.ScaleConcurrency,
		Parked: o.Parked, StartupRuns: o.StartupRuns,
	}
	if o.Runs <= 0 {
		ro.Duration = o.Duration.String()
	}
	for _, s := range Sections {
		if o.want(s) {
			ro.Sections = append(ro.Sections, s)
		}
	}
	return ro
}

func randomTag() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "b" + hex.EncodeToString(b)
}

func machine() Machine {
	m := Machine{
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		if kib, err := parseStatusKiB(f, "MemTotal"); err == nil {
			m.MemoryMiB = kib / 1024
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPUModel = strings.TrimSpace(value)
				break
			}
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "go.temporal.io/server":
				m.TemporalServer = d.Version
			case "go.temporal.io/sdk":
				m.TemporalSDK = d.Version
			}
		}
	}
	return m
}
