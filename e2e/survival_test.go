package e2e_test

// The survival tests of issue 7: relay loses and duplicates nothing when
// its processes are killed, partners misbehave, it scales out, it is
// stopped, or Temporal goes away. Each runs real relay processes (or the
// embedded server in this process) on 127.0.0.1 and is bounded in time.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/relay-dev/relay/apiserver"
	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/builtin"
	"github.com/relay-dev/relay/definitions"
	"github.com/relay-dev/relay/devserver"
	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/sandbox"
	"github.com/relay-dev/relay/secrets"
	"github.com/relay-dev/relay/triggers"
	"github.com/relay-dev/relay/triggers/verify"
	"github.com/relay-dev/relay/worker"
)

// survSecret signs the test's standard-webhooks deliveries; the relay
// processes read it from SURV_HOOK_SECRET.
var survSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("relay-survival-e2e-secret-32byte"))

func survSecretEnv() []string { return []string{"SURV_HOOK_SECRET=" + survSecret} }

// survWorkerEnv lets a relay worker process call the test's partners on
// loopback, which its egress policy refuses by default.
func survWorkerEnv() []string { return []string{"RELAY_EGRESS_ALLOW_PRIVATE=true"} }

// survKillFlow makes two calls per run: the first as a local activity (the
// http connector's default), the second as a regular one. Short timeouts
// let Temporal notice a dead worker quickly.
const survKillFlow = `
id: surv-kill
version: 1
inputs:
  n: {type: integer, required: true}
connections:
  partner:
    connector: http
    base_url: {{PARTNER}}
steps:
  - id: reserve
    call: partner.request
    with: {method: POST, url: /reserve, body: {run: "${{ input.n }}"}}
    timeout: 5s
  - id: charge
    call: partner.request
    local: false
    with: {method: POST, url: /charge, body: {run: "${{ input.n }}"}}
    timeout: 5s
`

// survHookFlow is started by a signed delivery, one run per body.id.
const survHookFlow = `
id: surv-hook
version: 1
inputs:
  id: {type: string, required: true}
trigger:
  webhook:
    path: /hooks/surv
    verify: {scheme: standard_webhooks, secrets: [env:SURV_HOOK_SECRET]}
    dedupe: body.id
    input:
      id: ${{ body.id }}
steps:
  - {id: nap, sleep: 1s}
  - id: done
    set: {id: "${{ input.id }}"}
`

// survScaleFlow makes one call per run on a connection limited to 5/s.
const survScaleFlow = `
id: surv-scale
version: 1
inputs:
  id: {type: string, required: true}
trigger:
  webhook:
    path: /hooks/scale
    verify: {scheme: standard_webhooks, secrets: [env:SURV_HOOK_SECRET]}
    dedupe: body.id
    input:
      id: ${{ body.id }}
connections:
  slow:
    connector: http
    base_url: {{PARTNER}}
    rate_limit: 5/s
steps:
  - id: push
    call: slow.request
    with: {method: POST, url: /push, body: {run: "${{ input.id }}"}}
`

