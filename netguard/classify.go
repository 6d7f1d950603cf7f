package netguard

import "net/netip"

// Class is the kind of an IP address, as the policy sees it.
type Class string

// Address classes. Only Public addresses are allowed by default;
// AllowPrivate adds Loopback and Private.
const (
	Public      Class = "public"
	Loopback    Class = "loopback"
	Private     Class = "private"
	LinkLocal   Class = "link-local"
	Metadata    Class = "cloud metadata"
	Unspecified Class = "unspecified"
	Multicast   Class = "multicast"
	Reserved    Class = "reserved"
)

type classRange struct {
	prefix netip.Prefix
	class  Class
}

// ranges are checked in order: the first match wins.
var ranges = func() []classRange {
	table := []struct {
		cidr  string
		class Class
	}{
		// Cloud metadata services first: they sit inside wider ranges.
		{"169.254.169.254/32", Metadata}, // AWS, GCP, Azure, OCI, …
		{"169.254.170.2/32", Metadata},   // AWS ECS task metadata
		{"100.100.100.200/32", Metadata}, // Alibaba Cloud
		{"fd00:ec2::254/128", Metadata},  // AWS over IPv6

		{"0.0.0.0/32", Unspecified},
		{"0.0.0.0/8", Reserved}, // "this network"
		{"10.0.0.0/8", Private},
		{"100.64.0.0/10", Private}, // carrier-grade NAT
		{"127.0.0.0/8", Loopback},
		{"169.254.0.0/16", LinkLocal},
		{"172.16.0.0/12", Private},
		{"192.0.0.0/24", Reserved}, // IETF protocol assignments
		{"192.0.2.0/24", Reserved}, // documentation
		{"192.168.0.0/16", Private},
		{"198.18.0.0/15", Reserved},   // benchmarking
		{"198.51.100.0/24", Reserved}, // documentation
		{"203.0.113.0/24", Reserved},  // documentation
		{"224.0.0.0/4", Multicast},
		{"240.0.0.0/4", Reserved}, // includes 255.255.255.255

		{"::/128", Unspecified},
		{"::1/128", Loopback},
		{"::/96", Reserved},         // IPv4-compatible (deprecated)
		{"64:ff9b:1::/48", Private}, // local-use NAT64
		{"100::/64", Reserved},      // discard
		{"2001::/23", Reserved},     // IETF protocol assignments, Teredo
		{"2001:db8::/32", Reserved}, // documentation
		{"fc00::/7", Private},       // unique local
		{"fe80::/10", LinkLocal},
		{"fec0::/10", Private}, // site-local (deprecated)
		{"ff00::/8", Multicast},
		{"5f00::/16", Reserved}, // SRv6 SIDs
		{"3fff::/20", Reserved}, // documentation
	}
	out := make([]classRange, len(table))
	for i, e := range table {
		out[i] = classRange{netip.MustParsePrefix(e.cidr), e.class}
	}
	return out
}()

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Classify returns the class of ip. IPv4 addresses embedded in IPv6
// (IPv4-mapped, NAT64 and 6to4) are classified by the IPv4 address.
func Classify(ip netip.Addr) Class {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return Reserved
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return Classify(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixToFour.Contains(ip):
			return Classify(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	for _, r := range ranges {
		if r.prefix.Contains(ip) {
			return r.class
		}
	}
	return Public
}
