package worker

import (
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/definitions"
)

// TestStopTimeout checks the graceful stop every worker gets: with the
// SDK's default of 0, Stop cancels the context of every activity in flight
// at once, so a partner call cut off by a deploy fails its attempt (and a
// run whose step has no retries left fails).
func TestStopTimeout(t *testing.T) {
	flow := &definitions.Flow{ID: "order", Connections: map[string]*definitions.Connection{
		"crm":  {Name: "crm", Config: connectors.ConnectionConfig{Connector: "http", RateLimit: 10}},
		"mail": {Name: "mail", Config: connectors.ConnectionConfig{Connector: "http", MaxConcurrency: 2}},
	}}
	for _, tc := range []struct {
		name string
		set  time.Duration
		want time.Duration
	}{
		{"default", 0, DefaultStopTimeout},
		{"set", 5 * time.Second, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []sdkworker.Options
			saved := newSDKWorker
			t.Cleanup(func() { newSDKWorker = saved })
			newSDKWorker = func(c client.Client, q string, o sdkworker.Options) sdkworker.Worker {
				got = append(got, o)
				return saved(c, q, o)
			}
			c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = New(c, Options{Registry: new(connectors.Registry), Flows: []*definitions.Flow{flow},
				Worker: sdkworker.Options{WorkerStopTimeout: tc.set}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 {
				t.Fatalf("built %d workers, want 3 (main, crm, mail)", len(got))
			}
			for i, o := range got {
				if o.WorkerStopTimeout != tc.want {
					t.Errorf("worker %d: WorkerStopTimeout = %v, want %v", i, o.WorkerStopTimeout, tc.want)
				}
			}
		})
	}
}

// slowStop is a worker whose Stop takes a while, as one waiting for its
// activities does.
type slowStop struct {
	sdkworker.Worker
	wait time.Duration
	mu   *sync.Mutex
	n    *int
}

func (s slowStop) Stop() {
	time.Sleep(s.wait)
	s.mu.Lock()
	*s.n++
	s.mu.Unlock()
}

// TestStopIsConcurrent checks that the workers of one process stop
// together: one after the other, each waiting up to the stop timeout, a
// process with limited connections would outlast its grace period and be
// killed with its activities in flight.
func TestStopIsConcurrent(t *testing.T) {
	var mu sync.Mutex
	n := 0
	ws := func(k int) []sdkworker.Worker {
		out := make([]sdkworker.Worker, k)
		for i := range out {
			out[i] = slowStop{wait: 200 * time.Millisecond, mu: &mu, n: &n}
		}
		return out
	}
	for _, limited := range []int{0, 1, 4} {
		n = 0
		w := &Worker{main: ws(1)[0], limited: ws(limited)}
		start := time.Now()
		w.Stop()
		if took := time.Since(start); took > 350*time.Millisecond {
			t.Errorf("%d limited workers: Stop took %v, want about one worker's 200ms", limited, took)
		}
		if n != limited+1 {
			t.Errorf("%d limited workers: %d stopped, want %d", limited, n, limited+1)
		}
	}
}
