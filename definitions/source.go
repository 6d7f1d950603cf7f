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

// compressed caches the compressed content by hash: every run of a flow
// carries the same definition, and setting up a compressor costs more than
// the rest of a webhook's start. At most maxCompressed definitions are kept.
var (
	compressed     sync.Map // hash → []byte
	compressedSize atomic.Int64
)

const maxCompressed = 1024

// MarshalJSON writes the content gzip-compressed.
func (s Source) MarshalJSON() ([]byte, error) {
	gz, err := s.gzipped()
	if err != nil {
		return nil, err
	}
	return json.Marshal(sourceJSON{File: s.File, ContentGzip: gz, Hash: s.Hash})
}

func (s Source) gzipped() ([]byte, error) {
	if v, ok := compressed.Load(s.Hash); ok && s.Hash != "" {
		return v.([]byte), nil
	}
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
	// Only a hash that names this content may key the cache.
	if sum := sha256.Sum256(s.Content); s.Hash == hex.EncodeToString(sum[:]) && compressedSize.Load() < maxCompressed {
		if _, loaded := compressed.LoadOrStore(s.Hash, buf.Bytes()); !loaded {
			compressedSize.Add(1)
		}
	}
	return buf.Bytes(), nil
}

// UnmarshalJSON reads either form and checks the content against its
// hash, so a damaged payload is an error, not another definition.
func (s *Source) UnmarshalJSON(data []byte) error {
	var j sourceJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	content := j.Content
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
	*s = Source{File: j.File, Content: content, Hash: j.Hash}
	return nil
}
