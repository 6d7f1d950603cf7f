// Package httpconnector is the generic HTTP connector: one action that
// sends any request through the connection's client, for partner APIs that
// have no connector of their own.
package httpconnector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/relay-dev/relay/connectors"
)

// Connector returns the `http` connector.
func Connector() *connectors.Connector {
	return &connectors.Connector{
		Name:    "http",
		Summary: "Send an HTTP request with the connection's base URL, headers and auth.",
		Actions: []*connectors.Action{newRequestAction()},
	}
}

func newRequestAction() *connectors.Action {
	return &connectors.Action{
		Name:    "request",
		Summary: "Send one HTTP request; a 4xx or 5xx answer is an error of type http.<status>.",
		Short:   true,
		Params: []connectors.Param{
			{Name: "method", Type: "string", Default: "GET", Summary: "HTTP method."},
			{Name: "url", Type: "string", Required: true, Summary: "Absolute URL, or a path joined to the connection's base_url."},
			{Name: "headers", Type: "object", Summary: "Request headers (string, number or boolean values)."},
			{Name: "query", Type: "object", Summary: "Query parameters; an array value repeats the parameter."},
			{Name: "body", Type: "any", Summary: "Request body: a string is sent as is, anything else as JSON."},
			{Name: "json_response", Type: "boolean", Default: true, Summary: "Parse a JSON response body; otherwise the body is a string."},
		},
		Do: request,
	}
}

func request(ctx context.Context, call *connectors.Call) (any, error) {
	if call.Client == nil {
		return nil, connectors.Permanent("invalid_connection", "http.request on connection %q: no client", call.Connection)
	}
	// Call.Params normally has defaults applied already; a direct call
	// (tests, other connectors) gets them here.
	p, err := connectors.ParamDefaults(newRequestAction(), call.Params)
	if err != nil {
		return nil, err
	}
	req, jsonResponse, err := buildRequest(p)
	if err != nil {
		return nil, connectors.Permanent("invalid_params", "http.request: %v", err)
	}
	if req.Method == http.MethodPost || req.Method == http.MethodPatch {
		req.IdempotencyKey = call.IdempotencyKey
	}
	resp, err := call.Client.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	headers := make(map[string]any, len(resp.Header))
	for k, vs := range resp.Header {
		if len(vs) > 0 {
			headers[strings.ToLower(k)] = vs[0]
		}
	}
	var body any = string(resp.Body)
	if jsonResponse {
		body = nil
		if len(resp.Body) > 0 {
			var v any
			if json.Unmarshal(resp.Body, &v) == nil {
				body = v
			} else {
				body = string(resp.Body)
			}
		}
	}
	return map[string]any{"status": resp.Status, "headers": headers, "body": body}, nil
}

func buildRequest(p map[string]any) (req *connectors.Request, jsonResponse bool, err error) {
	method, ok := p["method"].(string)
	if !ok || method == "" || strings.ContainsAny(method, " \t\r\n") {
		return nil, false, fmt.Errorf("method must be an HTTP method name, got %v", p["method"])
	}
	target, ok := p["url"].(string)
	if !ok || target == "" {
		return nil, false, fmt.Errorf("url must be a non-empty string, got %T", p["url"])
	}
	jsonResponse, ok = p["json_response"].(bool)
	if !ok {
		return nil, false, fmt.Errorf("json_response must be a boolean, got %T", p["json_response"])
	}
	req = &connectors.Request{Method: strings.ToUpper(method), Path: target, Header: http.Header{}, Query: url.Values{}}

	if h, ok := p["headers"]; ok && h != nil {
		m, ok := h.(map[string]any)
		if !ok {
			return nil, false, fmt.Errorf("headers must be an object, got %T", h)
		}
		for _, k := range sortedKeys(m) {
			s, ok := scalar(m[k])
			if !ok {
				return nil, false, fmt.Errorf("header %q must be a string, number or boolean, got %T", k, m[k])
			}
			req.Header.Set(k, s)
		}
	}
	if q, ok := p["query"]; ok && q != nil {
		m, ok := q.(map[string]any)
		if !ok {
			return nil, false, fmt.Errorf("query must be an object, got %T", q)
		}
		for _, k := range sortedKeys(m) {
			vals := []any{m[k]}
			if list, ok := m[k].([]any); ok {
				vals = list
			}
			for _, v := range vals {
				s, ok := scalar(v)
				if !ok {
					return nil, false, fmt.Errorf("query parameter %q must be a string, number, boolean or an array of them, got %T", k, v)
				}
				req.Query.Add(k, s)
			}
		}
	}
	switch b := p["body"].(type) {
	case nil:
	case string:
		req.Body = []byte(b)
		if req.Header.Get("Content-Type") == "" {
			req.ContentType = "text/plain; charset=utf-8"
		}
	default:
		req.Body, err = json.Marshal(b)
		if err != nil {
			return nil, false, fmt.Errorf("encoding body as JSON: %v", err)
		}
		if req.Header.Get("Content-Type") == "" {
			req.ContentType = "application/json"
		}
	}
	if jsonResponse && req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	return req, jsonResponse, nil
}

func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool, int, int64, int32, uint, uint64, json.Number:
		return fmt.Sprint(v), true
	}
	return "", false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
