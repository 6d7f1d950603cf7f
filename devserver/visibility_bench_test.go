package devserver

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	persistencesql "go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/resolver"
	sqliteschema "go.temporal.io/server/schema/sqlite"
)

// BenchmarkVisibilityClose writes what the server writes when a run
// closes (an upsert of its visibility row) through Temporal's SQLite
// plugin, into Temporal's visibility schema and into the one relay
// prepares for a new data dir (pruneVisibilityIndexes). Over half of
// either is SQLite compiling the statement again: the driver keeps no
// prepared statements.
func BenchmarkVisibilityClose(b *testing.B) {
	attrs := map[string]enums.IndexedValueType{"RelayFlow": enums.INDEXED_VALUE_TYPE_KEYWORD}
	for _, schema := range []string{"temporal", "relay"} {
		b.Run(schema, func(b *testing.B) {
			// relay's store as a new data dir gets it.
			st, err := sqlConfig(Options{DataDir: b.TempDir(), SearchAttributes: attrs})
			if err != nil {
				b.Fatal(err)
			}
			cfg := st.visibility
			if schema == "temporal" {
				full := *st.visibility
				full.DatabaseName = filepath.Join(b.TempDir(), visibilityFileName)
				if err := sqliteschema.SetupSchema(&full); err != nil {
					b.Fatal(err)
				}
				cfg = &full
			}
			db, err := persistencesql.NewSQLDB(sqlplugin.DbKindVisibility, cfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
			row := func(i int, closed bool) *sqlplugin.VisibilityRow {
				r := &sqlplugin.VisibilityRow{
					NamespaceID: "ns", RunID: fmt.Sprintf("run-%d", i), WorkflowTypeName: "relay.run", WorkflowID: fmt.Sprintf("flow/%d", i),
					StartTime: start, ExecutionTime: start, Status: int32(enums.WORKFLOW_EXECUTION_STATUS_RUNNING),
					Encoding: "Proto3", TaskQueue: "relay", RootWorkflowID: fmt.Sprintf("flow/%d", i), RootRunID: fmt.Sprintf("run-%d", i),
					SearchAttributes: &sqlplugin.VisibilitySearchAttributes{"Keyword01": "flow"},
				}
				if closed {
					end, n := start.Add(time.Second), int64(9)
					r.Status, r.CloseTime, r.HistoryLength, r.HistorySizeBytes, r.ExecutionDuration, r.StateTransitionCount =
						int32(enums.WORKFLOW_EXECUTION_STATUS_COMPLETED), &end, &n, &n, &n, &n
				}
				return r
			}
			for i := range b.N {
				if _, err := db.InsertIntoVisibility(ctx, row(i, false)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				if _, err := db.ReplaceIntoVisibility(ctx, row(i, true)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
