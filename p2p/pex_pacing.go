package p2p

import (
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// PEX pacing. These rates are part of the protocol (PROTOCOL.md §6.8), not
// of a node's settings: every honest node stays within them whatever its
// ensure-peers period, so nodes with different settings never refuse, let
// alone ban, each other.
const (
	// PEXRequestInterval is the floor of the average interval between two
	// PEX requests a node makes of one peer; PEXRequestBurst requests may
	// come at once. A request beyond them is refused (the stream is reset).
	PEXRequestInterval = time.Second
	PEXRequestBurst    = 5

	// PEXAnnounceInterval and PEXAnnounceBurst pace the announcements one
	// peer may send us the same way; PEXMaxAnnounceAddrs bounds the
	// addresses in one (an announcement is about its sender only).
	PEXAnnounceInterval = 10 * time.Second
	PEXAnnounceBurst    = 3
	PEXMaxAnnounceAddrs = 16

	// pexRefusalInterval and pexRefusalBurst: a peer refused more than
	// pexRefusalBurst times, plus one per pexRefusalInterval, is banned for
	// flooding. A peer that keeps to the rates is never refused; one that
	// asks twice as often as allowed is banned after about 30 s, one that
	// asks ten times as often after about 3 s.
	pexRefusalInterval = 10 * time.Second
	pexRefusalBurst    = 30
)

// pexPeerState is what the agent keeps about one peer (one connection of
// it: it is stored on the Peer, so a reconnecting peer starts afresh on
// both sides at once).
type pexPeerState struct {
	requests  *rate.Limiter // the peer's requests we serve
	announces *rate.Limiter // the peer's announcements we take
	refusals  *rate.Limiter // refusals we tolerate before a ban

	mu        sync.Mutex
	lastAsked time.Time // we asked the peer
}

const pexStateKey = "switchyard/pex"

func pexState(p *Peer) *pexPeerState {
	if st, ok := p.data.Load(pexStateKey); ok {
		return st.(*pexPeerState)
	}
	st, _ := p.data.LoadOrStore(pexStateKey, &pexPeerState{
		requests:  rate.NewLimiter(rate.Every(PEXRequestInterval), PEXRequestBurst),
		announces: rate.NewLimiter(rate.Every(PEXAnnounceInterval), PEXAnnounceBurst),
		refusals:  rate.NewLimiter(rate.Every(pexRefusalInterval), pexRefusalBurst),
	})
	return st.(*pexPeerState)
}

// refused counts a refusal and reports whether the peer is now far enough
// beyond the rates to be banned.
func (st *pexPeerState) refused() (ban bool) { return !st.refusals.Allow() }

// Dial pacing of the PEX agent: addresses come from peers, who may point
// them at any host (a third party they want us to flood with connections).
const (
	// dialsPerIPInterval and dialsPerIPBurst bound the dials to one IP
	// address: dialsPerIPBurst at once, then one per dialsPerIPInterval.
	dialsPerIPInterval = time.Second
	dialsPerIPBurst    = 8
	// endpointBackoffMin and endpointBackoffMax: after a failed dial, an
	// ip:port is not dialed again (whatever peer ID an address gives it)
	// for a backoff that doubles with each failure, from min to max.
	endpointBackoffMin = 10 * time.Second
	endpointBackoffMax = 10 * time.Minute
	// maxPacedEndpoints bounds the pacer's memory; beyond it, entries whose
	// pacing has ended are dropped.
	maxPacedEndpoints = 4096
)

// dialPacer decides whether an address may be dialed now: one dial at a
// time per ip:port, none while its backoff lasts, and a rate per IP. Safe
// for concurrent use.
type dialPacer struct {
	mu        sync.Mutex
	perIP     map[string]*rate.Limiter
	endpoints map[string]*endpointBackoff
	inFlight  map[string]bool
}

type endpointBackoff struct {
	until time.Time
	next  time.Duration
	// answeredBy is the identity that last answered a dial of the endpoint
	// made for another one: a dial naming it is not held back.
	answeredBy peer.ID
}

func newDialPacer() *dialPacer {
	return &dialPacer{perIP: map[string]*rate.Limiter{}, endpoints: map[string]*endpointBackoff{}, inFlight: map[string]bool{}}
}

// allow reports whether addr may be dialed now, and if so counts the dial,
// which done must then end. An address without IP (a DNS name, say) is not
// paced by IP.
func (d *dialPacer) allow(addr *NetAddress, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	ep := endpointKey(addr)
	if b := d.endpoints[ep]; d.inFlight[ep] || b != nil && now.Before(b.until) && (addr.ID == "" || addr.ID != b.answeredBy) {
		return false
	}
	if addr.IP != nil {
		ip := addr.IP.String()
		lim := d.perIP[ip]
		if lim == nil {
			d.prune(now)
			lim = rate.NewLimiter(rate.Every(dialsPerIPInterval), dialsPerIPBurst)
			d.perIP[ip] = lim
		}
		if !lim.AllowN(now, 1) {
			return false
		}
	}
	d.inFlight[ep] = true
	return true
}

// done ends a dial that allow let through: a failed one backs addr's
// endpoint off, a successful one ends its backoff, and one that did not
// reach the endpoint (ok false and failed false) changes nothing.
func (d *dialPacer) done(addr *NetAddress, ok, failed bool, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ep := endpointKey(addr)
	delete(d.inFlight, ep)
	switch {
	case ok:
		delete(d.endpoints, ep)
	case failed:
		d.backOffLocked(ep, now).answeredBy = "" // even the identity that answered failed now
	}
}

// answeredBy ends a dial that allow let through and that reached addr's
// endpoint but found identity id there, not addr's: the endpoint is backed
// off as for a failed dial (so that addresses naming made-up identities
// cannot flood whoever is there with connections), except for dials that
// name id (so that they cannot keep the node that is really there
// undialable either).
func (d *dialPacer) answeredBy(addr *NetAddress, id peer.ID, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ep := endpointKey(addr)
	delete(d.inFlight, ep)
	d.backOffLocked(ep, now).answeredBy = id
}

// backOffLocked starts or lengthens the backoff of endpoint ep.
func (d *dialPacer) backOffLocked(ep string, now time.Time) *endpointBackoff {
	b := d.endpoints[ep]
	if b == nil {
		d.prune(now)
		b = &endpointBackoff{next: endpointBackoffMin}
		d.endpoints[ep] = b
	}
	b.until = now.Add(b.next)
	b.next = min(2*b.next, endpointBackoffMax)
	return b
}

// prune drops entries that no longer pace anything once the maps are full.
func (d *dialPacer) prune(now time.Time) {
	if len(d.endpoints) >= maxPacedEndpoints {
		for k, b := range d.endpoints {
			if now.After(b.until) || len(d.endpoints) >= maxPacedEndpoints {
				delete(d.endpoints, k)
			}
		}
	}
	if len(d.perIP) >= maxPacedEndpoints {
		for k, l := range d.perIP {
			if l.TokensAt(now) >= dialsPerIPBurst || len(d.perIP) >= maxPacedEndpoints {
				delete(d.perIP, k)
			}
		}
	}
}

// endpointKey is addr's ip:port, or its multiaddr when it has no IP.
func endpointKey(addr *NetAddress) string {
	if addr.IP != nil {
		return net.JoinHostPort(addr.IP.String(), strconv.Itoa(int(addr.Port)))
	}
	if addr.Multiaddr != nil {
		return addr.Multiaddr.String()
	}
	return addr.String()
}
