package easypost_test

import (
	"testing"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/conformance"
	"github.com/relay-dev/relay/connectors/easypost"
)

var (
	toAddress = map[string]any{
		"name": "Ada Lovelace", "street1": "417 Montgomery Street", "street2": "Floor 5",
		"city": "San Francisco", "state": "CA", "zip": "94104", "country": "US", "email": "ada@example.com",
	}
	fromAddress = map[string]any{
		"company": "Relay Widgets", "street1": "388 Townsend St", "city": "San Francisco",
		"state": "CA", "zip": "94107", "country": "US", "phone": "4153334444",
	}
	parcel = map[string]any{"length": 20.2, "width": 10.9, "height": 5.0, "weight": 65.9}
)

const shipmentJSON = `{
  "id": "shp_0c4a1b2f", "object": "Shipment", "mode": "test", "reference": "order-1001", "status": "unknown",
  "to_address": {"id": "adr_1", "object": "Address", "city": "San Francisco", "zip": "94104"},
  "from_address": {"id": "adr_2", "object": "Address", "city": "San Francisco", "zip": "94107"},
  "parcel": {"id": "prcl_1", "object": "Parcel", "length": 20.2, "width": 10.9, "height": 5, "weight": 65.9},
  "rates": [
    {"id": "rate_a1", "object": "Rate", "carrier": "USPS", "service": "Priority", "rate": "19.76", "currency": "USD", "shipment_id": "shp_0c4a1b2f"},
    {"id": "rate_b2", "object": "Rate", "carrier": "USPS", "service": "GroundAdvantage", "rate": "12.67", "currency": "USD", "shipment_id": "shp_0c4a1b2f"}
  ],
  "selected_rate": null, "postage_label": null, "tracking_code": null, "refund_status": null, "messages": []
}`

const boughtJSON = `{
  "id": "shp_0c4a1b2f", "object": "Shipment", "mode": "test", "reference": "order-1001", "status": "unknown",
  "selected_rate": {"id": "rate_b2", "object": "Rate", "carrier": "USPS", "service": "GroundAdvantage", "rate": "12.67", "currency": "USD"},
  "postage_label": {"id": "pl_1", "object": "PostageLabel", "label_url": "https://easypost-files.s3.amazonaws.com/files/postage_label/20250101/pl_1.png"},
  "tracking_code": "9400100000000000000000",
  "tracker": {"id": "trk_1", "object": "Tracker", "tracking_code": "9400100000000000000000", "status": "pre_transit"},
  "refund_status": null
}`

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Suite{
		Connector: easypost.Connector(),
		Auth:      &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:EASYPOST_API_KEY"},
		Secret:    "EZTK0123456789abcdef",
		Cases: []conformance.Case{
			{
				Action:   "create_shipment",
				Params:   map[string]any{"to_address": toAddress, "from_address": fromAddress, "parcel": parcel, "reference": "order-1001"},
				Response: shipmentJSON,
				Mutating: true,
			},
			{Action: "buy_shipment", Params: map[string]any{"id": "shp_0c4a1b2f", "rate_id": "rate_b2"}, Response: boughtJSON, Mutating: true},
			{
				Action: "get_tracker",
				Params: map[string]any{"tracking_code": "9400100000000000000000"},
				Response: `{"trackers": [{"id": "trk_1", "object": "Tracker", "mode": "test", "tracking_code": "9400100000000000000000",
				  "status": "in_transit", "carrier": "USPS", "shipment_id": "shp_0c4a1b2f", "est_delivery_date": "2025-01-04T00:00:00Z",
				  "tracking_details": [{"object": "TrackingDetail", "status": "in_transit", "message": "Arrived at facility"}]}], "has_more": false}`,
			},
			{
				Action:   "refund_shipment",
				Params:   map[string]any{"id": "shp_0c4a1b2f"},
				Response: `{"id": "shp_0c4a1b2f", "object": "Shipment", "tracking_code": "9400100000000000000000", "refund_status": "submitted"}`,
				Mutating: true,
			},
		},
	})
}
