// Package sandbox simulates the partner APIs relay's connectors speak to —
// CRM, ERP, payment, logistics, notification — with in-memory state, on
// 127.0.0.1. It honours Idempotency-Key where the partner does (Stripe,
// EasyPost; HubSpot and ERPNext ignore it), counts every side effect, and
// injects faults on demand, so flows can be run and tested end to end
// without any real partner.
package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// FaultHeader asks the sandbox for a fault on one request. Values, comma
// separated: `500` (fail before any effect), `500-after-effect` (apply the
// effect, then fail), `429` or `429:120` (rate limited, Retry-After 120),
// `latency:2s`, `timeout` (hang until the client gives up), `reset` (close
// the connection without an answer).
const FaultHeader = "X-Sandbox-Fault"

// Faults are injected at random into every request.
type Faults struct {
	// ErrorRate is the fraction of requests answered 500 before any effect.
	ErrorRate float64 `json:"error_rate,omitempty"`
	// RateLimitRate is the fraction answered 429 with RetryAfter.
	RateLimitRate float64       `json:"rate_limit_rate,omitempty"`
	RetryAfter    time.Duration `json:"retry_after,omitempty"`
	// Latency is added to every request.
	Latency time.Duration `json:"latency,omitempty"`
	// ResetRate is the fraction whose connection is closed unanswered.
	ResetRate float64 `json:"reset_rate,omitempty"`
	// AfterEffectRate is the fraction answered 500 after the effect applied.
	AfterEffectRate float64 `json:"after_effect_rate,omitempty"`
}

// Options configure a sandbox.
type Options struct {
	Faults Faults
	// WebhookURL is where simulated partners post their webhooks (payment
	// succeeded, tracking updates); empty disables them.
	WebhookURL string
	// WebhookPaths, when not nil, are the only paths under WebhookURL that
	// partners post to, as a real partner posts only to the endpoints an
	// account configured: relay dev passes the paths its flows receive.
	WebhookPaths []string
	// WebhookSecret signs those webhooks.
	WebhookSecret string
	// WebhookDelay is how long a partner waits before posting (default 200ms).
	WebhookDelay time.Duration
	Logger       *slog.Logger
}

// Server is a running set of simulated partner APIs.
type Server struct {
	opts   Options
	mux    *http.ServeMux
	client *http.Client

	mu      sync.Mutex
	stored  map[string]*storedResponse // partner + idempotency key
	counts  map[string]int
	ids     map[string]int                       // per prefix, for readable IDs
	state   map[string]map[string]map[string]any // kind → ID → object
	indexes map[string]map[string]*index         // kind → name → index
	hints   map[string]map[string]int            // kind → base → freeID hint
	pending sync.WaitGroup                       // webhooks in flight
	// hubspotMu makes HubSpot's check-then-write sequences atomic (unique
	// contact emails and unique property values, property names,
	// associations created once), as HubSpot's own store does.
	hubspotMu sync.Mutex
	// erpnextMu makes check-then-write sequences atomic (names, po_no
	// uniqueness, billing and cancellation state).
	erpnextMu sync.Mutex
	// stripeMu makes each Stripe state change (read, check, write) atomic.
	stripeMu sync.Mutex
	// easypostMu serialises the read-modify-write of a shipment.
	easypostMu sync.Mutex
	// smtpMu serialises the Message-ID check and the store.
	smtpMu sync.Mutex
}

type storedResponse struct {
	bodyHash [32]byte
	status   int
	body     []byte
}

// New builds a sandbox. Partners register their routes in routes.go.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WebhookDelay == 0 {
		opts.WebhookDelay = 200 * time.Millisecond
	}
	s := &Server{
		opts:    opts,
		mux:     http.NewServeMux(),
		client:  &http.Client{Timeout: 10 * time.Second},
		stored:  map[string]*storedResponse{},
		counts:  map[string]int{},
		ids:     map[string]int{},
		state:   map[string]map[string]map[string]any{},
		indexes: map[string]map[string]*index{},
		hints:   map[string]map[string]int{},
	}
	s.mux.HandleFunc("GET /_sandbox/stats", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, s.Stats())
	})
	s.mux.HandleFunc("POST /_sandbox/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		WriteJSON(w, http.StatusOK, map[string]string{"status": "reset"})
	})
	s.routes()
	s.seed()
	return s
}

