package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/relay-dev/relay/devserver"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/workflows"
)

// These tests run the real relay binary, built once per test binary.

const (
	// waitLimit bounds every wait for a process or a run.
	waitLimit = 60 * time.Second
	pollEvery = 50 * time.Millisecond
	// binDirPrefix names the folders the binary is built in; the PID after
	// it lets a later run remove the folders of runs that are gone.
	binDirPrefix = "relay-e2e-bin-"
)

var buildRelay = sync.OnceValues(func() (string, error) {
	removeStaleBinDirs()
	dir, err := os.MkdirTemp("", binDirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "relay")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/relay")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/relay: %w\n%s", err, out)
	}
	return bin, nil
})

// removeStaleBinDirs removes the binaries built by test processes that
// have exited (there is no TestMain to remove them at the end).
func removeStaleBinDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), binDirPrefix+"*"))
	for _, dir := range dirs {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(filepath.Base(dir), binDirPrefix), "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(dir)
		}
	}
}

func relayBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildRelay()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// relayEnv is the test's environment without the TEMPORAL_* and RELAY_*
// variables of whoever runs the tests, plus extra.
func relayEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEMPORAL_") && !strings.HasPrefix(kv, "RELAY_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a long-running relay process.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	started        time.Time
	done           chan struct{}
	err            error // from Wait, once done is closed
}

// startRelay starts the relay binary in dir. The process is killed when
// the test ends; its output is logged if the test failed.
func startRelay(t *testing.T, name, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(relayBinary(t), args...), done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = relayEnv(env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill(t)
		if t.Failed() {
			t.Logf("%s: relay %s\n--- stdout\n%s--- stderr\n%s", p.name, strings.Join(args, " "), p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to go.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s (pid %d) did not die after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// interrupt sends SIGINT, as Ctrl-C does, and requires a clean exit within 30s.
func (p *proc) interrupt(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("interrupting %s: %v", p.name, err)
	}
	start := time.Now()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still running 30s after SIGINT", p.name)
	}
	if p.err != nil {
		t.Errorf("%s exited with %v after SIGINT, want exit status 0", p.name, p.err)
	}
	t.Logf("%s stopped %s after SIGINT", p.name, time.Since(start).Round(time.Millisecond))
}

// waitReady polls GET url until it answers 200, failing early if the
// process exits. It returns the time from the process's start.
func (p *proc) waitReady(t *testing.T, url string) time.Duration {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	eventually(t, p.name+" ready at "+url, func() error {
		if p.exited() {
			t.Fatalf("%s exited before it was ready: %v", p.name, p.err)
		}
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return nil
	})
	return time.Since(p.started)
}

// eventually calls check every 50ms until it returns nil, and fails the
// test with the last error after waitLimit.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after %s: %v", what, waitLimit, err)
		}
		time.Sleep(pollEvery)
	}
}

