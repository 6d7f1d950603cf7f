package cli

import "testing"

func TestOnThisMachine(t *testing.T) {
	for address, want := range map[string]bool{
		"127.0.0.1:7233":                 true,
		"[::1]:7233":                     true,
		"localhost:7233":                 true,
		"127.8.9.1:7233":                 true,
		"10.0.0.5:7233":                  false,
		"temporal.example.com:7233":      false,
		"ns.a1b2c.tmprl.cloud:7233":      false,
		"127.0.0.1":                      false, // no port: not a frontend address
		"[fe80::1]:7233":                 false,
		"my-namespace.tmprl.cloud:443":   false,
		"localhost.attacker.example:443": false,
	} {
		if got := onThisMachine(address); got != want {
			t.Errorf("onThisMachine(%q) = %v, want %v", address, got, want)
		}
	}
}
