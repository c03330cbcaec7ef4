// Modified for Switchyard.
// Originally Copyright (c) 2013-2014 Conformal Systems LLC (btcd's addrmanager),
// by way of Tendermint's 2014 p2p package.

package p2p

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ErrInvalidNetAddress is wrapped by every error of ParseNetAddress,
// NewNetAddressMultiaddr and NetAddressFromAddrInfo; the wrapping error says
// what is wrong with the input.
var ErrInvalidNetAddress = errors.New("invalid net address")

// ErrNetAddressNotTCP is returned by Dial and DialTimeout for an address that
// cannot be dialled with a plain TCP connection (no usable IP, or a QUIC
// address).
var ErrNetAddressNotTCP = errors.New("net address is not a TCP address")

// maxNetAddressLen bounds the input of ParseNetAddress. The longest valid form
// ("/ip6/<39 chars>/udp/65535/quic-v1/p2p/<id>") is far below it.
const maxNetAddressLen = 512

// NetAddress is a dialable address of a peer: the seed's IP and port, plus
// the libp2p peer ID and multiaddr.
//
// Addresses made by the constructors of this package are canonical: an IPv4
// address (also one written as an IPv4-mapped IPv6 address) has an /ip4
// multiaddr, and Multiaddr is one of /ipX/<IP>/tcp/<Port> or
// /ipX/<IP>/udp/<Port>/quic-v1, consistent with IP and Port. A NetAddress is
// a value once made: the book and the other users of this package never change
// one they were given, and callers should not either.
type NetAddress struct {
	IP   net.IP
	Port uint16
	// ID is the libp2p peer ID, empty when unknown (a plain "ip:port").
	ID peer.ID
	// Multiaddr is the transport address without /p2p, e.g.
	// /ip4/1.2.3.4/tcp/26656 or /ip6/2001:db8::1/udp/4001/quic-v1. A nil
	// Multiaddr means the TCP address of IP and Port.
	Multiaddr ma.Multiaddr
}

// NewNetAddress returns the address of a net.Addr, without peer ID.
// A *net.TCPAddr gives a TCP address and a *net.UDPAddr a QUIC (quic-v1)
// address, the only UDP transport Switchyard speaks; the IPv6 zone is dropped.
// Any other net.Addr is parsed from its String() with ParseNetAddress.
//
// As in the seed, NewNetAddress panics when addr is nil or, for another type,
// when its String() does not parse; callers with untrusted input use
// ParseNetAddress.
func NewNetAddress(addr net.Addr) *NetAddress {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return newNetAddress(a.IP, uint16(a.Port), false)
	case *net.UDPAddr:
		return newNetAddress(a.IP, uint16(a.Port), true)
	case nil:
		panic("p2p: NewNetAddress of a nil net.Addr")
	}
	na, err := ParseNetAddress(addr.String())
	if err != nil {
		panic(fmt.Sprintf("p2p: NewNetAddress(%T %q): %v", addr, addr.String(), err))
	}
	return na
}

// NewNetAddressString parses addr as ParseNetAddress does.
//
// As in the seed, it panics when addr does not parse; callers with untrusted
// input use ParseNetAddress.
func NewNetAddressString(addr string) *NetAddress {
	na, err := ParseNetAddress(addr)
	if err != nil {
		panic(fmt.Sprintf("p2p: NewNetAddressString: %v", err))
	}
	return na
}

// NewNetAddressIPPort returns the TCP address ip:port, without peer ID. The IP
// is kept as given; the multiaddr is nil when ip is not a 4- or 16-byte IP.
func NewNetAddressIPPort(ip net.IP, port uint16) *NetAddress {
	return newNetAddress(ip, port, false)
}

func newNetAddress(ip net.IP, port uint16, quic bool) *NetAddress {
	return &NetAddress{IP: ip, Port: port, Multiaddr: buildMultiaddr(ip, port, quic)}
}

// buildMultiaddr returns the canonical transport multiaddr of ip and port, or
// nil when ip is not a 4- or 16-byte IP.
func buildMultiaddr(ip net.IP, port uint16, quic bool) ma.Multiaddr {
	var s strings.Builder
	if ip4 := ip.To4(); ip4 != nil {
		s.WriteString("/ip4/" + ip4.String())
	} else if len(ip) == net.IPv6len {
		s.WriteString("/ip6/" + ip.String())
	} else {
		return nil
	}
	p := strconv.Itoa(int(port))
	if quic {
		s.WriteString("/udp/" + p + "/quic-v1")
	} else {
		s.WriteString("/tcp/" + p)
	}
	m, err := ma.NewMultiaddr(s.String())
	if err != nil {
		return nil // unreachable for a 4- or 16-byte IP
	}
	return m
}

