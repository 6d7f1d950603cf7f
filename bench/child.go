package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// devProcess is a `relay dev` child process.
type devProcess struct {
	cmd      *exec.Cmd
	frontend string
	httpAddr string
	output   *lockedBuffer
	exited   chan struct{}
	err      error // set when exited closes
}

// lockedBuffer collects a child's output for error messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freePorts returns n distinct free loopback ports. Another process may
// take one before the child binds it; the child then fails loudly.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startDev execs `relay dev` (self is the command that runs relay) on
// free ports with its own worker on an idle task queue, plus args.
func startDev(self []string, args ...string) (*devProcess, error) {
	if len(self) == 0 {
		return nil, errors.New("no relay executable to start (Options.Self is empty)")
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	p := &devProcess{
		frontend: "127.0.0.1:" + strconv.Itoa(ports[0]),
		httpAddr: "127.0.0.1:" + strconv.Itoa(ports[1]),
		output:   &lockedBuffer{},
		exited:   make(chan struct{}),
	}
	argv := append(append(self[1:len(self):len(self)], "dev",
		"--port", strconv.Itoa(ports[0]),
		"--temporal-http-port", "0",
		"--ui-port", strconv.Itoa(ports[2]),
		"--http-addr", p.httpAddr,
		"--task-queue", TaskQueue+"-idle",
		"--log-level", "warn"), args...)
	p.cmd = exec.Command(self[0], argv...)
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	p.cmd.Env = os.Environ()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s dev: %w", self[0], err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitReady polls /readyz until it answers 200.
func (p *devProcess) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	url := "http://" + p.httpAddr + "/readyz"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("relay dev exited before it was ready (%v):\n%s", p.err, tail(p.output.String()))
		case <-ctx.Done():
			return fmt.Errorf("relay dev was not ready within %s:\n%s", timeout, tail(p.output.String()))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// stop interrupts the child and waits for it, killing it after a while.
func (p *devProcess) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *devProcess) pid() string { return strconv.Itoa(p.cmd.Process.Pid) }

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
