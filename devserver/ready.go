package devserver

import (
	"context"
	"fmt"
	"net"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// pollInterval is how often Start checks whether the server is up.
const pollInterval = 20 * time.Millisecond

// frontendHealthService is the service name the frontend reports health for.
const frontendHealthService = "temporal.api.workflowservice.v1.WorkflowService"

// waitReady returns once the frontend reports healthy, the namespace can be
// described and the UI (if any) accepts connections.
func (s *Server) waitReady(ctx context.Context) error {
	if err := waitListening(ctx, s.frontend); err != nil {
		return fmt.Errorf("waiting for frontend %s: %w", s.frontend, err)
	}
	conn, err := grpc.NewClient(s.frontend,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: pollInterval, Multiplier: 1, MaxDelay: pollInterval},
			MinConnectTimeout: time.Second,
		}),
	)
	if err != nil {
		return fmt.Errorf("connecting to frontend %s: %w", s.frontend, err)
	}
	defer conn.Close()

	health := healthpb.NewHealthClient(conn)
	err = poll(ctx, func(ctx context.Context) error {
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: frontendHealthService})
		if err != nil {
			return err
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("frontend health is %s", resp.GetStatus())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("waiting for frontend health: %w", err)
	}

	wf := workflowservice.NewWorkflowServiceClient(conn)
	err = poll(ctx, func(ctx context.Context) error {
		_, err := wf.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.namespace})
		return err
	})
	if err != nil {
		return fmt.Errorf("waiting for namespace %q: %w", s.namespace, err)
	}

	if s.ui != nil {
		if err := waitListening(ctx, s.uiAddress); err != nil {
			return fmt.Errorf("waiting for web ui %s: %w", s.uiAddress, err)
		}
	}
	return nil
}

// waitListening returns once addr accepts TCP connections.
func waitListening(ctx context.Context, addr string) error {
	var d net.Dialer
	return poll(ctx, func(ctx context.Context) error {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// poll calls check every pollInterval until it succeeds or ctx ends, and
// then returns check's last error along with ctx's.
func poll(ctx context.Context, check func(context.Context) error) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, time.Second)
		err := check(attemptCtx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
