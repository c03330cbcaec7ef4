package p2p

import "time"

// PEXOption configures a PEXAgent; pass options to NewPEXAgent.
type PEXOption func(*pexConfig)

type pexConfig struct {
	ensurePeersPeriod   time.Duration
	minOutbound         int
	requestTimeout      time.Duration
	seedMode            bool
	crawlPeriod         time.Duration
	seedDisconnectDelay time.Duration
	rotatePeriod        time.Duration
}

func defaultPEXConfig() pexConfig {
	return pexConfig{
		ensurePeersPeriod:   30 * time.Second,
		minOutbound:         10,
		requestTimeout:      10 * time.Second,
		crawlPeriod:         30 * time.Second,
		seedDisconnectDelay: 3 * time.Second,
		rotatePeriod:        DefaultOutboundRotation,
	}
}

// WithEnsurePeersPeriod sets how often the agent tops up its outbound peers
// from the address book and asks for addresses when the book needs more.
// Whatever it is, the agent asks one peer at most every PEXRequestInterval,
// and what it accepts from peers does not depend on it. Default: 30 s, as
// in the 2014 package.
func WithEnsurePeersPeriod(d time.Duration) PEXOption {
	return func(c *pexConfig) {
		c.ensurePeersPeriod = d
		c.crawlPeriod = d
	}
}

// WithMinOutboundPeers sets how many outbound peers the agent keeps by
// dialing addresses from the book (the Switch's outbound limit still caps
// them). Default: 10.
func WithMinOutboundPeers(n int) PEXOption { return func(c *pexConfig) { c.minOutbound = n } }

// WithSeedMode makes the agent a seed: instead of keeping outbound peers, it
// crawls the addresses in its book (dial, ask for addresses, disconnect),
// and disconnects inbound peers shortly after answering their request.
// Default: off.
func WithSeedMode(on bool) PEXOption { return func(c *pexConfig) { c.seedMode = on } }

// WithSeedDisconnectDelay sets how long a seed keeps an inbound peer after
// answering it. Default: 3 s.
func WithSeedDisconnectDelay(d time.Duration) PEXOption {
	return func(c *pexConfig) { c.seedDisconnectDelay = d }
}

// WithPEXRequestTimeout bounds one PEX request to a peer. Default: 10 s.
func WithPEXRequestTimeout(d time.Duration) PEXOption {
	return func(c *pexConfig) { c.requestTimeout = d }
}

// DefaultOutboundRotation is how often a node that has all the outbound
// peers it keeps lets one go for a new one (see WithOutboundRotation).
const DefaultOutboundRotation = 10 * time.Minute

// WithOutboundRotation sets how often the agent, once it has all the
// outbound peers it keeps, lets one of them go (gracefully; not a
// persistent one) so that the next round dials a new address: the graph
// keeps mixing, and parts of a network that were cut apart find each other
// again. 0 disables it. Default: DefaultOutboundRotation (10 min).
func WithOutboundRotation(d time.Duration) PEXOption {
	return func(c *pexConfig) { c.rotatePeriod = d }
}
