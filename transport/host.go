package transport

import (
	"crypto/rand"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p"
	coreconnmgr "github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/switchyard-p2p/switchyard/transport/yamux4"
)

// YamuxID is the protocol ID our multiplexer is registered under: the
// standard one, so every libp2p node can talk to ours.
const YamuxID = yamux4.ID

// Yamux is the stream multiplexer of every host built by New: yamux on
// github.com/libp2p/go-yamux/v4, configured for few long-lived streams (see
// yamux4.NewConfig). Pass it to libp2p.Muxer(YamuxID, Yamux) to give another
// libp2p host the same muxer. Safe for concurrent use.
var Yamux network.Multiplexer = yamux4.DefaultTransport

// New builds a libp2p host and starts listening: TCP (plus QUIC v1 with
// WithQUIC) on the listen addresses, TLS then Noise offered for security,
// yamux (v4) as the only muxer, go-libp2p's connection manager and resource
// manager, identify and ping, NAT port mapping when listening on an
// unspecified address, no relay, no go-libp2p metrics unless a registerer
// is given. Options change each of these; see their doc comments for the
// defaults.
//
// The host accepts injected connections (InjectConn). Close the host to stop
// everything it started, including the connection and resource managers
// (also ones given with WithConnManager / WithResourceManager, which the
// host owns from then on; go-libp2p may close those already when New fails).
// New blocks until the listeners are up; it fails with an error wrapping
// ErrBadOption, ErrBadListenAddr or ErrBadKeyFile for bad options, or with
// go-libp2p's error (for example, a port already in use), and then leaves
// nothing running.
func New(opts ...Option) (host.Host, error) {
	s := defaultSettings()
	for _, opt := range opts {
		if err := opt(s); err != nil {
			return nil, err
		}
	}
	listen, err := parseListenAddrs(s.listen)
	if err != nil {
		return nil, err
	}
	if !s.sharePorts {
		if err := checkPortsFree(listen); err != nil {
			return nil, err
		}
	}
	key, err := s.identity()
	if err != nil {
		return nil, err
	}

	// What New creates, New closes if it fails before the host owns it.
	var owned []func() error
	cleanup := func() {
		for _, c := range slices.Backward(owned) {
			c()
		}
	}
	cm := s.connMgr
	if cm == nil {
		bcm, err := connmgr.NewConnManager(s.connLow, s.connHigh, connmgr.WithGracePeriod(DefaultConnGrace))
		if err != nil {
			return nil, fmt.Errorf("%w: connection manager: %w", ErrBadOption, err)
		}
		cm = bcm
		owned = append(owned, bcm.Close)
	}
	rm := s.rcmgr
	if rm == nil {
		var ropts []rcmgr.Option
		if s.registerer == nil {
			ropts = append(ropts, rcmgr.WithMetricsDisabled())
		}
		rm, err = DefaultResourceManager(ropts...)
		if err != nil {
			cleanup()
			return nil, err
		}
		owned = append(owned, rm.Close)
	}

	lopts, addrs := s.libp2pOptions(key, listen, cm, rm)
	h, err := libp2p.New(lopts...)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("transport: new host: %w", err)
	}
	// Listen one address at a time: the swarm's Listen succeeds when any
	// one address works, and the injector's always does.
	for _, a := range addrs {
		if err := h.Network().Listen(a); err != nil {
			h.Close()
			return nil, fmt.Errorf("transport: listen on %s: %w", a, err)
		}
	}
	s.traversal.listened() // static relays are dialed from now on: from the listen port
	log.Debugw("host started", "peer", h.ID(), "listen", h.Network().ListenAddresses())
	return closingHost{h}, nil
}

// closingHost is the host New returns: go-libp2p's, with a Close that shuts
// the network (every connection and listener) before the rest of the host.
// go-libp2p v0.51's Close stops its observed-address manager first; identify
// pushes still arriving from peers can then fill that manager's event
// subscription and block the event bus, and so Close, forever (seen with a
// hundred hosts stopping at once). With the connections gone first, no push
// arrives.
type closingHost struct{ host.Host }

// Close closes the network, then the host. Idempotent, like go-libp2p's.
func (h closingHost) Close() error {
	if err := h.Network().Close(); err != nil {
		log.Debugw("close network", "err", err)
	}
	return h.Host.Close()
}

// identity returns the configured key, loading or creating the key file, or
// a fresh Ed25519 key.
func (s *settings) identity() (crypto.PrivKey, error) {
	switch {
	case s.key != nil:
		return s.key, nil
	case s.keyFile != "":
		return LoadOrCreateKey(s.keyFile)
	default:
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		return k, err
	}
}

