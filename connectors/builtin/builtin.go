// Package builtin lists the connectors compiled into relay.
package builtin

import (
	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/easypost"
	"github.com/relay-dev/relay/connectors/erpnext"
	"github.com/relay-dev/relay/connectors/httpconnector"
	"github.com/relay-dev/relay/connectors/hubspot"
	"github.com/relay-dev/relay/connectors/slack"
	"github.com/relay-dev/relay/connectors/smtp"
	"github.com/relay-dev/relay/connectors/stripe"
)

// Registry returns a new registry holding every built-in connector. Adding a
// connector is one line here.
func Registry() *connectors.Registry {
	return new(connectors.Registry).MustRegister(
		httpconnector.Connector(),
		hubspot.Connector(),
		erpnext.Connector(),
		easypost.Connector(),
		slack.Connector(),
		smtp.Connector(),
		stripe.Connector(),
	)
}
