package connectors

// Call is one invocation of an action, as the activity hands it over: the
// connection with its secrets already resolved into Client, the evaluated
// `with:` parameters, and the idempotency key for requests that change state.
type Call struct {
	// Connection is the connection's name in the flow, for messages.
	Connection string
	// Config is the connection as declared (secret references, not values).
	Config ConnectionConfig
	// Client sends requests with the connection's base URL, headers and auth.
	Client *Client
	// Params are the evaluated `with:` values, defaults applied.
	Params map[string]any
	// IdempotencyKey is stable across attempts and operator replays of the
	// same step in the same workflow; send it on every POST and PATCH.
	IdempotencyKey string
}
