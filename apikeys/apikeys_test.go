package apikeys

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCreateAuthenticateRevoke(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "keys.json")
	s := Open(path)
	if p, err := s.Protected(); err != nil || p {
		t.Fatalf("no file: protected %v, %v", p, err)
	}
	now := time.Date(2026, 1, 2, 15, 4, 5, 999, time.UTC)
	secret, k, err := s.Create("ci", []Scope{RunsWrite, RunsRead, RunsRead}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, Prefix) || len(secret) != len(Prefix)+64 {
		t.Errorf("secret %q", secret)
	}
	if !strings.HasPrefix(k.ID, "key_") || k.Name != "ci" || strings.Join(scopeNames(k.Scopes), ",") != "runs:read,runs:write" || !k.Created.Equal(now.Truncate(time.Second)) {
		t.Errorf("key %+v", k)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	if strings.Contains(string(data), secret) || strings.Contains(string(data), secret[len(Prefix):]) || !strings.Contains(string(data), hex.EncodeToString(sum[:])) {
		t.Errorf("the file must hold the hash only:\n%s", data)
	}
	for _, p := range []string{path, filepath.Dir(path)} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]os.FileMode{true: 0o700, false: 0o600}[st.IsDir()]; st.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
	// The keys file and its lock file (kept: removing a lock file races
	// with a process about to take it), no temporary file.
	entries, _ := os.ReadDir(filepath.Dir(path))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{filepath.Base(path), filepath.Base(path) + ".lock"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("files %v, want %v: temporary files left", names, want)
	}

	got, err := s.Authenticate(secret)
	if err != nil || got.ID != k.ID || !got.Allows(RunsRead) || got.Allows(RunsReplay) || got.Allows(Admin) {
		t.Fatalf("authenticate: %+v, %v", got, err)
	}
	for token, want := range map[string]error{
		"":                      ErrMissing,
		"rk_nope":               ErrInvalid,
		secret + "x":            ErrInvalid,
		strings.ToUpper(secret): ErrInvalid,
	} {
		if _, err := s.Authenticate(token); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", token, err, want)
		}
	}

	// A second store on the same file (another process) sees the key and
	// revokes it; the first notices.
	other := Open(path)
	if _, err := other.Revoke(k.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(secret); !errors.Is(err, ErrRevoked) {
		t.Errorf("after revoke: %v, want ErrRevoked", err)
	}
	if _, err := other.Revoke(k.ID, now); err == nil || !strings.Contains(err.Error(), "already revoked") {
		t.Errorf("revoking twice: %v", err)
	}
	if _, err := other.Revoke("key_missing", now); err == nil {
		t.Error("revoking an unknown key succeeded")
	}
	// Revoking every key leaves the API protected.
	if p, err := s.Protected(); err != nil || !p {
		t.Errorf("all keys revoked: protected %v, %v", p, err)
	}
	keys, err := s.Keys()
	if err != nil || len(keys) != 1 || keys[0].Revoked.IsZero() {
		t.Errorf("keys %+v, %v", keys, err)
	}
}

func TestAdminAllowsEverything(t *testing.T) {
	k := Key{Scopes: []Scope{Admin}}
	for _, sc := range Scopes {
		if !k.Allows(sc) {
			t.Errorf("admin does not allow %s", sc)
		}
	}
}

func TestCreateRefuses(t *testing.T) {
	s := Open(filepath.Join(t.TempDir(), "keys.json"))
	if _, _, err := s.Create("x", nil, time.Now()); err == nil {
		t.Error("a key without scopes")
	}
	if _, _, err := s.Create("x", []Scope{"runs:delete"}, time.Now()); err == nil || !strings.Contains(err.Error(), "flows:read") {
		t.Errorf("unknown scope: %v", err)
	}
	if _, err := ParseScope("runs:replay"); err != nil {
		t.Error(err)
	}
}

func TestBrokenFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"syntax":  "{",
		"unknown": `{"keys":[],"extra":1}`,
		"hash":    `{"keys":[{"id":"key_1","scopes":["admin"],"hash":"zz","created":"2026-01-02T00:00:00Z"}]}`,
	} {
		path := filepath.Join(dir, name+".json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		s := Open(path)
		if _, err := s.Protected(); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := s.Authenticate("rk_x"); err == nil || errors.Is(err, ErrInvalid) {
			t.Errorf("%s: authenticate %v, want a read error", name, err)
		}
	}
}

func scopeNames(scopes []Scope) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	return out
}

// TestConcurrentCreates: two processes creating keys at once (two Stores
// of one file stand for them) keep every key; each used to write back
// what it had read, losing the other's.
func TestConcurrentCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	stores := []*Store{Open(path), Open(path)}
	const each = 20
	var wg sync.WaitGroup
	for i, s := range stores {
		for j := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := s.Create(fmt.Sprintf("k-%d-%d", i, j), []Scope{RunsRead}, time.Now()); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	keys, err := Open(path).Keys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(stores)*each {
		t.Errorf("%d keys stored, want %d", len(keys), len(stores)*each)
	}
}
