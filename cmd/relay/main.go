// Command relay runs integration flows as durable Temporal workflows.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	// Schedules name IANA time zones: carry the database, so that an image
	// without one (scratch, distroless, a bare alpine) reads them too.
	_ "time/tzdata"

	"github.com/relay-dev/relay/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}
