package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/relay-dev/relay/netguard"
)

func (a *app) workerCommand() *cobra.Command {
	var (
		t             temporalFlags
		f             flowFlags
		httpAddr      string
		egressAllow   string
		egressPrivate bool
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
			ctx := cmd.Context()
			logger := a.logger()
			cat, _, err := f.load(a.stderr)
			if err != nil {
				return err
			}
			stopTelemetry, err := obs.start(ctx, &t, "relay worker", logger)
			if err != nil {
				return err
			}
			defer stopTelemetry()
			c, err := t.dial(logger)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := checkSearchAttributes(ctx, c, t.namespace); err != nil {
				return err
			}
			policy := &netguard.Policy{Allow: splitList(egressAllow), AllowPrivate: egressPrivate}
			rt, err := startRuntime(ctx, c, runtimeOptions{temporal: &t, netPolicy: policy, catalog: cat, worker: true, httpAddr: httpAddr, taskQueue: t.taskQueue, namespace: t.namespace}, logger)
			if err != nil {
				return err
			}
			defer rt.stop()
			fmt.Fprintf(a.stdout, "relay worker polling %s on %s (namespace %s)\n", t.taskQueue, t.address, t.namespace)
			<-ctx.Done()
			return nil
		},
	}
	t.register(cmd)
	f.register(cmd)
	cmd.Flags().StringVar(&httpAddr, "http-addr", "", "serve /healthz, /readyz and /metrics on this address (off when empty)")
	obs.register(cmd)
	cmd.Flags().StringVar(&egressAllow, "egress-allow", envOr("RELAY_EGRESS_ALLOW", ""), "comma-separated hosts, host:port, *.domain or CIDRs partner calls may reach; empty allows any public address (env RELAY_EGRESS_ALLOW)")
	cmd.Flags().BoolVar(&egressPrivate, "egress-allow-private", os.Getenv("RELAY_EGRESS_ALLOW_PRIVATE") == "true", "let partner calls reach loopback and private addresses (env RELAY_EGRESS_ALLOW_PRIVATE=true); link-local and cloud metadata stay refused")
	return cmd
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
			ctx := cmd.Context()
			logger := a.logger()
			cat, _, err := f.load(a.stderr)
			if err != nil {
				return err
			}
			stopTelemetry, err := obs.start(ctx, &t, "relay serve", logger)
			if err != nil {
				return err
			}
			defer stopTelemetry()
			c, err := t.dial(logger)
			if err != nil {
				return err
			}
			defer c.Close()
			rt, err := startRuntime(ctx, c, runtimeOptions{temporal: &t, catalog: cat, webhooks: true, httpAddr: httpAddr, taskQueue: t.taskQueue, namespace: t.namespace}, logger)
			if err != nil {
				return err
			}
			defer rt.stop()
			fmt.Fprintf(a.stdout, "relay serving http://%s against %s (namespace %s)\n", rt.addr, t.address, t.namespace)
			<-ctx.Done()
			return nil
		},
	}
	t.register(cmd)
	f.register(cmd)
	cmd.Flags().StringVar(&httpAddr, "http-addr", "127.0.0.1:8080", "relay HTTP server address")
	obs.register(cmd)
	return cmd
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
