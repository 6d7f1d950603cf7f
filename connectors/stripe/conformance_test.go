package stripe_test

import (
	"testing"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/conformance"
	"github.com/relay-dev/relay/connectors/stripe"
)

func TestConformance(t *testing.T) {
	pi := `{"id":"pi_1","object":"payment_intent","status":"requires_capture"}`
	conformance.Run(t, conformance.Suite{
		Connector: stripe.Connector(),
		Auth:      &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:STRIPE_KEY"},
		Secret:    "sk_test_conformance_7c1d",
		Cases: []conformance.Case{
			{Action: "create_customer", Params: map[string]any{"email": "ada@example.com", "metadata": map[string]any{"crm_id": "42"}}, Response: `{"id":"cus_1","object":"customer"}`, Mutating: true},
			{Action: "create_payment_intent", Params: map[string]any{"amount": 2000, "currency": "usd"}, Response: pi, Mutating: true},
			{Action: "confirm_payment_intent", Params: map[string]any{"id": "pi_1"}, Response: pi, Mutating: true},
			{Action: "capture_payment_intent", Params: map[string]any{"id": "pi_1", "amount_to_capture": 1500}, Response: pi, Mutating: true},
			{Action: "cancel_payment_intent", Params: map[string]any{"id": "pi_1"}, Response: pi, Mutating: true},
			{Action: "retrieve_payment_intent", Params: map[string]any{"id": "pi_1"}, Response: pi},
			{Action: "create_refund", Params: map[string]any{"payment_intent": "pi_1", "amount": 500, "reason": "requested_by_customer"}, Response: `{"id":"re_1","object":"refund"}`, Mutating: true},
		},
	})
}
