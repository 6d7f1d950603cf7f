package apiserver

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestOpenAPIMatchesRoutes checks that every route is documented, with the
// scope it enforces, and that every documented operation is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	o := oas(t)
	if o.doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", o.doc["openapi"])
	}
	served := map[string]route{}
	for _, rt := range routes {
		served[rt.method+" "+rt.path] = rt
	}
	documented := map[string]bool{}
	ids := map[string]bool{}
	for path, item := range o.doc["paths"].(map[string]any) {
		for method, v := range item.(map[string]any) {
			op := v.(map[string]any)
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			rt, ok := served[key]
			if !ok {
				t.Errorf("openapi.json documents %s, which is not a route", key)
				continue
			}
			id, _ := op["operationId"].(string)
			if id == "" || ids[id] {
				t.Errorf("%s: operationId %q missing or not unique", key, id)
			}
			ids[id] = true
			scope, _ := op["x-relay-scope"].(string)
			if scope != string(rt.scope) {
				t.Errorf("%s: documented scope %q, enforced %q", key, scope, rt.scope)
			}
			sec, _ := op["security"].([]any)
			if rt.scope == "" && len(sec) != 0 || rt.scope != "" && (len(sec) != 1 || !slices.Contains(sec[0].(map[string]any)["apiKey"].([]any), any(string(rt.scope)))) {
				t.Errorf("%s: security %v does not say scope %q", key, sec, rt.scope)
			}
			if _, ok := op["responses"].(map[string]any); !ok {
				t.Errorf("%s: no responses", key)
			}
		}
	}
	for key := range served {
		if !documented[key] {
			t.Errorf("route %s is not documented in openapi.json", key)
		}
	}
}

// TestOpenAPISchemasCompile compiles every schema, which resolves every
// $ref in them.
func TestOpenAPISchemasCompile(t *testing.T) {
	o := oas(t)
	for name := range o.doc["components"].(map[string]any)["schemas"].(map[string]any) {
		o.schema(t, "/components/schemas/"+name)
	}
	// The checker is not vacuous: a wrong body fails.
	inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"runs":[{"workflow_id":1}]}`))
	if err := o.schema(t, "/components/schemas/RunList").Validate(inst); err == nil {
		t.Error("a run list with a numeric workflow_id validates")
	}
	inst, _ = jsonschema.UnmarshalJSON(strings.NewReader(`{"error":{"code":"x"}}`))
	if err := o.schema(t, "/components/schemas/Error").Validate(inst); err == nil {
		t.Error("an error without message and request_id validates")
	}
}

// TestOpenAPIOperationsServed sends a request to every documented
// operation: none answers 404 or 405, and every answer matches the
// document (do checks it).
func TestOpenAPIOperationsServed(t *testing.T) {
	bodies := map[string]string{
		"validateFlow": "id: x\nversion: 1\nsteps:\n  - {id: a, set: {b: 1}}\n",
		"startRun":     `{"flow":"hello"}`,
		"replayRun":    `{"dry_run":true}`,
		"rerunRun":     `{"confirm":true}`,
		"skipStep":     `{"output":null}`,
		"bulkReplay":   `{"flow":"order-to-invoice"}`,
	}
	o := oas(t)
	fr := newFakeRuns()
	// The sample run is closed: its events stream ends at once.
	h := testServer(t, fr).Handler()
	n := 0
	for path, item := range o.doc["paths"].(map[string]any) {
		for method, v := range item.(map[string]any) {
			op := v.(map[string]any)
			concrete := path
			if strings.HasPrefix(path, "/v1/flows/{id}") {
				concrete = strings.Replace(path, "{id}", "order-to-invoice", 1)
			} else {
				concrete = strings.Replace(path, "{id}", "order-to-invoice%2Forder-1001", 1)
			}
			rec := do(t, h, request{method: strings.ToUpper(method), path: concrete, body: bodies[op["operationId"].(string)]})
			n++
			if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed || rec.Code >= 500 {
				t.Errorf("%s %s: %d %s", method, concrete, rec.Code, rec.Body)
			}
		}
	}
	if n != len(routes) {
		t.Errorf("%d documented operations, %d routes", n, len(routes))
	}
	if !bytes.Equal(OpenAPI(), openAPIDoc) {
		t.Error("OpenAPI() differs from the embedded document")
	}
}
