// Package stripe is the payment connector: customers, payment intents
// (authorize, capture, cancel) and refunds on the Stripe API. Requests are
// form-encoded the way Stripe expects, every POST carries the step's
// Idempotency-Key, and Stripe's error bodies become typed errors
// (`stripe.card_declined`, `stripe.rate_limit`, ...).
package stripe

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/relay-dev/relay/connectors"
)

// DefaultBaseURL is used when the connection has no base_url. A base_url
// replaces it and must not end in /v1: requests go to <base>/v1/...
const DefaultBaseURL = "https://api.stripe.com"

// Connector returns the `stripe` connector. Connections authenticate with
// the secret key as a bearer token: `auth: {kind: bearer, token: env:STRIPE_KEY}`.
func Connector() *connectors.Connector {
	return &connectors.Connector{
		Name:    "stripe",
		Summary: "Stripe payments: customers, payment intents (authorize, capture, cancel) and refunds.",
		Actions: []*connectors.Action{
			action("create_customer", "Create a customer.", http.MethodPost, "/v1/customers", false,
				connectors.Param{Name: "email", Type: "string", Summary: "The customer's email address."},
				connectors.Param{Name: "name", Type: "string", Summary: "The customer's full name or business name."},
				metadataParam,
			),
			action("create_payment_intent", "Create a payment intent and, by default, confirm it: with manual capture the amount is authorized, to be captured later.", http.MethodPost, "/v1/payment_intents", false,
				connectors.Param{Name: "amount", Type: "integer", Required: true, Summary: "Amount in the currency's smallest unit (cents for usd)."},
				connectors.Param{Name: "currency", Type: "string", Required: true, Summary: "Three-letter ISO currency code, e.g. usd."},
				connectors.Param{Name: "customer", Type: "string", Summary: "ID of the customer (cus_...) the payment belongs to."},
				connectors.Param{Name: "payment_method", Type: "string", Default: "pm_card_visa", Summary: "ID of the payment method to charge; the default is Stripe's test Visa card."},
				connectors.Param{Name: "capture_method", Type: "string", Default: "manual", Summary: "manual (authorize now, capture later), automatic or automatic_async."},
				connectors.Param{Name: "confirm", Type: "boolean", Default: true, Summary: "Confirm the intent at once with payment_method."},
				metadataParam,
				connectors.Param{Name: "description", Type: "string", Summary: "Arbitrary text shown in the Stripe dashboard."},
			),
			action("confirm_payment_intent", "Confirm a payment intent with its payment method.", http.MethodPost, "/v1/payment_intents/{id}/confirm", false, idParam),
			action("capture_payment_intent", "Capture the funds of an authorized payment intent (status requires_capture).", http.MethodPost, "/v1/payment_intents/{id}/capture", false,
				idParam,
				connectors.Param{Name: "amount_to_capture", Type: "integer", Summary: "Amount to capture, at most the authorized amount; default all of it."},
			),
			action("cancel_payment_intent", "Cancel a payment intent that is not yet captured, releasing the authorization.", http.MethodPost, "/v1/payment_intents/{id}/cancel", false, idParam),
			action("retrieve_payment_intent", "Fetch a payment intent.", http.MethodGet, "/v1/payment_intents/{id}", true, idParam),
			action("create_refund", "Refund a captured payment intent, in full or in part.", http.MethodPost, "/v1/refunds", false,
				connectors.Param{Name: "payment_intent", Type: "string", Required: true, Summary: "ID of the payment intent (pi_...) to refund."},
				connectors.Param{Name: "amount", Type: "integer", Summary: "Amount to refund in the smallest currency unit; default what remains."},
				connectors.Param{Name: "reason", Type: "string", Summary: "duplicate, fraudulent or requested_by_customer."},
			),
		},
	}
}

