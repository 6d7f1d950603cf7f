package definitions

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// MaxSourceSize bounds a definition's content when a run's input is
// decoded: a compressed payload cannot expand beyond it.
const MaxSourceSize = 4 << 20

// sourceJSON is how a Source travels in a run's input. New runs carry the
// content gzip-compressed (a definition is repetitive YAML: about a third
// of its size, which every run's history holds); runs recorded before
// carry it plain, and still decode.
type sourceJSON struct {
	File        string `json:"file"`
	Content     []byte `json:"content,omitempty"`
	ContentGzip []byte `json:"content_gzip,omitempty"`
	Hash        string `json:"hash"`
}

// known holds, by hash, definitions already compressed or decompressed
// once: every run of a flow carries the same definition, and a
// compressor's setup costs more than the rest of a webhook's start, so
// neither starts nor workers redo the work per run. It keeps at most
// maxKnownBytes of content and compressed content (a definition may be up
// to MaxSourceSize); beyond, the work is done each time.
var (
	known      sync.Map // hash → *knownSource
	knownBytes atomic.Int64
)

const maxKnownBytes = 32 << 20

type knownSource struct{ gz, content []byte }

// remember keeps a definition whose content matches its hash; checked
// says the caller has compared them already.
func remember(hash string, gz, content []byte, checked bool) {
	size := int64(len(gz) + len(content))
	if hash == "" || knownBytes.Load()+size > maxKnownBytes {
		return
	}
	if !checked {
		if sum := sha256.Sum256(content); hex.EncodeToString(sum[:]) != hash {
			return
		}
	}
	if _, loaded := known.LoadOrStore(hash, &knownSource{gz: gz, content: content}); !loaded {
		knownBytes.Add(size)
	}
}

// MarshalJSON writes the content gzip-compressed.
func (s Source) MarshalJSON() ([]byte, error) {
	var gz []byte
	if k, ok := known.Load(s.Hash); ok && bytes.Equal(k.(*knownSource).content, s.Content) {
		gz = k.(*knownSource).gz
	} else {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(s.Content); err != nil {
			return nil, fmt.Errorf("compressing definition %s: %w", s.File, err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("compressing definition %s: %w", s.File, err)
		}
		gz = buf.Bytes()
		remember(s.Hash, gz, bytes.Clone(s.Content), false)
	}
	return json.Marshal(sourceJSON{File: s.File, ContentGzip: gz, Hash: s.Hash})
}

// UnmarshalJSON reads either form and checks the content against its
// hash, so a damaged payload is an error, not another definition.
func (s *Source) UnmarshalJSON(data []byte) error {
	var j sourceJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	content := j.Content
	if k, ok := known.Load(j.Hash); ok && len(j.ContentGzip) > 0 && bytes.Equal(k.(*knownSource).gz, j.ContentGzip) {
		// The same bytes as a definition already checked against this hash.
		*s = Source{File: j.File, Content: k.(*knownSource).content, Hash: j.Hash}
		return nil
	}
	if len(j.ContentGzip) > 0 {
		zr, err := gzip.NewReader(bytes.NewReader(j.ContentGzip))
		if err != nil {
			return fmt.Errorf("definition %s: %w", j.File, err)
		}
		content, err = io.ReadAll(io.LimitReader(zr, MaxSourceSize+1))
		if err != nil {
			return fmt.Errorf("definition %s: %w", j.File, err)
		}
		if len(content) > MaxSourceSize {
			return fmt.Errorf("definition %s: content over %d bytes", j.File, MaxSourceSize)
		}
	}
	if j.Hash != "" {
		sum := sha256.Sum256(content)
		if hex.EncodeToString(sum[:]) != j.Hash {
			return errors.New("definition " + j.File + ": content does not match its hash " + j.Hash)
		}
	}
	if len(j.ContentGzip) > 0 && j.Hash != "" {
		remember(j.Hash, j.ContentGzip, content, true)
	}
	*s = Source{File: j.File, Content: content, Hash: j.Hash}
	return nil
}
