package transport

import (
	"context"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
)

// NAT traversal without port mapping, for nodes behind a NAT that maps no
// ports (UPnP and NAT-PMP off, or a carrier-grade NAT): go-libp2p's AutoNAT
// v2, circuit relay v2 and DCUtR hole punching, each opt-in. A node behind
// such a NAT reserves a slot on a relay (WithStaticRelays) and advertises
// the relayed address (/p2p-circuit); a peer that dials it gets a limited
// connection through the relay (go-libp2p marks it limited: the relay
// bounds its duration and bytes), over which the two then try a hole punch
// (WithHolePunching on both) to get a direct connection. The p2p
// package's channel streams run over a limited connection and move to a
// direct one when it appears.

// natTraversal is what the options below turn on.
type natTraversal struct {
	autoNATv2    bool
	relayService bool
	relayOpts    []relayv2.Option
	staticRelays []peer.AddrInfo
	holePunching bool
	reachability network.Reachability // ReachabilityUnknown: AutoNAT decides

	// listening is closed once the host listens (see staticRelaySource).
	listening     chan struct{}
	listeningOnce sync.Once
}

// listened tells the static relay source that the host listens now.
func (t *natTraversal) listened() {
	if t.listening != nil {
		t.listeningOnce.Do(func() { close(t.listening) })
	}
}

// staticRelaySource hands autorelay the static relays once the host
// listens. go-libp2p starts autorelay inside libp2p.New, before New makes
// the host listen: a relay dialed then sees the connection come from an
// ephemeral port, and go-libp2p learns no public address from what the
// relay observes (only observations of connections made from a listen
// port count), so the host never starts DCUtR. Waiting makes the relay
// connection leave from the listen port.
func staticRelaySource(relays []peer.AddrInfo, listening <-chan struct{}) autorelay.PeerSource {
	return func(ctx context.Context, num int) <-chan peer.AddrInfo {
		out := make(chan peer.AddrInfo, len(relays))
		go func() {
			defer close(out)
			select {
			case <-listening:
			case <-ctx.Done():
				return
			}
			for i, r := range relays {
				if i == num {
					return
				}
				out <- r
			}
		}()
		return out
	}
}

// relayTransport reports whether the host needs the circuit relay
// transport: to serve as a relay, to reserve a slot on one, or to punch
// holes (which starts on a relayed connection).
func (t *natTraversal) relayTransport() bool {
	return t.relayService || len(t.staticRelays) > 0 || t.holePunching
}

// options returns the go-libp2p options for t (the relay transport apart).
func (t *natTraversal) options() []libp2p.Option {
	var opts []libp2p.Option
	if t.autoNATv2 {
		opts = append(opts, libp2p.EnableAutoNATv2())
	}
	if t.relayService {
		opts = append(opts, libp2p.EnableRelayService(t.relayOpts...))
	}
	if n := len(t.staticRelays); n > 0 {
		t.listening = make(chan struct{})
		opts = append(opts, libp2p.EnableAutoRelayWithPeerSource(staticRelaySource(t.staticRelays, t.listening),
			autorelay.WithMinCandidates(n), autorelay.WithMaxCandidates(n), autorelay.WithNumRelays(n),
		))
	}
	if t.holePunching {
		opts = append(opts, libp2p.EnableHolePunching())
	}
	switch t.reachability {
	case network.ReachabilityPublic:
		opts = append(opts, libp2p.ForceReachabilityPublic())
	case network.ReachabilityPrivate:
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	}
	return opts
}

// WithAutoNATv2 turns on AutoNAT v2: the host asks peers that speak it to
// dial each of its addresses back, and so learns which are reachable from
// outside (go-libp2p's BasicHost.ConfirmedAddrs); it also serves such
// checks to its peers, from a separate dialer, rate-limited by go-libp2p.
// Only public addresses are checked. Caution: in this repository's NAT lab,
// nodes behind NATs with both AutoNAT v2 and WithHolePunching failed to
// punch through NATs that others punch through (see README, "NAT").
// Default: off.
func WithAutoNATv2() Option {
	return func(s *settings) error {
		s.traversal.autoNATv2 = true
		return nil
	}
}