// Handler serves every partner, with faults applied.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/_sandbox/") && s.injectBefore(w, r) {
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// Close waits for webhooks in flight.
func (s *Server) Close() { s.pending.Wait() }

// Stats are the side-effect counters, e.g. "stripe.payment_intents.captured".
type Stats struct {
	Counts map[string]int `json:"counts"`
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Counts: maps.Clone(s.counts)}
}

// Reset forgets all state and counters, and seeds the partners' accounts
// again. Every partner's lock is held throughout, so no request's
// check-then-write straddles the reset, and no HubSpot request sees the
// account between the two (without its relay_key property).
func (s *Server) Reset() {
	for _, mu := range []*sync.Mutex{&s.hubspotMu, &s.erpnextMu, &s.stripeMu, &s.easypostMu, &s.smtpMu} {
		mu.Lock()
		defer mu.Unlock()
	}
	s.mu.Lock()
	clear(s.stored)
	clear(s.counts)
	clear(s.ids)
	clear(s.state)
	clear(s.hints)
	for _, ixs := range s.indexes {
		for _, ix := range ixs {
			clear(ix.ids)
		}
	}
	s.mu.Unlock()
	s.seed()
}

// seed stores what the partners' accounts hold before any request. The
// caller holds hubspotMu, or no request is served yet.
func (s *Server) seed() {
	s.hubspotSeed()
}

// Count adds one to a side-effect counter.
func (s *Server) Count(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[name]++
}

// NewID returns a fresh ID such as "pi_000001".
func (s *Server) NewID(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[prefix]++
	return fmt.Sprintf("%s_%06d", prefix, s.ids[prefix])
}

// Stored objects are immutable: Put stores a copy of what it is given,
// and a later Put replaces the stored object instead of changing it. So an
// object read with view, lookup or scan may be kept, and encoded, after
// s.mu is released, while other requests change the state; its reader must
// not change it (Get and Find return copies to change).

// Put stores a copy of an object of a kind ("stripe.payment_intents").
func (s *Server) Put(kind, id string, obj map[string]any) {
	obj = clone(obj)
	s.mu.Lock()
	defer s.mu.Unlock()
	objs := s.state[kind]
	if objs == nil {
		objs = map[string]map[string]any{}
		s.state[kind] = objs
	}
	old, had := objs[id]
	for _, ix := range s.indexes[kind] {
		ix.update(id, old, had, obj)
	}
	objs[id] = obj
	if obj == nil {
		delete(s.hints, kind) // an ID is free again
	}
}

// delete forgets an object of a kind.
func (s *Server) delete(kind, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.state[kind][id]
	if !had {
		return
	}
	for _, ix := range s.indexes[kind] {
		ix.remove(id, old)
	}
	delete(s.state[kind], id)
	delete(s.hints, kind)
}

// Get returns a copy of a stored object, or nil.
func (s *Server) Get(kind, id string) map[string]any {
	return clone(s.view(kind, id))
}

// view returns a stored object, or nil, to read only.
func (s *Server) view(kind, id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state[kind][id]
}

// Find returns copies of the objects of a kind for which match is true,
// sorted by ID. match sees the objects in that order.
func (s *Server) Find(kind string, match func(map[string]any) bool) []map[string]any {
	found := s.scan(kind, match, true)
	for i, obj := range found {
		found[i] = clone(obj)
	}
	return found
}

