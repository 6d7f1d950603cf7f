package devserver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
)

const (
	clusterName         = "active"
	storeName           = "sqlite"
	visibilityStoreName = "sqlite-visibility"
	// numHistoryShards is fixed for the life of a database: the server keeps
	// the value it first saw.
	numHistoryShards = 1
)

// ports are the resolved listen ports of one server.
type ports struct {
	frontend, frontendHTTP, history, matching, worker, ui int
}

// defaultDynamicConfig returns the settings that suit one process on one
// machine. Options.DynamicConfig overrides them.
func defaultDynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		// One partition per task queue: no forwarding between partitions, so
		// a task reaches the only poller at once.
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,
		// Workflow updates (on by default in v1.32; pinned because relay uses them).
		dynamicconfig.FrontendEnableUpdateWorkflowExecution.Key():              true,
		dynamicconfig.FrontendEnableUpdateWorkflowExecutionAsyncAccepted.Key(): true,
		// The Web UI and tests list workflows often; 10/s is too low.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// A smaller mutable-state cache: a dev box runs few workflows.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 8192,
		// Eager activity dispatch: a workflow task's completion hands the
		// worker its new activity tasks directly, saving a matching round
		// trip per activity (five-step benchmark, regular activities: 12.3
		// → 18.3 runs/s on 2 cores). Set the same on a cluster's namespace.
		dynamicconfig.EnableActivityEagerExecution.Key(): true,
		// The visibility store has one SQLite connection: the default 512
		// workers only queue for it, and under load their tasks time out
		// and run again (relay bench, webhook + 4 calls at concurrency
		// 128: 62 → 65–81 runs/s with 4).
		dynamicconfig.VisibilityProcessorSchedulerWorkerCount.Key(): 4,
		// Checkpoint the history task queues every second, not every 30 s.
		// With one shard, every task the server ran since the last
		// checkpoint stays in one in-memory tracker, and each newly read
		// range of tasks is split against all of them: in an 80 s ingest
		// run that split was 13.5 % of the process's CPU; at 1 s it does
		// not show (relay bench --cpuprofile). Ingest at c16, three
		// interleaved pairs: bare starts/s +5 to +16 %, webhooks/s +1 to
		// +7 %. A checkpoint also deletes the finished tasks from the
		// store, one statement per queue.
		dynamicconfig.TransferProcessorUpdateAckInterval.Key():   checkpointInterval,
		dynamicconfig.VisibilityProcessorUpdateAckInterval.Key(): checkpointInterval,
		dynamicconfig.TimerProcessorUpdateAckInterval.Key():      checkpointInterval,
	}
}

// checkpointInterval is how often the embedded server's history task queues
// record their progress and delete the tasks they finished.
const checkpointInterval = time.Second

func dynamicConfig(overrides map[string]any) dynamicconfig.StaticClient {
	dc := defaultDynamicConfig()
	for k, v := range overrides {
		dc[dynamicconfig.MakeKey(k)] = v
	}
	return dc
}

// memoryDBSeq makes in-memory database names unique within the process.
var memoryDBSeq atomic.Int64

// stores are the SQLite databases of one server: executions in main,
// visibility records (what `relay runs list` searches) in visibility.
//
// Each database has one connection (SQLite has one writer; the plugin
// cannot begin IMMEDIATE transactions, so a second connection on the same
// file fails with SQLITE_BUSY). Two databases let the visibility queue
// write while the history service writes. A data dir created before the
// split keeps visibility in temporal.db.
type stores struct {
	main, visibility *config.SQL
	// files are the database files in use; none in memory.
	files []string
}

