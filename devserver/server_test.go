package devserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/common/config"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
)

const taskQueue = "devserver-test"

// testLogger returns a slog.Logger writing to t.Log at warn+ that goes quiet
// once the test's cleanups have run, so late server goroutines cannot log
// into a finished test.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.close) // registered first, so it runs after every Stop
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	mu     sync.Mutex
	t      *testing.T
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// startServer starts a server, logs how long Start took and stops it on cleanup.
func startServer(t *testing.T, label string, opts Options) *Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start (%s): %v", label, err)
	}
	t.Logf("Start (%s) took %v", label, time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stop (%s): %v", label, err)
		}
	})
	return s
}

// dial connects an SDK client to s and closes it on cleanup.
func dial(t *testing.T, s *Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  s.FrontendAddress(),
		Namespace: s.Namespace(),
		Logger:    sdklog.NewStructuredLogger(testLogger(t)),
	})
	if err != nil {
		t.Fatalf("dialing %s: %v", s.FrontendAddress(), err)
	}
	t.Cleanup(c.Close)
	return c
}

// startWorker runs a worker with the test workflows on taskQueue; the
// returned func stops it and is also run on cleanup.
func startWorker(t *testing.T, c client.Client) (stop func()) {
	t.Helper()
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflow(greetWorkflow)
	w.RegisterWorkflow(waitForSignalWorkflow)
	w.RegisterWorkflow(upsertWorkflow)
	w.RegisterActivity(greet)
	if err := w.Start(); err != nil {
		t.Fatalf("starting worker: %v", err)
	}
	var once sync.Once
	stop = func() { once.Do(w.Stop) }
	t.Cleanup(stop)
	return stop
}

func greet(_ context.Context, name string) (string, error) {
	return "hello " + name, nil
}

func greetWorkflow(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, greet, name).Get(ctx, &out)
	return out, err
}

func waitForSignalWorkflow(ctx workflow.Context) (string, error) {
	var name string
	workflow.GetSignalChannel(ctx, "name").Receive(ctx, &name)
	return "hello " + name, nil
}

var orderKey = temporal.NewSearchAttributeKeyKeyword("RelayOrderID")

func upsertWorkflow(ctx workflow.Context, orderID string) error {
	return workflow.UpsertTypedSearchAttributes(ctx, orderKey.ValueSet(orderID))
}

func TestStartEphemeralRunsWorkflow(t *testing.T) {
	s := startServer(t, "ephemeral", Options{Ephemeral: true, UIPort: UIDisabled})
	if got := s.UIAddress(); got != "" {
		t.Errorf("UIAddress() = %q, want \"\" with the UI disabled", got)
	}
	if !strings.HasPrefix(s.FrontendAddress(), "127.0.0.1:") {
		t.Errorf("FrontendAddress() = %q, want 127.0.0.1:<port>", s.FrontendAddress())
	}
	if s.Namespace() != "default" {
		t.Errorf("Namespace() = %q, want default", s.Namespace())
	}

	c := dial(t, s)
	stopWorker := startWorker(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	began := time.Now()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: taskQueue}, greetWorkflow, "relay")
	if err != nil {
		t.Fatalf("starting workflow: %v", err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	t.Logf("workflow with one activity took %v", time.Since(began).Round(time.Millisecond))
	if got != "hello relay" {
		t.Errorf("workflow result = %q, want %q", got, "hello relay")
	}

	stopWorker()
	c.Close()
	began = time.Now()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("Stop took %v", time.Since(began).Round(time.Millisecond))
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	l, err := net.Listen("tcp", s.FrontendAddress())
	if err != nil {
		t.Fatalf("frontend port not released after Stop: %v", err)
	}
	l.Close()
}

func TestDataDirPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	opts := Options{
		DataDir:          dir,
		UIPort:           UIDisabled,
		SearchAttributes: map[string]enums.IndexedValueType{"RelayOrderID": enums.INDEXED_VALUE_TYPE_KEYWORD},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	first := startServer(t, "file, new", opts)
	c1 := dial(t, first)
	stopWorker := startWorker(t, c1)
	run, err := c1.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "persisted", TaskQueue: taskQueue}, waitForSignalWorkflow)
	if err != nil {
		t.Fatalf("starting workflow: %v", err)
	}
	// Wait until the worker has run the first workflow task, so the
	// workflow is blocked in Receive when the server stops.
	waitFor(t, ctx, func() error {
		desc, err := c1.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			return err
		}
		if desc.GetPendingWorkflowTask() != nil || desc.GetWorkflowExecutionInfo().GetHistoryLength() < 4 {
			return fmt.Errorf("first workflow task not completed yet")
		}
		return nil
	})
	stopWorker()
	c1.Close()
	if err := first.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	// Restart on the same dir, new ports, one more search attribute.
	opts.SearchAttributes["RelayStep"] = enums.INDEXED_VALUE_TYPE_KEYWORD
	second := startServer(t, "file, existing", opts)
	c2 := dial(t, second)
	startWorker(t, c2)
	if err := c2.SignalWorkflow(ctx, run.GetID(), run.GetRunID(), "name", "again"); err != nil {
		t.Fatalf("signalling workflow after restart: %v", err)
	}
	began := time.Now()
	var got string
	if err := c2.GetWorkflow(ctx, run.GetID(), run.GetRunID()).Get(ctx, &got); err != nil {
		t.Fatalf("workflow result after restart: %v", err)
	}
	t.Logf("workflow completed %v after the signal", time.Since(began).Round(time.Millisecond))
	if got != "hello again" {
		t.Errorf("workflow result = %q, want %q", got, "hello again")
	}

	resp, err := c2.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: second.Namespace()})
	if err != nil {
		t.Fatalf("listing search attributes: %v", err)
	}
	for _, name := range []string{"RelayOrderID", "RelayStep"} {
		if typ := resp.GetCustomAttributes()[name]; typ != enums.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s has type %s, want Keyword", name, typ)
		}
	}
}