// scan returns, to read only, the objects of a kind for which match (if
// not nil) is true, sorted by ID. match sees them in that order when
// ordered is set; otherwise it must have no side effects.
func (s *Server) scan(kind string, match func(map[string]any) bool, ordered bool) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	objs := s.state[kind]
	var ids []string
	if ordered || match == nil {
		ids = slices.Sorted(maps.Keys(objs))
	} else {
		for id, obj := range objs {
			if match(obj) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		match = nil
	}
	var out []map[string]any
	for _, id := range ids {
		if obj := objs[id]; match == nil || match(obj) {
			out = append(out, obj)
		}
	}
	return out
}

// An index finds the objects of a kind by a key computed from each object
// (a contact's email, a sales order's po_no), so that a lookup costs the
// same however many objects are stored. Partners declare their indexes
// with their routes; Put, Delete and Reset keep them up to date.
type index struct {
	// keys returns the keys of an object, possibly none or repeated. An
	// index is only ever asked for candidates: whoever looks an object up
	// checks it again, so keys may put an object under more keys than it
	// matches, never under fewer.
	keys func(obj map[string]any) []string
	ids  map[string]map[string]struct{} // key → IDs
}

// addIndex declares an index of a kind, before the server serves.
func (s *Server) addIndex(kind, name string, keys func(obj map[string]any) []string) {
	if s.indexes[kind] == nil {
		s.indexes[kind] = map[string]*index{}
	}
	s.indexes[kind][name] = &index{keys: keys, ids: map[string]map[string]struct{}{}}
}

func (ix *index) add(id string, obj map[string]any) {
	for _, k := range ix.keys(obj) {
		set := ix.ids[k]
		if set == nil {
			set = map[string]struct{}{}
			ix.ids[k] = set
		}
		set[id] = struct{}{}
	}
}

func (ix *index) remove(id string, obj map[string]any) {
	for _, k := range ix.keys(obj) {
		if set := ix.ids[k]; set != nil {
			delete(set, id)
			if len(set) == 0 {
				delete(ix.ids, k)
			}
		}
	}
}

// update moves id from the keys of old (if had) to those of obj.
func (ix *index) update(id string, old map[string]any, had bool, obj map[string]any) {
	if !had {
		ix.add(id, obj)
		return
	}
	before, after := ix.keys(old), ix.keys(obj)
	if slices.Equal(before, after) {
		return
	}
	ix.remove(id, old)
	ix.add(id, obj)
}

// lookup returns, to read only and sorted by ID, the objects of a kind
// under any of keys in its index name for which match (if not nil, and
// without side effects) is true.
func (s *Server) lookup(kind, name string, keys []string, match func(map[string]any) bool) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indexes[kind][name]
	if ix == nil {
		panic("sandbox: no index " + name + " of " + kind)
	}
	var ids []string
	for i, k := range keys {
		for id := range ix.ids[k] {
			if i == 0 || !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	var out []map[string]any
	for _, id := range ids {
		if obj := s.state[kind][id]; match == nil || match(obj) {
			out = append(out, obj)
		}
	}
	return out
}

// stringKey indexes objects by a field when it is a string.
func stringKey(field string) func(map[string]any) []string {
	return func(obj map[string]any) []string {
		if v, ok := obj[field].(string); ok {
			return []string{v}
		}
		return nil
	}
}

// hasIndex reports whether a kind has an index name.
func (s *Server) hasIndex(kind, name string) bool {
	return s.indexes[kind][name] != nil // declared before serving: no lock
}

// freeID returns the first of base, nth(1), nth(2), ... that no object of
// a kind has as ID. It remembers where the search ended, so that taking
// the next free name is not a walk over all those taken; the hint is
// dropped when an ID of the kind may have become free.
func (s *Server) freeID(kind, base string, nth func(i int) string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	objs := s.state[kind]
	if objs[base] == nil {
		return base
	}
	// nth(1) to nth(hint-1) are taken.
	i := max(s.hints[kind][base], 1)
	for objs[nth(i)] != nil {
		i++
	}
	if s.hints[kind] == nil {
		s.hints[kind] = map[string]int{}
	}
	s.hints[kind][base] = i
	return nth(i)
}

// clone returns a deep copy of m as a JSON round trip gives it back:
// numbers become float64, lists []any, objects map[string]any. It copies
// directly the values it knows round-trip unchanged, and goes through JSON
// for anything else (invalid UTF-8, NaN, other types), so both agree.
func clone(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	if out, ok := copyJSONMap(m, 0); ok {
		return out
	}
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// maxCopyDepth is how deep copyJSON goes before it leaves the copy to JSON
// (which reports cycles).
const maxCopyDepth = 100

func copyJSONMap(m map[string]any, depth int) (map[string]any, bool) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !utf8.ValidString(k) {
			return nil, false
		}
		c, ok := copyJSON(v, depth+1)
		if !ok {
			return nil, false
		}
		out[k] = c
	}
	return out, true
}

