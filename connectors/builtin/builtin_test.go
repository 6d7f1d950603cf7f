package builtin

import (
	"testing"

	"github.com/relay-dev/relay/connectors"
)

func TestRegistry(t *testing.T) {
	r := Registry()
	for _, name := range []string{"http"} {
		if r.Lookup(name) == nil {
			t.Errorf("built-in connector %q is not registered", name)
		}
	}
	if Registry() == r {
		t.Error("Registry returned the same registry twice")
	}
	if a := r.Lookup("http").Action("request"); a == nil || !a.Short {
		t.Errorf("http.request missing or not Short: %+v", a)
	}
	if got := connectors.ActivityType("http", "request"); got != "http.request" {
		t.Errorf("ActivityType = %q", got)
	}
}