func TestSearchAttributeIsQueryable(t *testing.T) {
	s := startServer(t, "ephemeral, search attributes", Options{
		Ephemeral:        true,
		UIPort:           UIDisabled,
		Namespace:        "relay-test",
		SearchAttributes: map[string]enums.IndexedValueType{"RelayOrderID": enums.INDEXED_VALUE_TYPE_KEYWORD},
	})
	c := dial(t, s)
	startWorker(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "upsert", TaskQueue: taskQueue}, upsertWorkflow, "order-42")
	if err != nil {
		t.Fatalf("starting workflow: %v", err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	began := time.Now()
	defer func() { t.Logf("visibility query matched after %v", time.Since(began).Round(time.Millisecond)) }()
	waitFor(t, ctx, func() error {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: s.Namespace(),
			Query:     `RelayOrderID = "order-42"`,
		})
		if err != nil {
			return err
		}
		if n := len(resp.GetExecutions()); n != 1 {
			return fmt.Errorf("query matched %d workflows, want 1", n)
		}
		return nil
	})
}

func TestWebUIServesIndex(t *testing.T) {
	s := startServer(t, "ephemeral, ui", Options{Ephemeral: true})
	if s.UIAddress() == "" {
		t.Fatal("UIAddress() is empty with the UI enabled")
	}
	resp, err := http.Get("http://" + s.UIAddress() + "/")
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", resp.StatusCode)
	}
	if !strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Errorf("GET / body is not an HTML page: %.200q", body)
	}
}

// waitFor retries check every 50ms until it succeeds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, check func() error) {
	t.Helper()
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// upsertOnFileStore starts a server on dir, runs upsertWorkflow as
// workflowID with orderID, and waits until each query lists it once.
func upsertOnFileStore(t *testing.T, dir, workflowID, orderID string, queries ...string) *Server {
	t.Helper()
	s := startServer(t, "file "+workflowID, Options{
		DataDir:          dir,
		UIPort:           UIDisabled,
		SearchAttributes: map[string]enums.IndexedValueType{"RelayOrderID": enums.INDEXED_VALUE_TYPE_KEYWORD},
	})
	c := dial(t, s)
	startWorker(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflowID, TaskQueue: taskQueue}, upsertWorkflow, orderID)
	if err != nil {
		t.Fatalf("starting workflow: %v", err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	for _, q := range queries {
		listedOnce(t, ctx, c, s, q)
	}
	return s
}

// listedOnce waits until query matches exactly one workflow.
func listedOnce(t *testing.T, ctx context.Context, c client.Client, s *Server, query string) {
	t.Helper()
	waitFor(t, ctx, func() error {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: s.Namespace(), Query: query})
		if err != nil {
			return err
		}
		if n := len(resp.GetExecutions()); n != 1 {
			return fmt.Errorf("query %s matched %d workflows, want 1", query, n)
		}
		return nil
	})
}

