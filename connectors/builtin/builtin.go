// Package builtin lists the connectors compiled into relay.
package builtin

import (
	"github.com/relay-dev/relay/connectors"
	"github.com/relay-dev/relay/connectors/httpconnector"
)

// Registry returns a new registry holding every built-in connector. Adding a
// connector is one line here.
func Registry() *connectors.Registry {
	return new(connectors.Registry).MustRegister(
		httpconnector.Connector(),
	)
}