// WithRelayService makes the host a circuit relay v2: peers behind NATs
// reserve a slot on it and are reached through it. go-libp2p runs the
// service only while the host considers itself publicly reachable: as
// AutoNAT v1 finds (which needs peers serving AutoNAT v1), or as
// WithReachability(network.ReachabilityPublic) declares, which a relay on
// a known public address should use. opts tune the service (reservations,
// and the limits of each relayed connection: by default 2 minutes and 128
// KiB each way, after which the relay ends it); nil options are refused.
// Default: off.
func WithRelayService(opts ...relayv2.Option) Option {
	return func(s *settings) error {
		for i, o := range opts {
			if o == nil {
				return fmt.Errorf("%w: WithRelayService: option %d is nil", ErrBadOption, i)
			}
		}
		s.traversal.relayService = true
		s.traversal.relayOpts = append([]relayv2.Option(nil), opts...)
		return nil
	}
}

// WithStaticRelays makes the host reserve a slot on these circuit v2
// relays (multiaddrs ending in /p2p/<peer ID>, several addresses of one
// relay allowed) while it is not publicly reachable, and advertise the
// relayed addresses, so that peers can reach it through them. It turns on
// the relay transport, so the host can also dial relayed addresses.
// Default: none.
func WithStaticRelays(relays ...string) Option {
	return func(s *settings) error {
		if len(relays) == 0 {
			return fmt.Errorf("%w: WithStaticRelays: no relay", ErrBadOption)
		}
		addrs := make([]ma.Multiaddr, 0, len(relays))
		for _, r := range relays {
			a, err := ma.NewMultiaddr(r)
			if err != nil {
				return fmt.Errorf("%w: WithStaticRelays: %q: %w", ErrBadOption, r, err)
			}
			addrs = append(addrs, a)
		}
		infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
		if err != nil {
			return fmt.Errorf("%w: WithStaticRelays: %w (each address must end in /p2p/<peer ID>)", ErrBadOption, err)
		}
		for _, ai := range infos {
			if len(ai.Addrs) == 0 {
				return fmt.Errorf("%w: WithStaticRelays: relay %s has no transport address", ErrBadOption, ai.ID)
			}
		}
		s.traversal.staticRelays = infos
		return nil
	}
}

// WithHolePunching turns on DCUtR (direct connection upgrade through relay):
// when the host and a peer are connected only through a relay, they
// coordinate over it and dial each other at the same moment, which opens
// a direct connection through NATs that keep a flow's public port for
// every destination (endpoint-independent mapping), not through NATs that
// pick a new one per destination. Both sides need it. The host takes part
// once it knows a public address of its own (observed by peers through
// identify). It turns on the relay transport.
// Default: off.
func WithHolePunching() Option {
	return func(s *settings) error {
		s.traversal.holePunching = true
		return nil
	}
}

// WithReachability declares whether the host is reachable from outside
// (network.ReachabilityPublic or network.ReachabilityPrivate) instead of
// letting AutoNAT v1 find out: a relay on a known public address declares
// itself public so that its relay service runs; a node that knows it is
// behind a NAT declares itself private so that it reserves relay slots at
// once. network.ReachabilityUnknown restores AutoNAT's judgement.
// Default: AutoNAT decides.
func WithReachability(r network.Reachability) Option {
	return func(s *settings) error {
		switch r {
		case network.ReachabilityUnknown, network.ReachabilityPublic, network.ReachabilityPrivate:
			s.traversal.reachability = r
			return nil
		}
		return fmt.Errorf("%w: WithReachability: %d is not a reachability", ErrBadOption, r)
	}
}