// ParseNetAddress parses a peer address. Accepted forms:
//
//	ip:port                          1.2.3.4:26656
//	[ipv6]:port                      [2001:db8::1]:26656
//	<peerID>@ip:port                 12D3KooW...@1.2.3.4:26656
//	<peerID>@[ipv6]:port
//	a multiaddr                      /ip4/1.2.3.4/tcp/26656
//	                                 /ip6/2001:db8::1/udp/4001/quic-v1
//	                                 /ip4/1.2.3.4/tcp/26656/p2p/12D3KooW...
//
// Hosts must be IP literals: no DNS name is resolved (nor /dns multiaddrs), and
// IPv6 zones are refused. The port may be 0 here (Valid reports it). Every
// error wraps ErrInvalidNetAddress and says what is wrong.
// ParseNetAddress(na.String()) returns an address Equal to na for every na it
// returned.
func ParseNetAddress(addr string) (*NetAddress, error) {
	if len(addr) > maxNetAddressLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidNetAddress, maxNetAddressLen)
	}
	if strings.HasPrefix(addr, "/") {
		m, err := ma.NewMultiaddr(addr)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: bad multiaddr: %v", ErrInvalidNetAddress, addr, err)
		}
		return NewNetAddressMultiaddr(m)
	}
	var id peer.ID
	hostPort := addr
	if idStr, rest, ok := strings.Cut(addr, "@"); ok {
		if strings.Contains(rest, "@") {
			return nil, fmt.Errorf("%w: %q: more than one '@'", ErrInvalidNetAddress, addr)
		}
		if idStr == "" {
			return nil, fmt.Errorf("%w: %q: empty peer ID before '@'", ErrInvalidNetAddress, addr)
		}
		var err error
		if id, err = peer.Decode(idStr); err != nil {
			return nil, fmt.Errorf("%w: %q: bad peer ID: %v", ErrInvalidNetAddress, addr, err)
		}
		hostPort = rest
	}
	host, portStr, err := net.SplitHostPort(hostPort)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalidNetAddress, addr, err)
	}
	if strings.Contains(host, "%") {
		return nil, fmt.Errorf("%w: %q: IPv6 zones are not supported", ErrInvalidNetAddress, addr)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("%w: %q: host %q is not an IP literal (names are not resolved)", ErrInvalidNetAddress, addr, host)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: bad port %q", ErrInvalidNetAddress, addr, portStr)
	}
	na := NewNetAddressIPPort(ip, uint16(port))
	na.ID = id
	return na, nil
}

// NewNetAddressMultiaddr returns the address of a multiaddr of the form
// /ip4|ip6/<ip>/tcp/<port> or /ip4|ip6/<ip>/udp/<port>/quic-v1, optionally
// ending in /p2p/<peerID> (split off into ID). Other transports (DNS, relays,
// websockets, ...) are refused with an error wrapping ErrInvalidNetAddress.
func NewNetAddressMultiaddr(m ma.Multiaddr) (*NetAddress, error) {
	if len(m) == 0 {
		return nil, fmt.Errorf("%w: empty multiaddr", ErrInvalidNetAddress)
	}
	transport, id := peer.SplitAddr(m)
	if len(transport) == 0 {
		return nil, fmt.Errorf("%w: %s: no transport address", ErrInvalidNetAddress, m)
	}
	var ip net.IP
	switch transport[0].Code() {
	case ma.P_IP4, ma.P_IP6:
		ip = net.IP(bytes.Clone(transport[0].RawValue()))
	default:
		return nil, fmt.Errorf("%w: %s: want an /ip4 or /ip6 address (names are not resolved)", ErrInvalidNetAddress, m)
	}
	var quic bool
	switch {
	case len(transport) == 2 && transport[1].Code() == ma.P_TCP:
	case len(transport) == 3 && transport[1].Code() == ma.P_UDP && transport[2].Code() == ma.P_QUIC_V1:
		quic = true
	default:
		return nil, fmt.Errorf("%w: %s: unsupported transport (want tcp or udp/quic-v1)", ErrInvalidNetAddress, m)
	}
	port, err := strconv.ParseUint(transport[1].Value(), 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: bad port: %v", ErrInvalidNetAddress, m, err)
	}
	na := newNetAddress(ip, uint16(port), quic)
	if na.Multiaddr == nil {
		return nil, fmt.Errorf("%w: %s: bad IP", ErrInvalidNetAddress, m)
	}
	na.ID = id
	return na, nil
}

