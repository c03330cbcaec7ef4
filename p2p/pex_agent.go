package p2p

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/sec"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/switchyard-p2p/switchyard/pexcompat"
)

// PexCh is the channel ID the 2014 package used for PEX. Switchyard runs PEX
// as its own libp2p protocol (pexcompat.ProtocolID) instead of a channel;
// the constant stays for code that refers to it, and 0x00 is best left
// unused as a channel ID.
const PexCh = byte(0x00)

// Errors of the PEX agent.
var (
	// ErrPEXFlood is the reason a peer is stopped when it asks for addresses
	// more often than allowed, or announces too many or too often.
	ErrPEXFlood = errors.New("pex: peer floods us")
	// ErrPEXNotPeer refuses PEX streams from hosts that are not our peers.
	ErrPEXNotPeer = errors.New("pex: not a peer")
	// ErrPEXBadAnswer is the reason a peer is stopped (and banned) when it
	// answers our request with a malformed message.
	ErrPEXBadAnswer = errors.New("pex: malformed answer")
)

// PEXAgent discovers peers: it keeps at least a minimum of outbound peers by
// dialing addresses from the AddrBook, fills the book by asking peers for
// addresses (and answering their requests from it), and announces our own
// addresses to the peers we dial. PEX runs as its own libp2p protocol on the
// Switch's host. Start it after the Switch.
type PEXAgent struct {
	sw   *Switch
	book *AddrBook
	cfg  pexConfig
	svc  *pexcompat.Service

	events  chan interface{}
	kick    chan struct{} // new addresses: run ensurePeers now
	quit    chan struct{}
	ctx     context.Context // canceled by Stop: ends dials and requests in flight
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	state   atomic.Int32 // stateNew, stateStarted, stateStopped
	spawnMu sync.Mutex   // guards wg.Add against Stop's Wait

	pacer      *dialPacer
	lastRotate time.Time // used by the ensure-peers loop only

	mu          sync.Mutex
	dialing     map[string]bool
	askedGroups map[string]time.Time // when we last asked a peer of each network group
}

// NewPEXAgent returns an agent that discovers peers for sw through book.
func NewPEXAgent(sw *Switch, book *AddrBook, opts ...PEXOption) *PEXAgent {
	cfg := defaultPEXConfig()
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &PEXAgent{
		ctx:         ctx,
		cancel:      cancel,
		sw:          sw,
		book:        book,
		cfg:         cfg,
		events:      make(chan interface{}, 64),
		kick:        make(chan struct{}, 1),
		quit:        make(chan struct{}),
		dialing:     map[string]bool{},
		askedGroups: map[string]time.Time{},
		pacer:       newDialPacer(),
	}
}

// Start registers the PEX protocol on the Switch's host, records our own
// addresses in the book, and starts discovery. The Switch must be started.
// Calling it again is a no-op.
func (pexA *PEXAgent) Start() error {
	if !pexA.sw.IsRunning() {
		return fmt.Errorf("pex: %w", ErrSwitchNotStarted)
	}
	if !pexA.state.CompareAndSwap(stateNew, stateStarted) {
		return nil
	}
	h := pexA.sw.Host()
	for _, a := range pexA.ourAddresses() {
		pexA.book.AddOurAddress(a)
	}
	pexA.svc = pexcompat.NewService(h, pexcompat.ProtocolID(pexA.sw.Network()), pexHandler{pexA},
		pexcompat.WithLegacyProtocol(pexcompat.LegacyProtocolID(pexA.sw.Network())),
		pexcompat.WithTimeout(pexA.cfg.requestTimeout))
	pexA.sw.AddEventListener(pexA.listenerName(), pexA.events)
	pexA.spawn(pexA.eventsRoutine)
	if pexA.cfg.seedMode {
		pexA.spawn(pexA.crawlRoutine)
	} else {
		pexA.spawn(pexA.ensurePeersRoutine)
	}
	log.Infof("PEX agent started (seed mode: %v)", pexA.cfg.seedMode)
	return nil
}