// visibilityIndexes lists the indexes of the visibility table in the
// SQLite file at path.
func visibilityIndexes(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'executions_visibility' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		t.Fatalf("listing indexes of %s: %v", path, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}

func TestNewDataDirKeepsVisibilityApart(t *testing.T) {
	dir := t.TempDir()
	s := upsertOnFileStore(t, dir, "split", "order-7",
		// Indexed columns and a pruned one (history length) all answer.
		`RelayOrderID = "order-7"`, `WorkflowId = "split" AND ExecutionStatus = "Completed"`, `HistoryLength > 0 AND WorkflowId = "split"`)

	if got, want := s.StoreFiles(), []string{filepath.Join(dir, dbFileName), filepath.Join(dir, visibilityFileName)}; !slices.Equal(got, want) {
		t.Errorf("StoreFiles() = %v, want %v", got, want)
	}
	got := visibilityIndexes(t, filepath.Join(dir, visibilityFileName))
	want := append(slices.Clone(keptVisibilityIndexes), "by_keyword_01") // RelayOrderID's column
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("visibility.db indexes = %v, want %v", got, want)
	}
	// The executions file keeps Temporal's schema untouched.
	if n := len(visibilityIndexes(t, filepath.Join(dir, dbFileName))); n < 50 {
		t.Errorf("temporal.db has %d visibility indexes, want Temporal's full schema", n)
	}
}

func TestDataDirFromBeforeTheSplitKeepsOneFile(t *testing.T) {
	dir := t.TempDir()
	// A data dir as relay created it before visibility had its own file.
	legacy := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      filepath.Join(dir, dbFileName),
		ConnectAttributes: map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "normal"},
	}
	if err := sqliteschema.SetupSchema(legacy); err != nil {
		t.Fatal(err)
	}
	s := upsertOnFileStore(t, dir, "legacy", "order-8", `RelayOrderID = "order-8"`)
	if got, want := s.StoreFiles(), []string{filepath.Join(dir, dbFileName)}; !slices.Equal(got, want) {
		t.Errorf("StoreFiles() = %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, visibilityFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a data dir from before the split got %s (err %v); its runs are listed from %s", visibilityFileName, err, dbFileName)
	}
}

// TestFinishedTasksLeaveTheStore checks that the server checkpoints its task
// queues every checkpointInterval: the tasks of finished runs are deleted
// from the store within seconds, where Temporal's default (30 s) keeps them,
// and every task since, in memory for that long.
func TestFinishedTasksLeaveTheStore(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "file, checkpoints", Options{DataDir: dir, UIPort: UIDisabled})
	c := dial(t, s)
	startWorker(t, c)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, dbFileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pending := func() (int, error) {
		var n int
		err := db.QueryRow(`SELECT (SELECT COUNT(*) FROM transfer_tasks) + (SELECT COUNT(*) FROM visibility_tasks)`).Scan(&n)
		return n, err
	}

	// Runs one after another, at least 20 of them and for at least 2 s,
	// while another goroutine notes the most tasks stored at any moment (a
	// busy machine may take seconds over the first run, so counting only
	// between runs may see none stored).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var most atomic.Int64
	sampled := make(chan struct{})
	sampling, stopSampling := context.WithCancel(ctx)
	go func() {
		defer close(sampled)
		for sampling.Err() == nil {
			if n, err := pending(); err == nil {
				most.Store(max(most.Load(), int64(n)))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for i, end := 0, time.Now().Add(2*time.Second); i < 20 || time.Now().Before(end); i++ {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("checkpoint-%d", i), TaskQueue: taskQueue}, greetWorkflow, "relay")
		if err != nil {
			t.Fatalf("starting run %d: %v", i, err)
		}
		if err := run.Get(ctx, nil); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	stopSampling()
	<-sampled
	if _, err := pending(); err != nil {
		t.Fatalf("counting tasks: %v", err)
	}
	if most.Load() == 0 {
		t.Fatal("no transfer or visibility task was ever stored: the test reads the wrong tables")
	}

	// Once the runs are done, the next checkpoints delete their tasks: well
	// within 10 s on a busy machine, where Temporal's default would take at
	// least 25 s (30 s less its jitter).
	began := time.Now()
	wait, cancelWait := context.WithTimeout(ctx, 10*checkpointInterval)
	defer cancelWait()
	waitFor(t, wait, func() error {
		n, err := pending()
		if err == nil && n > 0 {
			err = fmt.Errorf("%d tasks still stored %v after the last run (up to %d during the runs)", n, time.Since(began).Round(time.Millisecond), most.Load())
		}
		return err
	})
	t.Logf("up to %d tasks stored during the runs; none %v after the last", most.Load(), time.Since(began).Round(time.Millisecond))
}
