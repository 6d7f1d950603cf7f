// Package easypost is the connector for EasyPost's v2 shipping API: create
// a shipment and get its rates, buy a label, read a tracker, refund a label.
//
// A connection authenticates with the API key as a bearer token
// (`auth: {kind: bearer, token: env:EASYPOST_API_KEY}`), which EasyPost
// accepts as well as basic auth; base_url defaults to DefaultBaseURL.
// Failures that carry EasyPost's error body have the type
// `easypost.<code>` (`easypost.SHIPMENT.INVALID_PARAMS`), others keep the
// client's `http.<status>`; either way 429 and 5xx stay retryable.
package easypost

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/relay-dev/relay/connectors"
)

// DefaultBaseURL is used when the connection has no base_url.
const DefaultBaseURL = "https://api.easypost.com"

// Connector returns the `easypost` connector.
func Connector() *connectors.Connector {
	return &connectors.Connector{
		Name:    "easypost",
		Summary: "Ship parcels with EasyPost: rates, labels, trackers and refunds (API v2).",
		Actions: []*connectors.Action{createShipmentAction(), buyShipmentAction(), getTrackerAction(), refundShipmentAction()},
	}
}

func createShipmentAction() *connectors.Action {
	return &connectors.Action{
		Name:    "create_shipment",
		Summary: "Create a shipment; the output is EasyPost's shipment with its id (shp_…) and rates [{id, carrier, service, rate, currency}].",
		Params: []connectors.Param{
			{Name: "to_address", Type: "object", Required: true, Summary: "Destination address: name, street1, street2, city, state, zip, country, phone, email."},
			{Name: "from_address", Type: "object", Required: true, Summary: "Origin address, same fields as to_address."},
			{Name: "parcel", Type: "object", Required: true, Summary: "Parcel: weight (ounces, required), length, width, height (inches)."},
			{Name: "reference", Type: "string", Summary: "Your reference for the shipment, such as the order ID."},
			{Name: "options", Type: "object", Summary: "EasyPost shipment options (label_format, invoice_number, …)."},
		},
		Do: createShipment,
	}
}

func buyShipmentAction() *connectors.Action {
	return &connectors.Action{
		Name:    "buy_shipment",
		Summary: "Buy a label for a shipment at rate_id, or at its cheapest rate; the output has tracking_code, postage_label.label_url and selected_rate.",
		Params: []connectors.Param{
			{Name: "id", Type: "string", Required: true, Summary: "Shipment ID (shp_…)."},
			{Name: "rate_id", Type: "string", Summary: "Rate to buy (rate_…); empty buys the cheapest rate. A shipment already bought is returned as is."},
		},
		Do: buyShipment,
	}
}

func getTrackerAction() *connectors.Action {
	return &connectors.Action{
		Name:    "get_tracker",
		Summary: "Read the tracker of a tracking code: status, est_delivery_date, tracking_details.",
		Short:   true,
		Params: []connectors.Param{
			{Name: "tracking_code", Type: "string", Required: true, Summary: "The carrier's tracking code."},
			{Name: "carrier", Type: "string", Summary: "Carrier name, to narrow the search."},
		},
		Do: getTracker,
	}
}

func refundShipmentAction() *connectors.Action {
	return &connectors.Action{
		Name:    "refund_shipment",
		Summary: "Ask for a refund of a bought label (compensation); the output is the shipment with refund_status.",
		Params: []connectors.Param{
			{Name: "id", Type: "string", Required: true, Summary: "Shipment ID (shp_…)."},
		},
		Do: refundShipment,
	}
}

func createShipment(ctx context.Context, call *connectors.Call) (any, error) {
	const action = "create_shipment"
	p, err := params(createShipmentAction(), call)
	if err != nil {
		return nil, err
	}
	shipment := map[string]any{}
	for _, name := range []string{"to_address", "from_address", "parcel", "options"} {
		obj, err := p.Object(name)
		if err != nil {
			return nil, err
		}
		if obj != nil {
			shipment[name] = obj
		}
	}
	parcel := shipment["parcel"].(map[string]any)
	for _, dim := range []string{"weight", "length", "width", "height"} {
		v, ok := parcel[dim]
		if !ok || v == nil {
			if dim == "weight" {
				return nil, p.Invalid("parcel.weight is required")
			}
			continue
		}
		f, ok := connectors.ParseNumber(v)
		if !ok {
			return nil, p.Mistyped("parcel."+dim, "a positive number", v)
		}
		if f <= 0 {
			return nil, p.Invalid("parcel.%s must be a positive number, got %v", dim, f)
		}
	}
	reference, err := p.String("reference")
	if err != nil {
		return nil, err
	}
	if reference != "" {
		shipment["reference"] = reference
	}
	return send(ctx, call, action, http.MethodPost, "v2/shipments", nil, map[string]any{"shipment": shipment})
}

func buyShipment(ctx context.Context, call *connectors.Call) (any, error) {
	const action = "buy_shipment"
	p, err := params(buyShipmentAction(), call)
	if err != nil {
		return nil, err
	}
	id, err := p.RequiredString("id")
	if err != nil {
		return nil, err
	}
	rateID, err := p.String("rate_id")
	if err != nil {
		return nil, err
	}
	path := "v2/shipments/" + url.PathEscape(id)
	if rateID == "" {
		shipment, err := send(ctx, call, action, http.MethodGet, path, nil, nil)
		if err != nil {
			return nil, err
		}
		if bought(shipment) {
			return shipment, nil
		}
		if rateID, err = cheapest(action, shipment); err != nil {
			return nil, err
		}
	}
	return send(ctx, call, action, http.MethodPost, path+"/buy", nil, map[string]any{"rate": map[string]any{"id": rateID}})
}

