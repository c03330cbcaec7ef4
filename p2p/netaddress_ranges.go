// Modified for Switchyard.
// Originally Copyright (c) 2013-2014 Conformal Systems LLC (btcd's addrmanager),
// by way of Tendermint's 2014 p2p package.

package p2p

import (
	"net"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Reachability scores returned by ReachabilityTo, as in btcd and the seed:
// the higher, the better o is reached from na.
const (
	reachUnreachable = 0
	reachDefault     = 1
	reachTeredo      = 2
	reachIPv6Weak    = 3
	reachIPv4        = 4
	reachIPv6Strong  = 5
)

func ipNet(ip string, ones, bits int) net.IPNet {
	return net.IPNet{IP: net.ParseIP(ip), Mask: net.CIDRMask(ones, bits)}
}

// The special ranges, as btcd lists them, plus RFC 6666.
var (
	rfc1918_10  = ipNet("10.0.0.0", 8, 32)
	rfc1918_192 = ipNet("192.168.0.0", 16, 32)
	rfc1918_172 = ipNet("172.16.0.0", 12, 32)
	rfc2544     = ipNet("198.18.0.0", 15, 32)
	rfc3849     = ipNet("2001:db8::", 32, 128)
	rfc3927     = ipNet("169.254.0.0", 16, 32)
	rfc3964     = ipNet("2002::", 16, 128)
	rfc4193     = ipNet("fc00::", 7, 128)
	rfc4380     = ipNet("2001::", 32, 128)
	rfc4843     = ipNet("2001:10::", 28, 128)
	rfc4862     = ipNet("fe80::", 64, 128)
	rfc5737     = []net.IPNet{ipNet("192.0.2.0", 24, 32), ipNet("198.51.100.0", 24, 32), ipNet("203.0.113.0", 24, 32)}
	rfc6052     = ipNet("64:ff9b::", 96, 128)
	rfc6145     = ipNet("::ffff:0:0:0", 96, 128)
	rfc6598     = ipNet("100.64.0.0", 10, 32)
	rfc6666     = ipNet("100::", 64, 128)
	zero4       = ipNet("0.0.0.0", 8, 32)
	heNet       = ipNet("2001:470::", 32, 128)
)

// Each RFC method reports whether the IP lies in that RFC's range; a nil
// address or IP is in none.

// RFC1918 reports IPv4 private networks (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16).
func (na *NetAddress) RFC1918() bool {
	return na.in(rfc1918_10) || na.in(rfc1918_192) || na.in(rfc1918_172)
}

// RFC2544 reports the IPv4 benchmarking range 198.18.0.0/15.
func (na *NetAddress) RFC2544() bool { return na.in(rfc2544) }

// RFC3849 reports the IPv6 documentation range 2001:db8::/32.
func (na *NetAddress) RFC3849() bool { return na.in(rfc3849) }

// RFC3927 reports IPv4 link-local autoconfiguration 169.254.0.0/16.
func (na *NetAddress) RFC3927() bool { return na.in(rfc3927) }

// RFC3964 reports IPv6 6to4 2002::/16.
func (na *NetAddress) RFC3964() bool { return na.in(rfc3964) }

// RFC4193 reports IPv6 unique local addresses fc00::/7.
func (na *NetAddress) RFC4193() bool { return na.in(rfc4193) }

// RFC4380 reports IPv6 Teredo tunnelling 2001::/32.
func (na *NetAddress) RFC4380() bool { return na.in(rfc4380) }

// RFC4843 reports IPv6 ORCHID 2001:10::/28.
func (na *NetAddress) RFC4843() bool { return na.in(rfc4843) }

// RFC4862 reports IPv6 link-local autoconfiguration fe80::/64.
func (na *NetAddress) RFC4862() bool { return na.in(rfc4862) }

// RFC5737 reports the IPv4 documentation ranges 192.0.2.0/24,
// 198.51.100.0/24 and 203.0.113.0/24.
func (na *NetAddress) RFC5737() bool {
	for _, n := range rfc5737 {
		if na.in(n) {
			return true
		}
	}
	return false
}

// RFC6052 reports the IPv6 well-known NAT64 prefix 64:ff9b::/96.
func (na *NetAddress) RFC6052() bool { return na.in(rfc6052) }

// RFC6145 reports IPv4-translated IPv6 addresses ::ffff:0:0:0/96.
func (na *NetAddress) RFC6145() bool { return na.in(rfc6145) }

// RFC6598 reports the IPv4 shared (carrier-grade NAT) range 100.64.0.0/10.
func (na *NetAddress) RFC6598() bool { return na.in(rfc6598) }

// RFC6666 reports the IPv6 discard-only prefix 100::/64, where go-libp2p's
// mocknet puts its hosts (/ip6/100::xxxx:xxxx/tcp/4242).
func (na *NetAddress) RFC6666() bool { return na.in(rfc6666) }

func (na *NetAddress) in(n net.IPNet) bool {
	return na != nil && na.IP != nil && n.Contains(na.IP)
}

// Valid reports whether the address could be a peer's: its IP is a 4- or
// 16-byte IP that is neither unspecified (0.0.0.0, ::), the IPv4 broadcast
// address nor IPv6 documentation (RFC 3849), as in the seed; and, beyond the
// seed, it is not multicast (no peer listens there), its port is not 0 and its
// peer ID, when set, is valid (parses back from its String).
// A nil address is not valid.
func (na *NetAddress) Valid() bool {
	if na == nil || (len(na.IP) != net.IPv4len && len(na.IP) != net.IPv6len) {
		return false
	}
	if na.IP.IsUnspecified() || na.IP.Equal(net.IPv4bcast) || na.IP.IsMulticast() || na.RFC3849() || na.Port == 0 {
		return false
	}
	return na.ID == "" || validID(na.ID)
}

// validID reports whether id is a peer ID that survives String and
// peer.Decode, so that an address with it can be written and parsed back.
func validID(id peer.ID) bool {
	d, err := peer.Decode(id.String())
	return err == nil && d == id
}

// Local reports whether the IP is a loopback address or in 0.0.0.0/8.
func (na *NetAddress) Local() bool {
	return na != nil && (na.IP.IsLoopback() || na.in(zero4))
}

// Routable reports whether the address is Valid and reachable over the public
// internet: not Local and in none of the private, link-local, documentation,
// benchmarking, shared, ORCHID or unique-local ranges (btcd's list), nor in the
// RFC 6666 discard prefix (an addition: nothing real answers there, so mocknet
// addresses are not routable and a book that must hold them is made with
// WithBookRoutabilityStrict(false)).
func (na *NetAddress) Routable() bool {
	if !na.Valid() {
		return false
	}
	return !(na.RFC1918() || na.RFC2544() || na.RFC3927() || na.RFC4862() ||
		na.RFC3849() || na.RFC4843() || na.RFC5737() || na.RFC6598() ||
		na.RFC4193() || na.RFC6666() || na.Local())
}

// ReachabilityTo scores how well the remote address o is reached from na
// (btcd's getReachabilityFrom, kept by the seed): 0 unreachable (na not
// routable), 1 default, 2 Teredo, 3 tunnelled IPv6, 4 IPv4, 5 native IPv6.
// A nil o scores as a non-routable one.
func (na *NetAddress) ReachabilityTo(o *NetAddress) int {
	isV4 := func(a *NetAddress) bool { return a != nil && a.IP.To4() != nil }
	switch {
	case !na.Routable():
		return reachUnreachable
	case na.RFC4380():
		switch {
		case !o.Routable():
			return reachDefault
		case o.RFC4380():
			return reachTeredo
		case isV4(o):
			return reachIPv4
		default:
			return reachIPv6Weak
		}
	case isV4(na):
		if o.Routable() && isV4(o) {
			return reachIPv4
		}
		return reachDefault
	default: // IPv6
		tunnelled := o.RFC3964() || o.RFC6052() || o.RFC6145()
		switch {
		case !o.Routable():
			return reachDefault
		case o.RFC4380():
			return reachTeredo
		case isV4(o):
			return reachIPv4
		case tunnelled:
			// Only prefer IPv6 when it is not tunnelled.
			return reachIPv6Weak
		}
		return reachIPv6Strong
	}
}
