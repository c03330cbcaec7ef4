package transport

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
)

// listenCloser is the part of go-libp2p's swarm that stops one listener.
type listenCloser interface{ ListenClose(...ma.Multiaddr) }

// listenAll makes n listen on 0.0.0.0 on a free TCP port and returns the
// address it listens on.
func listenAll(t *testing.T, n network.Network) ma.Multiaddr {
	t.Helper()
	before := map[string]bool{}
	for _, a := range n.ListenAddresses() {
		before[a.String()] = true
	}
	if err := n.Listen(ma.StringCast("/ip4/0.0.0.0/tcp/0")); err != nil {
		t.Fatal(err)
	}
	for _, a := range n.ListenAddresses() {
		if !before[a.String()] {
			return a
		}
	}
	t.Fatal("no new listen address")
	return nil
}

func TestTheNATManagerMapsListenPortsAndFollowsThem(t *testing.T) {
	gw := &fakeGateway{grant: netip.MustParseAddrPort("11.22.33.44:40000")}
	withDiscovery(t, func(context.Context) (natDevice, error) { return gw, nil })
	h := newTestHost(t, WithNAT(false))
	first := listenAll(t, h.Network())

	m := newNATManager(h.Network())
	closed := false
	defer func() {
		if !closed {
			m.Close()
		}
	}()
	want := ma.StringCast("/ip4/11.22.33.44/tcp/40000")
	waitFor(t, "the first port is mapped", func() bool {
		got := m.GetMapping(first)
		return got != nil && got.Equal(want)
	})
	if !m.HasDiscoveredNAT() {
		t.Fatal("HasDiscoveredNAT = false with a gateway")
	}
	for _, a := range h.Network().ListenAddresses() {
		if a.Equal(first) {
			continue
		}
		if got := m.GetMapping(a); got != nil { // the loopback listener
			t.Fatalf("GetMapping(%s) = %s, want nil: loopback is not mapped", a, got)
		}
	}

	second := listenAll(t, h.Network())
	waitFor(t, "a new listen port is mapped", func() bool { return m.GetMapping(second) != nil })
	if added, _, _ := gw.counts(); added != 2 {
		t.Fatalf("the gateway was asked for %d mappings, want 2", added)
	}

	lc, ok := h.Network().(listenCloser)
	if !ok {
		t.Fatalf("%T cannot close one listener", h.Network())
	}
	lc.ListenClose(first)
	waitFor(t, "a closed listener's mapping is removed", func() bool {
		_, removed, _ := gw.counts()
		return removed == 1
	})
	gw.mu.Lock()
	removedPort := gw.removedPort
	gw.mu.Unlock()
	if firstPort, _ := first.ValueForProtocol(ma.P_TCP); strconv.Itoa(removedPort) != firstPort {
		t.Fatalf("removed port %d after closing %s", removedPort, first)
	}
	if m.GetMapping(second) == nil {
		t.Fatal("closing one listener removed the other's mapping")
	}

	closed = true
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, n := gw.counts(); n != 1 {
		t.Fatalf("the gateway was closed %d times, want 1", n)
	}
	if m.HasDiscoveredNAT() || m.GetMapping(second) != nil {
		t.Fatal("the manager still reports a gateway or a mapping after Close")
	}
}

func TestTheNATManagerWithoutAGatewayMapsNothing(t *testing.T) {
	ran := make(chan struct{})
	withDiscovery(t, func(context.Context) (natDevice, error) {
		close(ran)
		return nil, errors.New("no gateway answered")
	})
	h := newTestHost(t, WithNAT(false))
	a := listenAll(t, h.Network())
	m := newNATManager(h.Network())
	<-ran
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if m.HasDiscoveredNAT() || m.GetMapping(a) != nil {
		t.Fatal("a mapping without a gateway")
	}
}

