package transport

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	bhost "github.com/libp2p/go-libp2p/p2p/host/basic"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// natManager maps a host's IPv4 listen ports through the gateway that
// discoverNAT finds (NAT-PMP or UPnP) and tells the host the mapped
// addresses. It replaces go-libp2p's own manager (libp2p.NATPortMap), which
// cannot find a NAT-PMP gateway on Linux and races with other go-libp2p NAT
// instances in the process (see upnp.go).
type natManager struct {
	net    network.Network
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	sync   chan struct{} // the listen addresses changed

	mu     sync.Mutex
	dev    natDevice         // nil until discovered
	mapped map[natEntry]bool // the ports asked for
}

// newNATManager starts discovery in the background; the host closes the
// manager.
func newNATManager(n network.Network) bhost.NATManager {
	m := &natManager{
		net:    n,
		done:   make(chan struct{}),
		sync:   make(chan struct{}, 1),
		mapped: map[natEntry]bool{},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	go m.run()
	return m
}

// run discovers the gateway, then maps the listen ports, and again each time
// they change, until Close; then it closes the gateway, which removes the
// mappings.
func (m *natManager) run() {
	defer close(m.done)
	dev, err := discoverNAT(m.ctx)
	if err != nil {
		log.Infow("no NAT gateway: ports not mapped", "err", err)
		return
	}
	m.mu.Lock()
	m.dev = dev
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.dev = nil
		m.mu.Unlock()
		if err := dev.Close(); err != nil {
			log.Debugw("close NAT gateway", "err", err)
		}
	}()
	notifiee := &network.NotifyBundle{
		ListenF:      func(network.Network, ma.Multiaddr) { m.listenChanged() },
		ListenCloseF: func(network.Network, ma.Multiaddr) { m.listenChanged() },
	}
	m.net.Notify(notifiee)
	defer m.net.StopNotify(notifiee)
	for {
		m.syncMappings(dev)
		select {
		case <-m.sync:
		case <-m.ctx.Done():
			return
		}
	}
}

func (m *natManager) listenChanged() {
	select {
	case m.sync <- struct{}{}:
	default:
	}
}

// removeTimeout bounds the removal of a mapping whose port is no longer
// listened on.
const removeTimeout = 10 * time.Second

// syncMappings maps the listen ports not mapped yet and removes the
// mappings of ports no longer listened on. Only run calls it.
func (m *natManager) syncMappings(dev natDevice) {
	want := map[natEntry]bool{}
	for _, a := range m.net.ListenAddresses() {
		if e, ok := mappableEntry(a); ok {
			want[e] = true
		}
	}
	for e := range m.mapped {
		if !want[e] {
			// Not m.ctx: the host closes its listeners, then the manager,
			// and a removal under way must not be canceled by that.
			ctx, cancel := context.WithTimeout(context.Background(), removeTimeout)
			err := dev.RemoveMapping(ctx, e.protocol, e.port)
			cancel()
			if err != nil {
				log.Debugw("remove port mapping", "protocol", e.protocol, "port", e.port, "err", err)
			}
			delete(m.mapped, e)
		}
	}
	for e := range want {
		if m.mapped[e] {
			continue
		}
		if err := dev.AddMapping(m.ctx, e.protocol, e.port); err != nil {
			log.Warnw("port mapping", "protocol", e.protocol, "port", e.port, "err", err)
			continue
		}
		m.mapped[e] = true
	}
}

// mappableEntry returns the protocol and port of an IPv4 TCP or UDP listen
// address on every interface or a unicast one (gateways map IPv4 only).
func mappableEntry(a ma.Multiaddr) (natEntry, bool) {
	if len(a) < 2 || a[0].Code() != ma.P_IP4 {
		return natEntry{}, false
	}
	ip := net.IP(a[0].RawValue())
	if !ip.IsUnspecified() && !ip.IsGlobalUnicast() {
		return natEntry{}, false
	}
	na, err := manet.ToNetAddr(a[:2])
	if err != nil {
		return natEntry{}, false
	}
	switch na := na.(type) {
	case *net.TCPAddr:
		return natEntry{"tcp", na.Port}, na.Port != 0
	case *net.UDPAddr:
		return natEntry{"udp", na.Port}, na.Port != 0
	}
	return natEntry{}, false
}

// GetMapping returns the gateway's address that forwards to listen address
// a, with a's protocols after the port kept (/quic-v1), or nil.
func (m *natManager) GetMapping(a ma.Multiaddr) ma.Multiaddr {
	e, ok := mappableEntry(a)
	if !ok {
		return nil
	}
	m.mu.Lock()
	dev := m.dev
	m.mu.Unlock()
	if dev == nil {
		return nil
	}
	ext, ok := dev.GetMapping(e.protocol, e.port)
	if !ok {
		return nil
	}
	mapped, err := manet.FromNetAddr(netAddrOf(e.protocol, netip.AddrPortFrom(ext.Addr().Unmap(), ext.Port())))
	if err != nil {
		return nil
	}
	return append(mapped, a[2:]...)
}

// netAddrOf returns ap as a *net.TCPAddr or *net.UDPAddr.
func netAddrOf(protocol string, ap netip.AddrPort) net.Addr {
	if protocol == "udp" {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

// HasDiscoveredNAT reports whether a gateway answered discovery.
func (m *natManager) HasDiscoveredNAT() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dev != nil
}

// Close stops discovery or the mappings, removing them from the gateway.
func (m *natManager) Close() error {
	m.cancel()
	<-m.done
	return nil
}
