package hubspot_test

import (
	"testing"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/conformance"
	"github.com/relay-dev/relay/connectors/hubspot"
)

const contactJSON = `{"id":"512","properties":{"createdate":"2025-03-01T10:00:00.000Z","email":"ada@example.com","firstname":"Ada",` +
	`"hs_object_id":"512","lastmodifieddate":"2025-03-01T10:00:00.000Z","lastname":"Lovelace"},` +
	`"createdAt":"2025-03-01T10:00:00.000Z","updatedAt":"2025-03-01T10:00:00.000Z","archived":false}`

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Suite{
		Connector: hubspot.Connector(),
		Auth:      &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:HUBSPOT_TOKEN"},
		Secret:    "pat-na1-5e6f7a8b-conformance",
		Cases: []conformance.Case{
			{
				Action:   "search_contact_by_email",
				Params:   map[string]any{"email": "ada@example.com"},
				Response: `{"total":1,"results":[` + contactJSON + `]}`,
			},
			{
				Action:   "upsert_contact",
				Params:   map[string]any{"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace"},
				Response: contactJSON,
				Mutating: true,
			},
			{
				Action: "create_deal",
				Params: map[string]any{"dealname": "Order 1001", "amount": 149.9},
				Response: `{"id":"9051","properties":{"amount":"149.9","createdate":"2025-03-01T10:00:01.000Z","dealname":"Order 1001",` +
					`"dealstage":"appointmentscheduled","pipeline":"default","hs_object_id":"9051"},` +
					`"createdAt":"2025-03-01T10:00:01.000Z","updatedAt":"2025-03-01T10:00:01.000Z","archived":false}`,
				Mutating: true,
			},
			{
				// The deal carries the key in a unique property, as well as in
				// the header HubSpot ignores.
				Action: "create_deal",
				Params: map[string]any{"dealname": "Order 1001", "unique_property": "relay_key"},
				Response: `{"id":"9052","properties":{"createdate":"2025-03-01T10:00:01.000Z","dealname":"Order 1001","relay_key":"relay-conformance-key-1",` +
					`"dealstage":"appointmentscheduled","pipeline":"default","hs_object_id":"9052"},` +
					`"createdAt":"2025-03-01T10:00:01.000Z","updatedAt":"2025-03-01T10:00:01.000Z","archived":false}`,
				Mutating: true,
			},
			{
				Action: "associate",
				Params: map[string]any{"from_type": "deals", "from_id": "9051", "to_type": "contacts", "to_id": "512"},
				Response: `{"status":"COMPLETE","results":[{"from":{"id":"9051"},"to":{"id":"512"},` +
					`"associationSpec":{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":3}}],` +
					`"startedAt":"2025-03-01T10:00:02.000Z","completedAt":"2025-03-01T10:00:02.010Z"}`,
			},
		},
	})
}
