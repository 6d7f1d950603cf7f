package connectors

import (
	"context"
	"encoding/json"
	"net/http"
)

// SendJSON sends req through c with body, unless nil, encoded as JSON, and
// decodes the JSON answer into out. A failed call comes back as Client.Do
// returned it, for the connector to read its partner's error body (see
// ErrorBody). A body that cannot be encoded is invalid_params, an answer
// that does not decode into out `<connector>.invalid_response`; both are
// permanent.
func SendJSON(ctx context.Context, c *Client, connector string, req *Request, body, out any) error {
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Permanent("invalid_params", "%s %s %s: encoding the body: %v", connector, req.Method, req.Path, err)
		}
		req.Body, req.ContentType = b, "application/json"
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return Permanent(connector+".invalid_response", "%s %s %s: answer is not the expected JSON: %v", connector, req.Method, req.Path, err)
	}
	return nil
}

// ErrorBody decodes the JSON body of a partner's failure answer into v.
// ok is false when err is not an *Error with an HTTP status and a body that
// decodes; the connector then returns err as it is.
func ErrorBody(err error, v any) (ce *Error, ok bool) {
	ce, ok = AsError(err)
	if !ok || ce.Status == 0 || len(ce.Body) == 0 || json.Unmarshal(ce.Body, v) != nil {
		return nil, false
	}
	return ce, true
}
