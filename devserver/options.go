package devserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"

	enums "go.temporal.io/api/enums/v1"
)

// Options configure the embedded server. Zero ports mean "pick a free port"
// (tests); relay dev passes 7233 and 8233.
type Options struct {
	// DataDir holds the SQLite file DataDir/temporal.db; the directory is
	// created if missing. Required unless Ephemeral.
	DataDir string
	// Ephemeral keeps everything in an in-memory SQLite database that is lost
	// on Stop. DataDir is ignored.
	Ephemeral bool
	// IP every listener binds to. Default "127.0.0.1".
	IP string
	// FrontendPort is the gRPC frontend port. 0 picks a free port.
	FrontendPort int
	// FrontendHTTPPort is the frontend HTTP API port. 0 picks a free port.
	FrontendHTTPPort int
	// UIPort is the Temporal Web UI port. 0 picks a free port; -1 disables the UI.
	UIPort int
	// ReservedPorts are ports other listeners of this process will bind
	// after Start, such as relay's HTTP server: the ports Start picks for
	// itself (the zero ones above and the internal services') avoid them.
	ReservedPorts []int
	// CodecEndpoint, if set, is the remote codec the Web UI decodes
	// encrypted payloads with (relay's /codec/).
	CodecEndpoint string
	// Namespace is created if missing, with a 7-day retention. Default "default".
	Namespace string
	// SearchAttributes are custom search attributes registered on Namespace at
	// start. Attributes that already exist with the same type are left alone.
	SearchAttributes map[string]enums.IndexedValueType
	// DynamicConfig overrides the server's dynamic config on top of our
	// defaults (see defaultDynamicConfig). Keys are case-insensitive.
	DynamicConfig map[string]any
	// Logger receives the server's logs. Nil discards them.
	Logger *slog.Logger
	// LogLevel is the lowest level passed to Logger. Nil means slog.LevelWarn.
	LogLevel slog.Leveler
}

// UIDisabled is the UIPort value that turns the Web UI off.
const UIDisabled = -1

const (
	defaultIP          = "127.0.0.1"
	defaultNamespace   = "default"
	dbFileName         = "temporal.db"
	visibilityFileName = "visibility.db"
)

// withDefaults returns a copy of o with defaults filled in.
func (o Options) withDefaults() Options {
	if o.IP == "" {
		o.IP = defaultIP
	}
	if o.Namespace == "" {
		o.Namespace = defaultNamespace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LogLevel == nil {
		o.LogLevel = slog.LevelWarn
	}
	return o
}

// validate reports every invalid option at once.
func (o Options) validate() error {
	var errs []error
	if !o.Ephemeral && o.DataDir == "" {
		errs = append(errs, errors.New("data dir is required unless ephemeral"))
	}
	if net.ParseIP(o.IP) == nil {
		errs = append(errs, fmt.Errorf("ip %q is not an IP address", o.IP))
	}
	if o.FrontendPort < 0 || o.FrontendPort > 65535 {
		errs = append(errs, fmt.Errorf("frontend port %d is out of range 0-65535", o.FrontendPort))
	}
	if o.FrontendHTTPPort < 0 || o.FrontendHTTPPort > 65535 {
		errs = append(errs, fmt.Errorf("frontend http port %d is out of range 0-65535", o.FrontendHTTPPort))
	}
	if o.UIPort < UIDisabled || o.UIPort > 65535 {
		errs = append(errs, fmt.Errorf("ui port %d is out of range -1-65535", o.UIPort))
	}
	if o.FrontendPort != 0 && o.FrontendPort == o.FrontendHTTPPort {
		errs = append(errs, fmt.Errorf("frontend port and frontend http port are both %d", o.FrontendPort))
	}
	for _, name := range slices.Sorted(maps.Keys(o.SearchAttributes)) {
		typ := o.SearchAttributes[name]
		if _, ok := enums.IndexedValueType_name[int32(typ)]; !ok || typ == enums.INDEXED_VALUE_TYPE_UNSPECIFIED {
			errs = append(errs, fmt.Errorf("search attribute %q has invalid type %d", name, typ))
		}
	}
	return errors.Join(errs...)
}

// ParseDynamicConfigValues parses KEY=VALUE settings, as Temporal's own
// `temporal server start-dev --dynamic-config-value` takes them: VALUE is
// JSON (true, 200, "5s", {"a":1}) or, when it is not valid JSON, a plain
// string. Every malformed setting is reported.
func ParseDynamicConfigValues(settings []string) (map[string]any, error) {
	out := make(map[string]any, len(settings))
	var errs []error
	for _, s := range settings {
		key, raw, ok := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			errs = append(errs, fmt.Errorf("dynamic config %q: want KEY=VALUE, e.g. history.transferProcessorMaxPollRPS=200", s))
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			v = raw
		}
		// JSON numbers decode as float64; the server's int settings need ints.
		if f, isFloat := v.(float64); isFloat && f == float64(int64(f)) {
			v = int(f)
		}
		out[key] = v
	}
	return out, errors.Join(errs...)
}