// relayCmd runs a short relay command in dir and returns its stdout,
// stderr and exit code.
func relayCmd(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, relayBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = relayEnv(env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		code = exitErr.ExitCode()
	default:
		t.Fatalf("relay %s: %v\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), errOut.String(), code
}

// relayOK runs a relay command that must succeed and returns its stdout.
func relayOK(t *testing.T, dir string, args ...string) string {
	t.Helper()
	stdout, stderr, code := relayCmd(t, dir, nil, args...)
	if code != 0 {
		t.Fatalf("relay %s: exit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// relayJSON runs a relay command with --output json and decodes its stdout.
func relayJSON(t *testing.T, dir string, v any, args ...string) {
	t.Helper()
	out := relayOK(t, dir, append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("relay %s: stdout is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// distinctPorts returns n different ports that were free on 127.0.0.1 a
// moment ago. It holds every listener until all n are chosen: ports picked
// one at a time, each closed before the next, may repeat (the kernel offered
// one port for both --temporal-http-port and --http-addr in a CI run).
func distinctPorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

func localAddr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// runResult is what `relay run --wait --output json` prints.
type runResult struct {
	WorkflowID string              `json:"workflow_id"`
	Flow       string              `json:"flow"`
	Status     string              `json:"status"`
	Result     workflows.RunResult `json:"result"`
	Error      string              `json:"error"`
}

func TestDevStartsAndServes(t *testing.T) {
	ports := distinctPorts(t, 6)
	port, uiPort, httpPort, apiPort := ports[0], ports[1], ports[2], ports[3]
	api := "http://" + localAddr(apiPort)
	dev := startRelay(t, "relay dev", t.TempDir(), nil, "dev", "--ephemeral",
		"--port", strconv.Itoa(port), "--ui-port", strconv.Itoa(uiPort), "--temporal-http-port", strconv.Itoa(httpPort),
		"--http-addr", localAddr(apiPort), "--definitions", repoFile(t, "definitions/flows"),
		"--sandbox-addr", localAddr(ports[4]), "--sandbox-smtp-addr", localAddr(ports[5]))
	ready := dev.waitReady(t, api+"/readyz")
	t.Logf("relay dev: /readyz answered 200 %s after the process started", ready.Round(time.Millisecond))
	if ready > waitLimit {
		t.Errorf("relay dev took %s to be ready", ready)
	}

	t.Run("http", func(t *testing.T) {
		resp, body := httpGet(t, api+"/healthz")
		var health map[string]string
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &health) != nil || health["status"] != "ok" {
			t.Errorf("/healthz = %d %s", resp.StatusCode, body)
		}
		resp, body = httpGet(t, api+"/no/such/thing")
		var e struct {
			Error struct {
				Code, Message string
				RequestID     string `json:"request_id"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown path = %d %s", resp.StatusCode, body)
		}
		if e.Error.RequestID == "" || e.Error.RequestID != resp.Header.Get("X-Request-Id") || e.Error.Code != "not_found" {
			t.Errorf("unknown path: body %s, X-Request-Id %q", body, resp.Header.Get("X-Request-Id"))
		}
		if resp, body := httpGet(t, "http://"+localAddr(uiPort)+"/"); resp.StatusCode != http.StatusOK {
			t.Errorf("Web UI / = %d %.200s", resp.StatusCode, body)
		}
	})

	t.Run("banner", func(t *testing.T) {
		out := dev.stdout.String()
		for _, want := range []string{
			"relay dev is ready in",
			"Temporal frontend  " + localAddr(port) + "  (namespace default, store in memory (--ephemeral))",
			"Temporal Web UI    http://" + localAddr(uiPort),
			"relay HTTP         " + api + "  (/healthz, /readyz)",
			"flows              hello, http-check",
			"Try it:\n  go run ./cmd/relay run hello --input-json '{\"name\":\"Ada\"}' --wait --address " + localAddr(port) + "\n",
			"Press Ctrl-C to stop.",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
	})

	// Without a definitions folder in the working directory, the CLI uses
	// the flows bundled in the binary.
	cwd := t.TempDir()
	temporal := []string{"--address", localAddr(port)}
	var hello runResult
	t.Run("run hello", func(t *testing.T) {
		relayJSON(t, cwd, &hello, append([]string{"run", "hello", "--input-json", `{"name":"Ada"}`, "--wait"}, temporal...)...)
		if hello.Status != "completed" || hello.Result.Vars["greeting"] != "Hello, Ada!" || hello.Flow != "hello" {
			t.Fatalf("run hello = %+v", hello)
		}
	})
	if hello.WorkflowID == "" {
		t.FailNow()
	}

	t.Run("runs list", func(t *testing.T) {
		// Visibility is eventually consistent.
		eventually(t, "the run in relay runs list", func() error {
			var page struct{ Runs []runs.Summary }
			relayJSON(t, cwd, &page, append([]string{"runs", "list", "--flow", "hello"}, temporal...)...)
			for _, r := range page.Runs {
				if r.WorkflowID == hello.WorkflowID && r.Flow == "hello" && r.Status == "completed" {
					return nil
				}
			}
			return fmt.Errorf("%s not listed as completed: %+v", hello.WorkflowID, page.Runs)
		})
	})

	t.Run("runs show", func(t *testing.T) {
		out := relayOK(t, cwd, append([]string{"runs", "show", hello.WorkflowID}, temporal...)...)
		if !regexp.MustCompile(`(?m)^status +completed$`).MatchString(out) || !regexp.MustCompile(`(?m)^greet +set +completed\b`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^result +\{"outputs":\{"greet":\{"greeting":"Hello, Ada!"\}\}`).MatchString(out) {
			t.Errorf("runs show:\n%s", out)
		}
	})

	t.Run("run http-check", func(t *testing.T) {
		var res runResult
		relayJSON(t, cwd, &res, append([]string{"run", "http-check", "--wait", "--input-json", `{"url":"` + api + `/readyz"}`}, temporal...)...)
		if res.Status != "completed" || res.Result.Vars["status"] != "up" || res.Result.Vars["http_status"] != 200.0 {
			t.Errorf("run http-check = %+v", res)
		}
	})

	dev.interrupt(t)
	if out := dev.stdout.String(); !strings.HasSuffix(out, "relay dev: stopping\n") {
		t.Errorf("stdout does not end with the stop message:\n%s", out)
	}
}

func httpGet(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp, body
}

const napFlow = `id: nap
version: 1
steps:
  - {id: nap, sleep: 3s}
  - id: woke
    set: {woke: true}
`

const waitFlow = `id: await-payment
version: 1
steps:
  - id: paid
    wait: {event: payment.succeeded, timeout: 10m}
  - id: record
    set: {amount: "${{ steps.paid.output.amount }}"}
`

func TestDevSurvivesKill9(t *testing.T) {
	defs := t.TempDir()
	for name, yaml := range map[string]string{"nap.yaml": napFlow, "await-payment.yaml": waitFlow} {
		if err := os.WriteFile(filepath.Join(defs, name), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dataDir := t.TempDir()
	ports := distinctPorts(t, 3)
	port, httpPort, apiPort := ports[0], ports[1], ports[2]
	args := []string{"dev", "--data-dir", dataDir, "--definitions", defs, "--ui-port", "-1",
		"--port", strconv.Itoa(port), "--temporal-http-port", strconv.Itoa(httpPort), "--http-addr", localAddr(apiPort), "--no-sandbox"}
	readyz := "http://" + localAddr(apiPort) + "/readyz"

	first := startRelay(t, "relay dev (first)", t.TempDir(), nil, args...)
	t.Logf("file-backed relay dev ready in %s", first.waitReady(t, readyz).Round(time.Millisecond))
	cwd := t.TempDir()
	temporal := []string{"--address", localAddr(port), "--definitions", defs}
	relayOK(t, cwd, append([]string{"run", "nap", "--id", "nap-1"}, temporal...)...)
	relayOK(t, cwd, append([]string{"run", "await-payment", "--id", "await-1"}, temporal...)...)

	c := dialTemporal(t, localAddr(port))
	waitStep(t, c, "nap-1", "nap", workflows.StatusRunning)
	waitStep(t, c, "await-1", "paid", workflows.StatusWaiting)
	first.kill(t)
	c.Close()

	second := startRelay(t, "relay dev (after kill -9)", t.TempDir(), nil, args...)
	t.Logf("relay dev ready again in %s on the same data dir", second.waitReady(t, readyz).Round(time.Millisecond))

	var nap runs.Detail
	eventually(t, "nap-1 to complete after the restart", func() error {
		relayJSON(t, cwd, &nap, append([]string{"runs", "show", "nap-1"}, temporal...)...)
		if nap.Status != "completed" {
			return fmt.Errorf("status %s", nap.Status)
		}
		return nil
	})
	if nap.Result == nil || nap.Result.Vars["woke"] != true {
		t.Errorf("nap-1 result = %+v", nap.Result)
	}

	c = dialTemporal(t, localAddr(port))
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	err := c.SignalWorkflow(ctx, "await-1", "", workflows.EventSignal, workflows.Event{Name: "payment.succeeded", Data: map[string]any{"amount": 42}})
	if err != nil {
		t.Fatalf("signalling await-1: %v", err)
	}
	var res workflows.RunResult
	if err := c.GetWorkflow(ctx, "await-1", "").Get(ctx, &res); err != nil {
		t.Fatalf("await-1 after the restart: %v", err)
	}
	if res.Vars["amount"] != 42.0 {
		t.Errorf("await-1 vars = %v", res.Vars)
	}
}

func dialTemporal(t *testing.T, hostPort string) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: hostPort, Logger: quietLogger{}})
	if err != nil {
		t.Fatalf("dialing Temporal at %s: %v", hostPort, err)
	}
	t.Cleanup(c.Close)
	return c
}

// waitStep polls a run's step records until step has status.
func waitStep(t *testing.T, c client.Client, workflowID, step, status string) {
	t.Helper()
	eventually(t, fmt.Sprintf("step %s of %s to be %s", step, workflowID, status), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, err := c.QueryWorkflow(ctx, workflowID, "", workflows.StepsQuery)
		if err != nil {
			return err
		}
		var recs []*workflows.StepRecord
		if err := v.Get(&recs); err != nil {
			return err
		}
		for _, r := range recs {
			if r.Path == step {
				if r.Status == status {
					return nil
				}
				return fmt.Errorf("status %s", r.Status)
			}
		}
		return errors.New("not started")
	})
}

func TestValidateCommand(t *testing.T) {
	invalid := repoFile(t, "definitions/testdata/invalid")
	// calls.yaml is left out: its golden file is written against a test
	// registry, not the built-in connectors.
	for _, file := range []string{"durations.yaml", "syntax.yaml", "step_ids.yaml", "refs.yaml", "unknown_fields.yaml"} {
		t.Run(file, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(invalid, strings.TrimSuffix(file, ".yaml")+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := relayCmd(t, invalid, nil, "validate", file)
			if code == 0 {
				t.Errorf("relay validate %s exited 0", file)
			}
			if stdout != string(want) {
				t.Errorf("relay validate %s printed\n%s\nwant (the golden file)\n%s", file, stdout, want)
			}
			n := strings.Count(string(want), "\n")
			if wantErr := fmt.Sprintf("relay: %d problem(s) found\n", n); stderr != wantErr {
				t.Errorf("stderr = %q, want %q", stderr, wantErr)
			}
		})
	}

	t.Run("valid folder", func(t *testing.T) {
		out := relayOK(t, repoFile(t, "definitions"), "validate", "flows")
		if out != "ok  hello (flows/hello.yaml)\nok  http-check (flows/http-check.yaml)\nok  order-to-invoice (flows/order-to-invoice.yaml)\n" {
			t.Errorf("relay validate flows:\n%s", out)
		}
	})

	t.Run("schema", func(t *testing.T) {
		var schema map[string]any
		if err := json.Unmarshal([]byte(relayOK(t, t.TempDir(), "schema")), &schema); err != nil {
			t.Fatalf("relay schema is not JSON: %v", err)
		}
		if s, _ := schema["$schema"].(string); !strings.HasPrefix(s, "https://json-schema.org/") {
			t.Errorf("$schema = %v", schema["$schema"])
		}
	})
}

func TestWorkerAndServeAgainstCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{
		Ephemeral:        true,
		UIPort:           devserver.UIDisabled,
		SearchAttributes: runs.SearchAttributeTypes(),
	})
	if err != nil {
		t.Fatalf("starting the cluster: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	frontend := srv.FrontendAddress()
	cwd := t.TempDir()

	w := startRelay(t, "relay worker", cwd, nil, "worker", "--address", frontend, "--namespace", srv.Namespace())
	apiPort := distinctPorts(t, 1)[0]
	// serve learns where Temporal is from the environment alone.
	s := startRelay(t, "relay serve", cwd, []string{"TEMPORAL_ADDRESS=" + frontend, "TEMPORAL_NAMESPACE=" + srv.Namespace()},
		"serve", "--http-addr", localAddr(apiPort))
	t.Logf("relay serve ready in %s", s.waitReady(t, "http://"+localAddr(apiPort)+"/readyz").Round(time.Millisecond))
	if want := fmt.Sprintf("relay serving http://%s against %s (namespace default)\n", localAddr(apiPort), frontend); s.stdout.String() != want {
		t.Errorf("serve stdout = %q, want %q", s.stdout.String(), want)
	}

	var res runResult
	relayJSON(t, cwd, &res, "run", "hello", "--address", frontend, "--wait", "--input-json", `{"name":"cluster"}`)
	if res.Status != "completed" || res.Result.Vars["greeting"] != "Hello, cluster!" {
		t.Errorf("run hello = %+v", res)
	}
	if !strings.Contains(w.stdout.String(), "relay worker polling relay on "+frontend) {
		t.Errorf("worker stdout = %q", w.stdout.String())
	}
	w.interrupt(t)
	s.interrupt(t)
}

// TestDevRefusesOnePortTwice checks that relay dev names the two flags
// given one port and starts nothing, rather than starting the embedded
// server (which creates its data dir) and failing on "address already in
// use".
func TestDevRefusesOnePortTwice(t *testing.T) {
	port := strconv.Itoa(distinctPorts(t, 1)[0])
	dataDir := filepath.Join(t.TempDir(), "data")
	stdout, stderr, code := relayCmd(t, t.TempDir(), nil, "dev", "--data-dir", dataDir, "--no-sandbox", "--ui-port", "-1",
		"--port", "0", "--temporal-http-port", port, "--http-addr", "127.0.0.1:"+port, "--definitions", t.TempDir())
	want := "--temporal-http-port and --http-addr both take port " + port + " on 127.0.0.1"
	if code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("relay dev with one port twice: exit %d, stderr %q; want a failure saying %q\nstdout: %s", code, stderr, want, stdout)
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("relay dev created its data dir %s before refusing (stat: %v)", dataDir, err)
	}
}
