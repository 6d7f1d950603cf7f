// Package hubspot is the `hubspot` connector: contacts, deals and
// associations in a CRM shaped like HubSpot CRM v3 (associations v4),
// authenticated with a private-app token as a bearer token.
//
// HubSpot ignores the Idempotency-Key every POST and PATCH carries, so a
// create must be recognised when it is sent again after its answer was
// lost. upsert_contact relies on HubSpot keeping emails unique: a repeat
// is refused with 409 CONFLICT naming the contact, which is then updated.
// create_deal can do the same with unique_property, a deal property the
// account created with unique values (`hasUniqueValue: true`, e.g.
// `relay_key`): the deal stores the step's idempotency key there, a repeat
// is refused with 409 CONFLICT, and the deal made first is then read by
// that property (`idProperty`), not found in the 409's wording. Without
// it, a create_deal whose answer is lost may make a second deal.
//
// Failures whose body is HubSpot's error object
// (`{"status":"error","message","category","correlationId"}`) become errors
// of type `hubspot.<category>` (`hubspot.VALIDATION_ERROR`,
// `hubspot.CONFLICT`, `hubspot.OBJECT_NOT_FOUND`, ...). Whether an error is
// retryable comes from the HTTP status, as for every connector: 429 and 5xx
// keep the client's type (`http.429`, `http.503`) and Retry-After, and 423
// Locked, which HubSpot sends when one record gets too many writes at once,
// is retried after two seconds.
package hubspot

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relay-dev/relay/connectors"
)

// DefaultBaseURL is used when the connection has no base_url.
const DefaultBaseURL = "https://api.hubapi.com"

// Connector returns the `hubspot` connector.
func Connector() *connectors.Connector {
	return &connectors.Connector{
		Name: "hubspot",
		Summary: "HubSpot CRM v3: find and upsert contacts, create deals, associate records. " +
			"Auth: bearer with a private-app token (auth: {kind: bearer, token: env:HUBSPOT_TOKEN}); base_url defaults to " + DefaultBaseURL + ".",
		Actions: []*connectors.Action{
			action(&connectors.Action{
				Name:    "search_contact_by_email",
				Summary: "Find the contact with this email; the output is the contact {id, properties, createdAt, updatedAt} or null.",
				Short:   true,
				Params: []connectors.Param{
					{Name: "email", Type: "string", Required: true, Summary: "Email address to look for (HubSpot compares it case-insensitively)."},
					{Name: "properties", Type: "array", Summary: "Extra property names to return besides email, firstname, lastname and phone."},
				},
			}, searchContactByEmail),
			action(&connectors.Action{
				Name: "upsert_contact",
				Summary: "Create the contact with this email, or update it if HubSpot already has one; " +
					"the output is the contact {id, properties, createdAt, updatedAt, created}.",
				Params: []connectors.Param{
					{Name: "email", Type: "string", Required: true, Summary: "The contact's email, its unique key in HubSpot."},
					{Name: "firstname", Type: "string", Summary: "First name."},
					{Name: "lastname", Type: "string", Summary: "Last name."},
					{Name: "phone", Type: "string", Summary: "Phone number."},
					{Name: "properties", Type: "object", Summary: "Other contact properties by internal name; the named parameters above win."},
				},
			}, upsertContact),
			action(&connectors.Action{
				Name: "create_deal",
				Summary: "Create a deal; the output is the deal {id, properties, createdAt, updatedAt, created}. " +
					"HubSpot ignores idempotency keys: without unique_property, a create sent again after its answer was lost makes a second deal.",
				Params: []connectors.Param{
					{Name: "dealname", Type: "string", Required: true, Summary: "The deal's name."},
					{Name: "amount", Type: "number", Summary: "The deal's amount (a number or a numeric string)."},
					{Name: "pipeline", Type: "string", Default: "default", Summary: "Pipeline ID."},
					{Name: "dealstage", Type: "string", Default: "appointmentscheduled", Summary: "Stage ID within the pipeline."},
					{Name: "properties", Type: "object", Summary: "Other deal properties by internal name; the named parameters above win."},
					{Name: "unique_property", Type: "string", Summary: "Internal name of a deal property created in HubSpot with unique values " +
						"(hasUniqueValue: true), such as relay_key, and set by nothing else: the deal stores the step's idempotency key there, " +
						"so a repeated create is refused by HubSpot and answered with the deal made first, read by that property, created false. Ignored when the call has no idempotency key."},
				},
			}, createDeal),
			action(&connectors.Action{
				Name:    "associate",
				Summary: "Associate two records with HubSpot's default association type (v4); associating twice is harmless.",
				Params: []connectors.Param{
					{Name: "from_type", Type: "string", Required: true, Summary: "Object type of the first record: contacts, deals, companies, ..."},
					{Name: "from_id", Type: "string", Required: true, Summary: "ID of the first record."},
					{Name: "to_type", Type: "string", Required: true, Summary: "Object type of the second record."},
					{Name: "to_id", Type: "string", Required: true, Summary: "ID of the second record."},
				},
			}, associate),
		},
	}
}

