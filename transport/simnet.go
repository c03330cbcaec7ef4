package transport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	"github.com/marcopolo/simnet"
	"github.com/quic-go/quic-go"
	"go.uber.org/fx"
)

// SimLink is one simulated host's access link: what separates it from the
// rest of a simulated network.
type SimLink struct {
	// Latency is the one-way delay between the host and the network's core:
	// a packet from A to B takes A's Latency plus B's.
	Latency time.Duration
	// BitsPerSecond is the bandwidth of the link, each way (0: 100 Mbit/s).
	BitsPerSecond int
	// Loss is the fraction of the packets the host sends that the network
	// loses at random (0 to 1), on top of those a full link drops.
	Loss float64
}

// ErrBadSimLink: a SimLink with a negative latency or bandwidth, or a loss
// outside 0 to 1.
var ErrBadSimLink = errors.New("bad simulated link")

// SimNet is a simulated IP network (github.com/marcopolo/simnet) whose
// hosts speak QUIC over it: latency and bandwidth per host, packets queued
// and dropped at a full link as a router would. It is meant to be run in a
// testing/synctest bubble, where minutes of network time take moments;
// every host and the network must then be made and closed inside the
// bubble. Hosts can lose packets at random (SimLink.Loss), and be cut off
// and reconnected (Partition, Heal).
type SimNet struct {
	net   *simnet.Simnet
	hosts []host.Host

	mu      sync.RWMutex
	latency map[string]time.Duration // by IP
	side    map[string]int           // by IP: partition side, 0 when healed
}

// NewSimNet makes a simulated network with one host per link, each with a
// fresh identity, listening on QUIC at its own public-looking address (each
// in a /16 of its own). The
// network is started; Close it (it closes the hosts) when done. The hosts
// have no resource limits (a null resource manager) and go-libp2p's other
// defaults otherwise.
func NewSimNet(links []SimLink) (*SimNet, []host.Host, error) {
	sn := &SimNet{latency: map[string]time.Duration{}, side: map[string]int{}}
	sn.net = &simnet.Simnet{LatencyFunc: sn.packetLatency}
	for i, l := range links {
		if l.Latency < 0 || l.BitsPerSecond < 0 || !(l.Loss >= 0 && l.Loss <= 1) {
			sn.Close()
			return nil, nil, fmt.Errorf("transport: simulated link %d: %w: latency %s, %d bit/s, loss %v", i, ErrBadSimLink, l.Latency, l.BitsPerSecond, l.Loss)
		}
		bps := l.BitsPerSecond
		if bps <= 0 {
			bps = 100_000_000
		}
		ip := simIP(i)
		sn.latency[ip.String()] = l.Latency
		settings := simnet.NodeBiDiLinkSettings{
			Downlink: simnet.LinkSettings{BitsPerSecond: bps},
			Uplink:   simnet.LinkSettings{BitsPerSecond: bps},
		}
		h, err := libp2p.New(
			libp2p.ListenAddrStrings(fmt.Sprintf("/ip4/%s/udp/8000/quic-v1", ip)),
			simQUIC(sn.net, settings, l.Loss, uint64(i)),
			libp2p.DisableIdentifyAddressDiscovery(), // it stalls a synctest bubble
			libp2p.ResourceManager(&network.NullResourceManager{}),
			libp2p.DisableRelay(),
			libp2p.DisableMetrics(),
		)
		if err != nil {
			sn.Close()
			return nil, nil, fmt.Errorf("transport: simulated host %d: %w", i, err)
		}
		sn.hosts = append(sn.hosts, h)
	}
	sn.net.Start()
	return sn, append([]host.Host(nil), sn.hosts...), nil
}

// Close closes every host, then the network. Idempotent.
func (sn *SimNet) Close() {
	for _, h := range sn.hosts {
		h.Close()
	}
	sn.net.Close()
}

// Partition cuts the network in two: packets between a host of side and
// one not in it are dropped until Heal. side holds host indexes.
func (sn *SimNet) Partition(side []int) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	clear(sn.side)
	for _, i := range side {
		sn.side[simIP(i).String()] = 1
	}
}

// Heal ends a partition.
func (sn *SimNet) Heal() {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	clear(sn.side)
}

// simIP is host i's address: a public one, each in a /16 of its own (so
// that address books group the hosts as they would group real ones).
func simIP(i int) net.IP { return simnet.IntToPublicIPv4(i << 16) }

// simDropped is a latency far beyond any timeout: the packet of a
// partitioned pair of hosts arrives after the connection has long died.
const simDropped = 24 * time.Hour

// packetLatency is the simulated network's latency of p: the sender's
// access latency plus the receiver's, or simDropped across a partition.
func (sn *SimNet) packetLatency(p *simnet.Packet) time.Duration {
	from, to := ipOf(p.From), ipOf(p.To)
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	if len(sn.side) > 0 && sn.side[from] != sn.side[to] {
		return simDropped
	}
	return sn.latency[from] + sn.latency[to]
}

func ipOf(a net.Addr) string {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.IP.String()
	}
	return a.String()
}

// simQUIC makes a host's QUIC transport send through the simulated network
// instead of UDP sockets (as go-libp2p's x/simlibp2p does).
func simQUIC(sn *simnet.Simnet, settings simnet.NodeBiDiLinkSettings, loss float64, seed uint64) libp2p.Option {
	var src sourceIP
	opts := []quicreuse.Option{
		quicreuse.OverrideSourceIPSelector(func() (quicreuse.SourceIPSelector, error) { return &src, nil }),
		quicreuse.OverrideListenUDP(func(_ string, addr *net.UDPAddr) (net.PacketConn, error) {
			src.ip.Store(&addr.IP)
			conn := sn.NewEndpoint(addr, settings)
			if loss > 0 {
				return &lossyConn{SimConn: conn, loss: loss, rand: rand.New(rand.NewPCG(seed, 0x5eed))}, nil
			}
			return conn, nil
		}),
	}
	return libp2p.QUICReuse(func(l fx.Lifecycle, reset quic.StatelessResetKey, token quic.TokenGeneratorKey, o ...quicreuse.Option) (*quicreuse.ConnManager, error) {
		cm, err := quicreuse.NewConnManager(reset, token, o...)
		if err != nil {
			return nil, err
		}
		l.Append(fx.StopHook(cm.Close))
		return cm, nil
	}, opts...)
}

// lossyConn loses a random fraction of the packets written to it: the
// sender believes they were sent.
type lossyConn struct {
	*simnet.SimConn
	loss float64

	mu   sync.Mutex
	rand *rand.Rand
}

func (c *lossyConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	lost := c.rand.Float64() < c.loss
	c.mu.Unlock()
	if lost {
		return len(p), nil
	}
	return c.SimConn.WriteTo(p, addr)
}

// sourceIP answers QUIC's question of which address to send from: the
// host's own simulated one.
type sourceIP struct{ ip atomic.Pointer[net.IP] }

func (s *sourceIP) PreferredSourceIPForDestination(*net.UDPAddr) (net.IP, error) {
	return *s.ip.Load(), nil
}
