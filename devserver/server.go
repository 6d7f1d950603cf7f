// Package devserver runs a Temporal server inside the current process for
// `relay dev` and for integration tests: every service in one process,
// SQLite persistence and visibility, and optionally the Temporal Web UI.
package devserver

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/temporal"
)

// startTimeout bounds Start when ctx has no earlier deadline.
const startTimeout = time.Minute

// Server is a running embedded Temporal server. Stop it with Stop.
type Server struct {
	temporal  temporal.Server
	ui        *webUI
	frontend  string
	uiAddress string
	namespace string
	files     []string

	stopping *atomic.Bool // quiets the server's logger during Stop
	stopOnce sync.Once
	stopErr  error
}

// Start starts the server and returns once the frontend answers and the
// namespace is ready. On error nothing is left running.
func Start(ctx context.Context, opts Options) (*Server, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("invalid devserver options: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	p, err := resolvePorts(opts)
	if err != nil {
		return nil, err
	}
	st, err := sqlConfig(opts)
	if err != nil {
		return nil, err
	}
	if err := ensureNamespace(ctx, st.main, clusterName, opts.Namespace, opts.SearchAttributes); err != nil {
		return nil, err
	}

	stopping := new(atomic.Bool)
	conf := serverConfig(opts, st, p)
	host := func(port int) static.Hosts { return static.SingleLocalHost(hostPort(opts.IP, port)) }
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: host(p.frontend),
			primitives.HistoryService:  host(p.history),
			primitives.MatchingService: host(p.matching),
			primitives.WorkerService:   host(p.worker),
		}),
		temporal.WithLogger(slogLogger{log: opts.Logger, level: opts.LogLevel, stopping: stopping}),
		temporal.WithDynamicConfigClient(dynamicConfig(opts.DynamicConfig)),
	)
	if err != nil {
		return nil, fmt.Errorf("creating temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		stopping.Store(true)
		_ = srv.Stop()
		return nil, fmt.Errorf("starting temporal server: %w", err)
	}

	s := &Server{
		temporal:  srv,
		frontend:  conf.PublicClient.HostPort,
		namespace: opts.Namespace,
		files:     st.files,
		stopping:  stopping,
	}
	if p.ui != UIDisabled {
		s.uiAddress = hostPort(opts.IP, p.ui)
		s.ui, err = startUI(opts.IP, p.ui, s.frontend, opts.Namespace, opts.CodecEndpoint, opts.Logger)
		if err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// resolvePorts checks that the ports set in o are free, replaces every zero
// port with a free one and picks the ports of the internal services, none
// of them a port set in o or reserved. (The server cannot report a port it
// fails to bind: it logs and carries on.)
func resolvePorts(o Options) (ports, error) {
	p := ports{frontend: o.FrontendPort, frontendHTTP: o.FrontendHTTPPort, ui: o.UIPort}
	want := []*int{&p.history, &p.matching, &p.worker}
	taken := map[int]bool{}
	for _, port := range o.ReservedPorts {
		taken[port] = true
	}
	for _, port := range []struct {
		name string
		port *int
	}{{"frontend", &p.frontend}, {"frontend http", &p.frontendHTTP}, {"ui", &p.ui}} {
		switch *port.port {
		case 0:
			want = append(want, port.port)
		case UIDisabled:
		default:
			if err := checkPortFree(o.IP, *port.port); err != nil {
				return ports{}, fmt.Errorf("%s port %d is in use: %w", port.name, *port.port, err)
			}
			taken[*port.port] = true
		}
	}
	free, err := freePorts(o.IP, len(want), taken)
	if err != nil {
		return ports{}, err
	}
	for i, port := range want {
		*port = free[i]
	}
	return p, nil
}

// FrontendAddress returns the gRPC frontend's host:port, e.g. "127.0.0.1:7233".
func (s *Server) FrontendAddress() string { return s.frontend }

// UIAddress returns the Web UI's host:port, or "" when the UI is disabled.
func (s *Server) UIAddress() string { return s.uiAddress }

// Namespace returns the namespace created at start.
func (s *Server) Namespace() string { return s.namespace }

// StoreFiles are the SQLite files the server keeps its data in: the
// executions, then visibility when it has a file of its own. None when
// ephemeral.
func (s *Server) StoreFiles() []string { return slices.Clone(s.files) }

// Stop stops the UI and the server. It is safe to call more than once; later
// calls return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopping.Store(true)
		if s.ui != nil {
			s.ui.stop()
		}
		if err := s.temporal.Stop(); err != nil {
			s.stopErr = fmt.Errorf("stopping temporal server: %w", err)
		}
	})
	return s.stopErr
}
