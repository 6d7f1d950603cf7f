package apiserver

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relay-dev/relay/apikeys"
)

// wantScope is the scope each route needs, written out independently of
// the route table.
var wantScope = map[string]apikeys.Scope{
	"GET /v1/openapi.json":          "",
	"GET /v1/flows":                 apikeys.FlowsRead,
	"POST /v1/flows/validate":       apikeys.FlowsRead,
	"GET /v1/flows/{id}":            apikeys.FlowsRead,
	"GET /v1/flows/{id}/graph":      apikeys.FlowsRead,
	"POST /v1/runs":                 apikeys.RunsWrite,
	"GET /v1/runs":                  apikeys.RunsRead,
	"GET /v1/runs/{id}":             apikeys.RunsRead,
	"GET /v1/runs/{id}/events":      apikeys.RunsRead,
	"HEAD /v1/runs/{id}/events":     apikeys.RunsRead,
	"POST /v1/runs/{id}/replay":     apikeys.RunsReplay,
	"POST /v1/runs/{id}/rerun":      apikeys.RunsReplay,
	"POST /v1/runs/{id}/cancel":     apikeys.RunsWrite,
	"POST /v1/runs/{id}/retry-step": apikeys.RunsWrite,
	"POST /v1/runs/{id}/skip-step":  apikeys.RunsWrite,
	"POST /v1/replays":              apikeys.RunsReplay,
}

// sampleRequest is a valid request to the route.
func sampleRequest(rt route) request {
	path := rt.path
	if strings.HasPrefix(path, "/v1/flows/{id}") {
		path = strings.Replace(path, "{id}", "hello", 1)
	}
	path = strings.Replace(path, "{id}", "order-to-invoice%2Forder-1001", 1)
	body := map[string]string{
		"POST /v1/flows/validate":      "id: x\nversion: 1\nsteps:\n  - {id: a, set: {b: 1}}\n",
		"POST /v1/runs":                `{"flow":"hello"}`,
		"POST /v1/runs/{id}/replay":    `{"dry_run":true}`,
		"POST /v1/runs/{id}/rerun":     `{"confirm":true}`,
		"POST /v1/runs/{id}/skip-step": `{"output":1}`,
		"POST /v1/replays":             `{"flow":"order-to-invoice"}`,
	}[rt.method+" "+rt.path]
	return request{method: rt.method, path: path, body: body, header: map[string]string{}}
}

type testKeys struct {
	store   *apikeys.Store
	byScope map[apikeys.Scope]string
	revoked string
}

func newTestKeys(t *testing.T) testKeys {
	t.Helper()
	store := apikeys.Open(filepath.Join(t.TempDir(), "keys.json"))
	k := testKeys{store: store, byScope: map[apikeys.Scope]string{}}
	now := time.Now()
	for _, sc := range apikeys.Scopes {
		secret, _, err := store.Create("key "+string(sc), []apikeys.Scope{sc}, now)
		if err != nil {
			t.Fatal(err)
		}
		k.byScope[sc] = secret
	}
	secret, key, err := store.Create("revoked admin", []apikeys.Scope{apikeys.Admin}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Revoke(key.ID, now); err != nil {
		t.Fatal(err)
	}
	k.revoked = secret
	return k
}

func TestAuthorizationMatrix(t *testing.T) {
	keys := newTestKeys(t)
	fr := newFakeRuns()
	s := testServer(t, fr)
	s.API.Keys = keys.store
	s.API.Rate, s.API.Burst = 1000, 1000
	h := s.Handler()

	if len(wantScope) != len(routes) {
		t.Fatalf("wantScope lists %d routes, there are %d", len(wantScope), len(routes))
	}
	type who struct {
		name   string
		header string
		scope  apikeys.Scope // "" for no valid key
	}
	callers := []who{
		{name: "no key"},
		{name: "wrong key", header: "Bearer rk_" + strings.Repeat("0", 64)},
		{name: "revoked key", header: "Bearer " + keys.revoked},
		{name: "not bearer", header: "Basic " + keys.byScope[apikeys.Admin]},
	}
	for _, sc := range apikeys.Scopes {
		callers = append(callers, who{name: string(sc), header: "Bearer " + keys.byScope[sc], scope: sc})
	}
	for _, rt := range routes {
		want, ok := wantScope[rt.method+" "+rt.path]
		if !ok {
			t.Errorf("route %s %s missing from wantScope", rt.method, rt.path)
			continue
		}
		for _, c := range callers {
			t.Run(rt.method+" "+rt.path+" "+c.name, func(t *testing.T) {
				req := sampleRequest(rt)
				if c.header != "" {
					req.header["Authorization"] = c.header
				}
				rec := do(t, h, req)
				switch {
				case want == "":
					if rec.Code != http.StatusOK {
						t.Errorf("status %d, want 200 without any key: %s", rec.Code, rec.Body)
					}
				case c.scope == "":
					if rec.Code != http.StatusUnauthorized {
						t.Fatalf("status %d, want 401: %s", rec.Code, rec.Body)
					}
					if e := errorBody(t, rec); e.Code != "unauthorized" || rec.Header().Get("WWW-Authenticate") == "" {
						t.Errorf("401 = %+v, WWW-Authenticate %q", e, rec.Header().Get("WWW-Authenticate"))
					}
				case c.scope == want || c.scope == apikeys.Admin:
					if rec.Code >= 400 {
						t.Errorf("status %d, want success: %s", rec.Code, rec.Body)
					}
				default:
					if rec.Code != http.StatusForbidden {
						t.Fatalf("status %d, want 403: %s", rec.Code, rec.Body)
					}
					if e := errorBody(t, rec); e.Code != "forbidden" || !strings.Contains(e.Message, string(want)) {
						t.Errorf("403 = %+v, want the scope %s named", e, want)
					}
				}
			})
		}
	}
	t.Run("401 messages", func(t *testing.T) {
		for header, want := range map[string]string{
			"":                       "missing API key",
			"Bearer rk_nope":         "invalid API key",
			"Bearer " + keys.revoked: "API key revoked",
		} {
			rec := do(t, h, request{method: "GET", path: "/v1/flows", header: map[string]string{"Authorization": header}})
			if e := errorBody(t, rec); !strings.HasPrefix(e.Message, want) {
				t.Errorf("%q: message %q, want %q", header, e.Message, want)
			}
		}
	})
	t.Run("unknown routes need a key", func(t *testing.T) {
		if rec := do(t, h, request{method: "GET", path: "/v1/secret-admin"}); rec.Code != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", rec.Code)
		}
		rec := do(t, h, request{method: "GET", path: "/v1/secret-admin", header: map[string]string{"Authorization": "Bearer " + keys.byScope[apikeys.FlowsRead]}})
		if rec.Code != http.StatusNotFound {
			t.Errorf("status %d, want 404", rec.Code)
		}
	})
}

