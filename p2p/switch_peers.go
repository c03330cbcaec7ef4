package p2p

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// errDisconnected answers those waiting for a peer whose connection closed
// before it was admitted.
var errDisconnected = errors.New("connection closed before the peer was admitted")

// connManagerTag marks Switchyard peers in the host's connection manager.
const (
	connManagerTag       = "switchyard"
	connManagerTagWeight = 10
	connManagerProtect   = "switchyard-persistent"
)

// eventLoop admits and removes peers as the host reports identifications
// and disconnections. It ends when Stop closes the subscription.
func (sw *Switch) eventLoop() {
	for e := range sw.sub.Out() {
		switch e := e.(type) {
		case event.EvtPeerIdentificationCompleted:
			sw.considerPeer(e.Peer, e.Conn, e.Protocols, true)
		case event.EvtPeerProtocolsUpdated:
			if len(e.Added) > 0 {
				sw.considerPeer(e.Peer, nil, nil, false)
			}
		case event.EvtPeerIdentificationFailed:
			sw.mu.Lock()
			if !sw.peers.Has(e.Peer.String()) {
				sw.resolveWaitersLocked(e.Peer, nil, fmt.Errorf("identify: %w", e.Reason))
			}
			sw.mu.Unlock()
		case event.EvtPeerConnectednessChanged:
			if isConnected(e.Connectedness) { // Limited: through a relay only
				sw.mu.Lock()
				sw.noteConnectedLocked(e.Peer, time.Now())
				sw.mu.Unlock()
			} else {
				sw.connectionsGone(e.Peer)
			}
		}
	}
}

// connectionsGone handles the host's report that it is not connected to
// id. The report may be stale (a new connection opened since) or, on
// mocknet, about one of several connections. A peer is removed, without
// an error, when no connection is left; when some are, only if some of its
// streams ran on a closed one, and then its connections are closed too, as
// MConnection.fail does, so that both sides start afresh (renewing it on
// the connection left would race with the remote's own renewal).
func (sw *Switch) connectionsGone(id peer.ID) {
	live := isConnected(sw.host.Network().Connectedness(id))
	if !live {
		sw.mu.Lock()
		delete(sw.foreign, id)
		delete(sw.nonPeers, id)
		sw.mu.Unlock()
	}
	p := sw.peers.Get(id.String())
	if p == nil || (live && !p.mconn.onClosedConn()) {
		return
	}
	if live {
		sw.disconnect(p, nil)
	} else {
		sw.removePeer(p, nil)
	}
}

// spokenChannels returns the channels of ours that the remote speaks, from
// the protocols it announced (or, when protos is nil, from the peerstore).
func (sw *Switch) spokenChannels(id peer.ID, protos []protocol.ID) map[byte]bool {
	if protos == nil {
		protos, _ = sw.host.Peerstore().GetProtocols(id)
	}
	spoken := map[byte]bool{}
	for _, d := range sw.chDescs {
		for _, p := range protos {
			if p == sw.protoByID[d.Id] {
				spoken[d.Id] = true
			}
		}
	}
	return spoken
}

// considerPeer admits id as a Peer if it is connected, speaks at least one of
// our channels, is not banned and fits the peer limits. It is idempotent and
// safe to call from any goroutine. conn (may be nil) is the connection that
// was just identified; identified says that protos is what identify just
// reported, the only source trusted to say that the remote speaks none of
// our channels (the peerstore may be mid-update).
func (sw *Switch) considerPeer(id peer.ID, conn network.Conn, protos []protocol.ID, identified bool) {
	if id == sw.host.ID() {
		return
	}
	spoken := sw.spokenChannels(id, protos)
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.state.Load() != stateStarted || sw.peers.Has(id.String()) {
		return
	}
	if len(spoken) == 0 {
		if identified {
			sw.markForeignLocked(id)
		}
		return
	}
	delete(sw.foreign, id)
	if conn == nil || conn.IsClosed() {
		conn = nil
		for _, c := range sw.host.Network().ConnsToPeer(id) {
			if !c.IsClosed() {
				conn = c
				break
			}
		}
		if conn == nil {
			sw.resolveWaitersLocked(id, nil, errDisconnected)
			return
		}
	}
	outbound := sw.dialingIDs[id] > 0 || conn.Stat().Direction == network.DirOutbound
	if err := sw.admissibleLocked(id, outbound); err != nil {
		log.Debugf("refusing %s: %s", id, err)
		sw.resolveWaitersLocked(id, nil, err)
		sw.spawn(func() { sw.host.Network().ClosePeer(id) })
		return
	}
	budget, err := newPeerBudget(sw.host.Network().ResourceManager(), id)
	if err != nil {
		log.Warnf("refusing %s: %s", id, err)
		sw.resolveWaitersLocked(id, nil, err)
		return
	}
	p := &Peer{Key: id.String(), ID: id}
	p.outbound.Store(outbound)
	p.mconn = newMConnection(sw, p, conn, spoken, budget)
	if err := sw.peers.Add(p); err != nil {
		budget.close()
		return // cannot happen: checked above under the same lock
	}
	delete(sw.nonPeers, id)
	if cm := sw.host.ConnManager(); cm != nil {
		cm.TagPeer(id, connManagerTag, connManagerTagWeight)
		if sw.persistent[id] != nil {
			cm.Protect(id, connManagerProtect)
		}
	}
	sw.metrics.peerAdded(outbound)
	sw.events.publish(SwitchEventNewPeer{Peer: p})
	p.mconn.start()
	sw.resolveWaitersLocked(id, p, nil)
	log.Debugf("added %s (%d channels)", p, len(spoken))
}

