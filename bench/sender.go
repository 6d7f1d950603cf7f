package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// sender posts webhooks the way a load generator such as wrk does: the
// calling goroutine writes the request and reads the response itself, on a
// kept-alive HTTP/1.1 connection nobody else uses meanwhile.
//
// net/http's Transport hands each request to a write goroutine and each
// response back from a read goroutine. On the bench's two shared cores each
// handoff waits its turn behind the server's goroutines; those waits are
// the sending partner's cost, which in production runs on another machine,
// and they would be counted against the receiver.
type sender struct {
	host string // host:port
	idle chan *senderConn
}

type senderConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// newSender sends to the server at base (http://host:port), keeping up to
// maxIdle connections open between requests.
func newSender(base string, maxIdle int) (*sender, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("sender: %q is not an http://host:port address", base)
	}
	return &sender{host: u.Host, idle: make(chan *senderConn, maxIdle)}, nil
}

// requestTimeout bounds one request when ctx has no earlier deadline.
const requestTimeout = time.Minute

// post sends body to path with header and returns the response's status.
// The response body is read and discarded.
func (s *sender) post(ctx context.Context, path string, header http.Header, body []byte) (int, error) {
	sc, err := s.get(ctx)
	if err != nil {
		return 0, err
	}
	reuse := false
	defer func() {
		if reuse {
			s.put(sc)
		} else {
			sc.c.Close()
		}
	}()
	deadline := time.Now().Add(requestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := sc.c.SetDeadline(deadline); err != nil {
		return 0, err
	}
	// A cancelled ctx ends the request now rather than at the deadline.
	stop := context.AfterFunc(ctx, func() { _ = sc.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	req := &http.Request{
		Method: http.MethodPost, URL: &url.URL{Path: path}, Host: s.host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: header, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
	}
	if err := req.Write(sc.bw); err != nil {
		return 0, fmt.Errorf("sending to %s%s: %w", s.host, path, err)
	}
	if err := sc.bw.Flush(); err != nil {
		return 0, fmt.Errorf("sending to %s%s: %w", s.host, path, err)
	}
	resp, err := http.ReadResponse(sc.br, req)
	if err != nil {
		return 0, fmt.Errorf("reading the response of %s%s: %w", s.host, path, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("reading the response of %s%s: %w", s.host, path, err)
	}
	reuse = !resp.Close // else the server closes the connection
	return resp.StatusCode, nil
}

func (s *sender) get(ctx context.Context) (*senderConn, error) {
	select {
	case sc := <-s.idle:
		return sc, nil
	default:
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.host)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", s.host, err)
	}
	return &senderConn{c: c, br: bufio.NewReader(c), bw: bufio.NewWriter(c)}, nil
}

func (s *sender) put(sc *senderConn) {
	select {
	case s.idle <- sc:
	default:
		sc.c.Close()
	}
}

// close closes the idle connections.
func (s *sender) close() {
	for {
		select {
		case sc := <-s.idle:
			sc.c.Close()
		default:
			return
		}
	}
}

// maxSenderConns is how many idle connections a sender keeps: the highest
// concurrency a bench run is likely to be given; above it, connections are
// closed after their request.
const maxSenderConns = 512
