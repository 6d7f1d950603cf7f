package devserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	enums "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/serviceerror"
	persistencespb "go.temporal.io/server/api/persistence/v1"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/serialization"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/common/resolver"
	"go.temporal.io/server/common/searchattribute/sadefs"
	"google.golang.org/protobuf/types/known/durationpb"
)

// namespaceRetention is how long closed workflows stay in a namespace we create.
const namespaceRetention = 7 * 24 * time.Hour

// ensureNamespace creates the namespace in the store if missing and gives it
// every search attribute in attrs. It runs before the server starts, so the
// server loads the namespace, aliases included, on boot: no cache refresh to
// wait for.
func ensureNamespace(ctx context.Context, sqlConf *config.SQL, cluster, name string, attrs map[string]enums.IndexedValueType) error {
	serializer := serialization.NewSerializer()
	factory := sql.NewFactory(*sqlConf, resolver.NewNoopResolver(), cluster, log.NewNoopLogger(), metrics.NoopMetricsHandler, serializer)
	defer factory.Close()
	store, err := factory.NewMetadataStore()
	if err != nil {
		return fmt.Errorf("opening namespace store: %w", err)
	}
	mgr := persistence.NewMetadataManagerImpl(store, serializer, log.NewNoopLogger(), cluster)
	defer mgr.Close()

	resp, err := mgr.GetNamespace(ctx, &persistence.GetNamespaceRequest{Name: name})
	var notFound *serviceerror.NamespaceNotFound
	if errors.As(err, &notFound) {
		aliases, err := assignSearchAttributes(nil, attrs)
		if err != nil {
			return fmt.Errorf("registering search attributes on namespace %q: %w", name, err)
		}
		if _, err := mgr.CreateNamespace(ctx, &persistence.CreateNamespaceRequest{Namespace: newNamespace(cluster, name, aliases)}); err != nil {
			return fmt.Errorf("creating namespace %q: %w", name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading namespace %q: %w", name, err)
	}

	detail := resp.Namespace
	current := detail.GetConfig().GetCustomSearchAttributeAliases()
	aliases, err := assignSearchAttributes(current, attrs)
	if err != nil {
		return fmt.Errorf("registering search attributes on namespace %q: %w", name, err)
	}
	if maps.Equal(aliases, current) {
		return nil
	}
	meta, err := mgr.GetMetadata(ctx)
	if err != nil {
		return fmt.Errorf("reading namespace metadata: %w", err)
	}
	detail.Config.CustomSearchAttributeAliases = aliases
	detail.ConfigVersion++
	err = mgr.UpdateNamespace(ctx, &persistence.UpdateNamespaceRequest{
		Namespace:           detail,
		IsGlobalNamespace:   resp.IsGlobalNamespace,
		NotificationVersion: meta.NotificationVersion,
	})
	if err != nil {
		return fmt.Errorf("updating search attributes of namespace %q: %w", name, err)
	}
	return nil
}

func newNamespace(cluster, name string, aliases map[string]string) *persistencespb.NamespaceDetail {
	return &persistencespb.NamespaceDetail{
		Info: &persistencespb.NamespaceInfo{
			Id:          primitives.NewUUID().String(),
			State:       enums.NAMESPACE_STATE_REGISTERED,
			Name:        name,
			Description: "created by relay devserver",
		},
		Config: &persistencespb.NamespaceConfig{
			Retention:                    durationpb.New(namespaceRetention),
			HistoryArchivalState:         enums.ARCHIVAL_STATE_DISABLED,
			VisibilityArchivalState:      enums.ARCHIVAL_STATE_DISABLED,
			BadBinaries:                  &namespacepb.BadBinaries{Binaries: map[string]*namespacepb.BadBinaryInfo{}},
			CustomSearchAttributeAliases: aliases,
		},
		ReplicationConfig: &persistencespb.NamespaceReplicationConfig{
			ActiveClusterName: cluster,
			Clusters:          []string{cluster},
			State:             enums.REPLICATION_STATE_NORMAL,
		},
	}
}

// assignSearchAttributes maps each attribute in want that is not yet in
// current (DB column -> alias) to a free pre-allocated SQL column of its
// type. It returns a new map and never changes current.
func assignSearchAttributes(current map[string]string, want map[string]enums.IndexedValueType) (map[string]string, error) {
	columns := sadefs.GetDBIndexSearchAttributes(nil).CustomSearchAttributes
	aliases := maps.Clone(current)
	if aliases == nil {
		aliases = map[string]string{}
	}
	byAlias := make(map[string]string, len(aliases))
	for column, alias := range aliases {
		byAlias[alias] = column
	}
	sortedColumns := slices.Sorted(maps.Keys(columns))

	var errs []error
	for _, name := range slices.Sorted(maps.Keys(want)) {
		typ := want[name]
		if sadefs.IsReserved(name) {
			errs = append(errs, fmt.Errorf("search attribute %q: name is reserved", name))
			continue
		}
		if _, ok := columns[name]; ok {
			errs = append(errs, fmt.Errorf("search attribute %q: name is a storage column name", name))
			continue
		}
		if column, ok := byAlias[name]; ok {
			if columns[column] != typ {
				errs = append(errs, fmt.Errorf("search attribute %q: already registered as %s, want %s", name, columns[column], typ))
			}
			continue
		}
		free := ""
		for _, column := range sortedColumns {
			if _, used := aliases[column]; !used && columns[column] == typ {
				free = column
				break
			}
		}
		if free == "" {
			errs = append(errs, fmt.Errorf("search attribute %q: no free %s slot left", name, typ))
			continue
		}
		aliases[free] = name
		byAlias[name] = free
	}
	return aliases, errors.Join(errs...)
}