// Stop ends discovery and removes the PEX protocol from the host; it returns
// when the agent's goroutines have ended. Idempotent. It does not stop the
// address book.
func (pexA *PEXAgent) Stop() {
	if pexA.state.Swap(stateStopped) != stateStarted {
		return
	}
	pexA.spawnMu.Lock()
	close(pexA.quit)
	pexA.spawnMu.Unlock()
	pexA.cancel()
	pexA.sw.RemoveEventListener(pexA.listenerName())
	pexA.svc.Close()
	pexA.wg.Wait()
}

func (pexA *PEXAgent) listenerName() string { return fmt.Sprintf("PEXAgent-%p", pexA) }

// spawn runs f as one of the agent's goroutines, unless it is stopping.
func (pexA *PEXAgent) spawn(f func()) {
	pexA.spawnMu.Lock()
	defer pexA.spawnMu.Unlock()
	select {
	case <-pexA.quit:
		return
	default:
	}
	pexA.wg.Add(1)
	go func() {
		defer pexA.wg.Done()
		f()
	}()
}

// RequestPEX asks peer for addresses in the background and adds the answer
// to the book. It asks a given peer at most once per ensure-peers period,
// and never more often than PEXRequestInterval (peers refuse requests
// beyond that pace, and ban a peer far beyond it).
func (pexA *PEXAgent) RequestPEX(peer *Peer) {
	now := time.Now()
	st := pexState(peer)
	st.mu.Lock()
	if !st.lastAsked.IsZero() && now.Sub(st.lastAsked) < max(pexA.cfg.ensurePeersPeriod, PEXRequestInterval) {
		st.mu.Unlock()
		return
	}
	st.lastAsked = now
	st.mu.Unlock()
	pexA.spawn(func() {
		if _, err := pexA.RequestPEXContext(pexA.ctx, peer); err != nil {
			log.Debugf("pex request to %s: %s", peer, err)
		}
	})
}

// RequestPEXContext asks peer for addresses, adds them to the book and
// returns those the book accepted. A malformed answer stops and bans the
// peer (ErrPEXBadAnswer). It does not pace itself: callers keep to
// PEXRequestInterval per peer, or see their requests refused.
func (pexA *PEXAgent) RequestPEXContext(ctx context.Context, peer *Peer) ([]*NetAddress, error) {
	st := pexState(peer)
	st.mu.Lock()
	st.lastAsked = time.Now()
	st.mu.Unlock()
	infos, err := pexA.svc.Request(ctx, peer.ID)
	if err != nil {
		if isProtocolViolation(err) {
			pexA.sw.Penalize(peer, PenaltyBan, fmt.Errorf("%w: %w", ErrPEXBadAnswer, err))
		}
		return nil, err
	}
	added := pexA.addToBook(infos, peer)
	if len(added) > 0 {
		pexA.kickEnsurePeers()
	}
	return added, nil
}

// kickEnsurePeers makes the ensure-peers loop run now (if it is below its
// target, it dials the addresses just learnt instead of at its next round).
func (pexA *PEXAgent) kickEnsurePeers() {
	select {
	case pexA.kick <- struct{}{}:
	default:
	}
}

// SendAddrs sends addrs to peer unasked (an announcement), in the
// background. Receivers keep only the entries that describe the sender
// itself (PROTOCOL.md), so this is for announcing our own addresses.
func (pexA *PEXAgent) SendAddrs(peer *Peer, addrs []*NetAddress) {
	infos := addrInfos(addrs)
	// Receivers refuse an announcement of more than PEXMaxAnnounceAddrs
	// addresses of its sender.
	budget := PEXMaxAnnounceAddrs
	for i := range infos {
		if infos[i].ID == pexA.sw.Host().ID() {
			infos[i].Addrs = infos[i].Addrs[:min(len(infos[i].Addrs), budget)]
			budget -= len(infos[i].Addrs)
		}
	}
	pexA.spawn(func() {
		ctx, cancel := context.WithTimeout(pexA.ctx, pexA.cfg.requestTimeout)
		defer cancel()
		if err := pexA.svc.Announce(ctx, peer.ID, infos); err != nil {
			log.Debugf("pex announce to %s: %s", peer, err)
		}
	})
}

