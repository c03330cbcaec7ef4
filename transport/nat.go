package transport

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/p2p/net/nat"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// ErrNoNAT is returned (wrapped) by MapPort when no UPnP / NAT-PMP gateway
// answers discovery.
var ErrNoNAT = errors.New("transport: no NAT gateway found")

// ErrNoMapping is returned (wrapped) by PortMapping.External while the
// gateway has not granted a mapping (or has dropped it).
var ErrNoMapping = errors.New("transport: port not mapped")

// ExternalAddrs returns the addresses h advertises that are public
// (globally routable): its NAT-mapped addresses (when NAT port mapping is on
// and the gateway granted a mapping), addresses observed by peers through
// identify, and any public address it listens on directly. It returns nil for
// a host that is only reachable on a LAN or loopback. It does no I/O and is
// safe for concurrent use.
func ExternalAddrs(h host.Host) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range h.Addrs() {
		if manet.IsPublicAddr(a) {
			out = append(out, a)
		}
	}
	return out
}

// natDevice is a gateway that maps ports and keeps them mapped until they
// are removed or it is closed: our NAT-PMP client (pmpNAT) or a handle on
// go-libp2p's NAT for UPnP (upnpUser).
type natDevice interface {
	AddMapping(ctx context.Context, protocol string, port int) error
	GetMapping(protocol string, port int) (netip.AddrPort, bool)
	RemoveMapping(ctx context.Context, protocol string, port int) error
	Close() error
}

// discoverNAT finds the gateway: NAT-PMP at the default gateway first (one
// request, answered or refused at once by most gateways, at most pmpTimeout),
// then UPnP through go-libp2p (SSDP multicast, at most nat.DiscoveryTimeout). It is a variable so tests can
// check MapPort's error handling without a gateway.
var discoverNAT = func(ctx context.Context) (natDevice, error) {
	pmp, pmpErr := discoverPMP(ctx)
	if pmpErr == nil {
		return pmp, nil
	}
	ctx, cancel := context.WithTimeout(ctx, nat.DiscoveryTimeout)
	defer cancel()
	upnp, err := acquireUPnP(ctx)
	if err != nil {
		return nil, fmt.Errorf("NAT-PMP: %w; UPnP: %w", pmpErr, err)
	}
	return upnp, nil
}

// PortMapping is a port forwarded by the LAN's gateway (UPnP IGD or
// NAT-PMP) to a port of this machine, kept alive in the background until
// Close. Its methods are safe for concurrent use.
type PortMapping struct {
	protocol string
	port     int
	dev      natDevice

	closeOnce sync.Once
	closeErr  error
}

// MapPort discovers the LAN's gateway and asks it to forward protocol ("tcp"
// or "udp") traffic to internalPort on this machine, for use without a host,
// e.g. for a raw TCP listener (a host built by New maps its own ports; see
// WithNAT). It blocks for discovery (a NAT-PMP request of up to 2 s, then
// UPnP discovery for up to 10 s, or until ctx is done) and one mapping
// attempt. It fails with an error wrapping
// ErrNoNAT when no gateway answers. A gateway may still refuse the mapping:
// MapPort then succeeds, keeps retrying in the background, and External
// reports ErrNoMapping until it is granted. Call Close to remove it.
//
// Discovery asks the default gateway over NAT-PMP, then looks for a UPnP
// gateway with SSDP multicast on the LAN (see README, "NAT").
func MapPort(ctx context.Context, protocol string, internalPort int) (*PortMapping, error) {
	if protocol != "tcp" && protocol != "udp" {
		return nil, fmt.Errorf("%w: MapPort: protocol %q (want \"tcp\" or \"udp\")", ErrBadOption, protocol)
	}
	if internalPort <= 0 || internalPort > 65535 {
		return nil, fmt.Errorf("%w: MapPort: port %d (want 1..65535)", ErrBadOption, internalPort)
	}
	dev, err := discoverNAT(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("transport: NAT discovery: %w", ctx.Err())
		}
		return nil, fmt.Errorf("%w: %w", ErrNoNAT, err)
	}
	if err := dev.AddMapping(ctx, protocol, internalPort); err != nil {
		dev.Close()
		return nil, fmt.Errorf("transport: map %s port %d: %w", protocol, internalPort, err)
	}
	return &PortMapping{protocol: protocol, port: internalPort, dev: dev}, nil
}

// Protocol returns "tcp" or "udp".
func (m *PortMapping) Protocol() string { return m.protocol }

// InternalPort returns the local port the mapping forwards to.
func (m *PortMapping) InternalPort() int { return m.port }

// External returns the gateway's public address and the external port that
// forwards to InternalPort, or an error wrapping ErrNoMapping while there is
// none. It does no I/O (the background renewal keeps the answer current).
func (m *PortMapping) External() (netip.AddrPort, error) {
	ap, ok := m.dev.GetMapping(m.protocol, m.port)
	if !ok {
		if r, isReporter := m.dev.(interface{ mappingError(string, int) error }); isReporter {
			if err := r.mappingError(m.protocol, m.port); err != nil {
				return netip.AddrPort{}, fmt.Errorf("%w: %s port %d: %w", ErrNoMapping, m.protocol, m.port, err)
			}
		}
		return netip.AddrPort{}, fmt.Errorf("%w: %s port %d", ErrNoMapping, m.protocol, m.port)
	}
	// A UPnP gateway's IPv4 address comes back IPv4-mapped (::ffff:a.b.c.d).
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// Close asks the gateway to remove the mapping and stops the background
// renewal. It blocks for at most one request to the gateway. Calling it
// again returns the first call's result.
func (m *PortMapping) Close() error {
	m.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), nat.DiscoveryTimeout)
		defer cancel()
		err := m.dev.RemoveMapping(ctx, m.protocol, m.port)
		m.closeErr = errors.Join(err, m.dev.Close())
	})
	return m.closeErr
}

// natWanted decides whether a host maps its ports: the explicit WithNAT
// choice, else whether any listen address is unspecified.
func natWanted(forced *bool, listen []ma.Multiaddr) bool {
	if forced != nil {
		return *forced
	}
	return anyUnspecified(listen)
}
