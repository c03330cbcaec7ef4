package transport

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
)

const testRelayID = "12D3KooWQXZKNdx2fNgASTZMAN8cuDY7Rb9EH5zaJoKSYZAsTWWn"

func TestNATTraversalIsOffByDefault(t *testing.T) {
	cfg := wiring(t)
	if cfg.Relay || cfg.EnableRelayService || cfg.EnableAutoRelay || cfg.EnableHolePunching || cfg.EnableAutoNATv2 || cfg.AutoNATConfig.ForceReachability != nil {
		t.Fatalf("relay %v, service %v, autorelay %v, hole punching %v, AutoNAT v2 %v, forced reachability %v",
			cfg.Relay, cfg.EnableRelayService, cfg.EnableAutoRelay, cfg.EnableHolePunching, cfg.EnableAutoNATv2, cfg.AutoNATConfig.ForceReachability)
	}
}

func TestNATTraversalOptionsTurnOnGoLibp2psParts(t *testing.T) {
	relay := "/ip4/11.22.33.55/tcp/26656/p2p/" + testRelayID
	for _, tc := range []struct {
		name  string
		opts  []Option
		check func(t *testing.T, cfg *libp2pConfig)
	}{
		{"AutoNAT v2", []Option{WithAutoNATv2()}, func(t *testing.T, cfg *libp2pConfig) {
			if !cfg.EnableAutoNATv2 || cfg.Relay {
				t.Fatalf("AutoNAT v2 %v, relay transport %v", cfg.EnableAutoNATv2, cfg.Relay)
			}
		}},
		{"relay service", []Option{WithRelayService(relayv2.WithLimit(nil)), WithReachability(network.ReachabilityPublic)}, func(t *testing.T, cfg *libp2pConfig) {
			if !cfg.Relay || !cfg.EnableRelayService || len(cfg.RelayServiceOpts) != 1 {
				t.Fatalf("relay transport %v, service %v with %d options", cfg.Relay, cfg.EnableRelayService, len(cfg.RelayServiceOpts))
			}
			if r := cfg.AutoNATConfig.ForceReachability; r == nil || *r != network.ReachabilityPublic {
				t.Fatalf("reachability %v, want public", r)
			}
		}},
		{"static relays", []Option{WithStaticRelays(relay, "/ip4/11.22.33.55/udp/26656/quic-v1/p2p/"+testRelayID), WithReachability(network.ReachabilityPrivate)}, func(t *testing.T, cfg *libp2pConfig) {
			if !cfg.Relay || !cfg.EnableAutoRelay || len(cfg.AutoRelayOpts) != 4 {
				t.Fatalf("relay transport %v, autorelay %v with %d options", cfg.Relay, cfg.EnableAutoRelay, len(cfg.AutoRelayOpts))
			}
			if r := cfg.AutoNATConfig.ForceReachability; r == nil || *r != network.ReachabilityPrivate {
				t.Fatalf("reachability %v, want private", r)
			}
		}},
		{"hole punching", []Option{WithHolePunching()}, func(t *testing.T, cfg *libp2pConfig) {
			if !cfg.Relay || !cfg.EnableHolePunching {
				t.Fatalf("relay transport %v, hole punching %v", cfg.Relay, cfg.EnableHolePunching)
			}
		}},
		{"reachability back to AutoNAT", []Option{WithReachability(network.ReachabilityPublic), WithReachability(network.ReachabilityUnknown)}, func(t *testing.T, cfg *libp2pConfig) {
			if cfg.AutoNATConfig.ForceReachability != nil {
				t.Fatalf("reachability forced to %v", *cfg.AutoNATConfig.ForceReachability)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, wiring(t, tc.opts...)) })
	}
}

func TestStaticRelaysAreParsedIntoOneEntryPerRelay(t *testing.T) {
	s := defaultSettings()
	err := WithStaticRelays(
		"/ip4/11.22.33.55/tcp/26656/p2p/"+testRelayID,
		"/ip4/11.22.33.55/udp/26656/quic-v1/p2p/"+testRelayID,
	)(s)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := peer.Decode(testRelayID)
	if got := s.traversal.staticRelays; len(got) != 1 || got[0].ID != want || len(got[0].Addrs) != 2 {
		t.Fatalf("relays = %v, want one relay with two addresses", got)
	}
}