// eventsRoutine reacts to peers coming and going.
func (pexA *PEXAgent) eventsRoutine() {
	for {
		select {
		case <-pexA.quit:
			return
		case ev := <-pexA.events:
			switch ev := ev.(type) {
			case SwitchEventNewPeer:
				pexA.onNewPeer(ev.Peer)
			case SwitchEventDonePeer:
				pexA.onDonePeer(ev.Peer)
			}
		}
	}
}

func (pexA *PEXAgent) onNewPeer(p *Peer) {
	pexA.spawn(func() { pexA.learnListenAddr(p) })
	// A seed's crawl asks the peers it dials itself.
	if p.IsOutbound() && !pexA.cfg.seedMode {
		pexA.SendAddrs(p, pexA.ourAddresses())
		if pexA.book.NeedMoreAddrs() {
			pexA.RequestPEX(p)
		}
	}
}

// listenAddrWindow is how long the agent watches a new peer's addresses in
// the peerstore for one the book accepts.
const listenAddrWindow = time.Minute

// learnListenAddr adds to the book the first address that identify reports
// p listens on and the book accepts. It watches the peerstore rather than
// reading it once: a host that has just started can answer identify before
// it knows its listen addresses and announce them in an identify push later.
// It stops once an address is in the book, when p or the agent stops, or
// after listenAddrWindow.
func (pexA *PEXAgent) learnListenAddr(p *Peer) {
	ctx, cancel := context.WithTimeout(context.Background(), listenAddrWindow)
	defer cancel()
	addrs := pexA.sw.Host().Peerstore().AddrStream(ctx, p.ID)
	for {
		select {
		case m, ok := <-addrs:
			if !ok {
				return // the window closed
			}
			if len(pexA.addToBook([]peer.AddrInfo{{ID: p.ID, Addrs: []ma.Multiaddr{m}}}, p)) > 0 {
				return
			}
		case <-p.mconn.quit:
			return
		case <-pexA.quit:
			return
		}
	}
}

// onDonePeer marks the address of a peer we dialed bad when it was stopped
// for its own fault (the Switch banned it); a plain disconnect is not.
func (pexA *PEXAgent) onDonePeer(p *Peer) {
	if p.IsOutbound() && p.mconn.RemoteAddress != nil && pexA.sw.bans.banned(p.ID) {
		pexA.book.MarkBad(p.mconn.RemoteAddress)
	}
}

// ensurePeersRoutine tops up outbound peers now and every period.
// While below its target it runs at least every belowTargetPeriod, and at
// once when new addresses come in; the pace of its requests to each peer
// stays PEXAgent.RequestPEX's.
func (pexA *PEXAgent) ensurePeersRoutine() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-pexA.quit:
			return
		case <-t.C:
		case <-pexA.kick:
			if !pexA.belowTarget() {
				continue
			}
			t.Stop()
		}
		pexA.ensurePeers()
		period := pexA.cfg.ensurePeersPeriod
		if pexA.belowTarget() {
			period = min(period, belowTargetPeriod)
		}
		// A little jitter keeps a network started at once from pulsing.
		t.Reset(period + rand.N(period/10+1))
	}
}

// belowTargetPeriod is the longest the ensure-peers loop waits while the
// node has fewer outbound peers than its target.
const belowTargetPeriod = time.Second

// belowTarget reports whether the node has fewer outbound peers than it
// keeps.
func (pexA *PEXAgent) belowTarget() bool {
	out, _, _ := pexA.sw.NumPeers()
	return out < min(pexA.cfg.minOutbound, pexA.sw.cfg.maxOutbound)
}

// ensurePeers dials book addresses until the outbound minimum is met, and
// asks a random peer for more addresses if the book needs them.
func (pexA *PEXAgent) ensurePeers() {
	out, _, dialing := pexA.sw.NumPeers()
	need := min(pexA.cfg.minOutbound, pexA.sw.cfg.maxOutbound) - out - dialing
	if need > 0 {
		// Favour new addresses while we have few peers, as the 2014 package.
		newBias := min(out, 8)*10 + 10
		picked := map[string]bool{}
		for try := 0; try < 3*need && len(picked) < need; try++ {
			addr := pexA.book.PickAddress(newBias)
			if addr == nil {
				break
			}
			key := addr.String()
			if picked[key] || pexA.connectedOrDialing(addr) {
				continue
			}
			picked[key] = true
			pexA.spawn(func() { pexA.dialAndMark(addr) })
		}
	}
	if pexA.book.NeedMoreAddrs() {
		if p := pexA.peerToAsk(); p != nil {
			pexA.RequestPEX(p)
		}
	}
	pexA.rotate(need)
}

