package devserver

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	enums "go.temporal.io/api/enums/v1"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "ephemeral", opts: Options{Ephemeral: true}},
		{name: "data dir", opts: Options{DataDir: "/tmp/x", FrontendPort: 7233, FrontendHTTPPort: 7243, UIPort: 8233}},
		{name: "ui disabled", opts: Options{Ephemeral: true, UIPort: UIDisabled}},
		{name: "no data dir", opts: Options{}, want: "data dir is required unless ephemeral"},
		{name: "bad ip", opts: Options{Ephemeral: true, IP: "localhost"}, want: `ip "localhost" is not an IP address`},
		{
			name: "bad ports",
			opts: Options{Ephemeral: true, FrontendPort: -1, FrontendHTTPPort: 70000, UIPort: -2},
			want: "frontend port -1 is out of range 0-65535\n" +
				"frontend http port 70000 is out of range 0-65535\n" +
				"ui port -2 is out of range -1-65535",
		},
		{
			name: "same ports",
			opts: Options{Ephemeral: true, FrontendPort: 7233, FrontendHTTPPort: 7233},
			want: "frontend port and frontend http port are both 7233",
		},
		{
			name: "bad search attribute types",
			opts: Options{Ephemeral: true, SearchAttributes: map[string]enums.IndexedValueType{
				"B": enums.INDEXED_VALUE_TYPE_UNSPECIFIED,
				"A": 99,
			}},
			want: "search attribute \"A\" has invalid type 99\n" +
				"search attribute \"B\" has invalid type 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.withDefaults().validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("validate() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStartReportsPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	_, err = Start(context.Background(), Options{Ephemeral: true, FrontendPort: port, UIPort: UIDisabled})
	want := fmt.Sprintf("frontend port %d is in use", port)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Start error = %v, want it to contain %q", err, want)
	}
}

func TestFreePortsSkipsExcluded(t *testing.T) {
	first, err := freePorts("127.0.0.1", 30, nil)
	if err != nil {
		t.Fatal(err)
	}
	exclude := map[int]bool{}
	for _, p := range first {
		exclude[p] = true
	}
	got, err := freePorts("127.0.0.1", 30, exclude)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range got {
		if exclude[p] || seen[p] {
			t.Fatalf("freePorts gave port %d: excluded or repeated", p)
		}
		seen[p] = true
	}
}

func TestParseDynamicConfigValues(t *testing.T) {
	got, err := ParseDynamicConfigValues([]string{
		"history.transferProcessorMaxPollRPS=200",
		"system.enableEagerWorkflowStart=false",
		"frontend.keepAliveMaxConnectionAge=5m",
		`limit.blobSize.warn={"a": 1}`,
		"ratio = 0.5",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"history.transferProcessorMaxPollRPS": 200,
		"system.enableEagerWorkflowStart":     false,
		"frontend.keepAliveMaxConnectionAge":  "5m",
		"limit.blobSize.warn":                 map[string]any{"a": float64(1)},
		"ratio":                               0.5,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseDynamicConfigValues = %#v, want %#v", got, want)
	}

	_, err = ParseDynamicConfigValues([]string{"no-equals", "=3", "ok=1"})
	if err == nil || !strings.Contains(err.Error(), `"no-equals"`) || !strings.Contains(err.Error(), `"=3"`) || strings.Contains(err.Error(), "ok=1") {
		t.Errorf("error = %v, want both malformed settings named and the good one not", err)
	}
}

func TestVisibilityIndexFor(t *testing.T) {
	for column, want := range map[string]string{
		"Keyword01":  "by_keyword_01",
		"Keyword10":  "by_keyword_10",
		"Datetime03": "by_datetime_03",
		"Bool02":     "by_bool_02",
		"RelayFlow":  "",
	} {
		if got := visibilityIndexFor(column); got != want {
			t.Errorf("visibilityIndexFor(%q) = %q, want %q", column, got, want)
		}
	}
}

// TestResolvePortsAvoidsReserved checks that the ports the server picks
// for itself avoid ports another listener of the process will bind. It
// reserves 6,000 ports that were free a moment ago. Linux hands out the
// even ports of its range (about 14,000) to listeners on port 0, so a
// server ignoring the reservation takes a reserved port with each of its
// six picks about two times in five: this test failed 20 times in 20 with
// the reservation ignored.
func TestResolvePortsAvoidsReserved(t *testing.T) {
	reserved, err := freePorts("127.0.0.1", 6000, nil)
	if err != nil {
		t.Skipf("cannot hold 6,000 listeners here: %v", err)
	}
	p, err := resolvePorts(Options{IP: "127.0.0.1", ReservedPorts: reserved})
	if err != nil {
		t.Fatal(err)
	}
	isReserved := map[int]bool{}
	for _, r := range reserved {
		isReserved[r] = true
	}
	for name, port := range map[string]int{"frontend": p.frontend, "frontend http": p.frontendHTTP, "ui": p.ui, "history": p.history, "matching": p.matching, "worker": p.worker} {
		if isReserved[port] {
			t.Errorf("%s port %d is reserved for another listener", name, port)
		}
	}
}
