// Package sandbox simulates the partner APIs relay's connectors speak to —
// CRM, ERP, payment, logistics, notification — with in-memory state, on
// 127.0.0.1. It honours Idempotency-Key, counts every side effect, and
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
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
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
	ids     map[string]int // per prefix, for readable IDs
	state   map[string]map[string]map[string]any
	pending sync.WaitGroup // webhooks in flight
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
		opts:   opts,
		mux:    http.NewServeMux(),
		client: &http.Client{Timeout: 10 * time.Second},
		stored: map[string]*storedResponse{},
		counts: map[string]int{},
		ids:    map[string]int{},
		state:  map[string]map[string]map[string]any{},
	}
	s.mux.HandleFunc("GET /_sandbox/stats", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, s.Stats())
	})
	s.mux.HandleFunc("POST /_sandbox/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		WriteJSON(w, http.StatusOK, map[string]string{"status": "reset"})
	})
	s.routes()
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

// Reset forgets all state and counters.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.stored)
	clear(s.counts)
	clear(s.ids)
	clear(s.state)
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

// Put stores a copy of an object of a kind ("stripe.payment_intents").
func (s *Server) Put(kind, id string, obj map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state[kind] == nil {
		s.state[kind] = map[string]map[string]any{}
	}
	s.state[kind][id] = clone(obj)
}

// Get returns a copy of a stored object, or nil.
func (s *Server) Get(kind, id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clone(s.state[kind][id])
}

// Find returns copies of the objects of a kind for which match is true,
// sorted by ID.
func (s *Server) Find(kind string, match func(map[string]any) bool) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, id := range slices.Sorted(maps.Keys(s.state[kind])) {
		if obj := s.state[kind][id]; match == nil || match(obj) {
			out = append(out, clone(obj))
		}
	}
	return out
}

func clone(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// Mutate runs a state-changing request the way real partners do with
// idempotency keys: the same key and body replay the stored response
// without a second effect; the same key with another body is a 422. The
// request's own fault header may ask for a 500 after the effect applied.
// apply returns the status and JSON body to answer.
func (s *Server) Mutate(w http.ResponseWriter, r *http.Request, partner string, body []byte, apply func() (int, any)) {
	key := r.Header.Get("Idempotency-Key")
	hash := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
	if key != "" {
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
	if s.faultAfterEffect(r) {
		WriteJSON(w, http.StatusInternalServerError, map[string]any{"error": map[string]any{"type": "api_error", "message": "internal error after the change was applied"}})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
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
	if s.opts.WebhookURL == "" {
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
