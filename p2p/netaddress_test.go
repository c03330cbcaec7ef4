package p2p

import (
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestParseNetAddressAcceptsEveryForm(t *testing.T) {
	id := testID(t, rand.New(rand.NewPCG(1, 2)))
	ids := id.String()
	cidForm := peer.ToCid(id).String() // the CIDv1 spelling of the same ID
	tests := []struct {
		in, wantString, wantMultiaddr string
		wantIP                        string
		wantPort                      uint16
		wantID                        peer.ID
	}{
		{"1.2.3.4:26656", "1.2.3.4:26656", "/ip4/1.2.3.4/tcp/26656", "1.2.3.4", 26656, ""},
		{"[2001:4860::1]:26656", "[2001:4860::1]:26656", "/ip6/2001:4860::1/tcp/26656", "2001:4860::1", 26656, ""},
		{"[::ffff:1.2.3.4]:80", "1.2.3.4:80", "/ip4/1.2.3.4/tcp/80", "1.2.3.4", 80, ""},
		{"1.2.3.4:0080", "1.2.3.4:80", "/ip4/1.2.3.4/tcp/80", "1.2.3.4", 80, ""},
		{"0.0.0.0:0", "0.0.0.0:0", "/ip4/0.0.0.0/tcp/0", "0.0.0.0", 0, ""},
		{ids + "@1.2.3.4:26656", ids + "@1.2.3.4:26656", "/ip4/1.2.3.4/tcp/26656", "1.2.3.4", 26656, id},
		{ids + "@[2001:4860::1]:1", ids + "@[2001:4860::1]:1", "/ip6/2001:4860::1/tcp/1", "2001:4860::1", 1, id},
		{cidForm + "@1.2.3.4:5", ids + "@1.2.3.4:5", "/ip4/1.2.3.4/tcp/5", "1.2.3.4", 5, id},
		{"/ip4/1.2.3.4/tcp/26656", "1.2.3.4:26656", "/ip4/1.2.3.4/tcp/26656", "1.2.3.4", 26656, ""},
		{"/ip4/1.2.3.4/tcp/26656/p2p/" + ids, ids + "@1.2.3.4:26656", "/ip4/1.2.3.4/tcp/26656", "1.2.3.4", 26656, id},
		{"/ip6/2001:4860::1/tcp/443", "[2001:4860::1]:443", "/ip6/2001:4860::1/tcp/443", "2001:4860::1", 443, ""},
		{"/ip6/::ffff:1.2.3.4/tcp/443", "1.2.3.4:443", "/ip4/1.2.3.4/tcp/443", "1.2.3.4", 443, ""},
		{"/ip4/1.2.3.4/udp/4001/quic-v1", "/ip4/1.2.3.4/udp/4001/quic-v1", "/ip4/1.2.3.4/udp/4001/quic-v1", "1.2.3.4", 4001, ""},
		{"/ip6/2001:4860::1/udp/4001/quic-v1/p2p/" + ids, "/ip6/2001:4860::1/udp/4001/quic-v1/p2p/" + ids, "/ip6/2001:4860::1/udp/4001/quic-v1", "2001:4860::1", 4001, id},
		{"/ip4/1.2.3.4/tcp/1/p2p/" + cidForm, ids + "@1.2.3.4:1", "/ip4/1.2.3.4/tcp/1", "1.2.3.4", 1, id},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			na, err := ParseNetAddress(tt.in)
			if err != nil {
				t.Fatalf("ParseNetAddress: %v", err)
			}
			if !na.IP.Equal(net.ParseIP(tt.wantIP)) || na.Port != tt.wantPort || na.ID != tt.wantID {
				t.Errorf("got IP %v port %d ID %q, want %s %d %q", na.IP, na.Port, na.ID, tt.wantIP, tt.wantPort, tt.wantID)
			}
			if got := na.Multiaddr.String(); got != tt.wantMultiaddr {
				t.Errorf("Multiaddr = %s, want %s", got, tt.wantMultiaddr)
			}
			if got := na.String(); got != tt.wantString {
				t.Errorf("String() = %s, want %s", got, tt.wantString)
			}
			back, err := ParseNetAddress(na.String())
			if err != nil || !back.Equals(na) {
				t.Errorf("ParseNetAddress(String()) = %v, %v; want %v", back, err, na)
			}
			if nas := NewNetAddressString(tt.in); !nas.Equals(na) {
				t.Errorf("NewNetAddressString = %v, want %v", nas, na)
			}
		})
	}
}

