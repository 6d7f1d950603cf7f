package verify

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Sign returns headers that make body verify under cfg, signed with the first
// secret at time now, with delivery ID id where the scheme carries one
// (required for standard_webhooks and for hmac with IDHeader). It is for the
// partner sandbox and tests. A hmac template that signs other headers
// ({header:Name} other than TimestampHeader) cannot be signed here.
func Sign(cfg Config, body []byte, now time.Time, id string) (http.Header, error) {
	v, err := build(cfg)
	if err != nil {
		return nil, err
	}
	timestamp := strconv.FormatInt(now.Unix(), 10)
	headers := map[string]string{}
	for _, s := range v.template {
		if s.kind != segHeader {
			continue
		}
		if cfg.TimestampHeader == "" || s.text != http.CanonicalHeaderKey(cfg.TimestampHeader) {
			return nil, fmt.Errorf("signing webhook %s: template signs header %s, which Sign cannot supply", cfg.Scheme, s.text)
		}
		headers[s.text] = timestamp
	}
	h, err := v.format(timestamp, id, v.mac(v.keys[0], timestamp, id, headers, body))
	if err != nil {
		return nil, fmt.Errorf("signing webhook: %w", err)
	}
	return h, nil
}
