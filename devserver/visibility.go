package devserver

import (
	"database/sql"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	enums "go.temporal.io/api/enums/v1"
)

// keptVisibilityIndexes are the indexes of Temporal's SQLite visibility
// table that relay keeps in a new store: the ones `relay runs list`, the
// Web UI's default views and Temporal Schedules search by.
var keptVisibilityIndexes = []string{
	"default_idx",
	"by_execution_time",
	"by_workflow_id",
	"by_workflow_type",
	"by_status",
	"by_task_queue",
	"by_parent_workflow_id",
	"by_root_workflow_id",
	"by_temporal_scheduled_start_time",
	"by_temporal_scheduled_by_id",
	"by_temporal_schedule_paused",
	"by_temporal_namespace_division",
}

// customColumn matches a pre-allocated search attribute column: Keyword01.
var customColumn = regexp.MustCompile(`^([A-Za-z]+?)(\d+)$`)

// visibilityIndexFor names the index on a custom search attribute column,
// as Temporal's schema does: Keyword01 → by_keyword_01.
func visibilityIndexFor(column string) string {
	m := customColumn.FindStringSubmatch(column)
	if m == nil {
		return ""
	}
	return "by_" + strings.ToLower(m[1]) + "_" + m[2]
}

// pruneVisibilityIndexes drops, from a new visibility database, the indexes
// on columns nothing searches: Temporal's schema indexes every one of its
// ~60 columns (pre-allocated custom search attribute slots, internal
// attributes), and each closed run rewrites every index. The indexes on the
// columns attrs are assigned to stay. Queries on a pruned column still
// work, by scanning; only speed is traded, and only for what relay does
// not ask. The full-text tables and their triggers stay.
func pruneVisibilityIndexes(path string, attrs map[string]enums.IndexedValueType) error {
	aliases, err := assignSearchAttributes(nil, attrs)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, name := range keptVisibilityIndexes {
		keep[name] = true
	}
	for _, column := range slices.Sorted(maps.Keys(aliases)) {
		keep[visibilityIndexFor(column)] = true
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'executions_visibility' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		return fmt.Errorf("listing the indexes of %s: %w", path, err)
	}
	var drop []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("listing the indexes of %s: %w", path, err)
		}
		if !keep[name] {
			drop = append(drop, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("listing the indexes of %s: %w", path, err)
	}
	for _, name := range drop {
		// Names come from sqlite_master, not from input.
		if _, err := db.Exec(`DROP INDEX "` + name + `"`); err != nil {
			return fmt.Errorf("dropping index %s of %s: %w", name, path, err)
		}
	}
	return nil
}