func TestParseNetAddressRejectsWithReason(t *testing.T) {
	ids := testID(t, rand.New(rand.NewPCG(1, 2))).String()
	tests := []struct{ in, reason string }{
		{"", "missing port"},
		{"1.2.3.4", "missing port"},
		{"1.2.3.4:", "bad port"},
		{"1.2.3.4:65536", "bad port"},
		{"1.2.3.4:-1", "bad port"},
		{"1.2.3.4:+80", "bad port"},
		{"1.2.3.4:http", "bad port"},
		{"1.2.3.4:80:90", "too many colons"},
		{"example.com:80", "not an IP literal"},
		{"localhost:80", "not an IP literal"},
		{"1.2.3:80", "not an IP literal"},
		{"256.1.1.1:80", "not an IP literal"},
		{"2001:db8::1:80", "too many colons"},
		{"[fe80::1%eth0]:80", "zones are not supported"},
		{"@1.2.3.4:80", "empty peer ID"},
		{"notanid@1.2.3.4:80", "bad peer ID"},
		{ids + "@" + ids + "@1.2.3.4:80", "more than one '@'"},
		{ids + "@example.com:80", "not an IP literal"},
		{"/", "bad multiaddr"},
		{"/ip4/1.2.3.4", "unsupported transport"},
		{"/ip4/1.2.3.4/tcp", "bad multiaddr"},
		{"/ip4/1.2.3.4/tcp/70000", "bad multiaddr"},
		{"/ip4/1.2.3.4/udp/4001", "unsupported transport"},
		{"/ip4/1.2.3.4/udp/4001/quic", "unsupported transport"},
		{"/ip4/1.2.3.4/tcp/443/ws", "unsupported transport"},
		{"/ip4/1.2.3.4/tcp/1/p2p/" + ids + "/p2p-circuit/p2p/" + ids, "unsupported transport"},
		{"/dns4/example.com/tcp/80", "want an /ip4 or /ip6 address"},
		{"/ip6zone/eth0/ip6/fe80::1/tcp/80", "want an /ip4 or /ip6 address"},
		{"/p2p/" + ids, "no transport address"},
		{"/ip4/1.2.3.4/tcp/80/p2p/notanid", "bad multiaddr"},
		{"/tcp/80", "want an /ip4 or /ip6 address"},
		{"1.2.3.4:80" + strings.Repeat(" ", maxNetAddressLen), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			na, err := ParseNetAddress(tt.in)
			if !errors.Is(err, ErrInvalidNetAddress) {
				t.Fatalf("ParseNetAddress(%q) = %v, %v; want ErrInvalidNetAddress", tt.in, na, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}
			defer func() {
				if recover() == nil {
					t.Errorf("NewNetAddressString(%q) did not panic", tt.in)
				}
			}()
			NewNetAddressString(tt.in)
		})
	}
}

// namedAddr is a net.Addr of another type than TCP/UDP.
type namedAddr string

func (a namedAddr) Network() string { return "other" }
func (a namedAddr) String() string  { return string(a) }

