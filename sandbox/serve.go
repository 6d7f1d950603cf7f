package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Running is a sandbox listening for HTTP and SMTP.
type Running struct {
	*Server
	httpAddr, smtpAddr string
	http               *http.Server
	smtp               net.Listener
	done               chan struct{}
}

// Start serves the sandbox's HTTP APIs on httpAddr and its SMTP server on
// smtpAddr (empty: no SMTP). Both should be loopback addresses.
func Start(opts Options, httpAddr, smtpAddr string) (*Running, error) {
	s := New(opts)
	hl, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listening on %s: %w", httpAddr, err)
	}
	r := &Running{Server: s, httpAddr: hl.Addr().String(), done: make(chan struct{})}
	if smtpAddr != "" {
		sl, err := net.Listen("tcp", smtpAddr)
		if err != nil {
			hl.Close()
			return nil, fmt.Errorf("sandbox: listening for SMTP on %s: %w", smtpAddr, err)
		}
		r.smtp, r.smtpAddr = sl, sl.Addr().String()
		go func() { _ = s.ServeSMTP(sl) }()
	}
	r.http = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(r.done)
		if err := r.http.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Error("sandbox HTTP server stopped", "err", err)
		}
	}()
	return r, nil
}

// HTTPAddr is the HTTP listener's host:port.
func (r *Running) HTTPAddr() string { return r.httpAddr }

// SMTPAddr is the SMTP listener's host:port, or "".
func (r *Running) SMTPAddr() string { return r.smtpAddr }

// Stop closes the listeners and waits for webhooks in flight.
func (r *Running) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.http.Shutdown(ctx)
	if r.smtp != nil {
		r.smtp.Close()
	}
	<-r.done
	r.Close()
}