// NetAddressFromAddrInfo returns one address per usable multiaddr of ai (see
// NewNetAddressMultiaddr), each with ai.ID; a multiaddr whose /p2p part names
// another peer is skipped. It fails, with an error wrapping
// ErrInvalidNetAddress, when ai.ID is empty or no multiaddr is usable.
func NetAddressFromAddrInfo(ai peer.AddrInfo) ([]*NetAddress, error) {
	if ai.ID == "" {
		return nil, fmt.Errorf("%w: AddrInfo without peer ID", ErrInvalidNetAddress)
	}
	var (
		out  []*NetAddress
		errs []error
	)
	for _, m := range ai.Addrs {
		na, err := NewNetAddressMultiaddr(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if na.ID != "" && na.ID != ai.ID {
			errs = append(errs, fmt.Errorf("%w: %s: names peer %s, not %s", ErrInvalidNetAddress, m, na.ID, ai.ID))
			continue
		}
		na.ID = ai.ID
		out = append(out, na)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no usable address for peer %s: %w", ErrInvalidNetAddress, ai.ID, errors.Join(errs...))
	}
	return out, nil
}

// AddrInfo returns the address as a libp2p AddrInfo: its ID and its transport
// multiaddr (none when the address has no IP).
func (na *NetAddress) AddrInfo() peer.AddrInfo {
	if na == nil {
		return peer.AddrInfo{}
	}
	ai := peer.AddrInfo{ID: na.ID}
	if m := na.transport(); m != nil {
		ai.Addrs = []ma.Multiaddr{m}
	}
	return ai
}

// transport returns the multiaddr, or the TCP multiaddr of IP and Port when
// Multiaddr is nil.
func (na *NetAddress) transport() ma.Multiaddr {
	if na.Multiaddr != nil {
		return na.Multiaddr
	}
	return buildMultiaddr(na.IP, na.Port, false)
}

// isTCP reports whether the address is a TCP address (Multiaddr nil or
// /ipX/.../tcp/...).
func (na *NetAddress) isTCP() bool {
	m := na.Multiaddr
	return m == nil || (len(m) == 2 && m[1].Code() == ma.P_TCP)
}

// dialString is "ip:port" ("[ipv6]:port"), the seed's form without ID.
func (na *NetAddress) dialString() string {
	return net.JoinHostPort(na.IP.String(), strconv.Itoa(int(na.Port)))
}

// transportString is String() without the peer ID.
func (na *NetAddress) transportString() string {
	if na.isTCP() {
		return na.dialString()
	}
	return na.Multiaddr.String()
}

// String returns "ip:port" ("[ipv6]:port"), or "<peerID>@ip:port" when ID is
// set, for a TCP address; for another transport it returns the multiaddr,
// ending in /p2p/<peerID> when ID is set. ParseNetAddress parses it back.
// A nil address prints as "<nil>".
func (na *NetAddress) String() string {
	if na == nil {
		return "<nil>"
	}
	if na.isTCP() {
		if na.ID != "" {
			return na.ID.String() + "@" + na.dialString()
		}
		return na.dialString()
	}
	if na.ID != "" {
		return na.Multiaddr.String() + "/p2p/" + na.ID.String()
	}
	return na.Multiaddr.String()
}

// Equals reports whether other is a *NetAddress with the same peer ID, IP,
// port and transport (seed signature: other of another type is not equal).
// Two nil addresses are equal.
func (na *NetAddress) Equals(other interface{}) bool {
	o, ok := other.(*NetAddress)
	if !ok {
		return false
	}
	if na == nil || o == nil {
		return na == nil && o == nil
	}
	return na.String() == o.String()
}

// Less orders addresses by IP (as 16 bytes), then port, then String (so
// peer ID and transport); it is a strict weak order consistent with Equals.
// Another type than *NetAddress is never less (the seed panicked); nil
// sorts first.
func (na *NetAddress) Less(other interface{}) bool {
	o, ok := other.(*NetAddress)
	if !ok {
		return false
	}
	if na == nil || o == nil {
		return na == nil && o != nil
	}
	if c := bytes.Compare(na.IP.To16(), o.IP.To16()); c != 0 {
		return c < 0
	}
	if na.Port != o.Port {
		return na.Port < o.Port
	}
	return na.String() < o.String()
}

// Dial opens a plain TCP connection to ip:port, as the seed did (for
// Switch.AddPeerWithConnection). It fails with ErrNetAddressNotTCP when the
// address has no 4- or 16-byte IP or is not a TCP address; it never resolves
// names.
func (na *NetAddress) Dial() (net.Conn, error) {
	return na.DialTimeout(0)
}

// DialTimeout is Dial with a timeout (0: none but the operating system's).
func (na *NetAddress) DialTimeout(timeout time.Duration) (net.Conn, error) {
	if na == nil || (len(na.IP) != net.IPv4len && len(na.IP) != net.IPv6len) || !na.isTCP() {
		return nil, fmt.Errorf("dial %s: %w", na, ErrNetAddressNotTCP)
	}
	conn, err := net.DialTimeout("tcp", na.dialString(), timeout)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", na, err)
	}
	return conn, nil
}

// clone returns a copy that shares no memory with na (nil for nil).
func (na *NetAddress) clone() *NetAddress {
	if na == nil {
		return nil
	}
	c := *na
	c.IP = bytes.Clone(na.IP)
	c.Multiaddr = slices.Clone(na.Multiaddr) // components are immutable values
	return &c
}
