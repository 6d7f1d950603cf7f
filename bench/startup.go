package bench

import (
	"context"
	"strings"
	"time"
)

// StartupResult is how long `relay dev --ephemeral` takes to answer
// /readyz with 200, from the exec of a built binary.
type StartupResult struct {
	Command  string    `json:"command"`
	RunsMs   []float64 `json:"runs_ms"`
	MedianMs float64   `json:"median_ms"`
}

func startupSection(ctx context.Context, o *Options, r *Report) error {
	res := &StartupResult{Command: strings.Join(o.Self, " ") + " dev --ephemeral --no-sandbox (free ports)"}
	var times []time.Duration
	for range o.StartupRuns {
		t0 := time.Now()
		p, err := startDev(o.Self, "--ephemeral", "--no-sandbox")
		if err != nil {
			return err
		}
		err = p.waitReady(ctx, time.Minute)
		d := time.Since(t0)
		p.stop()
		if err != nil {
			return err
		}
		times = append(times, d)
		res.RunsMs = append(res.RunsMs, round(ms(d), 4))
	}
	res.MedianMs = round(ms(median(times)), 4)
	o.progress("startup relay dev --ephemeral: median %.0f ms of %v", res.MedianMs, res.RunsMs)
	r.Startup = res
	return nil
}
