package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/relay-dev/relay/apikeys"
	"github.com/relay-dev/relay/apiserver"
	"github.com/relay-dev/relay/runs"
)

// keysFile is where the API keys live: --keys-file, else RELAY_KEYS_FILE,
// else .relay/keys.json.
func keysFile() string { return envOr("RELAY_KEYS_FILE", apikeys.DefaultFile) }

func (a *app) keysCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys of relay's /v1 API",
		Long: `Create, list and revoke the keys of relay's /v1 API. Keys are stored as
SHA-256 hashes in the keys file; a key is shown once, when it is created.
While the file holds no key the API is open; once it holds one, every /v1
route but /v1/openapi.json needs "Authorization: Bearer rk_..." with the
route's scope. Running servers pick up changes to the file at once.

Scopes: flows:read, runs:read, runs:write (start, cancel, retry-step,
skip-step), runs:replay (replay, rerun, bulk replay) and admin (all).`,
	}
	cmd.PersistentFlags().StringVar(&file, "keys-file", keysFile(), "API keys file (env RELAY_KEYS_FILE)")
	cmd.AddCommand(a.keysCreateCommand(&file), a.keysListCommand(&file), a.keysRevokeCommand(&file))
	return cmd
}

func (a *app) keysCreateCommand(file *string) *cobra.Command {
	var (
		scopes []string
		name   string
	)
	cmd := &cobra.Command{
		Use:     "create --scope SCOPE...",
		Short:   "Create an API key and print it once",
		Example: "  relay keys create --scope runs:read --scope runs:write --name ci",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(scopes) == 0 {
				return fmt.Errorf("give the key at least one --scope (%s)", scopeList())
			}
			var parsed []apikeys.Scope
			for _, s := range scopes {
				for _, part := range strings.Split(s, ",") {
					sc, err := apikeys.ParseScope(strings.TrimSpace(part))
					if err != nil {
						return err
					}
					parsed = append(parsed, sc)
				}
			}
			secret, k, err := apikeys.Open(*file).Create(name, parsed, time.Now())
			if err != nil {
				return err
			}
			out := struct {
				Key      string          `json:"key"`
				ID       string          `json:"id"`
				Name     string          `json:"name,omitempty"`
				Scopes   []apikeys.Scope `json:"scopes"`
				Created  time.Time       `json:"created"`
				KeysFile string          `json:"keys_file"`
			}{secret, k.ID, k.Name, k.Scopes, k.Created, *file}
			return a.print(out, func(w io.Writer) {
				fmt.Fprintf(w, "%s\n\nid      %s\nscopes  %s\nstored  %s\n\nThis key is shown once; keep it secret. Send it as: Authorization: Bearer %s…\n",
					secret, k.ID, joinScopes(k.Scopes), *file, secret[:len(apikeys.Prefix)+4])
			})
		},
	}
	cmd.Flags().StringArrayVar(&scopes, "scope", nil, "scope to grant, repeatable: "+scopeList())
	cmd.Flags().StringVar(&name, "name", "", "a name to recognise the key by")
	return cmd
}

func (a *app) keysListCommand(file *string) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List API keys (never the keys themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := apikeys.Open(*file).Keys()
			if err != nil {
				return err
			}
			type row struct {
				ID      string          `json:"id"`
				Name    string          `json:"name,omitempty"`
				Scopes  []apikeys.Scope `json:"scopes"`
				Created time.Time       `json:"created"`
				Revoked time.Time       `json:"revoked,omitzero"`
			}
			rows := make([]row, len(keys))
			for i, k := range keys {
				rows[i] = row{ID: k.ID, Name: k.Name, Scopes: k.Scopes, Created: k.Created, Revoked: k.Revoked}
			}
			return a.print(rows, func(w io.Writer) {
				if len(rows) == 0 {
					fmt.Fprintf(w, "no API keys in %s: the API is open\n", *file)
					return
				}
				tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tREVOKED")
				for _, r := range rows {
					revoked := "-"
					if !r.Revoked.IsZero() {
						revoked = r.Revoked.Local().Format(time.DateTime)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, joinScopes(r.Scopes), r.Created.Local().Format(time.DateTime), revoked)
				}
				tw.Flush()
			})
		},
	}
}

func (a *app) keysRevokeCommand(file *string) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key; running servers refuse it at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := apikeys.Open(*file).Revoke(args[0], time.Now())
			if err != nil {
				return err
			}
			return a.print(map[string]any{"id": k.ID, "revoked": k.Revoked}, func(w io.Writer) {
				fmt.Fprintf(w, "revoked %s\n", k.ID)
			})
		},
	}
}

func scopeList() string {
	names := make([]string, len(apikeys.Scopes))
	for i, s := range apikeys.Scopes {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func joinScopes(scopes []apikeys.Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	return strings.Join(names, ",")
}

// newAPI builds relay's /v1 API for a server that receives webhooks (dev
// and serve; a worker's health server has none) and logs whether API keys
// protect it.
func newAPI(c client.Client, o runtimeOptions, logger *slog.Logger) *apiserver.API {
	if !o.webhooks {
		return nil
	}
	keys := apikeys.Open(keysFile())
	switch protected, err := keys.Protected(); {
	case err != nil:
		logger.Error("relay API /v1 refuses every request until the keys file can be read", "keys_file", keys.Path(), "err", err)
	case protected:
		logger.Info("relay API /v1 is protected by API keys", "keys_file", keys.Path())
	default:
		logger.Warn("relay API /v1 is open: no API keys; create one with `relay keys create --scope admin` to protect it", "keys_file", keys.Path())
	}
	return &apiserver.API{
		Runs:     &runs.Client{Temporal: c, Namespace: o.namespace, TaskQueue: o.taskQueue, Flows: o.catalog.flows, DataConverter: o.temporal.dataConverter(), Redact: o.redact},
		Codec:    o.codecHandler(),
		Flows:    o.catalog.list(),
		Registry: o.catalog.registry,
		Keys:     keys,
	}
}
