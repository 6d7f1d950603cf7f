package codec

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// newKey returns a fresh base64 key.
func newKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// values resolves references from a map.
func values(m map[string]string) func(string) (string, error) {
	return func(ref string) (string, error) {
		v, ok := m[ref]
		if !ok {
			return "", errors.New("no secret " + ref)
		}
		return v, nil
	}
}

func newCodec(t *testing.T, current string, refs map[string]string, secretValues map[string]string) *Codec {
	t.Helper()
	c, err := NewCodec(Keys{Current: current, All: refs, Resolve: values(secretValues)})
	if err != nil {
		t.Fatalf("NewCodec: %v", err)
	}
	return c
}

func mustEncode(t *testing.T, c *Codec, p *commonpb.Payload) *commonpb.Payload {
	t.Helper()
	out, err := c.Encode([]*commonpb.Payload{p})
	if err != nil || len(out) != 1 {
		t.Fatalf("Encode: %v (%d payloads)", err, len(out))
	}
	return out[0]
}

func decodeOne(c *Codec, p *commonpb.Payload) (*commonpb.Payload, error) {
	out, err := c.Decode([]*commonpb.Payload{p})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

func TestRoundTrip(t *testing.T) {
	c := newCodec(t, "k1", map[string]string{"k1": "env:K1"}, map[string]string{"env:K1": newKey(t)})
	dc := c.DataConverter()
	type order struct {
		ID    string
		Total int
	}
	in := order{ID: "order-1001", Total: 4200}
	ps, err := dc.ToPayloads("card 4242", in)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps.Payloads {
		if got := string(p.Metadata[converter.MetadataEncoding]); got != Encoding {
			t.Errorf("encoding %q, want %q", got, Encoding)
		}
		if got := string(p.Metadata[MetadataKeyID]); got != "k1" {
			t.Errorf("key ID %q, want k1", got)
		}
		if bytes.Contains(p.Data, []byte("4242")) || bytes.Contains(p.Data, []byte("order-1001")) {
			t.Errorf("ciphertext contains plaintext: %q", p.Data)
		}
	}
	var s string
	var out order
	if err := dc.FromPayloads(ps, &s, &out); err != nil {
		t.Fatal(err)
	}
	if s != "card 4242" || out != in {
		t.Errorf("round trip: %q %+v", s, out)
	}
	// The original metadata survives, inside the ciphertext.
	plain, _ := converter.GetDefaultDataConverter().ToPayload("x")
	dec, err := decodeOne(c, mustEncode(t, c, plain))
	if err != nil {
		t.Fatal(err)
	}
	if string(dec.Metadata[converter.MetadataEncoding]) != converter.MetadataEncodingJSON || string(dec.Data) != `"x"` {
		t.Errorf("decoded payload %v", dec)
	}
}

func TestNoncePerEncode(t *testing.T) {
	c := newCodec(t, "k1", map[string]string{"k1": "env:K1"}, map[string]string{"env:K1": newKey(t)})
	p, _ := converter.GetDefaultDataConverter().ToPayload("same")
	a, b := mustEncode(t, c, p), mustEncode(t, c, p)
	if bytes.Equal(a.Data, b.Data) {
		t.Error("two encodings of one payload are equal")
	}
	if bytes.Equal(a.Data[:12], b.Data[:12]) {
		t.Error("two encodings share a nonce")
	}
}

func TestRotation(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	secretValues := map[string]string{"env:K1": k1, "file:/keys/k2": k2}
	old := newCodec(t, "k1", map[string]string{"k1": "env:K1"}, secretValues)
	rotated := newCodec(t, "k2", map[string]string{"k1": "env:K1", "k2": "file:/keys/k2"}, secretValues)

	p, _ := converter.GetDefaultDataConverter().ToPayload("before rotation")
	enc := mustEncode(t, old, p)
	dec, err := decodeOne(rotated, enc)
	if err != nil {
		t.Fatalf("decoding a k1 payload after rotation: %v", err)
	}
	if string(dec.Data) != `"before rotation"` {
		t.Errorf("decoded %q", dec.Data)
	}

	newer := mustEncode(t, rotated, p)
	if got := string(newer.Metadata[MetadataKeyID]); got != "k2" {
		t.Errorf("after rotation the key ID is %q, want k2", got)
	}
	_, err = decodeOne(old, newer)
	if err == nil || !strings.Contains(err.Error(), `key "k2", which is not configured (known: k1)`) {
		t.Errorf("decoding with an unknown key ID: %v", err)
	}
	for _, k := range []string{k1, k2} {
		if err != nil && strings.Contains(err.Error(), k) {
			t.Errorf("error %q contains a key", err)
		}
	}
}

func TestDecodeFailures(t *testing.T) {
	k1 := newKey(t)
	c := newCodec(t, "k1", map[string]string{"k1": "env:K1", "k0": "env:K0"}, map[string]string{"env:K1": k1, "env:K0": newKey(t)})
	wrong := newCodec(t, "k1", map[string]string{"k1": "env:OTHER"}, map[string]string{"env:OTHER": newKey(t)})
	p, _ := converter.GetDefaultDataConverter().ToPayload("secret")
	enc := mustEncode(t, c, p)

	clone := func(mutate func(*commonpb.Payload)) *commonpb.Payload {
		q := &commonpb.Payload{Metadata: map[string][]byte{}, Data: bytes.Clone(enc.Data)}
		for k, v := range enc.Metadata {
			q.Metadata[k] = bytes.Clone(v)
		}
		mutate(q)
		return q
	}
	tests := []struct {
		name  string
		codec *Codec
		p     *commonpb.Payload
		want  string
	}{
		{"wrong key", wrong, enc, `decrypting payload with key "k1"`},
		{"tampered ciphertext", c, clone(func(q *commonpb.Payload) { q.Data[len(q.Data)-20] ^= 1 }), `decrypting payload with key "k1"`},
		{"tampered nonce", c, clone(func(q *commonpb.Payload) { q.Data[0] ^= 1 }), `decrypting payload with key "k1"`},
		{"key ID swapped", c, clone(func(q *commonpb.Payload) { q.Metadata[MetadataKeyID] = []byte("k0") }), `decrypting payload with key "k0"`},
		{"truncated", c, clone(func(q *commonpb.Payload) { q.Data = q.Data[:10] }), "truncated"},
		{"no key ID", c, clone(func(q *commonpb.Payload) { delete(q.Metadata, MetadataKeyID) }), "no encryption-key-id"},
	}
	for _, tc := range tests {
		_, err := decodeOne(tc.codec, tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), k1) {
			t.Errorf("%s: error contains the key", tc.name)
		}
	}
}

