package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"

	"github.com/relay-dev/relay/codec"
	"github.com/relay-dev/relay/telemetry"
	"github.com/relay-dev/relay/worker"
	"github.com/relay-dev/relay/workflows"
)

// temporalFlags say how to reach a Temporal cluster. Each has the usual
// TEMPORAL_* environment variable as its default.
type temporalFlags struct {
	address    string
	namespace  string
	taskQueue  string
	tlsCert    string
	tlsKey     string
	tlsCA      string
	serverName string
	apiKey     string
	codecKeys  string

	codec *codec.Codec // built from codecKeys by options

	// metrics and tracing, when set, observe the client and the workers
	// built from it (see observeFlags.start).
	metrics *telemetry.Metrics
	tracing *telemetry.Tracing
}

// observeFlags configure tracing; /metrics is served whenever relay's
// HTTP server runs.
type observeFlags struct {
	otlpEndpoint string
}

func (o *observeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.otlpEndpoint, "otlp-endpoint", envOr("OTEL_EXPORTER_OTLP_ENDPOINT", ""), "export traces over OTLP/gRPC to this endpoint (http://host:4317, https://… for TLS); off when empty (env OTEL_EXPORTER_OTLP_ENDPOINT)")
}

// start builds the process's metrics and, with --otlp-endpoint, its
// tracing, and sets both on t. stop flushes the spans not yet exported.
func (o *observeFlags) start(ctx context.Context, t *temporalFlags, process string, logger *slog.Logger) (stop func(), err error) {
	if t.metrics, err = telemetry.NewMetrics(); err != nil {
		return nil, err
	}
	// OpenTelemetry's errors (a collector that is down) go to relay's log,
	// in its format, rather than to the standard logger.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry", "err", err)
	}))
	if o.otlpEndpoint != "" {
		if t.tracing, err = telemetry.StartOTLP(ctx, o.otlpEndpoint, process); err != nil {
			return nil, fmt.Errorf("--otlp-endpoint: %w", err)
		}
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = t.tracing.Shutdown(sctx)
		_ = t.metrics.Shutdown(sctx)
	}, nil
}

func (t *temporalFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&t.address, "address", envOr("TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend host:port (env TEMPORAL_ADDRESS)")
	f.StringVar(&t.namespace, "namespace", envOr("TEMPORAL_NAMESPACE", "default"), "Temporal namespace (env TEMPORAL_NAMESPACE)")
	f.StringVar(&t.taskQueue, "task-queue", envOr("RELAY_TASK_QUEUE", worker.DefaultTaskQueue), "task queue of relay's workers (env RELAY_TASK_QUEUE)")
	f.StringVar(&t.tlsCert, "tls-cert", envOr("TEMPORAL_TLS_CERT", ""), "client certificate file for mTLS (env TEMPORAL_TLS_CERT)")
	f.StringVar(&t.tlsKey, "tls-key", envOr("TEMPORAL_TLS_KEY", ""), "client key file for mTLS (env TEMPORAL_TLS_KEY)")
	f.StringVar(&t.tlsCA, "tls-ca", envOr("TEMPORAL_TLS_CA", ""), "CA certificate file to verify the server (env TEMPORAL_TLS_CA)")
	f.StringVar(&t.serverName, "tls-server-name", envOr("TEMPORAL_TLS_SERVER_NAME", ""), "server name to verify (env TEMPORAL_TLS_SERVER_NAME)")
	f.StringVar(&t.apiKey, "api-key", envOr("TEMPORAL_API_KEY", ""), "API key, sent with TLS (env TEMPORAL_API_KEY)")
	t.registerCodec(cmd)
}

func (t *temporalFlags) registerCodec(cmd *cobra.Command) {
	cmd.Flags().StringVar(&t.codecKeys, "codec-keys", envOr("RELAY_CODEC_KEYS", ""), "encrypt payloads with AES-GCM: id=env:NAME[,id=file:PATH...], the first key current (env RELAY_CODEC_KEYS); every relay process needs the same keys")
}

// dataConverter is the converter payloads are read with: the codec's when
// payloads are encrypted, else nil (the default).
func (t *temporalFlags) dataConverter() converter.DataConverter {
	if t.codec == nil {
		return nil
	}
	return t.codec.DataConverter()
}

// options builds the SDK client options.
func (t *temporalFlags) options(logger *slog.Logger) (client.Options, error) {
	opts := client.Options{
		HostPort:  t.address,
		Namespace: t.namespace,
		Logger:    sdklog.NewStructuredLogger(logger.With("component", "temporal-sdk")),
		// The client's workers (relay dev, relay worker) take it too.
		ExternalStorage: worker.InlinePayloads(),
	}
	if t.metrics != nil {
		opts.MetricsHandler = t.metrics.TemporalHandler()
	}
	if t.tracing != nil {
		tracer, err := t.tracing.TemporalInterceptor()
		if err != nil {
			return opts, fmt.Errorf("building the Temporal tracing interceptor: %w", err)
		}
		opts.Interceptors = []interceptor.ClientInterceptor{tracer}
	}
	tlsConfig, err := t.tls()
	if err != nil {
		return opts, err
	}
	opts.ConnectionOptions.TLS = tlsConfig
	if onThisMachine(t.address) {
		// gzip saves bandwidth to a remote cluster; on loopback (relay dev,
		// a local server) it only costs CPU on both ends of every call.
		opts.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
	}
	if t.codecKeys != "" {
		keys, err := codec.ParseKeys(t.codecKeys)
		if err != nil {
			return opts, fmt.Errorf("--codec-keys: %w", err)
		}
		if t.codec, err = codec.NewCodec(keys); err != nil {
			return opts, fmt.Errorf("--codec-keys: %w", err)
		}
		t.codec.Apply(&opts)
	}
	if t.apiKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(t.apiKey)
		if opts.ConnectionOptions.TLS == nil {
			opts.ConnectionOptions.TLS = &tls.Config{ServerName: t.serverName}
		}
	}
	return opts, nil
}

// onThisMachine reports whether a host:port names a loopback address.
func onThisMachine(address string) bool {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (t *temporalFlags) tls() (*tls.Config, error) {
	if t.tlsCert == "" && t.tlsKey == "" && t.tlsCA == "" {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: t.serverName, MinVersion: tls.VersionTLS12}
	if (t.tlsCert == "") != (t.tlsKey == "") {
		return nil, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if t.tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(t.tlsCert, t.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate %s: %w", t.tlsCert, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if t.tlsCA != "" {
		pem, err := os.ReadFile(t.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("reading CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate found in %s", t.tlsCA)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// dial connects to Temporal.
func (t *temporalFlags) dial(logger *slog.Logger) (client.Client, error) {
	opts, err := t.options(logger)
	if err != nil {
		return nil, err
	}
	c, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("connecting to Temporal at %s (namespace %s): %w", t.address, t.namespace, err)
	}
	return c, nil
}

// checkSearchAttributes fails fast, with the commands that fix it, when
// the namespace lacks a search attribute relay's workflows write: a run
// would otherwise be stuck at its first upsert.
func checkSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("listing the search attributes of namespace %s: %w", namespace, err)
	}
	var missing []string
	for _, name := range workflows.SearchAttributes {
		if _, ok := resp.GetCustomAttributes()[name]; !ok {
			missing = append(missing, fmt.Sprintf("  temporal operator search-attribute create --namespace %s --type Keyword --name %s", namespace, name))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("namespace %s lacks search attributes relay writes; register them once:\n%s", namespace, strings.Join(missing, "\n"))
	}
	return nil
}
