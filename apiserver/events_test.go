package apiserver

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/relay-dev/relay/runs"
	"github.com/relay-dev/relay/workflows"
)

type sse struct {
	event, data string
}

// readEvents reads a stream until it ends, or until n events arrived.
func readEvents(t *testing.T, resp *http.Response, n int) []sse {
	t.Helper()
	var out []sse
	var cur sse
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.event != "" {
				out = append(out, cur)
				if len(out) == n {
					return out
				}
			}
			cur = sse{}
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		}
	}
	return out
}

const openRun = "hello/open"

// progressing adds a run that starts, completes a step, adds another and
// closes, one change every few reads.
func progressing(fr *fakeRuns, closeAt int) {
	start := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	fr.runs[openRun] = &runs.Detail{Summary: runs.Summary{WorkflowID: openRun, RunID: "r9", Flow: "hello", Status: "running", StartedAt: start},
		Steps: []*workflows.StepRecord{{ID: "a", Path: "a", Kind: "call", Status: "running", StartedAt: start}}}
	fr.onShow = func(n int, d *runs.Detail) {
		if d.WorkflowID != openRun {
			return
		}
		switch n {
		case 3:
			d.Steps[0].Status, d.Steps[0].EndedAt = "completed", start.Add(time.Second)
		case 5:
			d.Steps = append(d.Steps, &workflows.StepRecord{ID: "b", Path: "b", Kind: "set", Status: "completed", StartedAt: start})
		case closeAt:
			d.Status, d.ClosedAt = "completed", start.Add(time.Minute)
		}
	}
}

