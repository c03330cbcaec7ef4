package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// ErrBadListenAddr is returned (wrapped) by New and ParseListenAddr for a
// listen address that does not parse or is not a TCP address on an IP.
var ErrBadListenAddr = errors.New("transport: bad listen address")

// ErrPortInUse is returned (wrapped) by New when a TCP port it is to listen
// on is taken by another socket, unless WithPortSharing. go-libp2p listens
// with SO_REUSEPORT, so without this check two processes on one port would
// both start and share incoming connections at random.
var ErrPortInUse = errors.New("transport: port already in use")

// checkPortsFree binds each listen address with a fixed port, without
// SO_REUSEPORT, and releases it at once: if another socket holds the port,
// even one that allows sharing, the bind fails.
func checkPortsFree(addrs []ma.Multiaddr) error {
	for _, a := range addrs {
		na, err := manet.ToNetAddr(a)
		if err != nil {
			continue
		}
		if tcp, ok := na.(*net.TCPAddr); !ok || tcp.Port == 0 {
			continue
		}
		l, err := net.Listen("tcp", na.String())
		if err != nil {
			return fmt.Errorf("%w: %s (another node on this port? WithPortSharing shares it on purpose): %w", ErrPortInUse, a, err)
		}
		l.Close()
	}
	return nil
}

// ParseListenAddr turns a listen address as WithListenAddrs accepts it into a
// TCP multiaddr: a multiaddr "/ip4|ip6/<ip>/tcp/<port>" is checked and
// returned; "host:port" is converted, where host is an IP literal (IPv6 in
// brackets), "localhost" (127.0.0.1) or empty (0.0.0.0: every IPv4
// interface), and port is 0..65535. Anything else is an error wrapping
// ErrBadListenAddr. It does no I/O.
func ParseListenAddr(s string) (ma.Multiaddr, error) {
	if strings.HasPrefix(s, "/") {
		return parseListenMultiaddr(s)
	}
	return parseHostPort(s)
}

func parseListenMultiaddr(s string) (ma.Multiaddr, error) {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrBadListenAddr, s, err)
	}
	if len(m) != 2 || (m[0].Code() != ma.P_IP4 && m[0].Code() != ma.P_IP6) || m[1].Code() != ma.P_TCP {
		return nil, fmt.Errorf("%w: %q: want /ip4/<ip>/tcp/<port> or /ip6/<ip>/tcp/<port> (QUIC: use WithQUIC)", ErrBadListenAddr, s)
	}
	return m, nil
}

func parseHostPort(s string) (ma.Multiaddr, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrBadListenAddr, s, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: port %q is not a number in 0..65535", ErrBadListenAddr, s, portStr)
	}
	var ip netip.Addr
	switch host {
	case "":
		ip = netip.IPv4Unspecified()
	case "localhost":
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	default:
		ip, err = netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: host %q is not an IP address", ErrBadListenAddr, s, host)
		}
		if ip.Zone() != "" {
			return nil, fmt.Errorf("%w: %q: IPv6 zones are not supported", ErrBadListenAddr, s)
		}
	}
	m, err := manet.FromNetAddr(net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), uint16(port))))
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrBadListenAddr, s, err)
	}
	return m, nil
}

// parseListenAddrs parses every address, failing on the first bad one.
func parseListenAddrs(addrs []string) ([]ma.Multiaddr, error) {
	out := make([]ma.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		m, err := ParseListenAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// quicAddr is the QUIC v1 address on the same IP and port as tcpAddr.
func quicAddr(tcpAddr ma.Multiaddr) (ma.Multiaddr, error) {
	udp, err := ma.NewComponent("udp", tcpAddr[1].Value())
	if err != nil {
		return nil, err
	}
	quic, err := ma.NewComponent("quic-v1", "")
	if err != nil {
		return nil, err
	}
	return ma.Multiaddr{tcpAddr[0], *udp, *quic}, nil
}

// anyUnspecified reports whether one of addrs listens on every interface.
func anyUnspecified(addrs []ma.Multiaddr) bool {
	for _, a := range addrs {
		if manet.IsIPUnspecified(a) {
			return true
		}
	}
	return false
}
