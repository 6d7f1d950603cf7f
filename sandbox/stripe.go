package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Stripe, under /stripe: customers, payment intents and refunds shaped like
// api.stripe.com/v1, form-encoded. Any bearer key starting with sk_test_ is
// accepted. Payment methods: pm_card_visa (and any other pm_...) succeed;
// pm_card_chargeDeclined (and pm_card_chargeDeclinedInsufficientFunds,
// ...LostCard, ...StolenCard, ...Fraudulent) decline with card_declined.
// Capturing a payment intent, or confirming one with automatic capture,
// posts a signed payment_intent.succeeded event to StripeWebhookPath.
//
// Parameter errors are answered before the idempotency key is looked at
// and are not stored under it, as Stripe does: only requests that began
// executing are.

// StripeWebhookPath is where Stripe events are posted, under
// Options.WebhookURL.
const StripeWebhookPath = "/hooks/stripe"

// Stripe object kinds in the sandbox state.
const (
	stripeCustomers      = "stripe.customers"
	stripePaymentIntents = "stripe.payment_intents"
	stripeRefunds        = "stripe.refunds"
)

// stripeDeclines maps the test payment methods that decline to their
// decline codes.
var stripeDeclines = map[string]string{
	"pm_card_chargeDeclined":                  "generic_decline",
	"pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
	"pm_card_chargeDeclinedLostCard":          "lost_card",
	"pm_card_chargeDeclinedStolenCard":        "stolen_card",
	"pm_card_chargeDeclinedFraudulent":        "fraudulent",
}

func (s *Server) stripeRoutes() {
	s.addIndex(stripePaymentIntents, "latest_charge", stringKey("latest_charge"))
	s.addIndex(stripeRefunds, "payment_intent", stringKey("payment_intent"))
	s.mux.HandleFunc("POST /stripe/v1/customers", s.stripePost(s.stripeCreateCustomer,
		"email", "name", "description", "phone", "metadata", "expand"))
	s.mux.HandleFunc("POST /stripe/v1/payment_intents", s.stripePost(s.stripeCreatePaymentIntent,
		"amount", "currency", "customer", "payment_method", "capture_method", "confirm", "metadata", "description", "receipt_email", "expand"))
	s.mux.HandleFunc("POST /stripe/v1/payment_intents/{id}/confirm", s.stripePost(s.stripeConfirmPaymentIntent,
		"payment_method", "expand"))
	s.mux.HandleFunc("POST /stripe/v1/payment_intents/{id}/capture", s.stripePost(s.stripeCapturePaymentIntent,
		"amount_to_capture", "expand"))
	s.mux.HandleFunc("POST /stripe/v1/payment_intents/{id}/cancel", s.stripePost(s.stripeCancelPaymentIntent,
		"cancellation_reason", "expand"))
	s.mux.HandleFunc("POST /stripe/v1/refunds", s.stripePost(s.stripeCreateRefund,
		"payment_intent", "charge", "amount", "reason", "metadata", "expand"))
	s.mux.HandleFunc("GET /stripe/v1/payment_intents/{id}", s.stripeRetrievePaymentIntent)
	s.mux.HandleFunc("/stripe/", func(w http.ResponseWriter, r *http.Request) {
		if stripeAuthorized(w, r) {
			stripeWrite(w, &stripeErr{status: http.StatusNotFound, typ: "invalid_request_error",
				message: fmt.Sprintf("Unrecognized request URL (%s: %s).", r.Method, strings.TrimPrefix(r.URL.Path, "/stripe"))})
		}
	})
}

// stripeHandler checks a request's parameters and returns the state change
// to apply, or the error to answer without applying anything.
type stripeHandler func(r *http.Request, f stripeForm) (apply func() (int, any), fail *stripeErr)