func getTracker(ctx context.Context, call *connectors.Call) (any, error) {
	const action = "get_tracker"
	p, err := params(getTrackerAction(), call)
	if err != nil {
		return nil, err
	}
	code, err := p.RequiredString("tracking_code")
	if err != nil {
		return nil, err
	}
	carrier, err := p.String("carrier")
	if err != nil {
		return nil, err
	}
	q := url.Values{"tracking_code": {code}}
	if carrier != "" {
		q.Set("carrier", carrier)
	}
	list, err := send(ctx, call, action, http.MethodGet, "v2/trackers", q, nil)
	if err != nil {
		return nil, err
	}
	trackers, _ := list["trackers"].([]any)
	for _, t := range trackers {
		if tr, ok := t.(map[string]any); ok && tr["tracking_code"] == code {
			return tr, nil
		}
	}
	return nil, connectors.Permanent("easypost.NOT_FOUND", "easypost %s: no tracker for tracking code %q", action, code)
}

func refundShipment(ctx context.Context, call *connectors.Call) (any, error) {
	const action = "refund_shipment"
	p, err := params(refundShipmentAction(), call)
	if err != nil {
		return nil, err
	}
	id, err := p.RequiredString("id")
	if err != nil {
		return nil, err
	}
	return send(ctx, call, action, http.MethodPost, "v2/shipments/"+url.PathEscape(id)+"/refund", nil, nil)
}

// send calls EasyPost and decodes its JSON object answer. POSTs carry the
// call's idempotency key.
func send(ctx context.Context, call *connectors.Call, action, method, path string, query url.Values, body any) (map[string]any, error) {
	if call.Client == nil {
		return nil, connectors.Permanent("invalid_connection", "easypost %s on connection %q: no client", action, call.Connection)
	}
	if call.Config.BaseURL == "" {
		path = DefaultBaseURL + "/" + path
	}
	req := &connectors.Request{Method: method, Path: path, Query: query, Header: http.Header{"Accept": {"application/json"}}}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, connectors.Permanent("invalid_params", "easypost %s: encoding the request: %v", action, err)
		}
		req.Body, req.ContentType = b, "application/json"
	}
	if method == http.MethodPost {
		req.IdempotencyKey = call.IdempotencyKey
	}
	resp, err := call.Client.Do(ctx, req)
	if err != nil {
		return nil, apiError(call.Client, action, err)
	}
	var out map[string]any
	if err := json.Unmarshal(resp.Body, &out); err != nil || out == nil {
		return nil, connectors.Transient("easypost.invalid_response", "easypost %s: %s %s answered %d with a body that is not a JSON object", action, method, path, resp.Status)
	}
	return out, nil
}

// codeRE is what an EasyPost error code may look like to become part of an
// error type.
var codeRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// apiError gives a failed call whose body is EasyPost's error object the
// type easypost.<code> and a message built from it. Retryable and
// RetryAfter stay as the client classified them.
func apiError(client *connectors.Client, action string, err error) error {
	var body struct {
		Error *struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Errors  []json.RawMessage `json:"errors"`
		} `json:"error"`
	}
	ce, ok := connectors.ErrorBody(err, &body)
	if !ok || body.Error == nil || !codeRE.MatchString(body.Error.Code) {
		return err
	}
	e := body.Error
	msg := fmt.Sprintf("easypost %s: HTTP %d: %s", action, ce.Status, e.Code)
	if e.Message != "" {
		msg += ": " + connectors.Clip(e.Message)
	}
	var fields []string
	for _, raw := range e.Errors {
		var fe struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(raw, &s) == nil:
			fields = append(fields, s)
		case json.Unmarshal(raw, &fe) == nil && fe.Field != "":
			fields = append(fields, fe.Field+": "+fe.Message)
		case json.Unmarshal(raw, &fe) == nil && fe.Message != "":
			fields = append(fields, fe.Message)
		}
	}
	if len(fields) > 0 {
		msg += " (" + connectors.Clip(strings.Join(fields, "; ")) + ")"
	}
	out := *ce
	out.Type = "easypost." + e.Code
	out.Message = client.Redact(msg)
	return &out
}

// bought reports whether a shipment already has a label.
func bought(shipment map[string]any) bool {
	code, _ := shipment["tracking_code"].(string)
	return code != "" || shipment["postage_label"] != nil
}

// cheapest returns the ID of the lowest rate, the first one on a tie.
func cheapest(action string, shipment map[string]any) (string, error) {
	rates, _ := shipment["rates"].([]any)
	best, bestRate := "", math.Inf(1)
	for _, r := range rates {
		rate, ok := r.(map[string]any)
		if !ok {
			continue
		}
		id, _ := rate["id"].(string)
		amount, ok := connectors.ParseNumber(rate["rate"])
		if id == "" || !ok {
			continue
		}
		if amount < bestRate {
			best, bestRate = id, amount
		}
	}
	if best == "" {
		why := "it has no rates"
		if msgs, ok := shipment["messages"].([]any); ok && len(msgs) > 0 {
			b, _ := json.Marshal(msgs)
			why += "; carrier messages: " + string(b)
		}
		return "", connectors.Permanent("easypost.no_rates", "easypost %s: cannot pick the cheapest rate of shipment %v: %s", action, shipment["id"], why)
	}
	return best, nil
}

// params applies the action's defaults (Call.Params normally has them
// already; a direct call, from tests or other connectors, gets them here)
// and returns a reader of the result.
func params(a *connectors.Action, call *connectors.Call) (connectors.Params, error) {
	m, err := connectors.ParamDefaults(a, call.Params)
	return connectors.ReadParams("easypost", a.Name, m), err
}