// survDefs writes flow files to a fresh definitions folder.
func survDefs(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, yaml := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func survParse(t *testing.T, name, yaml string) *definitions.Flow {
	t.Helper()
	f, err := definitions.Parse(name, []byte(yaml), builtin.Registry())
	if err != nil {
		t.Fatalf("invalid test flow %s:\n%v", name, err)
	}
	return f
}

// survServer starts the embedded Temporal server in this process: in
// memory when dataDir is empty, on a free port when port is 0.
func survServer(t *testing.T, dataDir string, port int) *devserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{
		DataDir:          dataDir,
		Ephemeral:        dataDir == "",
		FrontendPort:     port,
		UIPort:           devserver.UIDisabled,
		SearchAttributes: runs.SearchAttributeTypes(),
	})
	if err != nil {
		t.Fatalf("starting embedded Temporal: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

func survListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func survDelivery(id string) []byte {
	b, _ := json.Marshal(map[string]string{"id": id, "type": "surv.ping"})
	return b
}

func survSign(secret string, body []byte, msgID string) http.Header {
	h, err := verify.Sign(verify.Config{Scheme: "standard_webhooks", Secrets: []string{secret}}, body, time.Now(), msgID)
	if err != nil {
		panic(fmt.Sprintf("signing a test delivery: %v", err))
	}
	return h
}

// survPost posts a signed delivery as a partner would. err is a transport
// failure: no answer.
func survPost(hc *http.Client, url, secret string, body []byte, msgID string) (int, http.Header, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	maps.Copy(req.Header, survSign(secret, body, msgID))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header, nil
}

func survOK(status int) bool { return status >= 200 && status < 300 }

// survWaitRuns waits for every run to complete and fails for each that
// did not.
func survWaitRuns(t *testing.T, c client.Client, ids []string, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.GetWorkflow(ctx, id, "").Get(ctx, nil)
		}()
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("run %s did not complete: %v", ids[i], err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d runs did not complete", failed, len(ids))
	}
}

// survListRuns lists every run of a flow, all pages, by workflow ID.
func survListRuns(ctx context.Context, rc *runs.Client, flow string) (map[string]int, error) {
	out := map[string]int{}
	var cursor []byte
	for {
		page, next, err := rc.List(ctx, runs.Filter{Flow: flow, PageSize: 200, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		for _, s := range page {
			out[s.WorkflowID]++
		}
		if len(next) == 0 {
			return out, nil
		}
		cursor = next
	}
}

// survPartner is a partner API that applies each side effect once per
// Idempotency-Key, as real partners do: a key seen again gets the stored
// answer. It records which keys each (path, run) used, so a key that
// changed between attempts shows as a second effect.
type survPartner struct {
	*httptest.Server
	delay   time.Duration // after applying, before answering
	applied atomic.Int64

	mu     sync.Mutex
	hits   []survHit
	stored map[string][]byte          // key -> the answer given
	keysOf map[string]map[string]bool // "path run" -> keys
}

type survHit struct {
	path, key string
	at        time.Time
}

func newSurvPartner(t *testing.T, delay time.Duration) *survPartner {
	p := &survPartner{delay: delay, stored: map[string][]byte{}, keysOf: map[string]map[string]bool{}}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

func (p *survPartner) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	_ = json.Unmarshal(body, &in)
	key := r.Header.Get("Idempotency-Key")
	p.mu.Lock()
	p.hits = append(p.hits, survHit{path: r.URL.Path, key: key, at: time.Now()})
	if key == "" {
		p.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"Idempotency-Key required"}`)
		return
	}
	if prev, ok := p.stored[key]; ok {
		p.mu.Unlock()
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(prev)
		return
	}
	answer, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("eff_%d", len(p.stored)+1)})
	p.stored[key] = answer
	subject := r.URL.Path + " " + fmt.Sprint(in["run"])
	if p.keysOf[subject] == nil {
		p.keysOf[subject] = map[string]bool{}
	}
	p.keysOf[subject][key] = true
	p.mu.Unlock()
	p.applied.Add(1)
	time.Sleep(p.delay)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(answer)
}

// checkEffects requires exactly one effect per (path, run) for every path
// and run, and returns how many keys were sent more than once.
func (p *survPartner) checkEffects(t *testing.T, paths []string, runIDs []string) (resent int) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if want := len(paths) * len(runIDs); len(p.stored) != want {
		t.Errorf("partner applied %d distinct effects, want %d (%d runs × %d calls)", len(p.stored), want, len(runIDs), len(paths))
	}
	for _, path := range paths {
		for _, id := range runIDs {
			if keys := p.keysOf[path+" "+id]; len(keys) != 1 {
				t.Errorf("%s for run %s applied under %d idempotency keys, want exactly 1", path, id, len(keys))
			}
		}
	}
	seen := map[string]int{}
	for _, h := range p.hits {
		seen[h.key]++
	}
	for _, n := range seen {
		if n > 1 {
			resent++
		}
	}
	return resent
}

func (p *survPartner) times(path string) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Time
	for _, h := range p.hits {
		if h.path == path {
			out = append(out, h.at)
		}
	}
	return out
}

// TestSurviveWorkerKill9: kill -9 of the only worker process with 100
// runs in flight; a new worker finishes all of them and the partner sees
// every side effect under one idempotency key.
func TestSurviveWorkerKill9(t *testing.T) {
	const n = 100
	paths := []string{"/reserve", "/charge"}
	srv := survServer(t, t.TempDir(), 0)
	p := newSurvPartner(t, 200*time.Millisecond)
	yaml := strings.ReplaceAll(survKillFlow, "{{PARTNER}}", p.URL)
	defs := survDefs(t, map[string]string{"surv-kill.yaml": yaml})
	flow := survParse(t, "surv-kill.yaml", yaml)
	cwd := t.TempDir()
	startWorker := func(name string) *proc {
		port := distinctPorts(t, 1)[0]
		w := startRelay(t, name, cwd, survWorkerEnv(), "worker", "--address", srv.FrontendAddress(), "--namespace", srv.Namespace(),
			"--definitions", defs, "--http-addr", localAddr(port))
		w.waitReady(t, "http://"+localAddr(port)+"/readyz")
		return w
	}
	first := startWorker("relay worker (first)")

	c := dialTemporal(t, srv.FrontendAddress())
	rc := &runs.Client{Temporal: c, Namespace: srv.Namespace(), TaskQueue: worker.DefaultTaskQueue, Flows: map[string]*definitions.Flow{flow.ID: flow}}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var ids, subjects []string
	for i := range n {
		run, err := rc.Start(ctx, flow, map[string]any{"n": i}, runs.StartOptions{WorkflowID: fmt.Sprintf("surv-kill/%03d", i)})
		if err != nil {
			t.Fatalf("starting run %d: %v", i, err)
		}
		ids = append(ids, run.WorkflowID)
		subjects = append(subjects, strconv.Itoa(i))
	}

	// Kill once half of the side effects are applied: the rest are in
	// flight or not yet started.
	total := int64(n * len(paths))
	eventually(t, "half of the side effects", func() error {
		if got := p.applied.Load(); got < total/2 {
			return fmt.Errorf("%d of %d applied", got, total)
		}
		return nil
	})
	first.kill(t)
	atKill := p.applied.Load()
	killed := time.Now()
	if atKill >= total {
		t.Fatalf("all %d side effects were applied before the kill: the test did not kill a busy worker", total)
	}
	startWorker("relay worker (after kill -9)")
	survWaitRuns(t, c, ids, 90*time.Second)
	resent := p.checkEffects(t, paths, subjects)
	t.Logf("kill -9 with %d/%d effects applied; a new worker completed all %d runs %s after the kill; %d keys were sent again and replayed, none applied twice",
		atKill, total, n, time.Since(killed).Round(100*time.Millisecond), resent)
	if resent == 0 {
		t.Errorf("no call was repeated after the kill: the kill hit no call in flight")
	}
}

// TestSurviveDevKill9UnderWebhookLoad: kill -9 of relay dev while a partner
// posts deliveries, then a restart on the same data dir: every delivery
// answered 2xx has a completed run, refused ones are re-posted, and there
// is exactly one run per delivery.
func TestSurviveDevKill9UnderWebhookLoad(t *testing.T) {
	const (
		deliveries = 150
		pace       = 40 * time.Millisecond
		killAfter  = 40 // accepted deliveries before the kill
	)
	defs := survDefs(t, map[string]string{"surv-hook.yaml": survHookFlow})
	dataDir := t.TempDir()
	ports := distinctPorts(t, 3)
	port, httpPort, apiPort := ports[0], ports[1], ports[2]
	args := []string{"dev", "--data-dir", dataDir, "--definitions", defs, "--ui-port", "-1", "--no-sandbox",
		"--port", strconv.Itoa(port), "--temporal-http-port", strconv.Itoa(httpPort), "--http-addr", localAddr(apiPort)}
	base := "http://" + localAddr(apiPort)
	first := startRelay(t, "relay dev (first)", t.TempDir(), survSecretEnv(), args...)
	first.waitReady(t, base+"/readyz")

	type outcome struct {
		status int
		err    error
	}
	outcomes := make([]outcome, deliveries)
	var accepted atomic.Int32
	done := make(chan struct{})
	hc := &http.Client{Timeout: 20 * time.Second}
	key := func(i int) string { return fmt.Sprintf("d-%03d", i) }
	go func() {
		defer close(done)
		tick := time.NewTicker(pace)
		defer tick.Stop()
		for i := range deliveries {
			<-tick.C
			status, _, err := survPost(hc, base+"/hooks/surv", survSecret, survDelivery(key(i)), "msg_"+key(i))
			outcomes[i] = outcome{status, err}
			if err == nil && survOK(status) {
				accepted.Add(1)
			}
		}
	}()
	eventually(t, "deliveries accepted before the kill", func() error {
		if n := accepted.Load(); n < killAfter {
			return fmt.Errorf("%d accepted", n)
		}
		return nil
	})
	first.kill(t)
	killed := time.Now()
	second := startRelay(t, "relay dev (after kill -9)", t.TempDir(), survSecretEnv(), args...)
	second.waitReady(t, base+"/readyz")
	downtime := time.Since(killed)
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("the poster did not finish")
	}

	// A partner retries what got no 2xx, with the same delivery ID.
	var failed, answeredBadly, noAnswer int
	for i, o := range outcomes {
		if o.err == nil && survOK(o.status) {
			continue
		}
		failed++
		if o.err == nil {
			answeredBadly++
		} else {
			noAnswer++
		}
		eventually(t, "re-posting "+key(i), func() error {
			status, _, err := survPost(hc, base+"/hooks/surv", survSecret, survDelivery(key(i)), "msg_"+key(i))
			if err != nil {
				return err
			}
			if !survOK(status) {
				return fmt.Errorf("status %d", status)
			}
			return nil
		})
	}
	t.Logf("%d deliveries: %d accepted before the kill, down %s, %d without 2xx (%d no answer, %d non-2xx) re-posted",
		deliveries, killAfter, downtime.Round(100*time.Millisecond), failed, noAnswer, answeredBadly)

	c := dialTemporal(t, localAddr(port))
	var ids []string
	for i := range deliveries {
		ids = append(ids, "surv-hook/"+key(i))
	}
	survWaitRuns(t, c, ids, waitLimit)
	rc := &runs.Client{Temporal: c, Namespace: "default", TaskQueue: worker.DefaultTaskQueue}
	eventually(t, "one listed run per delivery", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		listed, err := survListRuns(ctx, rc, "surv-hook")
		if err != nil {
			return err
		}
		if len(listed) != deliveries {
			return fmt.Errorf("%d distinct runs listed, want %d", len(listed), deliveries)
		}
		for _, id := range ids {
			if listed[id] != 1 {
				return fmt.Errorf("%s listed %d times", id, listed[id])
			}
		}
		return nil
	})
}

// survRecorder records every request the sandbox receives and how it was
// answered (-1: the connection was reset).
type survRecorder struct {
	mu   sync.Mutex
	hits []survTry
}

type survTry struct {
	method, path, key string
	at                time.Time
	took              time.Duration
	status            int
	retryAfter        string
}

type survStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *survStatusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *survStatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *survStatusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.status = -1
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (rec *survRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		sw := &survStatusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.hits = append(rec.hits, survTry{method: r.Method, path: r.URL.Path, key: r.Header.Get("Idempotency-Key"),
			at: at, took: time.Since(at), status: sw.status, retryAfter: w.Header().Get("Retry-After")})
	})
}

// survAttempts times every activity attempt, local ones included, as the
// worker runs it, and how much of it was spent waiting for the partner:
// the rest is the worker's own time, sleeps included.
type survAttempts struct {
	interceptor.WorkerInterceptorBase
	mu       sync.Mutex
	attempts []survAttempt
	longest  time.Duration // the longest single partner call (RoundTrip)
}

type survAttempt struct {
	activity string
	local    bool
	took     time.Duration
	inHTTP   time.Duration
	tries    int
	failed   bool
}

// survAttemptKey carries an attempt's *survAttempt from the interceptor to
// the transport through the activity's context.
type survAttemptKey struct{}

func (a *survAttempts) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &survAttemptInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, root: a}
}

type survAttemptInbound struct {
	interceptor.ActivityInboundInterceptorBase
	root *survAttempts
}

func (i *survAttemptInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	at := &survAttempt{activity: info.ActivityType.Name, local: info.IsLocalActivity}
	start := time.Now()
	out, err := i.Next.ExecuteActivity(context.WithValue(ctx, survAttemptKey{}, at), in)
	i.root.mu.Lock()
	at.took, at.failed = time.Since(start), err != nil
	i.root.attempts = append(i.root.attempts, *at)
	i.root.mu.Unlock()
	return out, err
}

// RoundTrip is the connectors' transport: it adds each HTTP try's time to
// the attempt it belongs to.
func (a *survAttempts) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := http.DefaultTransport.RoundTrip(r)
	took := time.Since(start)
	a.mu.Lock()
	defer a.mu.Unlock()
	if at, ok := r.Context().Value(survAttemptKey{}).(*survAttempt); ok {
		at.inHTTP += took
		at.tries++
	}
	a.longest = max(a.longest, took)
	return resp, err
}

// survLogFailures logs a failed run's activity, timer and failure events,
// to tell a partner's fault from relay's.
func survLogFailures(t *testing.T, c client.Client, workflowID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Logf("history of %s: %v", workflowID, err)
			return
		}
		switch {
		case ev.GetActivityTaskFailedEventAttributes() != nil, ev.GetActivityTaskTimedOutEventAttributes() != nil,
			ev.GetActivityTaskStartedEventAttributes() != nil, ev.GetMarkerRecordedEventAttributes().GetFailure() != nil,
			ev.GetTimerStartedEventAttributes() != nil, ev.GetWorkflowTaskFailedEventAttributes() != nil:
			b, _ := protojson.Marshal(ev)
			t.Logf("%s: %s", workflowID, b)
		}
	}
}

// survOrder is the sandbox's sample order with a customer of its own, so
// every run creates its own contact and customer.
func survOrder(id string, n int) []byte {
	body := sandbox.SampleOrder(id, fmt.Sprintf("customer-%02d@example.com", n))
	return bytes.ReplaceAll(body, []byte(`"first_name":"Ada"`), fmt.Appendf(nil, `"first_name":"Ada %02d"`, n))
}

// TestSurvivePartnerStorm runs the flagship flow 20 times against a sandbox
// answering 30% 500s, 10% 429s whose Retry-After exceeds the client's
// in-attempt cap, 5% connection resets, and 2s of latency on every Slack
// request: every run completes, every side effect happens once per run,
// and no worker slot sleeps through a Retry-After.
func TestSurvivePartnerStorm(t *testing.T) {
	const (
		orders     = 20
		retryAfter = 6 * time.Second // above the client's RetryAfterCap: Temporal must wait it out
		spike      = 2 * time.Second // on every request of the Slack connection
		runBound   = 100 * time.Second
	)
	const inAttemptCap = 5 * time.Second // the default RetryAfterCap of connectors.ClientOptions
	for name, value := range sandbox.DevCredentials {
		t.Setenv(name, value)
	}
	srv := survServer(t, "", 0)
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	sbLn, smtpLn, hookLn := survListen(t), survListen(t), survListen(t)
	hookURL := "http://" + hookLn.Addr().String()
	sb := sandbox.New(sandbox.Options{
		Faults:        sandbox.Faults{ErrorRate: 0.3, RateLimitRate: 0.1, RetryAfter: retryAfter, ResetRate: 0.05, AfterEffectRate: 0.05},
		WebhookURL:    hookURL,
		WebhookSecret: os.Getenv("STRIPE_WEBHOOK_SECRET"),
		WebhookDelay:  50 * time.Millisecond,
	})
	rec := &survRecorder{}
	sbHTTP := &http.Server{Handler: rec.wrap(sb.Handler())}
	go func() { _ = sbHTTP.Serve(sbLn) }()
	go func() { _ = sb.ServeSMTP(smtpLn) }()
	t.Cleanup(func() { _ = sbHTTP.Close(); sb.Close() })

	src, err := os.ReadFile(repoFile(t, "definitions/flows/order-to-invoice.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	yaml := sandbox.PointFlow(string(src), sbLn.Addr().String(), smtpLn.Addr().String())
	spiked := strings.Replace(yaml, "    connector: slack\n", fmt.Sprintf("    connector: slack\n    headers: {%s: \"latency:%s\"}\n", sandbox.FaultHeader, spike), 1)
	if spiked == yaml {
		t.Fatal("the flagship flow has no slack connection to slow down")
	}
	flow := survParse(t, "order-to-invoice.yaml", spiked)

	const queue = "surv-storm"
	attempts := &survAttempts{}
	w, err := worker.New(c, worker.Options{TaskQueue: queue, Registry: builtin.Registry(), Flows: []*definitions.Flow{flow},
		Client: connectors.ClientOptions{HTTPClient: &http.Client{Transport: attempts}},
		Worker: sdkworker.Options{Interceptors: []interceptor.WorkerInterceptor{attempts}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	rc := &runs.Client{Temporal: c, Namespace: srv.Namespace(), TaskQueue: queue, Flows: map[string]*definitions.Flow{flow.ID: flow}}
	recv, err := triggers.NewReceiver([]*definitions.Flow{flow}, rc, secrets.Resolve, nil)
	if err != nil {
		t.Fatal(err)
	}
	hookHTTP := &http.Server{Handler: (&apiserver.Server{Webhooks: recv}).Handler()}
	go func() { _ = hookHTTP.Serve(hookLn) }()
	t.Cleanup(func() { _ = hookHTTP.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 2*runBound)
	defer cancel()
	type took struct {
		id  string
		d   time.Duration
		err error
	}
	results := make(chan took, orders)
	hc := &http.Client{Timeout: 20 * time.Second}
	began := time.Now()
	for i := range orders {
		id := fmt.Sprintf("storm-%02d", i)
		status, _, err := survPost(hc, hookURL+sandbox.ShopOrderPath, os.Getenv("SHOP_WEBHOOK_SECRET"), survOrder(id, i), "msg_"+id)
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("shop order %s: %d %v, want 202", id, status, err)
		}
		posted := time.Now()
		go func() {
			err := c.GetWorkflow(ctx, "order-to-invoice/"+id, "").Get(ctx, nil)
			results <- took{id, time.Since(posted), err}
		}()
	}
	var slowest time.Duration
	for range orders {
		r := <-results
		if r.err != nil {
			t.Errorf("run %s: %v", r.id, r.err)
			survLogFailures(t, c, "order-to-invoice/"+r.id)
		}
		slowest = max(slowest, r.d)
		if r.d > runBound {
			t.Errorf("run %s took %s, over %s", r.id, r.d.Round(time.Second), runBound)
		}
	}
	t.Logf("%d runs completed in %s; the slowest took %s", orders, time.Since(began).Round(100*time.Millisecond), slowest.Round(100*time.Millisecond))

	got := sb.Stats().Counts
	for _, k := range []string{
		"hubspot.contacts.created", "hubspot.deals.created", "hubspot.associations.created",
		"erpnext.customers.created", "erpnext.sales_orders.created", "erpnext.invoices.created",
		"stripe.payment_intents.created", "stripe.payment_intents.captured",
		"easypost.shipments.created", "easypost.shipments.bought",
		"smtp.messages.received",
	} {
		if got[k] != orders {
			t.Errorf("sandbox counted %s = %d, want %d (one per run)", k, got[k], orders)
		}
	}
	// Slack, like the sandbox's, keeps no idempotency key and cannot be
	// searched: a message posted and then answered 500 is posted again.
	// Every message beyond one per run is such a one, none other.
	posted, lost := got["slack.messages.posted"], got["slack.messages.answer_failed"]
	t.Logf("slack: %d messages posted for %d runs, %d of them answered 500 after posting", posted, orders, lost)
	if posted != orders+lost {
		t.Errorf("sandbox counted slack.messages.posted = %d, want %d (one per run, and one for each of the %d answers failed after posting)", posted, orders+lost, lost)
	}
	for _, k := range []string{"stripe.refunds.created", "erpnext.sales_orders.cancelled", "easypost.shipments.refunded"} {
		if got[k] != 0 {
			t.Errorf("compensation ran: %s = %d", k, got[k])
		}
	}

	// The storm happened, and each 429 was waited out by Temporal: the
	// same request came back no sooner than its Retry-After.
	rec.mu.Lock()
	hits := slices.Clone(rec.hits)
	rec.mu.Unlock()
	slices.SortStableFunc(hits, func(a, b survTry) int { return a.at.Compare(b.at) })
	byStatus := map[int]int{}
	last429 := map[string]time.Time{}
	var shortest, slowestAnswer time.Duration = -1, 0
	for _, h := range hits {
		byStatus[h.status]++
		slowestAnswer = max(slowestAnswer, h.took)
		id := h.method + " " + h.path + " " + h.key
		if h.key == "" {
			continue
		}
		if at, ok := last429[id]; ok {
			gap := h.at.Sub(at)
			if shortest < 0 || gap < shortest {
				shortest = gap
			}
			if gap < retryAfter-500*time.Millisecond {
				t.Errorf("%s was sent again %s after a 429 with Retry-After %s", id, gap.Round(time.Millisecond), retryAfter)
			}
			delete(last429, id)
		}
		if h.status == http.StatusTooManyRequests {
			if h.retryAfter != strconv.Itoa(int(retryAfter.Seconds())) {
				t.Errorf("a 429 carried Retry-After %q", h.retryAfter)
			}
			last429[id] = h.at
		}
	}
	t.Logf("sandbox answered %d requests: %d × 2xx, %d × 500, %d × 429, %d resets; slowest answer %s; shortest wait after a 429: %s",
		len(hits), byStatus[200]+byStatus[201], byStatus[500], byStatus[429], byStatus[-1], slowestAnswer.Round(time.Millisecond), shortest.Round(time.Millisecond))
	if bound := spike + time.Second; slowestAnswer > bound {
		t.Errorf("the sandbox took %s over one request, over %s", slowestAnswer.Round(time.Millisecond), bound)
	}
	if byStatus[500] == 0 || byStatus[429] == 0 || byStatus[-1] == 0 {
		t.Errorf("the storm lacked a fault kind: %v", byStatus)
	}

	// No attempt held a worker slot past the in-attempt cap: the time an
	// attempt spent outside partner calls (in-attempt backoff, and any
	// sleep) stays under it, where sleeping through one 6s Retry-After
	// would not. (One call may span several sandbox requests: Go's
	// transport re-sends a GET or a keyed POST, in the same call, when a
	// reused connection is reset.)
	attempts.mu.Lock()
	defer attempts.mu.Unlock()
	var longestIdle, longestAttempt time.Duration
	failedAttempts, tries := 0, 0
	for _, a := range attempts.attempts {
		if a.failed {
			failedAttempts++
		}
		tries += a.tries
		idle := a.took - a.inHTTP
		longestIdle, longestAttempt = max(longestIdle, idle), max(longestAttempt, a.took)
		if idle > inAttemptCap {
			t.Errorf("an attempt of %s (local %v) spent %s of its %s outside its %d partner calls, over the in-attempt cap %s",
				a.activity, a.local, idle.Round(time.Millisecond), a.took.Round(time.Millisecond), a.tries, inAttemptCap)
		}
	}
	t.Logf("%d activity attempts (%d failed) made %d partner calls; longest attempt %s, longest call %s, longest time outside calls %s (cap %s)",
		len(attempts.attempts), failedAttempts, tries, longestAttempt.Round(time.Millisecond), attempts.longest.Round(time.Millisecond), longestIdle.Round(time.Millisecond), inAttemptCap)
}

// TestSurviveScaleOut: three worker processes and two serve processes on
// one Temporal server; runs arrive through both receivers, all complete,
// and the connection's 5/s holds across the workers together.
func TestSurviveScaleOut(t *testing.T) {
	const (
		n    = 30
		rate = 5.0
	)
	srv := survServer(t, "", 0)
	p := newSurvPartner(t, 0)
	defs := survDefs(t, map[string]string{"surv-scale.yaml": strings.ReplaceAll(survScaleFlow, "{{PARTNER}}", p.URL)})
	temporal := []string{"--address", srv.FrontendAddress(), "--namespace", srv.Namespace(), "--definitions", defs}
	cwd := t.TempDir()
	type member struct {
		p   *proc
		url string
	}
	var workers, serves []member
	ports := distinctPorts(t, 5) // each process may not have bound its port yet when the next one is chosen
	for i := range 3 {
		addr := localAddr(ports[i])
		w := startRelay(t, fmt.Sprintf("relay worker %d", i+1), cwd, survWorkerEnv(), append([]string{"worker", "--http-addr", addr}, temporal...)...)
		workers = append(workers, member{w, "http://" + addr})
	}
	for i := range 2 {
		addr := localAddr(ports[3+i])
		s := startRelay(t, fmt.Sprintf("relay serve %d", i+1), cwd, survSecretEnv(), append([]string{"serve", "--http-addr", addr}, temporal...)...)
		serves = append(serves, member{s, "http://" + addr})
	}
	for _, m := range append(slices.Clone(workers), serves...) {
		m.p.waitReady(t, m.url+"/readyz")
	}

	hc := &http.Client{Timeout: 20 * time.Second}
	var ids, subjects []string
	perServe := map[string]int{}
	for i := range n {
		id := fmt.Sprintf("s-%02d", i)
		s := serves[i%len(serves)]
		status, _, err := survPost(hc, s.url+"/hooks/scale", survSecret, survDelivery(id), "msg_"+id)
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("delivery %s to %s: %d %v, want 202", id, s.p.name, status, err)
		}
		perServe[s.p.name]++
		ids = append(ids, "surv-scale/"+id)
		subjects = append(subjects, id)
	}
	c := dialTemporal(t, srv.FrontendAddress())
	survWaitRuns(t, c, ids, waitLimit)
	p.checkEffects(t, []string{"/push"}, subjects)

	// Temporal paces the calls when it hands them to a worker (the
	// activity's started event), across all workers; the partner sees them
	// a little later, each after its own worker's delay.
	ran := map[string]int{}
	var dispatched []time.Time
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for _, id := range ids {
		it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatalf("history of %s: %v", id, err)
			}
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
				ran[a.GetIdentity()]++
				dispatched = append(dispatched, ev.GetEventTime().AsTime())
			}
		}
	}
	// A token bucket of 2×rate refilled at rate: Temporal's own burst
	// (about 7 calls in the first 300ms here, then one every 200ms) fits,
	// and so does a worker's jitter; a limit per worker instead of per
	// connection (15/s) or none at all does not.
	const burst = 2 * rate
	dMost, dSpan, dOver := survPace(dispatched, rate, burst)
	pMost, pSpan, pOver := survPace(p.times("/push"), rate, burst)
	t.Logf("%d runs via %v, calls by worker %v; Temporal dispatched %d calls over %s, at most %d in one second; the partner saw %d over %s, at most %d in one second",
		n, perServe, ran, len(dispatched), dSpan.Round(time.Millisecond), dMost, len(p.times("/push")), pSpan.Round(time.Millisecond), pMost)
	if dOver != "" {
		t.Errorf("Temporal dispatched calls faster than %v/s with a burst of %v: %s", rate, burst, dOver)
	}
	if pOver != "" {
		t.Errorf("the partner saw calls faster than %v/s with a burst of %v: %s", rate, burst, pOver)
	}
	if len(ran) < 2 {
		t.Errorf("only %d worker process ran the calls: %v", len(ran), ran)
	}
}

// survPace checks events against a token bucket of burst tokens refilled
// at rate per second: any k events within d must satisfy k ≤ burst +
// rate·d. It returns the most events within one second, the span, and the
// worst breach ("" if none).
func survPace(times []time.Time, rate, burst float64) (most int, span time.Duration, over string) {
	times = slices.Clone(times)
	slices.SortFunc(times, time.Time.Compare)
	worst := 0.0
	for i := range times {
		k := 0
		for j := i; j < len(times); j++ {
			d := times[j].Sub(times[i])
			if d < time.Second {
				k++
			}
			if excess := float64(j-i+1) - burst - rate*d.Seconds(); excess > worst {
				worst = excess
				over = fmt.Sprintf("%d calls within %s", j-i+1, d.Round(time.Millisecond))
			}
		}
		most = max(most, k)
	}
	if len(times) > 0 {
		span = times[len(times)-1].Sub(times[0])
	}
	return most, span, over
}

// survSlowPost is a delivery whose headers and half its body are sent: the
// server holds it as in flight until the rest arrives.
type survSlowPost struct {
	conn net.Conn
	rest []byte
}

func survStartSlowPost(t *testing.T, addr, path string, body []byte, msgID string) *survSlowPost {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, addr, len(body))
	for k, vs := range survSign(survSecret, body, msgID) {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	half := len(body) / 2
	b.Write(body[:half])
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatalf("writing to %s: %v", addr, err)
	}
	return &survSlowPost{conn: conn, rest: body[half:]}
}

// finish sends the rest of the body and reads the answer.
func (s *survSlowPost) finish() (int, error) {
	_ = s.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.conn.Write(s.rest); err != nil {
		return 0, fmt.Errorf("sending the rest of the body: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(s.conn), nil)
	if err != nil {
		return 0, fmt.Errorf("reading the answer: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestSurviveGracefulShutdown: SIGTERM to relay dev while deliveries are
// in flight: each is answered, the process exits 0 promptly, and the runs
// it accepted complete after a restart.
func TestSurviveGracefulShutdown(t *testing.T) {
	const (
		before   = 10 // deliveries accepted before the signal
		inFlight = 8
		exitIn   = 20 * time.Second
	)
	defs := survDefs(t, map[string]string{"surv-hook.yaml": survHookFlow})
	dataDir := t.TempDir()
	ports := distinctPorts(t, 3)
	port, httpPort, apiPort := ports[0], ports[1], ports[2]
	args := []string{"dev", "--data-dir", dataDir, "--definitions", defs, "--ui-port", "-1", "--no-sandbox",
		"--port", strconv.Itoa(port), "--temporal-http-port", strconv.Itoa(httpPort), "--http-addr", localAddr(apiPort)}
	base := "http://" + localAddr(apiPort)
	dev := startRelay(t, "relay dev", t.TempDir(), survSecretEnv(), args...)
	dev.waitReady(t, base+"/readyz")

	hc := &http.Client{Timeout: 20 * time.Second}
	var accepted []string
	for i := range before {
		id := fmt.Sprintf("g-%03d", i)
		status, _, err := survPost(hc, base+"/hooks/surv", survSecret, survDelivery(id), "msg_"+id)
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("delivery %s: %d %v, want 202", id, status, err)
		}
		accepted = append(accepted, "surv-hook/"+id)
	}
	slow := make([]*survSlowPost, inFlight)
	for i := range slow {
		id := fmt.Sprintf("g-%03d", before+i)
		slow[i] = survStartSlowPost(t, localAddr(apiPort), "/hooks/surv", survDelivery(id), "msg_"+id)
	}
	time.Sleep(300 * time.Millisecond) // the server has read their headers

	if err := dev.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	time.Sleep(300 * time.Millisecond)
	answers := map[int]int{}
	for i, s := range slow {
		status, err := s.finish()
		switch {
		case err != nil:
			t.Errorf("in-flight delivery %d was dropped after SIGTERM: %v", i, err)
		case survOK(status):
			accepted = append(accepted, fmt.Sprintf("surv-hook/g-%03d", before+i))
		case status != http.StatusServiceUnavailable:
			t.Errorf("in-flight delivery %d answered %d after SIGTERM, want 2xx or 503", i, status)
		}
		answers[status]++
	}
	select {
	case <-dev.done:
	case <-time.After(exitIn):
		t.Fatalf("relay dev still running %s after SIGTERM", exitIn)
	}
	stopped := time.Since(signalled)
	if dev.err != nil {
		t.Errorf("relay dev exited with %v after SIGTERM, want exit status 0", dev.err)
	}
	t.Logf("SIGTERM with %d deliveries in flight: answers %v; relay dev exited in %s", inFlight, answers, stopped.Round(time.Millisecond))

	again := startRelay(t, "relay dev (restarted)", t.TempDir(), survSecretEnv(), args...)
	again.waitReady(t, base+"/readyz")
	c := dialTemporal(t, localAddr(port))
	survWaitRuns(t, c, accepted, waitLimit)
}

// TestSurviveTemporalDown: with the Temporal server stopped under a
// running relay serve, deliveries are answered 503 with Retry-After and
// start nothing, and /readyz is 503; once Temporal is back, so is relay.
func TestSurviveTemporalDown(t *testing.T) {
	const deliveries = 5
	dataDir := t.TempDir()
	ports := distinctPorts(t, 2)
	port, apiPort := ports[0], ports[1]
	srv := survServer(t, dataDir, port)
	defs := survDefs(t, map[string]string{"surv-hook.yaml": survHookFlow})
	base := "http://" + localAddr(apiPort)
	serve := startRelay(t, "relay serve", t.TempDir(), survSecretEnv(), "serve", "--address", srv.FrontendAddress(),
		"--namespace", srv.Namespace(), "--definitions", defs, "--http-addr", localAddr(apiPort))
	serve.waitReady(t, base+"/readyz")
	hc := &http.Client{Timeout: 30 * time.Second}
	if status, _, err := survPost(hc, base+"/hooks/surv", survSecret, survDelivery("up-1"), "msg_up-1"); err != nil || status != http.StatusAccepted {
		t.Fatalf("delivery with Temporal up: %d %v, want 202", status, err)
	}

	if err := srv.Stop(); err != nil {
		t.Fatalf("stopping Temporal: %v", err)
	}
	eventually(t, "/readyz to answer 503", func() error {
		resp, err := hc.Get(base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			return fmt.Errorf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		return nil
	})

	type answer struct {
		status     int
		retryAfter string
		took       time.Duration
		err        error
	}
	answers := make([]answer, deliveries)
	var wg sync.WaitGroup
	for i := range deliveries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("down-%d", i)
			start := time.Now()
			status, h, err := survPost(hc, base+"/hooks/surv", survSecret, survDelivery(id), "msg_"+id)
			answers[i] = answer{status: status, took: time.Since(start), err: err}
			if h != nil {
				answers[i].retryAfter = h.Get("Retry-After")
			}
		}()
	}
	wg.Wait()
	var slowest time.Duration
	for i, a := range answers {
		slowest = max(slowest, a.took)
		if a.err != nil || a.status != http.StatusServiceUnavailable || a.retryAfter == "" {
			t.Errorf("delivery down-%d with Temporal down: %d (Retry-After %q) %v, want 503 with Retry-After", i, a.status, a.retryAfter, a.err)
		}
	}
	t.Logf("with Temporal down, %d deliveries were answered 503 (Retry-After %q) in at most %s", deliveries, answers[0].retryAfter, slowest.Round(time.Millisecond))
	if slowest > 20*time.Second {
		t.Errorf("a 503 took %s", slowest)
	}
	if resp, body := httpGet(t, base+"/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz with Temporal down = %d %s, want 200: the process itself is healthy", resp.StatusCode, body)
	}
	if serve.exited() {
		t.Fatalf("relay serve exited with Temporal down: %v", serve.err)
	}

	survServer(t, dataDir, port)
	serve.waitReady(t, base+"/readyz")
	c := dialTemporal(t, srv.FrontendAddress())
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for i := range deliveries {
		id := fmt.Sprintf("down-%d", i)
		_, err := c.DescribeWorkflowExecution(ctx, "surv-hook/"+id, "")
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) {
			t.Errorf("a delivery answered 503 left a run behind: describe surv-hook/%s = %v", id, err)
		}
		if status, _, err := survPost(hc, base+"/hooks/surv", survSecret, survDelivery(id), "msg_"+id); err != nil || status != http.StatusAccepted {
			t.Errorf("redelivery of %s with Temporal back: %d %v, want 202", id, status, err)
		}
	}
}

// TestSurviveRetryAfterOnLocalStep: a partner's Retry-After longer than the
// in-attempt cap is waited out by Temporal whether the step runs as a
// regular or a local activity (the default for short actions such as
// http.request), even when it is longer than the step's timeout, which
// bounds one attempt, not the retries.
func TestSurviveRetryAfterOnLocalStep(t *testing.T) {
	const retryAfter = 8 * time.Second // over the 5s in-attempt cap and the step's 5s timeout
	e := startEnv(t, "", nil)
	var (
		mu   sync.Mutex
		hits = map[string][]time.Time{}
	)
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path] = append(hits[r.URL.Path], time.Now())
		first := len(hits[r.URL.Path]) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Seconds())))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		writeJSON(w, map[string]any{"ok": true})
	}))
	t.Cleanup(p.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 4*retryAfter)
	defer cancel()
	errs := map[string]error{}
	var wg sync.WaitGroup
	for _, step := range []string{"regular", "local"} {
		flow := e.load(t, fmt.Sprintf(`
id: surv-retry-after-%s
version: 1
connections:
  partner: {connector: http, base_url: {{PARTNER}}}
steps:
  - {id: call, call: partner.request, local: %v, timeout: 5s, with: {url: /%s}}
`, step, step == "local", step), p.URL)
		run, err := e.runs.Start(ctx, flow, nil, runs.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.runs.Result(ctx, run.WorkflowID)
			mu.Lock()
			errs[step] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, step := range []string{"regular", "local"} {
		h := hits["/"+step]
		switch {
		case errs[step] != nil:
			t.Errorf("the %s step's run failed after %d partner call(s): %v", step, len(h), errs[step])
		case len(h) != 2:
			t.Errorf("%s step: the partner saw %d calls, want 2 (a 429, then a retry after %s)", step, len(h), retryAfter)
		case h[1].Sub(h[0]) < retryAfter-500*time.Millisecond:
			t.Errorf("%s step: retried %s after a 429 with Retry-After %s", step, h[1].Sub(h[0]).Round(time.Millisecond), retryAfter)
		}
	}
}