// stripePost serves a state-changing endpoint: auth, form decoding,
// parameter checks, then the change under the idempotency key.
func (s *Server) stripePost(h stripeHandler, allowed ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !stripeAuthorized(w, r) {
			return
		}
		body, err := ReadBody(r)
		if err != nil {
			stripeWrite(w, stripeInvalid("", "", "Could not read the request body: %v", err))
			return
		}
		f, fail := parseStripeForm(body)
		if fail == nil {
			fail = f.only(allowed)
		}
		var apply func() (int, any)
		if fail == nil {
			apply, fail = h(r, f)
		}
		if fail != nil {
			stripeWrite(w, fail)
			return
		}
		s.Mutate(w, r, "stripe", body, func() (int, any) {
			s.stripeMu.Lock()
			defer s.stripeMu.Unlock()
			return apply()
		})
	}
}

func stripeAuthorized(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	key, bearer := strings.CutPrefix(h, "Bearer ")
	var msg string
	switch {
	case h == "":
		msg = "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
	case !bearer || !strings.HasPrefix(key, "sk_test_"):
		msg = "Invalid API Key provided. This sandbox accepts any test secret key (sk_test_...) as a bearer token."
	default:
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="Stripe"`)
	stripeWrite(w, &stripeErr{status: http.StatusUnauthorized, typ: "invalid_request_error", message: msg})
	return false
}

func (s *Server) stripeCreateCustomer(r *http.Request, f stripeForm) (func() (int, any), *stripeErr) {
	var fields [4]string
	for i, name := range []string{"email", "name", "description", "phone"} {
		v, fail := f.str(name)
		if fail != nil {
			return nil, fail
		}
		fields[i] = v
	}
	md, fail := f.metadata()
	if fail != nil {
		return nil, fail
	}
	return func() (int, any) {
		c := map[string]any{
			"id": s.NewID("cus"), "object": "customer", "created": time.Now().Unix(), "livemode": false,
			"email": stripeNull(fields[0]), "name": stripeNull(fields[1]), "description": stripeNull(fields[2]), "phone": stripeNull(fields[3]),
			"metadata": md, "balance": 0, "currency": nil, "delinquent": false,
		}
		s.Put(stripeCustomers, c["id"].(string), c)
		s.Count("stripe.customers.created")
		return http.StatusOK, c
	}, nil
}

func (s *Server) stripeCreatePaymentIntent(r *http.Request, f stripeForm) (func() (int, any), *stripeErr) {
	amount, ok, fail := f.integer("amount")
	switch {
	case fail != nil:
		return nil, fail
	case !ok:
		return nil, stripeInvalid("amount", "parameter_missing", "Missing required param: amount.")
	case amount < 1:
		return nil, stripeInvalid("amount", "parameter_invalid_integer", "This value must be greater than or equal to 1.")
	case amount > 99999999:
		return nil, stripeInvalid("amount", "amount_too_large", "Amount must be no more than 99999999 in the currency's smallest unit.")
	}
	currency, fail := f.str("currency")
	switch {
	case fail != nil:
		return nil, fail
	case currency == "":
		return nil, stripeInvalid("currency", "parameter_missing", "Missing required param: currency.")
	case len(currency) != 3 || strings.Trim(strings.ToLower(currency), "abcdefghijklmnopqrstuvwxyz") != "":
		return nil, stripeInvalid("currency", "", "Invalid currency: %s. Use a three-letter ISO currency code such as usd.", currency)
	}
	customer, fail := f.str("customer")
	if fail != nil {
		return nil, fail
	}
	pm, fail := f.paymentMethod()
	if fail != nil {
		return nil, fail
	}
	capture, fail := f.enum("capture_method", "automatic", "automatic", "automatic_async", "manual")
	if fail != nil {
		return nil, fail
	}
	confirm, fail := f.boolean("confirm")
	if fail != nil {
		return nil, fail
	}
	if confirm && pm == "" {
		return nil, stripeInvalid("payment_method", "parameter_missing", "You cannot confirm this PaymentIntent because it's missing a payment method. Pass payment_method.")
	}
	description, fail := f.str("description")
	if fail != nil {
		return nil, fail
	}
	receipt, fail := f.str("receipt_email")
	if fail != nil {
		return nil, fail
	}
	md, fail := f.metadata()
	if fail != nil {
		return nil, fail
	}
	return func() (int, any) {
		if customer != "" && s.view(stripeCustomers, customer) == nil {
			return stripeInvalid("customer", "resource_missing", "No such customer: '%s'", customer).answer()
		}
		id := s.NewID("pi")
		status := "requires_confirmation"
		if pm == "" {
			status = "requires_payment_method"
		}
		pi := map[string]any{
			"id": id, "object": "payment_intent", "created": time.Now().Unix(), "livemode": false,
			"amount": amount, "amount_capturable": 0, "amount_received": 0, "currency": strings.ToLower(currency),
			"customer": stripeNull(customer), "payment_method": stripeNull(pm), "payment_method_types": []string{"card"},
			"capture_method": capture, "confirmation_method": "automatic", "status": status,
			"description": stripeNull(description), "receipt_email": stripeNull(receipt), "metadata": md,
			"client_secret": id + "_secret_sandbox", "latest_charge": nil, "last_payment_error": nil,
			"canceled_at": nil, "cancellation_reason": nil,
		}
		s.Count("stripe.payment_intents.created")
		if confirm {
			return s.stripeConfirm(pi)
		}
		s.Put(stripePaymentIntents, id, pi)
		return http.StatusOK, pi
	}, nil
}

// stripeConfirm charges the intent's payment method: a declining test card
// leaves it requiring a new payment method (402); otherwise it is
// authorized (manual capture) or captured at once.
func (s *Server) stripeConfirm(pi map[string]any) (int, any) {
	id := pi["id"].(string)
	pm, _ := pi["payment_method"].(string)
	if code, declined := stripeDeclines[pm]; declined {
		fail := &stripeErr{status: http.StatusPaymentRequired, typ: "card_error", code: "card_declined", declineCode: code, message: "Your card was declined."}
		pi["status"] = "requires_payment_method"
		pi["payment_method"] = nil
		pi["last_payment_error"] = map[string]any{
			"type": fail.typ, "code": fail.code, "decline_code": code, "message": fail.message,
			"payment_method": map[string]any{"id": pm, "object": "payment_method", "type": "card"},
		}
		s.Put(stripePaymentIntents, id, pi)
		s.Count("stripe.payment_intents.declined")
		fail.paymentIntent = pi
		return fail.answer()
	}
	s.Count("stripe.payment_intents.confirmed")
	pi["latest_charge"] = s.NewID("ch")
	pi["last_payment_error"] = nil
	if pi["capture_method"] == "manual" {
		pi["status"] = "requires_capture"
		pi["amount_capturable"] = pi["amount"]
		s.Put(stripePaymentIntents, id, pi)
		return http.StatusOK, pi
	}
	pi["status"] = "succeeded"
	pi["amount_received"] = pi["amount"]
	s.Put(stripePaymentIntents, id, pi)
	s.Count("stripe.payment_intents.captured")
	s.stripeEvent("payment_intent.succeeded", pi)
	return http.StatusOK, pi
}

func (s *Server) stripeConfirmPaymentIntent(r *http.Request, f stripeForm) (func() (int, any), *stripeErr) {
	id := r.PathValue("id")
	pm, fail := f.paymentMethod()
	if fail != nil {
		return nil, fail
	}
	return func() (int, any) {
		pi := s.Get(stripePaymentIntents, id)
		if pi == nil {
			return stripeMissingIntent(id).answer()
		}
		if st := pi["status"]; st != "requires_confirmation" && st != "requires_payment_method" {
			return stripeUnexpectedState(pi, "You cannot confirm this PaymentIntent because it has a status of %s.", st).answer()
		}
		if pm != "" {
			pi["payment_method"] = pm
		}
		if pi["payment_method"] == nil {
			return stripeInvalid("payment_method", "parameter_missing", "You cannot confirm this PaymentIntent because it's missing a payment method. Pass payment_method.").answer()
		}
		return s.stripeConfirm(pi)
	}, nil
}

func (s *Server) stripeCapturePaymentIntent(r *http.Request, f stripeForm) (func() (int, any), *stripeErr) {
	id := r.PathValue("id")
	toCapture, partial, fail := f.integer("amount_to_capture")
	switch {
	case fail != nil:
		return nil, fail
	case partial && toCapture < 1:
		return nil, stripeInvalid("amount_to_capture", "parameter_invalid_integer", "This value must be greater than or equal to 1.")
	}
	return func() (int, any) {
		pi := s.Get(stripePaymentIntents, id)
		if pi == nil {
			return stripeMissingIntent(id).answer()
		}
		if st := pi["status"]; st != "requires_capture" {
			return stripeUnexpectedState(pi, "This PaymentIntent could not be captured because it has a status of %s. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.", st).answer()
		}
		capturable := stripeInt(pi["amount_capturable"])
		if !partial {
			toCapture = capturable
		}
		if toCapture > capturable {
			return stripeInvalid("amount_to_capture", "amount_too_large", "The amount to capture (%d) is greater than the amount capturable (%d).", toCapture, capturable).answer()
		}
		pi["status"] = "succeeded"
		pi["amount_received"] = toCapture
		pi["amount_capturable"] = 0
		s.Put(stripePaymentIntents, id, pi)
		s.Count("stripe.payment_intents.captured")
		s.stripeEvent("payment_intent.succeeded", pi)
		return http.StatusOK, pi
	}, nil
}

func (s *Server) stripeCancelPaymentIntent(r *http.Request, f stripeForm) (func() (int, any), *stripeErr) {
	id := r.PathValue("id")
	reason, fail := f.enum("cancellation_reason", "", "duplicate", "fraudulent", "requested_by_customer", "abandoned")
	if fail != nil {
		return nil, fail
	}
	return func() (int, any) {
		pi := s.Get(stripePaymentIntents, id)
		if pi == nil {
			return stripeMissingIntent(id).answer()
		}
		switch st := pi["status"]; st {
		case "requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing":
		default:
			return stripeUnexpectedState(pi, "You cannot cancel this PaymentIntent because it has a status of %s. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.", st).answer()
		}
		pi["status"] = "canceled"
		pi["canceled_at"] = time.Now().Unix()
		pi["cancellation_reason"] = stripeNull(reason)
		pi["amount_capturable"] = 0
		s.Put(stripePaymentIntents, id, pi)
		s.Count("stripe.payment_intents.canceled")
		return http.StatusOK, pi
	}, nil
}

func (s *Server) stripeRetrievePaymentIntent(w http.ResponseWriter, r *http.Request) {
	if !stripeAuthorized(w, r) {
		return
	}
	pi := s.view(stripePaymentIntents, r.PathValue("id"))
	if pi == nil {
		stripeWrite(w, stripeMissingIntent(r.PathValue("id")))
		return
	}
	WriteJSON(w, http.StatusOK, pi)
}

func (s *Server) stripeCreateRefund(r *http.Request, f stripeForm) (func() (int, any), *stripeErr) {
	piID, fail := f.str("payment_intent")
	if fail != nil {
		return nil, fail
	}
	charge, fail := f.str("charge")
	switch {
	case fail != nil:
		return nil, fail
	case piID == "" && charge == "":
		return nil, stripeInvalid("", "parameter_missing", "One of the following params should be provided for this request: payment_intent or charge.")
	}
	amount, partial, fail := f.integer("amount")
	switch {
	case fail != nil:
		return nil, fail
	case partial && amount < 1:
		return nil, stripeInvalid("amount", "parameter_invalid_integer", "This value must be greater than or equal to 1.")
	}
	reason, fail := f.enum("reason", "", "duplicate", "fraudulent", "requested_by_customer")
	if fail != nil {
		return nil, fail
	}
	md, fail := f.metadata()
	if fail != nil {
		return nil, fail
	}
	return func() (int, any) {
		var pi map[string]any // read only
		if piID != "" {
			pi = s.view(stripePaymentIntents, piID)
			if pi == nil {
				return stripeInvalid("payment_intent", "resource_missing", "No such payment_intent: '%s'", piID).answer()
			}
		} else {
			found := s.lookup(stripePaymentIntents, "latest_charge", []string{charge}, func(o map[string]any) bool { return o["latest_charge"] == charge })
			if len(found) == 0 {
				return stripeInvalid("charge", "resource_missing", "No such charge: '%s'", charge).answer()
			}
			pi = found[0]
		}
		id := pi["id"].(string)
		if pi["status"] != "succeeded" {
			return stripeUnexpectedState(pi, "This PaymentIntent does not have a successful charge to refund (status %s).", pi["status"]).answer()
		}
		refunded := int64(0)
		for _, re := range s.lookup(stripeRefunds, "payment_intent", []string{id}, func(o map[string]any) bool { return o["payment_intent"] == id }) {
			refunded += stripeInt(re["amount"])
		}
		remaining := stripeInt(pi["amount_received"]) - refunded
		if remaining <= 0 {
			return stripeInvalid("", "charge_already_refunded", "Charge %s has already been refunded.", pi["latest_charge"]).answer()
		}
		if !partial {
			amount = remaining
		}
		if amount > remaining {
			return stripeInvalid("amount", "amount_too_large", "Refund amount (%d) is greater than unrefunded amount on charge (%d).", amount, remaining).answer()
		}
		re := map[string]any{
			"id": s.NewID("re"), "object": "refund", "created": time.Now().Unix(),
			"amount": amount, "currency": pi["currency"], "charge": pi["latest_charge"], "payment_intent": id,
			"reason": stripeNull(reason), "status": "succeeded", "metadata": md,
		}
		s.Put(stripeRefunds, re["id"].(string), re)
		s.Count("stripe.refunds.created")
		return http.StatusOK, re
	}, nil
}

// stripeEvent posts a signed event about obj to the webhook URL.
func (s *Server) stripeEvent(typ string, obj map[string]any) {
	evt := map[string]any{
		"id": s.NewID("evt"), "object": "event", "type": typ, "created": time.Now().Unix(),
		"livemode": false, "pending_webhooks": 1, "data": map[string]any{"object": obj},
	}
	body, err := json.Marshal(evt)
	if err != nil {
		return
	}
	s.Count("stripe.events.created")
	s.PostWebhook(StripeWebhookPath, body, func(body []byte, now time.Time) http.Header {
		return http.Header{"Stripe-Signature": {StripeSignature(s.WebhookSecret(), body, now)}}
	})
}

// StripeSignature is the Stripe-Signature header of a webhook body sent at
// t: `t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>" keyed with secret>`,
// the whole secret string (whsec_...) being the key.
func StripeSignature(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// stripeErr is a Stripe error answer.
type stripeErr struct {
	status                                 int
	typ, code, declineCode, param, message string
	paymentIntent                          map[string]any
}

func (e *stripeErr) answer() (int, any) {
	body := map[string]any{"type": e.typ, "message": e.message}
	for k, v := range map[string]string{"code": e.code, "decline_code": e.declineCode, "param": e.param} {
		if v != "" {
			body[k] = v
		}
	}
	if e.paymentIntent != nil {
		body["payment_intent"] = e.paymentIntent
	}
	return e.status, map[string]any{"error": body}
}

func stripeWrite(w http.ResponseWriter, e *stripeErr) {
	status, body := e.answer()
	WriteJSON(w, status, body)
}

func stripeInvalid(param, code, format string, args ...any) *stripeErr {
	return &stripeErr{status: http.StatusBadRequest, typ: "invalid_request_error", code: code, param: param, message: fmt.Sprintf(format, args...)}
}

func stripeMissingIntent(id string) *stripeErr {
	e := stripeInvalid("intent", "resource_missing", "No such payment_intent: '%s'", id)
	e.status = http.StatusNotFound
	return e
}

func stripeUnexpectedState(pi map[string]any, format string, args ...any) *stripeErr {
	e := stripeInvalid("", "payment_intent_unexpected_state", format, args...)
	e.paymentIntent = pi
	return e
}

// stripeNull is nil for an empty string, as Stripe shows unset fields.
func stripeNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// stripeInt reads an integer back from a stored object (numbers come back
// as float64).
func stripeInt(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case int64:
		return n
	case int:
		return int64(n)
	}
	return 0
}

// stripeForm is a decoded Stripe form: `a[b]=1` is {"a": {"b": "1"}},
// `a[]=1&a[]=2` is {"a": ["1", "2"]}.
type stripeForm map[string]any

func parseStripeForm(body []byte) (stripeForm, *stripeErr) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, stripeInvalid("", "", "Invalid request body: %v", err)
	}
	f := stripeForm{}
	for _, key := range slices.Sorted(maps.Keys(vals)) {
		path, ok := stripeKeyPath(key)
		if !ok {
			return nil, stripeInvalid(key, "", "Invalid parameter name: %s", key)
		}
		for _, v := range vals[key] {
			if !stripeSet(f, path, v) {
				return nil, stripeInvalid(key, "", "Invalid parameter: %s mixes a value, a list and a hash.", key)
			}
		}
	}
	return f, nil
}

