package cli

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/relay-dev/relay/devserver"
)

func TestDevPortClash(t *testing.T) {
	defaults := devserver.Options{IP: "127.0.0.1", FrontendPort: 7233, UIPort: 8233}
	sandbox := map[string]string{"--http-addr": "127.0.0.1:8080", "--sandbox-addr": "127.0.0.1:9090", "--sandbox-smtp-addr": "127.0.0.1:2525"}
	with := func(base map[string]string, flag, addr string) map[string]string {
		out := maps.Clone(base)
		out[flag] = addr
		return out
	}
	withOpts := func(f func(*devserver.Options)) devserver.Options {
		o := defaults
		f(&o)
		return o
	}
	tests := []struct {
		name  string
		opts  devserver.Options
		addrs map[string]string
		want  string // "" for no clash
	}{
		{"defaults", defaults, sandbox, ""},
		{"http-addr on the frontend port", defaults, with(sandbox, "--http-addr", "127.0.0.1:7233"), "--port and --http-addr both take port 7233 on 127.0.0.1"},
		{"http-addr on the frontend HTTP port", withOpts(func(o *devserver.Options) { o.FrontendHTTPPort = 34313 }), with(sandbox, "--http-addr", "127.0.0.1:34313"),
			"--temporal-http-port and --http-addr both take port 34313 on 127.0.0.1"},
		{"every address overlaps the server's", defaults, with(sandbox, "--http-addr", ":8233"), "--ui-port and --http-addr both take port 8233 on every address"},
		{"0.0.0.0 overlaps too", defaults, with(sandbox, "--http-addr", "0.0.0.0:7233"), "--port and --http-addr both take port 7233 on 0.0.0.0"},
		{"sandbox on relay's port", defaults, with(sandbox, "--sandbox-addr", "127.0.0.1:8080"), "--http-addr and --sandbox-addr both take port 8080"},
		{"another host may take the port", defaults, with(sandbox, "--http-addr", "127.0.0.2:7233"), ""},
		{"a disabled UI takes no port", withOpts(func(o *devserver.Options) { o.UIPort = devserver.UIDisabled }), with(sandbox, "--http-addr", "127.0.0.1:8233"), ""},
		{"port 0 is any free port", withOpts(func(o *devserver.Options) { o.FrontendPort = 0 }), map[string]string{"--http-addr": "127.0.0.1:0"}, ""},
		{"a malformed address is left to its listener", defaults, map[string]string{"--http-addr": "localhost"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := devPortClash(tt.opts, tt.addrs)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("devPortClash = %v, want no clash", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("devPortClash = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestAddrPorts(t *testing.T) {
	got := addrPorts(map[string]string{
		"--http-addr":         "127.0.0.1:8080",
		"--sandbox-addr":      ":9090",
		"--sandbox-smtp-addr": "127.0.0.1:0", // any free port: nothing to reserve
		"--other":             "localhost",   // malformed: its listener reports it
	})
	if want := []int{8080, 9090}; !slices.Equal(got, want) {
		t.Errorf("addrPorts = %v, want %v", got, want)
	}
}
