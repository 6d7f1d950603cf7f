package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/relay-dev/relay/apiserver"
	"github.com/relay-dev/relay/codec"
	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/devserver"
	"github.com/relay-dev/relay/netguard"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/secrets"
	"github.com/relay-dev/relay/triggers"
	"github.com/relay-dev/relay/worker"
)

func (a *app) devCommand() *cobra.Command {
	var (
		f         flowFlags
		opts      devserver.Options
		httpAddr  string
		taskQueue string
		noSandbox bool
		sf        sandboxFlags
		codecKeys string
		obs       observeFlags
		dynConfig []string
		cacheSize int
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything on this machine: embedded Temporal, Web UI, worker and HTTP server",
		Long: `Run relay on one machine: an embedded Temporal server persisted in SQLite
under --data-dir, the Temporal Web UI, a relay worker and relay's HTTP server.
Runs in flight survive a restart on the same data dir.`,
		Example: "  relay dev\n  relay dev --ephemeral --definitions ./flows",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			started := time.Now()
			logger := a.logger()
			var credentials []string
			if !noSandbox {
				credentials = setDevCredentials()
			}
			cat, err := f.load(a.stderr)
			if err != nil {
				return err
			}
			if opts.DynamicConfig, err = devserver.ParseDynamicConfigValues(dynConfig); err != nil {
				return fmt.Errorf("--dynamic-config-value: %w", err)
			}
			opts.Logger = logger.With("component", "temporal-server")
			opts.SearchAttributes = runs.SearchAttributeTypes()
			if opts.Ephemeral {
				opts.DataDir = ""
			}
			if codecKeys != "" {
				opts.CodecEndpoint = "http://" + httpAddr + "/codec"
			}
			addrs := map[string]string{"--http-addr": httpAddr}
			if !noSandbox {
				addrs["--sandbox-addr"], addrs["--sandbox-smtp-addr"] = sf.addr, sf.smtpAddr
			}
			if err := devPortClash(opts, addrs); err != nil {
				return err
			}
			opts.ReservedPorts = addrPorts(addrs)
			// The server's own workers share the process's workflow cache.
			if err := worker.SetWorkflowCacheSize(cacheSize); err != nil {
				return fmt.Errorf("--workflow-cache-size: %w", err)
			}
			srv, err := devserver.Start(ctx, opts)
			if err != nil {
				return fmt.Errorf("starting the embedded Temporal server: %w", err)
			}
			defer srv.Stop()
			t := temporalFlags{address: srv.FrontendAddress(), namespace: srv.Namespace(), taskQueue: taskQueue, codecKeys: codecKeys}
			c, disconnect, err := connect(ctx, &t, &obs, "relay dev", logger)
			if err != nil {
				return err
			}
			defer disconnect()
			// The sandbox listens on loopback: relay dev may call private addresses.
			rt, err := startRuntime(ctx, c, runtimeOptions{temporal: &t, redact: a.redactor(), netPolicy: &netguard.Policy{AllowPrivate: true}, catalog: cat, worker: true, webhooks: true, httpAddr: httpAddr, taskQueue: taskQueue, namespace: srv.Namespace()}, logger)
			if err != nil {
				return err
			}
			defer rt.stop()
			sandboxLine := "off (--no-sandbox)"
			if !noSandbox {
				// Partners post only to the webhooks the loaded flows receive.
				sb, err := sf.start("http://"+rt.addr, rt.hooks, a)
				if err != nil {
					return fmt.Errorf("starting the partner sandbox (or pass --no-sandbox): %w", err)
				}
				defer sb.Stop()
				sandboxLine = fmt.Sprintf("http://%s, SMTP %s", sb.HTTPAddr(), sb.SMTPAddr())
				if len(credentials) > 0 {
					sandboxLine += fmt.Sprintf("  (set sandbox credentials: %s)", strings.Join(credentials, ", "))
				}
			}

			store := "in memory (--ephemeral)"
			if !opts.Ephemeral {
				store = strings.Join(srv.StoreFiles(), " + ")
			}
			ui := "disabled"
			if srv.UIAddress() != "" {
				ui = "http://" + srv.UIAddress()
			}
			example := "hello --input-json '{\"name\":\"Ada\"}' --wait"
			if _, ok := cat.flows["hello"]; !ok && len(cat.flows) > 0 {
				example = cat.ids()[0] + " --input FILE --wait"
			}
			// The run command's defaults reach only relay dev's defaults.
			if srv.FrontendAddress() != "127.0.0.1:7233" {
				example += " --address " + srv.FrontendAddress()
			}
			if srv.Namespace() != "default" {
				example += " --namespace " + srv.Namespace()
			}
			fmt.Fprintf(a.stdout, `relay dev is ready in %s
  Temporal frontend  %s  (namespace %s, store %s)
  Temporal Web UI    %s
  relay HTTP         http://%s  (/healthz, /readyz)
  metrics            http://%s/metrics
  flows              %s  (from %s)
  webhooks           %s
  partner sandbox    %s
`, time.Since(started).Round(time.Millisecond), srv.FrontendAddress(), srv.Namespace(), store, ui, rt.addr, rt.addr, strings.Join(cat.ids(), ", "), cat.source, hookList(rt), sandboxLine)
			if obs.otlpEndpoint != "" {
				fmt.Fprintf(a.stdout, "  traces             OTLP to %s\n", obs.otlpEndpoint)
			}
			if cat.refused > 0 {
				fmt.Fprintf(a.stdout, "  REFUSED            %d definition file(s): see the errors above\n", cat.refused)
			}
			fmt.Fprintf(a.stdout, "\nTry it:\n  go run ./cmd/relay run %s\n", example)
			if _, ok := cat.flows["order-to-invoice"]; ok && !noSandbox && rt.addr == "127.0.0.1:8080" {
				fmt.Fprintf(a.stdout, "  go run ./cmd/relay sandbox order    # a signed shop order starts order-to-invoice\n")
			}
			fmt.Fprintf(a.stdout, "\nPress Ctrl-C to stop.\n")
			<-ctx.Done()
			fmt.Fprintln(a.stdout, "relay dev: stopping")
			return nil
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&opts.DataDir, "data-dir", ".relay", "folder of the embedded server's SQLite file")
	fl.BoolVar(&opts.Ephemeral, "ephemeral", false, "keep everything in memory; nothing survives a restart")
	fl.StringVar(&opts.IP, "ip", "127.0.0.1", "address the embedded Temporal server and UI listen on")
	fl.IntVar(&opts.FrontendPort, "port", 7233, "Temporal frontend gRPC port")
	fl.IntVar(&opts.FrontendHTTPPort, "temporal-http-port", 0, "Temporal frontend HTTP API port (0: any free port)")
	fl.IntVar(&opts.UIPort, "ui-port", 8233, "Temporal Web UI port (-1 disables the UI)")
	fl.StringVar(&opts.Namespace, "namespace", "default", "Temporal namespace")
	fl.StringVar(&httpAddr, "http-addr", "127.0.0.1:8080", "relay HTTP server address")
	fl.StringVar(&taskQueue, "task-queue", worker.DefaultTaskQueue, "task queue of the worker")
	fl.BoolVar(&noSandbox, "no-sandbox", false, "do not start the partner sandbox")
	fl.StringVar(&codecKeys, "codec-keys", envOr("RELAY_CODEC_KEYS", ""), "encrypt payloads with AES-GCM: id=env:NAME[,id=file:PATH...], the first key current (env RELAY_CODEC_KEYS)")
	fl.StringArrayVar(&dynConfig, "dynamic-config-value", nil, "override one of the embedded server's dynamic config settings, KEY=JSON_VALUE, repeatable")
	registerWorkflowCacheSize(cmd, &cacheSize)
	sf.register(cmd, "sandbox-")
	obs.register(cmd)
	return cmd
}