// stripeKeyPath splits `a[b][]` into ["a", "b", ""].
func stripeKeyPath(key string) ([]string, bool) {
	name, rest, nested := strings.Cut(key, "[")
	if name == "" {
		return nil, false
	}
	path := []string{name}
	if !nested {
		return path, true
	}
	rest = "[" + rest
	for rest != "" {
		end := strings.IndexByte(rest, ']')
		if rest[0] != '[' || end < 0 {
			return nil, false
		}
		path = append(path, rest[1:end])
		rest = rest[end+1:]
	}
	return path, true
}

func stripeSet(m map[string]any, path []string, v string) bool {
	k := path[0]
	switch {
	case k == "":
		return false
	case len(path) == 1:
		if _, isString := m[k].(string); m[k] != nil && !isString {
			return false
		}
		m[k] = v
		return true
	case len(path) == 2 && path[1] == "":
		list, ok := m[k].([]any)
		if m[k] != nil && !ok {
			return false
		}
		m[k] = append(list, v)
		return true
	}
	child, ok := m[k].(map[string]any)
	if !ok {
		if m[k] != nil {
			return false
		}
		child = map[string]any{}
		m[k] = child
	}
	return stripeSet(child, path[1:], v)
}

// only refuses parameters the endpoint does not know.
func (f stripeForm) only(allowed []string) *stripeErr {
	for _, k := range slices.Sorted(maps.Keys(f)) {
		if !slices.Contains(allowed, k) {
			return stripeInvalid(k, "parameter_unknown", "Received unknown parameter: %s", k)
		}
	}
	return nil
}

