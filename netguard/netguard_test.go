package netguard

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// No test here sends a packet outside 127.0.0.0/8: addresses outside it
// are only checked (Check), or dialed under a policy that refuses them
// before a socket connects, with a resolver that never leaves the process.

func TestCheck(t *testing.T) {
	var (
		none    = &Policy{}
		private = &Policy{AllowPrivate: true}
		listed  = &Policy{Allow: []string{"api.example.com", "*.partner.test:443", "10.1.0.0/16", "127.0.0.1:8090", "203.0.113.7", "[fd00::5]:443"}}
		meta    = &Policy{Allow: []string{"169.254.169.254/32"}}
	)
	tests := []struct {
		host, addr                  string
		none, private, listed, meta bool
		reason                      string // of the refusal by none
	}{
		{"", "127.0.0.1:80", false, true, false, false, "loopback"},
		{"", "127.8.9.10:80", false, true, false, false, "loopback"},
		{"", "127.0.0.1:8090", false, true, true, false, "loopback"},
		{"", "[::1]:80", false, true, false, false, "loopback"},
		{"", "[::ffff:127.0.0.1]:80", false, true, false, false, "loopback"},
		{"", "[2002:7f00:1::1]:80", false, true, false, false, "loopback"}, // 6to4 of 127.0.0.1
		{"", "10.0.0.1:443", false, true, false, false, "private"},
		{"", "10.1.2.3:443", false, true, true, false, "private"},
		{"", "172.16.5.4:80", false, true, false, false, "private"},
		{"", "172.31.255.255:80", false, true, false, false, "private"},
		{"", "192.168.1.1:80", false, true, false, false, "private"},
		{"", "100.64.1.1:80", false, true, false, false, "private"},
		{"", "[fd12:3456::1]:80", false, true, false, false, "private"},
		{"", "[fd00::5]:443", false, true, true, false, "private"},
		{"", "[fd00::5]:80", false, true, false, false, "private"},
		{"", "169.254.169.254:80", false, false, false, true, "cloud metadata"},
		{"", "[::ffff:169.254.169.254]:80", false, false, false, true, "cloud metadata"},
		{"", "[64:ff9b::a9fe:a9fe]:80", false, false, false, false, "cloud metadata"}, // NAT64 of it
		{"", "[fd00:ec2::254]:80", false, false, false, false, "cloud metadata"},
		{"", "100.100.100.200:80", false, false, false, false, "cloud metadata"},
		{"", "169.254.1.1:80", false, false, false, false, "link-local"},
		{"", "[fe80::1]:80", false, false, false, false, "link-local"},
		{"", "[fe80::1%eth0]:80", false, false, false, false, "link-local"},
		{"", "0.0.0.0:80", false, false, false, false, "unspecified"},
		{"", "[::]:80", false, false, false, false, "unspecified"},
		{"", "224.0.0.1:80", false, false, false, false, "multicast"},
		{"", "[ff02::1]:80", false, false, false, false, "multicast"},
		{"", "255.255.255.255:80", false, false, false, false, "reserved"},
		{"", "203.0.113.7:443", false, false, true, false, "reserved"},
		{"", "8.8.8.8:443", true, true, false, false, ""},
		{"", "172.32.0.1:443", true, true, false, false, ""},
		{"", "[2606:4700:4700::1111]:443", true, true, false, false, ""},
		// Names: an entry allows the name, never a special address behind it.
		{"api.example.com", "93.184.216.34:443", true, true, true, false, ""},
		{"API.Example.COM.", "93.184.216.34:8443", true, true, true, false, ""},
		{"api.example.com", "10.0.0.5:443", false, true, false, false, "private"},
		{"api.example.com", "169.254.169.254:80", false, false, false, true, "cloud metadata"},
		{"x.partner.test", "8.8.4.4:443", true, true, true, false, ""},
		{"a.b.partner.test", "8.8.4.4:443", true, true, true, false, ""},
		{"x.partner.test", "8.8.4.4:80", true, true, false, false, ""},
		{"partner.test", "8.8.4.4:443", true, true, false, false, ""},
		{"evilpartner.test", "8.8.4.4:443", true, true, false, false, ""},
	}
	for _, tc := range tests {
		addr := netip.MustParseAddrPort(tc.addr)
		for _, p := range []struct {
			name   string
			policy *Policy
			want   bool
		}{{"none", none, tc.none}, {"private", private, tc.private}, {"listed", listed, tc.listed}, {"meta", meta, tc.meta}} {
			err := p.policy.Check(tc.host, addr)
			if (err == nil) != p.want {
				t.Errorf("%s policy, %s → %s: got %v, want allowed=%v", p.name, tc.host, tc.addr, err, p.want)
				continue
			}
			if err == nil {
				continue
			}
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Errorf("%s policy, %s: %T is not a *RefusedError", p.name, tc.addr, err)
			}
			if ip := addr.Addr().Unmap().WithZone("").String(); !strings.Contains(err.Error(), ip) {
				t.Errorf("%s policy, %s: error %q does not name %s", p.name, tc.addr, err, ip)
			}
		}
		if !tc.none {
			if err := none.Check(tc.host, addr); err == nil || !strings.Contains(err.Error(), tc.reason+" address") {
				t.Errorf("%s: error %v, want reason %q", tc.addr, err, tc.reason)
			}
		}
	}
	if err := listed.Check("other.example.com", netip.MustParseAddrPort("93.184.216.34:443")); err == nil ||
		err.Error() != "network policy refuses 93.184.216.34:443 (other.example.com): not in the allowlist" {
		t.Errorf("message: %v", err)
	}
	var nilPolicy *Policy
	if err := nilPolicy.Check("", netip.MustParseAddrPort("169.254.169.254:80")); err != nil {
		t.Errorf("nil policy refused: %v", err)
	}
}

