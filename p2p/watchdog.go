package p2p

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// watchdog is the Switch's one goroutine that looks for what holds
// resources without making progress: peers whose channel writes or frames
// are stalled (disconnected, not banned), and connections of remotes that
// are not peers (closed, unless WithNonPeerConnections). It works on any
// host, mocknet included (which ignores stream deadlines). It ends at Stop.
func (sw *Switch) watchdog() {
	t := time.NewTicker(sw.watchInterval())
	defer t.Stop()
	for {
		select {
		case <-sw.quit:
			return
		case now := <-t.C:
			sw.disconnectStalled(now)
			if !sw.cfg.keepNonPeers {
				sw.closeNonPeers(now)
			}
		}
	}
}

// watchInterval is a quarter of the shortest timeout the watchdog enforces,
// between 10 ms and 1 s.
func (sw *Switch) watchInterval() time.Duration {
	d := min(sw.cfg.sendStall, sw.cfg.readStall, sw.cfg.handshakeTimeout, foreignGrace) / 4
	return min(max(d, 10*time.Millisecond), time.Second)
}

// disconnectStalled disconnects every peer that is stalled (see
// MConnection.stalled).
func (sw *Switch) disconnectStalled(now time.Time) {
	for _, p := range sw.peers.List() {
		if err := p.mconn.stalled(now.UnixNano()); err != nil {
			sw.Penalize(p, PenaltyDisconnect, err)
		}
	}
}

// closeNonPeers closes the connections of remotes that are not peers: those
// that identify showed to speak none of our channels, once 2*foreignGrace
// has passed (they may still announce channels in an identify push), and
// the others once unidentifiedGrace handshake timeouts have passed since
// they connected. Dials in progress are left to their own timeout,
// persistent peers to their redials, and connections protected in the
// host's connection manager (a relay this node holds a reservation on) are
// kept.
func (sw *Switch) closeNonPeers(now time.Time) {
	type candidate struct {
		id             peer.ID
		since, foreign time.Time
		spared         bool // being dialed by us, persistent, or protected
	}
	sw.mu.Lock()
	cands := make([]candidate, 0, len(sw.nonPeers))
	for id, since := range sw.nonPeers {
		spared := sw.dialingIDs[id] > 0 || sw.persistent[id] != nil
		cands = append(cands, candidate{id: id, since: since, foreign: sw.foreign[id], spared: spared})
	}
	sw.mu.Unlock()
	cm := sw.host.ConnManager()
	for i := range cands {
		// A connection this node protects in its connection manager (the
		// relay go-libp2p's autorelay holds a reservation on, or one the
		// application keeps) is kept: only this node can protect one.
		cands[i].spared = cands[i].spared || cm.IsProtected(cands[i].id, "")
	}
	var gone, doomed []peer.ID
	for _, c := range cands {
		switch {
		case sw.peers.Has(c.id.String()) || !isConnected(sw.host.Network().Connectedness(c.id)):
			gone = append(gone, c.id)
		case c.spared:
		case !c.foreign.IsZero() && now.Sub(c.foreign) > 2*foreignGrace,
			now.Sub(c.since) > unidentifiedGrace*sw.cfg.handshakeTimeout:
			doomed = append(doomed, c.id)
		}
	}
	sw.mu.Lock()
	for _, id := range append(gone, doomed...) {
		delete(sw.nonPeers, id)
	}
	sw.mu.Unlock()
	for _, id := range doomed {
		sw.spawn(func() {
			if sw.peers.Has(id.String()) { // admitted meanwhile
				return
			}
			log.Debugf("closing the connection of %s: not a peer", id)
			sw.metrics.nonPeerClosed()
			sw.host.Network().ClosePeer(id)
		})
	}
}

// unidentifiedGrace is how many handshake timeouts a connection that has
// not identified gets before it is closed: identify can take long on a
// loaded machine, and slowness is no fault. A remote that identified
// without our channels is closed much sooner.
const unidentifiedGrace = 3

// noteConnectedLocked records that id is connected and not (yet) a peer.
func (sw *Switch) noteConnectedLocked(id peer.ID, now time.Time) {
	if id == sw.host.ID() || sw.peers.Has(id.String()) {
		return
	}
	if _, ok := sw.nonPeers[id]; !ok {
		sw.nonPeers[id] = now
	}
}