// rotate lets one outbound peer go, gracefully, every rotation period
// (WithOutboundRotation) once the node has all the outbound peers it keeps,
// so that the next round dials a new address from the book: the graph
// keeps mixing, and two parts of a network that were cut apart find each
// other again once they can, without an operator.
func (pexA *PEXAgent) rotate(need int) {
	now := time.Now()
	if pexA.lastRotate.IsZero() || need > 0 {
		pexA.lastRotate = now
		return
	}
	if pexA.cfg.rotatePeriod <= 0 || now.Sub(pexA.lastRotate) < pexA.cfg.rotatePeriod {
		return
	}
	pexA.lastRotate = now
	var outbound []*Peer
	for _, p := range pexA.sw.Peers().List() {
		if p.IsOutbound() && !pexA.sw.isPersistent(p.ID) {
			outbound = append(outbound, p)
		}
	}
	if len(outbound) == 0 {
		return
	}
	p := outbound[rand.N(len(outbound))]
	log.Debugf("rotating out %s", p)
	pexA.spawn(func() { pexA.sw.StopPeerGracefully(p) })
}

// peerToAsk picks the peer to ask for addresses: one of the network group
// asked longest ago (never, at first), so that requests spread over the
// groups of our peers and a few peers of one group cannot be all we hear.
func (pexA *PEXAgent) peerToAsk() *Peer {
	peers := pexA.sw.Peers().List()
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	pexA.mu.Lock()
	defer pexA.mu.Unlock()
	var best *Peer
	var bestAsked time.Time
	for _, p := range peers {
		asked := pexA.askedGroups[peerGroup(p)]
		if best == nil || asked.Before(bestAsked) {
			best, bestAsked = p, asked
		}
	}
	if best != nil {
		if len(pexA.askedGroups) >= maxAskedGroups {
			clear(pexA.askedGroups)
		}
		pexA.askedGroups[peerGroup(best)] = time.Now()
	}
	return best
}

// maxAskedGroups bounds the agent's memory of the groups it asked.
const maxAskedGroups = 1024

// peerGroup is the network group of the address p is connected from (see
// AddrBook): the /16 of an IPv4 address, say.
func peerGroup(p *Peer) string {
	if a := p.mconn.RemoteAddress; a != nil && a.IP != nil {
		return groupKey(a, true)
	}
	return "unknown"
}

func (pexA *PEXAgent) connectedOrDialing(addr *NetAddress) bool {
	if addr.ID != "" && pexA.sw.Peers().Has(addr.ID.String()) {
		return true
	}
	return pexA.sw.IsDialing(addr)
}

// dialAndMark dials addr and tells the book how it went.
func (pexA *PEXAgent) dialAndMark(addr *NetAddress) *Peer {
	key := addr.String()
	pexA.mu.Lock()
	if pexA.dialing[key] {
		pexA.mu.Unlock()
		return nil
	}
	pexA.dialing[key] = true
	pexA.mu.Unlock()
	defer func() {
		pexA.mu.Lock()
		delete(pexA.dialing, key)
		pexA.mu.Unlock()
	}()

	if !pexA.pacer.allow(addr, time.Now()) {
		log.Debugf("pex dial %s: paced (too many dials to this IP, or its last dial failed)", addr)
		return nil
	}
	pexA.book.MarkAttempt(addr)
	ctx, cancel := context.WithTimeout(pexA.ctx, pexA.sw.cfg.dialTimeout)
	defer cancel()
	p, err := pexA.sw.DialPeerContext(ctx, addr)
	// Another identity answering the address: whoever gave us the entry
	// may have made its ID up. The endpoint is backed off for every ID but
	// the one that answered (see dialPacer.answeredBy).
	var otherID sec.ErrPeerIDMismatch
	someoneElse := errors.As(err, &otherID)
	reached := err == nil || errors.Is(err, ErrSwitchDuplicatePeer)
	notTried := errors.Is(err, ErrMaxPeers) || errors.Is(err, ErrSwitchStopped) || errors.Is(err, context.Canceled)
	if someoneElse {
		pexA.pacer.answeredBy(addr, otherID.Actual, time.Now())
	} else {
		pexA.pacer.done(addr, reached, !reached && !notTried, time.Now())
	}
	switch {
	case err == nil:
		pexA.book.MarkGood(addr)
		return p
	case errors.Is(err, ErrSwitchDuplicatePeer):
		pexA.book.MarkGood(addr)
	case errors.Is(err, ErrNotSwitchyardPeer), errors.Is(err, ErrDialSelf), someoneElse:
		pexA.book.MarkBad(addr)
	}
	log.Debugf("pex dial %s: %s", addr, err)
	return nil
}

