package apiserver

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/relay-dev/relay/apikeys"
)

// authorize admits a request to a route needing scope ("" for any valid
// key) when the API is protected: the bearer key must match a stored,
// unrevoked key with the scope, within the key's rate limit.
func (a *API) authorize(scope apikeys.Scope, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Keys == nil {
			next.ServeHTTP(w, r)
			return
		}
		protected, err := a.Keys.Protected()
		if err != nil {
			// Fail closed: an unreadable keys file opens nothing.
			a.writeError(w, r, keysUnavailable(err))
			return
		}
		if !protected {
			next.ServeHTTP(w, r)
			return
		}
		key, err := a.Keys.Authenticate(bearer(r))
		if err != nil {
			var msg string
			switch {
			case errors.Is(err, apikeys.ErrMissing):
				msg = "missing API key: send Authorization: Bearer rk_..."
			case errors.Is(err, apikeys.ErrInvalid):
				msg = "invalid API key"
			case errors.Is(err, apikeys.ErrRevoked):
				msg = "API key revoked"
			default:
				a.writeError(w, r, keysUnavailable(err))
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="relay"`)
			a.writeError(w, r, &apiError{status: http.StatusUnauthorized, code: "unauthorized", msg: msg})
			return
		}
		if ok, wait := a.limiter.take(key.ID); !ok {
			a.writeError(w, r, &apiError{status: http.StatusTooManyRequests, code: "rate_limited", retryAfter: wait,
				msg: "too many requests with this API key; retry after the Retry-After seconds"})
			return
		}
		if scope != "" && !key.Allows(scope) {
			a.writeError(w, r, &apiError{status: http.StatusForbidden, code: "forbidden", msg: "this API key lacks the scope " + string(scope)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func keysUnavailable(err error) *apiError {
	return &apiError{status: http.StatusInternalServerError, code: "internal", msg: "API keys could not be read; the server log has the details under this request ID", cause: err}
}

// bearer returns the token of an `Authorization: Bearer` header, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// limiter is a token bucket per key: rate tokens a second, at most burst.
// There is one bucket per stored key, so the map stays small.
type limiter struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// take spends a token of key's bucket; when there is none it says how long
// until there is.
func (l *limiter) take(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}