func TestNoKeysNeededOutsideV1(t *testing.T) {
	keys := newTestKeys(t)
	s := testServer(t, newFakeRuns())
	s.API.Keys = keys.store
	s.Webhooks = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	h := s.Handler()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/hooks/shop/orders": 202} {
		method := "GET"
		if strings.HasPrefix(path, "/hooks/") {
			method = "POST"
		}
		if rec := do(t, h, request{method: method, path: path}); rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
	}
}

func TestOpenWithoutKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	s := testServer(t, newFakeRuns())
	s.API.Keys = apikeys.Open(path)
	h := s.Handler()
	if rec := do(t, h, request{method: "GET", path: "/v1/flows"}); rec.Code != http.StatusOK {
		t.Fatalf("open API: %d %s", rec.Code, rec.Body)
	}
	// A key created by another process (relay keys create) closes the
	// running API at once.
	secret, _, err := apikeys.Open(path).Create("ci", []apikeys.Scope{apikeys.FlowsRead}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rec := do(t, h, request{method: "GET", path: "/v1/flows"}); rec.Code != http.StatusUnauthorized {
		t.Fatalf("after a key was created: %d, want 401", rec.Code)
	}
	if rec := do(t, h, request{method: "GET", path: "/v1/flows", header: map[string]string{"Authorization": "Bearer " + secret}}); rec.Code != http.StatusOK {
		t.Fatalf("with the key: %d", rec.Code)
	}
}

func TestUnreadableKeysFileFailsClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := testServer(t, newFakeRuns())
	s.API.Keys = apikeys.Open(path)
	rec := do(t, s.Handler(), request{method: "GET", path: "/v1/flows"})
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if strings.Contains(rec.Body.String(), path) || strings.Contains(rec.Body.String(), "keys.json") {
		t.Errorf("500 shows the path: %s", rec.Body)
	}
	if rec := do(t, s.Handler(), request{method: "GET", path: "/v1/openapi.json"}); rec.Code != http.StatusOK {
		t.Errorf("openapi.json: %d", rec.Code)
	}
}

func TestRateLimit(t *testing.T) {
	keys := newTestKeys(t)
	s := testServer(t, newFakeRuns())
	s.API.Keys = keys.store
	s.API.Rate, s.API.Burst = 0.5, 3
	h := s.Handler()
	get := func(secret string) int {
		return do(t, h, request{method: "GET", path: "/v1/flows", header: map[string]string{"Authorization": "Bearer " + secret}}).Code
	}
	a, b := keys.byScope[apikeys.FlowsRead], keys.byScope[apikeys.Admin]
	for i := range 3 {
		if code := get(a); code != http.StatusOK {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	rec := do(t, h, request{method: "GET", path: "/v1/flows", header: map[string]string{"Authorization": "Bearer " + a}})
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("4th request: %d, want 429", rec.Code)
	}
	if e := errorBody(t, rec); e.Code != "rate_limited" {
		t.Errorf("error %+v", e)
	}
	if n, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || n < 1 || n > 2 {
		t.Errorf("Retry-After = %q, want 1 or 2", rec.Header().Get("Retry-After"))
	}
	if code := get(b); code != http.StatusOK {
		t.Errorf("another key: %d, want 200", code)
	}
}

func TestLimiterRefills(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(20, 40, func() time.Time { return now })
	for i := range 40 {
		if ok, _ := l.take("k"); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	ok, wait := l.take("k")
	if ok || wait != 50*time.Millisecond {
		t.Fatalf("41st: ok %v, wait %v; want refused, 50ms", ok, wait)
	}
	now = now.Add(100 * time.Millisecond)
	for i := range 2 {
		if ok, _ := l.take("k"); !ok {
			t.Fatalf("refilled token %d refused", i)
		}
	}
	if ok, _ := l.take("k"); ok {
		t.Fatal("a third token after 100ms at 20/s")
	}
	now = now.Add(time.Hour)
	n := 0
	for {
		if ok, _ := l.take("k"); !ok {
			break
		}
		n++
	}
	if n != 40 {
		t.Errorf("after an hour %d tokens, want the burst 40", n)
	}
}
