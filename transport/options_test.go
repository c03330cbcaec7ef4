package transport

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// wiring applies opts like New does and returns the go-libp2p config they
// produce, without building a host (so nothing is listened on or sent).
func wiring(t *testing.T, opts ...Option) *libp2p.Config {
	cfg, _ := wiringAndAddrs(t, opts...)
	return cfg
}

func wiringAndAddrs(t *testing.T, opts ...Option) (*libp2p.Config, []ma.Multiaddr) {
	t.Helper()
	s := defaultSettings()
	for _, o := range opts {
		if err := o(s); err != nil {
			t.Fatal(err)
		}
	}
	listen, err := parseListenAddrs(s.listen)
	if err != nil {
		t.Fatal(err)
	}
	key := mustKey(t, crypto.Ed25519)
	cfg := &libp2p.Config{}
	lopts, addrs := s.libp2pOptions(key, listen, nil, nil)
	if err := cfg.Apply(lopts...); err != nil {
		t.Fatal(err)
	}
	return cfg, addrs
}

func TestNATPortMappingOnlyForUnspecifiedListenAddrsUnlessForced(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		want bool
	}{
		{"default listen address 0.0.0.0", nil, true},
		{"all interfaces via :port", []Option{WithListenAddrs(":0")}, true},
		{"ipv6 unspecified", []Option{WithListenAddrs("[::]:0")}, true},
		{"one unspecified among specific", []Option{WithListenAddrs("127.0.0.1:0", "/ip4/0.0.0.0/tcp/0")}, true},
		{"loopback", []Option{WithListenAddrs("127.0.0.1:0")}, false},
		{"specific address as multiaddr", []Option{WithListenAddrs("/ip4/192.0.2.1/tcp/1")}, false},
		{"forced on", []Option{WithListenAddrs("127.0.0.1:0"), WithNAT(true)}, true},
		{"forced off", []Option{WithNAT(false)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := wiring(t, tc.opts...).NATManager != nil; got != tc.want {
				t.Fatalf("NAT port mapping = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDefaultWiring(t *testing.T) {
	cfg, addrs := wiringAndAddrs(t)
	if len(cfg.Muxers) != 1 || cfg.Muxers[0].ID != YamuxID || cfg.Muxers[0].Muxer != Yamux {
		t.Errorf("muxers %+v, want only our yamux under %s", cfg.Muxers, YamuxID)
	}
	var secs []protocol.ID
	for _, s := range cfg.SecurityTransports {
		secs = append(secs, s.ID)
	}
	if !slices.Equal(secs, []protocol.ID{tls.ID, noise.ID}) {
		t.Errorf("security %v, want TLS then Noise", secs)
	}
	if !cfg.DisableMetrics || cfg.PrometheusRegisterer != nil {
		t.Error("go-libp2p metrics are on by default")
	}
	if !cfg.RelayCustom || cfg.Relay {
		t.Error("relay transport is on")
	}
	want := ma.StringCast(DefaultListenAddr)
	if len(addrs) != 2 || !addrs[0].Equal(want) {
		t.Errorf("listen addrs %v, want the default %s and the injection address", addrs, want)
	}
	if len(cfg.Transports) != 2 { // TCP and the injector
		t.Errorf("%d transports, want TCP + injector", len(cfg.Transports))
	}
}

func TestSecurityChoiceAndOrder(t *testing.T) {
	for _, tc := range []struct {
		choice []Security
		want   []protocol.ID
	}{
		{[]Security{SecurityNoise}, []protocol.ID{noise.ID}},
		{[]Security{SecurityTLS}, []protocol.ID{tls.ID}},
		{[]Security{SecurityNoise, SecurityTLS}, []protocol.ID{noise.ID, tls.ID}},
	} {
		var got []protocol.ID
		for _, s := range wiring(t, WithSecurity(tc.choice...)).SecurityTransports {
			got = append(got, s.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("WithSecurity(%v): %v, want %v", tc.choice, got, tc.want)
		}
	}
}

func TestQUICListensOnTheSameHostAndPort(t *testing.T) {
	cfg, addrs := wiringAndAddrs(t, WithListenAddrs("127.0.0.1:4001", "[::1]:4002"), WithQUIC())
	for _, want := range []string{"/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4002", "/ip4/127.0.0.1/udp/4001/quic-v1", "/ip6/::1/udp/4002/quic-v1"} {
		if !slices.ContainsFunc(addrs, ma.StringCast(want).Equal) {
			t.Errorf("listen addrs %v lack %s", addrs, want)
		}
	}
	if len(cfg.Transports) != 3 {
		t.Errorf("%d transports, want TCP + injector + QUIC", len(cfg.Transports))
	}
}

func TestPrometheusRegistererTurnsLibp2pMetricsOn(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := wiring(t, WithPrometheusRegisterer(reg))
	if cfg.DisableMetrics || cfg.PrometheusRegisterer != reg {
		t.Fatal("metrics not wired to the given registerer")
	}
	// And on a real host, go-libp2p's collectors land in that registry.
	h := newTestHost(t, WithPrometheusRegisterer(reg))
	b := newTestHost(t)
	if err := h.Connect(testContext(t), addrInfo(b)); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if !slices.ContainsFunc(names, func(n string) bool { return n == "libp2p_swarm_connections_opened_total" }) {
		t.Errorf("registry lacks go-libp2p's swarm metrics; has %v", names)
	}
}

func TestBadOptionsAreRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Option
	}{
		{"nil identity", WithIdentity(nil)},
		{"empty key file path", WithKeyFile("")},
		{"no security", WithSecurity()},
		{"unknown security", WithSecurity(Security(42))},
		{"security twice", WithSecurity(SecurityTLS, SecurityTLS)},
		{"nil conn manager", WithConnManager(nil)},
		{"low above high", WithConnLimits(10, 5)},
		{"zero high", WithConnLimits(0, 0)},
		{"negative low", WithConnLimits(-1, 5)},
		{"nil resource manager", WithResourceManager(nil)},
		{"nil gater", WithConnectionGater(nil)},
		{"nil registerer", WithPrometheusRegisterer(nil)},
		{"nil addrs factory", WithAddrsFactory(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Loopback and NAT off, so a bug here could not map ports.
			if _, err := New(WithListenAddrs("127.0.0.1:0"), WithNAT(false), tc.opt); !errors.Is(err, ErrBadOption) {
				t.Fatalf("err = %v, want ErrBadOption", err)
			}
		})
	}
}

func TestNewFailsCleanlyWhenThePortIsTaken(t *testing.T) {
	// A plain listener (go-libp2p's own use SO_REUSEPORT and can share).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = New(WithListenAddrs(l.Addr().String()))
	if err == nil {
		t.Fatal("a host listened on a port in use")
	}
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("err = %v, want ErrPortInUse naming the cause", err)
	}
	// TestMain's goleak check shows the failed New left nothing running.
}

// TestSecondHostOnAPortFailsUnlessSharing: go-libp2p listens with
// SO_REUSEPORT, so a second host on the same port would start and take a
// share of the first one's connections; New refuses it unless asked to
// share.
func TestSecondHostOnAPortFailsUnlessSharing(t *testing.T) {
	first, err := New(WithListenAddrs("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	addr := first.Addrs()[0].String()
	if h, err := New(WithListenAddrs(addr)); !errors.Is(err, ErrPortInUse) {
		if h != nil {
			h.Close()
		}
		t.Fatalf("second host on %s: %v, want ErrPortInUse", addr, err)
	}
	shared, err := New(WithListenAddrs(addr), WithPortSharing())
	if err != nil {
		t.Fatalf("second host with WithPortSharing: %s", err)
	}
	shared.Close()
}

func TestNewFailsCleanlyOnConflictingLibp2pOptions(t *testing.T) {
	_, err := New(WithListenAddrs("127.0.0.1:0"), WithLibp2pOptions(libp2p.Identity(mustKey(t, crypto.Ed25519))))
	if err == nil {
		t.Fatal("a second identity through WithLibp2pOptions was accepted")
	}
}

func TestAddrsFactoryComposesWithTheInjectionFilter(t *testing.T) {
	extra := ma.StringCast("/ip4/11.22.33.44/tcp/26656")
	h := newTestHost(t, WithAddrsFactory(func(addrs []ma.Multiaddr) []ma.Multiaddr {
		for _, a := range addrs {
			if _, err := a.ValueForProtocol(ma.P_MEMORY); err == nil {
				t.Errorf("user factory saw the private injection address %s", a)
			}
		}
		return append(addrs, extra)
	}))
	if !slices.ContainsFunc(h.Addrs(), extra.Equal) {
		t.Errorf("host addrs %v lack the factory's %s", h.Addrs(), extra)
	}
	if got := ExternalAddrs(h); len(got) != 1 || !got[0].Equal(extra) {
		t.Errorf("ExternalAddrs = %v, want only the public %s", got, extra)
	}
}

func TestDefaultResourceManagerLimitsFitFiftyPeers(t *testing.T) {
	l := defaultLimits().ToPartialLimitConfig()
	if sys := l.System.Conns; sys != 0 && int(sys) < 2*DefaultConnHigh {
		t.Errorf("system connection limit %v < twice the high water %d", sys, 2*DefaultConnHigh)
	}
	if in := l.PeerDefault.StreamsInbound; in != 0 && in < 256 {
		t.Errorf("per-peer inbound stream limit %v is too low", in)
	}
	if in := l.ProtocolPeerDefault.StreamsInbound; in != 0 && in < 100 {
		t.Errorf("per-protocol per-peer inbound stream limit %v is below 100 concurrent requests", in)
	}
	if mem := l.PeerDefault.Memory; mem != 0 && mem < 64<<20 {
		t.Errorf("per-peer memory %v cannot hold a few 16 MiB stream windows", mem)
	}
}
