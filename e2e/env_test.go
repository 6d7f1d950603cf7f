// Package e2e holds relay's end-to-end tests: real flows on the embedded
// Temporal server, against partner APIs served on 127.0.0.1. It is one of
// the few test binaries that link the Temporal server.
package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/builtin"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/devserver"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/worker"
)

// env is an embedded Temporal server with a relay worker.
type env struct {
	srv    *devserver.Server
	client client.Client
	worker *worker.Worker
	runs   *runs.Client
	reg    *connectors.Registry
}

// startEnv starts a server (in memory when dataDir is empty) and a worker
// for reg (the built-in connectors when nil). Both stop with the test.
func startEnv(t testing.TB, dataDir string, reg *connectors.Registry, register ...func(sdkworker.Worker)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{
		DataDir:          dataDir,
		Ephemeral:        dataDir == "",
		UIPort:           devserver.UIDisabled,
		SearchAttributes: runs.SearchAttributeTypes(),
	})
	if err != nil {
		t.Fatalf("starting embedded Temporal: %v", err)
	}
	e := &env{srv: srv, reg: reg}
	if e.reg == nil {
		e.reg = builtin.Registry()
	}
	e.client, err = client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: quietLogger{}})
	if err != nil {
		srv.Stop()
		t.Fatalf("dialing embedded Temporal: %v", err)
	}
	e.worker, err = worker.New(e.client, worker.Options{Registry: e.reg, Worker: sdkworker.Options{
		MaxConcurrentActivityExecutionSize:      200,
		MaxConcurrentLocalActivityExecutionSize: 200,
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range register {
		r(e.worker.Main())
	}
	if err := e.worker.Start(); err != nil {
		t.Fatalf("starting worker: %v", err)
	}
	e.runs = &runs.Client{Temporal: e.client, Namespace: srv.Namespace(), TaskQueue: worker.DefaultTaskQueue, Flows: map[string]*definitions.Flow{}}
	t.Cleanup(e.stop)
	return e
}

// stop stops worker, client and server; safe to call twice.
func (e *env) stop() {
	if e.worker != nil {
		e.worker.Stop()
		e.worker = nil
	}
	if e.client != nil {
		e.client.Close()
		e.client = nil
	}
	if e.srv != nil {
		e.srv.Stop()
		e.srv = nil
	}
}

// load parses flow YAML (with {{PARTNER}} replaced) and adds it to the
// run client's flows.
func (e *env) load(t testing.TB, yaml, partnerURL string) *definitions.Flow {
	t.Helper()
	yaml = strings.ReplaceAll(yaml, "{{PARTNER}}", partnerURL)
	f, err := definitions.Parse(t.Name()+".yaml", []byte(yaml), e.reg)
	if err != nil {
		t.Fatalf("invalid test flow:\n%v", err)
	}
	e.runs.Flows[f.ID] = f
	return f
}

// partner is a fake partner API on 127.0.0.1 that answers like a small
// CRM/ERP/payment service and counts side effects per idempotency key.
type partner struct {
	*httptest.Server
	mu       sync.Mutex
	requests []partnerRequest
	effects  map[string]int // "METHOD path key" -> times applied
	flaky    map[string]int
	declined string // the key /declined-once declines
	token    string
}

type partnerRequest struct {
	Method, Path, Key, Auth string
	Body                    map[string]any
	At                      time.Time
}

func newPartner(t testing.TB, token string) *partner {
	p := &partner{effects: map[string]int{}, flaky: map[string]int{}, token: token}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

func (p *partner) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	key := r.Header.Get("Idempotency-Key")
	p.mu.Lock()
	p.requests = append(p.requests, partnerRequest{Method: r.Method, Path: r.URL.Path, Key: key, Auth: r.Header.Get("Authorization"), Body: m, At: time.Now()})
	if p.token != "" && r.Header.Get("Authorization") != "Bearer "+p.token {
		p.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"unauthorized"}`)
		return
	}
	switch {
	case r.URL.Path == "/flaky":
		p.flaky[key+r.URL.RawQuery]++
		n := p.flaky[key+r.URL.RawQuery]
		p.mu.Unlock()
		fails, _ := strconv.Atoi(r.URL.Query().Get("fail"))
		if n <= fails {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, map[string]any{"ok": true, "tries": n})
		return
	case r.URL.Path == "/declined-once":
		// Like a payment partner that stores a decline by idempotency key:
		// the first key it sees is declined, now and whenever it comes
		// again; any other key is accepted.
		if p.declined == "" {
			p.declined = key
		}
		declined := key == p.declined
		p.mu.Unlock()
		if declined {
			w.WriteHeader(http.StatusPaymentRequired)
			_, _ = io.WriteString(w, `{"error":{"code":"card_declined","message":"your card was declined"}}`)
			return
		}
		writeJSON(w, map[string]any{"ok": true})
		return
	case r.URL.Path == "/reject":
		p.mu.Unlock()
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = io.WriteString(w, `{"error":{"code":"invalid_address","message":"address not deliverable"}}`)
		return
	case r.Method == http.MethodPost:
		effect := r.Method + " " + r.URL.Path + " " + key
		p.effects[effect]++
		id := fmt.Sprintf("%s_%d", strings.Trim(r.URL.Path, "/"), len(p.effects))
		p.mu.Unlock()
		writeJSON(w, map[string]any{"id": id, "received": m})
		return
	default:
		p.mu.Unlock()
		writeJSON(w, map[string]any{"ok": true, "path": r.URL.Path})
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// posts counts POST requests to path, and the side effects applied there.
func (p *partner) posts(path string) (requests, effects int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.requests {
		if r.Method == http.MethodPost && r.Path == path {
			requests++
		}
	}
	for k, n := range p.effects {
		if strings.HasPrefix(k, "POST "+path+" ") {
			effects += n
		}
	}
	return requests, effects
}

// count counts requests by method and path.
func (p *partner) count(method, path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.requests {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// keys lists the idempotency keys of requests by method and path, in order.
func (p *partner) keys(method, path string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, r := range p.requests {
		if r.Method == method && r.Path == path {
			out = append(out, r.Key)
		}
	}
	return out
}

// times lists when requests by method and path arrived, in order.
func (p *partner) times(method, path string) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Time
	for _, r := range p.requests {
		if r.Method == method && r.Path == path {
			out = append(out, r.At)
		}
	}
	return out
}

// quietLogger drops the SDK's logs so test output stays readable.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// repoFile returns the path of a file in the repository.
func repoFile(t testing.TB, rel string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", rel)
}
