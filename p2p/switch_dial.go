package p2p

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/switchyard-p2p/switchyard/transport"
)

// DialPeerWithAddress connects to addr and returns the Peer once it is
// admitted, within the dial timeout. An address with a peer ID is dialed
// through libp2p; one without (a plain "ip:port", as in the 2014 package) is
// dialed over TCP and the peer ID learned from the security handshake, which
// needs a host built by the Switch (transport.New). Errors: ErrDialSelf,
// ErrSwitchDuplicatePeer, ErrPeerBanned, ErrMaxPeers, ErrNotSwitchyardPeer,
// ErrSwitchStopped, or the dial's own error, each wrapped with the address.
func (sw *Switch) DialPeerWithAddress(addr *NetAddress) (*Peer, error) {
	ctx, cancel := context.WithTimeout(sw.ctx, sw.cfg.dialTimeout)
	defer cancel()
	return sw.DialPeerContext(ctx, addr)
}

// DialPeerContext is DialPeerWithAddress bounded by ctx instead of the dial
// timeout.
func (sw *Switch) DialPeerContext(ctx context.Context, addr *NetAddress) (*Peer, error) {
	p, err := sw.dial(ctx, addr)
	sw.metrics.dialed(err)
	if err != nil {
		return nil, fmt.Errorf("dial %v: %w", addr, err)
	}
	return p, nil
}

func (sw *Switch) dial(ctx context.Context, addr *NetAddress) (*Peer, error) {
	switch sw.state.Load() {
	case stateNew:
		return nil, ErrSwitchNotStarted
	case stateStopped:
		return nil, ErrSwitchStopped
	}
	if addr == nil {
		return nil, fmt.Errorf("nil address")
	}
	if err := sw.checkDialable(addr); err != nil {
		return nil, err
	}
	sw.markDialing(addr, addr.ID, +1)
	defer sw.markDialing(addr, addr.ID, -1)

	id := addr.ID
	if id == "" {
		learned, err := sw.dialWithoutID(ctx, addr)
		if err != nil {
			return nil, err
		}
		id = learned
	} else {
		ai := addr.AddrInfo()
		sw.host.Peerstore().AddAddrs(id, ai.Addrs, peerstore.TempAddrTTL)
		if err := sw.host.Connect(ctx, ai); err != nil {
			return nil, err
		}
	}
	p, err := sw.awaitPeer(ctx, id)
	if err != nil {
		return nil, err
	}
	if addr.ID == "" {
		// The swarm records an injected connection as inbound, and the
		// peer may have been admitted before its ID was known here.
		p.outbound.Store(true)
	}
	return p, nil
}

// checkDialable refuses self, known and banned peers before any I/O.
func (sw *Switch) checkDialable(addr *NetAddress) error {
	if addr.ID == sw.host.ID() {
		return ErrDialSelf
	}
	if addr.ID == "" && addr.Multiaddr != nil {
		for _, a := range sw.host.Addrs() {
			if a.Equal(addr.Multiaddr) {
				return ErrDialSelf
			}
		}
	}
	if addr.ID == "" {
		return nil
	}
	if sw.peers.Has(addr.ID.String()) {
		return ErrSwitchDuplicatePeer
	}
	sw.mu.Lock()
	persistent := sw.persistent[addr.ID] != nil
	sw.mu.Unlock()
	if persistent {
		return nil
	}
	if sw.bans.banned(addr.ID) {
		return ErrPeerBanned
	}
	if out, _, _ := sw.NumPeers(); out >= sw.cfg.maxOutbound {
		return fmt.Errorf("%w: %d outbound", ErrMaxPeers, out)
	}
	return nil
}

// dialWithoutID dials addr over TCP and runs libp2p's handshake on the raw
// connection as the initiator, learning the remote's peer ID.
func (sw *Switch) dialWithoutID(ctx context.Context, addr *NetAddress) (peer.ID, error) {
	if addr.IP == nil {
		return "", ErrNoPeerID
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr.IP.String(), fmt.Sprint(addr.Port)))
	if err != nil {
		return "", err
	}
	id, err := sw.injectConn(ctx, conn, true)
	if errors.Is(err, transport.ErrInjectionUnsupported) {
		return "", fmt.Errorf("%w (and the host cannot learn it from a raw connection)", ErrNoPeerID)
	}
	return id, err
}

// injectConn hands a raw connection to the host, marking the remote as
// dialed by us when outbound.
func (sw *Switch) injectConn(ctx context.Context, conn net.Conn, outbound bool) (peer.ID, error) {
	id, err := transport.InjectConn(ctx, sw.host, conn, outbound)
	if err != nil {
		conn.Close()
		return "", err
	}
	if id == sw.host.ID() {
		sw.host.Network().ClosePeer(id)
		return "", ErrDialSelf
	}
	return id, nil
}