func TestDecodePlainPassesThrough(t *testing.T) {
	c := newCodec(t, "k1", map[string]string{"k1": "env:K1"}, map[string]string{"env:K1": newKey(t)})
	p, _ := converter.GetDefaultDataConverter().ToPayload(map[string]int{"a": 1})
	dec, err := decodeOne(c, p)
	if err != nil || dec != p {
		t.Errorf("plain payload: %v, %v", dec, err)
	}
}

func TestNewCodecErrors(t *testing.T) {
	good := newKey(t)
	short := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	notB64 := "not base64 at all!"
	secretValues := map[string]string{"env:GOOD": good, "env:SHORT": short, "env:BAD": notB64}
	tests := []struct {
		keys Keys
		want string
	}{
		{Keys{}, "no keys"},
		{Keys{Current: "k9", All: map[string]string{"k1": "env:GOOD"}}, `current key "k9" is not among the keys (k1)`},
		{Keys{Current: "k1", All: map[string]string{"k1": "env:SHORT"}}, `key "k1" (env:SHORT): want a 32-byte key (AES-256), base64-encoded; got 16 bytes`},
		{Keys{Current: "k1", All: map[string]string{"k1": "env:BAD"}}, `key "k1" (env:BAD): want a 32-byte key (AES-256), base64-encoded; the value is not base64`},
		{Keys{Current: "k1", All: map[string]string{"k1": "env:MISSING"}}, `key "k1": no secret env:MISSING`},
		{Keys{Current: "bad id", All: map[string]string{"bad id": "env:GOOD"}}, `key ID "bad id"`},
	}
	for _, tc := range tests {
		tc.keys.Resolve = values(secretValues)
		_, err := NewCodec(tc.keys)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.keys.All, err, tc.want)
			continue
		}
		for _, v := range []string{good, short, notB64} {
			if strings.Contains(err.Error(), v) {
				t.Errorf("error %q contains a secret value", err)
			}
		}
	}
	// By default keys resolve with secrets.Resolve; URL base64 is accepted.
	t.Setenv("RELAY_TEST_CODEC_KEY", strings.NewReplacer("+", "-", "/", "_").Replace(strings.TrimRight(good, "="))+"\n")
	if _, err := NewDataConverter(Keys{Current: "k1", All: map[string]string{"k1": "env:RELAY_TEST_CODEC_KEY"}}); err != nil {
		t.Errorf("key from the environment: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	keys, err := ParseKeys(" k2=env:RELAY_CODEC_KEY_2 , k1=file:/etc/relay/k1")
	if err != nil {
		t.Fatal(err)
	}
	if keys.Current != "k2" || len(keys.All) != 2 || keys.All["k2"] != "env:RELAY_CODEC_KEY_2" || keys.All["k1"] != "file:/etc/relay/k1" {
		t.Errorf("ParseKeys: %+v", keys)
	}
	for spec, want := range map[string]string{
		"":                     "none given",
		"k1":                   `entry "k1"`,
		"=env:X":               `entry "=env:X"`,
		"k1=env:A,k1=env:B":    `key ID "k1" is listed twice`,
		"k1=env:A,k2=":         `entry "k2="`,
		" , ":                  "none given",
		"k1=env:A,=file:/x/y/": `entry "=file:/x/y/"`,
	} {
		if _, err := ParseKeys(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKeys(%q): %v, want %q", spec, err, want)
		}
	}
}

func TestFailureConverterEncryptsMessages(t *testing.T) {
	c := newCodec(t, "k1", map[string]string{"k1": "env:K1"}, map[string]string{"env:K1": newKey(t)})
	fc := c.FailureConverter()
	f := fc.ErrorToFailure(temporal.NewApplicationError("card 4242 declined for ada@example.com", "stripe.card_declined"))
	if strings.Contains(f.GetMessage(), "4242") || strings.Contains(f.GetStackTrace(), "4242") {
		t.Errorf("failure in the clear: %q", f.GetMessage())
	}
	attrs := f.GetEncodedAttributes()
	if attrs == nil || string(attrs.Metadata[converter.MetadataEncoding]) != Encoding || bytes.Contains(attrs.Data, []byte("4242")) {
		t.Errorf("encoded attributes not encrypted: %v", attrs)
	}
	err := fc.FailureToError(f)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Message() != "card 4242 declined for ada@example.com" || appErr.Type() != "stripe.card_declined" {
		t.Errorf("decoded failure: %v", err)
	}
}