func TestBadNATTraversalOptionsAreErrBadOption(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Option
		want string
	}{
		{"no relay", WithStaticRelays(), "no relay"},
		{"not a multiaddr", WithStaticRelays("11.22.33.55:26656"), "11.22.33.55:26656"},
		{"no peer ID", WithStaticRelays("/ip4/11.22.33.55/tcp/26656"), "/p2p/"},
		{"only a peer ID", WithStaticRelays("/p2p/" + testRelayID), "no transport address"},
		{"a nil relay option", WithRelayService(nil), "option 0 is nil"},
		{"an unknown reachability", WithReachability(network.Reachability(7)), "not a reachability"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opt(defaultSettings())
			if !errors.Is(err, ErrBadOption) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrBadOption saying %q", err, tc.want)
			}
			if _, err := New(WithListenAddrs("127.0.0.1:0"), tc.opt); !errors.Is(err, ErrBadOption) {
				t.Fatalf("New: err = %v, want ErrBadOption", err)
			}
		})
	}
}

// On loopback: a relay, a host that reserves a slot on it, and a host that
// reaches the first through it over a limited connection. (go-libp2p
// advertises relayed addresses only through relays with public addresses,
// so the test builds the relayed address itself; the relay connects only
// peers that hold a reservation.)
func TestAHostReservesASlotOnAStaticRelayAndIsReachedThroughIt(t *testing.T) {
	relay := newTestHost(t, WithRelayService(), WithReachability(network.ReachabilityPublic))
	var relayAddrs []string
	for _, a := range relay.Addrs() {
		relayAddrs = append(relayAddrs, a.Encapsulate(ma.StringCast("/p2p/"+relay.ID().String())).String())
	}
	natted := newTestHost(t, WithStaticRelays(relayAddrs...), WithReachability(network.ReachabilityPrivate))
	serveEcho(natted)
	circuit := ma.StringCast(relayAddrs[0] + "/p2p-circuit")
	dialer := newTestHost(t, WithHolePunching()) // for the relay transport
	ctx := testContext(t)
	var err error
	waitFor(t, "the host is reached through the relay", func() bool {
		err = dialer.Connect(ctx, peer.AddrInfo{ID: natted.ID(), Addrs: []ma.Multiaddr{circuit}})
		if err != nil {
			dialer.Peerstore().ClearAddrs(natted.ID())
			dialer.Network().(interface{ Backoff() *swarmBackoff }).Backoff().Clear(natted.ID())
		}
		return err == nil
	})
	conns := dialer.Network().ConnsToPeer(natted.ID())
	if len(conns) != 1 || !conns[0].Stat().Limited {
		t.Fatalf("connections %v, want one limited (relayed) connection", conns)
	}
	// Without WithAllowLimitedConn, go-libp2p waits for a direct
	// connection instead.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if s, err := dialer.NewStream(network.WithNoDial(short, "test"), natted.ID(), echoProto); err == nil {
		s.Reset()
		t.Fatal("a stream not allowed on a limited connection was opened on one")
	}
	s, err := dialer.NewStream(network.WithAllowLimitedConn(ctx, "test"), natted.ID(), echoProto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q, %v", buf, err)
	}
}

type (
	libp2pConfig = libp2p.Config
	swarmBackoff = swarm.DialBackoff
)

// The static relays reach autorelay only once the host listens, and the
// source's goroutine ends with its context otherwise.
func TestStaticRelaysAreHandedOutOnceTheHostListens(t *testing.T) {
	id, _ := peer.Decode(testRelayID)
	relays := []peer.AddrInfo{
		{ID: id, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/11.22.33.55/tcp/1")}},
		{ID: id, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/11.22.33.56/tcp/1")}},
	}
	listening := make(chan struct{})
	source := staticRelaySource(relays, listening)

	ctx, cancel := context.WithCancel(context.Background())
	early := source(ctx, 2)
	select {
	case r := <-early:
		t.Fatalf("relay %v handed out before the host listens", r)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if _, ok := <-early; ok {
		t.Fatal("a relay after the context ended")
	}

	close(listening)
	var got []peer.AddrInfo
	for r := range source(context.Background(), 1) {
		got = append(got, r)
	}
	if len(got) != 1 || !got[0].Addrs[0].Equal(relays[0].Addrs[0]) {
		t.Fatalf("asked for one relay, got %v", got)
	}
}
