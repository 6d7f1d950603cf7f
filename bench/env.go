package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/relay-dev/relay/apiserver"
	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/builtin"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/devserver"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/sandbox"
	"github.com/relay-dev/relay/secrets"
	"github.com/relay-dev/relay/triggers"
	"github.com/relay-dev/relay/worker"
)

// TaskQueue is the task queue of the bench's worker, apart from relay's
// own so that no other worker takes its tasks.
const TaskQueue = "relay-bench"

// resolve maps the sandbox's secret references to the sandbox's
// credentials, whatever the environment says: the bench's partners accept
// only those.
func resolve(ref string) (string, error) {
	if name, ok := strings.CutPrefix(ref, "env:"); ok {
		if v, ok := sandbox.DevCredentials[name]; ok {
			return v, nil
		}
	}
	return secrets.Resolve(ref)
}

// server is a Temporal server to measure on: embedded, a `relay dev`
// child process, or one given by address.
type server struct {
	client    client.Client
	namespace string
	store     string // for the report
	stop      func()
}

// startTemporal starts the embedded server (or dials TemporalAddress).
func startTemporal(ctx context.Context, o *Options) (*server, error) {
	if o.TemporalAddress != "" {
		c, err := dial(o.TemporalAddress, o.Namespace, nil)
		if err != nil {
			return nil, err
		}
		return &server{client: c, namespace: o.Namespace, store: "external (" + o.TemporalAddress + ")", stop: c.Close}, nil
	}
	dopts := devserver.Options{
		Ephemeral:        o.Store == StoreMemory,
		DataDir:          o.DataDir,
		UIPort:           devserver.UIDisabled,
		Namespace:        o.Namespace,
		SearchAttributes: runs.SearchAttributeTypes(),
		DynamicConfig:    o.DynamicConfig,
		Logger:           o.Logger,
	}
	srv, err := devserver.Start(ctx, dopts)
	if err != nil {
		return nil, fmt.Errorf("starting the embedded Temporal server: %w", err)
	}
	c, err := dial(srv.FrontendAddress(), srv.Namespace(), &client.GrpcCompressionNone{})
	if err != nil {
		_ = srv.Stop()
		return nil, err
	}
	store := "SQLite in memory"
	if o.Store == StoreFile {
		store = "SQLite file (" + o.DataDir + ")"
	}
	return &server{client: c, namespace: srv.Namespace(), store: store, stop: func() {
		c.Close()
		_ = srv.Stop()
	}}, nil
}

// dial connects to Temporal; compression nil is the SDK's default (gzip),
// which the embedded server on loopback does not need.
func dial(address, namespace string, compression client.GrpcCompression) (client.Client, error) {
	c, err := client.Dial(client.Options{
		HostPort:          address,
		Namespace:         namespace,
		Logger:            sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: compression},
		ExternalStorage:   worker.InlinePayloads(),
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to Temporal at %s (namespace %s): %w", address, namespace, err)
	}
	return c, nil
}

// env is everything the flows, ingest and scale sections share: one
// Temporal server, one worker running both relay.run and the hand-written
// workflows, two sandboxes (one whose webhooks go to relay, one whose go to
// the hand-written handlers) and the two HTTP servers.
type env struct {
	*server
	reg    *connectors.Registry
	worker *worker.Worker
	runs   *runs.Client
	http   *http.Client
	tag    string // makes workflow IDs unique to this bench run

	relayURL, handURL string // webhook receivers
	sbRelay, sbHand   *sandbox.Running
	flows             map[string]*definitions.Flow
	hand              *handWritten
	stops             []func()
}

func (e *env) stop() {
	for i := len(e.stops) - 1; i >= 0; i-- {
		e.stops[i]()
	}
}