func TestTheNATManagerSurvivesARefusedMapping(t *testing.T) {
	gw := &fakeGateway{addErr: errors.New("refused")}
	withDiscovery(t, func(context.Context) (natDevice, error) { return gw, nil })
	h := newTestHost(t, WithNAT(false))
	a := listenAll(t, h.Network())
	m := newNATManager(h.Network())
	waitFor(t, "the mapping is asked for", func() bool {
		added, _, _ := gw.counts()
		return added == 1
	})
	if got := m.GetMapping(a); got != nil {
		t.Fatalf("GetMapping = %s after a refusal", got)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestClosingTheNATManagerEndsDiscovery(t *testing.T) {
	started := make(chan struct{})
	withDiscovery(t, func(ctx context.Context) (natDevice, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	h := newTestHost(t, WithNAT(false))
	m := newNATManager(h.Network())
	<-started
	done := make(chan error, 1)
	go func() { done <- m.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for discovery to time out")
	}
}

func TestOnlyIPv4PortsOnAllOrPublicInterfacesAreMappable(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want natEntry
		ok   bool
	}{
		{"/ip4/0.0.0.0/tcp/26656", natEntry{"tcp", 26656}, true},
		{"/ip4/0.0.0.0/udp/4001/quic-v1", natEntry{"udp", 4001}, true},
		{"/ip4/10.1.2.3/tcp/5", natEntry{"tcp", 5}, true},
		{"/ip4/127.0.0.1/tcp/26656", natEntry{}, false},
		{"/ip4/169.254.1.1/tcp/26656", natEntry{}, false},
		{"/ip4/0.0.0.0/tcp/0", natEntry{}, false},
		{"/ip6/::/tcp/26656", natEntry{}, false},
		{"/dns4/example.com/tcp/26656", natEntry{}, false},
		{"/ip4/0.0.0.0", natEntry{}, false},
		{"/ip4/0.0.0.0/udp/1/p2p-circuit", natEntry{"udp", 1}, true},
	} {
		got, ok := mappableEntry(ma.StringCast(tc.addr))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("mappableEntry(%s) = %v, %v; want %v, %v", tc.addr, got, ok, tc.want, tc.ok)
		}
	}
	m := &natManager{dev: &fakeGateway{mapped: map[string]netip.AddrPort{"udp/4001": netip.MustParseAddrPort("[::ffff:11.22.33.44]:5000")}}}
	got := m.GetMapping(ma.StringCast("/ip4/0.0.0.0/udp/4001/quic-v1"))
	if want := ma.StringCast("/ip4/11.22.33.44/udp/5000/quic-v1"); got == nil || !got.Equal(want) {
		t.Fatalf("GetMapping = %v, want %s (IPv4, the QUIC part kept)", got, want)
	}
}

// slowRemoval is a gateway whose removals take a while, as over a network.
type slowRemoval struct {
	*fakeGateway
	started chan struct{}
	ctxErr  chan error // the removal's context's error when it is done
}

func (g *slowRemoval) RemoveMapping(ctx context.Context, protocol string, port int) error {
	close(g.started)
	select {
	case <-ctx.Done():
	case <-time.After(200 * time.Millisecond):
	}
	g.ctxErr <- ctx.Err()
	return g.fakeGateway.RemoveMapping(ctx, protocol, port)
}

// A host closes its listeners before its NAT manager: the removal the
// first starts must not be canceled by the second.
func TestClosingTheNATManagerDoesNotCancelARemovalUnderWay(t *testing.T) {
	gw := &slowRemoval{
		fakeGateway: &fakeGateway{grant: netip.MustParseAddrPort("11.22.33.44:40000")},
		started:     make(chan struct{}),
		ctxErr:      make(chan error, 1),
	}
	withDiscovery(t, func(context.Context) (natDevice, error) { return gw, nil })
	h := newTestHost(t, WithNAT(false))
	a := listenAll(t, h.Network())
	m := newNATManager(h.Network())
	waitFor(t, "the port is mapped", func() bool { return m.GetMapping(a) != nil })
	h.Network().(listenCloser).ListenClose(a)
	<-gw.started
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-gw.ctxErr; err != nil {
		t.Fatalf("the removal was canceled by Close: %v", err)
	}
}