// devPortClash reports two of relay dev's listeners given one port on
// overlapping hosts, before anything starts: else the embedded server
// starts and a later listener fails with "address already in use". addrs
// maps a flag to its host:port; port 0 (any free port) never clashes, and a
// malformed address is left to its listener to report.
func devPortClash(o devserver.Options, addrs map[string]string) error {
	type listener struct{ flag, host string }
	taken := map[int][]listener{}
	add := func(flag, host string, port int) error {
		if port <= 0 {
			return nil
		}
		for _, l := range taken[port] {
			if hostsOverlap(l.host, host) {
				where := host
				if where == "" {
					where = "every address"
				}
				return fmt.Errorf("%s and %s both take port %d on %s: give one of them another port", l.flag, flag, port, where)
			}
		}
		taken[port] = append(taken[port], listener{flag, host})
		return nil
	}
	for _, p := range []struct {
		flag string
		port int
	}{{"--port", o.FrontendPort}, {"--temporal-http-port", o.FrontendHTTPPort}, {"--ui-port", o.UIPort}} {
		if err := add(p.flag, o.IP, p.port); err != nil {
			return err
		}
	}
	for _, flag := range slices.Sorted(maps.Keys(addrs)) {
		host, port, ok := splitAddr(addrs[flag])
		if !ok {
			continue
		}
		if err := add(flag, host, port); err != nil {
			return err
		}
	}
	return nil
}

// addrPorts are the ports addrs' listeners will bind, for the embedded
// server to leave alone when it picks ports of its own.
func addrPorts(addrs map[string]string) []int {
	var ports []int
	for _, flag := range slices.Sorted(maps.Keys(addrs)) {
		if _, port, ok := splitAddr(addrs[flag]); ok && port > 0 {
			ports = append(ports, port)
		}
	}
	return ports
}