func copyJSON(v any, depth int) (any, bool) {
	if depth > maxCopyDepth {
		return nil, false
	}
	switch v := v.(type) {
	case nil:
		return nil, true
	case string:
		return v, utf8.ValidString(v)
	case bool:
		return v, true
	case float64:
		return v, !math.IsNaN(v) && !math.IsInf(v, 0)
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case map[string]any:
		if v == nil {
			return nil, true
		}
		return copyJSONMap(v, depth)
	case []any:
		if v == nil {
			return nil, true
		}
		out := make([]any, len(v))
		for i, e := range v {
			c, ok := copyJSON(e, depth+1)
			if !ok {
				return nil, false
			}
			out[i] = c
		}
		return out, true
	case []string:
		if v == nil {
			return nil, true
		}
		out := make([]any, len(v))
		for i, e := range v {
			if !utf8.ValidString(e) {
				return nil, false
			}
			out[i] = e
		}
		return out, true
	case map[string]string:
		if v == nil {
			return nil, true
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			if !utf8.ValidString(k) || !utf8.ValidString(e) {
				return nil, false
			}
			out[k] = e
		}
		return out, true
	}
	return nil, false
}

// ignoresKeys are the partners whose real APIs ignore Idempotency-Key:
// the sandbox ignores it for them too, so a flow that would duplicate a
// record there duplicates it here.
var ignoresKeys = map[string]bool{"hubspot": true, "erpnext": true}

// Mutate runs a state-changing request the way real partners do with
// idempotency keys: the same key and body replay the stored response
// without a second effect; the same key with another body is a 422 (for
// partners that ignore keys, every request takes effect). The request's
// own fault header may ask for a 500 after the effect applied. apply
// returns the status and JSON body to answer.
func (s *Server) Mutate(w http.ResponseWriter, r *http.Request, partner string, body []byte, apply func() (int, any)) {
	key := r.Header.Get("Idempotency-Key")
	if ignoresKeys[partner] {
		key = ""
	}
	var hash [32]byte
	if key != "" {
		hash = requestHash(r.Method, r.URL.Path, body)
		s.mu.Lock()
		prev, ok := s.stored[partner+"\x00"+key]
		s.mu.Unlock()
		if ok {
			if prev.bodyHash != hash {
				WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{
					"type":    "idempotency_error",
					"message": "Keys for idempotent requests can only be used with the same parameters they were first used with.",
				}})
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(prev.status)
			_, _ = w.Write(prev.body)
			return
		}
	}
	status, resp := apply()
	b, err := json.Marshal(resp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if key != "" && status < 500 {
		s.mu.Lock()
		s.stored[partner+"\x00"+key] = &storedResponse{bodyHash: hash, status: status, body: b}
		s.mu.Unlock()
	}
	if status < 300 && s.faultAfterEffect(r) {
		// Only an answer that applied a change can be lost after it.
		WriteJSON(w, http.StatusInternalServerError, map[string]any{"error": map[string]any{"type": "api_error", "message": "internal error after the change was applied"}})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// requestHash identifies what a request with an idempotency key asks: its
// method, path and body. Mutate computes it only for a key it honours.
func requestHash(method, path string, body []byte) [32]byte {
	h := sha256.New()
	_, _ = io.WriteString(h, method+" "+path+"\n")
	_, _ = h.Write(body)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ReadBody reads a request body up to 1 MiB.
func ReadBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, 1<<20))
}