func TestNewNetAddressFromNetAddr(t *testing.T) {
	tests := []struct {
		name string
		in   net.Addr
		want string
	}{
		{"tcp4", &net.TCPAddr{IP: net.ParseIP("1.2.3.4"), Port: 26656}, "/ip4/1.2.3.4/tcp/26656"},
		{"tcp6 zone dropped", &net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 1, Zone: "eth0"}, "/ip6/fe80::1/tcp/1"},
		{"udp is quic", &net.UDPAddr{IP: net.ParseIP("1.2.3.4"), Port: 4001}, "/ip4/1.2.3.4/udp/4001/quic-v1"},
		{"other type parsed", namedAddr("5.6.7.8:9"), "/ip4/5.6.7.8/tcp/9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			na := NewNetAddress(tt.in)
			if got := na.Multiaddr.String(); got != tt.want {
				t.Errorf("Multiaddr = %s, want %s", got, tt.want)
			}
		})
	}
	t.Run("unspecified listener keeps nil multiaddr-free IP", func(t *testing.T) {
		na := NewNetAddress(&net.TCPAddr{Port: 80})
		if na.IP != nil || na.Multiaddr != nil || na.Valid() {
			t.Errorf("got %#v, want no IP, no multiaddr, not valid", na)
		}
	})
	for _, bad := range []net.Addr{nil, namedAddr("not an address")} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewNetAddress(%v) did not panic", bad)
				}
			}()
			NewNetAddress(bad)
		}()
	}
}

func TestNewNetAddressIPPort(t *testing.T) {
	na := NewNetAddressIPPort(net.ParseIP("1.2.3.4"), 80)
	if na.String() != "1.2.3.4:80" || na.Multiaddr.String() != "/ip4/1.2.3.4/tcp/80" || na.ID != "" {
		t.Errorf("got %s %s %q", na, na.Multiaddr, na.ID)
	}
	if bad := NewNetAddressIPPort(net.IP{1, 2, 3}, 80); bad.Multiaddr != nil || bad.Valid() {
		t.Errorf("a 3-byte IP gave %#v", bad)
	}
}

func TestNetAddressFromAddrInfo(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	id, other := testID(t, r), testID(t, r)
	m := func(s string) ma.Multiaddr { return ma.StringCast(s) }
	ai := peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{
		m("/ip4/1.2.3.4/tcp/1"),
		m("/dns4/example.com/tcp/2"),                    // unusable: a name
		m("/ip4/1.2.3.4/udp/3/quic-v1"),                 // usable
		m("/ip4/1.2.3.4/tcp/4/p2p/" + other.String()),   // another peer's
		m("/ip6/2001:4860::1/tcp/5/p2p/" + id.String()), // its own /p2p: fine
	}}
	got, err := NetAddressFromAddrInfo(ai)
	if err != nil {
		t.Fatal(err)
	}
	var gotS []string
	for _, na := range got {
		if na.ID != id {
			t.Errorf("%s has ID %s, want %s", na, na.ID, id)
		}
		gotS = append(gotS, na.Multiaddr.String())
	}
	want := []string{"/ip4/1.2.3.4/tcp/1", "/ip4/1.2.3.4/udp/3/quic-v1", "/ip6/2001:4860::1/tcp/5"}
	if !slices.Equal(gotS, want) {
		t.Errorf("got %v, want %v", gotS, want)
	}

	for name, bad := range map[string]peer.AddrInfo{
		"no ID":          {Addrs: []ma.Multiaddr{m("/ip4/1.2.3.4/tcp/1")}},
		"no address":     {ID: id},
		"none usable":    {ID: id, Addrs: []ma.Multiaddr{m("/dns4/example.com/tcp/2"), m("/ip4/1.2.3.4/udp/3")}},
		"other peer's":   {ID: id, Addrs: []ma.Multiaddr{m("/ip4/1.2.3.4/tcp/4/p2p/" + other.String())}},
		"nil multiaddrs": {ID: id, Addrs: []ma.Multiaddr{nil}},
	} {
		if nas, err := NetAddressFromAddrInfo(bad); !errors.Is(err, ErrInvalidNetAddress) {
			t.Errorf("%s: got %v, %v; want ErrInvalidNetAddress", name, nas, err)
		}
	}
}