// action completes a with a Do that checks the call, applies defaults and
// hands do a reader of the parameters.
func action(a *connectors.Action, do func(ctx context.Context, c *api, p connectors.Params) (any, error)) *connectors.Action {
	a.Do = func(ctx context.Context, call *connectors.Call) (any, error) {
		if call.Client == nil {
			return nil, connectors.Permanent("invalid_connection", "hubspot.%s on connection %q: no client", a.Name, call.Connection)
		}
		p, err := connectors.ParamDefaults(a, call.Params)
		if err != nil {
			return nil, err
		}
		return do(ctx, &api{call: call}, connectors.ReadParams("hubspot", a.Name, p))
	}
	return a
}

// contactProperties are returned by searches besides those asked for.
var contactProperties = []string{"email", "firstname", "lastname", "phone"}

func searchContactByEmail(ctx context.Context, c *api, p connectors.Params) (any, error) {
	email, err := p.RequiredString("email")
	if err != nil {
		return nil, err
	}
	extra, err := p.StringList("properties")
	if err != nil {
		return nil, err
	}
	found, err := c.findContact(ctx, email, append(slices.Clip(contactProperties), extra...), c.call.IdempotencyKey)
	if found == nil || err != nil {
		return nil, err // a nil map would be a typed nil in the output
	}
	return found, nil
}

// findContact returns the oldest contact with the email, or nil.
func (c *api) findContact(ctx context.Context, email string, props []string, key string) (map[string]any, error) {
	body := map[string]any{
		"filterGroups": []any{map[string]any{"filters": []any{
			map[string]any{"propertyName": "email", "operator": "EQ", "value": email},
		}}},
		"properties": props,
		"sorts":      []any{map[string]any{"propertyName": "createdate", "direction": "ASCENDING"}},
		"limit":      1,
	}
	var out struct {
		Results []map[string]any `json:"results"`
	}
	// A search changes nothing; the key only lets the client retry it.
	if err := c.send(ctx, http.MethodPost, "/crm/v3/objects/contacts/search", nil, body, key, &out); err != nil {
		return nil, err
	}
	if len(out.Results) == 0 {
		return nil, nil
	}
	return record(out.Results[0])
}

// existingID finds the ID HubSpot names in a 409 on a contact create that
// repeats an email.
var existingID = regexp.MustCompile(`Existing ID: ?(\d+)`)

// upsertContact creates first and updates on HubSpot's 409 CONFLICT, which
// names the existing contact. Searching first would not be safer: the
// search index lags writes by seconds, so a contact created by an earlier
// attempt may not be found yet, while the uniqueness of emails is enforced
// at once.
func upsertContact(ctx context.Context, c *api, p connectors.Params) (any, error) {
	email, err := p.RequiredString("email")
	if err != nil {
		return nil, err
	}
	props, err := properties(p, "properties")
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"firstname", "lastname", "phone"} {
		v, err := p.String(name)
		if err != nil {
			return nil, err
		}
		if v != "" {
			props[name] = v
		}
	}
	props["email"] = email
	body := map[string]any{"properties": props}

	var created map[string]any
	err = c.send(ctx, http.MethodPost, "/crm/v3/objects/contacts", nil, body, c.call.IdempotencyKey, &created)
	if err == nil {
		return withCreated(created, true)
	}
	ce, ok := connectors.AsError(err)
	if !ok || ce.Type != "hubspot.CONFLICT" {
		return nil, err
	}
	id := ""
	if m := existingID.FindStringSubmatch(ce.Message); m != nil {
		id = m[1]
	} else {
		found, serr := c.findContact(ctx, email, contactProperties, subKey(c.call.IdempotencyKey, "search"))
		if serr != nil {
			return nil, serr
		}
		if found == nil {
			return nil, err
		}
		id = found["id"].(string)
	}
	// The create's key already holds the 409, so the update has its own,
	// derived from it: stable across attempts too.
	var updated map[string]any
	if err := c.send(ctx, http.MethodPatch, "/crm/v3/objects/contacts/"+url.PathEscape(id), nil, body, subKey(c.call.IdempotencyKey, "update"), &updated); err != nil {
		return nil, err
	}
	return withCreated(updated, false)
}