func TestValidate(t *testing.T) {
	good := []string{"example.com", "Example.COM.", "example.com:8443", "*.example.com", "*.example.com:443",
		"10.0.0.0/8", "fd00::/8", "::ffff:10.0.0.0/104", "1.2.3.4", "1.2.3.4:80", "[::1]:8090", "::1", "my_host.internal"}
	if err := (&Policy{Allow: good}).Validate(); err != nil {
		t.Errorf("valid entries: %v", err)
	}
	for _, bad := range []string{"", "*", "*.", "a..b", "10.0.0.0/33", "10.0.0.0/", "host:0", "host:99999", "host:http",
		"bad host", "http://example.com", "-a.example.com", "ex*ample.com", "a.*.example.com"} {
		err := (&Policy{Allow: []string{bad}}).Validate()
		if err == nil {
			t.Errorf("%q: no error", bad)
			continue
		}
		if !strings.Contains(err.Error(), `allow entry "`+bad+`"`) {
			t.Errorf("%q: error %q does not name the entry", bad, err)
		}
	}
	// A dial under an invalid policy fails with the same error.
	p := &Policy{Allow: []string{"10.0.0.0/33"}}
	if _, err := p.DialContext(context.Background(), "tcp", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "10.0.0.0/33") {
		t.Errorf("dial under invalid policy: %v", err)
	}
}

// server is a loopback HTTP server that counts the connections it accepts.
type server struct {
	*httptest.Server
	conns atomic.Int32
}

func newServer(t *testing.T, h http.Handler) *server {
	t.Helper()
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	}
	s := &server{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *server) hostPort() string { return strings.TrimPrefix(s.URL, "http://") }

// resolver answers every A query with 127.0.0.1 from inside the process;
// no DNS query ever leaves it.
func resolver(t *testing.T) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		client, srv := net.Pipe()
		go serveDNS(srv, [4]byte{127, 0, 0, 1})
		return client, nil
	}}
}