// crawlRoutine is the seed's loop: dial a few book addresses, ask each for
// addresses, disconnect.
func (pexA *PEXAgent) crawlRoutine() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-pexA.quit:
			return
		case <-t.C:
		}
		const perRound = 8
		for i := 0; i < perRound; i++ {
			addr := pexA.book.PickAddress(50)
			if addr == nil {
				break
			}
			if pexA.connectedOrDialing(addr) {
				continue
			}
			pexA.spawn(func() {
				p := pexA.dialAndMark(addr)
				if p == nil {
					return
				}
				ctx, cancel := context.WithTimeout(pexA.ctx, pexA.cfg.requestTimeout)
				pexA.RequestPEXContext(ctx, p)
				cancel()
				pexA.sw.StopPeerGracefully(p)
			})
		}
		t.Reset(pexA.cfg.crawlPeriod)
	}
}

// ourAddresses are the host's addresses (NAT-mapped ones included) with our ID.
func (pexA *PEXAgent) ourAddresses() []*NetAddress {
	h := pexA.sw.Host()
	nas, _ := NetAddressFromAddrInfo(peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	return nas
}

// addToBook adds each peer's first acceptable address to the book, with src
// as the source, and returns what was added.
func (pexA *PEXAgent) addToBook(infos []peer.AddrInfo, src *Peer) []*NetAddress {
	srcAddr := src.mconn.RemoteAddress
	if srcAddr == nil {
		srcAddr = &NetAddress{ID: src.ID}
	}
	var added []*NetAddress
	for _, ai := range infos {
		nas, err := NetAddressFromAddrInfo(ai)
		if err != nil {
			continue
		}
		for _, na := range nas {
			if err := pexA.book.AddAddress(na, srcAddr); err == nil {
				added = append(added, na)
				break
			}
		}
	}
	return added
}

// pexHandler answers the PEX streams peers open to us.
type pexHandler struct{ a *PEXAgent }

var (
	_ pexcompat.Admitter         = pexHandler{}
	_ pexcompat.MalformedHandler = pexHandler{}
)

// Admit lets only our peers use PEX: it waits (until ctx ends) for a remote
// that connected just now to be admitted, since it may ask before we have
// admitted it, and refuses every other remote before it takes a PEX slot.
func (h pexHandler) Admit(ctx context.Context, id peer.ID) error {
	_, err := h.peer(ctx, id)
	return err
}

// peer returns id's Peer, waiting until ctx ends for one that connected
// just now.
func (h pexHandler) peer(ctx context.Context, id peer.ID) (*Peer, error) {
	p, err := h.a.sw.awaitPeerForStream(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPEXNotPeer, id, err)
	}
	return p, nil
}

func (h pexHandler) admitted(id peer.ID) (*Peer, error) {
	p := h.a.sw.peers.Get(id.String())
	if p == nil {
		return nil, fmt.Errorf("%w: %s", ErrPEXNotPeer, id)
	}
	return p, nil
}

