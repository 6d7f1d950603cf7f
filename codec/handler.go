package codec

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

// HandlerOptions configure the codec endpoint.
type HandlerOptions struct {
	// AllowOrigins are the origins (scheme://host[:port]) of the Temporal
	// Web UIs allowed to call the endpoint from a browser, such as
	// http://127.0.0.1:8233. Requests from other origins get no CORS
	// headers, so browsers block them.
	AllowOrigins []string
	// MaxBodyBytes caps a request body (default 4 MiB).
	MaxBodyBytes int64
}

// Handler serves the remote codec protocol of the Temporal Web UI and CLI:
// POST …/encode and POST …/decode with a JSON body `{"payloads": [...]}`
// (payloads in protobuf JSON), answered in the same form. It matches the
// path's last element, so it can be mounted under any prefix. It answers
// CORS preflight requests itself; those carry no credentials, so an
// authentication layer in front must let OPTIONS through.
func Handler(c converter.PayloadCodec, opts HandlerOptions) http.Handler {
	origins := make([]string, len(opts.AllowOrigins))
	for i, o := range opts.AllowOrigins {
		origins[i] = strings.TrimSuffix(o, "/")
	}
	return &handler{codec: c, origins: origins, limit: cmp.Or(opts.MaxBodyBytes, 4<<20)}
}

type handler struct {
	codec   converter.PayloadCodec
	origins []string
	limit   int64
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.cors(w, r)
	var op func([]*commonpb.Payload) ([]*commonpb.Payload, error)
	switch {
	case strings.HasSuffix(r.URL.Path, "/encode"):
		op = h.codec.Encode
	case strings.HasSuffix(r.URL.Path, "/decode"):
		op = h.codec.Decode
	default:
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodPost:
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		http.Error(w, "method not allowed: use POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, fmt.Sprintf("request body exceeds %d bytes", h.limit), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var in commonpb.Payloads
	if err := protojson.Unmarshal(body, &in); err != nil {
		http.Error(w, `invalid request: want {"payloads": [...]} in protobuf JSON: `+err.Error(), http.StatusBadRequest)
		return
	}
	payloads, err := op(in.GetPayloads())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out, err := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
	if err != nil {
		http.Error(w, "encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// cors allows the configured origins to call the endpoint with the
// headers the Web UI sends, credentials included.
func (h *handler) cors(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Origin")
	w.Header().Set("Cache-Control", "no-store") // decrypted payloads
	origin := r.Header.Get("Origin")
	if origin == "" || !slices.Contains(h.origins, origin) {
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	w.Header().Set("Access-Control-Allow-Credentials", "true")
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Namespace")
		w.Header().Set("Access-Control-Max-Age", "600")
	}
}
