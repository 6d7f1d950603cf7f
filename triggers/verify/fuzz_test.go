package verify

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The fuzz targets feed arbitrary header values and bodies to Verify. Seeds,
// valid deliveries among them, are in testdata/fuzz/<FuzzName>/. Beyond "never
// panics" each checks that an error is one of the sentinels and names no
// secret, and that whatever verifies stops verifying once the body changes.

const fuzzSecret = "fuzz-secret-value-0123456789"

var errConfigRejected = errors.New("New rejected the fuzzed configuration")

// A fuzzCase turns one fuzz input into a configuration, headers and a body;
// ok is false when the input is not a usable configuration (hmac templates).
type fuzzCase func(args []string, body []byte) (cfg Config, h http.Header, ok bool)

var fuzzCases = map[string]fuzzCase{
	"FuzzVerifyStandardWebhooks": func(a []string, _ []byte) (Config, http.Header, bool) {
		return Config{Scheme: SchemeStandardWebhooks, Secrets: []string{"whsec_ZnV6ei1zZWNyZXQtdmFsdWUtMDEyMzQ1Njc4OQ==", fuzzSecret}},
			headers("webhook-id", a[0], "webhook-timestamp", a[1], "webhook-signature", a[2]), true
	},
	"FuzzVerifyStripe": func(a []string, _ []byte) (Config, http.Header, bool) {
		return Config{Scheme: SchemeStripe, Secrets: []string{"whsec_" + fuzzSecret}}, headers("Stripe-Signature", a[0]), true
	},
	"FuzzVerifyGitHub": func(a []string, _ []byte) (Config, http.Header, bool) {
		return Config{Scheme: SchemeGitHub, Secrets: []string{fuzzSecret}}, headers("X-Hub-Signature-256", a[0]), true
	},
	"FuzzVerifyShopify": func(a []string, _ []byte) (Config, http.Header, bool) {
		return Config{Scheme: SchemeShopify, Secrets: []string{fuzzSecret}}, headers("X-Shopify-Hmac-Sha256", a[0]), true
	},
	"FuzzVerifySlack": func(a []string, _ []byte) (Config, http.Header, bool) {
		return Config{Scheme: SchemeSlack, Secrets: []string{fuzzSecret}},
			headers("X-Slack-Request-Timestamp", a[0], "X-Slack-Signature", a[1]), true
	},
	"FuzzVerifyHMAC": func(a []string, _ []byte) (Config, http.Header, bool) {
		cfg := Config{Scheme: SchemeHMAC, Secrets: []string{fuzzSecret}, Header: "X-Signature", Prefix: "v1=",
			Template: a[0], TimestampHeader: "X-Timestamp", IDHeader: "X-Delivery"}
		if _, err := New(cfg); err != nil {
			return cfg, nil, false
		}
		return cfg, headers("X-Signature", a[1], "X-Timestamp", a[2], "X-Delivery", a[3], "X-Account", a[4]), true
	},
}

// headers sets only non-empty values, so the fuzzer explores absent headers too.
func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] != "" {
			h[http.CanonicalHeaderKey(kv[i])] = []string{kv[i+1]}
		}
	}
	return h
}

func runFuzzCase(t *testing.T, name string, args []string, body []byte) error {
	cfg, h, ok := fuzzCases[name](args, body)
	if !ok {
		return errConfigRejected
	}
	cfg.Now = fixedNow
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	err = v.Verify(h, body)
	if err == nil {
		if v.Verify(h, append(body[:len(body):len(body)], 'x')) == nil {
			t.Fatalf("verified with an appended byte too: %v", h)
		}
		return nil
	}
	if !errors.Is(err, ErrInvalidSignature) && !errors.Is(err, ErrTimestamp) {
		t.Fatalf("unclassified error: %v", err)
	}
	for _, s := range cfg.Secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error names a secret: %v", err)
		}
	}
	return err
}

func FuzzVerifyStandardWebhooks(f *testing.F) {
	f.Fuzz(func(t *testing.T, id, timestamp, signature string, body []byte) {
		runFuzzCase(t, "FuzzVerifyStandardWebhooks", []string{id, timestamp, signature}, body)
	})
}

func FuzzVerifyStripe(f *testing.F) {
	f.Fuzz(func(t *testing.T, signature string, body []byte) {
		runFuzzCase(t, "FuzzVerifyStripe", []string{signature}, body)
		_ = StripeEventID(body)
	})
}

func FuzzVerifyGitHub(f *testing.F) {
	f.Fuzz(func(t *testing.T, signature string, body []byte) {
		runFuzzCase(t, "FuzzVerifyGitHub", []string{signature}, body)
	})
}

func FuzzVerifyShopify(f *testing.F) {
	f.Fuzz(func(t *testing.T, signature string, body []byte) {
		runFuzzCase(t, "FuzzVerifyShopify", []string{signature}, body)
	})
}

func FuzzVerifySlack(f *testing.F) {
	f.Fuzz(func(t *testing.T, timestamp, signature string, body []byte) {
		runFuzzCase(t, "FuzzVerifySlack", []string{timestamp, signature}, body)
	})
}

// FuzzVerifyHMAC fuzzes the template too: New must accept or reject it
// without panicking, and Verify must then behave.
func FuzzVerifyHMAC(f *testing.F) {
	f.Fuzz(func(t *testing.T, template, signature, timestamp, id, account string, body []byte) {
		runFuzzCase(t, "FuzzVerifyHMAC", []string{template, signature, timestamp, id, account}, body)
	})
}

// TestFuzzSeedsVerify makes sure the committed corpora start the fuzzers from
// real deliveries: seeds named *-valid* must verify, all others must not.
func TestFuzzSeedsVerify(t *testing.T) {
	for name := range fuzzCases {
		files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", name, "*"))
		valid := 0
		for _, file := range files {
			args, body := readSeed(t, file)
			err := runFuzzCase(t, name, args, body)
			wantValid := strings.Contains(filepath.Base(file), "-valid")
			if wantValid {
				valid++
			}
			if (err == nil) != wantValid {
				t.Errorf("%s: Verify = %v, want valid %t", file, err, wantValid)
			}
		}
		if valid == 0 {
			t.Errorf("%s: no valid seed", name)
		}
	}
}

// readSeed parses Go's "go test fuzz v1" file: string(...) lines, then one []byte(...).
func readSeed(t *testing.T, file string) ([]string, []byte) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var args []string
	var body []byte
	for _, line := range lines[1:] {
		lit, isBytes := strings.CutPrefix(line, "[]byte(")
		if !isBytes {
			lit = strings.TrimPrefix(line, "string(")
		}
		s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if err != nil {
			t.Fatalf("%s: %q: %v", file, line, err)
		}
		if isBytes {
			body = []byte(s)
		} else {
			args = append(args, s)
		}
	}
	return args, body
}
