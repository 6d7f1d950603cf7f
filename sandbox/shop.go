package sandbox

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// DevCredentials are the credentials the bundled flows read from the
// environment, with values the sandbox accepts. `relay dev` sets each one
// that is not already set, so the flows run out of the box.
var DevCredentials = map[string]string{
	// A Slack incoming webhook URL is itself the credential.
	"SLACK_WEBHOOK_URL":     "http://" + DefaultHTTPAddr + "/slack/services/T0RELAY/B0ORDERS/sandbox",
	"HUBSPOT_TOKEN":         "pat-sandbox-relay",
	"ERPNEXT_TOKEN":         "token sandbox:relay",
	"STRIPE_API_KEY":        "sk_test_relay_sandbox",
	"STRIPE_WEBHOOK_SECRET": "whsec_relay_sandbox_stripe",
	"EASYPOST_API_KEY":      "EZTKrelaysandbox",
	"SHOP_WEBHOOK_SECRET":   "whsec_c2FuZGJveC1zaG9wLXNlY3JldC1mb3ItcmVsYXk=",
}

// DefaultHTTPAddr and DefaultSMTPAddr are where relay dev runs the sandbox
// and where the bundled flows call it.
const (
	DefaultHTTPAddr = "127.0.0.1:8090"
	DefaultSMTPAddr = "127.0.0.1:2525"
)

// PointFlow points a bundled flow's YAML at a sandbox listening on
// httpAddr and smtpAddr instead of the default addresses, for tests and
// benchmarks that run their own. A sandbox URL the flow reads from the
// environment (a DevCredentials value, such as SLACK_WEBHOOK_URL) is
// written in place of its reference, pointed the same way.
func PointFlow(yaml, httpAddr, smtpAddr string) string {
	point := strings.NewReplacer(DefaultHTTPAddr, httpAddr, DefaultSMTPAddr, smtpAddr)
	for _, name := range slices.Sorted(maps.Keys(DevCredentials)) {
		if v := DevCredentials[name]; strings.Contains(v, DefaultHTTPAddr) || strings.Contains(v, DefaultSMTPAddr) {
			yaml = strings.ReplaceAll(yaml, "env:"+name, point.Replace(v))
		}
	}
	return point.Replace(yaml)
}

// ShopOrderPath is where the bundled order-to-invoice flow receives the
// shop's order webhooks.
const ShopOrderPath = "/hooks/shop/orders"

// SampleOrder is a shop's `order.created` webhook body, as the bundled
// order-to-invoice flow expects it.
func SampleOrder(orderID, email string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id":   "evt_" + orderID,
		"type": "order.created",
		"data": map[string]any{
			"id":         orderID,
			"created_at": "2026-11-22T09:00:00Z",
			"currency":   "eur",
			"customer":   map[string]any{"email": email, "first_name": "Ada", "last_name": "Lovelace"},
			"lines": []any{
				map[string]any{"sku": "MUG-01", "qty": 2, "price": 12.5},
				map[string]any{"sku": "TEE-42", "qty": 1, "price": 24.0},
			},
			"shipping_address": map[string]any{
				"name": "Ada Lovelace", "street1": "12 St James's Square", "city": "London",
				"zip": "SW1Y 4JH", "country": "GB", "email": email,
			},
		},
	})
	return b
}

// SampleOrderID returns a readable order ID for the n-th sample order.
func SampleOrderID(n int) string { return fmt.Sprintf("order-%04d", n) }
