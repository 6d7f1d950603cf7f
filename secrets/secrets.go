// Package secrets resolves the secret references that definitions carry
// (`env:NAME`, `file:PATH`) into values, and redacts resolved values from
// text before it leaves the process as an error, a log line or a failure.
package secrets

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
)

// Placeholder replaces a secret value in redacted text.
const Placeholder = "[REDACTED]"

// MaxFileBytes bounds the file a file: reference reads: a secret is a key,
// a token or a certificate, and a reference to a large or endless file
// (a log, /dev/zero) must not exhaust the worker's memory.
const MaxFileBytes = 1 << 20

// Validate checks the syntax of a secret reference without resolving it.
func Validate(ref string) error {
	_, _, err := parse(ref)
	return err
}

// Resolve returns the value a secret reference points at. An env reference
// needs its variable set and non-empty; a file reference is read whole
// (at most MaxFileBytes) with trailing newlines trimmed. Errors name the
// reference, never the value.
func Resolve(ref string) (string, error) {
	kind, arg, err := parse(ref)
	if err != nil {
		return "", err
	}
	switch kind {
	case "env":
		v, ok := os.LookupEnv(arg)
		if !ok {
			return "", fmt.Errorf("resolving secret %q: environment variable %s is not set", ref, arg)
		}
		if v == "" {
			return "", fmt.Errorf("resolving secret %q: environment variable %s is empty", ref, arg)
		}
		return v, nil
	default: // file
		b, err := readFile(arg)
		if err != nil {
			// The *PathError names the path only.
			return "", fmt.Errorf("resolving secret %q: %w", ref, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("resolving secret %q: file %s is empty", ref, arg)
		}
		return v, nil
	}
}

// readFile reads path whole, refusing a file longer than MaxFileBytes
// without reading past it.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("file %s is larger than %d bytes", path, MaxFileBytes)
	}
	return b, nil
}

func parse(ref string) (kind, arg string, err error) {
	kind, arg, ok := strings.Cut(ref, ":")
	if !ok {
		return "", "", fmt.Errorf("invalid secret reference %q: want env:NAME or file:PATH", ref)
	}
	switch kind {
	case "env":
		if arg == "" || strings.ContainsAny(arg, "= \t\n") {
			return "", "", fmt.Errorf("invalid secret reference %q: env: needs a variable name", ref)
		}
	case "file":
		if arg == "" {
			return "", "", fmt.Errorf("invalid secret reference %q: file: needs a path", ref)
		}
	default:
		return "", "", fmt.Errorf("unknown secret reference kind %q (use env:NAME or file:PATH)", kind)
	}
	return kind, arg, nil
}

// Redactor remembers secret values and removes them from text. The zero
// value is ready to use and safe for concurrent use.
type Redactor struct {
	mu       sync.RWMutex
	values   map[string]bool // every form of every secret
	replacer *strings.Replacer
}

// Add registers secret values. Each is redacted as is and in the forms it
// takes when echoed in a URL, in base64 or inside a JSON string. Empty
// values are ignored.
func (r *Redactor) Add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, v := range values {
		if v == "" {
			continue
		}
		for _, f := range forms(v) {
			if f == "" || r.values[f] {
				continue
			}
			if r.values == nil {
				r.values = map[string]bool{}
			}
			r.values[f] = true
			changed = true
		}
	}
	if !changed {
		return
	}
	all := make([]string, 0, len(r.values))
	for v := range r.values {
		all = append(all, v)
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(all, func(i, j int) bool {
		if len(all[i]) != len(all[j]) {
			return len(all[i]) > len(all[j])
		}
		return all[i] < all[j]
	})
	pairs := make([]string, 0, 2*len(all))
	for _, v := range all {
		pairs = append(pairs, v, Placeholder)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// Redact returns s with every registered secret replaced by Placeholder.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

func forms(v string) []string {
	out := []string{
		v,
		url.QueryEscape(v),
		url.PathEscape(v),
		lowerEscapes(url.QueryEscape(v)), // some servers echo %2f for %2F
		lowerEscapes(url.PathEscape(v)),
		base64.StdEncoding.EncodeToString([]byte(v)),
		base64.RawStdEncoding.EncodeToString([]byte(v)),
		base64.URLEncoding.EncodeToString([]byte(v)),
		base64.RawURLEncoding.EncodeToString([]byte(v)),
	}
	if b, err := json.Marshal(v); err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	return out
}

// lowerEscapes writes the percent escapes of an escaped string in lower
// case: %2F as %2f.
func lowerEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lowerHex(b[i+1]), lowerHex(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func lowerHex(c byte) byte {
	if 'A' <= c && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// IsRef reports whether s is written as a secret reference (env:NAME or
// file:PATH) rather than a value.
func IsRef(s string) bool {
	return strings.HasPrefix(s, "env:") || strings.HasPrefix(s, "file:")
}
