package triggers

import (
	"errors"
	"testing"
	"time"

	"github.com/relay-dev/relay/definitions"
)

// TestPathUsableOnceItsSecretResolves: a path whose secret did not resolve
// when relay started (the variable set later) verifies deliveries once it
// does, without a restart, trying again at most every secretRetry.
func TestPathUsableOnceItsSecretResolves(t *testing.T) {
	secret := ""
	resolves := 0
	pr := &pathRoutes{
		verifyOf: definitions.Verify{Scheme: "standard_webhooks", Secrets: []string{"env:SHOP_SECRET"}},
		resolve: func(string) (string, error) {
			resolves++
			if secret == "" {
				return "", errors.New("environment variable SHOP_SECRET is not set")
			}
			return secret, nil
		},
	}
	t0 := time.Unix(1_800_000_000, 0)
	steps := []struct {
		at          time.Duration
		setSecret   bool
		wantUsable  bool
		wantResolve int // resolutions so far
	}{
		{0, false, false, 1},
		{time.Second, true, false, 1}, // set, but not tried again yet
		{secretRetry - time.Millisecond, false, false, 1},
		{secretRetry, false, true, 2},
		{secretRetry + time.Hour, false, true, 2}, // built once, kept
	}
	for _, st := range steps {
		if st.setSecret {
			secret = "whsec_" + "dGVzdHNlY3JldHRlc3RzZWNyZXQ="
		}
		v, err := pr.usable(t0.Add(st.at))
		if usable := err == nil && v != nil; usable != st.wantUsable || resolves != st.wantResolve {
			t.Fatalf("at +%s: usable %v (%v), resolved %d times; want %v, %d", st.at, usable, err, resolves, st.wantUsable, st.wantResolve)
		}
	}
}

func TestKeyOf(t *testing.T) {
	tests := []struct {
		v    any
		want string
		ok   bool
	}{
		{"o-1", "o-1", true},
		{12345678.0, "12345678", true},
		{true, "true", true},
		{nil, "", false},
		{"", "", false},
		{[]any{"a"}, "", false},
		{map[string]any{"a": 1.0}, "", false},
		{[]int{1}, "", false},
		{9007199254740991.0, "9007199254740991", true}, // 2^53-1, exact
		{9007199254740992.0, "", false},                // 2^53: may have been 2^53+1
		{-1e21, "", false},
		{12.5, "12.5", true},
	}
	for _, tt := range tests {
		if got, ok := keyOf(tt.v); got != tt.want || ok != tt.ok {
			t.Errorf("keyOf(%#v) = %q, %v; want %q, %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}
