package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/relay-dev/relay/apikeys"
	"github.com/relay-dev/relay/apiserver"
	"github.com/relay-dev/relay/definitions"
)

const apiFlow = `
id: api-e2e
version: 1
inputs:
  name: {type: string, required: true}
steps:
  - id: first
    set: {greeting: "hi ${{ input.name }}"}
  - id: nap
    sleep: 2s
  - id: last
    set: {done: true}
`

// apiClient calls relay's /v1 API with a key and checks every JSON answer
// against the OpenAPI document the server serves.
type apiClient struct {
	t      *testing.T
	url    string
	key    string
	oas    *jsonschema.Compiler
	oasDoc map[string]any
}

func (c *apiClient) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
		if c.oas != nil {
			c.validate(method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, m
}

// validate checks a body against the schema openapi.json gives the
// operation's answer with this status.
func (c *apiClient) validate(method, path string, status int, body []byte) {
	c.t.Helper()
	template := path
	if i := strings.IndexByte(template, '?'); i >= 0 {
		template = template[:i]
	}
	parts := strings.Split(template, "/")
	for i, p := range parts {
		if i == 3 && (parts[2] == "runs" || parts[2] == "flows") && p != "validate" {
			parts[i] = "{id}"
		}
	}
	template = strings.Join(parts, "/")
	op, _ := c.oasDoc["paths"].(map[string]any)[template].(map[string]any)[strings.ToLower(method)].(map[string]any)
	if op == nil {
		c.t.Errorf("%s %s: no operation %s %s in openapi.json", method, path, method, template)
		return
	}
	resp, _ := op["responses"].(map[string]any)[fmt.Sprint(status)].(map[string]any)
	if resp == nil {
		c.t.Errorf("%s %s: status %d not documented", method, path, status)
		return
	}
	loc := "#/paths/" + strings.ReplaceAll(template, "/", "~1") + "/" + strings.ToLower(method) + "/responses/" + fmt.Sprint(status)
	if ref, ok := resp["$ref"].(string); ok {
		loc = ref
	}
	sch, err := c.oas.Compile("https://relay.invalid/openapi.json" + loc + "/content/application~1json/schema")
	if err != nil {
		c.t.Fatalf("schema of %s %s %d: %v", method, template, status, err)
	}
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err := sch.Validate(inst); err != nil {
		c.t.Errorf("%s %s: %d answer does not match openapi.json: %v\n%s", method, path, status, err, body)
	}
}

func TestAPIEndToEnd(t *testing.T) {
	e := startEnv(t, "", nil)
	flow := e.load(t, apiFlow, "")
	keys := apikeys.Open(filepath.Join(t.TempDir(), "keys.json"))
	key, _, err := keys.Create("e2e", []apikeys.Scope{apikeys.FlowsRead, apikeys.RunsRead, apikeys.RunsWrite, apikeys.RunsReplay}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&apiserver.Server{API: &apiserver.API{Runs: e.runs, Flows: []*definitions.Flow{flow}, Registry: e.reg, Keys: keys}}).Handler())
	defer srv.Close()
	c := &apiClient{t: t, url: srv.URL, key: key}

	// The document is served without a key, and drives the checks below.
	status, doc := (&apiClient{t: t, url: srv.URL}).do("GET", "/v1/openapi.json", "")
	if status != http.StatusOK || doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi.json: %d", status)
	}
	c.oasDoc, c.oas = doc, jsonschema.NewCompiler()
	c.oas.DefaultDraft(jsonschema.Draft2020)
	if err := c.oas.AddResource("https://relay.invalid/openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	if status, _ := (&apiClient{t: t, url: srv.URL}).do("GET", "/v1/runs", ""); status != http.StatusUnauthorized {
		t.Errorf("no key: %d, want 401", status)
	}

	status, run := c.do("POST", "/v1/runs", `{"flow":"api-e2e","input":{"name":"Ada"},"id":"api-e2e/run-1"}`)
	if status != http.StatusCreated || run["workflow_id"] != "api-e2e/run-1" {
		t.Fatalf("start: %d %v", status, run)
	}
	if status, again := c.do("POST", "/v1/runs", `{"flow":"api-e2e","input":{"name":"Ada"},"id":"api-e2e/run-1"}`); status != http.StatusConflict {
		t.Errorf("second start with the same ID: %d %v, want 409", status, again)
	}
	if status, bad := c.do("POST", "/v1/runs", `{"flow":"api-e2e","input":{}}`); status != http.StatusUnprocessableEntity {
		t.Errorf("missing input: %d %v", status, bad)
	}

	status, detail := c.do("GET", "/v1/runs/api-e2e%2Frun-1", "")
	if status != http.StatusOK || detail["workflow_id"] != "api-e2e/run-1" || detail["flow"] != "api-e2e" {
		t.Fatalf("get: %d %v", status, detail)
	}

	// The events stream sends each step as it changes, then the end.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/runs/api-e2e%2Frun-1/events", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var events []string
	final := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Fatalf("event data %q: %v", data, err)
		}
		switch event {
		case "step":
			events = append(events, fmt.Sprintf("%s %s", v["id"], v["status"]))
			final[v["id"].(string)] = v["status"].(string)
		case "end":
			events = append(events, fmt.Sprintf("end %s", v["status"]))
		default:
			events = append(events, event)
		}
		if event == "end" || event == "error" {
			break
		}
	}
	if len(events) == 0 || events[len(events)-1] != "end completed" {
		t.Fatalf("events end with %v, want end completed", events)
	}
	if final["first"] != "completed" || final["nap"] != "completed" || final["last"] != "completed" {
		t.Errorf("final step statuses %v from events %v", final, events)
	}
	if !containsAll(events, "nap running", "nap completed") {
		t.Errorf("the stream did not follow the sleep live: %v", events)
	}

	// Visibility is eventually consistent: the run shows up in a moment.
	// (The stream came first, so that it sees the sleep while it lasts.)
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, list := c.do("GET", "/v1/runs?flow=api-e2e&limit=10", "")
		if status != http.StatusOK {
			t.Fatalf("list: %d %v", status, list)
		}
		if rs, _ := list["runs"].([]any); len(rs) == 1 && rs[0].(map[string]any)["workflow_id"] == "api-e2e/run-1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run is not listed: %v", list)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Operations on the real runs client.
	status, plan := c.do("POST", "/v1/runs/api-e2e%2Frun-1/replay", `{"from":"last","dry_run":true}`)
	if p, _ := plan["plan"].(map[string]any); status != http.StatusOK || fmt.Sprint(p["reused"]) != "[first nap]" || fmt.Sprint(p["run"]) != "[last]" {
		t.Errorf("replay dry run: %d %v", status, plan)
	}
	if status, body := c.do("POST", "/v1/runs/api-e2e%2Frun-1/replay", `{"from":"nowhere"}`); status != http.StatusUnprocessableEntity || body["error"].(map[string]any)["code"] != "plan_refused" {
		t.Errorf("replay from an unknown step: %d %v", status, body)
	}
	if status, body := c.do("POST", "/v1/runs/api-e2e%2Frun-1/rerun", `{}`); status != http.StatusBadRequest {
		t.Errorf("rerun without confirm: %d %v", status, body)
	}
	if status, body := c.do("GET", "/v1/runs/api-e2e%2Fnope", ""); status != http.StatusNotFound {
		t.Errorf("unknown run: %d %v", status, body)
	}

	status, v := c.do("POST", "/v1/flows/validate", "id: broken\nversion: 1\nsteps:\n  - {id: a, sleep: soon}\n")
	if probs, _ := v["problems"].([]any); status != http.StatusOK || v["valid"] != false || len(probs) != 1 || !strings.HasPrefix(probs[0].(map[string]any)["error"].(string), "flow.yaml:4:") {
		t.Errorf("validate: %d %v", status, v)
	}
	status, v = c.do("POST", "/v1/flows/validate", apiFlow)
	if status != http.StatusOK || v["valid"] != true {
		t.Errorf("validate the flow itself: %d %v", status, v)
	}
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, s := range list {
			found = found || s == w
		}
		if !found {
			return false
		}
	}
	return true
}
