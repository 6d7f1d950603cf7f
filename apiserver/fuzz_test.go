package apiserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzAPIInputs sends arbitrary JSON bodies to every route that reads one:
// the API answers with a documented status and a JSON error envelope, and
// never panics or answers 500.
func FuzzAPIInputs(f *testing.F) {
	for _, seed := range []string{
		`{"flow":"hello","input":{"name":"Ada"}}`,
		`{"flow":"hello","input":{"name":1},"id":"x"}`,
		`{"dry_run":true,"from":"invoice","definition":"current","input":{"a":[1,2]}}`,
		`{"flow":"order-to-invoice","failed_step":"invoice","rate":5,"canary":3,"stop_after_failures":0.1}`,
		`{"confirm":true}`, `{"output":{"name":"SINV-1"}}`, `{"output":null}`,
		`{"unknown":1}`, `[]`, `null`, `"x"`, `{`, ``, `{"flow":"` + strings.Repeat("a", 300) + `"}`,
	} {
		for _, path := range []string{"/v1/runs", "/v1/runs/hello%2Fr1/replay", "/v1/replays", "/v1/runs/hello%2Fr1/rerun", "/v1/runs/hello%2Fr1/skip-step"} {
			f.Add(path, seed)
		}
	}
	f.Add("/v1/flows/validate", "id: x\nversion: 1\nsteps: [{id: a, set: {b: 1}}]\n")
	h := testServer(f, newFakeRuns()).Handler()
	f.Fuzz(func(t *testing.T, path, body string) {
		switch path {
		case "/v1/runs", "/v1/runs/hello%2Fr1/replay", "/v1/replays", "/v1/runs/hello%2Fr1/rerun", "/v1/runs/hello%2Fr1/skip-step", "/v1/flows/validate":
		default:
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q: %d %s", path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.RequestID == "" {
				t.Fatalf("POST %s %q: %d without an error envelope: %s", path, body, rec.Code, rec.Body)
			}
		}
	})
}
