package verify

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkVerify is what checking a delivery's signature costs, per
// scheme and configuration, for a 2 KiB body signed with the second of two
// rotated secrets where the configuration has two (the slower case: every
// secret is tried).
func BenchmarkVerify(b *testing.B) {
	body := bytes.Repeat([]byte(`{"id":"evt_1","type":"order.created"}`), 56)[:2048]
	for i, cfg := range signConfigs() {
		cfg.Now = fixedNow
		b.Run(fmt.Sprintf("%s-%d", cfg.Scheme, i), func(b *testing.B) {
			signer := cfg
			if len(cfg.Secrets) > 1 {
				signer.Secrets = cfg.Secrets[1:]
			}
			h, err := Sign(signer, body, fixedNow(), "msg_1")
			if err != nil {
				b.Fatal(err)
			}
			v, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			if err := v.Verify(h, body); err != nil {
				b.Fatalf("a signed delivery does not verify: %v", err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Verify(h, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