func (f stripeForm) str(name string) (string, *stripeErr) {
	switch v := f[name].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	return "", stripeInvalid(name, "", "Invalid string: %s must be a single value.", name)
}

// integer reads an optional integer; ok reports whether it was given.
func (f stripeForm) integer(name string) (n int64, ok bool, fail *stripeErr) {
	s, fail := f.str(name)
	if fail != nil || s == "" {
		return 0, false, fail
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, stripeInvalid(name, "parameter_invalid_integer", "Invalid integer: %s", s)
	}
	return n, true, nil
}

func (f stripeForm) boolean(name string) (bool, *stripeErr) {
	s, fail := f.str(name)
	switch {
	case fail != nil:
		return false, fail
	case s == "" || s == "false":
		return false, nil
	case s == "true":
		return true, nil
	}
	return false, stripeInvalid(name, "", "Invalid boolean: %s", s)
}

func (f stripeForm) enum(name, def string, values ...string) (string, *stripeErr) {
	s, fail := f.str(name)
	switch {
	case fail != nil:
		return "", fail
	case s == "":
		return def, nil
	case slices.Contains(values, s):
		return s, nil
	}
	return "", stripeInvalid(name, "", "Invalid %s: must be one of %s", name, strings.Join(values, ", "))
}

func (f stripeForm) paymentMethod() (string, *stripeErr) {
	pm, fail := f.str("payment_method")
	if fail == nil && pm != "" && !strings.HasPrefix(pm, "pm_") {
		fail = stripeInvalid("payment_method", "resource_missing", "No such PaymentMethod: '%s'", pm)
	}
	return pm, fail
}

func (f stripeForm) metadata() (map[string]any, *stripeErr) {
	switch v := f["metadata"].(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		for k, e := range v {
			if _, ok := e.(string); !ok {
				return nil, stripeInvalid("metadata", "", "Invalid value for metadata[%s]: metadata values must be strings.", k)
			}
		}
		return v, nil
	case string:
		if v == "" {
			return map[string]any{}, nil
		}
	}
	return nil, stripeInvalid("metadata", "", "Invalid object: metadata must be a hash, e.g. metadata[order_id]=123.")
}
