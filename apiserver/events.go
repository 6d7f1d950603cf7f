package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/relay-dev/relay/runs"
)

// EndEvent is the data of the last event of a stream, `event: end`, sent
// once the run has closed.
type EndEvent struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Status     string `json:"status"`
	Failure    string `json:"failure,omitempty"`
}

// ErrorEvent is the data of `event: error`, sent when the run can no
// longer be read; the stream ends after it.
type ErrorEvent struct {
	Message string `json:"message"`
}

// extendDeadlines lets a long answer outlast the server's timeouts. The
// read deadline matters too: once it passes, the server cancels the
// request's context.
func extendDeadlines(rc *http.ResponseController, d time.Duration) {
	_ = rc.SetReadDeadline(time.Now().Add(d))
	_ = rc.SetWriteDeadline(time.Now().Add(d))
}

const (
	keepaliveEvery = 15 * time.Second
	// maxReadFailures ends a stream that could not read its run this many
	// times in a row.
	maxReadFailures = 10
)

// streamHeaders sets the headers of an events stream.
func streamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
}

// headRunEvents answers HEAD on the events route with the headers a GET
// would start its stream with, after one read of Temporal's record of the
// run (404 for an unknown one, as the GET; no worker needs to answer). It takes no stream slot and does not poll:
// the mux would otherwise serve HEAD with runEvents, which streams into a
// body HEAD discards until EventMax, holding a slot and the client's
// keep-alive connection, whose next request waits behind it.
func (a *API) headRunEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := runID(r)
	if err != nil {
		return err
	}
	if _, err := a.Runs.Summary(r.Context(), id); err != nil {
		return err
	}
	streamHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	return nil
}

// runEvents streams a run's step records as server-sent events: one
// `event: step` per new or changed record (the current ones first), then
// `event: end` when the run closes. The server reads the run every
// EventPoll; a stream lasts at most EventMax, and clients reconnect.
func (a *API) runEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := runID(r)
	if err != nil {
		return err
	}
	select {
	case a.streams <- struct{}{}:
		defer func() { <-a.streams }()
	default:
		return &apiError{status: http.StatusServiceUnavailable, code: "too_many_streams", retryAfter: 5 * time.Second,
			msg: fmt.Sprintf("%d event streams are open, the most this server keeps; retry later", cap(a.streams))}
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.EventMax)
	defer cancel()
	d, err := a.Runs.Show(ctx, id)
	if err != nil {
		return err
	}

	rc := http.NewResponseController(w)
	extendDeadlines(rc, a.EventMax+time.Minute)
	streamHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return nil
	}
	seq := 0
	lastWrite := time.Now()
	send := func(event string, data []byte) bool {
		seq++
		if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", seq, event, data); err != nil {
			return false
		}
		lastWrite = time.Now()
		return rc.Flush() == nil
	}
	sent := map[string][]byte{}
	failures := 0
	ticker := time.NewTicker(a.EventPoll)
	defer ticker.Stop()
	for {
		for _, s := range d.Steps {
			if s == nil {
				continue
			}
			key := s.Path
			if key == "" {
				key = s.ID
			}
			if s.Compensation {
				key += " (compensation)"
			}
			b, err := json.Marshal(s)
			if err != nil || bytes.Equal(sent[key], b) {
				continue
			}
			sent[key] = b
			if !send("step", b) {
				return nil
			}
		}
		if !d.ClosedAt.IsZero() {
			b, _ := json.Marshal(EndEvent{WorkflowID: d.WorkflowID, RunID: d.RunID, Status: d.Status, Failure: d.Failure})
			send("end", b)
			return nil
		}
		for next := (*runs.Detail)(nil); next == nil; {
			select {
			case <-ctx.Done():
				return nil
			case <-ticker.C:
			}
			if time.Since(lastWrite) >= keepaliveEvery {
				if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil || rc.Flush() != nil {
					return nil
				}
				lastWrite = time.Now()
			}
			next, err = a.Runs.Show(ctx, id)
			if err == nil {
				failures = 0
				d = next
				continue
			}
			if ctx.Err() != nil {
				return nil
			}
			failures++
			if errors.Is(err, runs.ErrNotFound) || failures >= maxReadFailures {
				a.log.Warn("events stream ended: the run could not be read", "request_id", RequestID(r), "run", id, "err", err)
				b, _ := json.Marshal(ErrorEvent{Message: classify(err).msg})
				send("error", b)
				return nil
			}
		}
	}
}
