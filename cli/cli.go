// Package cli is the relay command line: `relay dev`, `worker`, `serve`,
// `validate`, `schema`, `run` and `runs`. main calls Run; so do the
// end-to-end tests.
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/relay-dev/relay/secrets"
)

// Run executes the relay command line with args (without the program name).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// app is what every command shares.
type app struct {
	stdout, stderr io.Writer
	output         string // text or json
	logLevel       string
	logFormat      string
	redactFields   string
}

// redactor hides the --redact-fields in logs and shown run data.
func (a *app) redactor() *secrets.FieldRedactor {
	return secrets.NewFieldRedactor(strings.Split(a.redactFields, ","))
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "relay",
		Short: "relay runs integration flows as durable Temporal workflows",
		Long: `relay runs integration flows, declared in YAML, as durable Temporal workflows.

Start everything on this machine with:  relay dev
Check definitions with:                 relay validate definitions/`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", "text", "log format: text or json")
	root.PersistentFlags().StringVar(&a.redactFields, "redact-fields", envOr("RELAY_REDACT_FIELDS", ""), "comma-separated field names (e.g. email,phone) whose values are hidden in logs, runs show and the API (env RELAY_REDACT_FIELDS)")
	root.AddCommand(
		a.devCommand(),
		a.workerCommand(),
		a.serveCommand(),
		a.validateCommand(),
		a.schemaCommand(),
		a.runCommand(),
		a.runsCommand(),
		a.sandboxCommand(),
		a.schedulesCommand(),
		a.benchCommand(),
		a.keysCommand(),
		a.graphCommand(),
	)
	return root
}

func (a *app) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if r := a.redactor(); r != nil {
		opts.ReplaceAttr = func(_ []string, attr slog.Attr) slog.Attr {
			if r.Field(attr.Key) {
				attr.Value = slog.StringValue(secrets.Placeholder)
			}
			return attr
		}
	}
	if a.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(a.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(a.stderr, opts))
}

func (a *app) json() (bool, error) {
	switch a.output {
	case "text", "":
		return false, nil
	case "json":
		return true, nil
	default:
		return false, fmt.Errorf("unknown --output %q (want text or json)", a.output)
	}
}

// print writes v as indented JSON with --output json, else calls text.
func (a *app) print(v any, text func(w io.Writer)) error {
	asJSON, err := a.json()
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(a.stdout)
	return nil
}

// envOr returns the environment variable's value, or def.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && strings.TrimSpace(v) != "" {
		return v
	}
	return def
}
