package codec

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

const uiOrigin = "http://127.0.0.1:8233"

func post(t *testing.T, url string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", uiOrigin)
	req.Header.Set("X-Namespace", "default")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestHandlerRoundTrip(t *testing.T) {
	c := newCodec(t, "k1", map[string]string{"k1": "env:K1"}, map[string]string{"env:K1": newKey(t)})
	srv := httptest.NewServer(http.StripPrefix("/codec", Handler(c, HandlerOptions{AllowOrigins: []string{uiOrigin + "/"}})))
	defer srv.Close()

	plain, _ := converter.GetDefaultDataConverter().ToPayloads("card 4242", map[string]any{"order": "order-1001"})
	body, _ := protojson.Marshal(plain)

	resp, encBody := post(t, srv.URL+"/codec/encode", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("encode: %s %s", resp.Status, encBody)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != uiOrigin {
		t.Errorf("Access-Control-Allow-Origin %q, want %q", got, uiOrigin)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers: %v", resp.Header)
	}
	var enc commonpb.Payloads
	if err := protojson.Unmarshal(encBody, &enc); err != nil {
		t.Fatalf("encode answer %s: %v", encBody, err)
	}
	if len(enc.Payloads) != 2 || string(enc.Payloads[0].Metadata[converter.MetadataEncoding]) != Encoding {
		t.Fatalf("encode answer: %v", &enc)
	}

	resp, decBody := post(t, srv.URL+"/codec/decode", encBody)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("decode: %s %s", resp.Status, decBody)
	}
	var dec commonpb.Payloads
	if err := protojson.Unmarshal(decBody, &dec); err != nil {
		t.Fatal(err)
	}
	var s string
	var m map[string]any
	if err := converter.GetDefaultDataConverter().FromPayloads(&dec, &s, &m); err != nil || s != "card 4242" || m["order"] != "order-1001" {
		t.Errorf("decoded %q %v: %v", s, m, err)
	}
}

func TestHandlerErrors(t *testing.T) {
	c := newCodec(t, "k1", map[string]string{"k1": "env:K1"}, map[string]string{"env:K1": newKey(t)})
	srv := httptest.NewServer(Handler(c, HandlerOptions{AllowOrigins: []string{uiOrigin}, MaxBodyBytes: 1024}))
	defer srv.Close()

	unknown := `{"payloads":[{"metadata":{"encoding":"YmluYXJ5L2VuY3J5cHRlZA==","encryption-key-id":"azk="},"data":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`
	tests := []struct {
		path, body string
		status     int
		want       string
	}{
		{"/decode", unknown, http.StatusBadRequest, `key "k9", which is not configured`},
		{"/decode", `{"payloads":`, http.StatusBadRequest, "invalid request"},
		{"/encode", `{"payloads":[{"data":"` + strings.Repeat("A", 2000) + `"}]}`, http.StatusRequestEntityTooLarge, "exceeds 1024 bytes"},
		{"/other", `{}`, http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		resp, body := post(t, srv.URL+tc.path, []byte(tc.body))
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s %.40s: %s %s, want %d %q", tc.path, tc.body, resp.Status, body, tc.status, tc.want)
		}
	}
	resp, err := http.Get(srv.URL + "/decode")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %s", resp.Status)
	}
}

func TestHandlerCORS(t *testing.T) {
	c := newCodec(t, "k1", map[string]string{"k1": "env:K1"}, map[string]string{"env:K1": newKey(t)})
	srv := httptest.NewServer(Handler(c, HandlerOptions{AllowOrigins: []string{uiOrigin}}))
	defer srv.Close()
	for _, tc := range []struct {
		origin string
		allow  bool
	}{{uiOrigin, true}, {"http://evil.example", false}} {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("preflight from %s: %s", tc.origin, resp.Status)
		}
		if got := h.Get("Access-Control-Allow-Origin"); (got == tc.origin) != tc.allow || (!tc.allow && got != "") {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin %q", tc.origin, got)
		}
		if tc.allow && (!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "X-Namespace") ||
			h.Get("Access-Control-Allow-Credentials") != "true") {
			t.Errorf("preflight headers: %v", h)
		}
	}
}
