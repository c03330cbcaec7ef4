package p2p

import (
	"net"
	"testing"
)

func ipAddr(s string) *NetAddress { return NewNetAddressIPPort(net.ParseIP(s), 26656) }

func TestNetAddressRFCRanges(t *testing.T) {
	tests := []struct {
		rfc     string
		test    func(*NetAddress) bool
		in, out []string
	}{
		{"RFC1918", (*NetAddress).RFC1918, []string{"10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.1.1"}, []string{"9.255.255.255", "11.0.0.0", "172.15.255.255", "172.32.0.0", "192.169.0.0"}},
		{"RFC2544", (*NetAddress).RFC2544, []string{"198.18.0.0", "198.19.255.255"}, []string{"198.17.255.255", "198.20.0.0"}},
		{"RFC3849", (*NetAddress).RFC3849, []string{"2001:db8::1", "2001:db8:ffff::1"}, []string{"2001:db9::1", "2001::1"}},
		{"RFC3927", (*NetAddress).RFC3927, []string{"169.254.0.1", "169.254.255.254"}, []string{"169.253.255.255", "169.255.0.0"}},
		{"RFC3964", (*NetAddress).RFC3964, []string{"2002::1", "2002:ffff::1"}, []string{"2003::1", "2001::1"}},
		{"RFC4193", (*NetAddress).RFC4193, []string{"fc00::1", "fdff::1"}, []string{"fe00::1", "fbff::1"}},
		{"RFC4380", (*NetAddress).RFC4380, []string{"2001::1", "2001:0:ffff::1"}, []string{"2001:1::1", "2002::1"}},
		{"RFC4843", (*NetAddress).RFC4843, []string{"2001:10::1", "2001:1f::1"}, []string{"2001:20::1", "2001:f::1"}},
		{"RFC4862", (*NetAddress).RFC4862, []string{"fe80::1", "fe80::ffff:ffff:ffff:ffff"}, []string{"fe80:0:0:1::1", "fe81::1"}},
		{"RFC5737", (*NetAddress).RFC5737, []string{"192.0.2.1", "198.51.100.1", "203.0.113.255"}, []string{"192.0.3.1", "198.51.101.1", "203.0.114.1"}},
		{"RFC6052", (*NetAddress).RFC6052, []string{"64:ff9b::1.2.3.4"}, []string{"64:ff9b:1::1.2.3.4"}},
		{"RFC6145", (*NetAddress).RFC6145, []string{"::ffff:0:1.2.3.4"}, []string{"::ffff:1.2.3.4", "::1:0:1.2.3.4"}},
		{"RFC6598", (*NetAddress).RFC6598, []string{"100.64.0.1", "100.127.255.255"}, []string{"100.63.255.255", "100.128.0.0"}},
		{"RFC6666", (*NetAddress).RFC6666, []string{"100::1", "100::ffff:ffff:ffff:ffff"}, []string{"100:0:0:1::1", "101::1"}},
	}
	for _, tt := range tests {
		t.Run(tt.rfc, func(t *testing.T) {
			for _, s := range tt.in {
				if !tt.test(ipAddr(s)) {
					t.Errorf("%s not in %s", s, tt.rfc)
				}
			}
			for _, s := range tt.out {
				if tt.test(ipAddr(s)) {
					t.Errorf("%s in %s", s, tt.rfc)
				}
			}
		})
	}
}

func TestNetAddressValidRoutableLocal(t *testing.T) {
	tests := []struct {
		addr                   *NetAddress
		valid, routable, local bool
	}{
		{ipAddr("1.2.3.4"), true, true, false},
		{ipAddr("2001:4860::8888"), true, true, false},
		{ipAddr("::ffff:8.8.8.8"), true, true, false},
		{ipAddr("127.0.0.1"), true, false, true},
		{ipAddr("::1"), true, false, true},
		{ipAddr("0.1.2.3"), true, false, true}, // 0.0.0.0/8
		{ipAddr("0.0.0.0"), false, false, true},
		{ipAddr("::"), false, false, false},
		{ipAddr("255.255.255.255"), false, false, false},
		{ipAddr("224.0.0.1"), false, false, false}, // multicast
		{ipAddr("ff02::1"), false, false, false},
		{ipAddr("2001:db8::1"), false, false, false}, // RFC3849 is invalid, as in the seed
		{NewNetAddressIPPort(net.ParseIP("1.2.3.4"), 0), false, false, false},
		{ipAddr("10.1.2.3"), true, false, false},
		{ipAddr("192.168.0.1"), true, false, false},
		{ipAddr("169.254.1.1"), true, false, false},
		{ipAddr("198.18.0.1"), true, false, false},
		{ipAddr("192.0.2.1"), true, false, false},
		{ipAddr("100.64.0.1"), true, false, false},
		{ipAddr("fe80::1"), true, false, false},
		{ipAddr("fd00::1"), true, false, false},
		{ipAddr("2001:10::1"), true, false, false},
		{ipAddr("100::1:2"), true, false, false}, // RFC6666: mocknet's hosts
		{ipAddr("2002:102:304::1"), true, true, false},
		{ipAddr("2001::1"), true, true, false}, // Teredo is routable
		{&NetAddress{IP: net.IP{1, 2, 3}, Port: 1}, false, false, false},
		{&NetAddress{IP: net.ParseIP("1.2.3.4"), Port: 1, ID: "not a multihash"}, false, false, false},
		{&NetAddress{Port: 1}, false, false, false},
		{nil, false, false, false},
	}
	for _, tt := range tests {
		if got := tt.addr.Valid(); got != tt.valid {
			t.Errorf("%v.Valid() = %v", tt.addr, got)
		}
		if got := tt.addr.Routable(); got != tt.routable {
			t.Errorf("%v.Routable() = %v", tt.addr, got)
		}
		if got := tt.addr.Local(); got != tt.local {
			t.Errorf("%v.Local() = %v", tt.addr, got)
		}
	}
}

