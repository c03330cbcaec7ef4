package p2p

import (
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-p2p/switchyard/transport"
)

// Option configures a Switch; pass options to NewSwitch.
type Option func(*config)

type config struct {
	host             host.Host
	hostOpts         []transport.Option
	network          string
	maxInbound       int
	maxOutbound      int
	persistent       []*NetAddress
	redialMin        time.Duration
	redialMax        time.Duration
	banDuration      time.Duration
	sendTimeout      time.Duration
	dialTimeout      time.Duration
	handshakeTimeout time.Duration
	stallTimeout     time.Duration // the send scheduler's, see sendScheduler
	sendStall        time.Duration
	readStall        time.Duration
	keepNonPeers     bool
	eventQueueLimit  int
	registerer       prometheus.Registerer
}

func defaultConfig() config {
	return config{
		network:          DefaultNetwork,
		maxInbound:       40,
		maxOutbound:      10,
		redialMin:        time.Second,
		redialMax:        time.Minute,
		banDuration:      5 * time.Minute,
		sendTimeout:      10 * time.Second,
		dialTimeout:      10 * time.Second,
		handshakeTimeout: 10 * time.Second,
		stallTimeout:     10 * time.Millisecond,
		sendStall:        DefaultSendStallTimeout,
		readStall:        DefaultReadStallTimeout,
		eventQueueLimit:  10000,
	}
}

// WithHost runs the Switch on h (a real host or a mocknet one). The Switch
// registers its protocols on h and removes them at Stop, but does not close
// h: its owner does. Default: the Switch builds its own host with
// transport.New and the options of WithHostOptions, and closes it at Stop.
func WithHost(h host.Host) Option { return func(c *config) { c.host = h } }

// WithHostOptions passes options to transport.New when the Switch builds its
// own host (ignored with WithHost). Default: none, i.e. transport.New's
// defaults.
func WithHostOptions(opts ...transport.Option) Option {
	return func(c *config) { c.hostOpts = append(c.hostOpts, opts...) }
}

// WithNetwork sets the network name (chain ID) that is part of every
// protocol ID, so that two Switchyard networks never mix. It must pass
// ValidateNetworkName. Default: DefaultNetwork.
func WithNetwork(name string) Option { return func(c *config) { c.network = name } }

// WithMaxPeers bounds the number of inbound and outbound peers; a peer over
// the limit is disconnected (persistent peers are exempt). Default: 40
// inbound, 10 outbound.
func WithMaxPeers(inbound, outbound int) Option {
	return func(c *config) { c.maxInbound, c.maxOutbound = inbound, outbound }
}

// WithPersistentPeers makes the Switch dial addrs at Start and redial them
// with exponential backoff whenever they disconnect; they are exempt from
// peer limits and bans. For an address without a peer ID, that is the
// identity that answered it last (not every one that ever did). Default:
// none.
func WithPersistentPeers(addrs ...*NetAddress) Option {
	return func(c *config) { c.persistent = append(c.persistent, addrs...) }
}

// WithRedialBackoff sets the first and the largest delay between redials of
// a persistent peer. Default: 1 s doubling up to 1 min.
func WithRedialBackoff(min, max time.Duration) Option {
	return func(c *config) { c.redialMin, c.redialMax = min, max }
}

// WithBanDuration sets how long a peer stopped for an error is refused
// (dials and inbound connections); 0 disables bans. Default: 5 min.
func WithBanDuration(d time.Duration) Option { return func(c *config) { c.banDuration = d } }

// WithSendTimeout bounds how long Send blocks on a full queue before
// returning false. Default: 10 s, as in the 2014 package.
func WithSendTimeout(d time.Duration) Option { return func(c *config) { c.sendTimeout = d } }

// WithDialTimeout bounds DialPeerWithAddress, handshake included. Default: 10 s.
func WithDialTimeout(d time.Duration) Option { return func(c *config) { c.dialTimeout = d } }

// Defaults of WithStallTimeouts.
const (
	DefaultSendStallTimeout = 30 * time.Second
	DefaultReadStallTimeout = 30 * time.Second
)

// WithStallTimeouts sets how long a peer may keep a channel from making
// progress before it is disconnected (without a ban: it may just be slow):
// send, how long a write on one of its channel streams may wait (the peer
// does not read, so our send queue for it does not drain); read, how long
// a frame it has begun sending may wait for its next bytes. A channel that
// is idle between frames is never stalled. Defaults:
// DefaultSendStallTimeout, DefaultReadStallTimeout (30 s each).
func WithStallTimeouts(send, read time.Duration) Option {
	return func(c *config) { c.sendStall, c.readStall = send, read }
}

// WithNonPeerConnections(true) keeps the host's connections to remotes that
// are not Switchyard peers (they speak none of our channels, or never
// finished identify), for applications that run other protocols on the same
// host. Default: false, such a connection is closed once identify has shown
// it speaks none of our channels (after a short grace for an identify push),
// or when it has not become a peer within the handshake timeout; it never
// takes a peer slot or a PEX slot meanwhile. Either way a connection the
// host's connection manager protects (ConnManager().Protect, as go-libp2p's
// autorelay does for its relay) is kept.
func WithNonPeerConnections(keep bool) Option { return func(c *config) { c.keepNonPeers = keep } }

// WithHandshakeTimeout bounds how long a new connection may take to show
// (through libp2p identify or an inbound channel stream) that it speaks our
// channels; a connection that has not by then is closed (see
// WithNonPeerConnections). Default: 10 s.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) { c.handshakeTimeout = d }
}

// WithMetrics registers the Switch's Prometheus metrics (and, when the
// Switch builds its host, go-libp2p's) on r. Default: a private registry.
func WithMetrics(r prometheus.Registerer) Option { return func(c *config) { c.registerer = r } }