// createDeal creates a deal. HubSpot ignores idempotency keys, so a
// create whose answer was lost (a dropped connection, a timeout, a 502
// after HubSpot saved the deal) and that is sent again, by the client
// within the call or by the activity's next attempt, makes a second deal.
// With unique_property the deal carries the call's idempotency key in a
// property whose values HubSpot keeps unique: the repeated create is then
// refused with a 409, and the deal made first, read by that property, is
// returned instead (created false). The create is not sent as KeyIgnored
// either way: with the property a resend is safe; without it, holding the
// resend back to the next attempt would make the same second deal, only
// later, since there is nothing by which that attempt could find the first.
func createDeal(ctx context.Context, c *api, p connectors.Params) (any, error) {
	props, err := dealProperties(p)
	if err != nil {
		return nil, err
	}
	unique, err := uniqueProperty(p, props)
	if err != nil {
		return nil, err
	}
	key := c.call.IdempotencyKey
	if unique == "" || key == "" {
		unique = "" // without a key there is nothing to recognise a repeat by
	} else {
		props[unique] = key
	}
	var deal map[string]any
	err = c.send(ctx, http.MethodPost, "/crm/v3/objects/deals", nil, map[string]any{"properties": props}, key, &deal)
	if err == nil {
		return withCreated(deal, true)
	}
	if unique == "" {
		return nil, err
	}
	return c.earlierDeal(ctx, err, props, unique, key)
}

// dealProperties returns the properties of a new deal: those of the
// `properties` parameter, overridden by the named parameters.
func dealProperties(p connectors.Params) (map[string]any, error) {
	props, err := properties(p, "properties")
	if err != nil {
		return nil, err
	}
	dealname, err := p.RequiredString("dealname")
	if err != nil {
		return nil, err
	}
	props["dealname"] = dealname
	for _, name := range []string{"pipeline", "dealstage"} {
		v, err := p.String(name)
		if err != nil {
			return nil, err
		}
		if v != "" {
			props[name] = v
		}
	}
	if amount, ok, err := p.Number("amount"); err != nil {
		return nil, err
	} else if ok {
		props["amount"] = strconv.FormatFloat(amount, 'f', -1, 64)
	}
	return props, nil
}

// propertyName is the shape of a HubSpot property's internal name.
var propertyName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// uniqueProperty returns the unique_property parameter, "" when absent. A
// property the call also sets is refused rather than overwritten with the
// key or left to win over it: as with Stripe's Idempotency-Key, which is
// never a field of the object, a user expects the key to be kept apart
// from the record's own data, so either choice would silently lose what
// one of the two parameters asked for (a value, or the protection).
func uniqueProperty(p connectors.Params, props map[string]any) (string, error) {
	name, err := p.String("unique_property")
	if err != nil || name == "" {
		return "", err
	}
	if !propertyName.MatchString(name) {
		return "", p.Invalid("unique_property must be the internal name of a deal property (letters, digits and _, such as relay_key), not its label")
	}
	if _, set := props[name]; set {
		return "", p.Invalid("unique_property %s is also set by the call's other parameters; "+
			"name a property that only holds the idempotency key, or set the property yourself without unique_property", name)
	}
	return name, nil
}

// dealShownProps are returned by a create besides the properties set.
var dealShownProps = []string{"createdate", "hs_lastmodifieddate", "hs_object_id"}