var (
	idParam       = connectors.Param{Name: "id", Type: "string", Required: true, Summary: "ID of the payment intent (pi_...)."}
	metadataParam = connectors.Param{Name: "metadata", Type: "object", Summary: "Key-value pairs stored on the object (string, number or boolean values)."}
)

// action builds an action that sends its params (all but id, which goes
// into the path) as Stripe form fields and returns the Stripe object.
func action(name, summary, method, path string, short bool, params ...connectors.Param) *connectors.Action {
	a := &connectors.Action{Name: name, Summary: summary, Short: short, Params: params}
	a.Do = func(ctx context.Context, call *connectors.Call) (any, error) {
		if call.Client == nil {
			return nil, connectors.Permanent("invalid_connection", "stripe.%s on connection %q: no client", name, call.Connection)
		}
		p, err := connectors.ParamDefaults(a, call.Params)
		if err != nil {
			return nil, err
		}
		target, form, err := buildRequest(a, path, p)
		if err != nil {
			return nil, err
		}
		return send(ctx, call, method, target, form)
	}
	return a
}

func buildRequest(a *connectors.Action, path string, m map[string]any) (string, map[string]any, error) {
	p := connectors.ReadParams("stripe", a.Name, m)
	known := map[string]bool{}
	form := map[string]any{}
	for _, spec := range a.Params {
		known[spec.Name] = true
		v, err := typed(p, spec)
		if err != nil {
			return "", nil, err
		}
		if v == nil {
			continue
		}
		if spec.Name == "id" {
			path = strings.Replace(path, "{id}", url.PathEscape(v.(string)), 1)
			continue
		}
		form[spec.Name] = v
	}
	for _, k := range sortedKeys(m) {
		if !known[k] {
			return "", nil, p.Invalid("unknown parameter %q", k)
		}
	}
	return path, form, nil
}

// typed reads a param as its spec's type and normalizes it: integers
// become int64, metadata values strings. Absent or null is nil.
func typed(p connectors.Params, spec connectors.Param) (any, error) {
	if p.Any(spec.Name) == nil {
		return nil, nil
	}
	switch spec.Type {
	case "string":
		if spec.Required {
			return p.RequiredString(spec.Name)
		}
		return p.String(spec.Name)
	case "integer":
		n, _, err := p.Int(spec.Name)
		return n, err
	case "boolean":
		b, _, err := p.Bool(spec.Name)
		return b, err
	case "object":
		m, err := p.Object(spec.Name)
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			s, ok := connectors.ScalarString(e)
			if !ok {
				return nil, p.Mistyped(spec.Name+"["+k+"]", "a string, number or boolean", e)
			}
			out[k] = s
		}
		return out, nil
	}
	return p.Any(spec.Name), nil
}

// send sends one request to Stripe and returns the object it answered.
func send(ctx context.Context, call *connectors.Call, method, path string, form map[string]any) (any, error) {
	req := &connectors.Request{
		Method: method,
		Path:   strings.TrimRight(cmp.Or(call.Config.BaseURL, DefaultBaseURL), "/") + path,
		Header: http.Header{"Accept": {"application/json"}},
	}
	if method == http.MethodPost {
		body, err := encodeForm(form)
		if err != nil {
			return nil, connectors.Permanent("invalid_params", "stripe %s %s: %v", method, path, err)
		}
		req.Body = []byte(body)
		req.ContentType = "application/x-www-form-urlencoded"
		req.IdempotencyKey = call.IdempotencyKey
	}
	resp, err := call.Client.Do(ctx, req)
	if err != nil {
		return nil, stripeError(method, path, err)
	}
	var out map[string]any
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		// Not Stripe answering (a proxy's page?); the request carried its
		// idempotency key, so another attempt is safe.
		return nil, connectors.Transient("stripe.invalid_response", "stripe %s %s: %d answer is not a JSON object: %v", method, path, resp.Status, err)
	}
	return out, nil
}

