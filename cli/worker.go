package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/relay-dev/relay/netguard"
	"github.com/relay-dev/relay/worker"
)

func (a *app) workerCommand() *cobra.Command {
	var (
		t             temporalFlags
		f             flowFlags
		httpAddr      string
		egressAllow   string
		egressPrivate bool
		cacheSize     int
		obs           observeFlags
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a relay worker against a Temporal cluster",
		Long: `Run a relay worker against an existing Temporal cluster. Run as many as you
like; they share the work through the task queue.`,
		Example: "  TEMPORAL_ADDRESS=temporal.example.com:7233 relay worker --namespace prod",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			policy := &netguard.Policy{Allow: splitList(egressAllow), AllowPrivate: egressPrivate}
			if err := worker.SetWorkflowCacheSize(cacheSize); err != nil {
				return fmt.Errorf("--workflow-cache-size: %w", err)
			}
			return a.againstCluster(cmd, &t, &f, &obs, "relay worker", runtimeOptions{netPolicy: policy, worker: true, httpAddr: httpAddr}, true,
				func(rt *runtime) string {
					return fmt.Sprintf("relay worker polling %s on %s (namespace %s)", t.taskQueue, t.address, t.namespace)
				})
		},
	}
	t.register(cmd)
	f.register(cmd)
	cmd.Flags().StringVar(&httpAddr, "http-addr", "", "serve /healthz, /readyz and /metrics on this address (off when empty)")
	obs.register(cmd)
	cmd.Flags().StringVar(&egressAllow, "egress-allow", envOr("RELAY_EGRESS_ALLOW", ""), "comma-separated hosts, host:port, *.domain or CIDRs partner calls may reach; empty allows any public address (env RELAY_EGRESS_ALLOW)")
	cmd.Flags().BoolVar(&egressPrivate, "egress-allow-private", os.Getenv("RELAY_EGRESS_ALLOW_PRIVATE") == "true", "let partner calls reach loopback and private addresses (env RELAY_EGRESS_ALLOW_PRIVATE=true); link-local and cloud metadata stay refused")
	registerWorkflowCacheSize(cmd, &cacheSize)
	return cmd
}

// registerWorkflowCacheSize adds --workflow-cache-size (relay worker and
// relay dev), which the command passes to worker.SetWorkflowCacheSize
// before it starts any worker.
func registerWorkflowCacheSize(cmd *cobra.Command, v *int) {
	cmd.Flags().IntVar(v, "workflow-cache-size", worker.DefaultWorkflowCacheSize,
		"runs the worker keeps in memory between their steps, about 60 KiB each. A run beyond it (the least recently active, such as one waiting for an event or a timer) is dropped from memory and replays its history when it next moves on: less memory, more CPU per wake-up. Raise it above the number of runs busy at once")
}

func (a *app) serveCommand() *cobra.Command {
	var (
		t        temporalFlags
		f        flowFlags
		httpAddr string
		obs      observeFlags
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run relay's HTTP server against a Temporal cluster",
		Long: `Run relay's HTTP server (health, readiness, and the webhook receiver and API
as they land) against an existing Temporal cluster. It keeps no state of its
own: run as many as you like behind a load balancer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.againstCluster(cmd, &t, &f, &obs, "relay serve", runtimeOptions{webhooks: true, httpAddr: httpAddr}, false,
				func(rt *runtime) string {
					return fmt.Sprintf("relay serving http://%s against %s (namespace %s)", rt.addr, t.address, t.namespace)
				})
		},
	}
	t.register(cmd)
	f.register(cmd)
	cmd.Flags().StringVar(&httpAddr, "http-addr", "127.0.0.1:8080", "relay HTTP server address")
	obs.register(cmd)
	return cmd
}

// againstCluster runs a worker or server against a Temporal cluster until
// the command's context ends. checkAttrs refuses a namespace without
// relay's search attributes (workers write them).
func (a *app) againstCluster(cmd *cobra.Command, t *temporalFlags, f *flowFlags, obs *observeFlags, name string, o runtimeOptions, checkAttrs bool, banner func(*runtime) string) error {
	ctx := cmd.Context()
	logger := a.logger()
	cat, err := f.load(a.stderr)
	if err != nil {
		return err
	}
	c, disconnect, err := connect(ctx, t, obs, name, logger)
	if err != nil {
		return err
	}
	defer disconnect()
	if checkAttrs {
		if err := checkSearchAttributes(ctx, c, t.namespace); err != nil {
			return err
		}
	}
	o.temporal, o.catalog, o.taskQueue, o.namespace, o.redact = t, cat, t.taskQueue, t.namespace, a.redactor()
	rt, err := startRuntime(ctx, c, o, logger)
	if err != nil {
		return err
	}
	defer rt.stop()
	fmt.Fprintln(a.stdout, banner(rt))
	<-ctx.Done()
	return nil
}

// connect starts telemetry for the process called name and dials
// Temporal; disconnect closes the client, then stops telemetry.
func connect(ctx context.Context, t *temporalFlags, obs *observeFlags, name string, logger *slog.Logger) (_ client.Client, disconnect func(), _ error) {
	stopTelemetry, err := obs.start(ctx, t, name, logger)
	if err != nil {
		return nil, nil, err
	}
	c, err := t.dial(logger)
	if err != nil {
		stopTelemetry()
		return nil, nil, err
	}
	return c, func() {
		c.Close()
		stopTelemetry()
	}, nil
}

// splitList splits a comma-separated flag, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