// foreignGrace is how long a remote that identified without our channels
// has to announce them (with an identify push) before those waiting for it
// are told it is not a Switchyard peer. A node that has just registered its
// channels may still answer identify with its older protocol list.
const foreignGrace = 500 * time.Millisecond

// markForeignLocked records that id's identify showed none of our channels
// and, unless it announces some within foreignGrace, answers its waiters.
func (sw *Switch) markForeignLocked(id peer.ID) {
	if _, ok := sw.foreign[id]; ok {
		return
	}
	sw.foreign[id] = time.Now()
	sw.spawn(func() {
		t := time.NewTimer(foreignGrace)
		defer t.Stop()
		select {
		case <-t.C:
		case <-sw.quit:
			return
		}
		sw.mu.Lock()
		defer sw.mu.Unlock()
		if _, still := sw.foreign[id]; still {
			log.Debugf("%s speaks none of our channels", id)
			sw.resolveWaitersLocked(id, nil, ErrNotSwitchyardPeer)
		}
	})
}

// admissibleLocked says why id may not become a peer now, or nil.
func (sw *Switch) admissibleLocked(id peer.ID, outbound bool) error {
	if sw.persistent[id] != nil {
		return nil // persistent peers are exempt from bans and limits
	}
	if sw.bans.banned(id) {
		return fmt.Errorf("%w: %s", ErrPeerBanned, id)
	}
	out, in := 0, 0
	for _, p := range sw.peers.List() {
		if p.IsOutbound() {
			out++
		} else {
			in++
		}
	}
	if outbound && out >= sw.cfg.maxOutbound {
		return fmt.Errorf("%w: %d outbound", ErrMaxPeers, out)
	}
	if !outbound && in >= sw.cfg.maxInbound {
		return fmt.Errorf("%w: %d inbound", ErrMaxPeers, in)
	}
	return nil
}

// resolveWaitersLocked answers everyone waiting for id to become a peer.
func (sw *Switch) resolveWaitersLocked(id peer.ID, p *Peer, err error) {
	for _, w := range sw.waiters[id] {
		w <- peerResult{peer: p, err: err}
	}
	delete(sw.waiters, id)
}

// awaitPeer returns id's Peer once it is admitted, or why it was not.
func (sw *Switch) awaitPeer(ctx context.Context, id peer.ID) (*Peer, error) {
	w := make(chan peerResult, 1)
	sw.mu.Lock()
	if p := sw.peers.Get(id.String()); p != nil {
		sw.mu.Unlock()
		return p, nil
	}
	if since, ok := sw.foreign[id]; ok && time.Since(since) > foreignGrace {
		sw.mu.Unlock()
		return nil, ErrNotSwitchyardPeer
	}
	sw.waiters[id] = append(sw.waiters[id], w)
	sw.mu.Unlock()
	sw.considerPeer(id, nil, nil, false) // in case the host identified it already
	select {
	case r := <-w:
		return r.peer, r.err
	case <-ctx.Done():
		sw.dropWaiter(id, w)
		return nil, ctx.Err()
	case <-sw.quit:
		sw.dropWaiter(id, w)
		return nil, ErrSwitchStopped
	}
}

// errTooManyWaitingStreams is why an inbound stream of a remote that is not
// (yet) a peer is reset at once: maxWaitingStreams of its streams wait for
// its admission already.
var errTooManyWaitingStreams = errors.New("too many streams waiting for the remote's admission")

// maxWaitingStreams is how many inbound streams one remote that is not yet
// a peer may have waiting for its admission: as many as an honest remote
// opens at once (each channel's stream and a second while one ends, and
// two PEX streams). A remote whose admission never comes (its identify
// failed, or shows none of our channels) holds no more than these, each
// until the handshake timeout, whatever it opens.
func (sw *Switch) maxWaitingStreams() int {
	return maxInboundStreamsPerChannel*len(sw.chDescs) + waitingPEXStreams
}

// waitingPEXStreams is the PEX share of maxWaitingStreams: a request and an
// announcement.
const waitingPEXStreams = 2

