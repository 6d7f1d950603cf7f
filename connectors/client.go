package connectors

// Client is the shared HTTP client (placeholder until the retrying client lands).
type Client struct{}