func TestEvents(t *testing.T) {
	fr := newFakeRuns()
	progressing(fr, 8)
	srv := httptest.NewServer(testServer(t, fr).Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/runs/hello%2Fopen/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := readEvents(t, resp, 0)
	var got []string
	for _, e := range events {
		var v map[string]any
		if err := json.Unmarshal([]byte(e.data), &v); err != nil {
			t.Fatalf("event data %q: %v", e.data, err)
		}
		switch e.event {
		case "step":
			got = append(got, "step "+v["id"].(string)+" "+v["status"].(string))
			oas(t).validate(t, "/components/schemas/StepRecord", "step event", []byte(e.data))
		case "end":
			got = append(got, "end "+v["status"].(string))
			oas(t).validate(t, "/components/schemas/EndEvent", "end event", []byte(e.data))
		default:
			got = append(got, e.event)
		}
	}
	want := []string{"step a running", "step a completed", "step b completed", "end completed"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEventsClosedRun(t *testing.T) {
	rec := do(t, testServer(t, newFakeRuns()).Handler(), request{method: "GET", path: escapedRun + "/events"})
	body := rec.Body.String()
	if rec.Code != 200 || strings.Count(body, "event: step") != 2 || !strings.HasSuffix(body, "event: end\ndata: {\"workflow_id\":\"order-to-invoice/order-1001\",\"run_id\":\"r1\",\"status\":\"failed\",\"failure\":\"step invoice failed\"}\n\n") {
		t.Errorf("%d\n%s", rec.Code, body)
	}
}

func TestEventsUnknownRun(t *testing.T) {
	rec := do(t, testServer(t, newFakeRuns()).Handler(), request{method: "GET", path: "/v1/runs/nope/events"})
	if rec.Code != http.StatusNotFound || errorBody(t, rec).Code != "not_found" {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

func TestEventsRunGone(t *testing.T) {
	fr := newFakeRuns()
	progressing(fr, 1000)
	fr.onShow = func(n int, d *runs.Detail) {
		if n == 2 {
			delete(fr.runs, openRun) // the next read finds nothing
		}
	}
	rec := do(t, testServer(t, fr).Handler(), request{method: "GET", path: "/v1/runs/hello%2Fopen/events"})
	if !strings.Contains(rec.Body.String(), "event: error\n") {
		t.Errorf("no error event:\n%s", rec.Body)
	}
}

func TestEventsBounded(t *testing.T) {
	fr := newFakeRuns()
	progressing(fr, 1_000_000)
	s := testServer(t, fr)
	s.API.EventMax = 100 * time.Millisecond
	s.API.MaxStreams = 1
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	// One stream at a time: the second is refused while the first lasts.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/runs/hello%2Fopen/events", nil)
	first, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := http.Get(srv.URL + "/v1/runs/hello%2Fopen/events")
	if err != nil {
		t.Fatal(err)
	}
	second.Body.Close()
	if second.StatusCode != http.StatusServiceUnavailable || second.Header.Get("Retry-After") == "" {
		t.Errorf("second stream: %d, Retry-After %q", second.StatusCode, second.Header.Get("Retry-After"))
	}
	// The client goes away: the server stops reading the run.
	cancel()
	first.Body.Close()
	time.Sleep(50 * time.Millisecond)
	fr.mu.Lock()
	shows := fr.shows
	fr.mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	fr.mu.Lock()
	if fr.shows != shows {
		t.Errorf("the server kept reading the run after the client left: %d, then %d reads", shows, fr.shows)
	}
	fr.mu.Unlock()

	// A stream that outlives EventMax ends without an end event.
	start := time.Now()
	resp, err := http.Get(srv.URL + "/v1/runs/hello%2Fopen/events")
	if err != nil {
		t.Fatal(err)
	}
	events := readEvents(t, resp, 0)
	resp.Body.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stream lasted %s, bound 100ms", d)
	}
	for _, e := range events {
		if e.event != "step" {
			t.Errorf("event %q on a run that did not end", e.event)
		}
	}
}

// TestEventsOutliveServerTimeouts runs a stream on a server whose read and
// write timeouts are shorter than the run.
func TestEventsOutliveServerTimeouts(t *testing.T) {
	fr := newFakeRuns()
	progressing(fr, 30) // closes after 30 reads, 150ms+ at 5ms
	s := testServer(t, fr)
	s.API.EventPoll = 10 * time.Millisecond
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Config = NewHTTPServer("", s.Handler())
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 50*time.Millisecond, 50*time.Millisecond
	srv.Start()
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/runs/hello%2Fopen/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := readEvents(t, resp, 0)
	if len(events) == 0 || events[len(events)-1].event != "end" {
		t.Errorf("stream cut short: %v", events)
	}
}

// TestEventsHead: HEAD on the events route answers at once with the
// stream's headers and neither takes a stream slot nor reads the run
// again. The mux serves HEAD on a GET route with the GET handler, which
// streamed into a discarded body for EventMax: the client had its headers
// at once and sent its next request on the same keep-alive connection,
// which the server read only once the stream ended.
func TestEventsHead(t *testing.T) {
	tests := []struct {
		name, path string
		wantHead   int
		wantType   string
		wantGet    int
	}{
		{name: "open run", path: "/v1/runs/hello%2Fopen/events", wantHead: http.StatusOK, wantType: "text/event-stream", wantGet: http.StatusOK},
		{name: "closed run", path: escapedRun + "/events", wantHead: http.StatusOK, wantType: "text/event-stream", wantGet: http.StatusOK},
		{name: "unknown run", path: "/v1/runs/hello%2Fnope/events", wantHead: http.StatusNotFound, wantType: "application/json", wantGet: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFakeRuns()
			progressing(fr, 1_000_000)
			s := testServer(t, fr)
			// Longer than the client waits: a HEAD that streamed would
			// hold the connection past the GET's timeout.
			s.API.EventMax = 5 * time.Second
			s.API.MaxStreams = 1
			srv := httptest.NewServer(s.Handler())
			defer srv.Close()
			// One connection, kept alive from the HEAD to the GET.
			tr := &http.Transport{MaxConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 2 * time.Second}

			head, err := client.Head(srv.URL + tt.path)
			if err != nil {
				t.Fatalf("HEAD: %v", err)
			}
			head.Body.Close()
			if head.StatusCode != tt.wantHead || head.Header.Get("Content-Type") != tt.wantType {
				t.Errorf("HEAD: %d %q, want %d %q", head.StatusCode, head.Header.Get("Content-Type"), tt.wantHead, tt.wantType)
			}
			time.Sleep(20 * time.Millisecond)
			if n := len(s.API.streams); n != 0 {
				t.Errorf("%d stream slots held after the HEAD answered", n)
			}
			fr.mu.Lock()
			shows := fr.shows
			fr.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
			fr.mu.Lock()
			if fr.shows != shows {
				t.Errorf("the run was read %d more times after the HEAD answered", fr.shows-shows)
			}
			fr.mu.Unlock()

			reused := false
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
			})
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+tt.path, nil)
			get, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET after HEAD on the same connection: %v", err)
			}
			defer get.Body.Close()
			if !reused {
				t.Error("the GET did not reuse the HEAD's connection")
			}
			if get.StatusCode != tt.wantGet {
				t.Fatalf("GET: %d, want %d", get.StatusCode, tt.wantGet)
			}
			if tt.wantGet == http.StatusOK {
				if events := readEvents(t, get, 1); len(events) != 1 || events[0].event != "step" {
					t.Errorf("GET: events %v, want a step", events)
				}
			}
		})
	}
}