func newEnv(ctx context.Context, o *Options, t *server, tag string) (e *env, err error) {
	e = &env{
		server: t,
		reg:    builtin.Registry(),
		http:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxIdleConns: 1024}, Timeout: time.Minute},
		tag:    tag,
		flows:  map[string]*definitions.Flow{},
	}
	defer func() {
		if err != nil {
			e.stop()
		}
	}()
	// The receivers' addresses must be known before the sandboxes start, and
	// the receivers need the flows, which need the sandboxes' addresses.
	relayLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for webhooks: %w", err)
	}
	handLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		relayLn.Close()
		return nil, fmt.Errorf("listening for webhooks: %w", err)
	}
	e.relayURL, e.handURL = "http://"+relayLn.Addr().String(), "http://"+handLn.Addr().String()
	e.stops = append(e.stops, func() { relayLn.Close(); handLn.Close() })

	startSandbox := func(webhookURL string) (*sandbox.Running, error) {
		sb, err := sandbox.Start(sandbox.Options{
			WebhookURL:    webhookURL,
			WebhookSecret: sandbox.DevCredentials["STRIPE_WEBHOOK_SECRET"],
			WebhookDelay:  time.Nanosecond, // zero latency (0 means the default delay)
			// Stripe's payment events are the only webhooks a bench flow
			// receives: no EasyPost tracker events to answer 404.
			WebhookPaths: []string{sandbox.StripeWebhookPath},
			Logger:       slog.New(slog.DiscardHandler),
		}, "127.0.0.1:0", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("starting the partner sandbox: %w", err)
		}
		e.stops = append(e.stops, sb.Stop)
		return sb, nil
	}
	if e.sbRelay, err = startSandbox(e.relayURL); err != nil {
		return nil, err
	}
	if e.sbHand, err = startSandbox(e.handURL); err != nil {
		return nil, err
	}

	flagshipSrc, err := fs.ReadFile(definitions.Bundled(), flagshipFile)
	if err != nil {
		return nil, fmt.Errorf("reading the bundled %s: %w", flagshipFile, err)
	}
	for _, src := range []struct{ file, yaml string }{
		{flagshipFile, pointAt(string(flagshipSrc), e.sbRelay)},
		{"bench-hook4.yaml", pointAt(hook4Flow, e.sbRelay)},
		{"bench-ingest.yaml", ingestFlow},
	} {
		f, err := definitions.Parse(src.file, []byte(src.yaml), e.reg)
		if err != nil {
			return nil, fmt.Errorf("bench flow %s:\n%w", src.file, err)
		}
		e.flows[f.ID] = f
	}
	// The hand-written flagship calls the other sandbox, with the same
	// connection settings otherwise.
	handFlagship, err := definitions.Parse(flagshipFile, []byte(pointAt(string(flagshipSrc), e.sbHand)), e.reg)
	if err != nil {
		return nil, fmt.Errorf("bench flow %s: %w", flagshipFile, err)
	}

	e.worker, err = worker.New(e.client, worker.Options{TaskQueue: TaskQueue, Registry: e.reg, Resolve: resolve, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	e.hand = newHandWritten(e.client, e.reg, handFlagship.Connections, e.flows[hook4ID].Connections)
	e.hand.ingestInput = e.ingestInput
	e.hand.register(e.worker.Main())
	if err := e.worker.Start(); err != nil {
		return nil, fmt.Errorf("starting the worker: %w", err)
	}
	e.stops = append(e.stops, e.worker.Stop)
	e.runs = &runs.Client{Temporal: e.client, Namespace: e.namespace, TaskQueue: TaskQueue, Flows: e.flows}

	receiverFlows := []*definitions.Flow{e.flows[flagshipID], e.flows[hook4ID], e.flows[ingestID]}
	// The receiver logs every delivery: keep errors only.
	quiet := slog.New(minLevel{o.Logger.Handler(), slog.LevelError})
	recv, err := triggers.NewReceiver(receiverFlows, e.runs, resolve, quiet)
	if err != nil {
		return nil, fmt.Errorf("building the webhook receiver: %w", err)
	}
	serve(e, relayLn, (&apiserver.Server{Webhooks: recv, Logger: quiet}).Handler())
	handler, err := e.hand.handler()
	if err != nil {
		return nil, err
	}
	serve(e, handLn, handler)
	return e, nil
}

func serve(e *env, ln net.Listener, h http.Handler) {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Default().Error("bench HTTP server stopped", "err", err)
		}
	}()
	e.stops = append(e.stops, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	})
}

// pointAt points a flow's sandbox URLs (relay dev's defaults) at sb.
func pointAt(yaml string, sb *sandbox.Running) string {
	return sandbox.PointFlow(yaml, sb.HTTPAddr(), sb.SMTPAddr())
}

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