// splitAddr splits host:port; ok is false for a malformed address, which
// is left to its listener to report.
func splitAddr(addr string) (host string, port int, ok bool) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, false
	}
	port, err = strconv.Atoi(p)
	return host, port, err == nil
}

// hostsOverlap says whether listeners on hosts a and b contend for a port:
// they are the same host, or either one is every address (empty, 0.0.0.0,
// ::).
func hostsOverlap(a, b string) bool {
	all := func(h string) bool { ip := net.ParseIP(h); return h == "" || ip != nil && ip.IsUnspecified() }
	return a == b || all(a) || all(b)
}

// runtime is a running worker and HTTP server.
type runtime struct {
	addr  string
	hooks []string
	stop  func()
}

type runtimeOptions struct {
	// temporal holds the connection's codec, if payloads are encrypted.
	temporal  *temporalFlags
	redact    *secrets.FieldRedactor
	netPolicy *netguard.Policy
	catalog   *catalog
	worker    bool // run a worker for the catalog's connectors and flows
	webhooks  bool // receive the catalog's webhooks
	httpAddr  string
	taskQueue string
	namespace string
}

// startRuntime starts a worker and relay's HTTP server (when httpAddr is
// set) with the webhook receiver. readyz answers once Temporal is reachable
// and the worker polls.
func startRuntime(ctx context.Context, c client.Client, o runtimeOptions, logger *slog.Logger) (*runtime, error) {
	cat, httpAddr, taskQueue := o.catalog, o.httpAddr, o.taskQueue
	var stops []func()
	rt := &runtime{stop: func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}}
	var polling atomic.Bool
	if o.worker {
		if err := o.netPolicy.Validate(); err != nil {
			return nil, fmt.Errorf("outbound network policy: %w", err)
		}
		w, err := worker.New(c, worker.Options{TaskQueue: taskQueue, Registry: cat.registry, Flows: cat.list(), Logger: logger,
			Metrics: o.temporal.metrics,
			Client:  connectors.ClientOptions{NetPolicy: o.netPolicy, Tracer: o.temporal.tracing.Tracer("github.com/relay-dev/relay/connectors")}})
		if err != nil {
			return nil, err
		}
		if err := w.Start(); err != nil {
			return nil, fmt.Errorf("starting worker on task queue %s: %w", taskQueue, err)
		}
		polling.Store(true)
		stops = append(stops, w.Stop)
	}
	if httpAddr == "" {
		return rt, nil
	}
	api := &apiserver.Server{Logger: logger, API: newAPI(c, o, logger), Metrics: o.temporal.metrics.Handler(), Ready: func(ctx context.Context) error {
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			return &apiserver.NotReady{Reason: "Temporal is not reachable", Err: err}
		}
		if o.worker && !polling.Load() {
			return &apiserver.NotReady{Reason: "the worker is not polling"}
		}
		return nil
	}}
	if o.webhooks {
		rc := &runs.Client{Temporal: c, Namespace: o.namespace, TaskQueue: taskQueue, Flows: cat.flows, DataConverter: o.temporal.dataConverter()}
		recv, err := triggers.NewReceiver(cat.list(), rc, secrets.Resolve, logger,
			triggers.WithMetrics(o.temporal.metrics), triggers.WithTracer(o.temporal.tracing.Tracer("github.com/relay-dev/relay/triggers")))
		if err != nil {
			rt.stop()
			return nil, err
		}
		api.Webhooks = recv
		rt.hooks = recv.Paths()
		// Retries of a failed reconcile stop with the runtime.
		rctx, cancel := context.WithCancel(ctx)
		stops = append(stops, cancel)
		reconcileSchedules(rctx, c, rc, cat, logger)
	}
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		rt.stop()
		return nil, fmt.Errorf("listening on %s: %w", httpAddr, err)
	}
	rt.addr = ln.Addr().String()
	hs := apiserver.NewHTTPServer(rt.addr, api.Handler())
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("relay HTTP server stopped", "err", err)
		}
	}()
	stops = append(stops, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	})
	return rt, nil
}

// codecHandler is the remote codec endpoint for the Web UI, when payloads
// are encrypted.
func (o runtimeOptions) codecHandler() http.Handler {
	if o.temporal == nil || o.temporal.codec == nil {
		return nil
	}
	return codec.Handler(o.temporal.codec, codec.HandlerOptions{AllowOrigins: []string{"http://127.0.0.1:8233", "http://localhost:8233"}})
}

func hookList(rt *runtime) string {
	if len(rt.hooks) == 0 {
		return "none"
	}
	out := make([]string, len(rt.hooks))
	for i, h := range rt.hooks {
		out[i] = "http://" + rt.addr + h
	}
	return strings.Join(out, ", ")
}