// apiError is the `error` object of Stripe's failure bodies.
type apiError struct {
	Type        string `json:"type"`
	Code        string `json:"code"`
	DeclineCode string `json:"decline_code"`
	Message     string `json:"message"`
	Param       string `json:"param"`
}

// stripeError reads Stripe's error body, if err carries one, into an error
// of type stripe.<code> (or stripe.<type> when there is no code). Card
// errors and invalid requests are permanent; API errors, rate limits, lock
// timeouts and concurrent uses of an idempotency key are retryable. Other
// errors (no body, not Stripe's shape) are returned as they are.
func stripeError(method, path string, err error) error {
	var body struct {
		Error *apiError `json:"error"`
	}
	ce, ok := connectors.ErrorBody(err, &body)
	if !ok || body.Error == nil || (body.Error.Type == "" && body.Error.Code == "") {
		return err
	}
	e := body.Error
	retryable := false
	switch {
	case ce.Status >= 500, e.Type == "api_error":
		retryable = true
	case ce.Status == http.StatusTooManyRequests, e.Type == "rate_limit_error", e.Code == "rate_limit", e.Code == "lock_timeout":
		retryable = true
	case ce.Status == http.StatusConflict, e.Code == "idempotency_key_in_use":
		retryable = true // another request with the same key is in flight
	}
	msg := fmt.Sprintf("stripe %s %s: %d %s", method, path, ce.Status, cmp.Or(e.Type, "error"))
	var details []string
	if e.Code != "" {
		details = append(details, "code "+e.Code)
	}
	if e.DeclineCode != "" {
		details = append(details, "decline_code "+e.DeclineCode)
	}
	if e.Param != "" {
		details = append(details, "param "+e.Param)
	}
	if len(details) > 0 {
		msg += " (" + strings.Join(details, ", ") + ")"
	}
	if e.Message != "" {
		msg += ": " + connectors.Clip(e.Message)
	}
	out := &connectors.Error{
		Type:      "stripe." + cmp.Or(e.Code, e.Type),
		Retryable: retryable,
		Status:    ce.Status,
		Message:   msg,
		Body:      ce.Body,
	}
	if retryable {
		out.RetryAfter = ce.RetryAfter
	}
	return out
}

// encodeForm encodes params the way Stripe reads forms: nested objects as
// `metadata[key]=v`, lists of scalars as `expand[]=x`, lists of objects as
// `items[0][price]=p`. Keys are sorted at every level so the same params
// always give the same body (the partner compares bodies under one
// idempotency key). Nil values are left out; brackets are not escaped.
func encodeForm(params map[string]any) (string, error) {
	var b strings.Builder
	if err := encodeValue(&b, "", params); err != nil {
		return "", err
	}
	return b.String(), nil
}

func encodeValue(b *strings.Builder, key string, v any) error {
	switch v := v.(type) {
	case nil:
		return nil
	case map[string]any:
		for _, k := range sortedKeys(v) {
			sub := url.QueryEscape(k)
			if key != "" {
				sub = key + "[" + sub + "]"
			}
			if err := encodeValue(b, sub, v[k]); err != nil {
				return err
			}
		}
		return nil
	case []any:
		indexed := false
		for _, e := range v {
			switch e.(type) {
			case map[string]any, []any:
				indexed = true
			}
		}
		for i, e := range v {
			sub := key + "[]"
			if indexed {
				sub = key + "[" + strconv.Itoa(i) + "]"
			}
			if err := encodeValue(b, sub, e); err != nil {
				return err
			}
		}
		return nil
	}
	if key == "" {
		return fmt.Errorf("cannot encode a %T as a form", v)
	}
	s, ok := connectors.ScalarString(v)
	if !ok {
		return fmt.Errorf("%s: cannot encode a %T as a form value", key, v)
	}
	if b.Len() > 0 {
		b.WriteByte('&')
	}
	b.WriteString(key)
	b.WriteByte('=')
	b.WriteString(url.QueryEscape(s))
	return nil
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}