func TestNetAddressAddrInfo(t *testing.T) {
	id := testID(t, rand.New(rand.NewPCG(5, 6)))
	na := mustParse(t, id.String()+"@1.2.3.4:26656")
	ai := na.AddrInfo()
	if ai.ID != id || len(ai.Addrs) != 1 || ai.Addrs[0].String() != "/ip4/1.2.3.4/tcp/26656" {
		t.Errorf("AddrInfo = %v", ai)
	}
	back, err := NetAddressFromAddrInfo(ai)
	if err != nil || len(back) != 1 || !back[0].Equals(na) {
		t.Errorf("NetAddressFromAddrInfo(AddrInfo()) = %v, %v", back, err)
	}
	// A struct literal without multiaddr still gives its TCP multiaddr.
	lit := &NetAddress{IP: net.ParseIP("5.6.7.8"), Port: 9}
	if ai := lit.AddrInfo(); len(ai.Addrs) != 1 || ai.Addrs[0].String() != "/ip4/5.6.7.8/tcp/9" {
		t.Errorf("AddrInfo of a literal = %v", ai)
	}
	if ai := (&NetAddress{}).AddrInfo(); len(ai.Addrs) != 0 {
		t.Errorf("AddrInfo without IP = %v", ai)
	}
}

func TestNetAddressEqualsAndLess(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	id1, id2 := testID(t, r), testID(t, r)
	a := mustParse(t, "1.2.3.4:80")
	tests := []struct {
		name  string
		x, y  *NetAddress
		equal bool
		xLess bool
		yLess bool
	}{
		{"same", a, mustParse(t, "1.2.3.4:80"), true, false, false},
		{"v4-mapped is the same", a, mustParse(t, "[::ffff:1.2.3.4]:80"), true, false, false},
		{"lower IP", a, mustParse(t, "1.2.3.5:80"), false, true, false},
		{"numeric, not textual, IP order", mustParse(t, "9.0.0.1:80"), mustParse(t, "10.0.0.1:80"), false, true, false},
		{"lower port", a, mustParse(t, "1.2.3.4:81"), false, true, false},
		{"ID differs", mustParse(t, id1.String()+"@1.2.3.4:80"), mustParse(t, id2.String()+"@1.2.3.4:80"), false, id1.String() < id2.String(), id2.String() < id1.String()},
		{"no ID vs ID", a, mustParse(t, id1.String()+"@1.2.3.4:80"), false, "1.2.3.4:80" < id1.String(), id1.String() < "1.2.3.4:80"},
		{"tcp vs quic (by String: '/' < '1')", a, mustParse(t, "/ip4/1.2.3.4/udp/80/quic-v1"), false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.x.Equals(tt.y); got != tt.equal {
				t.Errorf("Equals = %v", got)
			}
			if got := tt.y.Equals(tt.x); got != tt.equal {
				t.Errorf("reverse Equals = %v", got)
			}
			if got := tt.x.Less(tt.y); got != tt.xLess {
				t.Errorf("x.Less(y) = %v", got)
			}
			if got := tt.y.Less(tt.x); got != tt.yLess {
				t.Errorf("y.Less(x) = %v", got)
			}
		})
	}
	t.Run("other types", func(t *testing.T) {
		if a.Equals(*a) || a.Equals("1.2.3.4:80") || a.Equals(nil) || a.Less(42) || a.Less(nil) {
			t.Error("a value of another type compared equal or less")
		}
		var n *NetAddress
		if !n.Equals(n) || n.Equals(a) || a.Equals(n) || !n.Less(a) || a.Less(n) {
			t.Error("nil addresses: want nil == nil, nil < a")
		}
	})
	t.Run("Less is a strict weak order consistent with Equals", func(t *testing.T) {
		var addrs []*NetAddress
		for range 200 {
			ip := net.IPv4(1, 2, byte(r.IntN(2)), byte(r.IntN(2)))
			if r.IntN(3) == 0 {
				ip = net.ParseIP("2001:4860::1")
			}
			na := NewNetAddressIPPort(ip, uint16(1+r.IntN(2)))
			if r.IntN(2) == 0 {
				na.ID = []peer.ID{id1, id2}[r.IntN(2)]
			}
			addrs = append(addrs, na)
		}
		for _, x := range addrs {
			for _, y := range addrs {
				eq := !x.Less(y) && !y.Less(x)
				if eq != x.Equals(y) {
					t.Fatalf("%s, %s: incomparable %v but Equals %v", x, y, eq, x.Equals(y))
				}
				if x.Less(y) && y.Less(x) {
					t.Fatalf("%s and %s are each less", x, y)
				}
			}
		}
	})
}

