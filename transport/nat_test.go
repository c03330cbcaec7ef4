package transport

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

// What is not tested here: UPnP discovery (go-libp2p's nat.DiscoverNAT)
// talking to a gateway, because it sends SSDP multicast onto the LAN, which
// tests must not do (integration/nat_test.go runs it against miniupnpd in
// network namespaces). The tests below cover the wiring (options_test.go:
// when a host maps ports), MapPort's and the host's NAT manager's own
// logic, with discovery replaced by a stand-in for the gateway; NAT-PMP
// (natpmp_test.go) runs against a NAT-PMP server on a loopback address.

// fakeGateway stands in for the LAN's UPnP/NAT-PMP router behind
// go-libp2p's *nat.NAT, recording what MapPort asks of it.
type fakeGateway struct {
	mu                sync.Mutex
	mapped            map[string]netip.AddrPort // "tcp/26656" -> external
	grant             netip.AddrPort            // what AddMapping grants; zero: refuse
	addErr            error
	removed, closed   int
	removedProto      string
	removedPort       int
	addCalls          int
	lastProto         string
	lastInternalPort  int
	lastRemoveContext context.Context
}

func (g *fakeGateway) AddMapping(_ context.Context, protocol string, port int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.addCalls++
	g.lastProto, g.lastInternalPort = protocol, port
	if g.addErr != nil {
		return g.addErr
	}
	if g.grant.IsValid() {
		if g.mapped == nil {
			g.mapped = map[string]netip.AddrPort{}
		}
		g.mapped[fmt.Sprintf("%s/%d", protocol, port)] = g.grant
	}
	return nil
}

func (g *fakeGateway) GetMapping(protocol string, port int) (netip.AddrPort, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ap, ok := g.mapped[fmt.Sprintf("%s/%d", protocol, port)]
	return ap, ok
}

func (g *fakeGateway) RemoveMapping(ctx context.Context, protocol string, port int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removed++
	g.removedProto, g.removedPort, g.lastRemoveContext = protocol, port, ctx
	delete(g.mapped, fmt.Sprintf("%s/%d", protocol, port))
	return nil
}

func (g *fakeGateway) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed++
	clear(g.mapped)
	return nil
}

// counts returns how many mappings were added and removed, and closes.
func (g *fakeGateway) counts() (added, removed, closed int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.addCalls, g.removed, g.closed
}

// withDiscovery replaces NAT discovery for one test.
func withDiscovery(t *testing.T, d func(context.Context) (natDevice, error)) {
	old := discoverNAT
	discoverNAT = d
	t.Cleanup(func() { discoverNAT = old })
}

func TestMapPortWithoutAGatewayIsErrNoNAT(t *testing.T) {
	withDiscovery(t, func(context.Context) (natDevice, error) {
		return nil, errors.New("no UPnP or NAT-PMP device answered")
	})
	_, err := MapPort(context.Background(), "tcp", 26656)
	if !errors.Is(err, ErrNoNAT) {
		t.Fatalf("err = %v, want ErrNoNAT", err)
	}
}

func TestMapPortCancelledIsTheContextError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	withDiscovery(t, func(ctx context.Context) (natDevice, error) {
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	})
	_, err := MapPort(ctx, "udp", 1)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNoNAT) {
		t.Fatalf("err = %v, want context.Canceled (not ErrNoNAT)", err)
	}
}

func TestMapPortRejectsBadArgumentsWithoutDiscovery(t *testing.T) {
	withDiscovery(t, func(context.Context) (natDevice, error) {
		t.Fatal("discovery ran for bad arguments")
		return nil, nil
	})
	for _, tc := range []struct {
		proto string
		port  int
	}{{"sctp", 1}, {"", 1}, {"TCP", 1}, {"tcp", 0}, {"tcp", -1}, {"udp", 65536}} {
		if _, err := MapPort(context.Background(), tc.proto, tc.port); !errors.Is(err, ErrBadOption) {
			t.Errorf("MapPort(%q, %d): err = %v, want ErrBadOption", tc.proto, tc.port, err)
		}
	}
}

// UPnP gateways' IPv4 addresses reach go-libp2p's NAT as IPv4-mapped IPv6
// (the NAT test in integration/ shows it); External reports them as IPv4.
func TestPortMappingReportsAnIPv4MappedAddressAsIPv4(t *testing.T) {
	gw := &fakeGateway{grant: netip.MustParseAddrPort("[::ffff:11.22.33.44]:40000")}
	withDiscovery(t, func(context.Context) (natDevice, error) { return gw, nil })
	m, err := MapPort(context.Background(), "udp", 26656)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got, err := m.External(); err != nil || got != netip.MustParseAddrPort("11.22.33.44:40000") {
		t.Fatalf("External() = %v, %v; want 11.22.33.44:40000", got, err)
	}
}

func TestPortMappingReportsTheGrantedAddressAndRemovesItOnClose(t *testing.T) {
	ext := netip.MustParseAddrPort("11.22.33.44:40000")
	gw := &fakeGateway{grant: ext}
	withDiscovery(t, func(context.Context) (natDevice, error) { return gw, nil })
	m, err := MapPort(context.Background(), "tcp", 26656)
	if err != nil {
		t.Fatal(err)
	}
	if gw.lastProto != "tcp" || gw.lastInternalPort != 26656 {
		t.Errorf("asked the gateway for %s/%d", gw.lastProto, gw.lastInternalPort)
	}
	if m.Protocol() != "tcp" || m.InternalPort() != 26656 {
		t.Errorf("mapping describes itself as %s/%d", m.Protocol(), m.InternalPort())
	}
	got, err := m.External()
	if err != nil || got != ext {
		t.Fatalf("External() = %v, %v; want %v", got, err, ext)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if gw.removed != 1 || gw.closed != 1 || gw.removedProto != "tcp" || gw.removedPort != 26656 {
		t.Errorf("after two Closes: removed %d (%s/%d), closed %d; want 1 each", gw.removed, gw.removedProto, gw.removedPort, gw.closed)
	}
	if _, ok := gw.lastRemoveContext.Deadline(); !ok {
		t.Error("removal is not bounded in time")
	}
}

func TestPortMappingNotGrantedIsErrNoMapping(t *testing.T) {
	gw := &fakeGateway{} // answers, but grants nothing
	withDiscovery(t, func(context.Context) (natDevice, error) { return gw, nil })
	m, err := MapPort(context.Background(), "udp", 4001)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.External(); !errors.Is(err, ErrNoMapping) {
		t.Fatalf("External() err = %v, want ErrNoMapping", err)
	}
}

func TestMapPortClosesTheGatewayWhenMappingFails(t *testing.T) {
	gw := &fakeGateway{addErr: errors.New("closed")}
	withDiscovery(t, func(context.Context) (natDevice, error) { return gw, nil })
	if _, err := MapPort(context.Background(), "tcp", 1); err == nil {
		t.Fatal("a failed AddMapping was reported as success")
	}
	if gw.closed != 1 {
		t.Errorf("gateway closed %d times, want 1", gw.closed)
	}
}

func TestExternalAddrsOfALoopbackHostIsEmpty(t *testing.T) {
	if got := ExternalAddrs(newTestHost(t)); len(got) != 0 {
		t.Fatalf("ExternalAddrs = %v, want none for a loopback host", got)
	}
}