// HandleRequest answers a peer's request from the book, if the peer keeps
// to PEXRequestInterval (see pexPeerState); a request beyond the pace is
// refused, and a peer far beyond it banned.
func (h pexHandler) HandleRequest(id peer.ID) ([]peer.AddrInfo, error) {
	p, err := h.admitted(id)
	if err != nil {
		return nil, err
	}
	a := h.a
	st := pexState(p)
	if !st.requests.Allow() {
		err := fmt.Errorf("%w: requests more often than every %s (bursts of %d)", ErrPEXFlood, PEXRequestInterval, PEXRequestBurst)
		a.refuse(p, st, err)
		return nil, err
	}
	var infos []peer.AddrInfo
	for _, na := range a.book.GetSelection() {
		if na.ID != id && len(infos) < pexcompat.MaxAddrs {
			infos = append(infos, na.AddrInfo())
		}
	}
	if a.cfg.seedMode && !p.IsOutbound() {
		a.spawn(func() {
			select {
			case <-time.After(a.cfg.seedDisconnectDelay):
				a.sw.StopPeerGracefully(p)
			case <-a.quit:
			}
		})
	}
	return infos, nil
}

// HandleMalformed counts a malformed message from a peer as one of its
// requests: within the request pace it costs only that, beyond it it is
// refused as a flood (and a peer far beyond it banned), so that a peer
// cannot make us decode malformed messages at the rate of its bandwidth.
func (h pexHandler) HandleMalformed(id peer.ID, err error) {
	p, aerr := h.admitted(id)
	if aerr != nil {
		return
	}
	st := pexState(p)
	if !st.requests.Allow() {
		h.a.refuse(p, st, fmt.Errorf("%w: malformed messages beyond the request pace: %w", ErrPEXFlood, err))
		return
	}
	h.a.sw.Penalize(p, PenaltyDrop, fmt.Errorf("malformed PEX message: %w", err))
}

// HandleAddrs takes a peer's announcement of its own addresses: entries
// about other peers are ignored. An announcement of more than
// PEXMaxAnnounceAddrs addresses, or beyond the pace of PEXAnnounceInterval,
// is refused, and a peer far beyond the pace banned.
func (h pexHandler) HandleAddrs(id peer.ID, infos []peer.AddrInfo) error {
	p, err := h.admitted(id)
	if err != nil {
		return err
	}
	a := h.a
	st := pexState(p)
	var own []peer.AddrInfo
	n := 0
	for _, ai := range infos {
		if ai.ID == id {
			own = append(own, ai)
			n += len(ai.Addrs)
		}
	}
	switch {
	case n > PEXMaxAnnounceAddrs:
		err := fmt.Errorf("%w: an announcement of %d addresses (max %d)", ErrPEXFlood, n, PEXMaxAnnounceAddrs)
		a.refuse(p, st, err)
		return err
	case !st.announces.Allow():
		err := fmt.Errorf("%w: announcements more often than every %s (bursts of %d)", ErrPEXFlood, PEXAnnounceInterval, PEXAnnounceBurst)
		a.refuse(p, st, err)
		return err
	}
	a.addToBook(own, p)
	return nil
}

// refuse counts a refused request or announcement of p, and bans p once it
// is far beyond the pace (see pexRefusalBurst).
func (a *PEXAgent) refuse(p *Peer, st *pexPeerState, err error) {
	if st.refused() {
		a.sw.Penalize(p, PenaltyBan, err)
		return
	}
	a.sw.Penalize(p, PenaltyDrop, err)
}

// isProtocolViolation tells a malformed answer (the peer's fault) from a
// failed exchange (closed connection, timeout, protocol not spoken).
func isProtocolViolation(err error) bool {
	return pexcompat.IsMalformed(err) || errors.Is(err, pexcompat.ErrUnexpectedMessage)
}

func addrInfos(addrs []*NetAddress) []peer.AddrInfo {
	byID := map[peer.ID]int{}
	var infos []peer.AddrInfo
	for _, na := range addrs {
		if na == nil || na.ID == "" || na.Multiaddr == nil {
			continue
		}
		i, ok := byID[na.ID]
		if !ok {
			i = len(infos)
			byID[na.ID] = i
			infos = append(infos, peer.AddrInfo{ID: na.ID})
		}
		if len(infos[i].Addrs) < pexcompat.MaxMultiaddrsPerPeer {
			infos[i].Addrs = append(infos[i].Addrs, na.Multiaddr)
		}
	}
	return infos
}
