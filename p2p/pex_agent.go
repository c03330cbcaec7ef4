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
	quit    chan struct{}
	ctx     context.Context // canceled by Stop: ends dials and requests in flight
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	state   atomic.Int32 // stateNew, stateStarted, stateStopped
	spawnMu sync.Mutex   // guards wg.Add against Stop's Wait

	mu      sync.Mutex
	dialing map[string]bool
}

// pexPeerState is what the agent keeps about one peer (one connection of
// it: it is stored on the Peer, so a reconnecting peer starts afresh on
// both sides at once).
type pexPeerState struct {
	mu          sync.Mutex
	lastRequest time.Time // the peer asked us
	early       int       // requests the peer made too soon, on this connection
	lastAsked   time.Time // we asked the peer
	announces   []time.Time
}

const pexStateKey = "switchyard/pex"

// maxEarlyRequests is how many too-early requests a peer gets refused before
// it is stopped. Reconnects under load can make a few look early by accident
// (the requester starts afresh on a new connection before we have seen the
// old one close); a flood makes many.
const maxEarlyRequests = 10

func pexState(p *Peer) *pexPeerState {
	st, _ := p.data.LoadOrStore(pexStateKey, &pexPeerState{})
	return st.(*pexPeerState)
}

// NewPEXAgent returns an agent that discovers peers for sw through book.
func NewPEXAgent(sw *Switch, book *AddrBook, opts ...PEXOption) *PEXAgent {
	cfg := defaultPEXConfig()
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &PEXAgent{
		ctx:     ctx,
		cancel:  cancel,
		sw:      sw,
		book:    book,
		cfg:     cfg,
		events:  make(chan interface{}, 64),
		quit:    make(chan struct{}),
		dialing: map[string]bool{},
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
// to the book. It asks a given peer at most once per ensure-peers period
// (peers refuse, and stop, one that asks three times as often).
func (pexA *PEXAgent) RequestPEX(peer *Peer) {
	now := time.Now()
	st := pexState(peer)
	st.mu.Lock()
	if !st.lastAsked.IsZero() && now.Sub(st.lastAsked) < pexA.cfg.ensurePeersPeriod {
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
// returns those the book accepted. A malformed answer stops the peer.
func (pexA *PEXAgent) RequestPEXContext(ctx context.Context, peer *Peer) ([]*NetAddress, error) {
	st := pexState(peer)
	st.mu.Lock()
	st.lastAsked = time.Now()
	st.mu.Unlock()
	infos, err := pexA.svc.Request(ctx, peer.ID)
	if err != nil {
		if isProtocolViolation(err) {
			pexA.sw.StopPeerForError(peer, err)
		}
		return nil, err
	}
	return pexA.addToBook(infos, peer), nil
}

// SendAddrs sends addrs to peer unasked (an announcement), in the
// background. Receivers keep only the entries that describe the sender
// itself (PROTOCOL.md), so this is for announcing our own addresses.
func (pexA *PEXAgent) SendAddrs(peer *Peer, addrs []*NetAddress) {
	infos := addrInfos(addrs)
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
func (pexA *PEXAgent) ensurePeersRoutine() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-pexA.quit:
			return
		case <-t.C:
		}
		pexA.ensurePeers()
		// A little jitter keeps a network started at once from pulsing.
		t.Reset(pexA.cfg.ensurePeersPeriod + rand.N(pexA.cfg.ensurePeersPeriod/10+1))
	}
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
		if peers := pexA.sw.Peers().List(); len(peers) > 0 {
			pexA.RequestPEX(peers[rand.N(len(peers))])
		}
	}
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

	pexA.book.MarkAttempt(addr)
	ctx, cancel := context.WithTimeout(pexA.ctx, pexA.sw.cfg.dialTimeout)
	defer cancel()
	p, err := pexA.sw.DialPeerContext(ctx, addr)
	switch {
	case err == nil:
		pexA.book.MarkGood(addr)
		return p
	case errors.Is(err, ErrNotSwitchyardPeer), errors.Is(err, ErrDialSelf):
		pexA.book.MarkBad(addr)
	case errors.Is(err, ErrSwitchDuplicatePeer):
		pexA.book.MarkGood(addr)
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

// peer returns id's Peer, waiting a moment for a peer that connected just
// now: it may ask before we have admitted it.
func (h pexHandler) peer(id peer.ID) (*Peer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.a.cfg.requestTimeout)
	defer cancel()
	p, err := h.a.sw.awaitPeer(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPEXNotPeer, id, err)
	}
	return p, nil
}

// HandleRequest answers a peer's request from the book, at most once per
// request interval per peer. A request that comes too soon is refused; a
// peer refused maxEarlyRequests times is stopped.
func (h pexHandler) HandleRequest(id peer.ID) ([]peer.AddrInfo, error) {
	p, err := h.peer(id)
	if err != nil {
		return nil, err
	}
	a := h.a
	now := time.Now()
	st := pexState(p)
	st.mu.Lock()
	last := st.lastRequest
	early := !last.IsZero() && now.Sub(last) < a.cfg.requestInterval
	if early {
		st.early++
	} else {
		st.lastRequest = now
	}
	strikes := st.early
	st.mu.Unlock()
	if early {
		err := fmt.Errorf("%w: requests %s apart (min %s)", ErrPEXFlood, now.Sub(last).Round(time.Millisecond), a.cfg.requestInterval)
		if strikes >= maxEarlyRequests {
			a.sw.StopPeerForError(p, err)
		}
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

// HandleAddrs takes a peer's announcement of its own addresses. Entries
// about other peers are ignored; too many addresses, or announcements too
// often, stop the peer.
func (h pexHandler) HandleAddrs(id peer.ID, infos []peer.AddrInfo) error {
	p, err := h.peer(id)
	if err != nil {
		return err
	}
	a := h.a
	n := 0
	for _, ai := range infos {
		n += len(ai.Addrs)
	}
	now := time.Now()
	st := pexState(p)
	st.mu.Lock()
	recent := st.announces[:0]
	for _, t := range st.announces {
		if now.Sub(t) < a.cfg.ensurePeersPeriod {
			recent = append(recent, t)
		}
	}
	st.announces = append(recent, now)
	tooOften := len(st.announces) > a.cfg.maxAnnouncements
	st.mu.Unlock()
	if n > a.cfg.maxAnnounceAddrs || tooOften {
		err := fmt.Errorf("%w: %d addresses in %d announcements", ErrPEXFlood, n, len(recent)+1)
		a.sw.StopPeerForError(p, err)
		return err
	}
	var own []peer.AddrInfo
	for _, ai := range infos {
		if ai.ID == id {
			own = append(own, ai)
		}
	}
	a.addToBook(own, p)
	return nil
}

// isProtocolViolation tells a malformed answer (the peer's fault) from a
// failed exchange (closed connection, timeout, protocol not spoken).
func isProtocolViolation(err error) bool {
	for _, e := range []error{
		pexcompat.ErrMessageTooLarge, pexcompat.ErrTruncated, pexcompat.ErrUnknownType,
		pexcompat.ErrTooManyAddrs, pexcompat.ErrTooManyMultiaddrs, pexcompat.ErrFieldTooLong,
		pexcompat.ErrBadPeerID, pexcompat.ErrBadMultiaddr, pexcompat.ErrTrailingBytes,
		pexcompat.ErrBadVarint, pexcompat.ErrUnexpectedMessage,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
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
