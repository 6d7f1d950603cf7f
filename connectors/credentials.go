package connectors

import (
	"encoding/base64"
	"strings"
)

// BasicCredentials returns the resolved username and password of a
// connection whose auth kind is basic, for connectors that authenticate
// outside HTTP (SMTP). The password is already known to the redactor.
func (c *Client) BasicCredentials() (username, password string, ok bool) {
	if c == nil || c.auth == nil {
		return "", "", false
	}
	enc, found := strings.CutPrefix(c.auth.header.Get("Authorization"), "Basic ")
	if !found {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(b), ":")
}