// awaitPeerForStream is awaitPeer for an inbound stream of id, within
// id's share of maxWaitingStreams.
func (sw *Switch) awaitPeerForStream(ctx context.Context, id peer.ID) (*Peer, error) {
	if p := sw.peers.Get(id.String()); p != nil {
		return p, nil
	}
	sw.mu.Lock()
	if sw.waitingStreams[id] >= sw.maxWaitingStreams() {
		sw.mu.Unlock()
		return nil, errTooManyWaitingStreams
	}
	sw.waitingStreams[id]++
	sw.mu.Unlock()
	defer func() {
		sw.mu.Lock()
		if sw.waitingStreams[id]--; sw.waitingStreams[id] <= 0 {
			delete(sw.waitingStreams, id)
		}
		sw.mu.Unlock()
	}()
	return sw.awaitPeer(ctx, id)
}

func (sw *Switch) dropWaiter(id peer.ID, w chan peerResult) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	ws := sw.waiters[id]
	for i, x := range ws {
		if x == w {
			sw.waiters[id] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(sw.waiters[id]) == 0 {
		delete(sw.waiters, id)
	}
}

// removePeer takes p out of the peer set, publishes its SwitchEventDonePeer
// (with reason, if p was not already stopped for another) and stops its
// streams. It does not wait for p's goroutines (Stop does) and does not
// close the connection. It reports whether it removed p: false when p was
// removed already (its ID may be a peer again, by a new *Peer).
func (sw *Switch) removePeer(p *Peer, reason error) bool {
	sw.mu.Lock()
	if !sw.peers.Remove(p) {
		sw.mu.Unlock()
		return false
	}
	if reason != nil {
		p.mconn.setErr(reason)
	}
	p.mconn.beginStop()
	var done SwitchEventDonePeer
	done.Peer = p
	if err := p.mconn.Err(); err != nil {
		done.Error = err
	}
	sw.events.publish(done)
	sw.kickPersistentLocked(p.ID)
	sw.mu.Unlock()

	p.mconn.stop()
	sw.metrics.peerRemoved(p.IsOutbound())
	if cm := sw.host.ConnManager(); cm != nil {
		cm.UntagPeer(p.ID, connManagerTag)
		cm.Unprotect(p.ID, connManagerProtect)
	}
	log.Debugf("removed %s (reason: %v)", p, done.Error)
	return true
}

// closeConns closes the connections to p, a peer just removed: those open
// now (in the background). A connection that opens later is spared, and a
// new *Peer admitted meanwhile on one of these loses it (and is removed when
// the host reports the disconnect).
func (sw *Switch) closeConns(p *Peer) {
	conns := sw.host.Network().ConnsToPeer(p.ID)
	sw.spawn(func() {
		for _, c := range conns {
			c.Close()
		}
	})
}

// StopPeerGracefully lets peer's queued messages go out and be read by the
// remote (waiting at most the send timeout), then disconnects it. Sends made
// after it begins fail.
func (sw *Switch) StopPeerGracefully(peer *Peer) {
	if peer == nil || sw.peers.Get(peer.Key) != peer {
		return
	}
	peer.mconn.stopGracefully(sw.cfg.sendTimeout)
	if sw.removePeer(peer, nil) {
		sw.closeConns(peer)
	}
}

// handleChannelStream serves a channel stream the remote opened: once the
// remote is a peer, its frames go to the channel's receive queue.
func (sw *Switch) handleChannelStream(d *ChannelDescriptor, s network.Stream) {
	if !sw.enter() {
		s.Reset()
		return
	}
	defer sw.tasks.Done()
	ctx, cancel := context.WithTimeout(sw.ctx, sw.cfg.handshakeTimeout)
	p, err := sw.awaitPeerForStream(ctx, s.Conn().RemotePeer())
	cancel()
	if err != nil {
		if !errors.Is(err, ErrSwitchStopped) {
			log.Debugf("channel %#02x stream from %s refused: %s", d.Id, s.Conn().RemotePeer(), err)
		}
		s.Reset()
		return
	}
	if err := s.Scope().SetService(ChannelServiceName); err != nil {
		log.Debugf("channel %#02x stream from %s refused: attach to resource scope %s: %s", d.Id, p, ChannelServiceName, err)
		s.Reset()
		return
	}
	p.mconn.serveRecv(d, s)
}

// enter counts a goroutine the Switch did not start (a stream handler) as
// one of its tasks; false once Stop has begun.
func (sw *Switch) enter() bool {
	sw.spawnMu.Lock()
	defer sw.spawnMu.Unlock()
	if sw.stopping {
		return false
	}
	sw.tasks.Add(1)
	return true
}

// netAddressOf converts a connection's multiaddr to a NetAddress, or nil.
func netAddressOf(m ma.Multiaddr, id peer.ID) *NetAddress {
	if m == nil {
		return nil
	}
	na, err := NewNetAddressMultiaddr(m)
	if err != nil {
		return nil
	}
	na.ID = id
	return na
}