// PostWebhook posts body to the configured webhook URL after the delay,
// with headers (signatures) from sign. It retries a few times like real
// partners do, and gives up quietly.
func (s *Server) PostWebhook(path string, body []byte, sign func(body []byte, now time.Time) http.Header) {
	if s.opts.WebhookURL == "" || s.opts.WebhookPaths != nil && !slices.Contains(s.opts.WebhookPaths, path) {
		return
	}
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		time.Sleep(s.opts.WebhookDelay)
		url := strings.TrimSuffix(s.opts.WebhookURL, "/") + path
		for attempt := range 5 {
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				return
			}
			for k, vs := range sign(body, time.Now()) {
				req.Header[k] = vs
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := s.client.Do(req)
			if err == nil {
				resp.Body.Close()
				s.Count("webhooks.delivered")
				if resp.StatusCode < 300 {
					return
				}
				if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
					s.opts.Logger.Warn("sandbox webhook refused", "url", url, "status", resp.StatusCode)
					return
				}
			}
			time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
		}
	}()
}

// WebhookSecret is the secret simulated partners sign webhooks with.
func (s *Server) WebhookSecret() string { return s.opts.WebhookSecret }

// fault is one parsed fault.
type fault struct {
	kind  string
	value string
}

func parseFaults(h string) []fault {
	var out []fault
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		kind, value, _ := strings.Cut(part, ":")
		out = append(out, fault{kind: kind, value: value})
	}
	return out
}

// injectBefore applies faults that happen before the partner acts; it
// reports whether the request was answered.
func (s *Server) injectBefore(w http.ResponseWriter, r *http.Request) bool {
	f := s.opts.Faults
	requested := parseFaults(r.Header.Get(FaultHeader))
	if f.Latency > 0 {
		time.Sleep(f.Latency)
	}
	for _, ft := range requested {
		switch ft.kind {
		case "latency":
			if d, err := time.ParseDuration(ft.value); err == nil {
				time.Sleep(d)
			}
		case "timeout":
			<-r.Context().Done()
			return true
		case "reset":
			reset(w)
			return true
		case "429":
			s.rateLimited(w, ft.value)
			return true
		case "500":
			WriteJSON(w, http.StatusInternalServerError, map[string]any{"error": map[string]any{"type": "api_error", "message": "injected failure"}})
			return true
		}
	}
	switch p := rand.Float64(); {
	case p < f.ResetRate:
		reset(w)
		return true
	case p < f.ResetRate+f.RateLimitRate:
		s.rateLimited(w, strconv.Itoa(int(f.RetryAfter.Seconds())))
		return true
	case p < f.ResetRate+f.RateLimitRate+f.ErrorRate:
		WriteJSON(w, http.StatusInternalServerError, map[string]any{"error": map[string]any{"type": "api_error", "message": "injected failure"}})
		return true
	}
	return false
}

func (s *Server) faultAfterEffect(r *http.Request) bool {
	for _, ft := range parseFaults(r.Header.Get(FaultHeader)) {
		if ft.kind == "500-after-effect" {
			return true
		}
	}
	return rand.Float64() < s.opts.Faults.AfterEffectRate
}

func (s *Server) rateLimited(w http.ResponseWriter, retryAfter string) {
	if retryAfter == "" || retryAfter == "0" {
		retryAfter = "1"
	}
	w.Header().Set("Retry-After", retryAfter)
	WriteJSON(w, http.StatusTooManyRequests, map[string]any{"error": map[string]any{"type": "rate_limit_error", "message": "too many requests"}})
}

func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	conn.Close()
}
