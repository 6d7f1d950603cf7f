package definitions

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
)

func sourceOf(file string, content []byte) Source {
	sum := sha256.Sum256(content)
	return Source{File: file, Content: content, Hash: hex.EncodeToString(sum[:])}
}

func TestSourceJSON(t *testing.T) {
	flagship, err := fs.ReadFile(Bundled(), "order-to-invoice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := sourceOf("order-to-invoice.yaml", flagship)

	compact, err := json.Marshal(src)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := json.Marshal(sourceJSON{File: src.File, Content: src.Content, Hash: src.Hash})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("flagship definition in a run's input: %d bytes compressed, %d plain", len(compact), len(plain))
	if len(compact)*2 > len(plain) {
		t.Errorf("compressed source is %d bytes, want under half of the plain %d", len(compact), len(plain))
	}
	if bytes.Contains(compact, []byte(`"content":`)) {
		t.Errorf("new runs should carry content_gzip only: %s", compact[:80])
	}

	// Both the new form and the one recorded runs carry decode to the same source.
	for name, data := range map[string][]byte{"compressed": compact, "plain (runs recorded before)": plain} {
		var got Source
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.File != src.File || got.Hash != src.Hash || !bytes.Equal(got.Content, src.Content) {
			t.Errorf("%s: decoded %s (%d bytes, hash %s), want the original", name, got.File, len(got.Content), got.Hash)
		}
	}
}

func TestSourceJSONRefusesDamage(t *testing.T) {
	src := sourceOf("hello.yaml", []byte("id: hello\nsteps: []\n"))
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	if _, err := zw.Write(bytes.Repeat([]byte("a"), MaxSourceSize+10)); err != nil {
		t.Fatal(err)
	}
	zw.Close()

	for _, tc := range []struct {
		name, want string
		in         sourceJSON
	}{
		{"content changed", "does not match its hash", sourceJSON{File: src.File, Content: []byte("id: other\n"), Hash: src.Hash}},
		{"not gzip", "hello.yaml", sourceJSON{File: src.File, ContentGzip: []byte("plain text"), Hash: src.Hash}},
		{"expands too far", "over 4194304 bytes", sourceJSON{File: src.File, ContentGzip: bomb.Bytes()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var got Source
			err = json.Unmarshal(data, &got)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// BenchmarkSourceMarshal is what a run's start pays to carry its
// definition: the flagship, compressed once and then taken from the cache.
func BenchmarkSourceMarshal(b *testing.B) {
	flagship, err := fs.ReadFile(Bundled(), "order-to-invoice.yaml")
	if err != nil {
		b.Fatal(err)
	}
	src := sourceOf("order-to-invoice.yaml", flagship)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(src); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSourceJSONRemembersDefinitions: a definition decoded once is not
// decompressed again, and a damaged payload under a known hash is still
// refused, not answered from memory.
func TestSourceJSONRemembersDefinitions(t *testing.T) {
	src := sourceOf("remembered.yaml", []byte("id: remembered\nversion: 1\nsteps: []\n"))
	data, err := json.Marshal(src)
	if err != nil {
		t.Fatal(err)
	}
	var first, second Source
	if err := json.Unmarshal(data, &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(second.Content, src.Content) || &first.Content[0] != &second.Content[0] {
		t.Errorf("the second decode did not reuse the first one's content")
	}

	var j sourceJSON
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	var other bytes.Buffer
	zw := gzip.NewWriter(&other)
	zw.Write([]byte("id: forged\n"))
	zw.Close()
	j.ContentGzip = other.Bytes()
	forged, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var got Source
	if err := json.Unmarshal(forged, &got); err == nil || !strings.Contains(err.Error(), "does not match its hash") {
		t.Errorf("other content under a remembered hash: error = %v, want a hash mismatch", err)
	}
}
