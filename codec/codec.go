// Package codec encrypts Temporal payloads with AES-256-GCM, so workflow
// inputs, results, activity arguments, memos and failure messages reach
// the Temporal server, and its history, only as ciphertext.
//
// Keys are secret references (env:NAME, file:PATH) to base64-encoded
// 32-byte keys, each with an ID. Payloads are encrypted with the current
// key and carry its ID, so old keys stay usable for decryption while a new
// one takes over.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"github.com/relay-dev/relay/secrets"
)

// Metadata of an encrypted payload.
const (
	// Encoding is the encoding metadata of an encrypted payload.
	Encoding = "binary/encrypted"
	// MetadataKeyID is the metadata key holding the ID of the key that
	// encrypted the payload.
	MetadataKeyID = "encryption-key-id"
)

// Keys are the encryption keys.
type Keys struct {
	// Current is the ID of the key that encrypts; it must be in All.
	Current string
	// All maps key IDs to secret references (env:NAME or file:PATH) whose
	// values are base64-encoded 32-byte keys. Keep retired keys here as
	// long as histories encrypted with them are read.
	All map[string]string
	// Resolve resolves the references; nil means secrets.Resolve.
	Resolve func(ref string) (string, error)
}

// ParseKeys reads keys written as `id=ref,id=ref,…`, the first being the
// current one: `k2=env:RELAY_CODEC_KEY_2,k1=file:/etc/relay/k1`.
func ParseKeys(spec string) (Keys, error) {
	keys := Keys{All: map[string]string{}}
	for entry := range strings.SplitSeq(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, ref, ok := strings.Cut(entry, "=")
		id, ref = strings.TrimSpace(id), strings.TrimSpace(ref)
		if !ok || id == "" || ref == "" {
			return Keys{}, fmt.Errorf("codec keys: entry %q: want ID=env:NAME or ID=file:PATH", entry)
		}
		if _, dup := keys.All[id]; dup {
			return Keys{}, fmt.Errorf("codec keys: key ID %q is listed twice", id)
		}
		if keys.Current == "" {
			keys.Current = id
		}
		keys.All[id] = ref
	}
	if len(keys.All) == 0 {
		return Keys{}, errors.New("codec keys: none given; want ID=env:NAME[,ID=file:PATH…], the current key first")
	}
	return keys, nil
}

// Codec is a converter.PayloadCodec encrypting with AES-256-GCM. It is
// safe for concurrent use.
type Codec struct {
	current string
	aeads   map[string]cipher.AEAD
}

var _ converter.PayloadCodec = (*Codec)(nil)

// NewCodec resolves the keys. Errors name key IDs and references, never
// key material.
func NewCodec(keys Keys) (*Codec, error) {
	resolve := keys.Resolve
	if resolve == nil {
		resolve = secrets.Resolve
	}
	if len(keys.All) == 0 {
		return nil, errors.New("codec: no keys")
	}
	if _, ok := keys.All[keys.Current]; !ok {
		return nil, fmt.Errorf("codec: current key %q is not among the keys (%s)", keys.Current, strings.Join(slices.Sorted(maps.Keys(keys.All)), ", "))
	}
	c := &Codec{current: keys.Current, aeads: map[string]cipher.AEAD{}}
	for _, id := range slices.Sorted(maps.Keys(keys.All)) {
		if !validKeyID(id) {
			return nil, fmt.Errorf("codec: key ID %q: use 1 to 64 letters, digits, '.', '_' or '-'", id)
		}
		ref := keys.All[id]
		v, err := resolve(ref)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", id, err)
		}
		raw, err := decodeKey(v)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q (%s): %w", id, ref, err)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q (%s): %w", id, ref, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q (%s): %w", id, ref, err)
		}
		c.aeads[id] = aead
	}
	return c, nil
}

func validKeyID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// decodeKey reads a base64 key (standard or URL alphabet, padded or not).
// Its errors never quote the value.
func decodeKey(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(v); err == nil {
			if len(raw) != 32 {
				return nil, fmt.Errorf("want a 32-byte key (AES-256), base64-encoded; got %d bytes", len(raw))
			}
			return raw, nil
		}
	}
	return nil, errors.New("want a 32-byte key (AES-256), base64-encoded; the value is not base64")
}

// Encode encrypts each payload, metadata included, with the current key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: encoding payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("codec: reading a nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(c.current),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.current)),
		}
	}
	return out, nil
}

// Decode decrypts encrypted payloads with the key their metadata names.
// Payloads that are not encrypted pass unchanged, so histories written
// before encryption was turned on stay readable.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		if id == "" {
			return nil, fmt.Errorf("codec: encrypted payload has no %s metadata", MetadataKeyID)
		}
		aead, ok := c.aeads[id]
		if !ok {
			return nil, fmt.Errorf("codec: payload was encrypted with key %q, which is not configured (known: %s)", id, strings.Join(slices.Sorted(maps.Keys(c.aeads)), ", "))
		}
		data := p.GetData()
		if len(data) < aead.NonceSize()+aead.Overhead() {
			return nil, fmt.Errorf("codec: payload encrypted with key %q is truncated", id)
		}
		nonce, sealed := data[:aead.NonceSize()], data[aead.NonceSize():]
		plain, err := aead.Open(nil, nonce, sealed, []byte(id))
		if err != nil {
			return nil, fmt.Errorf("codec: decrypting payload with key %q: it was altered or encrypted with another key of that ID", id)
		}
		var dec commonpb.Payload
		if err := proto.Unmarshal(plain, &dec); err != nil {
			return nil, fmt.Errorf("codec: decoding payload decrypted with key %q: %w", id, err)
		}
		out[i] = &dec
	}
	return out, nil
}

// DataConverter is the SDK's default data converter with payloads
// encrypted by c.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter is the SDK's default failure converter with messages
// and stack traces moved into an encrypted payload.
func (c *Codec) FailureConverter() converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		EncodeCommonAttributes: true,
		DataConverter:          c.DataConverter(),
	})
}

// Apply sets the client options' data and failure converters to encrypt
// with c. Workers built on the client use them too.
func (c *Codec) Apply(o *client.Options) {
	o.DataConverter = c.DataConverter()
	o.FailureConverter = c.FailureConverter()
}

// NewDataConverter returns the default data converter with payloads
// encrypted under keys.
func NewDataConverter(keys Keys) (converter.DataConverter, error) {
	c, err := NewCodec(keys)
	if err != nil {
		return nil, err
	}
	return c.DataConverter(), nil
}
