package cli

import (
	"log/slog"
	"testing"

	"go.temporal.io/sdk/client"
)

func TestOnThisMachine(t *testing.T) {
	for address, want := range map[string]bool{
		"127.0.0.1:7233":                 true,
		"[::1]:7233":                     true,
		"localhost:7233":                 true,
		"127.8.9.1:7233":                 true,
		"10.0.0.5:7233":                  false,
		"temporal.example.com:7233":      false,
		"ns.a1b2c.tmprl.cloud:7233":      false,
		"127.0.0.1":                      false, // no port: not a frontend address
		"[fe80::1]:7233":                 false,
		"my-namespace.tmprl.cloud:443":   false,
		"localhost.attacker.example:443": false,
	} {
		if got := onThisMachine(address); got != want {
			t.Errorf("onThisMachine(%q) = %v, want %v", address, got, want)
		}
	}
}

// TestOptionsVisitPayloadsInline checks that relay's SDK client, and so
// every worker built on it, visits payloads on the calling goroutine (see
// worker.InlinePayloads), and that the SDK accepts the setting: it panics
// on external storage options it cannot use.
func TestOptionsVisitPayloadsInline(t *testing.T) {
	tf := &temporalFlags{address: "127.0.0.1:7233", namespace: "default"}
	opts, err := tf.options(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := opts.ExternalStorage.Concurrency.MaxOperationsPerMessage; got != 1 {
		t.Errorf("MaxOperationsPerMessage = %d, want 1", got)
	}
	if len(opts.ExternalStorage.Drivers) != 0 {
		t.Errorf("%d storage drivers, want none: payloads stay in history", len(opts.ExternalStorage.Drivers))
	}
	c, err := client.NewLazyClient(opts)
	if err != nil {
		t.Fatalf("the SDK refused the options: %v", err)
	}
	c.Close()
}
