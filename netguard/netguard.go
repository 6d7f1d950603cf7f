// Package netguard limits the addresses relay's outbound connections may
// reach. A Policy checks every address at dial time, after DNS resolution
// and just before connect, so a host name that later resolves somewhere
// else (DNS rebinding) or a redirect to an internal address cannot slip
// past it.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Policy says which addresses outbound connections may reach. The zero
// value allows any public address and refuses every special one. A nil
// *Policy allows everything.
//
// Special addresses are refused unless allowed:
//   - loopback (127.0.0.0/8, ::1) and private ones (10.0.0.0/8,
//     172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7): by
//     AllowPrivate or an IP or CIDR entry in Allow;
//   - link-local (169.254.0.0/16, fe80::/10), cloud metadata
//     (169.254.169.254, fd00:ec2::254, 100.100.100.200), unspecified,
//     multicast, broadcast and reserved ranges: only by an IP or CIDR entry
//     in Allow.
//
// A host name entry never opens a special address: a name that resolves to
// one is refused unless an IP or CIDR entry (or AllowPrivate) covers the
// address it resolved to.
//
// A Policy must not be modified after its first use.
type Policy struct {
	// Allow, when not empty, lists the only destinations that may be
	// dialed: `host`, `host:port`, `*.domain` (any subdomain, not the
	// domain itself), an IP (`10.0.0.5`, `[::1]:8090`, `10.0.0.5:443`) or a
	// CIDR (`10.1.0.0/16`). Names match the host as dialed; IPs and CIDRs
	// match the address it resolved to.
	Allow []string
	// AllowPrivate allows loopback and private addresses (the partner
	// sandbox on 127.0.0.1 in development).
	AllowPrivate bool
	// Dialer is the base dialer (timeouts, keep-alive); nil means one with
	// a 30s timeout and 30s keep-alive. Its Control hooks still run, after
	// the policy's check.
	Dialer *net.Dialer

	once  sync.Once
	rules *rules
	err   error
}

// RefusedError is a connection the policy refused. No packet was sent to
// Address.
type RefusedError struct {
	// Address is the refused ip:port, or the host:port as dialed when the
	// host was refused by name before resolution.
	Address string
	// Host is the host name that resolved to Address; empty when the
	// address was dialed as an IP.
	Host string
	// Reason says why: "loopback address", "not in the allowlist", ….
	Reason string
}

func (e *RefusedError) Error() string {
	if e.Host != "" && e.Host != e.Address {
		return fmt.Sprintf("network policy refuses %s (%s): %s", e.Address, e.Host, e.Reason)
	}
	return fmt.Sprintf("network policy refuses %s: %s", e.Address, e.Reason)
}

// IsRefused reports whether err is, or wraps, a refusal by a Policy.
func IsRefused(err error) bool {
	var re *RefusedError
	return errors.As(err, &re)
}

// Validate checks the Allow entries.
func (p *Policy) Validate() error {
	if p == nil {
		return nil
	}
	_, err := p.compiled()
	return err
}

func (p *Policy) compiled() (*rules, error) {
	p.once.Do(func() { p.rules, p.err = compile(p.Allow, p.AllowPrivate) })
	return p.rules, p.err
}

var defaultDialer = &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}

// DialContext dials address on network if the policy allows it; it has the
// signature of net.Dialer.DialContext and http.Transport.DialContext.
// Every address the host resolves to is checked just before connecting.
func (p *Policy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	base := defaultDialer
	if p != nil && p.Dialer != nil {
		base = p.Dialer
	}
	if p == nil {
		return base.DialContext(ctx, network, address)
	}
	r, err := p.compiled()
	if err != nil {
		return nil, err
	}
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: &RefusedError{Address: address, Reason: "network " + network + " is not allowed"}}
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	name := ""
	if ip, err := netip.ParseAddr(host); err == nil {
		// An IP literal: check it now, before any socket exists.
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("invalid port %q", port)}
		}
		if err := r.check("", netip.AddrPortFrom(ip, uint16(n))); err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
	} else {
		name = normalizeHost(host)
		// Without IP entries a name that no name entry matches cannot be
		// allowed: refuse it without even resolving it.
		if len(r.allow) > 0 && len(r.prefixes) == 0 && !r.nameListed(name, port) {
			return nil, &net.OpError{Op: "dial", Net: network, Err: &RefusedError{Address: address, Host: name, Reason: "not in the allowlist"}}
		}
	}
	d := *base
	inner, innerCtx := base.Control, base.ControlContext
	d.Control = nil
	d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &RefusedError{Address: address, Host: name, Reason: "unparsable address"}
		}
		if err := r.check(name, ap); err != nil {
			return err
		}
		switch {
		case innerCtx != nil:
			return innerCtx(ctx, network, address, c)
		case inner != nil:
			return inner(network, address, c)
		}
		return nil
	}
	return d.DialContext(ctx, network, address)
}