// libp2pOptions turns the settings into go-libp2p options, with
// WithLibp2pOptions' extras appended last, and the addresses New listens on
// once the host is built.
func (s *settings) libp2pOptions(key crypto.PrivKey, listen []ma.Multiaddr, cm coreconnmgr.ConnManager, rm network.ResourceManager) ([]libp2p.Option, []ma.Multiaddr) {
	injectAddr := newInjectAddr()
	addrs := slices.Clone(listen)
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(injectorConstructor(injectAddr, s.security)),
		libp2p.Muxer(YamuxID, Yamux),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
		libp2p.UserAgent(defaultUserAgent),
		libp2p.AddrsFactory(hideInjectAddr(s.addrsFactory)),
	}
	opts = append(opts, securityOptions(s.security)...)
	if s.traversal.relayTransport() {
		opts = append(opts, libp2p.EnableRelay())
	} else {
		opts = append(opts, libp2p.DisableRelay())
	}
	opts = append(opts, s.traversal.options()...)
	if s.quic {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
		for _, a := range listen {
			if q, err := quicAddr(a); err == nil {
				addrs = append(addrs, q)
			}
		}
	}
	if natWanted(s.nat, listen) {
		opts = append(opts, libp2p.NATManager(newNATManager))
	}
	if s.gater != nil {
		opts = append(opts, libp2p.ConnectionGater(s.gater))
	}
	if s.registerer != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(s.registerer))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	return append(opts, s.extra...), append(addrs, injectAddr)
}

// hideInjectAddr drops the injector's private /memory address from what the
// host advertises, then applies the user's factory, if any.
func hideInjectAddr(user func([]ma.Multiaddr) []ma.Multiaddr) func([]ma.Multiaddr) []ma.Multiaddr {
	return func(addrs []ma.Multiaddr) []ma.Multiaddr {
		out := make([]ma.Multiaddr, 0, len(addrs))
		for _, a := range addrs {
			if _, err := a.ValueForProtocol(ma.P_MEMORY); err != nil {
				out = append(out, a)
			}
		}
		if user != nil {
			return user(out)
		}
		return out
	}
}

// DefaultResourceManager returns the resource manager New uses by default:
// go-libp2p's rcmgr with its default limits (plus the identify/ping service
// limits go-libp2p adds) scaled to this machine (1/8 of its memory, half its
// file descriptors), built with opts, with per-protocol stream limits raised
// to the per-peer ones and DefaultPeerMemory per peer. For a node of ~50 peers that is ample without being
// unbounded: at least 128 system connections (more than twice the
// connection manager's high water), 256+ inbound streams per peer, of one
// protocol or several (a Switch needs about two per channel), and a per-peer
// memory budget from which yamux reserves its stream windows, so one slow or
// hostile peer cannot make us buffer more than its share. The caller owns it
// until it is given to a host, which closes it when the host closes.
func DefaultResourceManager(opts ...rcmgr.Option) (network.ResourceManager, error) {
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(defaultLimits()), opts...)
	if err != nil {
		return nil, fmt.Errorf("transport: resource manager: %w", err)
	}
	return rm, nil
}

// DefaultPeerMemory is the memory one peer may make a host built by New hold,
// whatever the machine's size: its yamux stream windows and everything a
// Switch holds for it (messages queued to it, the frame it is sending, its
// messages waiting for Receive) are reserved in its resource-manager scope.
// go-libp2p's default grows with the machine (448 MiB on a 24 GiB one),
// which would let a few hostile peers take gigabytes.
const DefaultPeerMemory = 64 << 20

// defaultLimits are DefaultResourceManager's limits: go-libp2p's defaults,
// except that each peer may hold DefaultPeerMemory, and one protocol may use
// as many of a peer's streams as the peer may open at all (go-libp2p allows
// only 64 inbound streams of one protocol from one peer, which 100
// concurrent requests of one protocol exceed). The per-peer stream and
// memory limits still bound what a peer can take.
func defaultLimits() rcmgr.ConcreteLimitConfig {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	limits.PeerBaseLimit.Memory = DefaultPeerMemory
	limits.PeerLimitIncrease.Memory = 0
	pp := &limits.ProtocolPeerBaseLimit
	pp.StreamsInbound = max(pp.StreamsInbound, limits.PeerBaseLimit.StreamsInbound)
	pp.StreamsOutbound = max(pp.StreamsOutbound, limits.PeerBaseLimit.StreamsOutbound)
	pp.Streams = max(pp.Streams, limits.PeerBaseLimit.Streams)
	return limits.AutoScale()
}
