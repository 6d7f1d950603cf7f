// Package apikeys holds the keys of relay's /v1 API: created with scopes,
// stored as SHA-256 hashes in a JSON file, checked in constant time. The
// plaintext key is shown once, when it is created, and never stored.
package apikeys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Scope grants access to a group of API routes.
type Scope string

// The scopes. Admin grants every other scope.
const (
	FlowsRead  Scope = "flows:read"
	RunsRead   Scope = "runs:read"
	RunsWrite  Scope = "runs:write"
	RunsReplay Scope = "runs:replay"
	Admin      Scope = "admin"
)

// Scopes lists every scope.
var Scopes = []Scope{FlowsRead, RunsRead, RunsWrite, RunsReplay, Admin}

// ParseScope checks a scope name.
func ParseScope(s string) (Scope, error) {
	for _, sc := range Scopes {
		if string(sc) == s {
			return sc, nil
		}
	}
	names := make([]string, len(Scopes))
	for i, sc := range Scopes {
		names[i] = string(sc)
	}
	return "", fmt.Errorf("unknown scope %q (want one of %s)", s, strings.Join(names, ", "))
}

// Prefix starts every key, so that a leaked one is easy to recognise.
const Prefix = "rk_"

// DefaultFile is where keys are stored unless told otherwise.
const DefaultFile = ".relay/keys.json"

// Key is one stored API key. Hash is the hex SHA-256 of the key; the key
// itself is not kept.
type Key struct {
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	Scopes  []Scope   `json:"scopes"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
	Revoked time.Time `json:"revoked,omitzero"`
}

// Allows reports whether the key grants scope.
func (k *Key) Allows(scope Scope) bool {
	return slices.Contains(k.Scopes, scope) || slices.Contains(k.Scopes, Admin)
}

// Errors of Authenticate.
var (
	ErrMissing = errors.New("missing API key")
	ErrInvalid = errors.New("invalid API key")
	ErrRevoked = errors.New("API key revoked")
)

type file struct {
	Keys []*Key `json:"keys"`
}

// Store is a keys file. It rereads the file when it changes on disk, so keys
// created or revoked by `relay keys` apply to a running server at once.
type Store struct {
	path string

	mu     sync.Mutex
	stat   fs.FileInfo // of the cached contents; nil when there is no file
	keys   []*Key
	hashes [][]byte
	loaded bool
}

// Open returns the store of the keys file at path; the file need not exist.
func Open(path string) *Store {
	return &Store{path: path}
}

// Path is the keys file's path.
func (s *Store) Path() string { return s.path }

// Keys returns the stored keys, revoked ones included, in creation order.
func (s *Store) Keys() ([]Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(); err != nil {
		return nil, err
	}
	out := make([]Key, len(s.keys))
	for i, k := range s.keys {
		out[i] = *k
		out[i].Scopes = slices.Clone(k.Scopes)
	}
	return out, nil
}

// Protected reports whether the file holds any key, revoked or not: once a
// key was created, the API stays closed even when every key is revoked.
func (s *Store) Protected() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(); err != nil {
		return false, err
	}
	return len(s.keys) > 0, nil
}

// Authenticate finds the key whose hash matches token. Every stored hash is
// compared, in constant time, whatever matches.
func (s *Store) Authenticate(token string) (Key, error) {
	if token == "" {
		return Key{}, ErrMissing
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(); err != nil {
		return Key{}, err
	}
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i, h := range s.hashes {
		if subtle.ConstantTimeCompare(sum[:], h) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Key{}, ErrInvalid
	}
	k := *s.keys[found]
	k.Scopes = slices.Clone(k.Scopes)
	if !k.Revoked.IsZero() {
		return Key{}, ErrRevoked
	}
	return k, nil
}

// Create makes a key with scopes and stores its hash. The returned secret
// is the only copy of the key.
func (s *Store) Create(name string, scopes []Scope, now time.Time) (secret string, k Key, err error) {
	if len(scopes) == 0 {
		return "", Key{}, errors.New("a key needs at least one scope")
	}
	for _, sc := range scopes {
		if _, err := ParseScope(string(sc)); err != nil {
			return "", Key{}, err
		}
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Key{}, fmt.Errorf("creating API key: %w", err)
	}
	secret = Prefix + hex.EncodeToString(raw[:])
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", Key{}, fmt.Errorf("creating API key: %w", err)
	}
	sum := sha256.Sum256([]byte(secret))
	nk := &Key{
		ID:      "key_" + hex.EncodeToString(id[:]),
		Name:    name,
		Scopes:  slices.Compact(slices.Sorted(slices.Values(scopes))),
		Hash:    hex.EncodeToString(sum[:]),
		Created: now.UTC().Truncate(time.Second),
	}
	err = s.update(func(f *file) error {
		f.Keys = append(f.Keys, nk)
		return nil
	})
	if err != nil {
		return "", Key{}, err
	}
	return secret, *nk, nil
}

// Revoke marks the key with id revoked. Revoking a revoked key is an error.
func (s *Store) Revoke(id string, now time.Time) (Key, error) {
	var out Key
	err := s.update(func(f *file) error {
		for _, k := range f.Keys {
			if k.ID != id {
				continue
			}
			if !k.Revoked.IsZero() {
				return fmt.Errorf("key %s was already revoked on %s", id, k.Revoked.Format(time.RFC3339))
			}
			k.Revoked = now.UTC().Truncate(time.Second)
			out = *k
			return nil
		}
		return fmt.Errorf("no key %s in %s", id, s.path)
	})
	return out, err
}

// update reads the file, applies fn and writes it back atomically, under
// the keys file's lock (see lockFile).
func (s *Store) update(fn func(*file) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("creating the folder of %s: %w", s.path, err)
	}
	unlock, err := lockFile(s.path)
	if err != nil {
		return err
	}
	defer unlock()
	f, _, err := s.read()
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(s.path, append(b, '\n')); err != nil {
		return fmt.Errorf("writing API keys to %s: %w", s.path, err)
	}
	s.loaded = false
	return nil
}

// refresh rereads the file when it changed since the last read.
func (s *Store) refresh() error {
	st, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.stat, s.keys, s.hashes, s.loaded = nil, nil, nil, true
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading API keys: %w", err)
	}
	if s.loaded && s.stat != nil && os.SameFile(st, s.stat) && st.ModTime().Equal(s.stat.ModTime()) && st.Size() == s.stat.Size() {
		return nil
	}
	f, st, err := s.read()
	if err != nil {
		return err
	}
	hashes := make([][]byte, len(f.Keys))
	for i, k := range f.Keys {
		h, err := hex.DecodeString(k.Hash)
		if err != nil || len(h) != sha256.Size {
			return fmt.Errorf("reading API keys from %s: key %s has an invalid hash", s.path, k.ID)
		}
		hashes[i] = h
	}
	s.stat, s.keys, s.hashes, s.loaded = st, f.Keys, hashes, true
	return nil
}

// read parses the file; a missing file is an empty one.
func (s *Store) read() (*file, fs.FileInfo, error) {
	fh, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return &file{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading API keys: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("reading API keys: %w", err)
	}
	var f file
	dec := json.NewDecoder(fh)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, nil, fmt.Errorf("reading API keys from %s: %w", s.path, err)
	}
	return &f, st, nil
}

// writeAtomic writes data to a temporary file beside path, readable by the
// owner only, and renames it over path. The folder must exist.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
