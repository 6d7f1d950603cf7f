package erpnext_test

import (
	"testing"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/conformance"
	"github.com/relay-dev/relay/connectors/erpnext"
)

var items = []any{map[string]any{"item_code": "SKU-RED-MUG", "qty": 2.0, "rate": 12.5}}

const salesOrderJSON = `{"data":{"name":"SAL-ORD-2025-00042","doctype":"Sales Order","docstatus":1,"status":"To Deliver and Bill",` +
	`"customer":"Ada Lovelace","po_no":null,"transaction_date":"2025-03-01","delivery_date":"2025-03-08","currency":"EUR",` +
	`"grand_total":25.0,"items":[{"item_code":"SKU-RED-MUG","qty":2.0,"rate":12.5,"amount":25.0}]}}`

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Suite{
		Connector: erpnext.Connector(),
		Auth:      &connectors.AuthConfig{Kind: connectors.AuthAPIKey, Name: "Authorization", Key: "env:ERPNEXT_TOKEN"},
		Secret:    "token 5e6f0a1b2c3d4e5:9a8b7c6d5e4f3a2",
		Cases: []conformance.Case{
			{
				Action: "upsert_customer",
				Params: map[string]any{"customer_name": "Ada Lovelace"},
				Response: `{"data":{"name":"Ada Lovelace","doctype":"Customer","docstatus":0,"customer_name":"Ada Lovelace",` +
					`"customer_type":"Company","customer_group":"Individual","territory":"All Territories","email_id":null}}`,
				Mutating: true,
			},
			{
				Action:   "create_sales_order",
				Params:   map[string]any{"customer": "Ada Lovelace", "items": items, "delivery_date": "2025-03-08", "currency": "EUR"},
				Response: salesOrderJSON,
				Mutating: true,
			},
			{
				Action: "cancel_sales_order",
				Params: map[string]any{"name": "SAL-ORD-2025-00042"},
				Response: `{"message":{"name":"SAL-ORD-2025-00042","doctype":"Sales Order","docstatus":2,"status":"Cancelled",` +
					`"customer":"Ada Lovelace","grand_total":25.0}}`,
				Mutating: true,
			},
			{
				Action: "create_invoice",
				Params: map[string]any{"customer": "Ada Lovelace", "items": items},
				Response: `{"data":{"name":"ACC-SINV-2025-00007","doctype":"Sales Invoice","docstatus":1,"status":"Unpaid",` +
					`"customer":"Ada Lovelace","posting_date":"2025-03-01","due_date":"2025-03-01","currency":"EUR",` +
					`"grand_total":25.0,"outstanding_amount":25.0}}`,
				Mutating: true,
			},
			{
				Action: "get_invoice",
				Params: map[string]any{"name": "ACC-SINV-2025-00007"},
				Response: `{"data":{"name":"ACC-SINV-2025-00007","doctype":"Sales Invoice","docstatus":1,"status":"Paid",` +
					`"customer":"Ada Lovelace","grand_total":25.0,"outstanding_amount":0.0,` +
					`"items":[{"item_code":"SKU-RED-MUG","qty":2.0,"rate":12.5,"amount":25.0,"sales_order":"SAL-ORD-2025-00042"}]}}`,
			},
		},
	})
}
