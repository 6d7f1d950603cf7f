// Package apiserver is relay's own HTTP server: health and readiness, the
// webhook receiver under /hooks/ and relay's versioned API under /v1. Every
// error is JSON and carries the request ID.
package apiserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"time"
)

// Server serves relay's HTTP endpoints.
type Server struct {
	// Ready reports whether relay can take work (Temporal reachable, worker
	// polling); nil means always ready.
	Ready func(ctx context.Context) error
	// Webhooks, if set, receives every request under /hooks/. Webhooks
	// authenticate by signature, never by API key.
	Webhooks http.Handler
	// API, if set, serves relay's API under /v1.
	API *API
	// Metrics, if set, serves GET /metrics (Prometheus text format), like
	// /healthz without authentication: bind the server to a private
	// address or filter /metrics in front of it.
	Metrics http.Handler
	Logger  *slog.Logger
}

// NotReady is an error Ready returns to say which part of relay is not
// ready. /readyz, which anyone may call, shows only Reason; Err, which may
// hold internal addresses (Temporal's), goes to the log.
type NotReady struct {
	// Reason is a phrase safe to show: "Temporal is not reachable".
	Reason string
	Err    error
}

func (e *NotReady) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *NotReady) Unwrap() error { return e.Err }

// Handler returns the server's routes wrapped in request-ID and panic
// recovery middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	if s.Webhooks != nil {
		mux.Handle("/hooks/", s.Webhooks)
	}
	if s.API != nil {
		s.API.mount(mux, s.logger())
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return withRequestID(recoverPanics(noRedirects(mux), s.logger()))
}

// noRedirects answers 404 in the JSON envelope where the mux would answer
// a bare redirect: a path not in canonical form (/hooks//h, /hooks/x/../h)
// and the root of a subtree without its slash (/hooks for /hooks/). No
// route is served under a second name, a partner does not follow a
// redirect of its POST, and every error carries the request ID.
func noRedirects(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		// The mux leaves the paths of CONNECT requests as they are.
		if r.Method != http.MethodConnect && p != canonicalPath(p) {
			WriteError(w, r, http.StatusNotFound, "not_found", "no such endpoint (the path has an empty, . or .. segment)")
			return
		}
		if !strings.HasSuffix(p, "/") {
			// The mux matched the subtree p+"/" only to redirect there.
			if _, pattern := mux.Handler(r); patternPath(pattern) == p+"/" {
				WriteError(w, r, http.StatusNotFound, "not_found", "no such endpoint")
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// canonicalPath is p with empty, . and .. segments resolved, rooted, and
// ending in a slash when p does: the form the mux serves without
// redirecting.
func canonicalPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// patternPath is the path of a mux pattern, "[METHOD ][HOST]/path".
func patternPath(pattern string) string {
	if i := strings.Index(pattern, "/"); i >= 0 {
		return pattern[i:]
	}
	return pattern
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// recoverPanics answers 500 for a handler that panicked and logs the stack;
// the response never carries it.
func recoverPanics(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			logger.Error("handler panicked", "request_id", RequestID(r), "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			WriteError(w, r, http.StatusInternalServerError, "internal", "internal error; the server log has the details under this request ID")
		}()
		next.ServeHTTP(w, r)
	})
}

// readyz answers 200 when Ready does, else 503 saying only which part is
// not ready (a NotReady's Reason): anyone may call it, and the error, which
// the log keeps under the request ID, may name internal addresses.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			s.logger().Warn("not ready", "request_id", RequestID(r), "err", err)
			msg := "not ready"
			var nr *NotReady
			if errors.As(err, &nr) && nr.Reason != "" {
				msg += ": " + nr.Reason
			}
			w.Header().Set("Retry-After", "1")
			WriteError(w, r, http.StatusServiceUnavailable, "not_ready", msg+"; the server log has the details under this request ID")
			return
		}
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// NewHTTPServer wraps h with the timeouts every relay listener uses.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

type ctxKey struct{}

// RequestIDHeader carries the request ID in and out.
const RequestIDHeader = "X-Request-Id"

func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = "req_" + hex.EncodeToString(b[:])
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// RequestID returns the request's ID.
func RequestID(r *http.Request) string {
	id, _ := r.Context().Value(ctxKey{}).(string)
	return id
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ErrorBody is the JSON of every error response:
// {"error":{"code","message","request_id"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error inside ErrorBody.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	// Field names the invalid request field of a 400 or 422, when one is
	// to blame: `limit`, `input.order_id`, `body`.
	Field string `json:"field,omitempty"`
	// Problems lists every problem, when there are several (a refused
	// replay plan).
	Problems []string `json:"problems,omitempty"`
}

// WriteError writes a JSON error carrying the request ID.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	WriteJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: msg, RequestID: RequestID(r)}})
}
