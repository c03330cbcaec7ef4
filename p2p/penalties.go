package p2p

import (
	"errors"
	"fmt"
)

// Penalty is what the Switch does to a peer that broke a rule, from the
// mildest to the harshest. Every penalty the Switch and the agents of this
// module give goes through Switch.Penalize, so that who is punished for
// what can be read in one place (README, "Limits and defences").
type Penalty int

const (
	// PenaltyDrop discards what the peer sent (or refuses its request) and
	// keeps the peer: for excess that an honest peer may cause now and then.
	PenaltyDrop Penalty = iota
	// PenaltyDisconnect stops the peer without a ban; it may come back at
	// once: for slowness, load, a stall, or excess that may be honest.
	PenaltyDisconnect
	// PenaltyBan stops the peer and refuses it for the ban duration
	// (persistent peers are never banned): for what only a broken or hostile
	// peer does, a protocol violation or abuse far beyond any honest setting.
	PenaltyBan
)

// String names the penalty for logs and metrics.
func (p Penalty) String() string {
	switch p {
	case PenaltyDrop:
		return "drop"
	case PenaltyDisconnect:
		return "disconnect"
	case PenaltyBan:
		return "ban"
	}
	return fmt.Sprintf("Penalty(%d)", int(p))
}

// ErrPeerStalled is the reason a peer is disconnected (not banned) when a
// channel's send queue has not drained, or a frame it sends has made no
// progress, for the stall timeouts (WithStallTimeouts).
var ErrPeerStalled = errors.New("peer stalled")

// ErrPeerMemory is the reason a peer is disconnected (not banned) when a
// message it sends cannot fit in its memory budget even with nothing else of
// it held: the peer's resource-manager scope is smaller than the message.
var ErrPeerMemory = errors.New("message does not fit the peer's memory budget")

// Penalize applies penalty to peer for reason and returns at once:
// PenaltyDrop only logs and counts it (the caller drops what it was given),
// PenaltyDisconnect removes the peer and closes its connections,
// PenaltyBan does the same and bans it (StopPeerForError). Each peer removed
// gets one SwitchEventDonePeer with reason as its Error. A peer that was
// removed already is left alone (its ID may be a peer again, by a new
// *Peer), unless it is banned: the ban removes the ID's new *Peer too.
func (sw *Switch) Penalize(peer *Peer, penalty Penalty, reason error) {
	if peer == nil {
		return
	}
	if reason == nil {
		reason = errors.New("no reason given")
	}
	if sw.metrics != nil {
		sw.metrics.penalized(penalty, reason)
	}
	switch penalty {
	case PenaltyDrop:
		log.Debugf("dropping from %s: %s", peer, reason)
	case PenaltyDisconnect:
		sw.disconnect(peer, reason)
	default:
		sw.stopForFault(peer, reason)
	}
}

// DisconnectPeer removes peer for reason and closes its connections without
// a ban (PenaltyDisconnect): for peers that are slow, stalled or over a
// budget, which may be honest.
func (sw *Switch) DisconnectPeer(peer *Peer, reason error) {
	sw.Penalize(peer, PenaltyDisconnect, reason)
}

// StopPeerForError disconnects peer for reason (an error, or anything
// printable), bans it for the ban duration unless it is persistent, and
// publishes SwitchEventDonePeer with the reason (PenaltyBan). It returns at
// once. Use it for faults only: what a well-behaved peer never does.
func (sw *Switch) StopPeerForError(peer *Peer, reason interface{}) {
	err, ok := reason.(error)
	if !ok {
		err = fmt.Errorf("%v", reason)
	}
	sw.Penalize(peer, PenaltyBan, err)
}

// stopForFault bans peer (unless persistent) and removes it. A banned ID
// loses its connections even if it is a peer again by a new *Peer: the
// fault was its own.
func (sw *Switch) stopForFault(peer *Peer, reason error) {
	sw.mu.Lock()
	persistent := sw.persistent[peer.ID] != nil
	sw.mu.Unlock()
	banned := !persistent && sw.cfg.banDuration > 0
	if banned {
		sw.bans.ban(peer.ID, sw.cfg.banDuration)
	}
	if !sw.removePeer(peer, reason) {
		if !banned {
			return
		}
		// Removed already; the ID's new *Peer, if any, goes with the ban.
		if cur := sw.peers.Get(peer.Key); cur == nil || !sw.removePeer(cur, reason) {
			sw.closeConns(peer)
			return
		}
	}
	log.Infof("stopped %s for a fault: %s", peer, reason)
	sw.closeConns(peer)
}

// disconnect removes peer with reason and closes its connections, without a
// ban. A peer removed already is left alone, and so is its ID's new *Peer
// if it is a peer again.
func (sw *Switch) disconnect(peer *Peer, reason error) {
	if !sw.removePeer(peer, reason) {
		return
	}
	if reason != nil {
		log.Infof("disconnected %s: %s", peer, reason)
	}
	sw.closeConns(peer)
}
