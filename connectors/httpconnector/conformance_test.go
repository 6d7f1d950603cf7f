package httpconnector_test

import (
	"testing"

	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/conformance"
	"github.com/relay-dev/relay/connectors/httpconnector"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Suite{
		Connector: httpconnector.Connector(),
		Auth:      &connectors.AuthConfig{Kind: connectors.AuthBearer, Token: "env:TOKEN"},
		Secret:    "sk_conformance_5e6f",
		Cases: []conformance.Case{
			{Action: "request", Params: map[string]any{"method": "POST", "url": "/things", "body": map[string]any{"a": 1}}, Mutating: true},
		},
	})
}