func TestNetAddressMethodsAreNilSafe(t *testing.T) {
	var nilAddr *NetAddress
	for _, na := range []*NetAddress{nilAddr, {}, {Port: 1}, {IP: net.IP{1, 2, 3}, Port: 1}, {ID: "garbage"}} {
		_ = na.String()
		_ = na.Valid()
		_ = na.Routable()
		_ = na.Local()
		_ = na.ReachabilityTo(na)
		_ = na.ReachabilityTo(nil)
		_ = na.AddrInfo()
		_ = na.Equals(na)
		_ = na.Less(na)
		_ = na.RFC1918() || na.RFC2544() || na.RFC3849() || na.RFC3927() || na.RFC3964() ||
			na.RFC4193() || na.RFC4380() || na.RFC4843() || na.RFC4862() || na.RFC5737() ||
			na.RFC6052() || na.RFC6145() || na.RFC6598() || na.RFC6666()
		_ = groupKey(na, true)
		_ = groupKey(na, false)
		if na.Valid() || na.Routable() {
			t.Errorf("%#v is valid", na)
		}
		if _, err := na.Dial(); !errors.Is(err, ErrNetAddressNotTCP) {
			t.Errorf("Dial %#v = %v, want ErrNetAddressNotTCP", na, err)
		}
	}
}

func TestNetAddressDial(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	na := NewNetAddress(l.Addr())
	conn, err := na.Dial()
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	conn.Close()
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}

	// A closed port on loopback refuses at once.
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := NewNetAddress(l2.Addr())
	l2.Close()
	if _, err := closed.DialTimeout(2 * time.Second); err == nil {
		t.Error("DialTimeout to a closed port succeeded")
	}

	quic := mustParse(t, "/ip4/127.0.0.1/udp/1/quic-v1")
	if _, err := quic.DialTimeout(time.Second); !errors.Is(err, ErrNetAddressNotTCP) {
		t.Errorf("DialTimeout of a QUIC address = %v, want ErrNetAddressNotTCP", err)
	}
}

func FuzzParseNetAddress(f *testing.F) {
	for _, s := range []string{
		"1.2.3.4:26656", "[2001:db8::1]:1", "[::ffff:1.2.3.4]:80",
		"12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA@1.2.3.4:26656",
		"/ip4/1.2.3.4/tcp/26656/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
		"/ip6/100::1/udp/4001/quic-v1", "/dns4/example.com/tcp/1", "@:", "[%]:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		na, err := ParseNetAddress(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidNetAddress) {
				t.Fatalf("error %v does not wrap ErrInvalidNetAddress", err)
			}
			return
		}
		_, _, _ = na.Valid(), na.Routable(), na.ReachabilityTo(na)
		_ = groupKey(na, true)
		str := na.String()
		back, err := ParseNetAddress(str)
		if err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", str, s, err)
		}
		if !back.Equals(na) || back.String() != str || !back.Multiaddr.Equal(na.Multiaddr) {
			t.Fatalf("%q: round trip %q gave %q", s, str, back)
		}
	})
}