// TestReachabilityTo follows btcd's TestGetReachability cases.
func TestReachabilityTo(t *testing.T) {
	v4 := ipAddr("1.2.3.4")
	v4b := ipAddr("5.6.7.8")
	v6 := ipAddr("2001:4860::1")
	v6b := ipAddr("2a00:1450::1")
	teredo := ipAddr("2001::1")
	teredo2 := ipAddr("2001::2")
	sixToFour := ipAddr("2002:102:304::1")
	private := ipAddr("10.0.0.1")
	tests := []struct {
		name     string
		from, to *NetAddress
		want     int
	}{
		{"from unroutable", private, v4, reachUnreachable},
		{"from nil", nil, v4, reachUnreachable},
		{"teredo to unroutable", teredo, private, reachDefault},
		{"teredo to teredo", teredo, teredo2, reachTeredo},
		{"teredo to ipv4", teredo, v4, reachIPv4},
		{"teredo to ipv6", teredo, v6, reachIPv6Weak},
		{"ipv4 to ipv4", v4, v4b, reachIPv4},
		{"ipv4 to ipv6", v4, v6, reachDefault},
		{"ipv4 to unroutable", v4, private, reachDefault},
		{"ipv4 to nil", v4, nil, reachDefault},
		{"ipv6 to unroutable", v6, private, reachDefault},
		{"ipv6 to teredo", v6, teredo, reachTeredo},
		{"ipv6 to ipv4", v6, v4, reachIPv4},
		{"ipv6 to 6to4", v6, sixToFour, reachIPv6Weak},
		{"ipv6 to ipv6", v6, v6b, reachIPv6Strong},
	}
	for _, tt := range tests {
		if got := tt.from.ReachabilityTo(tt.to); got != tt.want {
			t.Errorf("%s: ReachabilityTo = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestGroupKey(t *testing.T) {
	tests := []struct {
		addr          *NetAddress
		strict, loose string
	}{
		{ipAddr("1.2.3.4"), "1.2.0.0/16", "1.2.0.0/16"},
		{ipAddr("::ffff:1.2.3.4"), "1.2.0.0/16", "1.2.0.0/16"},
		{ipAddr("2001:4860:1:2::1"), "2001:4860::/32", "2001:4860::/32"},
		{ipAddr("2001:470:1234::1"), "2001:470:1000::/36", "2001:470:1000::/36"}, // he.net: /36
		{ipAddr("2002:102:304::1"), "1.2.0.0/16", "1.2.0.0/16"},                  // 6to4 carries 1.2.3.4
		{ipAddr("64:ff9b::102:304"), "1.2.0.0/16", "1.2.0.0/16"},                 // NAT64 carries 1.2.3.4
		{ipAddr("::ffff:0:102:304"), "1.2.0.0/16", "1.2.0.0/16"},                 // RFC6145 carries 1.2.3.4
		{ipAddr("2001::fefd:fcfb"), "1.2.0.0/16", "1.2.0.0/16"},                  // Teredo: 1.2.3.4 xor 0xff
		{ipAddr("127.0.0.1"), "local", "host:127.0.0.1:26656"},
		{ipAddr("10.0.0.1"), "unroutable", "host:10.0.0.1:26656"},
		{ipAddr("100::1:2"), "unroutable", "host:[100::1:2]:26656"},
		{mustParse(t, "/ip6/100::1:2/udp/1/quic-v1"), "unroutable", "host:/ip6/100::1:2/udp/1/quic-v1"},
		{&NetAddress{}, "unroutable", "unroutable"},
		{nil, "unroutable", "unroutable"},
	}
	for _, tt := range tests {
		if got := groupKey(tt.addr, true); got != tt.strict {
			t.Errorf("strict groupKey(%v) = %q, want %q", tt.addr, got, tt.strict)
		}
		if got := groupKey(tt.addr, false); got != tt.loose {
			t.Errorf("non-strict groupKey(%v) = %q, want %q", tt.addr, got, tt.loose)
		}
	}
}
