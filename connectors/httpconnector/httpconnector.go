// Package httpconnector is the generic HTTP connector: one action that
// sends any request through the connection's client, for partner APIs that
// have no connector of their own.
package httpconnector

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
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
		return nil, err
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

// buildRequest checks the parameters and builds the request; its errors
// are invalid_params.
func buildRequest(params map[string]any) (req *connectors.Request, jsonResponse bool, err error) {
	p := connectors.ReadParams("http", "request", params)
	method, err := p.RequiredString("method")
	if err != nil {
		return nil, false, err
	}
	if strings.ContainsAny(method, " \t\r\n") {
		return nil, false, p.Invalid("method must be an HTTP method name, got %q", method)
	}
	target, err := p.RequiredString("url")
	if err != nil {
		return nil, false, err
	}
	jsonResponse, ok, err := p.Bool("json_response")
	if err != nil {
		return nil, false, err
	}
	jsonResponse = jsonResponse || !ok // absent only without ParamDefaults; the default is true
	req = &connectors.Request{Method: strings.ToUpper(method), Path: target, Header: http.Header{}, Query: url.Values{}}

	headers, err := p.Object("headers")
	if err != nil {
		return nil, false, err
	}
	for _, k := range slices.Sorted(maps.Keys(headers)) {
		s, ok := connectors.ScalarString(headers[k])
		if !ok {
			return nil, false, p.Mistyped(fmt.Sprintf("header %q", k), "a string, number or boolean", headers[k])
		}
		req.Header.Set(k, s)
	}
	query, err := p.Object("query")
	if err != nil {
		return nil, false, err
	}
	for _, k := range slices.Sorted(maps.Keys(query)) {
		vals := []any{query[k]}
		if list, ok := query[k].([]any); ok {
			vals = list
		}
		for _, v := range vals {
			s, ok := connectors.ScalarString(v)
			if !ok {
				return nil, false, p.Mistyped(fmt.Sprintf("query parameter %q", k), "a string, number, boolean or an array of them", v)
			}
			req.Query.Add(k, s)
		}
	}
	switch b := p.Any("body").(type) {
	case nil:
	case string:
		req.Body = []byte(b)
		if req.Header.Get("Content-Type") == "" {
			req.ContentType = "text/plain; charset=utf-8"
		}
	default:
		req.Body, err = json.Marshal(b)
		if err != nil {
			return nil, false, p.Invalid("encoding body as JSON: %v", err)
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