// Check reports whether the policy allows connecting to addr, which host
// (empty for an IP literal) resolved to. DialContext calls it for every
// address; it is exported for callers that dial by other means.
func (p *Policy) Check(host string, addr netip.AddrPort) error {
	if p == nil {
		return nil
	}
	r, err := p.compiled()
	if err != nil {
		return err
	}
	return r.check(normalizeHost(host), addr)
}

// rules is a compiled Policy.
type rules struct {
	allow        []string // as given, for len checks
	names        []nameRule
	prefixes     []prefixRule
	allowPrivate bool
}

type nameRule struct {
	name     string // lower case, no trailing dot
	wildcard bool   // *.name
	port     string // "" for any
}

type prefixRule struct {
	prefix netip.Prefix
	port   uint16 // 0 for any
}

func compile(allow []string, allowPrivate bool) (*rules, error) {
	r := &rules{allow: allow, allowPrivate: allowPrivate}
	for _, entry := range allow {
		if err := r.add(strings.TrimSpace(entry)); err != nil {
			return nil, fmt.Errorf("network policy: allow entry %q: %w", entry, err)
		}
	}
	return r, nil
}

func (r *rules) add(entry string) error {
	if entry == "" {
		return errors.New("empty")
	}
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return errors.New("not a CIDR such as 10.0.0.0/8")
		}
		r.prefixes = append(r.prefixes, prefixRule{prefix: unmapPrefix(p.Masked())})
		return nil
	}
	if ip, err := netip.ParseAddr(entry); err == nil {
		r.prefixes = append(r.prefixes, prefixRule{prefix: netip.PrefixFrom(ip.Unmap().WithZone(""), ip.Unmap().BitLen())})
		return nil
	}
	host, port := entry, ""
	if h, p, err := net.SplitHostPort(entry); err == nil {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return fmt.Errorf("invalid port %q", p)
		}
		host, port = h, p
		if ip, err := netip.ParseAddr(host); err == nil {
			ip = ip.Unmap().WithZone("")
			r.prefixes = append(r.prefixes, prefixRule{prefix: netip.PrefixFrom(ip, ip.BitLen()), port: uint16(n)})
			return nil
		}
	}
	name, wildcard := normalizeHost(host), false
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		name, wildcard = rest, true
	}
	if !validName(name) {
		return errors.New("want host, host:port, *.domain, IP, IP:port or CIDR")
	}
	r.names = append(r.names, nameRule{name: name, wildcard: wildcard, port: port})
	return nil
}

func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

func validName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

func (r *rules) nameListed(name, port string) bool {
	if name == "" {
		return false
	}
	for _, n := range r.names {
		if n.port != "" && n.port != port {
			continue
		}
		if n.wildcard && strings.HasSuffix(name, "."+n.name) || !n.wildcard && name == n.name {
			return true
		}
	}
	return false
}

func (r *rules) ipListed(addr netip.AddrPort) bool {
	for _, p := range r.prefixes {
		if (p.port == 0 || p.port == addr.Port()) && p.prefix.Contains(addr.Addr()) {
			return true
		}
	}
	return false
}

// check decides one connection to addr, which host resolved to.
func (r *rules) check(host string, addr netip.AddrPort) error {
	ip := addr.Addr().Unmap().WithZone("")
	addr = netip.AddrPortFrom(ip, addr.Port())
	refuse := func(reason string) error {
		return &RefusedError{Address: addr.String(), Host: host, Reason: reason}
	}
	ipListed := r.ipListed(addr)
	if len(r.allow) > 0 && !ipListed && !r.nameListed(host, strconv.Itoa(int(addr.Port()))) {
		return refuse("not in the allowlist")
	}
	c := Classify(ip)
	switch {
	case c == Public, ipListed:
		return nil
	case r.allowPrivate && (c == Loopback || c == Private):
		return nil
	}
	return refuse(string(c) + " address")
}