// earlierDeal answers a create refused with createErr. On a 409 the deal
// holding the call's key in the unique property is read by that property
// (`GET /crm/v3/objects/deals/{key}?idProperty={unique}`), not found in the
// 409's message, whose wording HubSpot does not document. If there is one,
// an earlier try of this call created it: it is returned, read with the
// properties the create set, as the create would have returned it, with
// created false. Any other failure is returned as it is, and so is the 409
// when no deal holds the key (another unique property clashed).
func (c *api) earlierDeal(ctx context.Context, createErr error, props map[string]any, unique, key string) (any, error) {
	ce, ok := connectors.AsError(createErr)
	if !ok || ce.Status != http.StatusConflict {
		return nil, createErr
	}
	names := slices.Clone(dealShownProps)
	for name, v := range props {
		if v != "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var deal map[string]any
	query := url.Values{"idProperty": {unique}, "properties": {strings.Join(names, ",")}}
	if err := c.send(ctx, http.MethodGet, "/crm/v3/objects/deals/"+url.PathEscape(key), query, nil, "", &deal); err != nil {
		if ge, ok := connectors.AsError(err); ok && ge.Status == http.StatusNotFound {
			return nil, createErr // no deal holds the key
		}
		return nil, err
	}
	// The read is by the key, but HubSpot documents idProperty reads
	// loosely: a deal that does not hold the key exactly is not this
	// call's.
	if held, _ := deal["properties"].(map[string]any); held[unique] != key {
		return nil, createErr
	}
	return withCreated(deal, false)
}

func associate(ctx context.Context, c *api, p connectors.Params) (any, error) {
	var parts [4]string
	for i, name := range []string{"from_type", "from_id", "to_type", "to_id"} {
		v, err := recordID(p, name)
		if err != nil {
			return nil, err
		}
		parts[i] = url.PathEscape(v)
	}
	path := fmt.Sprintf("/crm/v4/objects/%s/%s/associations/default/%s/%s", parts[0], parts[1], parts[2], parts[3])
	var out map[string]any
	if err := c.send(ctx, http.MethodPut, path, nil, nil, "", &out); err != nil {
		return nil, err
	}
	return out, nil
}

// record is the output shape of a contact or deal.
func record(obj map[string]any) (map[string]any, error) {
	id, ok := obj["id"].(string)
	if !ok || id == "" {
		return nil, connectors.Permanent("hubspot.invalid_response", "hubspot answered without a record id")
	}
	props, _ := obj["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	return map[string]any{"id": id, "properties": props, "createdAt": obj["createdAt"], "updatedAt": obj["updatedAt"]}, nil
}

func withCreated(obj map[string]any, created bool) (any, error) {
	rec, err := record(obj)
	if err != nil {
		return nil, err
	}
	rec["created"] = created
	return rec, nil
}

// subKey derives the idempotency key of a secondary request of an action.
func subKey(key, what string) string {
	if key == "" {
		return ""
	}
	return key + "/" + what
}

// api sends the requests of one call.
type api struct {
	call *connectors.Call
}

// send sends a JSON request and decodes the JSON answer into out. key is
// sent as Idempotency-Key on POST and PATCH.
func (c *api) send(ctx context.Context, method, path string, query url.Values, body any, key string, out any) error {
	req := &connectors.Request{Method: method, Path: path, Query: query}
	if c.call.Config.BaseURL == "" {
		req.Path = DefaultBaseURL + path
	}
	if method == http.MethodPost || method == http.MethodPatch {
		req.IdempotencyKey = key
	}
	if err := connectors.SendJSON(ctx, c.call.Client, "hubspot", req, body, out); err != nil {
		return partnerError(err, method, path)
	}
	return nil
}

// errorBody is HubSpot's error object.
type errorBody struct {
	Status        string `json:"status"`
	Message       string `json:"message"`
	Category      string `json:"category"`
	CorrelationID string `json:"correlationId"`
}

// lockedWait is how long HubSpot asks clients to wait after a 423.
const lockedWait = 2 * time.Second

// partnerError names a failed call by HubSpot's error category. Errors
// without HubSpot's error body are returned unchanged.
func partnerError(err error, method, path string) error {
	var b errorBody
	ce, ok := connectors.ErrorBody(err, &b)
	if !ok || b.Category == "" {
		return err
	}
	out := *ce
	if ce.Status == http.StatusLocked {
		out.Retryable, out.RetryAfter = true, max(ce.RetryAfter, lockedWait)
	}
	if !out.Retryable {
		out.Type = "hubspot." + b.Category
	}
	out.Message = fmt.Sprintf("hubspot %s %s: %d %s: %s", method, path, ce.Status, b.Category, connectors.Clip(cmp.Or(b.Message, "no message")))
	if b.CorrelationID != "" {
		out.Message += " (correlation ID " + b.CorrelationID + ")"
	}
	return &out
}

// recordID returns a required identifier: a non-empty string or an integer.
func recordID(p connectors.Params, name string) (string, error) {
	switch v := p.Any(name).(type) {
	case string:
		if v = strings.TrimSpace(v); v != "" {
			return v, nil
		}
	case float64, int, int64:
		if n, ok := connectors.ParseInt(v); ok {
			return strconv.FormatInt(n, 10), nil
		}
	}
	return "", p.Mistyped(name, "a non-empty string or an integer", p.Any(name))
}

// properties returns an optional object of property values as HubSpot
// stores them: strings (null clears a property).
func properties(p connectors.Params, name string) (map[string]any, error) {
	m, err := p.Object(name)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		if e == nil {
			out[k] = ""
			continue
		}
		s, ok := connectors.ScalarString(e)
		if !ok {
			return nil, p.Mistyped(name+"."+k, "a string, number, boolean or null", e)
		}
		out[k] = s
	}
	return out, nil
}