// serveDNS answers DNS queries over a stream (2-byte length prefix): A
// with ip, anything else with no answer.
func serveDNS(c net.Conn, ip [4]byte) {
	defer c.Close()
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, q); err != nil || len(q) < 12 {
			return
		}
		end := 12
		for end < len(q) && q[end] != 0 {
			end += int(q[end]) + 1
		}
		end += 5 // root label, type, class
		if end > len(q) {
			return
		}
		qtype := binary.BigEndian.Uint16(q[end-4:])
		resp := append([]byte{}, q[:2]...)          // ID
		resp = append(resp, 0x81, 0x80, 0, 1, 0, 0) // response, RD, RA; 1 question
		if qtype == 1 {
			resp[7] = 1 // one answer
		}
		resp = append(resp, 0, 0, 0, 0) // no authority, no additional
		resp = append(resp, q[12:end]...)
		if qtype == 1 {
			resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
			resp = append(resp, ip[:]...)
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

func TestDialContext(t *testing.T) {
	srv := newServer(t, nil)
	_, port, _ := net.SplitHostPort(srv.hostPort())
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		t.Error("a refused name was resolved")
		return nil, errors.New("no DNS in this test")
	}}
	fakeDNS := resolver(t)
	dialer := func(r *net.Resolver) *net.Dialer { return &net.Dialer{Timeout: 5 * time.Second, Resolver: r} }
	tests := []struct {
		name    string
		policy  *Policy
		address string
		refused string // "" when the dial must connect
	}{
		{"loopback refused", &Policy{Dialer: dialer(noDNS)}, srv.hostPort(), "loopback address"},
		{"loopback allowed as private", &Policy{AllowPrivate: true, Dialer: dialer(noDNS)}, srv.hostPort(), ""},
		{"listed with its port", &Policy{Allow: []string{srv.hostPort()}, Dialer: dialer(noDNS)}, srv.hostPort(), ""},
		{"listed by CIDR", &Policy{Allow: []string{"127.0.0.0/8"}, Dialer: dialer(noDNS)}, srv.hostPort(), ""},
		{"listed on another port", &Policy{Allow: []string{"127.0.0.1:1"}, Dialer: dialer(noDNS)}, srv.hostPort(), "not in the allowlist"},
		{"unlisted name not resolved", &Policy{Allow: []string{"api.example.com"}, Dialer: dialer(noDNS)}, "other.example.com:" + port, "not in the allowlist"},
		{"metadata", &Policy{AllowPrivate: true, Dialer: dialer(noDNS)}, "169.254.169.254:80", "cloud metadata address"},
		{"private", &Policy{Dialer: dialer(noDNS)}, "10.0.0.1:80", "private address"},
		{"link-local v6", &Policy{AllowPrivate: true, Dialer: dialer(noDNS)}, "[fe80::1]:80", "link-local address"},
		{"unix socket", &Policy{AllowPrivate: true, Dialer: dialer(noDNS)}, "/tmp/x.sock", "network unix is not allowed"},
		// rebind.test resolves to 127.0.0.1: checked after resolution.
		{"name resolving to loopback", &Policy{Dialer: dialer(fakeDNS)}, "rebind.test:" + port, "(rebind.test): loopback address"},
		{"listed name resolving to loopback", &Policy{Allow: []string{"rebind.test"}, Dialer: dialer(fakeDNS)}, "rebind.test:" + port, "(rebind.test): loopback address"},
		{"listed name, private allowed", &Policy{Allow: []string{"rebind.test"}, AllowPrivate: true, Dialer: dialer(fakeDNS)}, "rebind.test:" + port, ""},
		{"name, resolved address listed", &Policy{Allow: []string{"127.0.0.1/32"}, Dialer: dialer(fakeDNS)}, "rebind.test:" + port, ""},
	}
	allowed := int32(0)
	for _, tc := range tests {
		if tc.refused == "" {
			allowed++
		}
		t.Run(tc.name, func(t *testing.T) {
			network := "tcp"
			if strings.HasPrefix(tc.address, "/") {
				network = "unix"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := tc.policy.DialContext(ctx, network, tc.address)
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("dial %s: %v", tc.address, err)
				}
				conn.Close()
				return
			}
			if err == nil {
				conn.Close()
				t.Fatalf("dial %s connected, want refused", tc.address)
			}
			if !IsRefused(err) || !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("error %q: want a refusal containing %q", err, tc.refused)
			}
		})
	}
	// Only the allowed dials reached the server. Its count lags the dials a
	// little: wait for it, then make sure no more arrive.
	for deadline := time.Now().Add(2 * time.Second); srv.conns.Load() < allowed && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if n := srv.conns.Load(); n != allowed {
		t.Errorf("server accepted %d connections, want %d (one per allowed dial)", n, allowed)
	}
}

func TestDialerControlChained(t *testing.T) {
	srv := newServer(t, nil)
	var called atomic.Int32
	p := &Policy{AllowPrivate: true, Dialer: &net.Dialer{Control: func(string, string, syscall.RawConn) error {
		called.Add(1)
		return nil
	}}}
	conn, err := p.DialContext(context.Background(), "tcp", srv.hostPort())
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if called.Load() != 1 {
		t.Errorf("the dialer's own Control ran %d times, want 1", called.Load())
	}
}

func TestRedirectRefusedAtDial(t *testing.T) {
	target := newServer(t, nil)
	origin := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusFound)
	}))
	p := &Policy{Allow: []string{origin.hostPort()}}
	hc := &http.Client{Transport: &http.Transport{DialContext: p.DialContext}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	_, err := hc.Get(origin.URL)
	if err == nil || !IsRefused(err) || !strings.Contains(err.Error(), target.hostPort()+": not in the allowlist") {
		t.Fatalf("redirect to %s: error %v, want a refusal", target.URL, err)
	}
	if n := target.conns.Load(); n != 0 {
		t.Errorf("redirect target accepted %d connections, want none", n)
	}
}