// sqlConfig returns the SQLite store configs. For a file store it creates
// the data dir and, when the data dir is new, the databases and schemas.
func sqlConfig(o Options) (stores, error) {
	if o.Ephemeral {
		// The plugin creates the schema when it opens an in-memory database.
		memory := func(kind string) *config.SQL {
			name := fmt.Sprintf("relay-devserver-%s-%d-%d-%d", kind, os.Getpid(), time.Now().UnixNano(), memoryDBSeq.Add(1))
			return &config.SQL{
				PluginName:        sqliteplugin.PluginName,
				DatabaseName:      name,
				ConnectAttributes: map[string]string{"mode": "memory", "cache": "shared"},
			}
		}
		return stores{main: memory("main"), visibility: memory("visibility")}, nil
	}

	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return stores{}, fmt.Errorf("resolving data dir %q: %w", o.DataDir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return stores{}, fmt.Errorf("creating data dir: %w", err)
	}
	file := func(path string) *config.SQL {
		return &config.SQL{
			PluginName:   sqliteplugin.PluginName,
			DatabaseName: path,
			ConnectAttributes: map[string]string{
				"mode": "rwc",
				// WAL with synchronous=normal: commits without fsync, safe
				// against a crash of the process (not of the machine).
				"journal_mode": "wal",
				"synchronous":  "normal",
			},
		}
	}
	mainPath, visPath := filepath.Join(dir, dbFileName), filepath.Join(dir, visibilityFileName)
	mainNew, err := isNew(mainPath)
	if err != nil {
		return stores{}, err
	}
	visNew, err := isNew(visPath)
	if err != nil {
		return stores{}, err
	}
	if !mainNew && visNew {
		// A data dir from before the split: its runs are listed from temporal.db.
		return stores{main: file(mainPath), visibility: file(mainPath), files: []string{mainPath}}, nil
	}
	st := stores{main: file(mainPath), visibility: file(visPath), files: []string{mainPath, visPath}}
	if mainNew {
		// A new data dir: both schemas (an old visibility.db left beside a
		// removed temporal.db makes this fail, as it should).
		if err := sqliteschema.SetupSchema(st.main); err != nil {
			return stores{}, fmt.Errorf("creating schema in %s (remove the file to retry): %w", mainPath, err)
		}
		if err := sqliteschema.SetupSchema(st.visibility); err != nil {
			return stores{}, fmt.Errorf("creating schema in %s (remove the file to retry): %w", visPath, err)
		}
		if err := pruneVisibilityIndexes(visPath, o.SearchAttributes); err != nil {
			return stores{}, fmt.Errorf("preparing %s (remove the file to retry): %w", visPath, err)
		}
	}
	return st, nil
}

// isNew reports whether the database file at path does not exist yet.
func isNew(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("checking database file: %w", err)
	}
	return false, nil
}

// serverConfig builds the Temporal server config: four services in one
// process, each on its own port of o.IP, with persistence and visibility in
// their SQLite stores.
func serverConfig(o Options, st stores, p ports) *config.Config {
	frontend := hostPort(o.IP, p.frontend)
	service := func(grpcPort, httpPort int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: grpcPort, HTTPPort: httpPort, BindOnIP: o.IP}}
	}

	var c config.Config
	// Membership is static (see Start), so no ringpop port is needed.
	c.Global.Membership.BroadcastAddress = o.IP
	c.Persistence = config.Persistence{
		DefaultStore:     storeName,
		VisibilityStore:  visibilityStoreName,
		NumHistoryShards: numHistoryShards,
		DataStores: map[string]config.DataStore{
			storeName:           {SQL: st.main},
			visibilityStoreName: {SQL: st.visibility},
		},
	}
	c.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontend,
				HTTPAddress:            hostPort(o.IP, p.frontendHTTP),
			},
		},
	}
	c.DCRedirectionPolicy.Policy = "noop"
	c.Services = map[string]config.Service{
		"frontend": service(p.frontend, p.frontendHTTP),
		"history":  service(p.history, 0),
		"matching": service(p.matching, 0),
		"worker":   service(p.worker, 0),
	}
	c.Archival.History.State = "disabled"
	c.Archival.Visibility.State = "disabled"
	c.NamespaceDefaults.Archival.History.State = "disabled"
	c.NamespaceDefaults.Archival.Visibility.State = "disabled"
	c.PublicClient.HostPort = frontend
	return &c
}