func (sw *Switch) markDialing(addr *NetAddress, id peer.ID, delta int) {
	key := addr.String()
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.dialing[key] += delta; sw.dialing[key] <= 0 {
		delete(sw.dialing, key)
	}
	if id != "" {
		if sw.dialingIDs[id] += delta; sw.dialingIDs[id] <= 0 {
			delete(sw.dialingIDs, id)
		}
	}
}

// IsDialing reports whether a dial to addr is in progress.
func (sw *Switch) IsDialing(addr *NetAddress) bool {
	if addr == nil {
		return false
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.dialing[addr.String()] > 0
}

// AddPeerWithConnection runs libp2p's security handshake and muxer on an
// already established connection (outbound: we initiated it) and returns the
// Peer once admitted. The host must have been built by the Switch (or by
// transport.New); conn is closed on error.
func (sw *Switch) AddPeerWithConnection(conn net.Conn, outbound bool) (*Peer, error) {
	if !sw.IsRunning() {
		conn.Close()
		if sw.state.Load() == stateNew {
			return nil, ErrSwitchNotStarted
		}
		return nil, ErrSwitchStopped
	}
	ctx, cancel := context.WithTimeout(sw.ctx, sw.cfg.dialTimeout)
	defer cancel()
	id, err := sw.injectConn(ctx, conn, outbound)
	if err != nil {
		return nil, fmt.Errorf("add peer with connection from %s: %w", conn.RemoteAddr(), err)
	}
	p, err := sw.awaitPeer(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("add peer %s: %w", id, err)
	}
	if outbound {
		p.outbound.Store(true)
	}
	return p, nil
}

// persistentPeer is an address the Switch keeps connected.
type persistentPeer struct {
	addr    *NetAddress
	kick    chan struct{} // a disconnect: redial now
	learned peer.ID       // for an addr without an ID: the ID that last answered (guarded by Switch.mu)
}

// addPersistent starts keeping addr connected.
func (sw *Switch) addPersistent(addr *NetAddress) {
	pp := &persistentPeer{addr: addr, kick: make(chan struct{}, 1)}
	if addr.ID != "" {
		sw.mu.Lock()
		sw.persistent[addr.ID] = pp
		sw.mu.Unlock()
	}
	sw.spawn(func() { sw.keepConnected(pp) })
}

func (sw *Switch) kickPersistentLocked(id peer.ID) {
	if pp := sw.persistent[id]; pp != nil {
		select {
		case pp.kick <- struct{}{}:
		default:
		}
	}
}

// keepConnected dials pp, and redials it whenever it goes away, with
// exponential backoff between failed attempts.
func (sw *Switch) keepConnected(pp *persistentPeer) {
	backoff := sw.cfg.redialMin
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-pp.kick:
		case <-sw.quit:
			return
		}
		if id := sw.persistentID(pp); id != "" && sw.peers.Has(id.String()) {
			continue // connected; wait for a kick
		}
		p, err := sw.DialPeerWithAddress(pp.addr)
		if err == nil || errors.Is(err, ErrSwitchDuplicatePeer) {
			backoff = sw.cfg.redialMin
			if p != nil && pp.addr.ID == "" {
				sw.learnPersistentID(pp, p.ID)
			}
			continue
		}
		if errors.Is(err, ErrSwitchStopped) {
			return
		}
		log.Infof("persistent peer %s: %s; retrying in %s", pp.addr, err, backoff)
		timer.Reset(backoff)
		backoff = min(2*backoff, sw.cfg.redialMax)
	}
}

// persistentID is the ID pp is watched under: its address's, or the one
// learned from the last answer to an address without one.
func (sw *Switch) persistentID(pp *persistentPeer) peer.ID {
	if pp.addr.ID != "" {
		return pp.addr.ID
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return pp.learned
}

// learnPersistentID watches pp, an address without an ID, under id, the ID
// that answered it, from now on. The ID learned before is dropped: whoever
// answers the address may show a new identity each time, and a persistent
// peer is exempt from limits and bans, so only the last one is.
func (sw *Switch) learnPersistentID(pp *persistentPeer, id peer.ID) {
	sw.mu.Lock()
	old := pp.learned
	if old == id {
		sw.mu.Unlock()
		return
	}
	dropped := old != "" && sw.persistent[old] == pp
	if dropped {
		delete(sw.persistent, old)
	}
	if sw.persistent[id] == nil { // not a persistent peer of its own
		sw.persistent[id] = pp
	}
	pp.learned = id
	sw.mu.Unlock()
	if cm := sw.host.ConnManager(); cm != nil && dropped {
		cm.Unprotect(old, connManagerProtect)
	}
}

// isPersistent reports whether id is one of the persistent peers.
func (sw *Switch) isPersistent(id peer.ID) bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.persistent[id] != nil
}
